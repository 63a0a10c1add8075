/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness: oSIP2's SIP message parser as core/ uses it.
 * bytes -> core/'s linear precheck (sipcheck.c, which refuses what oSIP2 mishandles) -> osip_message_parse -> osip_message_to_str -> parse again -> to_str again; the second
 * text must parse, and a clone must print too. Every allocation must be freed (leak detection).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <osipparser2/osip_parser.h>

#include "eXosip2/eX_core.h"

/* oSIP2 prints every parse failure: a sink keeps the fuzzer's own output readable */
static void quiet(const char *fi, int li, osip_trace_level_t level, const char *chfr, va_list ap)
{
  (void) fi;
  (void) li;
  (void) level;
  (void) chfr;
  (void) ap;
}

static void touch_headers(osip_message_t *msg)
{
  osip_header_t *h = NULL;
  osip_via_t *via = NULL;
  osip_contact_t *contact = NULL;
  char *s = NULL;
  int i;
  for (i = 0; osip_message_get_header(msg, i, &h) >= 0 && i < 1024; i++)
    ;
  if (osip_message_get_via(msg, 0, &via) >= 0 && via != NULL && osip_via_to_str(via, &s) == 0)
    osip_free(s);
  s = NULL;
  if (osip_message_get_contact(msg, 0, &contact) >= 0 && contact != NULL
      && osip_contact_to_str(contact, &s) == 0)
    osip_free(s);
  s = NULL;
  if (msg->req_uri != NULL && osip_uri_to_str(msg->req_uri, &s) == 0)
    osip_free(s);
  s = NULL;
  if (msg->from != NULL && osip_from_to_str(msg->from, &s) == 0)
    osip_free(s);
}

static int parse(const char *buf, size_t len, osip_message_t **out)
{
  osip_message_t *msg = NULL;
  if (osip_message_init(&msg) != 0)
    return -1;
  if (osip_message_parse(msg, buf, len) != 0) {
    osip_message_free(msg);
    return -1;
  }
  *out = msg;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static int initialised;
  osip_message_t *msg = NULL, *again = NULL, *copy = NULL;
  char *text = NULL, *text2 = NULL, *text3 = NULL;
  size_t len = 0, len2 = 0, len3 = 0;

  if (!initialised) {
    parser_init();
    osip_trace_initialize_func(OSIP_FATAL, quiet);
    initialised = 1;
  }
  if (size > 128 * 1024)
    return 0;
  if (eXosip_core_sip_precheck((const char *) data, size, NULL, 0) != 0)
    return 0;
  if (parse((const char *) data, size, &msg) != 0)
    return 0;
  touch_headers(msg);
  if (osip_message_clone(msg, &copy) == 0 && copy != NULL) {
    if (osip_message_to_str(copy, &text3, &len3) == 0)
      osip_free(text3);
    osip_message_free(copy);
  }
  if (osip_message_to_str(msg, &text, &len) == 0 && text != NULL) {
    if (parse(text, len, &again) == 0) {
      if (osip_message_to_str(again, &text2, &len2) == 0)
        osip_free(text2);
      osip_message_free(again);
    }
    osip_free(text);
  }
  osip_message_free(msg);
  return 0;
}
