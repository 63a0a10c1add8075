# SPDX-License-Identifier: Apache-2.0
# eXosip2/eX_setup.h: contexts, configuration, transports and version.

cdef extern from "eXosip2/eXosip.h" nogil:
    struct eXosip_t

    const char *eXosip_get_version()

    eXosip_t *eXosip_malloc()
    int eXosip_init(eXosip_t *excontext)
    void eXosip_quit(eXosip_t *excontext)
    int eXosip_lock(eXosip_t *excontext)
    int eXosip_unlock(eXosip_t *excontext)

    int EXOSIP_OPT_USE_RPORT
    int EXOSIP_OPT_ENABLE_AUTOANSWERBYE
    int eXosip_set_option(eXosip_t *excontext, int opt, const void *value)
    # Filled by EXOSIP_OPT_GET_STATISTICS.
    struct eXosip_stats:
        int allocated_transactions
        float average_transactions
        int allocated_registrations
        float average_registrations
        int allocated_calls
        float average_calls
        int allocated_publications
        float average_publications
        int allocated_subscriptions
        float average_subscriptions
        int allocated_insubscriptions
        float average_insubscriptions
        int reserved1[20]

    int EXOSIP_OPT_SET_TLS_VERIFY_CERTIFICATE
    int EXOSIP_OPT_SET_TLS_CERTIFICATES_INFO
    ctypedef struct eXosip_tls_credentials_t:
        char priv_key[1024]
        char priv_key_pw[1024]
        char cert[1024]
        char public_key_pinned[1024]
    ctypedef struct eXosip_tls_ctx_t:
        char random_file[1024]
        char dh_param[1024]
        char root_ca_cert[1024]
        char cipher_list[2048]
        unsigned long tls_flags
        unsigned long dtls_flags
        eXosip_tls_credentials_t client
        eXosip_tls_credentials_t server

    int eXosip_listen_addr(eXosip_t *excontext, int transport, const char *addr, int port, int family,
                           int secure)
    void eXosip_set_user_agent(eXosip_t *excontext, const char *user_agent)
    void eXosip_masquerade_contact(eXosip_t *excontext, const char *public_address, int port)
    int eXosip_find_free_port(eXosip_t *excontext, int free_port, int transport)
    void eXosip_wakeup_event(eXosip_t *excontext)
