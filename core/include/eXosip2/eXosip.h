/* SPDX-License-Identifier: Apache-2.0 */
/*
 * eXosip2 5.3 compatible public API — umbrella header.
 *
 * A program written for eXosip2 5.3 includes this one header; every name,
 * signature, constant and enum value declared under eXosip2/ matches that
 * release, so the same source builds against this core or a real libeXosip2.
 * Only what this core implements is declared.
 */
#ifndef EXOSIP2_EXOSIP_H
#define EXOSIP2_EXOSIP_H

#include <time.h>
#include <sys/time.h>

#include <osipparser2/osip_parser.h>
#include <osipparser2/sdp_message.h>
#include <osip2/osip.h>
#include <osip2/osip_dialog.h>

#include <eXosip2/eX_setup.h>
#include <eXosip2/eX_register.h>
#include <eXosip2/eX_call.h>
#include <eXosip2/eX_options.h>
#include <eXosip2/eX_message.h>
#include <eXosip2/eX_subscribe.h>
#include <eXosip2/eX_publish.h>

#endif /* EXOSIP2_EXOSIP_H */
