/* SPDX-License-Identifier: Apache-2.0 */
/*
 * eXosip_core_tls_check from C: each case given on the command line as FIELD=VALUE,... is checked
 * and its code and reason printed, one line a case; run under valgrind by tests/test_tls.py to show
 * that every path frees what it built. Fields: ca, cert, key, pw, scert, skey, spw, pin, ciphers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eXosip2/eXosip.h>
#include <eXosip2/eX_core.h>

static void put(char *dst, size_t size, const char *v)
{
  snprintf(dst, size, "%s", v);
}

static void fill(eXosip_tls_ctx_t *tc, char *spec)
{
  char *save = NULL, *item;
  memset(tc, 0, sizeof(*tc));
  for (item = strtok_r(spec, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
    char *v = strchr(item, '=');
    if (v == NULL)
      continue;
    *v++ = '\0';
    if (strcmp(item, "ca") == 0)
      put(tc->root_ca_cert, sizeof(tc->root_ca_cert), v);
    else if (strcmp(item, "cert") == 0)
      put(tc->client.cert, sizeof(tc->client.cert), v);
    else if (strcmp(item, "key") == 0)
      put(tc->client.priv_key, sizeof(tc->client.priv_key), v);
    else if (strcmp(item, "pw") == 0)
      put(tc->client.priv_key_pw, sizeof(tc->client.priv_key_pw), v);
    else if (strcmp(item, "pin") == 0)
      put(tc->client.public_key_pinned, sizeof(tc->client.public_key_pinned), v);
    else if (strcmp(item, "scert") == 0)
      put(tc->server.cert, sizeof(tc->server.cert), v);
    else if (strcmp(item, "skey") == 0)
      put(tc->server.priv_key, sizeof(tc->server.priv_key), v);
    else if (strcmp(item, "spw") == 0)
      put(tc->server.priv_key_pw, sizeof(tc->server.priv_key_pw), v);
    else if (strcmp(item, "ciphers") == 0)
      put(tc->cipher_list, sizeof(tc->cipher_list), v);
  }
}

int main(int argc, char **argv)
{
  eXosip_tls_ctx_t tc;
  char why[256];
  int i, rc;
  rc = eXosip_core_tls_check(NULL, why, sizeof(why));
  printf("null rc=%d why=%s\n", rc, why);
  memset(&tc, 0, sizeof(tc));
  rc = eXosip_core_tls_check(&tc, NULL, 0); /* no reason wanted */
  printf("empty rc=%d\n", rc);
  for (i = 1; i < argc; i++) {
    char *spec = strdup(argv[i]);
    if (spec == NULL)
      return 2;
    fill(&tc, spec);
    free(spec);
    rc = eXosip_core_tls_check(&tc, why, sizeof(why));
    printf("case %d rc=%d why=%s\n", i, rc, rc == 0 ? "" : why);
    rc = eXosip_core_tls_check(&tc, why, 8); /* a short buffer is cut, never overrun */
    if (rc != 0 && strlen(why) != 7)
      return 3;
  }
  return 0;
}
