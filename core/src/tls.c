/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS: OpenSSL sessions on tcp.c's connections. tcp.c keeps owning the socket, the buffers,
 * the framing and the connection's lifetime; this file only builds the SSL_CTXs from the
 * eXosip_tls_ctx_t of the context and moves bytes through a session without ever blocking
 * (non-blocking sockets; OpenSSL says which way it waits and tcp.c arms epoll for that).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>

#include <openssl/err.h>
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

static int load_credentials(SSL_CTX *sc, const eXosip_tls_credentials_t *cr)
{
  int ok;
  if (cr->cert[0] == '\0')
    return 0;
  if (SSL_CTX_use_certificate_chain_file(sc, cr->cert) != 1)
    return -1;
  SSL_CTX_set_default_passwd_cb(sc, password_cb);
  SSL_CTX_set_default_passwd_cb_userdata(sc, (void *) (uintptr_t) cr->priv_key_pw);
  ok = SSL_CTX_use_PrivateKey_file(sc, cr->priv_key, SSL_FILETYPE_PEM) == 1 && SSL_CTX_check_private_key(sc) == 1;
  /* the password is only needed while the key loads: nothing keeps a pointer to it */
  SSL_CTX_set_default_passwd_cb(sc, NULL);
  SSL_CTX_set_default_passwd_cb_userdata(sc, NULL);
  return ok ? 0 : -1;
}

static SSL_CTX *build_ctx(const eXosip_tls_ctx_t *p, int server)
{
  SSL_CTX *sc = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  const eXosip_tls_credentials_t *cr = server ? &p->server : &p->client;
  struct stat st;
  if (sc == NULL)
    return NULL;
  if (SSL_CTX_set_min_proto_version(sc, TLS1_2_VERSION) != 1)
    goto fail;
  SSL_CTX_set_options(sc, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF
                              | (uint64_t) p->tls_flags);
  SSL_CTX_set_mode(sc, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                           | SSL_MODE_RELEASE_BUFFERS);
  if (p->cipher_list[0] != '\0' && SSL_CTX_set_cipher_list(sc, p->cipher_list) != 1)
    goto fail;
  if (p->root_ca_cert[0] != '\0') {
    if (stat(p->root_ca_cert, &st) != 0)
      goto fail;
    if (S_ISDIR(st.st_mode) ? SSL_CTX_load_verify_locations(sc, NULL, p->root_ca_cert) != 1
                            : SSL_CTX_load_verify_locations(sc, p->root_ca_cert, NULL) != 1)
      goto fail;
  }
  SSL_CTX_set_default_verify_paths(sc); /* the system store as well */
  if (server && cr->cert[0] == '\0')
    cr = &p->client; /* one certificate for both directions */
  if (load_credentials(sc, cr) != 0)
    goto fail;
  if (server)
    SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_OFF);
  ERR_clear_error();
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
  if (params == NULL) { /* back to nothing: connections made from now on have no certificate */
    eXosip_tls_ctx_t none;
    memset(&none, 0, sizeof(none));
    return ex_tls_set_params(ctx, &none);
  }
  if (half_set(&params->client) || half_set(&params->server))
    return TLS_ERR_MISSING_AUTH_PART;
  client = build_ctx(params, 0);
  server = build_ctx(params, 1);
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
