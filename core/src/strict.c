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
 *  - Content-Length: digits only (RFC 3261 20.14) -> 400.
 *  - Request-URI: no escaped headers in a Request-URI (RFC 3261 19.1.1; RFC 4475 escruri)
 *    -> 400.
 *  - Missing Call-ID, From, To or CSeq method (RFC 3261 8.1.1; RFC 4475 insuf) -> 400 when the
 *    request has a Via to answer along, otherwise dropped.
 * Expires is not checked: RFC 4475 (scalar02) lets an element read an out-of-range expiry as the
 * default, and older peers still send RFC 2543 dates there; the program sees the value.
 *
 * A request oSIP2 cannot parse at all (RFC 4475 clerr, quotbal, ltgtruri, lwsruri, lwsstart,
 * trws, badaspec, baddn, mcl01, multi01) is answered 400 by ex_strict_unparsed when its first line
 * is a request line ending in SIP/2.0 and it has a Via and a CSeq: the answer copies the Via lines
 * and the first From, To, Call-ID and CSeq lines as they came, and goes to the source address
 * only when oSIP2 can read it back. Anything else that does not parse is garbage: no answer.
 *
 * RFC 4475 invalid messages that stay unanswered, and why:
 *  - badinv01: oSIP2 cannot parse it and its only Via ("192.0.2.15;;,;,,") is not usable, so
 *    there is nowhere RFC 3261 18.2.2 would send an answer.
 *  - ncl (negative Content-Length) over UDP: discarded by the framing check of RFC 3261 18.3
 *    before this check runs; over a stream the framing itself is lost.
 *  - responses (scalarlg, bigcode): a malformed response is discarded (RFC 3261 18.1.2).
 *  - regbadct and baddate are accepted: oSIP2 does not record whether a Contact URI had angle
 *    brackets, and RFC 4475 lets an element ignore a Date it does not use.
 * The list of which RFC 4475 message gets which answer is tests/data/rfc4475/README.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <osipparser2/osip_port.h>

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
  ex_dest_of_source(&dest, proto, src, srclen, conn_id);
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

/* ---- requests oSIP2 cannot parse ---- */

/* Header names whose lines a 400 copies (RFC 3261 8.2.6.2), with their compact forms. */
static int copied_header(const char *line, size_t n)
{
  static const char *const names[] = {"via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"};
  size_t i, k = 0;
  while (k < n && line[k] != ':' && line[k] != ' ' && line[k] != '\t')
    k++;
  for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (strlen(names[i]) == k && osip_strncasecmp(line, names[i], k) == 0)
      return i < 2 ? 1 : i < 6 ? 2 : i < 8 ? 4 : 3; /* 1 Via, 2 From/To, 3 CSeq, 4 Call-ID */
  return 0;
}

/* One bit per single-valued header kind (From, To, Call-ID, CSeq). */
static int header_bit(const char *line, int kind)
{
  if (kind == 2)
    return line[0] == 'f' || line[0] == 'F' ? 1 : 2;
  return kind == 3 ? 4 : kind == 4 ? 8 : 0;
}

#define EX_BARE_MAX 8192

void ex_strict_unparsed(struct eXosip_t *ctx, const char *buf, size_t len, int proto, const struct sockaddr *src,
                        socklen_t srclen, long conn_id)
{
  const char *p = buf, *end = buf + len, *eol;
  char *out = NULL;
  size_t olen = 0, n;
  int vias = 0, cseq = 0, pass, seen;
  struct ex_dest dest;

  if (srclen == 0 || srclen > sizeof(dest.sa))
    return;
  /* the request line: "METHOD SP ... SIP/2.0" (extra or trailing white space tolerated here,
   * that is what we answer 400 to); never a response, never an ACK */
  eol = memchr(p, '\n', (size_t) (end - p));
  if (eol == NULL || eol - p < 12 || eol - p > 4096)
    return;
  n = (size_t) (eol - p);
  while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
    n--;
  if (n < 8 || memcmp(p + n - 7, "SIP/2.0", 7) != 0 || memcmp(p, "SIP/", 4) == 0 || memcmp(p, "ACK ", 4) == 0)
    return;
  {
    size_t i;
    for (i = 0; i < n && p[i] != ' '; i++)
      if (p[i] < 0x21 || p[i] > 0x7e)
        return; /* not a token: not a SIP request */
  }
  /* two passes: with every copied header, then (if oSIP2 cannot read that answer, as when a To
   * header has an unbalanced quote) with Via, Call-ID and CSeq alone */
  for (pass = 0; pass < 2; pass++) {
    const char *q = eol + 1;
    osip_message_t *check = NULL;
    free(out);
    out = malloc(EX_BARE_MAX);
    if (out == NULL)
      return;
    olen = (size_t) snprintf(out, EX_BARE_MAX, "SIP/2.0 400 Bad Request\r\n");
    vias = cseq = 0;
    seen = 0;
    while (q < end) {
      const char *le = memchr(q, '\n', (size_t) (end - q));
      size_t ln;
      int kind;
      if (le == NULL)
        le = end;
      ln = (size_t) (le - q);
      if (ln > 0 && q[ln - 1] == '\r')
        ln--;
      if (ln == 0)
        break; /* end of the headers */
      kind = (q[0] == ' ' || q[0] == '\t') ? 0 : copied_header(q, ln);
      /* single-valued headers given twice (RFC 4475 multi01): the first one is answered */
      if (kind >= 2 && (seen & header_bit(q, kind)) != 0)
        kind = 0;
      if (kind != 0 && (pass == 0 || kind != 2)) {
        seen |= header_bit(q, kind);
        if (olen + ln + 2 >= EX_BARE_MAX - 64)
          break;
        memcpy(out + olen, q, ln);
        olen += ln;
        out[olen++] = '\r';
        out[olen++] = '\n';
        vias += kind == 1;
        cseq += kind == 3;
      }
      q = le + 1;
    }
    if (vias == 0 || cseq == 0) {
      free(out);
      return; /* nothing to answer along, or nothing to answer to */
    }
    olen += (size_t) snprintf(out + olen, EX_BARE_MAX - olen, "Content-Length: 0\r\n\r\n");
    /* only an answer that is itself well-formed SIP goes out */
    if (osip_message_init(&check) == 0 && osip_message_parse(check, out, olen) == 0
        && osip_list_size(&check->vias) > 0 && check->cseq != NULL) {
      osip_message_free(check);
      ex_dest_of_source(&dest, proto, src, srclen, conn_id);
      ex_send_raw(ctx, &dest, out, olen);
      free(out);
      return;
    }
    if (check != NULL)
      osip_message_free(check);
  }
  free(out);
}
