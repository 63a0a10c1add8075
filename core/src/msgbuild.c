/* SPDX-License-Identifier: Apache-2.0 */
/* Building SIP requests (new and in-dialog) and responses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exosip_internal.h"
#include "arena.h"

static const char *tag_of(osip_list_t *params)
{
  osip_generic_param_t *p = NULL;
  osip_generic_param_get_byname(params, "tag", &p);
  return p != NULL ? p->gvalue : NULL;
}

const char *ex_to_tag(const osip_message_t *msg)
{
  return msg->to != NULL ? tag_of(&msg->to->gen_params) : NULL;
}

const char *ex_from_tag(const osip_message_t *msg)
{
  return msg->from != NULL ? tag_of(&msg->from->gen_params) : NULL;
}

const char *ex_callid(const osip_message_t *msg, char *buf, size_t size)
{
  const osip_call_id_t *c = msg->call_id;
  if (c == NULL || c->number == NULL) {
    buf[0] = '\0';
    return buf;
  }
  /* built for almost every message: copied, not formatted */
  {
    size_t at = ex_puts(buf, size, 0, c->number);
    if (c->host != NULL)
      ex_puts(buf, size, ex_put(buf, size, at, "@", 1), c->host);
  }
  return buf;
}

char *ex_body_string(const osip_message_t *msg)
{
  osip_body_t *body = osip_list_get(&msg->bodies, 0);
  char *s;
  if (body == NULL || body->body == NULL || body->length == 0)
    return NULL;
  s = malloc(body->length + 1);
  if (s == NULL)
    return NULL;
  memcpy(s, body->body, body->length);
  s[body->length] = '\0';
  return s;
}

static const char *proto_name(int proto)
{
  return proto == EX_PROTO_TLS ? "TLS" : proto == IPPROTO_TCP ? "TCP" : "UDP";
}

static int host_needs_brackets(const char *host)
{
  return strchr(host, ':') != NULL && host[0] != '[';
}

int ex_add_via(struct eXosip_t *ctx, osip_message_t *msg, int proto)
{
  char branch[24], via[256];
  const char *host;
  int port;
  ex_local_contact(ctx, proto, &host, &port);
  ex_random_token(ctx, branch, sizeof(branch));
  { /* SIP/2.0/PROTO host:port[;rport];branch=z9hG4bK..., appended (one per request we send) */
    int brackets = host_needs_brackets(host);
    size_t at = ex_put(via, sizeof(via), 0, "SIP/2.0/", 8);
    at = ex_puts(via, sizeof(via), at, proto_name(proto));
    at = ex_put(via, sizeof(via), at, brackets ? " [" : " ", brackets ? 2 : 1);
    at = ex_puts(via, sizeof(via), at, host);
    at = ex_put(via, sizeof(via), at, brackets ? "]:" : ":", brackets ? 2 : 1);
    at = ex_put_int(via, sizeof(via), at, port);
    if (ctx->use_rport)
      at = ex_put(via, sizeof(via), at, ";rport", 6);
    at = ex_put(via, sizeof(via), at, ";branch=z9hG4bK", 15);
    ex_puts(via, sizeof(via), at, branch);
  }
  return osip_message_set_via(msg, via) == 0 ? OSIP_SUCCESS : OSIP_SYNTAXERROR;
}

/* The longest user part (after escaping) put in a Contact we build; a longer one is left out. */
#define EX_MAX_CONTACT_USER 256

/* user (raw text, as oSIP2 keeps it after unescaping) written as RFC 3261 `user`: unreserved and
 * user-unreserved characters as they are, every other byte as %HH (",", ";" and "?" too: they are
 * legal, but other parsers split on them). Returns the length, or -1 when it does not fit in size
 * (the caller then leaves the user out). */
static int escape_user(const char *user, char *out, size_t size)
{
  static const char hex[] = "0123456789ABCDEF";
  static const char plain[] = "-_.!~*'()&=+$/";
  size_t n = 0;
  const unsigned char *p;
  for (p = (const unsigned char *) user; *p != '\0'; p++) {
    int keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
               || strchr(plain, *p) != NULL;
    if (n + (keep ? 1 : 3) >= size)
      return -1;
    if (keep) {
      out[n++] = (char) *p;
    } else {
      out[n++] = '%';
      out[n++] = hex[*p >> 4];
      out[n++] = hex[*p & 15];
    }
  }
  out[n] = '\0';
  return (int) n;
}

/* A Contact with our address; user (peer-controlled text in answers: the Request-URI user) is
 * escaped, and left out when empty or too long, so the header always parses. */
int ex_set_contact(struct eXosip_t *ctx, osip_message_t *msg, const char *user, int proto)
{
  char contact[EX_MAX_CONTACT_USER + 192 + 1000], esc[EX_MAX_CONTACT_USER + 1];
  const char *host, *name = ex_contact_displayname(ctx); /* netopts.c */
  int port, has_user;
  ex_local_contact(ctx, proto, &host, &port);
  has_user = user != NULL && user[0] != '\0' && escape_user(user, esc, sizeof(esc)) > 0;
  /* ["name" ]<sip:[user@]host:port[;transport=..][;ob][;extra]>[;+sip.instance="..."], appended
   * piece by piece (one for every dialog answered or started: no format to parse) */
  {
    const size_t size = sizeof(contact);
    int brackets = host_needs_brackets(host), not_register = !MSG_IS_REGISTER(msg);
    size_t at = 0;
    if (name != NULL) {
      at = ex_put(contact, size, at, "\"", 1);
      at = ex_puts(contact, size, at, name);
      at = ex_put(contact, size, at, "\" ", 2);
    }
    at = ex_put(contact, size, at, "<sip:", 5);
    if (has_user) {
      at = ex_puts(contact, size, at, esc);
      at = ex_put(contact, size, at, "@", 1);
    }
    if (brackets)
      at = ex_put(contact, size, at, "[", 1);
    at = ex_puts(contact, size, at, host);
    if (brackets)
      at = ex_put(contact, size, at, "]", 1);
    at = ex_put(contact, size, at, ":", 1);
    at = ex_put_int(contact, size, at, port);
    if (proto == EX_PROTO_TLS)
      at = ex_puts(contact, size, at, ";transport=tls");
    else if (proto == IPPROTO_TCP)
      at = ex_puts(contact, size, at, ";transport=tcp");
    if (ctx->outbound && not_register) /* EXOSIP_OPT_ENABLE_OUTBOUND */
      at = ex_put(contact, size, at, ";ob", 3);
    if (ctx->contact_extra != NULL && not_register) {
      at = ex_put(contact, size, at, ";", 1);
      at = ex_puts(contact, size, at, ctx->contact_extra);
    }
    at = ex_put(contact, size, at, ">", 1);
    if (ctx->sip_instance) {
      at = ex_puts(contact, size, at, ";+sip.instance=\"");
      at = ex_puts(contact, size, at, ctx->sip_instance);
      at = ex_put(contact, size, at, "\"", 1);
    }
    if (at >= size)
      return OSIP_SYNTAXERROR;
  }
  return osip_message_set_contact(msg, contact) == 0 ? OSIP_SUCCESS : OSIP_SYNTAXERROR;
}

void ex_set_user_agent_header(struct eXosip_t *ctx, osip_message_t *msg)
{
  if (ctx->user_agent != NULL && ctx->user_agent[0] != '\0')
    osip_message_set_user_agent(msg, ctx->user_agent);
}

static int wants_contact(const char *method)
{
  return strcmp(method, "INVITE") == 0 || strcmp(method, "UPDATE") == 0 || strcmp(method, "REFER") == 0
         || strcmp(method, "SUBSCRIBE") == 0 || strcmp(method, "NOTIFY") == 0;
}

static const char *allow_value = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY, MESSAGE, PRACK";

static int build_request_out(struct eXosip_t *ctx, const char *method, const char *to, const char *from,
                             const char *route, osip_message_t **out);

/* A request lives as long as its transaction: its blocks come from a scope of its own (arena.c). */
int ex_build_request_out(struct eXosip_t *ctx, const char *method, const char *to, const char *from,
                         const char *route, osip_message_t **out)
{
  int rc;
  ex_arena_begin();
  rc = build_request_out(ctx, method, to, from, route, out);
  ex_arena_end();
  return rc;
}

static int build_request_out(struct eXosip_t *ctx, const char *method, const char *to, const char *from,
                             const char *route, osip_message_t **out)
{
  osip_message_t *m = NULL;
  osip_uri_t *ruri = NULL;
  char tag[16], callid[64], cseq[64];
  int rc = OSIP_SYNTAXERROR;
  const char *host;
  int port;
  int proto = ctx->default_proto;

  *out = NULL;
  if (method == NULL || to == NULL || from == NULL || method[0] == '\0')
    return OSIP_BADPARAMETER;
  if (osip_message_init(&m) != 0)
    return OSIP_NOMEM;
  osip_message_set_method(m, osip_strdup(method));
  osip_message_set_version(m, osip_strdup("SIP/2.0"));
  osip_message_set_status_code(m, 0);
  if (osip_message_set_to(m, to) != 0 || m->to == NULL || m->to->url == NULL)
    goto cleanup;
  if (osip_message_set_from(m, from) != 0 || m->from == NULL || m->from->url == NULL)
    goto cleanup;
  if (osip_uri_clone(m->to->url, &ruri) != 0)
    goto cleanup;
  osip_message_set_uri(m, ruri);
  if (route != NULL && route[0] != '\0' && osip_message_set_route(m, route) != 0)
    goto cleanup;
  if (m->to->url->scheme == NULL)
    goto cleanup;
  if (ex_target_proto(m, proto) == EX_PROTO_TLS) /* sips: or ;transport=tls: over TLS */
    proto = EX_PROTO_TLS;
  if (ex_from_tag(m) == NULL) {
    ex_random_token(ctx, tag, sizeof(tag));
    osip_from_set_tag(m->from, osip_strdup(tag));
  }
  ex_local_contact(ctx, proto, &host, &port);
  ex_random_token(ctx, callid, 24);
  ex_puts(callid, sizeof(callid), ex_put(callid, sizeof(callid), strlen(callid), "@", 1), host);
  osip_message_set_call_id(m, callid);
  ex_puts(cseq, sizeof(cseq), ex_put(cseq, sizeof(cseq), 0, "20 ", 3), method);
  osip_message_set_cseq(m, cseq);
  osip_message_set_max_forwards(m, "70");
  rc = ex_add_via(ctx, m, proto);
  if (rc != OSIP_SUCCESS)
    goto cleanup;
  if (wants_contact(method)) {
    rc = ex_set_contact(ctx, m, m->from->url->username, proto);
    if (rc != OSIP_SUCCESS)
      goto cleanup;
  }
  if (strcmp(method, "INVITE") == 0)
    osip_message_set_allow(m, allow_value);
  ex_set_user_agent_header(ctx, m);
  *out = m;
  return OSIP_SUCCESS;

cleanup:
  osip_message_free(m);
  return rc;
}

static int set_tag_param(osip_list_t *params, const char *tag)
{
  if (tag == NULL || tag_of(params) != NULL)
    return OSIP_SUCCESS;
  return osip_generic_param_add(params, osip_strdup("tag"), osip_strdup(tag)) == 0 ? OSIP_SUCCESS : OSIP_NOMEM;
}

static int build_request_in_dialog(struct eXosip_t *ctx, struct ex_dialog *dlg, const char *method,
                                   osip_message_t **out);

int ex_build_request_in_dialog(struct eXosip_t *ctx, struct ex_dialog *dlg, const char *method,
                               osip_message_t **out)
{
  int rc;
  ex_arena_begin();
  rc = build_request_in_dialog(ctx, dlg, method, out);
  ex_arena_end();
  return rc;
}

static int build_request_in_dialog(struct eXosip_t *ctx, struct ex_dialog *dlg, const char *method,
                                   osip_message_t **out)
{
  osip_dialog_t *d = dlg->d;
  osip_message_t *m = NULL;
  osip_uri_t *ruri = NULL;
  char cseq[64];
  int rc = OSIP_SYNTAXERROR, pos, proto;

  *out = NULL;
  if (osip_message_init(&m) != 0)
    return OSIP_NOMEM;
  osip_message_set_method(m, osip_strdup(method));
  osip_message_set_version(m, osip_strdup("SIP/2.0"));
  osip_message_set_status_code(m, 0);
  if (d->remote_contact_uri != NULL && d->remote_contact_uri->url != NULL)
    rc = osip_uri_clone(d->remote_contact_uri->url, &ruri);
  else
    rc = osip_uri_clone(d->remote_uri->url, &ruri);
  if (rc != 0)
    goto cleanup;
  osip_message_set_uri(m, ruri);
  for (pos = 0; pos < osip_list_size(&d->route_set); pos++) {
    osip_route_t *r = osip_list_get(&d->route_set, pos), *copy = NULL;
    if (osip_route_clone(r, &copy) != 0)
      goto cleanup;
    osip_list_add(&m->routes, copy, -1);
  }
  if (osip_from_clone(d->local_uri, &m->from) != 0 || osip_to_clone(d->remote_uri, &m->to) != 0)
    goto cleanup;
  if (set_tag_param(&m->from->gen_params, d->local_tag) != OSIP_SUCCESS
      || set_tag_param(&m->to->gen_params, d->remote_tag) != OSIP_SUCCESS)
    goto cleanup;
  osip_message_set_call_id(m, d->call_id);
  if (strcmp(method, "ACK") == 0) {
    ex_put(cseq, sizeof(cseq), ex_put_int(cseq, sizeof(cseq), 0, dlg->inv_cseq), " ACK", 4);
  } else {
    d->local_cseq++;
    ex_puts(cseq, sizeof(cseq), ex_put(cseq, sizeof(cseq), ex_put_int(cseq, sizeof(cseq), 0, d->local_cseq), " ", 1),
            method);
  }
  osip_message_set_cseq(m, cseq);
  osip_message_set_max_forwards(m, "70");
  proto = ctx->default_proto;
  { /* the transport of the remote target wins */
    osip_uri_param_t *tp = NULL;
    osip_uri_uparam_get_byname(ruri, "transport", &tp);
    if (tp != NULL && tp->gvalue != NULL)
      proto = osip_strcasecmp(tp->gvalue, "tcp") == 0 ? IPPROTO_TCP : IPPROTO_UDP;
    if (ex_uri_wants_tls(ruri) || ex_target_proto(m, proto) == EX_PROTO_TLS)
      proto = EX_PROTO_TLS;
  }
  rc = ex_add_via(ctx, m, proto);
  if (rc != OSIP_SUCCESS)
    goto cleanup;
  if (wants_contact(method)) {
    rc = ex_set_contact(ctx, m, d->local_uri->url != NULL ? d->local_uri->url->username : NULL, proto);
    if (rc != OSIP_SUCCESS)
      goto cleanup;
  }
  if (strcmp(method, "INVITE") == 0 || strcmp(method, "UPDATE") == 0)
    osip_message_set_allow(m, allow_value);
  ex_set_user_agent_header(ctx, m);
  *out = m;
  return OSIP_SUCCESS;

cleanup:
  osip_message_free(m);
  return rc;
}

static int build_response(struct eXosip_t *ctx, const osip_message_t *req, int status, const char *to_tag,
                          int with_contact, osip_message_t **out);

/* An answer lives as long as its transaction: its blocks come from a scope of its own (arena.c). */
int ex_build_response(struct eXosip_t *ctx, const osip_message_t *req, int status, const char *to_tag,
                      int with_contact, osip_message_t **out)
{
  int rc;
  ex_arena_begin();
  rc = build_response(ctx, req, status, to_tag, with_contact, out);
  ex_arena_end();
  return rc;
}

static int build_response(struct eXosip_t *ctx, const osip_message_t *req, int status, const char *to_tag,
                          int with_contact, osip_message_t **out)
{
  osip_message_t *m = NULL;
  const char *reason;
  int pos, rc = OSIP_NOMEM;

  *out = NULL;
  if (status < 100 || status > 699)
    return OSIP_BADPARAMETER;
  if (osip_message_init(&m) != 0)
    return OSIP_NOMEM;
  osip_message_set_version(m, osip_strdup("SIP/2.0"));
  osip_message_set_status_code(m, status);
  reason = osip_message_get_reason(status);
  osip_message_set_reason_phrase(m, osip_strdup(reason != NULL ? reason : "Unknown"));
  for (pos = 0; pos < osip_list_size(&req->vias); pos++) {
    osip_via_t *v = osip_list_get(&req->vias, pos), *copy = NULL;
    if (osip_via_clone(v, &copy) != 0)
      goto cleanup;
    osip_list_add(&m->vias, copy, -1);
  }
  if (osip_from_clone(req->from, &m->from) != 0 || osip_to_clone(req->to, &m->to) != 0
      || osip_call_id_clone(req->call_id, &m->call_id) != 0 || osip_cseq_clone(req->cseq, &m->cseq) != 0)
    goto cleanup;
  if (status > 100 && to_tag != NULL && set_tag_param(&m->to->gen_params, to_tag) != OSIP_SUCCESS)
    goto cleanup;
  if (status > 100 && status < 300 && req->sip_method != NULL
      && (strcmp(req->sip_method, "INVITE") == 0 || strcmp(req->sip_method, "SUBSCRIBE") == 0)) {
    for (pos = 0; pos < osip_list_size(&req->record_routes); pos++) {
      osip_record_route_t *r = osip_list_get(&req->record_routes, pos), *copy = NULL;
      if (osip_record_route_clone(r, &copy) != 0)
        goto cleanup;
      osip_list_add(&m->record_routes, copy, -1);
    }
  }
  if (with_contact) {
    const char *user = req->req_uri != NULL ? req->req_uri->username : NULL;
    rc = ex_set_contact(ctx, m, user, ex_contact_proto(req));
    if (rc != OSIP_SUCCESS)
      goto cleanup;
  }
  if (status >= 200 && status < 300 && req->sip_method != NULL && strcmp(req->sip_method, "INVITE") == 0)
    osip_message_set_allow(m, allow_value);
  ex_set_user_agent_header(ctx, m);
  *out = m;
  return OSIP_SUCCESS;

cleanup:
  osip_message_free(m);
  return rc;
}
