/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The network options of eXosip2 5.3 that a server or B2BUA needs (numbers in eX_setup.h):
 *  - EXOSIP_OPT_UDP_KEEP_ALIVE (ms): every registration's registrar gets a keep-alive each
 *    interval, from eXosip_automatic_action: a CRLFCRLF ping (RFC 5626 4.4.1), or with
 *    EXOSIP_OPT_KEEP_ALIVE_OPTIONS_METHOD an OPTIONS request (its answers raise no event);
 *  - EXOSIP_OPT_SET_DSCP: the DSCP of every socket (IP_TOS / IPV6_TCLASS), set now and on new ones;
 *  - EXOSIP_OPT_SET_MAX_MESSAGE_TO_READ: datagrams read per wake-up of the I/O thread;
 *  - EXOSIP_OPT_SET_DEFAULT_CONTACT_DISPLAYNAME, EXOSIP_OPT_SET_SIP_INSTANCE: the display name
 *    and the +sip.instance parameter (RFC 5626) of every Contact we build;
 *  - EXOSIP_OPT_REMOVE_PREROUTESET (default 1): 0 keeps the Route of our initial INVITE as the
 *    route set of a dialog whose 2xx has no Record-Route;
 *  - EXOSIP_OPT_AUTO_MASQUERADE_CONTACT (= EXOSIP_OPT_UDP_LEARN_PORT): the received/rport of the
 *    Via of a 2xx to our REGISTER becomes the address in our Contacts (as eXosip_masquerade_contact).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>

#include "regauth.h"

static int int_value(const void *value, int lo, int hi, int *out)
{
  int v;
  if (value == NULL)
    return OSIP_BADPARAMETER;
  v = *(const int *) value;
  if (v < lo || v > hi)
    return OSIP_BADPARAMETER;
  *out = v;
  return OSIP_SUCCESS;
}

/* A text option: NULL or "" clears it; a line break or a quote never gets into a header. */
static int text_value(const void *value, size_t max, const char *forbidden, char **field)
{
  const char *s = value;
  char *copy = NULL;
  if (s != NULL && s[0] != '\0') {
    if (strlen(s) > max || strpbrk(s, forbidden) != NULL)
      return OSIP_BADPARAMETER;
    copy = strdup(s);
    if (copy == NULL)
      return OSIP_NOMEM;
  }
  free(*field);
  *field = copy;
  return OSIP_SUCCESS;
}

static void apply_dscp(int fd, int family, int dscp)
{
  int tos;
  if (fd < 0 || dscp < 0)
    return; /* not set (-1): the shift below would be undefined for it */
  tos = dscp << 2;
  if (family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof(tos));
  setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos)); /* also v4-mapped traffic of a v6 socket */
}

void ex_netopt_socket(struct eXosip_t *ctx, int fd, int family)
{
  apply_dscp(fd, family, ctx->dscp);
}

int ex_netopt_set(struct eXosip_t *ctx, int opt, const void *value)
{
  int v, rc;
  switch (opt) {
  case EXOSIP_OPT_KEEP_ALIVE_OPTIONS_METHOD:
    rc = int_value(value, 0, 1, &v);
    if (rc == OSIP_SUCCESS)
      ctx->ka_options = v;
    return rc;
  case EXOSIP_OPT_SET_DSCP:
    rc = int_value(value, 0, 63, &v);
    if (rc == OSIP_SUCCESS) {
      struct ex_conn *c;
      ctx->dscp = v;
      apply_dscp(ctx->udp_fd, ctx->udp_family, v);
      apply_dscp(ctx->tcp_fd, ctx->tcp_family, v);
      for (c = ctx->conns; c != NULL; c = c->next)
        apply_dscp(c->fd, c->peer.ss_family, v);
    }
    return rc;
  case EXOSIP_OPT_SET_MAX_MESSAGE_TO_READ:
    rc = int_value(value, 0, 1 << 16, &v);
    if (rc == OSIP_SUCCESS)
      ctx->max_read = v;
    return rc;
  case EXOSIP_OPT_REMOVE_PREROUTESET:
    rc = int_value(value, 0, 1, &v);
    if (rc == OSIP_SUCCESS)
      ctx->keep_preroute = !v;
    return rc;
  case EXOSIP_OPT_AUTO_MASQUERADE_CONTACT:
    rc = int_value(value, 0, 1, &v);
    if (rc == OSIP_SUCCESS)
      ctx->auto_masquerade = v;
    return rc;
  case EXOSIP_OPT_SET_DEFAULT_CONTACT_DISPLAYNAME:
    return text_value(value, 128, "\"\\\r\n<>", &ctx->contact_displayname);
  case EXOSIP_OPT_SET_SIP_INSTANCE:
    return text_value(value, 256, "\"\r\n ;,", &ctx->sip_instance);
  case EXOSIP_OPT_SET_CONTACT_DIALOG_EXTRA_PARAMS:
    /* parameters as written after the URI, e.g. "+sip.src=xyz;foo"; no line break, no quote, no
     * '>' (it would end the URI), no ',' (a second Contact) */
    return text_value(value, 512, "\"\r\n<>, ", &ctx->contact_extra);
  case EXOSIP_OPT_FORCE_CONNECTIONREUSE:
    rc = int_value(value, 0, 1, &v);
    if (rc == OSIP_SUCCESS)
      ctx->force_reuse = v;
    return rc;
  case EXOSIP_OPT_ENABLE_OUTBOUND:
    rc = int_value(value, 0, 1, &v);
    if (rc == OSIP_SUCCESS)
      ctx->outbound = v;
    return rc;
  case EXOSIP_OPT_ENABLE_REUSE_TCP_PORT:
    rc = int_value(value, 0, 1, &v);
    if (rc == OSIP_SUCCESS)
      ctx->reuse_tcp_port = v;
    return rc;
  case EXOSIP_OPT_SET_OC_LOCAL_ADDRESS: {
    const char *s = value;
    struct in6_addr a6;
    struct in_addr a4;
    if (s == NULL || s[0] == '\0') {
      ctx->oc_addr[0] = '\0';
      return OSIP_SUCCESS;
    }
    if (strlen(s) >= sizeof(ctx->oc_addr) || (inet_pton(AF_INET, s, &a4) != 1 && inet_pton(AF_INET6, s, &a6) != 1))
      return OSIP_BADPARAMETER;
    snprintf(ctx->oc_addr, sizeof(ctx->oc_addr), "%s", s);
    return OSIP_SUCCESS;
  }
  case EXOSIP_OPT_SET_OC_PORT_RANGE: {
    const int *range = value;
    if (range == NULL)
      return OSIP_BADPARAMETER;
    if (range[0] == 0 && range[1] == 0) {
      ctx->oc_port_lo = ctx->oc_port_hi = 0;
      return OSIP_SUCCESS;
    }
    if (range[0] < 1024 || range[1] > 65535 || range[0] > range[1])
      return OSIP_BADPARAMETER;
    ctx->oc_port_lo = range[0];
    ctx->oc_port_hi = range[1];
    ctx->oc_port_next = range[0];
    return OSIP_SUCCESS;
  }
  default:
    return 1;
  }
}

void ex_netopt_free(struct eXosip_t *ctx)
{
  free(ctx->contact_displayname);
  free(ctx->sip_instance);
  free(ctx->contact_extra);
  ctx->contact_displayname = NULL;
  ctx->sip_instance = NULL;
  ctx->contact_extra = NULL;
}

const char *ex_contact_displayname(struct eXosip_t *ctx)
{
  return ctx->contact_displayname;
}

/* The keep-alive of one registration toward its registrar. */
static void keepalive_one(struct eXosip_t *ctx, struct ex_reg *r)
{
  osip_message_t *req = r->last, *opt = NULL;
  struct ex_dest dest;
  char *to = NULL, *from = NULL;
  if (req == NULL || req->req_uri == NULL || req->from == NULL)
    return;
  if (!ctx->ka_options) {
    if (ex_request_dest(ctx, req, &dest) == OSIP_SUCCESS)
      ex_send_raw(ctx, &dest, "\r\n\r\n", 4);
    return;
  }
  if (osip_uri_to_str(req->req_uri, &to) == 0 && osip_from_to_str(req->from, &from) == 0) {
    char route[1024] = "";
    osip_route_t *rt = osip_list_get(&req->routes, 0);
    char *rs = NULL;
    if (rt != NULL && osip_route_to_str(rt, &rs) == 0 && rs != NULL) {
      snprintf(route, sizeof(route), "%s", rs);
      osip_free(rs);
    }
    if (ex_build_request_out(ctx, "OPTIONS", to, from, route[0] ? route : NULL, &opt) == OSIP_SUCCESS) {
      struct ex_tx *w = NULL;
      if (ex_tx_new(ctx, NICT, opt, &w) == OSIP_SUCCESS) {
        w->is_cancel_of_call = 1; /* a request of the core itself: no events for its answers */
        ex_tx_send(ctx, w, opt);
      } else {
        osip_message_free(opt);
      }
    }
  }
  osip_free(to);
  osip_free(from);
}

void ex_keepalive_run(struct eXosip_t *ctx)
{
  uint64_t now = ex_now_us();
  struct ex_reg *r;
  if (ctx->keepalive <= 0 || now < ctx->ka_last + (uint64_t) ctx->keepalive * 1000ULL)
    return;
  ctx->ka_last = now;
  for (r = ctx->regs; r != NULL; r = r->next)
    if (r->granted > 0 && !r->removed)
      keepalive_one(ctx, r);
}

void ex_netopt_learn(struct eXosip_t *ctx, const osip_message_t *resp)
{
  osip_via_t *via = NULL;
  osip_generic_param_t *received = NULL, *rport = NULL;
  const char *host;
  int port;
  if (!ctx->auto_masquerade || resp->status_code < 200 || resp->status_code >= 300 || resp->cseq == NULL
      || osip_strcasecmp(resp->cseq->method, "REGISTER") != 0)
    return;
  if (osip_message_get_via((osip_message_t *) resp, 0, &via) < 0 || via == NULL)
    return;
  osip_via_param_get_byname(via, "received", &received);
  osip_via_param_get_byname(via, "rport", &rport);
  host = received != NULL && received->gvalue != NULL ? received->gvalue : via->host;
  port = rport != NULL && rport->gvalue != NULL ? atoi(rport->gvalue) : 0;
  if (host == NULL || host[0] == '\0' || strlen(host) >= sizeof(ctx->masq_ip) || strpbrk(host, "\"<> ;,\r\n"))
    return;
  if (port <= 0 || port > 65535)
    port = via->port != NULL ? atoi(via->port) : 0;
  snprintf(ctx->masq_ip, sizeof(ctx->masq_ip), "%s", host);
  ctx->masq_port = port > 0 && port <= 65535 ? port : 0;
}

void ex_dialog_keep_preroute(struct eXosip_t *ctx, struct ex_dialog *dlg, const osip_message_t *invite)
{
  int pos;
  if (!ctx->keep_preroute || dlg == NULL || dlg->d == NULL || invite == NULL
      || osip_list_size(&dlg->d->route_set) > 0)
    return;
  for (pos = 0; pos < osip_list_size(&invite->routes); pos++) {
    osip_route_t *r = osip_list_get(&invite->routes, pos), *copy = NULL;
    if (r != NULL && osip_route_clone(r, &copy) == 0)
      osip_list_add(&dlg->d->route_set, copy, -1);
  }
}

void ex_netopt_listen_socket(struct eXosip_t *ctx, int fd)
{
  int one = 1;
  if (ctx->reuse_tcp_port)
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
}

int ex_netopt_bind_outgoing(struct eXosip_t *ctx, int fd, int family)
{
  const char *addr = ctx->oc_addr[0] ? ctx->oc_addr : NULL;
  int one = 1, tries, span;
  if (addr == NULL && ctx->oc_port_lo == 0 && !(ctx->reuse_tcp_port && ctx->tcp_port > 0))
    return 0; /* nothing asked: the kernel picks */
  if (addr != NULL && (strchr(addr, ':') != NULL) != (family == AF_INET6))
    addr = NULL; /* an address of the other family does not apply to this connection */
  if (ctx->reuse_tcp_port && ctx->tcp_port > 0) {
    /* the source port of our connections is the port we listen on (RFC 5923 style reuse) */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    return ex_bind_socket(fd, addr, ctx->tcp_port, family) > 0 ? 0 : -1;
  }
  if (ctx->oc_port_lo == 0)
    return ex_bind_socket(fd, addr, 0, family) > 0 ? 0 : -1;
  span = ctx->oc_port_hi - ctx->oc_port_lo + 1;
  for (tries = 0; tries < span && tries < 64; tries++) {
    int port = ctx->oc_port_next;
    ctx->oc_port_next = port >= ctx->oc_port_hi ? ctx->oc_port_lo : port + 1;
    if (ex_bind_socket(fd, addr, port, family) > 0)
      return 0;
  }
  return -1; /* every port of the range tried is taken */
}
