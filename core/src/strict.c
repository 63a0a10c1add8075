/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Strictness on the receive path (RFC 3261, RFC 4475) and the stateless answers that go with it.
 *
 * Run on every parsed message before the transaction layer sees it. A request that breaks a rule
 * we check is answered here without a transaction (400 Bad Request, 505 Version Not Supported);
 * a response that breaks one is dropped, as there is nobody to tell. ACK is never answered.
 *
 * What is checked, and why:
 *  - SIP-Version: only SIP/2.0 (RFC 3261 7.1 and 21.5.6; RFC 4475 badvers) -> 505.
 *  - CSeq number: 1*DIGIT below 2^31 (RFC 3261 8.1.1.5; RFC 4475 scalar02) -> 400.
 *  - Max-Forwards: 1*DIGIT, 0..255 (RFC 3261 20.22) -> 400.
 *  - Content-Length, Expires: digits only, Expires below 2^32 (RFC 3261 20.14, 20.19) -> 400.
 *  - Request-URI: no escaped headers in a Request-URI (RFC 3261 19.1.1; RFC 4475 escruri)
 *    -> 400.
 *  - Missing Call-ID, From, To or CSeq method (RFC 3261 8.1.1; RFC 4475 insuf) -> 400 when the
 *    request has a Via to answer along, otherwise dropped.
 *
 * RFC 4475 invalid messages that stay dropped (no answer) and why:
 *  - clerr: a datagram shorter than its Content-Length is discarded (RFC 3261 18.3) before this
 *    check runs; its Content-Length cannot be trusted to find where the message ends.
 *  - messages oSIP2 cannot parse at all (ltgtruri, lwsruri, lwsstart, trws, quotbal and others,
 *    depending on the parser): without a parsed Via there is no address to answer to that RFC 3261
 *    18.2.2 would allow, and answering unparsed bytes to their source reflects floods.
 *  - responses (scalarlg, bigcode, ...): a malformed response is discarded (RFC 3261 18.1.2).
 * The list of which RFC 4475 message gets which answer is tests/data/rfc4475/README.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exosip_internal.h"

/* 1*DIGIT whose value is at most max (leading zeros allowed, RFC 4475 wsinv). */
static int digits_at_most(const char *s, unsigned long long max)
{
  unsigned long long v = 0;
  if (s == NULL || *s == '\0')
    return 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return 0;
    v = v * 10 + (unsigned long long) (*s - '0');
    if (v > max)
      return 0;
  }
  return 1;
}

/* Every value of header name is 1*DIGIT at most max (white space around it allowed: oSIP2 keeps
 * unknown headers as they came). */
static int header_digits_at_most(const osip_message_t *sip, const char *name, unsigned long long max)
{
  int pos = 0;
  for (;;) {
    osip_header_t *h = NULL;
    char buf[32];
    const char *v;
    size_t n;
    pos = osip_message_header_get_byname(sip, name, pos, &h);
    if (pos < 0 || h == NULL)
      return 1;
    v = h->hvalue != NULL ? h->hvalue : "";
    while (*v == ' ' || *v == '\t')
      v++;
    n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' || v[n - 1] == '\n'))
      n--;
    if (n == 0 || n >= sizeof(buf))
      return 0;
    memcpy(buf, v, n);
    buf[n] = '\0';
    if (!digits_at_most(buf, max))
      return 0;
    pos++;
  }
}

/* The status a request deserves (0: acceptable). */
static int request_verdict(const osip_message_t *sip)
{
  if (sip->sip_version == NULL || osip_strcasecmp(sip->sip_version, "SIP/2.0") != 0)
    return 505;
  if (sip->call_id == NULL || sip->call_id->number == NULL || sip->from == NULL || sip->to == NULL
      || sip->cseq == NULL || sip->cseq->method == NULL || sip->cseq->number == NULL
      || sip->req_uri == NULL || sip->sip_method == NULL)
    return 400;
  if (!digits_at_most(sip->cseq->number, 2147483647ULL))
    return 400;
  if (!header_digits_at_most(sip, "max-forwards", 255))
    return 400;
  if (!header_digits_at_most(sip, "expires", 4294967295ULL))
    return 400;
  if (sip->content_length != NULL && !digits_at_most(sip->content_length->value, 0xffffffffULL))
    return 400;
  if (osip_list_size(&sip->req_uri->url_headers) > 0)
    return 400;
  return 0;
}

/* A response when ex_build_response cannot make one: whatever of Via, From, To, Call-ID and CSeq
 * the request has. */
static osip_message_t *bare_response(struct eXosip_t *ctx, const osip_message_t *req, int status)
{
  osip_message_t *m = NULL;
  const char *reason = osip_message_get_reason(status);
  int pos;
  if (osip_message_init(&m) != 0)
    return NULL;
  osip_message_set_version(m, osip_strdup("SIP/2.0"));
  osip_message_set_status_code(m, status);
  osip_message_set_reason_phrase(m, osip_strdup(reason != NULL ? reason : "Error"));
  for (pos = 0; pos < osip_list_size(&req->vias); pos++) {
    osip_via_t *copy = NULL;
    if (osip_via_clone(osip_list_get(&req->vias, pos), &copy) != 0)
      goto fail;
    osip_list_add(&m->vias, copy, -1);
  }
  if ((req->from != NULL && osip_from_clone(req->from, &m->from) != 0)
      || (req->to != NULL && osip_to_clone(req->to, &m->to) != 0)
      || (req->call_id != NULL && osip_call_id_clone(req->call_id, &m->call_id) != 0)
      || (req->cseq != NULL && osip_cseq_clone(req->cseq, &m->cseq) != 0))
    goto fail;
  ex_set_user_agent_header(ctx, m);
  return m;
fail:
  osip_message_free(m);
  return NULL;
}

void ex_reply_stateless(struct eXosip_t *ctx, const osip_message_t *req, int status, int retry_after,
                        int proto, const struct sockaddr *src, socklen_t srclen, long conn_id)
{
  osip_message_t *resp = NULL;
  struct ex_dest dest;
  if (req == NULL || !MSG_IS_REQUEST(req) || MSG_IS_ACK(req) || osip_list_size(&req->vias) < 1)
    return;
  if (srclen == 0 || srclen > sizeof(dest.sa))
    return;
  if (ex_build_response(ctx, req, status, NULL, 0, &resp) != OSIP_SUCCESS)
    resp = bare_response(ctx, req, status);
  if (resp == NULL)
    return;
  if (retry_after > 0) {
    char v[16];
    snprintf(v, sizeof(v), "%d", retry_after);
    osip_message_set_header(resp, "Retry-After", v);
  }
  osip_message_set_content_length(resp, "0");
  memset(&dest, 0, sizeof(dest));
  dest.proto = proto;
  memcpy(&dest.sa, src, srclen);
  dest.salen = srclen;
  dest.conn_id = conn_id;
  ex_send_message(ctx, resp, &dest);
  osip_message_free(resp);
}

int ex_strict_check(struct eXosip_t *ctx, const osip_message_t *sip, int proto, const struct sockaddr *src,
                    socklen_t srclen, long conn_id)
{
  int status;
  if (!MSG_IS_REQUEST(sip)) {
    if (sip->sip_version == NULL || osip_strcasecmp(sip->sip_version, "SIP/2.0") != 0)
      return -1;
    if (sip->cseq != NULL && sip->cseq->number != NULL && !digits_at_most(sip->cseq->number, 2147483647ULL))
      return -1;
    return 0;
  }
  status = request_verdict(sip);
  if (status == 0)
    return 0;
  if (sip->sip_method != NULL && strcmp(sip->sip_method, "ACK") == 0)
    return -1; /* never answered */
  ex_reply_stateless(ctx, sip, status, 0, proto, src, srclen, conn_id);
  return status;
}
