# SPDX-License-Identifier: Apache-2.0
# osipparser2/sdp_message.h: SDP bodies.

cdef extern from "osipparser2/sdp_message.h" nogil:
    ctypedef struct sdp_message_t

    int sdp_message_init(sdp_message_t **sdp)
    void sdp_message_free(sdp_message_t *sdp)
    int sdp_message_parse(sdp_message_t *sdp, const char *buf)
    int sdp_message_to_str(sdp_message_t *sdp, char **dest)
    int sdp_message_clone(sdp_message_t *sdp, sdp_message_t **dest)
