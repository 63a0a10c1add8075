/* SPDX-License-Identifier: Apache-2.0 */
/* SDP helpers: the offer/answer bodies of a call, and lookups in a parsed SDP. */
#include <stdlib.h>
#include <string.h>

#include "exosip_internal.h"

/*
 * oSIP2 5.3's sdp_message_parse reads past the end of its input when the last line is an m= line
 * ended by a lone LF or CR (it steps over two bytes of line break where there is one). Every body
 * therefore reaches it with each line break written as CRLF and a CRLF at its end.
 */
int ex_sdp_parse(sdp_message_t *sdp, const char *text)
{
  size_t n = 0, i, j;
  char *copy;
  int rc;
  if (sdp == NULL || text == NULL)
    return OSIP_BADPARAMETER;
  for (i = 0; text[i] != '\0'; i++)
    n += (text[i] == '\r' || text[i] == '\n') ? 2 : 1;
  copy = malloc(n + 3);
  if (copy == NULL)
    return OSIP_NOMEM;
  for (i = 0, j = 0; text[i] != '\0'; i++) {
    if (text[i] == '\r' || text[i] == '\n') {
      if (text[i] == '\r' && text[i + 1] == '\n')
        i++;
      copy[j++] = '\r';
      copy[j++] = '\n';
    } else {
      copy[j++] = text[i];
    }
  }
  if (j < 2 || copy[j - 1] != '\n') {
    copy[j++] = '\r';
    copy[j++] = '\n';
  }
  copy[j] = '\0';
  rc = sdp_message_parse(sdp, copy);
  free(copy);
  return rc;
}

static sdp_message_t *parse_sdp(const char *text)
{
  sdp_message_t *sdp = NULL;
  if (text == NULL)
    return NULL;
  if (sdp_message_init(&sdp) != 0)
    return NULL;
  if (ex_sdp_parse(sdp, text) != 0) {
    sdp_message_free(sdp);
    return NULL;
  }
  return sdp;
}

static sdp_message_t *dialog_sdp(struct eXosip_t *ctx, int did, int remote)
{
  struct ex_dialog *dlg;
  sdp_message_t *sdp = NULL;
  if (ctx == NULL || !ctx->initialized)
    return NULL;
  ex_ctx_lock(ctx);
  dlg = ex_dialog_by_did(ctx, did);
  if (dlg != NULL)
    sdp = parse_sdp(remote ? dlg->remote_sdp : dlg->local_sdp);
  ex_ctx_unlock(ctx);
  return sdp;
}

EXOSIP_API sdp_message_t *eXosip_get_remote_sdp(struct eXosip_t *excontext, int did)
{
  return dialog_sdp(excontext, did, 1);
}

EXOSIP_API sdp_message_t *eXosip_get_local_sdp(struct eXosip_t *excontext, int did)
{
  return dialog_sdp(excontext, did, 0);
}

EXOSIP_API sdp_message_t *eXosip_get_sdp_info(osip_message_t *message)
{
  osip_content_type_t *ct;
  int pos;
  if (message == NULL)
    return NULL;
  ct = osip_message_get_content_type(message);
  if (ct != NULL && ct->type != NULL && ct->subtype != NULL
      && !(osip_strcasecmp(ct->type, "application") == 0 && osip_strcasecmp(ct->subtype, "sdp") == 0)
      && osip_strcasecmp(ct->type, "multipart") != 0)
    return NULL;
  for (pos = 0; pos < osip_list_size(&message->bodies); pos++) {
    osip_body_t *body = osip_list_get(&message->bodies, pos);
    sdp_message_t *sdp;
    if (body == NULL || body->body == NULL)
      continue;
    if (body->content_type != NULL && body->content_type->subtype != NULL
        && osip_strcasecmp(body->content_type->subtype, "sdp") != 0)
      continue;
    sdp = parse_sdp(body->body);
    if (sdp != NULL)
      return sdp;
  }
  return NULL;
}

EXOSIP_API sdp_media_t *eXosip_get_media(sdp_message_t *sdp, const char *media)
{
  int pos;
  if (sdp == NULL || media == NULL)
    return NULL;
  for (pos = 0; pos < osip_list_size(&sdp->m_medias); pos++) {
    sdp_media_t *m = osip_list_get(&sdp->m_medias, pos);
    if (m != NULL && m->m_media != NULL && osip_strcasecmp(m->m_media, media) == 0)
      return m;
  }
  return NULL;
}

EXOSIP_API sdp_media_t *eXosip_get_audio_media(sdp_message_t *sdp)
{
  return eXosip_get_media(sdp, "audio");
}

EXOSIP_API sdp_media_t *eXosip_get_video_media(sdp_message_t *sdp)
{
  return eXosip_get_media(sdp, "video");
}

EXOSIP_API sdp_connection_t *eXosip_get_connection(sdp_message_t *sdp, const char *media)
{
  sdp_media_t *m = eXosip_get_media(sdp, media);
  sdp_connection_t *c;
  if (m == NULL)
    return NULL;
  c = osip_list_get(&m->c_connections, 0);
  if (c != NULL)
    return c;
  return sdp->c_connection;
}

EXOSIP_API sdp_message_t *eXosip_get_previous_local_sdp(struct eXosip_t *excontext, int did)
{
  struct ex_dialog *dlg;
  sdp_message_t *sdp = NULL;
  if (excontext == NULL || !excontext->initialized)
    return NULL;
  ex_ctx_lock(excontext);
  dlg = ex_dialog_by_did(excontext, did);
  if (dlg != NULL)
    sdp = parse_sdp(dlg->prev_local_sdp);
  ex_ctx_unlock(excontext);
  return sdp;
}

/* The body of the request or answer of transaction tid: ours (local) or the peer's. A transaction
 * that has ended is looked up through the dialog whose INVITE it was. */
static sdp_message_t *tid_sdp(struct eXosip_t *ctx, int tid, int remote)
{
  struct ex_tx *w;
  sdp_message_t *sdp = NULL;
  if (ctx == NULL || !ctx->initialized || tid <= 0)
    return NULL;
  ex_ctx_lock(ctx);
  w = ex_tx_by_tid(ctx, tid);
  if (w != NULL) {
    /* a client transaction: our request, their answer; a server transaction: the reverse */
    int ours_is_request = w->kind == ICT || w->kind == NICT;
    osip_message_t *m = (remote != ours_is_request) ? w->tr->orig_request : w->tr->last_response;
    if (m != NULL)
      sdp = eXosip_get_sdp_info(m);
  }
  if (sdp == NULL) {
    struct ex_dialog *dlg = ex_hmap_get_int(&ctx->dialogs_by_invtid, tid);
    if (dlg == NULL)
      dlg = ex_hmap_get_int(&ctx->dialogs_by_srvtid, tid);
    if (dlg == NULL && w != NULL)
      dlg = ex_dialog_by_did(ctx, w->did);
    if (dlg != NULL && dlg->inv_tid == tid)
      sdp = parse_sdp(remote ? dlg->remote_sdp : dlg->local_sdp);
  }
  ex_ctx_unlock(ctx);
  return sdp;
}

EXOSIP_API sdp_message_t *eXosip_get_remote_sdp_from_tid(struct eXosip_t *excontext, int tid)
{
  return tid_sdp(excontext, tid, 1);
}

EXOSIP_API sdp_message_t *eXosip_get_local_sdp_from_tid(struct eXosip_t *excontext, int tid)
{
  return tid_sdp(excontext, tid, 0);
}

EXOSIP_API sdp_connection_t *eXosip_get_audio_connection(sdp_message_t *sdp)
{
  return eXosip_get_connection(sdp, "audio");
}

EXOSIP_API sdp_connection_t *eXosip_get_video_connection(sdp_message_t *sdp)
{
  return eXosip_get_connection(sdp, "video");
}
