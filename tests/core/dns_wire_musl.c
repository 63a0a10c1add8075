/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/src/dns_wire.c built alone (tests/test_dns_wire.py links it statically with musl-gcc):
 * asks a server for the SRV records of a name and prints "SRV priority weight port target" per
 * record, or "ERROR code". Usage: dns_wire_musl SERVER_IP PORT NAME [TIMEOUT_MS]
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns_wire.h"

int main(int argc, char **argv)
{
  struct ex_dns_servers servers;
  struct sockaddr_in *sin = (struct sockaddr_in *) &servers.addr[0];
  static unsigned char buf[EX_DNS_MAX_MSG];
  struct ex_dns_msg msg;
  struct ex_dns_rr rr;
  int n, r;
  if (argc < 4)
    return 2;
  memset(&servers, 0, sizeof(servers));
  sin->sin_family = AF_INET;
  sin->sin_port = htons((unsigned short) atoi(argv[2]));
  if (inet_pton(AF_INET, argv[1], &sin->sin_addr) != 1)
    return 2;
  servers.len[0] = sizeof(*sin);
  servers.count = 1;
  n = ex_dns_query(&servers, argc > 4 ? atoi(argv[4]) : 1000, 2, argv[3], EX_DNS_T_SRV, buf, sizeof(buf));
  if (n < 0) {
    printf("ERROR %d\n", n);
    return 0;
  }
  if (ex_dns_msg_init(&msg, buf, (size_t) n) != 0) {
    printf("ERROR format\n");
    return 0;
  }
  while ((r = ex_dns_msg_next(&msg, &rr)) == 1) {
    char target[256];
    const unsigned char *p = buf + rr.rdata;
    if (rr.type != EX_DNS_T_SRV || rr.rdlen < 7
        || ex_dns_name(buf, (size_t) n, rr.rdata + 6, rr.rdata + rr.rdlen, target, sizeof(target), NULL) != 0)
      continue;
    printf("SRV %d %d %d %s\n", (p[0] << 8) | p[1], (p[2] << 8) | p[3], (p[4] << 8) | p[5], target);
  }
  if (r < 0)
    printf("ERROR format\n");
  return 0;
}
