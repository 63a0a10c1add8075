/* SPDX-License-Identifier: Apache-2.0 */
/* The UDP socket: bind, and batched reads handed to ex_incoming. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "exosip_internal.h"

#define RX_BATCH 16
#define RX_SIZE (EX_MAX_DATAGRAM + 1)

struct udp_rx {
  struct mmsghdr msgs[RX_BATCH];
  struct iovec iov[RX_BATCH];
  struct sockaddr_storage from[RX_BATCH];
  char buf[RX_BATCH][RX_SIZE];
};

int ex_bind_socket(int fd, const char *addr, int port, int family)
{
  struct sockaddr_storage ss;
  socklen_t len;
  int any = addr == NULL || addr[0] == '\0' || strcmp(addr, "0.0.0.0") == 0 || strcmp(addr, "::") == 0;
  memset(&ss, 0, sizeof(ss));
  if (family == AF_INET6) {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;
    int off = 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t) port);
    if (!any && inet_pton(AF_INET6, addr, &sin6->sin6_addr) != 1)
      return OSIP_BADPARAMETER;
    len = sizeof(*sin6);
  } else {
    struct sockaddr_in *sin = (struct sockaddr_in *) &ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t) port);
    if (!any && inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
      return OSIP_BADPARAMETER;
    len = sizeof(*sin);
  }
  if (bind(fd, (struct sockaddr *) &ss, len) != 0)
    return OSIP_NO_NETWORK;
  len = sizeof(ss);
  if (getsockname(fd, (struct sockaddr *) &ss, &len) != 0)
    return OSIP_NO_NETWORK;
  return ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *) &ss)->sin6_port
                                  : ((struct sockaddr_in *) &ss)->sin_port);
}

int ex_udp_open(struct eXosip_t *ctx, const char *addr, int port, int family)
{
  int fd, bound, size = 4 * 1024 * 1024, rc;
  if (ctx->udp_fd >= 0)
    return OSIP_WRONG_STATE;
  if (ctx->udp_rx == NULL) {
    ctx->udp_rx = malloc(sizeof(struct udp_rx));
    if (ctx->udp_rx == NULL)
      return OSIP_NOMEM;
  }
  ctx->listen_errno = 0;
  fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ctx->listen_errno = errno;
    return OSIP_NO_NETWORK;
  }
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  { /* ICMP errors of what we send come back on the error queue (read_errors) */
    int on = 1;
    setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof(on));
    if (family == AF_INET6)
      setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof(on));
  }
  bound = ex_bind_socket(fd, addr, port, family);
  if (bound < 0) {
    rc = bound;
    goto cleanup;
  }
  rc = ex_epoll_add(ctx, fd, EPOLLIN, EX_TAG_UDP);
  if (rc != OSIP_SUCCESS)
    goto cleanup;
  ex_netopt_socket(ctx, fd, family); /* EXOSIP_OPT_SET_DSCP */
  ctx->udp_fd = fd;
  ctx->udp_family = family;
  ctx->udp_port = bound;
  return OSIP_SUCCESS;
cleanup:
  if (rc == OSIP_NO_NETWORK)
    ctx->listen_errno = errno; /* eXosip_core_listen_errno */
  close(fd);
  return rc;
}

/*
 * ICMP errors (port or host unreachable) of datagrams we sent: each quotes the start of the
 * datagram, which names the request whose transaction fails now (ex_transport_failed). Called
 * when epoll reports EPOLLERR on the socket; a bounded number per wake-up (the queue itself is
 * bounded by the socket's receive buffer).
 */
void ex_udp_read_errors(struct eXosip_t *ctx)
{
  struct udp_rx *rx = ctx->udp_rx;
  int n;
  if (ctx->udp_fd < 0 || rx == NULL)
    return;
  for (n = 0; n < RX_BATCH; n++) {
    char control[512];
    struct msghdr mh;
    struct iovec iov;
    struct sockaddr_storage to;
    ssize_t len;
    memset(&mh, 0, sizeof(mh));
    iov.iov_base = rx->buf[0];
    iov.iov_len = RX_SIZE - 1;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_name = &to;
    mh.msg_namelen = sizeof(to);
    mh.msg_control = control;
    mh.msg_controllen = sizeof(control);
    len = recvmsg(ctx->udp_fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT);
    if (len <= 0)
      break;
    ex_transport_failed(ctx, rx->buf[0], (size_t) len);
  }
}

int ex_udp_read(struct eXosip_t *ctx)
{
  struct udp_rx *rx = ctx->udp_rx;
  int rounds, i, total = 0, batch = RX_BATCH, max_rounds = 8;
  if (ctx->udp_fd < 0 || rx == NULL)
    return 0;
  if (ctx->max_read > 0) { /* EXOSIP_OPT_SET_MAX_MESSAGE_TO_READ */
    batch = ctx->max_read < RX_BATCH ? ctx->max_read : RX_BATCH;
    max_rounds = (ctx->max_read + RX_BATCH - 1) / RX_BATCH;
  }
  for (rounds = 0; rounds < max_rounds; rounds++) {
    int n;
    if (ctx->max_read > 0 && total + batch > ctx->max_read)
      batch = ctx->max_read - total;
    if (batch <= 0)
      break;
    for (i = 0; i < RX_BATCH; i++) {
      rx->iov[i].iov_base = rx->buf[i];
      rx->iov[i].iov_len = RX_SIZE - 1;
      memset(&rx->msgs[i].msg_hdr, 0, sizeof(rx->msgs[i].msg_hdr));
      rx->msgs[i].msg_hdr.msg_iov = &rx->iov[i];
      rx->msgs[i].msg_hdr.msg_iovlen = 1;
      rx->msgs[i].msg_hdr.msg_name = &rx->from[i];
      rx->msgs[i].msg_hdr.msg_namelen = sizeof(rx->from[i]);
    }
    n = recvmmsg(ctx->udp_fd, rx->msgs, (unsigned int) batch, MSG_DONTWAIT, NULL);
    if (n <= 0)
      break;
    for (i = 0; i < n && !ctx->stopping; i++) {
      size_t len = rx->msgs[i].msg_len;
      if (rx->msgs[i].msg_hdr.msg_flags & MSG_TRUNC || len >= RX_SIZE - 1) {
        ctx->dropped++;
        continue;
      }
      rx->buf[i][len] = '\0';
      ex_incoming(ctx, rx->buf[i], len, IPPROTO_UDP, (struct sockaddr *) &rx->from[i],
                  rx->msgs[i].msg_hdr.msg_namelen, 0);
    }
    total += n;
    if (n < batch)
      break;
  }
  return total;
}

/* eXosip_set_socket: a UDP socket the program bound becomes the context's. */
int ex_udp_adopt(struct eXosip_t *ctx, int fd, int port)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  int type = 0, flags, rc;
  socklen_t tlen = sizeof(type);
  if (ctx->udp_fd >= 0)
    return OSIP_WRONG_STATE;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 || type != SOCK_DGRAM
      || getsockname(fd, (struct sockaddr *) &ss, &len) != 0
      || (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
    return OSIP_BADPARAMETER;
  if (ctx->udp_rx == NULL) {
    ctx->udp_rx = malloc(sizeof(struct udp_rx));
    if (ctx->udp_rx == NULL)
      return OSIP_NOMEM;
  }
  flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
    return OSIP_BADPARAMETER;
  rc = ex_epoll_add(ctx, fd, EPOLLIN, EX_TAG_UDP);
  if (rc != OSIP_SUCCESS)
    return rc;
  ex_netopt_socket(ctx, fd, ss.ss_family);
  ctx->udp_fd = fd;
  ctx->udp_family = ss.ss_family;
  ctx->udp_port = port > 0 ? port
                           : ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *) &ss)->sin6_port
                                                            : ((struct sockaddr_in *) &ss)->sin_port);
  if (ss.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *) &ss)->sin6_addr, ctx->local_ip, sizeof(ctx->local_ip));
  else
    inet_ntop(AF_INET, &((struct sockaddr_in *) &ss)->sin_addr, ctx->local_ip, sizeof(ctx->local_ip));
  return OSIP_SUCCESS;
}
