/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Digest authentication (RFC 2617 / RFC 3261 22): the credential store of the context and the
 * answers to WWW-Authenticate (401) and Proxy-Authenticate (407) challenges, MD5 with or without
 * qop=auth. oSIP2 parses the challenge headers and keeps quoted values with their quotes.
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

/* value without its surrounding quotes (and with \-escapes resolved), into buf; "" when NULL */
static const char *unq(const char *value, char *buf, size_t size)
{
  size_t n = 0;
  const char *s = value;
  if (size == 0)
    return "";
  if (s == NULL) {
    buf[0] = '\0';
    return buf;
  }
  if (*s == '"') {
    s++;
    for (; *s != '\0' && *s != '"' && n + 1 < size; s++) {
      if (*s == '\\' && s[1] != '\0')
        s++;
      buf[n++] = *s;
    }
  } else {
    for (; *s != '\0' && n + 1 < size; s++)
      buf[n++] = *s;
  }
  buf[n] = '\0';
  return buf;
}

/* Challenges looked at in one response: a peer sending thousands must not cost more than this. */
#define EX_MAX_CHALLENGES 16

/* One challenge, whichever header carried it. */
struct challenge {
  int proxy; /* 407 Proxy-Authenticate */
  char realm[256], nonce[256], opaque[256], algorithm[32];
  int qop_auth, stale, digest;
};

static void challenge_read(const osip_www_authenticate_t *h, int proxy, struct challenge *ch)
{
  char qop[256], stale[16], type[32];
  memset(ch, 0, sizeof(*ch));
  ch->proxy = proxy;
  unq(h->realm, ch->realm, sizeof(ch->realm));
  unq(h->nonce, ch->nonce, sizeof(ch->nonce));
  unq(h->opaque, ch->opaque, sizeof(ch->opaque));
  unq(h->algorithm, ch->algorithm, sizeof(ch->algorithm));
  unq(h->auth_type, type, sizeof(type));
  unq(h->stale, stale, sizeof(stale));
  unq(h->qop_options, qop, sizeof(qop));
  ch->digest = osip_strcasecmp(type, "Digest") == 0 && ch->nonce[0] != '\0'
               && (ch->algorithm[0] == '\0' || osip_strcasecmp(ch->algorithm, "MD5") == 0);
  ch->stale = osip_strcasecmp(stale, "true") == 0;
  {
    /* qop is a comma-separated list of tokens: we speak "auth" */
    char *tok, *save = NULL;
    for (tok = strtok_r(qop, ", \t", &save); tok != NULL; tok = strtok_r(NULL, ", \t", &save))
      if (osip_strcasecmp(tok, "auth") == 0)
        ch->qop_auth = 1;
  }
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

/* The credentials header the request already carries for a realm (NULL if none). */
static osip_authorization_t *carried(const osip_message_t *req, int proxy, const char *realm, int *pos_out)
{
  const osip_list_t *list = proxy ? &req->proxy_authorizations : &req->authorizations;
  int pos;
  char buf[256];
  for (pos = 0; pos < osip_list_size(list); pos++) {
    osip_authorization_t *a = osip_list_get(list, pos);
    if (a != NULL && strcmp(unq(a->realm, buf, sizeof(buf)), realm) == 0) {
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
  int pos;
  for (pos = 0; challenge_get(response, pos, &ch); pos++)
    if (ch.stale)
      return 1;
  return 0;
}

int ex_auth_can_answer(struct eXosip_t *ctx, const osip_message_t *request, const osip_message_t *response,
                       int previous_was_preemptive)
{
  struct challenge ch;
  int pos, answerable = 0;
  if (response == NULL || (response->status_code != 401 && response->status_code != 407))
    return 0;
  for (pos = 0; challenge_get(response, pos, &ch); pos++) {
    osip_authorization_t *prev;
    if (!ch.digest)
      continue;
    prev = carried(request, ch.proxy, ch.realm, NULL);
    if (prev != NULL) {
      char nonce[256];
      unq(prev->nonce, nonce, sizeof(nonce));
      /* the same nonce again is a refusal, stale or not; a fresh not-stale challenge for
       * credentials just computed is a refusal too: never loop on a wrong password */
      if (strcmp(nonce, ch.nonce) == 0 || (!ch.stale && !previous_was_preemptive))
        return 0;
    }
    if (cred_for(ctx, ch.realm) != NULL)
      answerable = 1;
  }
  return answerable;
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
  char ha1[33], ha2[33], resp[33], ncbuf[16], cnonce[17], *uri = NULL;
  int pos;

  if (req->req_uri == NULL || osip_uri_to_str(req->req_uri, &uri) != 0 || uri == NULL)
    return OSIP_SYNTAXERROR;
  if (cred->ha1 != NULL) {
    snprintf(ha1, sizeof(ha1), "%s", cred->ha1);
  } else {
    const char *p[3] = {cred->userid, ch->realm, cred->passwd};
    md5_hex(p, 3, ha1);
  }
  {
    const char *p[2] = {req->sip_method, uri};
    md5_hex(p, 2, ha2);
  }
  snprintf(ncbuf, sizeof(ncbuf), "%08x", nc > 0 ? nc : 1);
  ex_random_token(ctx, cnonce, sizeof(cnonce));
  if (ch->qop_auth) {
    const char *p[6] = {ha1, ch->nonce, ncbuf, cnonce, "auth", ha2};
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
  if (ch->qop_auth) {
    osip_authorization_set_message_qop(a, osip_strdup("auth"));
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

int ex_auth_answer(struct eXosip_t *ctx, osip_message_t *request, const osip_message_t *response,
                   unsigned int nc)
{
  struct challenge ch;
  int pos, answered = 0, rc;
  for (pos = 0; challenge_get(response, pos, &ch); pos++) {
    const struct ex_cred *cred;
    struct challenge earlier;
    int k, dup = 0;
    if (!ch.digest)
      continue;
    /* several challenges of one realm (other algorithms): the first we speak is answered */
    for (k = 0; k < pos && challenge_get(response, k, &earlier); k++)
      if (earlier.digest && earlier.proxy == ch.proxy && strcmp(earlier.realm, ch.realm) == 0)
        dup = 1;
    if (dup)
      continue;
    cred = cred_for(ctx, ch.realm);
    if (cred == NULL)
      continue;
    rc = answer_one(ctx, request, &ch, cred, nc);
    if (rc != OSIP_SUCCESS)
      return rc;
    answered++;
  }
  return answered > 0 ? OSIP_SUCCESS : OSIP_NOTFOUND;
}
