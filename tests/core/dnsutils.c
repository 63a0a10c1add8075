/* SPDX-License-Identifier: Apache-2.0 */
/*
 * eXosip2 5.3's DNS API as a program written for it uses it: eXosip_dnsutils_naptr starts the
 * lookup of a domain, eXosip_dnsutils_dns_process (force) collects it into oSIP2's osip_naptr_t,
 * eXosip_dnsutils_rotate_srv walks the SRV entries, eXosip_dnsutils_release frees the record;
 * EXOSIP_OPT_ADD_DNS_CACHE / _DELETE_DNS_CACHE and EXOSIP_OPT_DNS_CAPABILITIES are set.
 *
 * dnsutils SERVER DOMAIN UDPPORT1 UDPPORT2 TCPPORT
 *
 * SERVER is the "127.0.0.1:PORT" of a DNS server holding, for DOMAIN, NAPTR SIP+D2U and SIP+D2T
 * records whose SRV names give two UDP targets (UDPPORT1 at priority 10, UDPPORT2 at 20) and one
 * TCP target; "nowhere.test" must not exist. Prints "all checks passed" or exits non-zero.
 * The only core-only call is the option that names the DNS server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <osip2/osip.h>
#include <eXosip2/eXosip.h>
#include <eXosip2/eX_core.h>

#include "check.h"

int main(int argc, char **argv)
{
  struct eXosip_t *ctx;
  osip_naptr_t *rec;
  struct eXosip_dns_cache entry;
  int n, i;
  CHECK(argc == 6);
  ctx = eXosip_malloc();
  CHECK(ctx != NULL && eXosip_init(ctx) == 0);
  CHECK(eXosip_set_option(ctx, EXOSIP_CORE_OPT_DNS_SERVER, argv[1]) == 0);

  for (i = 0; i < 2; i++) { /* the second time from the cache, complete at once */
    rec = eXosip_dnsutils_naptr(ctx, argv[2], "sip", "udp", 1);
    CHECK(rec != NULL);
    CHECK(i == 0 ? rec->naptr_state == OSIP_NAPTR_STATE_INPROGRESS : rec->naptr_state == OSIP_NAPTR_STATE_SRVDONE);
    CHECK(eXosip_dnsutils_dns_process(rec, 1) == 0);
    CHECK(rec->naptr_state == OSIP_NAPTR_STATE_SRVDONE);
    CHECK(strcmp(rec->domain, argv[2]) == 0);
    CHECK(rec->sipudp_record.srv_state == OSIP_SRV_STATE_COMPLETED);
    CHECK(rec->sipudp_record.srventry[0].port == atoi(argv[3]));
    CHECK(rec->sipudp_record.srventry[0].priority == 10);
    CHECK(strcmp(rec->sipudp_record.srventry[0].ipaddress, "127.0.0.1") == 0);
    CHECK(rec->sipudp_record.srventry[1].port == atoi(argv[4]));
    CHECK(rec->sipudp_record.srventry[2].srv[0] == '\0');
    CHECK(rec->siptcp_record.srventry[0].port == atoi(argv[5]));
    CHECK(rec->siptls_record.srv_state == OSIP_SRV_STATE_NOTSUPPORTED);
    /* rotate: one other entry; the index wraps */
    CHECK(eXosip_dnsutils_rotate_srv(&rec->sipudp_record) == 1 && rec->sipudp_record.index == 1);
    CHECK(eXosip_dnsutils_rotate_srv(&rec->sipudp_record) == 1 && rec->sipudp_record.index == 0);
    CHECK(eXosip_dnsutils_rotate_srv(&rec->siptls_record) == -1);
    eXosip_dnsutils_release(rec);
  }

  /* a name that does not exist */
  rec = eXosip_dnsutils_naptr(ctx, "nowhere.test", "sip", "udp", 0);
  CHECK(rec != NULL);
  CHECK(eXosip_dnsutils_dns_process(rec, 1) == 0);
  CHECK(rec->naptr_state == OSIP_NAPTR_STATE_NOTSUPPORTED);
  eXosip_dnsutils_release(rec);
  /* cache only: not there */
  CHECK(eXosip_dnsutils_naptr(ctx, "other.test", "sip", "udp", -1) == NULL);
  /* released while still running: the lookup finishes on its own */
  rec = eXosip_dnsutils_naptr(ctx, "late.test", "sip", "udp", 0);
  CHECK(rec != NULL);
  eXosip_dnsutils_release(rec);
  eXosip_dnsutils_release(NULL);
  CHECK(eXosip_dnsutils_dns_process(NULL, 1) < 0);

  /* a fixed address */
  memset(&entry, 0, sizeof(entry));
  snprintf(entry.host, sizeof(entry.host), "fixed.test");
  snprintf(entry.ip, sizeof(entry.ip), "127.0.0.7");
  CHECK(eXosip_set_option(ctx, EXOSIP_OPT_ADD_DNS_CACHE, &entry) == 0);
  memset(entry.ip, 0, sizeof(entry.ip));
  CHECK(eXosip_set_option(ctx, EXOSIP_OPT_ADD_DNS_CACHE, &entry) == 0 && strcmp(entry.ip, "127.0.0.7") == 0);
  rec = eXosip_dnsutils_naptr(ctx, "fixed.test", "sip", "udp", -1);
  CHECK(rec != NULL && rec->naptr_state == OSIP_NAPTR_STATE_SRVDONE);
  CHECK(strcmp(rec->sipudp_record.srventry[0].ipaddress, "127.0.0.7") == 0 && rec->sipudp_record.srventry[0].port == 5060);
  eXosip_dnsutils_release(rec);
  CHECK(eXosip_set_option(ctx, EXOSIP_OPT_DELETE_DNS_CACHE, &entry) == 0);
  CHECK(eXosip_set_option(ctx, EXOSIP_OPT_DELETE_DNS_CACHE, &entry) == OSIP_NOTFOUND);

  /* capabilities 0: the A records only, the domain has none */
  n = 0;
  CHECK(eXosip_set_option(ctx, EXOSIP_OPT_DNS_CAPABILITIES, &n) == 0);
  rec = eXosip_dnsutils_naptr(ctx, argv[2], "sip", "udp", 0);
  CHECK(rec != NULL && eXosip_dnsutils_dns_process(rec, 1) == 0);
  CHECK(rec->naptr_state == OSIP_NAPTR_STATE_NOTSUPPORTED);
  eXosip_dnsutils_release(rec);
  n = 3;
  CHECK(eXosip_set_option(ctx, EXOSIP_OPT_DNS_CAPABILITIES, &n) == OSIP_BADPARAMETER);

  eXosip_quit(ctx); /* eXosip2 5.3: the caller frees the struct */
  osip_free(ctx);
  printf("all checks passed\n");
  return 0;
}
