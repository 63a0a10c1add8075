/* SPDX-License-Identifier: Apache-2.0 */
/* eXosip2 5.3 compatible API: context set-up, configuration, transports and version. */
#ifndef EXOSIP2_EX_SETUP_H
#define EXOSIP2_EX_SETUP_H

#include <stddef.h>
#include <osipparser2/osip_message.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An eXosip context: opaque; every API call takes one. */
struct eXosip_t;

/* Create a context (not yet started); NULL when out of memory. */
struct eXosip_t *eXosip_malloc(void);

/* Prepare a context: oSIP2 state, event queue and the I/O thread. 0 or a negative OSIP_* code. */
int eXosip_init(struct eXosip_t *excontext);

/* Stop the I/O thread, close every socket and free the context and all it owns. */
void eXosip_quit(struct eXosip_t *excontext);

/* The context lock: hold it around build/send calls, as eXosip2 programs do. */
int eXosip_lock(struct eXosip_t *excontext);
int eXosip_unlock(struct eXosip_t *excontext);

/* Option identifiers for eXosip_set_option (values as in eXosip2 5.3). */
#define EXOSIP_OPT_BASE_OPTION 0
/* int *: milliseconds between keep-alives toward each registrar (0, the default: none). A
 * keep-alive is CRLFCRLF (RFC 5626 4.4.1), or an OPTIONS request with KEEP_ALIVE_OPTIONS_METHOD;
 * they go out from eXosip_automatic_action. */
#define EXOSIP_OPT_UDP_KEEP_ALIVE (EXOSIP_OPT_BASE_OPTION + 1)
/* int *: 1 takes the received/rport of the Via of a 2xx to our REGISTER as the address of our
 * Contacts (as eXosip_masquerade_contact would); 0 (default) does not. */
#define EXOSIP_OPT_AUTO_MASQUERADE_CONTACT (EXOSIP_OPT_BASE_OPTION + 2)
/* The older name of the same option. */
#define EXOSIP_OPT_UDP_LEARN_PORT EXOSIP_OPT_AUTO_MASQUERADE_CONTACT
/* int *: 1 (default) puts ";rport" in the Via of outgoing requests, 0 leaves it out. */
#define EXOSIP_OPT_USE_RPORT (EXOSIP_OPT_BASE_OPTION + 7)
/* int *: the DSCP (0..63) of the SIP sockets, set on those open and on new ones. */
#define EXOSIP_OPT_SET_DSCP (EXOSIP_OPT_BASE_OPTION + 15)
/* const char *: the User-Agent header value (NULL: no User-Agent header). */
#define EXOSIP_OPT_SET_HEADER_USER_AGENT (EXOSIP_OPT_BASE_OPTION + 17)
/* int *: 1 (default) answers an incoming BYE with 200 at once; 0 leaves the answer to the program. */
#define EXOSIP_OPT_ENABLE_AUTOANSWERBYE (EXOSIP_OPT_BASE_OPTION + 19)
/* int *: 1 prefers IPv6 when guessing addresses and resolving names. */
#define EXOSIP_OPT_ENABLE_IPV6 (EXOSIP_OPT_BASE_OPTION + 20)
/* int *: 0 (default) runs a session timer only when the peer's 2xx carries Session-Expires; 1 also
 * refreshes, as UAC, with the Session-Expires of our INVITE when the peer's 2xx has none. */
#define EXOSIP_OPT_SET_SESSIONTIMERS_FORCE (EXOSIP_OPT_BASE_OPTION + 32)
/* int *: 1 verifies the certificate of every TLS peer (chain and, for servers we connect to, host
 * name or address); 0 (default, as in eXosip2) accepts any certificate. */
#define EXOSIP_OPT_SET_TLS_VERIFY_CERTIFICATE (EXOSIP_OPT_BASE_OPTION + 500)
/* eXosip_tls_ctx_t *: certificates, keys, trusted roots and cipher list of TLS connections. */
#define EXOSIP_OPT_SET_TLS_CERTIFICATES_INFO (EXOSIP_OPT_BASE_OPTION + 501)
/* int *: 1 makes our TCP connections leave from the port we listen on (set before
 * eXosip_listen_addr: the listening socket is then opened with SO_REUSEPORT). */
#define EXOSIP_OPT_ENABLE_REUSE_TCP_PORT (EXOSIP_OPT_BASE_OPTION + 21)
/* const char *: the local address our TCP connections are bound to (NULL or "" for any). */
#define EXOSIP_OPT_SET_OC_LOCAL_ADDRESS (EXOSIP_OPT_BASE_OPTION + 25)
/* int *: 1 puts the "ob" parameter of RFC 5626 in the Contact of our dialogs (the keep-alives of
 * UDP_KEEP_ALIVE keep the flow to the registrar open); 0 (default) does not. */
#define EXOSIP_OPT_ENABLE_OUTBOUND (EXOSIP_OPT_BASE_OPTION + 24)
/* int[2] *: the range of local ports of our TCP connections ({0, 0} for any). */
#define EXOSIP_OPT_SET_OC_PORT_RANGE (EXOSIP_OPT_BASE_OPTION + 26)
/* int *: 1 (default) drops the Route of our initial INVITE from a dialog whose 2xx carries no
 * Record-Route; 0 keeps it as the dialog's route set (an outbound proxy stays on the path). */
#define EXOSIP_OPT_REMOVE_PREROUTESET (EXOSIP_OPT_BASE_OPTION + 27)
/* const char *: the +sip.instance of our Contacts (RFC 5626), e.g. "<urn:uuid:...>" without
 * quotes; NULL or "" for none. */
#define EXOSIP_OPT_SET_SIP_INSTANCE (EXOSIP_OPT_BASE_OPTION + 28)
/* int *: datagrams read per wake-up of the I/O thread (0, the default: 128). */
#define EXOSIP_OPT_SET_MAX_MESSAGE_TO_READ (EXOSIP_OPT_BASE_OPTION + 29)
/* const char *: the display name of our Contacts (NULL or "" for none). */
#define EXOSIP_OPT_SET_DEFAULT_CONTACT_DISPLAYNAME (EXOSIP_OPT_BASE_OPTION + 31)
/* const char *: URI parameters added to the Contact of our dialogs (not REGISTER), e.g.
 * "foo=bar;baz"; NULL or "" for none. */
#define EXOSIP_OPT_SET_CONTACT_DIALOG_EXTRA_PARAMS (EXOSIP_OPT_BASE_OPTION + 34)
/* int *: 1 sends a request over TCP on any open connection with the peer's address (one the peer
 * opened first) when none matches its port: a peer whose Contact names a port it does not listen
 * on is still reached; 0 (default) connects to the port named. */
#define EXOSIP_OPT_FORCE_CONNECTIONREUSE (EXOSIP_OPT_BASE_OPTION + 33)
/* int *: 1 sends the keep-alives of UDP_KEEP_ALIVE as OPTIONS requests (answers raise no event). */
#define EXOSIP_OPT_KEEP_ALIVE_OPTIONS_METHOD (EXOSIP_OPT_BASE_OPTION + 1000)
/* struct eXosip_stats *: filled with the counters of the context. */
#define EXOSIP_OPT_GET_STATISTICS (EXOSIP_OPT_BASE_OPTION + 2000)

/*
 * Counters of a context, laid out as eXosip2 5.3 lays them out.
 * allocated_*: objects alive now; average_*: new objects per hour since start.
 * reserved1[0] counts received datagrams or stream messages that were dropped as
 * malformed or oversized; reserved1[1] counts TCP connections closed for abuse or idleness.
 */
struct eXosip_stats {
  int allocated_transactions;
  float average_transactions;
  int allocated_registrations;
  float average_registrations;
  int allocated_calls;
  float average_calls;
  int allocated_publications;
  float average_publications;
  int allocated_subscriptions;
  float average_subscriptions;
  int allocated_insubscriptions;
  float average_insubscriptions;
  int reserved1[20];
};

/* Set one EXOSIP_OPT_* option; value points to the type given beside each option. */
int eXosip_set_option(struct eXosip_t *excontext, int opt, const void *value);

/*
 * A certificate with its private key (PEM files) and the password of that key (empty: none).
 * public_key_pinned: a file holding the DER public key that the server we connect to must have
 * (empty: no pinning); only the client's entry is read.
 */
typedef struct eXosip_tls_credentials_s {
  char priv_key[1024];
  char priv_key_pw[1024];
  char cert[1024];
  char public_key_pinned[1024];
} eXosip_tls_credentials_t;

/*
 * The TLS set-up of a context. root_ca_cert: a PEM file or a folder of hashed certificates,
 * trusted besides the system store; cipher_list: OpenSSL cipher list for TLS 1.2 (empty: the
 * library's default); tls_flags: extra OpenSSL SSL_OP_* options; random_file, dh_param and
 * dtls_flags are accepted and not used. client: the certificate we present when we connect
 * (mutual TLS); server: the one we present when a peer connects to us (client's when empty).
 */
typedef struct eXosip_tls_ctx_s {
  char random_file[1024];
  char dh_param[1024];
  char root_ca_cert[1024];
  char cipher_list[2048];
  unsigned long tls_flags;
  unsigned long dtls_flags;
  eXosip_tls_credentials_t client;
  eXosip_tls_credentials_t server;
} eXosip_tls_ctx_t;

/* What eXosip_set_tls_ctx reports. */
typedef enum {
  TLS_OK = 0,
  TLS_ERR_NO_RAND = -1,
  TLS_ERR_NO_DH_PARAM = -2,
  TLS_ERR_NO_PW = -3,
  TLS_ERR_NO_ROOT_CA = -4,
  TLS_ERR_MISSING_AUTH_PART = -5
} eXosip_tls_ctx_error;

/* Install a TLS set-up (as EXOSIP_OPT_SET_TLS_CERTIFICATES_INFO does). TLS_ERR_MISSING_AUTH_PART
 * when a certificate comes without its key or the other way round, or a file cannot be loaded. */
eXosip_tls_ctx_error eXosip_set_tls_ctx(struct eXosip_t *excontext, eXosip_tls_ctx_t *ctx);

/* Turn certificate verification on (1) or off (0), as EXOSIP_OPT_SET_TLS_VERIFY_CERTIFICATE does. */
int eXosip_tls_verify_certificate(struct eXosip_t *excontext, int _tls_verify_client_certificate);

/*
 * Open a listening socket. transport: IPPROTO_UDP or IPPROTO_TCP; addr: the address to bind
 * (NULL or "0.0.0.0"/"::" for all); port: 0 binds an ephemeral port, which Via and Contact then
 * advertise (to know the port in advance, take it from eXosip_find_free_port first, as eXosip2 5.3
 * programs do); family: AF_INET or AF_INET6; secure: 1 with IPPROTO_TCP listens for TLS (needs a certificate
 * set with EXOSIP_OPT_SET_TLS_CERTIFICATES_INFO first). Starts the I/O thread on first use. Returns 0 or a negative OSIP_* code.
 */
int eXosip_listen_addr(struct eXosip_t *excontext, int transport, const char *addr, int port, int family,
                       int secure);

/* The value of the User-Agent header put in every message built by the context. */
void eXosip_set_user_agent(struct eXosip_t *excontext, const char *user_agent);

/* The API version this library implements, as "MAJOR.MINOR.PATCH". */
const char *eXosip_get_version(void);

/* Observer of every SIP message sent (received = 0) or received (received = 1). */
typedef void (*CbSipCallback)(osip_message_t *msg, int received);

/* Install (or, with NULL, remove) the message observer. Called with the context lock held: for what is
 * received, by the thread that runs the I/O loop (the I/O thread, or a thread inside
 * eXosip_event_wait/eXosip_event_get); for what is sent, by the thread that sends it. */
int eXosip_set_cbsip_message(struct eXosip_t *excontext, CbSipCallback cbsipCallback);

/* Advertise public_address:port in Via and Contact instead of the local address (NULL resets). */
void eXosip_masquerade_contact(struct eXosip_t *excontext, const char *public_address, int port);

/*
 * A port on which both a UDP and a TCP socket can be bound right now: free_port itself when it is
 * free, else one chosen by the system (free_port = 0 always lets the system choose).
 * transport tells which protocol the caller means to use first. Returns the port or a negative code.
 */
int eXosip_find_free_port(struct eXosip_t *excontext, int free_port, int transport);

/* For programs that drive the stack from their own loop: do now what is due (timers that have
 * expired, then what eXosip_automatic_action does). The sockets are read by the context's I/O
 * thread, so this never blocks. 0, or OSIP_BADPARAMETER. */
int eXosip_execute(struct eXosip_t *excontext);
/* Use socket (bound by the program; UDP, or a listening TCP socket) as the context's socket of
 * transport; port is the port advertised in Via and Contact (0: the bound one). The context owns
 * the socket from then on. */
int eXosip_set_socket(struct eXosip_t *excontext, int transport, int socket, int port);
/* After a change of network: every TCP connection is closed (the next request opens a new one),
 * the DNS cache is emptied, and the advertised address is guessed again when bound to any. */
int eXosip_reset_transports(struct eXosip_t *excontext);

/* Make a pending eXosip_event_wait return at once. */
void eXosip_wakeup_event(struct eXosip_t *excontext);

/* Set the transport ("UDP", "TCP" or "TLS") named in the top Via of a message built but not yet sent. */
int eXosip_transport_set(osip_message_t *msg, const char *transport);

/* The local address that reaches the default route for family (AF_INET or AF_INET6). */
int eXosip_guess_localip(struct eXosip_t *excontext, int family, char *address, int size);

/*
 * Credentials for digest authentication (401 WWW-Authenticate, 407 Proxy-Authenticate).
 * username: the user they belong to; userid: the name sent in the credentials (NULL: username);
 * passwd: the password, or ha1: MD5(userid:realm:passwd) as 32 hex digits; realm: the realm they
 * answer (NULL or "": any realm without an entry of its own). A second entry for the same
 * username and realm replaces the first.
 */
int eXosip_add_authentication_info(struct eXosip_t *excontext, const char *username, const char *userid,
                                   const char *passwd, const char *ha1, const char *realm);

/* Remove the entries of username for realm (NULL: the realm-less entry). OSIP_NOTFOUND if none. */
int eXosip_remove_authentication_info(struct eXosip_t *excontext, const char *username, const char *realm);

/* Remove every credential of the context. */
int eXosip_clear_authentication_info(struct eXosip_t *excontext);

/*
 * Server location (RFC 3263, dns.c): a request to a host name without a port is sent to the
 * targets of its NAPTR and SRV records (priority, then weight), else of its A/AAAA records on 5060,
 * trying the next one when a target refuses (a transport error, or 503 to a non-INVITE request).
 * Lookups run off the I/O thread; answers are cached for their records' TTL.
 */
struct osip_naptr;
struct osip_srv_record;

/* struct eXosip_dns_cache *: a fixed address for a host name, used instead of DNS (an empty ip
 * asks for the address of an existing entry, copied into ip). */
#define EXOSIP_OPT_ADD_DNS_CACHE (EXOSIP_OPT_BASE_OPTION + 9)
/* struct eXosip_dns_cache *: remove the fixed address and the cached answers of host. */
#define EXOSIP_OPT_DELETE_DNS_CACHE (EXOSIP_OPT_BASE_OPTION + 10)
/* int *: 0 the A/AAAA records only, 1 SRV then A, 2 (default) NAPTR, SRV then A. */
#define EXOSIP_OPT_DNS_CAPABILITIES (EXOSIP_OPT_BASE_OPTION + 14)
/* int *: 1 (default) keeps answers for their TTL; 0 disables (and empties) the cache. */
#define EXOSIP_OPT_ENABLE_DNS_CACHE (EXOSIP_OPT_BASE_OPTION + 18)

struct eXosip_dns_cache {
  char host[1024];
  char ip[256];
};

/*
 * Start the lookup of domain's SIP servers (protocol "sip" or "sips"; transport is not used: all
 * of UDP, TCP and TLS are looked up) and return its record (oSIP2's osip_naptr_t) at once, in
 * state OSIP_NAPTR_STATE_INPROGRESS, or already complete from the cache. keep_in_cache -1: the
 * cache only (NULL when the name is not there). Free it with eXosip_dnsutils_release.
 */
struct osip_naptr *eXosip_dnsutils_naptr(struct eXosip_t *excontext, const char *domain, const char *protocol,
                                         const char *transport, int keep_in_cache);
/* Collect a finished lookup into output_record (force > 0: wait for it, bounded by the DNS
 * timeout). Then naptr_state is OSIP_NAPTR_STATE_SRVDONE with sipudp_record, siptcp_record and
 * siptls_record filled, OSIP_NAPTR_STATE_NOTSUPPORTED for a name without SIP servers, or
 * OSIP_NAPTR_STATE_RETRYLATER when no DNS server answered. */
int eXosip_dnsutils_dns_process(struct osip_naptr *output_record, int force);
/* Make the next SRV entry the current one (index, wrapping); the number of other entries, or
 * -1 when the record has none. */
int eXosip_dnsutils_rotate_srv(struct osip_srv_record *output_record);
/* Free a record of eXosip_dnsutils_naptr (a lookup still running finishes on its own). */
void eXosip_dnsutils_release(struct osip_naptr *naptr_record);

#ifdef __cplusplus
}
#endif

#endif /* EXOSIP2_EX_SETUP_H */
