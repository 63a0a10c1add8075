/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DNS wire for server location (dns.c): one query to the configured servers over our own
 * UDP socket (TCP when the answer is truncated), and a bounded reader for the answer. It needs
 * nothing but sockets and poll from the C library, so it builds the same on glibc and musl
 * (musl has no res_ninit/res_nquery); it includes no oSIP2 header and compiles on its own.
 */
#ifndef EX_DNS_WIRE_H
#define EX_DNS_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define EX_DNS_T_A 1
#define EX_DNS_T_AAAA 28
#define EX_DNS_T_SRV 33
#define EX_DNS_T_NAPTR 35
#define EX_DNS_C_IN 1

#define EX_DNS_MAX_SERVERS 3
#define EX_DNS_MAX_MSG 8192 /* the largest answer read (UDP or TCP); a larger one is refused */

/* Outcomes of a query (negative; the values are private to dns.c and dns_wire.c). */
#define EX_DNS_ERR_NONAME (-1)  /* NXDOMAIN, or the name has no record of that type */
#define EX_DNS_ERR_TIMEOUT (-2) /* no server gave a usable answer within the bounds */
#define EX_DNS_ERR_FORMAT (-3)  /* a name that cannot be asked, or an answer that cannot be read */

struct ex_dns_servers {
  int count;
  struct sockaddr_storage addr[EX_DNS_MAX_SERVERS];
  socklen_t len[EX_DNS_MAX_SERVERS];
};

/* The "nameserver" lines of path (IPv4 and IPv6, port 53, at most three); 127.0.0.1:53 when
 * there is none, as the C library does. */
void ex_dns_servers_from_conf(const char *path, struct ex_dns_servers *out);

/*
 * Asks each server in turn, each up to tries times, waiting timeout_ms for each try, for name's
 * records of type (class IN). An answer counts only when it comes from the address and port
 * asked (a connected socket), carries the random id of the query and repeats its question;
 * anything else is ignored and the wait goes on. A truncated answer (TC) is asked again over TCP,
 * bounded by the same timeout. Returns the length of the answer in buf (rcode 0, at least one
 * record announced), or EX_DNS_ERR_*.
 */
int ex_dns_query(const struct ex_dns_servers *servers, int timeout_ms, int tries, const char *name, int type,
                 unsigned char *buf, size_t size);

/* A reader over one answer; every offset and length is checked against the message. */
struct ex_dns_msg {
  const unsigned char *buf;
  size_t len;
  size_t pos;   /* the next record */
  int left;     /* records of the answer section not read yet */
};

struct ex_dns_rr {
  int type, rclass;
  uint32_t ttl;
  size_t rdata; /* offset of the record's data in the message */
  size_t rdlen;
};

/* 0, or EX_DNS_ERR_FORMAT when the header or the question cannot be read. */
int ex_dns_msg_init(struct ex_dns_msg *m, const unsigned char *buf, size_t len);
/* 1 and the next record of the answer section, 0 at its end, EX_DNS_ERR_FORMAT when malformed. */
int ex_dns_msg_next(struct ex_dns_msg *m, struct ex_dns_rr *rr);
/* The (possibly compressed) name at off, in dotted form ("." for the root), as long as it lies
 * within the message, follows at most 64 pointers and is at most 255 bytes long; the bytes of
 * the name before any pointer must end by limit. Its end is written to *next when next != NULL.
 * 0, or EX_DNS_ERR_FORMAT. */
int ex_dns_name(const unsigned char *buf, size_t len, size_t off, size_t limit, char *out, size_t size,
                size_t *next);

#endif
