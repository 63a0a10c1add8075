/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness: oSIP2's SDP parser and core/'s SDP helpers (core/src/sdp_api.c).
 * bytes -> ex_sdp_parse (oSIP2's parser as core/ calls it) -> sdp_message_to_str -> parse again; the media/connection look-ups of
 * sdp_api.c on the result; and the same body carried in a SIP message through eXosip_get_sdp_info().
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <osipparser2/osip_parser.h>
#include <osipparser2/sdp_message.h>

#include <eXosip2/eXosip.h>

#include "exosip_internal.h" /* ex_sdp_parse: the way core/ hands a body to oSIP2 */

static void helpers(sdp_message_t *sdp)
{
  int i;
  sdp_media_t *m;
  eXosip_get_audio_media(sdp);
  eXosip_get_video_media(sdp);
  eXosip_get_media(sdp, "application");
  eXosip_get_connection(sdp, "audio");
  eXosip_get_connection(sdp, "video");
  eXosip_get_connection(sdp, NULL);
  for (i = 0; i < 64 && (m = osip_list_get(&sdp->m_medias, i)) != NULL; i++) {
    sdp_message_m_port_get(sdp, i);
    sdp_message_a_att_field_get(sdp, i, 0);
    sdp_message_m_payload_get(sdp, i, 0);
    sdp_message_c_addr_get(sdp, i, 0);
  }
}

static void round_trip(const char *buf)
{
  sdp_message_t *sdp = NULL, *again = NULL;
  char *text = NULL, *text2 = NULL;
  if (sdp_message_init(&sdp) != 0)
    return;
  if (ex_sdp_parse(sdp, buf) != 0) {
    sdp_message_free(sdp);
    return;
  }
  helpers(sdp);
  if (sdp_message_to_str(sdp, &text) == 0 && text != NULL) {
    if (sdp_message_init(&again) == 0) {
      if (sdp_message_parse(again, text) == 0) {
        helpers(again);
        if (sdp_message_to_str(again, &text2) == 0)
          osip_free(text2);
      }
      sdp_message_free(again);
    }
    osip_free(text);
  }
  {
    sdp_message_t *copy = NULL;
    if (sdp_message_clone(sdp, &copy) == 0 && copy != NULL)
      sdp_message_free(copy);
  }
  sdp_message_free(sdp);
}

/* The body in an INVITE, read back with eXosip_get_sdp_info(). */
static void in_message(const char *body, size_t len)
{
  static const char head[] = "INVITE sip:b@192.0.2.2 SIP/2.0\r\n"
                             "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKfuzz\r\n"
                             "From: <sip:a@192.0.2.1>;tag=1\r\nTo: <sip:b@192.0.2.2>\r\n"
                             "Call-ID: fuzz@192.0.2.1\r\nCSeq: 1 INVITE\r\n"
                             "Content-Type: application/sdp\r\n";
  char *buf;
  int n;
  osip_message_t *msg = NULL;
  sdp_message_t *sdp;
  buf = malloc(sizeof(head) + len + 64);
  if (buf == NULL)
    return;
  n = snprintf(buf, sizeof(head) + 64, "%sContent-Length: %zu\r\n\r\n", head, len);
  memcpy(buf + n, body, len);
  if (osip_message_init(&msg) == 0) {
    if (osip_message_parse(msg, buf, (size_t) n + len) == 0) {
      sdp = eXosip_get_sdp_info(msg);
      if (sdp != NULL) {
        helpers(sdp);
        sdp_message_free(sdp);
      }
    }
    osip_message_free(msg);
  }
  free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static int initialised;
  char *text;
  if (!initialised) {
    parser_init();
    initialised = 1;
  }
  if (size > 64 * 1024)
    return 0;
  text = malloc(size + 1);
  if (text == NULL)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  round_trip(text);
  in_message(text, size);
  free(text);
  return 0;
}
