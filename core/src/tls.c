/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS: OpenSSL sessions on tcp.c's connections. tcp.c keeps owning the socket, the buffers,
 * the framing and the connection's lifetime; this file only builds the SSL_CTXs from the
 * eXosip_tls_ctx_t of the context and moves bytes through a session without ever blocking
 * (non-blocking sockets; OpenSSL says which way it waits and tcp.c arms epoll for that).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/evperr.h>
#include <openssl/pemerr.h>
#include <openssl/proverr.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "exosip_internal.h"

/* The largest pinned public key file read (an RSA-8192 SubjectPublicKeyInfo is ~1.1 KB). */
#define MAX_PIN_BYTES 16384

/*
 * The socket BIO of our sessions. OpenSSL's own writes with write(2): a peer that has gone makes
 * that raise SIGPIPE, which kills a C program that did not ignore it. Ours sends with
 * MSG_NOSIGNAL (and never blocks), as tcp.c does for plain TCP.
 */
static int bio_write(BIO *b, const char *buf, int len)
{
  ssize_t n = send((int) (intptr_t) BIO_get_data(b), buf, (size_t) len, MSG_NOSIGNAL | MSG_DONTWAIT);
  BIO_clear_retry_flags(b);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    BIO_set_retry_write(b);
  return (int) n;
}

static int bio_read(BIO *b, char *buf, int len)
{
  ssize_t n = recv((int) (intptr_t) BIO_get_data(b), buf, (size_t) len, MSG_DONTWAIT);
  BIO_clear_retry_flags(b);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    BIO_set_retry_read(b);
  return (int) n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
  (void) b;
  (void) num;
  (void) ptr;
  return cmd == BIO_CTRL_FLUSH ? 1 : 0; /* nothing is buffered here */
}

static int bio_create(BIO *b)
{
  BIO_set_init(b, 1);
  return 1;
}

static BIO_METHOD *bio_method(struct eXosip_t *ctx)
{
  BIO_METHOD *m = ctx->tls_bio_method;
  if (m != NULL)
    return m;
  m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "exosip2 socket");
  if (m == NULL || BIO_meth_set_write(m, bio_write) != 1 || BIO_meth_set_read(m, bio_read) != 1
      || BIO_meth_set_ctrl(m, bio_ctrl) != 1 || BIO_meth_set_create(m, bio_create) != 1) {
    BIO_meth_free(m);
    return NULL;
  }
  ctx->tls_bio_method = m;
  return m;
}

static int password_cb(char *buf, int size, int rwflag, void *userdata)
{
  const char *pw = userdata;
  size_t n;
  (void) rwflag;
  if (pw == NULL || size <= 0)
    return 0;
  n = strlen(pw);
  if (n > (size_t) size)
    n = (size_t) size;
  memcpy(buf, pw, n);
  return (int) n;
}

/* Writes a one-line reason into why (whylen bytes) when the caller asked for one. */
__attribute__((format(printf, 3, 4))) static void say(char *why, size_t whylen, const char *fmt, ...)
{
  va_list ap;
  if (why == NULL || whylen == 0)
    return;
  va_start(ap, fmt);
  vsnprintf(why, whylen, fmt, ap);
  va_end(ap);
}

/* What OpenSSL's error queue says about a file it failed to read. */
enum why_failed { FAILED_OTHER, FAILED_PASSWORD, FAILED_MISMATCH, FAILED_SYSTEM, FAILED_UNSUPPORTED };

/* Empties the error queue; *kind tells a wrong or missing password (the key could not be
 * decrypted), a key that does not match the certificate, an algorithm (a cipher, a key type) this
 * OpenSSL does not provide, a system error (the returned text is the system's) from anything else
 * (OpenSSL's own words for the deepest error: the first not from libssl). */
static const char *openssl_reason(enum why_failed *kind)
{
  unsigned long e, sys = 0, first = 0, last = 0;
  *kind = FAILED_OTHER;
  while ((e = ERR_get_error()) != 0) {
    int lib = ERR_GET_LIB(e), reason = ERR_GET_REASON(e);
    last = e;
    if (first == 0 && lib != ERR_LIB_SSL)
      first = e;
    if (ERR_SYSTEM_ERROR(e) || lib == ERR_LIB_SYS)
      sys = e;
    else if ((lib == ERR_LIB_PEM && (reason == PEM_R_BAD_DECRYPT || reason == PEM_R_BAD_PASSWORD_READ
                                     || reason == PEM_R_PROBLEMS_GETTING_PASSWORD))
             || (lib == ERR_LIB_EVP && reason == EVP_R_BAD_DECRYPT)
             || (lib == ERR_LIB_PROV && reason == PROV_R_BAD_DECRYPT))
      *kind = FAILED_PASSWORD;
    else if (lib == ERR_LIB_X509 && (reason == X509_R_KEY_VALUES_MISMATCH || reason == X509_R_KEY_TYPE_MISMATCH)
             && *kind != FAILED_PASSWORD)
      *kind = FAILED_MISMATCH;
    else if (lib == ERR_LIB_EVP && *kind == FAILED_OTHER
             && (reason == ERR_R_UNSUPPORTED || reason == EVP_R_UNSUPPORTED_ALGORITHM
                 || reason == EVP_R_UNSUPPORTED_CIPHER || reason == EVP_R_UNSUPPORTED_PRIVATE_KEY_ALGORITHM
                 || reason == EVP_R_UNSUPPORTED_KEY_DERIVATION_FUNCTION || reason == EVP_R_UNKNOWN_CIPHER))
      *kind = FAILED_UNSUPPORTED;
  }
  if (first != 0)
    last = first;
  if (sys != 0 && *kind == FAILED_OTHER) {
    *kind = FAILED_SYSTEM;
    return strerror(ERR_GET_REASON(sys));
  }
  if (last != 0 && ERR_reason_error_string(last) != NULL)
    return ERR_reason_error_string(last);
  return "OpenSSL cannot use it";
}

/* The names of the first PEM blocks of a file OpenSSL refused ("CERTIFICATE, PRIVATE KEY"), to
 * say what it holds instead; an empty string when it has none (not PEM). Only run on failure. */
static void pem_blocks(const char *path, char *out, size_t outlen)
{
  BIO *bio = BIO_new_file(path, "r");
  char *name = NULL, *header = NULL;
  unsigned char *data = NULL;
  long len = 0;
  size_t used = 0;
  int n;
  out[0] = '\0';
  if (bio == NULL)
    return;
  for (n = 0; n < 4 && PEM_read_bio(bio, &name, &header, &data, &len) == 1; n++) {
    int w = snprintf(out + used, outlen - used, "%s%s", n ? ", " : "", name);
    if (w > 0 && (size_t) w < outlen - used)
      used += (size_t) w;
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    name = header = NULL;
    data = NULL;
  }
  BIO_free(bio);
  ERR_clear_error();
}

/* The reason a certificate or key file was refused, when it is a matter of content. */
static void say_content(char *why, size_t whylen, const char *what, const char *path, const char *wanted,
                        const char *openssl_words)
{
  char blocks[160];
  pem_blocks(path, blocks, sizeof(blocks));
  if (blocks[0] == '\0')
    say(why, whylen, "%s %s is not PEM (no -----BEGIN block OpenSSL can read)", what, path);
  else if (strstr(blocks, wanted) == NULL)
    say(why, whylen, "%s %s holds no %s (its PEM blocks: %s)", what, path, wanted, blocks);
  else
    say(why, whylen, "OpenSSL cannot use the %s in the %s %s: %s", wanted, what, path, openssl_words);
}

/* A file that must be a regular file: the reason when it is not. */
static int regular_file(const char *what, const char *path, char *why, size_t whylen)
{
  struct stat st;
  if (stat(path, &st) != 0) {
    say(why, whylen, "%s %s: %s", what, path, strerror(errno));
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    say(why, whylen, "%s %s is %s, not a file", what, path, S_ISDIR(st.st_mode) ? "a directory" : "not a regular file");
    return -1;
  }
  if (st.st_size == 0) {
    say(why, whylen, "%s %s is empty", what, path);
    return -1;
  }
  return 0;
}

static int load_credentials(SSL_CTX *sc, const eXosip_tls_credentials_t *cr, const char *side, char *why,
                            size_t whylen, int *rc)
{
  enum why_failed kind;
  const char *words;
  char what[32];
  int ok;
  if (cr->cert[0] == '\0')
    return 0;
  *rc = TLS_ERR_MISSING_AUTH_PART;
  snprintf(what, sizeof(what), "%scertificate", side);
  if (why != NULL && regular_file(what, cr->cert, why, whylen) != 0)
    return -1;
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(sc, cr->cert) != 1) {
    words = openssl_reason(&kind);
    if (why != NULL && kind == FAILED_SYSTEM)
      say(why, whylen, "%s %s: %s", what, cr->cert, words);
    else if (kind == FAILED_UNSUPPORTED)
      say(why, whylen, "%s %s uses an algorithm OpenSSL %s does not provide", what, cr->cert,
          OpenSSL_version(OPENSSL_VERSION_STRING));
    else if (why != NULL)
      say_content(why, whylen, what, cr->cert, "CERTIFICATE", words);
    return -1;
  }
  snprintf(what, sizeof(what), "%skey", side);
  if (why != NULL && regular_file(what, cr->priv_key, why, whylen) != 0)
    return -1;
  SSL_CTX_set_default_passwd_cb(sc, password_cb);
  SSL_CTX_set_default_passwd_cb_userdata(sc, (void *) (uintptr_t) cr->priv_key_pw);
  ok = SSL_CTX_use_PrivateKey_file(sc, cr->priv_key, SSL_FILETYPE_PEM) == 1 && SSL_CTX_check_private_key(sc) == 1;
  /* the password is only needed while the key loads: nothing keeps a pointer to it */
  SSL_CTX_set_default_passwd_cb(sc, NULL);
  SSL_CTX_set_default_passwd_cb_userdata(sc, NULL);
  if (ok)
    return 0;
  words = openssl_reason(&kind);
  if (kind == FAILED_PASSWORD) {
    *rc = TLS_ERR_NO_PW;
    say(why, whylen, "cannot read the %s %s: wrong or missing password", what, cr->priv_key);
  } else if (kind == FAILED_MISMATCH)
    say(why, whylen, "the %s %s does not match the %scertificate %s", what, cr->priv_key, side, cr->cert);
  else if (kind == FAILED_SYSTEM)
    say(why, whylen, "%s %s: %s", what, cr->priv_key, words);
  else if (kind == FAILED_UNSUPPORTED)
    say(why, whylen, "cannot read the %s %s: it uses an algorithm OpenSSL %s does not provide "
                     "(a legacy cipher or key type?)", what, cr->priv_key, OpenSSL_version(OPENSSL_VERSION_STRING));
  else if (why != NULL)
    say_content(why, whylen, what, cr->priv_key, "PRIVATE KEY", words);
  return -1;
}

/* The SSL_CTX of one direction from p, or NULL with a reason in why (when why is not NULL) and
 * the eXosip_tls_ctx_error of the failure in *rc. */
static SSL_CTX *build_ctx(const eXosip_tls_ctx_t *p, int server, char *why, size_t whylen, int *rc)
{
  SSL_CTX *sc = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  const eXosip_tls_credentials_t *cr = server ? &p->server : &p->client;
  const char *side = server ? "server " : "";
  struct stat st;
  *rc = TLS_ERR_MISSING_AUTH_PART;
  if (sc == NULL) {
    enum why_failed kind;
    say(why, whylen, "OpenSSL cannot make a context: %s", openssl_reason(&kind));
    *rc = OSIP_NOMEM;
    return NULL;
  }
  if (SSL_CTX_set_min_proto_version(sc, TLS1_2_VERSION) != 1) {
    say(why, whylen, "OpenSSL refuses TLS 1.2 as the lowest version");
    goto fail;
  }
  SSL_CTX_set_options(sc, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF
                              | (uint64_t) p->tls_flags);
  SSL_CTX_set_mode(sc, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                           | SSL_MODE_RELEASE_BUFFERS);
  if (p->cipher_list[0] != '\0' && SSL_CTX_set_cipher_list(sc, p->cipher_list) != 1) {
    say(why, whylen, "OpenSSL knows no cipher in the cipher_list \"%s\"", p->cipher_list);
    *rc = OSIP_BADPARAMETER;
    goto fail;
  }
  if (p->root_ca_cert[0] != '\0') {
    *rc = TLS_ERR_NO_ROOT_CA;
    if (stat(p->root_ca_cert, &st) != 0) {
      say(why, whylen, "root_ca %s: %s", p->root_ca_cert, strerror(errno));
      goto fail;
    }
    if (!S_ISDIR(st.st_mode) && why != NULL && regular_file("root_ca", p->root_ca_cert, why, whylen) != 0)
      goto fail;
    ERR_clear_error();
    if (S_ISDIR(st.st_mode) ? SSL_CTX_load_verify_locations(sc, NULL, p->root_ca_cert) != 1
                            : SSL_CTX_load_verify_locations(sc, p->root_ca_cert, NULL) != 1) {
      enum why_failed kind;
      const char *r = openssl_reason(&kind);
      say(why, whylen, "root_ca %s holds no PEM certificate: %s", p->root_ca_cert, r);
      goto fail;
    }
  }
  SSL_CTX_set_default_verify_paths(sc); /* the system store as well */
  if (server && cr->cert[0] == '\0') {
    cr = &p->client; /* one certificate for both directions */
    side = "";
  }
  if (load_credentials(sc, cr, side, why, whylen, rc) != 0)
    goto fail;
  if (server)
    SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_OFF);
  ERR_clear_error();
  *rc = TLS_OK;
  return sc;
fail:
  ERR_clear_error();
  SSL_CTX_free(sc);
  return NULL;
}

static int read_pin(const char *path, unsigned char **out, size_t *outlen)
{
  FILE *f = fopen(path, "rb");
  unsigned char *buf;
  size_t n;
  if (f == NULL)
    return -1;
  buf = malloc(MAX_PIN_BYTES);
  if (buf == NULL) {
    fclose(f);
    return -1;
  }
  n = fread(buf, 1, MAX_PIN_BYTES, f);
  fclose(f);
  if (n == 0 || n == MAX_PIN_BYTES) {
    free(buf);
    return -1;
  }
  *out = buf;
  *outlen = n;
  return 0;
}

static int half_set(const eXosip_tls_credentials_t *cr)
{
  return (cr->cert[0] == '\0') != (cr->priv_key[0] == '\0');
}

int ex_tls_set_params(struct eXosip_t *ctx, const eXosip_tls_ctx_t *params)
{
  SSL_CTX *server = NULL, *client = NULL;
  unsigned char *pin = NULL;
  size_t pinlen = 0;
  int rc;
  if (params == NULL) { /* back to nothing: connections made from now on have no certificate */
    eXosip_tls_ctx_t none;
    memset(&none, 0, sizeof(none));
    return ex_tls_set_params(ctx, &none);
  }
  if (half_set(&params->client) || half_set(&params->server))
    return TLS_ERR_MISSING_AUTH_PART;
  client = build_ctx(params, 0, NULL, 0, &rc);
  server = build_ctx(params, 1, NULL, 0, &rc);
  if (client == NULL || server == NULL
      || (params->client.public_key_pinned[0] != '\0' && read_pin(params->client.public_key_pinned, &pin, &pinlen) != 0)) {
    SSL_CTX_free(client);
    SSL_CTX_free(server);
    return TLS_ERR_MISSING_AUTH_PART;
  }
  /* sessions already made hold their own reference to the old SSL_CTX */
  SSL_CTX_free(ctx->tls_client_ctx);
  SSL_CTX_free(ctx->tls_server_ctx);
  free(ctx->tls_pin);
  ctx->tls_client_ctx = client;
  ctx->tls_server_ctx = server;
  ctx->tls_pin = pin;
  ctx->tls_pin_len = pinlen;
  memcpy(&ctx->tls_params, params, sizeof(ctx->tls_params));
  ctx->tls_params.client.priv_key_pw[0] = '\0'; /* not kept once the key is loaded */
  ctx->tls_params.server.priv_key_pw[0] = '\0';
  ctx->tls_has_cert = params->server.cert[0] != '\0' || params->client.cert[0] != '\0';
  return TLS_OK;
}

EXOSIP_API int eXosip_core_tls_check(const eXosip_tls_ctx_t *params, char *why, size_t whylen)
{
  SSL_CTX *sc = NULL;
  unsigned char *pin = NULL;
  const unsigned char *q;
  EVP_PKEY *key;
  size_t pinlen = 0;
  int rc = TLS_OK, side;
  say(why, whylen, "%s", "");
  if (params == NULL) {
    say(why, whylen, "no TLS parameters given");
    return OSIP_BADPARAMETER;
  }
  if (half_set(&params->client) || half_set(&params->server)) {
    const eXosip_tls_credentials_t *cr = half_set(&params->client) ? &params->client : &params->server;
    const char *name = cr == &params->client ? "" : "server ";
    if (cr->cert[0] != '\0')
      say(why, whylen, "the %scertificate %s comes without its key", name, cr->cert);
    else
      say(why, whylen, "the %skey %s comes without its certificate", name, cr->priv_key);
    return TLS_ERR_MISSING_AUTH_PART;
  }
  /* the contexts ex_tls_set_params would install, built and dropped one after the other */
  for (side = 0; side < 2; side++) {
    sc = build_ctx(params, side, why, whylen, &rc);
    if (sc == NULL)
      return rc;
    SSL_CTX_free(sc);
  }
  if (params->client.public_key_pinned[0] != '\0') {
    const char *path = params->client.public_key_pinned;
    if (regular_file("pinned_public_key", path, why, whylen) != 0)
      return TLS_ERR_MISSING_AUTH_PART;
    if (read_pin(path, &pin, &pinlen) != 0) {
      say(why, whylen, "pinned_public_key %s is unreadable or over %d bytes", path, MAX_PIN_BYTES - 1);
      return TLS_ERR_MISSING_AUTH_PART;
    }
    /* what pin_matches compares it with: the DER SubjectPublicKeyInfo of the peer's key */
    q = pin;
    key = d2i_PUBKEY(NULL, &q, (long) pinlen);
    if (key == NULL || q != pin + pinlen) {
      say(why, whylen, "pinned_public_key %s is not one DER public key "
                       "(openssl pkey -pubin -outform DER makes one)", path);
      rc = TLS_ERR_MISSING_AUTH_PART;
    }
    EVP_PKEY_free(key);
    free(pin);
    ERR_clear_error();
  }
  return rc;
}

void ex_tls_free(struct eXosip_t *ctx)
{
  BIO_meth_free(ctx->tls_bio_method); /* after every session: tcp.c freed the connections first */
  ctx->tls_bio_method = NULL;
  SSL_CTX_free(ctx->tls_client_ctx);
  SSL_CTX_free(ctx->tls_server_ctx);
  free(ctx->tls_pin);
  ctx->tls_client_ctx = ctx->tls_server_ctx = NULL;
  ctx->tls_pin = NULL;
  ctx->tls_pin_len = 0;
}

/* The contexts are built on first use when the program never set any (verification off, no
 * certificate: what eXosip2 does with no set-up). */
static int ensure_ctx(struct eXosip_t *ctx)
{
  if (ctx->tls_client_ctx != NULL && ctx->tls_server_ctx != NULL)
    return 0;
  return ex_tls_set_params(ctx, NULL) == TLS_OK ? 0 : -1;
}

int ex_tls_attach(struct eXosip_t *ctx, struct ex_conn *c, int server, const char *host)
{
  SSL *ssl;
  BIO *bio;
  if (ensure_ctx(ctx) != 0 || bio_method(ctx) == NULL)
    return -1;
  ssl = SSL_new(server ? ctx->tls_server_ctx : ctx->tls_client_ctx);
  bio = ssl != NULL ? BIO_new(ctx->tls_bio_method) : NULL;
  if (bio == NULL) {
    SSL_free(ssl);
    ERR_clear_error();
    return -1;
  }
  BIO_set_data(bio, (void *) (intptr_t) c->fd);
  SSL_set_bio(ssl, bio, bio); /* the session owns the BIO now */
  if (server) {
    SSL_set_accept_state(ssl);
    /* verification on: a client certificate is asked for, and one that is sent must verify */
    SSL_set_verify(ssl, ctx->tls_verify ? SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE : SSL_VERIFY_NONE, NULL);
  } else {
    unsigned char bin[16];
    int is_ip = host != NULL && (inet_pton(AF_INET, host, bin) == 1 || inet_pton(AF_INET6, host, bin) == 1);
    SSL_set_connect_state(ssl);
    if (host != NULL && host[0] != '\0' && !is_ip)
      SSL_set_tlsext_host_name(ssl, host); /* SNI: names only (RFC 6066 3) */
    if (ctx->tls_verify) {
      SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
      if (host == NULL || host[0] == '\0'
          || (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1
                    : SSL_set1_host(ssl, host) != 1)) {
        SSL_free(ssl);
        ERR_clear_error();
        return -1;
      }
    } else {
      SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
    }
  }
  c->ssl = ssl;
  c->handshaking = 1;
  c->want_write = 0;
  c->hs_started = ex_now_us();
  return 0;
}

static int pin_matches(struct eXosip_t *ctx, SSL *ssl)
{
  X509 *peer = SSL_get0_peer_certificate(ssl);
  unsigned char *der = NULL;
  int n, ok;
  if (peer == NULL)
    return 0;
  n = i2d_PUBKEY(X509_get0_pubkey(peer), &der);
  ok = n > 0 && (size_t) n == ctx->tls_pin_len && memcmp(der, ctx->tls_pin, (size_t) n) == 0;
  OPENSSL_free(der);
  return ok;
}

int ex_tls_handshake(struct eXosip_t *ctx, struct ex_conn *c)
{
  SSL *ssl = c->ssl;
  int r = SSL_do_handshake(ssl);
  if (r == 1) {
    c->handshaking = 0;
    c->want_write = 0;
    if (!c->inbound && ctx->tls_pin != NULL && !pin_matches(ctx, ssl))
      return -1;
    return 1;
  }
  switch (SSL_get_error(ssl, r)) {
  case SSL_ERROR_WANT_READ:
    c->want_write = 0;
    return 0;
  case SSL_ERROR_WANT_WRITE:
    c->want_write = 1;
    return 0;
  default:
    ERR_clear_error();
    return -1;
  }
}

long ex_tls_read(struct ex_conn *c, char *buf, size_t len, int *eof)
{
  SSL *ssl = c->ssl;
  size_t got = 0;
  int r;
  *eof = 0;
  r = SSL_read_ex(ssl, buf, len, &got);
  if (r == 1)
    return (long) got;
  switch (SSL_get_error(ssl, 0)) {
  case SSL_ERROR_WANT_READ:
    return 0;
  case SSL_ERROR_WANT_WRITE:
    c->want_write = 1;
    return 0;
  case SSL_ERROR_ZERO_RETURN:
    *eof = 1;
    return 0;
  default:
    ERR_clear_error();
    return -1;
  }
}

long ex_tls_write(struct ex_conn *c, const char *buf, size_t len)
{
  SSL *ssl = c->ssl;
  size_t done = 0;
  if (SSL_write_ex(ssl, buf, len, &done) == 1)
    return (long) done;
  switch (SSL_get_error(ssl, 0)) {
  case SSL_ERROR_WANT_WRITE:
    c->want_write = 1;
    return 0;
  case SSL_ERROR_WANT_READ:
    return 0;
  default:
    ERR_clear_error();
    return -1;
  }
}

int ex_tls_pending(struct ex_conn *c)
{
  return c->ssl != NULL && SSL_pending(c->ssl) > 0;
}

void ex_tls_shutdown(struct ex_conn *c)
{
  if (c->ssl == NULL || c->handshaking || c->fd < 0)
    return;
  SSL_shutdown(c->ssl); /* one close_notify, best effort: the socket is non-blocking */
  ERR_clear_error();
}

void ex_tls_detach(struct ex_conn *c)
{
  if (c->ssl == NULL)
    return;
  SSL_free(c->ssl);
  ERR_clear_error();
  c->ssl = NULL;
}

EXOSIP_API eXosip_tls_ctx_error eXosip_set_tls_ctx(struct eXosip_t *excontext, eXosip_tls_ctx_t *params)
{
  eXosip_tls_ctx_error rc;
  if (excontext == NULL || !excontext->initialized || params == NULL)
    return TLS_ERR_MISSING_AUTH_PART;
  ex_ctx_lock(excontext);
  rc = (eXosip_tls_ctx_error) ex_tls_set_params(excontext, params);
  ex_ctx_unlock(excontext);
  return rc;
}

EXOSIP_API int eXosip_tls_verify_certificate(struct eXosip_t *excontext, int _tls_verify_client_certificate)
{
  if (excontext == NULL || !excontext->initialized)
    return OSIP_BADPARAMETER;
  ex_ctx_lock(excontext);
  excontext->tls_verify = _tls_verify_client_certificate != 0;
  ex_ctx_unlock(excontext);
  return OSIP_SUCCESS;
}
