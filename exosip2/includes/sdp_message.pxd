# SPDX-License-Identifier: Apache-2.0
# osipparser2/sdp_message.h: SDP bodies, with the osip_list.h lists they are made of.

cdef extern from "osipparser2/osip_list.h" nogil:
    # One link of an oSIP2 list (the header's private "__node_t").
    cdef struct osip_list_node "__node":
        osip_list_node *next
        void *element

    ctypedef struct osip_list_t:
        int nb_elt
        osip_list_node *node

    int osip_list_add(osip_list_t *li, void *element, int pos)
    int osip_list_remove(osip_list_t *li, int pos)


cdef extern from "osipparser2/sdp_message.h" nogil:
    ctypedef struct sdp_bandwidth_t:
        char *b_bwtype
        char *b_bandwidth

    ctypedef struct sdp_time_descr_t:
        char *t_start_time
        char *t_stop_time
        osip_list_t r_repeats

    ctypedef struct sdp_attribute_t:
        char *a_att_field
        char *a_att_value

    ctypedef struct sdp_connection_t:
        char *c_nettype
        char *c_addrtype
        char *c_addr
        char *c_addr_multicast_ttl
        char *c_addr_multicast_int

    ctypedef struct sdp_media_t:
        char *m_media
        char *m_port
        char *m_number_of_port
        char *m_proto
        osip_list_t m_payloads
        char *i_info
        osip_list_t c_connections
        osip_list_t b_bandwidths
        osip_list_t a_attributes

    ctypedef struct sdp_message_t:
        char *v_version
        char *o_username
        char *o_sess_id
        char *o_sess_version
        char *o_nettype
        char *o_addrtype
        char *o_addr
        char *s_name
        char *i_info
        char *u_uri
        osip_list_t e_emails
        osip_list_t p_phones
        sdp_connection_t *c_connection
        osip_list_t b_bandwidths
        osip_list_t t_descrs
        osip_list_t a_attributes
        osip_list_t m_medias

    int sdp_bandwidth_init(sdp_bandwidth_t **elem)
    void sdp_bandwidth_free(sdp_bandwidth_t *elem)
    int sdp_time_descr_init(sdp_time_descr_t **elem)
    void sdp_time_descr_free(sdp_time_descr_t *elem)
    int sdp_attribute_init(sdp_attribute_t **elem)
    void sdp_attribute_free(sdp_attribute_t *elem)
    int sdp_connection_init(sdp_connection_t **elem)
    void sdp_connection_free(sdp_connection_t *elem)
    int sdp_media_init(sdp_media_t **elem)
    void sdp_media_free(sdp_media_t *elem)

    int sdp_message_init(sdp_message_t **sdp)
    void sdp_message_free(sdp_message_t *sdp)
    int sdp_message_parse(sdp_message_t *sdp, const char *buf)
    int sdp_message_to_str(sdp_message_t *sdp, char **dest)
    int sdp_message_clone(sdp_message_t *sdp, sdp_message_t **dest)
