# SPDX-License-Identifier: Apache-2.0
# eXosip2/eXosip.h: events and automatic actions.

from exosip2.includes.eX_setup cimport eXosip_t
from exosip2.includes.osip_parser cimport osip_message_t
from exosip2.includes.sdp_message cimport sdp_message_t

cdef extern from "eXosip2/eXosip.h" nogil:
    ctypedef enum eXosip_event_type_t:
        EXOSIP_REGISTRATION_SUCCESS
        EXOSIP_CALL_INVITE
        EXOSIP_CALL_REINVITE
        EXOSIP_CALL_ANSWERED
        EXOSIP_CALL_ACK
        EXOSIP_CALL_CLOSED
        EXOSIP_CALL_RELEASED
        EXOSIP_MESSAGE_REQUESTFAILURE
        EXOSIP_EVENT_COUNT

    ctypedef struct eXosip_event_t:
        eXosip_event_type_t type
        char textinfo[256]
        void *external_reference
        osip_message_t *request
        osip_message_t *response
        osip_message_t *ack
        int tid
        int did
        int rid
        int cid
        int sid
        int nid
        int ss_status
        int ss_reason

    void eXosip_event_free(eXosip_event_t *je)
    eXosip_event_t *eXosip_event_wait(eXosip_t *excontext, int tv_s, int tv_ms)
    int eXosip_event_geteventsocket(eXosip_t *excontext)
    void eXosip_automatic_action(eXosip_t *excontext)
    int eXosip_default_action(eXosip_t *excontext, eXosip_event_t *je)
    sdp_message_t *eXosip_get_remote_sdp_from_tid(eXosip_t *excontext, int tid)
    sdp_message_t *eXosip_get_local_sdp_from_tid(eXosip_t *excontext, int tid)
    sdp_message_t *eXosip_get_previous_local_sdp(eXosip_t *excontext, int did)
