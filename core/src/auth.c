/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Digest authentication (RFC 2617 / RFC 3261 22): the credential store of the context and the
 * answers to WWW-Authenticate (401) and Proxy-Authenticate (407) challenges: MD5, with qop=auth,
 * qop=auth-int (the body hashed into HA2, RFC 2617 3.2.2.3) or without qop. A challenge that
 * offers only qop values we do not speak, or whose realm, nonce or opaque is longer than
 * EX_MAX_DIGEST_VALUE, is not answered: the 401/407 is reported as the failure. oSIP2 parses the
 * challenge headers and keeps quoted values with their quotes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <osipparser2/osip_md5.h>

#include "regauth.h"

/* ---- the credential store ---- */

static char *dup_or_null(const char *s)
{
  return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

static int same_opt(const char *a, const char *b)
{
  if (a == NULL || a[0] == '\0')
    return b == NULL || b[0] == '\0';
  return b != NULL && strcmp(a, b) == 0;
}

static void cred_free(struct ex_cred *c)
{
  free(c->username);
  free(c->userid);
  if (c->passwd != NULL) {
    memset(c->passwd, 0, strlen(c->passwd));
    free(c->passwd);
  }
  free(c->ha1);
  free(c->realm);
  free(c);
}

EXOSIP_API int eXosip_add_authentication_info(struct eXosip_t *excontext, const char *username,
                                              const char *userid, const char *passwd, const char *ha1,
                                              const char *realm)
{
  struct ex_cred *c, **pp;
  if (excontext == NULL || !excontext->initialized || username == NULL || username[0] == '\0')
    return OSIP_BADPARAMETER;
  if ((passwd == NULL || passwd[0] == '\0') && (ha1 == NULL || ha1[0] == '\0'))
    return OSIP_BADPARAMETER;
  if (ha1 != NULL && ha1[0] != '\0' && (strlen(ha1) != 32 || strspn(ha1, "0123456789abcdefABCDEF") != 32))
    return OSIP_BADPARAMETER;
  c = calloc(1, sizeof(*c));
  if (c == NULL)
    return OSIP_NOMEM;
  c->username = strdup(username);
  c->userid = strdup(userid != NULL && userid[0] != '\0' ? userid : username);
  c->passwd = dup_or_null(passwd);
  c->ha1 = dup_or_null(ha1);
  if (c->ha1 != NULL) {
    char *p;
    for (p = c->ha1; *p; p++) /* the digest hashes the hex text: it must be lower case */
      if (*p >= 'A' && *p <= 'F')
        *p = (char) (*p - 'A' + 'a');
  }
  c->realm = dup_or_null(realm);
  if (c->username == NULL || c->userid == NULL || (passwd != NULL && passwd[0] && c->passwd == NULL)
      || (ha1 != NULL && ha1[0] && c->ha1 == NULL) || (realm != NULL && realm[0] && c->realm == NULL)) {
    cred_free(c);
    return OSIP_NOMEM;
  }
  ex_ctx_lock(excontext);
  /* a new entry for the same user and realm replaces the old one */
  for (pp = &excontext->creds; *pp != NULL; pp = &(*pp)->next) {
    if (strcmp((*pp)->username, username) == 0 && same_opt((*pp)->realm, realm)) {
      struct ex_cred *old = *pp;
      c->next = old->next;
      *pp = c;
      cred_free(old);
      ex_ctx_unlock(excontext);
      return OSIP_SUCCESS;
    }
  }
  *pp = c;
  ex_ctx_unlock(excontext);
  return OSIP_SUCCESS;
}

EXOSIP_API int eXosip_remove_authentication_info(struct eXosip_t *excontext, const char *username,
                                                 const char *realm)
{
  struct ex_cred **pp;
  int rc = OSIP_NOTFOUND;
  if (excontext == NULL || !excontext->initialized || username == NULL)
    return OSIP_BADPARAMETER;
  ex_ctx_lock(excontext);
  pp = &excontext->creds;
  while (*pp != NULL) {
    if (strcmp((*pp)->username, username) == 0 && same_opt((*pp)->realm, realm)) {
      struct ex_cred *old = *pp;
      *pp = old->next;
      cred_free(old);
      rc = OSIP_SUCCESS;
    } else {
      pp = &(*pp)->next;
    }
  }
  ex_ctx_unlock(excontext);
  return rc;
}

EXOSIP_API int eXosip_clear_authentication_info(struct eXosip_t *excontext)
{
  if (excontext == NULL || !excontext->initialized)
    return OSIP_BADPARAMETER;
  ex_ctx_lock(excontext);
  ex_auth_free_all(excontext);
  ex_ctx_unlock(excontext);
  return OSIP_SUCCESS;
}

void ex_auth_free_all(struct eXosip_t *ctx)
{
  ex_auth_cache_free(ctx); /* remembered challenges go with the credentials */
  while (ctx->creds != NULL) {
    struct ex_cred *c = ctx->creds;
    ctx->creds = c->next;
    cred_free(c);
  }
}

/* The credential for realm: the one naming it, else the realm-less one. */
static const struct ex_cred *cred_for(const struct eXosip_t *ctx, const char *realm)
{
  const struct ex_cred *c, *any = NULL;
  for (c = ctx->creds; c != NULL; c = c->next) {
    if (c->realm != NULL && realm != NULL && strcmp(c->realm, realm) == 0)
      return c;
    if (c->realm == NULL && any == NULL)
      any = c;
  }
  return any;
}

/* ---- challenge parameters ---- */

/* The longest realm, nonce or opaque answered, in characters after unquoting. A challenge with a
 * longer one (or with control characters in one) is not answered: its 401/407 is the failure the
 * program sees, and nothing is cut short and answered wrongly. */
#define EX_MAX_DIGEST_VALUE 4096

/* value without its surrounding quotes (and with \-escapes resolved), newly allocated; "" for NULL.
 * NULL when it is longer than EX_MAX_DIGEST_VALUE, holds a control character, or memory ran out. */
static char *unq_dup(const char *value)
{
  const char *s = value;
  size_t n = 0, cap;
  char *out;
  if (s == NULL)
    return strdup("");
  cap = strlen(s);
  if (cap > EX_MAX_DIGEST_VALUE + 2)
    return NULL;
  out = malloc(cap + 1);
  if (out == NULL)
    return NULL;
  if (*s == '"') {
    for (s++; *s != '\0' && *s != '"'; s++) {
      if (*s == '\\' && s[1] != '\0')
        s++;
      out[n++] = *s;
    }
  } else {
    for (; *s != '\0'; s++)
      out[n++] = *s;
  }
  out[n] = '\0';
  for (s = out; *s != '\0'; s++) {
    if ((unsigned char) *s < 0x20 || *s == 0x7f) {
      free(out);
      return NULL;
    }
  }
  if (n > EX_MAX_DIGEST_VALUE) {
    free(out);
    return NULL;
  }
  return out;
}

/* unq_dup into a fixed buffer for short tokens (type, algorithm, stale): "" when it does not fit. */
static void unq_short(const char *value, char *buf, size_t size)
{
  char *v = unq_dup(value);
  if (v != NULL && strlen(v) < size)
    snprintf(buf, size, "%s", v);
  else
    buf[0] = '\0';
  free(v);
}

/* Challenges looked at in one response: a peer sending thousands must not cost more than this. */
#define EX_MAX_CHALLENGES 16

/* One challenge, whichever header carried it. */
struct challenge {
  int proxy;                   /* 407 Proxy-Authenticate */
  char *realm, *nonce, *opaque; /* unquoted, allocated ("" when absent) */
  char algorithm[32];
  int qop_auth, qop_auth_int;  /* offered qop values we speak */
  int stale;
  int digest; /* an MD5 digest challenge that can be answered */
};

static void challenge_clear(struct challenge *ch)
{
  free(ch->realm);
  free(ch->nonce);
  free(ch->opaque);
  memset(ch, 0, sizeof(*ch));
}

static void challenge_read(const osip_www_authenticate_t *h, int proxy, struct challenge *ch)
{
  char stale[16], type[32], *qop;
  memset(ch, 0, sizeof(*ch));
  ch->proxy = proxy;
  ch->realm = unq_dup(h->realm);
  ch->nonce = unq_dup(h->nonce);
  ch->opaque = unq_dup(h->opaque);
  unq_short(h->algorithm, ch->algorithm, sizeof(ch->algorithm));
  unq_short(h->auth_type, type, sizeof(type));
  unq_short(h->stale, stale, sizeof(stale));
  qop = unq_dup(h->qop_options);
  ch->stale = osip_strcasecmp(stale, "true") == 0;
  if (qop != NULL) {
    /* qop is a comma-separated list of tokens: we speak "auth" and "auth-int" */
    char *tok, *save = NULL;
    for (tok = strtok_r(qop, ", \t", &save); tok != NULL; tok = strtok_r(NULL, ", \t", &save)) {
      if (osip_strcasecmp(tok, "auth") == 0)
        ch->qop_auth = 1;
      else if (osip_strcasecmp(tok, "auth-int") == 0)
        ch->qop_auth_int = 1;
    }
  }
  ch->digest = osip_strcasecmp(type, "Digest") == 0 && ch->realm != NULL && ch->nonce != NULL
               && ch->opaque != NULL && ch->nonce[0] != '\0'
               && (ch->algorithm[0] == '\0' || osip_strcasecmp(ch->algorithm, "MD5") == 0)
               /* qop offered, but none we speak (or unreadable): not answered as if it were absent */
               && (h->qop_options == NULL || ch->qop_auth || ch->qop_auth_int);
  free(qop);
  if (ch->realm == NULL)
    ch->realm = strdup(""); /* compared by callers; the challenge itself is not answered */
}

static int challenge_get(const osip_message_t *resp, int pos, struct challenge *ch)
{
  int nw = osip_list_size(&resp->www_authenticates);
  const osip_www_authenticate_t *h;
  if (pos >= EX_MAX_CHALLENGES)
    return 0;
  if (pos < nw) {
    h = osip_list_get(&resp->www_authenticates, pos);
    challenge_read(h, 0, ch);
    return 1;
  }
  h = osip_list_get(&resp->proxy_authenticates, pos - nw);
  if (h == NULL)
    return 0;
  challenge_read(h, 1, ch);
  return 1;
}

static int same_text(const char *a, const char *b)
{
  return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* The credentials header the request already carries for a realm (NULL if none). */
static osip_authorization_t *carried(const osip_message_t *req, int proxy, const char *realm, int *pos_out)
{
  const osip_list_t *list = proxy ? &req->proxy_authorizations : &req->authorizations;
  int pos;
  for (pos = 0; pos < osip_list_size(list); pos++) {
    osip_authorization_t *a = osip_list_get(list, pos);
    char *r = a != NULL ? unq_dup(a->realm) : NULL;
    int same = same_text(r, realm);
    free(r);
    if (same) {
      if (pos_out != NULL)
        *pos_out = pos;
      return a;
    }
  }
  return NULL;
}

int ex_auth_is_stale(const osip_message_t *response)
{
  struct challenge ch;
  int pos, stale = 0;
  for (pos = 0; !stale && challenge_get(response, pos, &ch); pos++) {
    stale = ch.stale;
    challenge_clear(&ch);
  }
  return stale;
}

static int sent_preemptively(struct eXosip_t *ctx, const osip_message_t *request);

int ex_auth_can_answer(struct eXosip_t *ctx, const osip_message_t *request, const osip_message_t *response,
                       int previous_was_preemptive)
{
  struct challenge ch;
  int pos, answerable = 0, refused = 0;
  if (response == NULL || (response->status_code != 401 && response->status_code != 407))
    return 0;
  if (!previous_was_preemptive && sent_preemptively(ctx, request))
    previous_was_preemptive = 1;
  for (pos = 0; !refused && challenge_get(response, pos, &ch); pos++) {
    osip_authorization_t *prev = ch.digest ? carried(request, ch.proxy, ch.realm, NULL) : NULL;
    if (prev != NULL) {
      char *nonce = unq_dup(prev->nonce);
      /* the same nonce again is a refusal, stale or not; a fresh not-stale challenge for
       * credentials just computed is a refusal too: never loop on a wrong password */
      if (nonce == NULL || strcmp(nonce, ch.nonce) == 0 || (!ch.stale && !previous_was_preemptive))
        refused = 1;
      free(nonce);
    }
    if (ch.digest && !refused && cred_for(ctx, ch.realm) != NULL)
      answerable = 1;
    challenge_clear(&ch);
  }
  return answerable && !refused;
}

/* ---- the digest ---- */

static void md5_hex(const char *const *parts, int nparts, char out[33])
{
  static const char hex[] = "0123456789abcdef";
  osip_MD5_CTX md5;
  unsigned char digest[16];
  int i;
  osip_MD5Init(&md5);
  for (i = 0; i < nparts; i++) {
    if (i > 0)
      osip_MD5Update(&md5, (unsigned char *) ":", 1);
    osip_MD5Update(&md5, (unsigned char *) parts[i], (unsigned int) strlen(parts[i]));
  }
  osip_MD5Final(digest, &md5);
  for (i = 0; i < 16; i++) {
    out[2 * i] = hex[digest[i] >> 4];
    out[2 * i + 1] = hex[digest[i] & 15];
  }
  out[32] = '\0';
}

static void md5_hex_raw(const char *data, size_t len, char out[33])
{
  static const char hex[] = "0123456789abcdef";
  osip_MD5_CTX md5;
  unsigned char digest[16];
  int i;
  osip_MD5Init(&md5);
  if (len > 0)
    osip_MD5Update(&md5, (unsigned char *) data, (unsigned int) len);
  osip_MD5Final(digest, &md5);
  for (i = 0; i < 16; i++) {
    out[2 * i] = hex[digest[i] >> 4];
    out[2 * i + 1] = hex[digest[i] & 15];
  }
  out[32] = '\0';
}

/* H(entity-body) of RFC 2617 3.2.2.3 for qop=auth-int: MD5 of the body bytes the request carries
 * (of nothing when it has none). */
static int body_hash(osip_message_t *req, char out[33])
{
  char *text = NULL, *body;
  size_t len = 0;
  if (osip_list_size(&req->bodies) == 0) {
    md5_hex_raw("", 0, out);
    return OSIP_SUCCESS;
  }
  if (osip_message_to_str(req, &text, &len) != 0 || text == NULL)
    return OSIP_SYNTAXERROR;
  body = strstr(text, "\r\n\r\n");
  if (body == NULL) {
    osip_free(text);
    return OSIP_SYNTAXERROR;
  }
  body += 4;
  md5_hex_raw(body, len - (size_t) (body - text), out);
  osip_free(text);
  return OSIP_SUCCESS;
}

static char *quoted(const char *s)
{
  size_t n = strlen(s), i, k = 0;
  char *q = osip_malloc(2 * n + 3);
  if (q == NULL)
    return NULL;
  q[k++] = '"';
  for (i = 0; i < n; i++) {
    if (s[i] == '"' || s[i] == '\\')
      q[k++] = '\\';
    q[k++] = s[i];
  }
  q[k++] = '"';
  q[k] = '\0';
  return q;
}

static int answer_one(struct eXosip_t *ctx, osip_message_t *req, const struct challenge *ch,
                      const struct ex_cred *cred, unsigned int nc)
{
  osip_authorization_t *a = NULL;
  osip_list_t *list = ch->proxy ? &req->proxy_authorizations : &req->authorizations;
  char ha1[33], ha2[33], hbody[33], resp[33], ncbuf[16], cnonce[17], *uri = NULL;
  /* qop=auth when offered, else auth-int (the body is hashed too), else none (RFC 2069 style) */
  const char *qop = ch->qop_auth ? "auth" : ch->qop_auth_int ? "auth-int" : NULL;
  int pos;

  if (req->req_uri == NULL || osip_uri_to_str(req->req_uri, &uri) != 0 || uri == NULL)
    return OSIP_SYNTAXERROR;
  if (qop != NULL && !ch->qop_auth && body_hash(req, hbody) != OSIP_SUCCESS) {
    osip_free(uri);
    return OSIP_SYNTAXERROR;
  }
  if (cred->ha1 != NULL) {
    snprintf(ha1, sizeof(ha1), "%s", cred->ha1);
  } else {
    const char *p[3] = {cred->userid, ch->realm, cred->passwd};
    md5_hex(p, 3, ha1);
  }
  if (qop != NULL && !ch->qop_auth) {
    const char *p[3] = {req->sip_method, uri, hbody};
    md5_hex(p, 3, ha2);
  } else {
    const char *p[2] = {req->sip_method, uri};
    md5_hex(p, 2, ha2);
  }
  snprintf(ncbuf, sizeof(ncbuf), "%08x", nc > 0 ? nc : 1);
  ex_random_token(ctx, cnonce, sizeof(cnonce));
  if (qop != NULL) {
    const char *p[6] = {ha1, ch->nonce, ncbuf, cnonce, qop, ha2};
    md5_hex(p, 6, resp);
  } else {
    const char *p[3] = {ha1, ch->nonce, ha2};
    md5_hex(p, 3, resp);
  }
  if (osip_authorization_init(&a) != 0) {
    osip_free(uri);
    return OSIP_NOMEM;
  }
  osip_authorization_set_auth_type(a, osip_strdup("Digest"));
  osip_authorization_set_username(a, quoted(cred->userid));
  osip_authorization_set_realm(a, quoted(ch->realm));
  osip_authorization_set_nonce(a, quoted(ch->nonce));
  osip_authorization_set_uri(a, quoted(uri));
  osip_authorization_set_response(a, quoted(resp));
  osip_authorization_set_algorithm(a, osip_strdup("MD5"));
  if (ch->opaque[0] != '\0')
    osip_authorization_set_opaque(a, quoted(ch->opaque));
  if (qop != NULL) {
    osip_authorization_set_message_qop(a, osip_strdup(qop));
    osip_authorization_set_nonce_count(a, osip_strdup(ncbuf));
    osip_authorization_set_cnonce(a, quoted(cnonce));
  }
  osip_free(uri);
  if (a->auth_type == NULL || a->username == NULL || a->realm == NULL || a->nonce == NULL || a->uri == NULL
      || a->response == NULL) {
    osip_authorization_free(a);
    return OSIP_NOMEM;
  }
  /* credentials of this realm replace the ones the request carried */
  while (carried(req, ch->proxy, ch->realm, &pos) != NULL) {
    osip_authorization_t *old = osip_list_get(list, pos);
    osip_list_remove(list, pos);
    osip_authorization_free(old);
  }
  osip_list_add(list, a, -1);
  osip_message_force_update(req);
  return OSIP_SUCCESS;
}

static int answer_all(struct eXosip_t *ctx, osip_message_t *request, const osip_message_t *response,
                      unsigned int nc)
{
  struct challenge ch[EX_MAX_CHALLENGES];
  int n, pos, answered = 0, rc = OSIP_SUCCESS;
  for (n = 0; n < EX_MAX_CHALLENGES && challenge_get(response, n, &ch[n]); n++)
    ;
  for (pos = 0; pos < n && rc == OSIP_SUCCESS; pos++) {
    const struct ex_cred *cred;
    int k, dup = 0;
    if (!ch[pos].digest)
      continue;
    /* several challenges of one realm (other algorithms): the first we speak is answered */
    for (k = 0; k < pos; k++)
      if (ch[k].digest && ch[k].proxy == ch[pos].proxy && strcmp(ch[k].realm, ch[pos].realm) == 0)
        dup = 1;
    if (dup)
      continue;
    cred = cred_for(ctx, ch[pos].realm);
    if (cred == NULL)
      continue;
    rc = answer_one(ctx, request, &ch[pos], cred, nc);
    if (rc == OSIP_SUCCESS)
      answered++;
  }
  for (pos = 0; pos < n; pos++)
    challenge_clear(&ch[pos]);
  if (rc != OSIP_SUCCESS)
    return rc;
  /* OSIP_NOTFOUND: no challenge we can answer with the credentials we have */
  return answered > 0 ? OSIP_SUCCESS : OSIP_NOTFOUND;
}

/* ---- pre-emptive credentials inside dialogs (as eXosip2 5.3) ----
 * The latest challenge answered for a request of each Call-ID is remembered (at most
 * EX_AUTH_CACHE_SIZE Call-IDs, the oldest forgotten first); a request later built inside a dialog
 * of that Call-ID carries credentials for it from the start, with the next nonce count, instead of
 * waiting to be challenged again. REGISTERs keep their own challenge (register.c). */
#define EX_AUTH_CACHE_SIZE 64

struct ex_auth_cached {
  char *call_id;
  osip_message_t *challenge;
  unsigned int nc;
  int preemptive_cseq; /* the CSeq of the last request given these credentials unasked (0: none) */
};

struct ex_auth_cache {
  struct ex_auth_cached e[EX_AUTH_CACHE_SIZE];
  unsigned int next; /* the slot written next (the oldest when all are used) */
};

static struct ex_auth_cached *cached_for(struct eXosip_t *ctx, const char *call_id)
{
  unsigned int i;
  if (ctx->auth_cache == NULL || call_id == NULL)
    return NULL;
  for (i = 0; i < EX_AUTH_CACHE_SIZE; i++) {
    struct ex_auth_cached *c = &ctx->auth_cache->e[i];
    if (c->call_id != NULL && strcmp(c->call_id, call_id) == 0)
      return c;
  }
  return NULL;
}

static void cached_clear(struct ex_auth_cached *c)
{
  free(c->call_id);
  if (c->challenge != NULL)
    osip_message_free(c->challenge);
  memset(c, 0, sizeof(*c));
}

static void remember(struct eXosip_t *ctx, const osip_message_t *request, const osip_message_t *response,
                     unsigned int nc)
{
  struct ex_auth_cached *c;
  osip_message_t *copy = NULL;
  const char *call_id;
  if (request->call_id == NULL || request->call_id->number == NULL || MSG_IS_REGISTER(request))
    return;
  call_id = request->call_id->number;
  if (ctx->auth_cache == NULL && (ctx->auth_cache = calloc(1, sizeof(*ctx->auth_cache))) == NULL)
    return;
  if (osip_message_clone(response, &copy) != 0)
    return;
  c = cached_for(ctx, call_id);
  if (c == NULL) {
    c = &ctx->auth_cache->e[ctx->auth_cache->next];
    ctx->auth_cache->next = (ctx->auth_cache->next + 1) % EX_AUTH_CACHE_SIZE;
    cached_clear(c);
    c->call_id = strdup(call_id);
    if (c->call_id == NULL) {
      osip_message_free(copy);
      return;
    }
  } else if (c->challenge != NULL) {
    osip_message_free(c->challenge);
  }
  c->challenge = copy;
  c->nc = nc > 0 ? nc : 1;
  c->preemptive_cseq = 0;
}

/* request carries credentials that were added unasked (ex_auth_preemptive): a challenge to them is
 * answered once, as a first challenge (the peer may not take a nonce again). */
static int sent_preemptively(struct eXosip_t *ctx, const osip_message_t *request)
{
  struct ex_auth_cached *c;
  if (request->call_id == NULL || request->cseq == NULL || request->cseq->number == NULL)
    return 0;
  c = cached_for(ctx, request->call_id->number);
  return c != NULL && c->preemptive_cseq > 0 && c->preemptive_cseq == atoi(request->cseq->number);
}

int ex_auth_answer(struct eXosip_t *ctx, osip_message_t *request, const osip_message_t *response,
                   unsigned int nc)
{
  int rc = answer_all(ctx, request, response, nc);
  if (rc == OSIP_SUCCESS)
    remember(ctx, request, response, nc);
  return rc;
}

int ex_auth_preemptive(struct eXosip_t *ctx, osip_message_t *request)
{
  struct ex_auth_cached *c;
  if (request == NULL || request->call_id == NULL || osip_list_size(&request->authorizations) > 0
      || osip_list_size(&request->proxy_authorizations) > 0)
    return OSIP_NOTFOUND;
  c = cached_for(ctx, request->call_id->number);
  if (c == NULL || c->challenge == NULL)
    return OSIP_NOTFOUND;
  if (answer_all(ctx, request, c->challenge, c->nc + 1) != OSIP_SUCCESS)
    return OSIP_NOTFOUND;
  c->nc++;
  c->preemptive_cseq = request->cseq != NULL && request->cseq->number != NULL ? atoi(request->cseq->number) : 0;
  return OSIP_SUCCESS;
}

void ex_auth_cache_free(struct eXosip_t *ctx)
{
  unsigned int i;
  if (ctx->auth_cache == NULL)
    return;
  for (i = 0; i < EX_AUTH_CACHE_SIZE; i++)
    cached_clear(&ctx->auth_cache->e[i]);
  free(ctx->auth_cache);
  ctx->auth_cache = NULL;
}
