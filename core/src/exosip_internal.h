/* SPDX-License-Identifier: Apache-2.0 */
/* Private declarations shared by the files of core/: never installed. */
#ifndef EXOSIP2_CORE_INTERNAL_H
#define EXOSIP2_CORE_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <eXosip2/eXosip.h>
#include <eXosip2/eX_core.h>

/* Symbols of the public API are exported; everything else stays hidden (-fvisibility=hidden). */
#define EXOSIP_API __attribute__((visibility("default")))

/* The eXosip2 API release this core follows. */
#define EXOSIP_CORE_API_VERSION "5.3.0"

/* RFC 3261 timer values, in milliseconds. */
#define EX_T1 500
#define EX_T2 4000

/* Limits on what a peer may send us. */
#define EX_MAX_DATAGRAM 65535
#define EX_MAX_HEADER_BYTES (32 * 1024)
#define EX_MAX_BODY_BYTES (64 * 1024)
#define EX_MAX_TCP_CONNS 1024
#define EX_TCP_IDLE_MS (64 * 1000)
/* Retry-After (seconds) of the 503 sent when a limit on held state is reached. */
#define EX_RETRY_AFTER_S 5

/* ---- hash map: string or integer keys, chained buckets, grows by doubling ---- */
struct ex_hnode {
  struct ex_hnode *next;
  uint64_t hash;
  long ikey;
  void *val;
  size_t klen;   /* length of skey; (size_t) -1 for an integer key */
  char skey[];   /* a string key's copy, in the node's own allocation */
};

struct ex_hmap {
  struct ex_hnode **buckets;
  size_t nbuckets;
  size_t count;
};

int ex_hmap_init(struct ex_hmap *m, size_t nbuckets);
void ex_hmap_destroy(struct ex_hmap *m);
void *ex_hmap_get_str(const struct ex_hmap *m, const char *key);
int ex_hmap_put_str(struct ex_hmap *m, const char *key, void *val);
void *ex_hmap_del_str(struct ex_hmap *m, const char *key);
void *ex_hmap_get_int(const struct ex_hmap *m, long key);
int ex_hmap_put_int(struct ex_hmap *m, long key, void *val);
void *ex_hmap_del_int(struct ex_hmap *m, long key);
/* Visit every value (the callback must not modify the map). */
void ex_hmap_foreach(struct ex_hmap *m, void (*fn)(void *val, void *arg), void *arg);

/* ---- timer heap ---- */
enum ex_timer_kind { EX_TIMER_TX, EX_TIMER_2XX, EX_TIMER_SWEEP, EX_TIMER_REL1XX };

struct ex_timer {
  uint64_t due;  /* monotonic microseconds */
  int idx;       /* position in the heap, -1 when not armed */
  int kind;      /* enum ex_timer_kind */
  void *owner;
};

struct ex_heap {
  struct ex_timer **v;
  int n, cap;
};

uint64_t ex_now_us(void);
int ex_heap_set(struct ex_heap *h, struct ex_timer *t, uint64_t due);
void ex_heap_remove(struct ex_heap *h, struct ex_timer *t);
struct ex_timer *ex_heap_top(const struct ex_heap *h);
void ex_heap_destroy(struct ex_heap *h);

/* ---- where a message goes ---- */
struct ex_dest {
  int proto; /* IPPROTO_UDP or IPPROTO_TCP */
  struct sockaddr_storage sa;
  socklen_t salen;
  long conn_id; /* an existing TCP connection to use first, or 0 */
  int secure;   /* over TCP: a new connection speaks TLS (tls.c) */
  char host[256]; /* the name it was resolved from, "" for an address: TLS host check and SNI */
};

/* A transport value of our own, only for building messages (Via "TLS", ;transport=tls, the TLS
 * port): everywhere else TLS is IPPROTO_TCP with ex_dest.secure / ex_conn.ssl set. */
#define EX_PROTO_TLS 0x1000

/* ---- TCP connection ---- */
struct ex_conn {
  long id; /* serial number (also its epoll tag), never reused */
  int fd;
  int connecting;
  struct sockaddr_storage peer;
  socklen_t peerlen;
  char *in;
  size_t inlen, incap;
  char *out;
  size_t outlen, outcap;
  uint64_t last_active;
  char addrkey[80]; /* "ip|port" of the peer, for reuse by outgoing requests */
  char srckey[INET6_ADDRSTRLEN]; /* the peer's address alone: per-source accounting */
  struct ex_conn *prev, *next;
  /* framing of the pending message at the start of `in`: the header-end search resumes at
   * `scanned`; once found, `hlen`/`blen` are kept until the body is complete */
  size_t scanned, hlen, blen;
  uint64_t msg_started; /* us when the pending message began, 0 when none is pending */
  int inbound;          /* accepted (counted per source) rather than connected by us */
  int completed;        /* messages received in full: connections that never finished one go first */
  int peer_eof;         /* the peer shut its sending side: no more reads, answers still go out */
  uint64_t eof_at;      /* us when it did */
  int awaiting;         /* requests received on it whose final answer has not been sent on it */
  int closing;          /* closed: out of every index, freed at the next safe point */
  struct ex_conn *dead_next;
  void *ssl;            /* OpenSSL SSL * of a TLS connection (tls.c), NULL over plain TCP */
  int handshaking;      /* TLS: the handshake has not finished; nothing is sent or read meanwhile */
  int want_write;       /* TLS: OpenSSL waits for the socket to take data before it reads on */
  uint64_t hs_started;  /* us when the handshake began */
};

/* ---- transaction wrapper: one per oSIP2 transaction ---- */
struct ex_tx {
  struct eXosip_t *ctx;
  osip_transaction_t *tr;
  int tid;
  osip_fsm_type_t kind;
  char *key;       /* our index key (RFC 3261 17.1.3 / 17.2.3) */
  struct ex_timer timer;
  int cid, did;    /* the call and dialog it belongs to, 0 when none */
  int last_cb;     /* last oSIP2 message callback type seen during execute, -1 none */
  int killed;      /* oSIP2 reported the transaction terminated */
  int executing;
  uint64_t created;  /* us; a non-INVITE request nobody answers is closed after 64*T1 */
  long conn_id;    /* for server transactions over TCP: the connection of the request */
  struct sockaddr_storage src;
  socklen_t srclen;
  int is_cancel_of_call; /* a request of the core itself (a CANCEL, a keep-alive OPTIONS): no events */
  int cancelled;         /* an INVITE client transaction the program cancelled: never failed over */
  /* A completed non-INVITE server transaction over UDP is retired: its oSIP2 transaction
   * (about 20 KB, most of it an embedded SRV record) is freed and only the final answer is
   * kept, to answer retransmissions until Timer J. tr is NULL then. */
  char *retired;
  size_t retired_len;
  struct ex_dest retired_dest;
  /* a request sent by RFC 3263 server location (dns.c): its targets and the one in use */
  struct ex_dns_result *dns;
  int dns_index;
  int dns_pending; /* its first send waits for the lookup of its next hop */
  /* Transactions that ended (or can retire) are only queued while the context lock is held,
   * and freed when the outermost holder unlocks: callers may keep using w and its messages. */
  struct ex_tx *reap_next;
  int reap_queued;
  /* bounds (osip_glue.c): the source a server transaction counts against, the retired lists
   * (oldest first, global and per source) that eviction takes from, the merged-request key */
  struct ex_source *source;
  struct ex_tx *rprev, *rnext, *sprev, *snext;
  int on_retired;
  char *merge_key; /* RFC 3261 8.2.2.2: Call-ID, From tag and CSeq of a request without To tag */
};

/* Server transactions held for one source address (osip_glue.c). */
struct ex_source {
  char key[64]; /* the address, without the port */
  int count;
  struct ex_tx *rhead, *rtail; /* its retired transactions, oldest first */
};

/* ---- dialogs and calls ---- */
struct ex_call;
struct ex_cred; /* regauth.h */
struct ex_reg;
struct ex_retry;
/* Re-sends whose old and new tids a context remembers (a ring; the oldest are forgotten). */
#define EX_MAX_RELINKS 1024

struct ex_dialog {
  int did;
  struct ex_call *call;
  osip_dialog_t *d;
  char *key;                 /* Call-ID|local tag|remote tag */
  struct ex_dialog *next;    /* in the call */
  /* UAS: 2xx retransmitted until the ACK */
  char *resp2xx;
  size_t resp2xx_len;
  struct ex_dest resp2xx_dest;
  struct ex_timer t2xx;
  int t2xx_interval;         /* ms */
  uint64_t t2xx_give_up;     /* us */
  int ack_pending;
  int inv_tid;               /* the INVITE transaction being answered (UAS) or answered (UAC) */
  int inv_cseq;
  /* UAC: the ACK last sent, replayed when the 2xx comes again */
  char *ack_buf;
  size_t ack_len;
  struct ex_dest ack_dest;
  int ack_cseq;
  /* bodies of the latest offer/answer, for the SDP helpers */
  char *local_sdp;
  char *remote_sdp;
  uint64_t last_traffic;     /* us: last SIP message of the dialog, for the idle timeout */
  /* RFC 3262, UAC side (prack.c): the highest RSeq seen, and the PRACK sent last (its RAck),
   * replayed when its reliable 1xx comes again */
  unsigned long rseq_seen;
  int rseq_seen_set;
  char prack_rack[96];
  char *prack_buf;
  size_t prack_len;
  struct ex_dest prack_dest;
  /* RFC 3262, UAS side (prack.c): the reliable 1xx waiting for its PRACK, retransmitted on trel */
  unsigned long rseq_next;   /* RSeq of our next reliable 1xx (random start) */
  unsigned long rel_rseq;    /* RSeq of the one outstanding, 0 when none */
  int rel_has_sdp;
  int rel_tid;               /* the INVITE transaction it answers */
  char *rel_buf;
  size_t rel_len;
  struct ex_dest rel_dest;
  struct ex_timer trel;
  int rel_interval;          /* ms */
  uint64_t rel_give_up;      /* us */
  osip_message_t *held_2xx;  /* a 2xx the program sent while a 1xx with SDP waited for its PRACK */
  int held_prack_tid;        /* the PRACK whose answer releases it, 0 until it comes */
  /* RFC 4028 (session_timer.c) */
  int st_interval;           /* seconds; 0: no session timer */
  int st_refresher;          /* 1: we refresh; 0: the peer does */
  int st_use_update;         /* the peer allows UPDATE: refresh with it rather than re-INVITE */
  uint64_t st_start;         /* us when the current interval began */
  int st_refresh_tid;        /* our refresh in flight, 0 when none */
  char *prev_local_sdp;      /* the local body before local_sdp (eXosip_get_previous_local_sdp) */
  int out_inv_tid;           /* our latest INVITE inside the dialog (invite.c: glare) */
  int in_inv_tid;            /* the peer's latest INVITE inside the dialog (invite.c: glare) */
  int forked;                /* UAC: created by a 2xx of another branch after the first (fork.c) */
};

struct ex_call {
  int cid;
  void *reference;
  int incoming;
  int inv_tid;        /* the initial INVITE transaction */
  int final_sent;     /* UAS: a final answer was sent to the initial INVITE */
  int final_received; /* UAC: a final answer arrived */
  int released;
  char *srv_key;      /* UAS: Call-ID|From tag, to recognise a late retransmitted INVITE */
  int inv_cseq;
  char *local_tag;    /* UAS: the To tag of our answers */
  struct ex_dialog *dialogs;
  char *uac_key;      /* UAC: Call-ID|From tag, to recognise a 2xx of another branch (fork.c) */
  int ndialogs;       /* dialogs created for the call (fork.c bounds the forked ones) */
  int cancel_pending; /* UAC: CANCEL asked for before any provisional answer (invite.c) */
  char *cancel_hname, *cancel_hvalue; /* the extra header the queued CANCEL carries */
};

/* ---- events ---- */
struct ex_event {
  eXosip_event_t ev; /* first: the public pointer is the address of this struct */
  struct ex_event *next;
};

/* ---- limits on what a peer can make us hold or spend (eX_core.h; table in setup_api.c) ---- */
struct ex_limits {
  int max_tcp_conns;
  int max_tcp_conns_per_source;
  int tcp_message_timeout_ms;
  int tcp_idle_timeout_ms;
  int max_headers;
  int max_params;
  int max_header_values;
  int max_transactions;
  int max_transactions_per_source;
  int max_calls;
  int call_idle_timeout_s;
  int max_queued_events;
  int max_automatic_retries;
  int max_min_expires;
  int min_session_expires;
  int invite_answer_timeout_ms; /* invite.c: an INVITE the program never answers */
  int invite_answer_timeout_status;
  int max_forked_dialogs;       /* fork.c */
  int keep_forked_dialogs;
  int min_register_expires;     /* register.c: Expires 1..this-1 raised to it */
};

/* ---- the context ---- */
struct eXosip_t {
  pthread_mutex_t lock; /* recursive: API functions take it, and so may the caller */
  osip_t *osip;
  int initialized;

  /* I/O thread */
  int epfd;
  int wake_fd;
  pthread_t thread;
  int thread_started;
  volatile int stopping;
  int lock_depth;           /* nesting of the context lock by its current owner */
  struct ex_tx *reap_head;  /* see struct ex_tx */
  uint64_t sleep_until; /* the deadline the thread sleeps towards, 0 when awake */

  /* transports */
  int udp_fd, udp_family;
  int tcp_fd, tcp_family;
  char local_ip[64];   /* the address written in Via and Contact */
  int udp_port, tcp_port;
  int default_proto;   /* transport of the first listen: used for requests we build */
  char masq_ip[64];
  int masq_port;
  struct ex_hmap conns_by_id;
  long next_conn_id;
  void *udp_rx; /* receive buffers of the UDP socket */
  struct ex_hmap conns_by_addr;
  struct ex_conn *conns; /* list, most recently active first */
  int nconns;
  int max_conns;   /* ceiling from the descriptor limit; the bound is min(it, limits.max_tcp_conns) */
  struct ex_hmap conns_by_source; /* peer address -> inbound connections from it (intptr_t) */
  struct ex_conn *conns_dead; /* closed, waiting until no code holds them (tcp.c) */
  int tcp_depth;              /* nesting of tcp.c's receive and sweep paths */
  int tls_fd, tls_family, tls_port; /* the TLS listening socket (tls.c) */
  void *tls_server_ctx, *tls_client_ctx; /* OpenSSL SSL_CTX *, built from tls_params */
  void *tls_bio_method; /* BIO_METHOD * of our socket BIO (tls.c): sends never raise SIGPIPE */
  eXosip_tls_ctx_t tls_params;
  int tls_verify;  /* EXOSIP_OPT_SET_TLS_VERIFY_CERTIFICATE */
  int tls_has_cert; /* a certificate was given: listening for TLS is possible */
  unsigned char *tls_pin; /* client.public_key_pinned, read once (DER) */
  size_t tls_pin_len;
  int reserve_fd;  /* kept open to accept-and-close when descriptors run out */
  struct ex_timer sweep;

  /* options */
  struct ex_limits limits;
  char *user_agent;
  int keepalive, use_rport, ipv6, autoanswer_bye;
  int sessiontimers_force; /* EXOSIP_OPT_SET_SESSIONTIMERS_FORCE */
  int st_active;           /* dialogs with a session timer running (session_timer.c) */
  /* netopts.c: the network options of eXosip2 5.3 */
  int ka_options;            /* EXOSIP_OPT_KEEP_ALIVE_OPTIONS_METHOD: keep-alives are OPTIONS */
  uint64_t ka_last;          /* us of the last round of keep-alives */
  int dscp;                  /* EXOSIP_OPT_SET_DSCP, -1 when not set */
  int max_read;              /* EXOSIP_OPT_SET_MAX_MESSAGE_TO_READ, 0: the default batch */
  int keep_preroute;         /* EXOSIP_OPT_REMOVE_PREROUTESET set to 0 */
  int auto_masquerade;       /* EXOSIP_OPT_AUTO_MASQUERADE_CONTACT */
  char *contact_displayname; /* EXOSIP_OPT_SET_DEFAULT_CONTACT_DISPLAYNAME */
  char *sip_instance;        /* EXOSIP_OPT_SET_SIP_INSTANCE */
  char *contact_extra;       /* EXOSIP_OPT_SET_CONTACT_DIALOG_EXTRA_PARAMS */
  int reuse_tcp_port;        /* EXOSIP_OPT_ENABLE_REUSE_TCP_PORT */
  int force_reuse;           /* EXOSIP_OPT_FORCE_CONNECTIONREUSE */
  int outbound;              /* EXOSIP_OPT_ENABLE_OUTBOUND */
  char oc_addr[64];          /* EXOSIP_OPT_SET_OC_LOCAL_ADDRESS ("" for any) */
  int oc_port_lo, oc_port_hi; /* EXOSIP_OPT_SET_OC_PORT_RANGE (0, 0: any) */
  int oc_port_next;
  CbSipCallback cbsip;

  /* capture of sent and received messages (capture.c): capture_on is the one test the send and
   * receive paths make; the queue itself lives until eXosip_quit */
  int capture_on;
  struct ex_capture *capture;
  int listen_errno; /* errno of the last failed listen (eXosip_core_listen_errno) */

  /* events */
  pthread_mutex_t evlock;
  pthread_cond_t evcond;
  struct ex_event *evhead, *evtail;
  int evcount;
  int ev_fd;      /* eventfd: readable while events wait */
  int ev_signaled;
  int ev_fd_wanted; /* eXosip_event_geteventsocket was called: only then is ev_fd written and read */
  int ev_waiters;   /* threads asleep (or about to be) in eXosip_event_wait/get; under evlock */
  int ev_defer;     /* the I/O thread is working through what it read: signal the waiters once, at its end */
  int ev_deferred;  /* events emitted with ev_defer set that a waiter has not been told of (context lock) */
  int wakeups;
  /* who waits on the sockets (setup_api.c, "leader"): 0 nobody, EX_LEAD_IO the I/O thread,
   * EX_LEAD_PROGRAM a thread inside eXosip_event_wait/get; under evlock */
  int io_leader;
  int io_yield_asked;    /* a waiter kicked the leading I/O thread to hand the lead over */
  unsigned io_epoch;     /* bumped each time a program thread takes the lead; under evlock */
  pthread_cond_t io_cond; /* the I/O thread waits here while it does not lead */
  int io_path;           /* a round of the I/O loop is running (context lock): never block on DNS */

  /* indices */
  struct ex_hmap tx_by_key, tx_by_tid;
  struct ex_hmap calls_by_cid, calls_by_srvkey;
  struct ex_hmap dialogs_by_did, dialogs_by_key;
  /* freed dialogs kept for the next ones (dialog.c): a dialog is about 2 KB, a size malloc serves
   * from its large bins only after merging every small chunk freed since the previous one */
  struct ex_dialog *dialog_cache;
  int dialog_cache_n;
  struct ex_hmap dialogs_by_invtid; /* INVITE transaction id -> dialog, for eXosip_call_build_ack */
  struct ex_hmap calls_by_uackey;   /* Call-ID|From tag of our INVITEs -> call (fork.c) */
  struct ex_hmap dialogs_by_srvtid; /* INVITE server transaction answered 2xx -> dialog (SDP by tid) */
  struct ex_heap heap;
  int next_cid, next_did;
  /* bounds on server transactions (osip_glue.c); created on first use */
  struct ex_hmap tx_by_source;  /* address -> struct ex_source */
  struct ex_hmap tx_by_merge;   /* merge key -> struct ex_tx */
  struct ex_tx *retired_head, *retired_tail;
  unsigned long rejected_busy;  /* requests answered 503 because a limit was reached */
  size_t trim_peak;             /* transactions + calls at their peak since the last trim */
  int trim_armed;               /* a large burst is still draining: trim again at each quarter */

  /* host names resolved for this context: positive and negative answers, for a minute */
  struct ex_hmap dns_cache;
  struct ex_dns *dns; /* RFC 3263 server location (dns.c), created on first use */

  /* statistics */
  unsigned long total_tx, total_calls, dropped, conns_closed;
  uint64_t start_us;

  struct ex_random_pool *rnd; /* random bytes for tokens (setup_api.c), in a page wiped on fork */
  int rnd_check_pid;          /* the page could not be marked wipe-on-fork: compare pids instead */

  /* registrations and authentication (register.c, auth.c, retry.c) */
  struct ex_cred *creds;
  struct ex_auth_cache *auth_cache; /* auth.c: challenges of dialogs, answered pre-emptively */
  struct ex_reg *regs;
  int next_rid;
  struct ex_retry *retries;
  struct ex_retry *retried; /* requests already sent again (tid, rounds): bounds the retries */
  /* old tid -> new tid of the latest automatic re-sends (retry.c), for eXosip_core_retried_tid */
  struct ex_tid_link { int from, to; } relinks[EX_MAX_RELINKS];
  unsigned int relink_next;

  /* subscriptions and publications (subscribe.c, insubscribe.c, publish.c), created on first use */
  struct ex_subs *subs;
  struct ex_insubs *insubs;
  struct ex_pubs *pubs;
};

/* context helpers (setup_api.c) */
#define EX_LEAD_IO 1
#define EX_LEAD_PROGRAM 2
/* One round of the I/O loop (setup_api.c): wait on the sockets for at most max_ms (-1: until the
 * next timer, at most a second), read what came, run the timers due, and wake the event waiters. */
void ex_io_round(struct eXosip_t *ctx, int max_ms);
/* Wake the thread that waits on the sockets (the wake eventfd). */
void ex_io_kick(struct eXosip_t *ctx);
void ex_ctx_lock(struct eXosip_t *ctx);
void ex_ctx_unlock(struct eXosip_t *ctx);
void ex_wake_io(struct eXosip_t *ctx, uint64_t due);
/* Arm (or move) a timer and wake the I/O thread when it must wake earlier. */
int ex_arm(struct eXosip_t *ctx, struct ex_timer *t, uint64_t due);
/* size - 1 random characters of [0-9a-z] from the kernel CSPRNG, NUL-terminated (caller holds the lock). */
void ex_random_token(struct eXosip_t *ctx, char *buf, size_t size);
/* The host and port we advertise for proto (masquerade applied). */
void ex_local_contact(struct eXosip_t *ctx, int proto, const char **host, int *port);

int ex_epoll_add(struct eXosip_t *ctx, int fd, uint32_t events, uint64_t tag);
int ex_epoll_mod(struct eXosip_t *ctx, int fd, uint32_t events, uint64_t tag);
#define EX_TAG_UDP 2
#define EX_TAG_TCP_LISTEN 3
#define EX_TAG_TLS_LISTEN 4

/* dns.c: RFC 3263 server location */
#define EX_DNS_MAX_TARGETS 16
struct ex_dns_target {
  int proto, secure, port, priority, weight;
  char host[256];
  char ip[64];
};
struct ex_dns_result {
  int rc, count, ttl;
  struct ex_dns_target t[EX_DNS_MAX_TARGETS];
};
/* The destination of request w when its next hop is a host name without port: 1 (dest filled),
 * 2 (its lookup is under way: nothing to send now, ex_dns_poll sends it), 0 when RFC 3263 does
 * not apply, or a negative code (not resolved). */
int ex_dns_request_dest(struct eXosip_t *ctx, struct ex_tx *w, const osip_message_t *req, struct ex_dest *dest);
/* (I/O thread) Send the requests whose lookups ended, or fail them. */
void ex_dns_poll(struct eXosip_t *ctx);
/* Send w's request to its next target: 1 when sent, 0 when none is left. */
int ex_dns_failover(struct eXosip_t *ctx, struct ex_tx *w);
/* A 503 to w (RFC 3263 4.3): 1 when it was taken (an INVITE's is acknowledged) and the request sent
 * to the next target, or when it repeats one already taken; 0 when it is w's answer. */
int ex_dns_on_503(struct eXosip_t *ctx, struct ex_tx *w, const osip_message_t *resp);
/* resp (or an ICMP error) found w under key: 1 when key is that of a branch w had at a target
 * it has left (RFC 3263 4.3, a new branch per target), its answer then taken care of (a repeated
 * 503 acknowledged again) and not w's; 0 when it is w's current branch. */
int ex_dns_stale(struct eXosip_t *ctx, struct ex_tx *w, const char *key, const osip_message_t *resp);
/* Free w->dns, taking w's earlier keys out of ctx->tx_by_key. */
void ex_dns_tx_free(struct eXosip_t *ctx, struct ex_tx *w);
/* (osip_glue.c timers) when w's target in use counts as silent, 0 none; at that time,
 * ex_dns_silent moves w to its next target (1) or leaves it to its own timeout (0). */
uint64_t ex_dns_deadline(const struct ex_tx *w);
int ex_dns_silent(struct eXosip_t *ctx, struct ex_tx *w, uint64_t now);
/* EXOSIP_OPT_*DNS* and EXOSIP_CORE_OPT_DNS_*: OSIP_UNDEFINED_ERROR when opt is none of them. */
int ex_dns_set_option(struct eXosip_t *ctx, int opt, const void *value);
int ex_dns_get_option(struct eXosip_t *ctx, int opt);
void ex_dns_free(struct eXosip_t *ctx);

/* transport.c / udp.c / tcp.c */
void ex_dns_cache_clear(struct eXosip_t *ctx);
int ex_dest_resolve(struct eXosip_t *ctx, const char *host, int port, int proto, struct ex_dest *out);
int ex_send_raw(struct eXosip_t *ctx, const struct ex_dest *dest, const char *buf, size_t len);
/* The destination of an answer sent straight back to where a message came from. */
void ex_dest_of_source(struct ex_dest *dest, int proto, const struct sockaddr *src, socklen_t srclen,
                       long conn_id);
int ex_send_message(struct eXosip_t *ctx, osip_message_t *msg, const struct ex_dest *dest);
int ex_proto_of_message(const osip_message_t *msg);
/* EX_PROTO_TLS for a message whose top Via says TLS, else ex_proto_of_message */
int ex_contact_proto(const osip_message_t *msg);
/* sips: or ;transport=tls */
int ex_uri_wants_tls(const osip_uri_t *uri);
int ex_target_proto(const osip_message_t *m, int dflt);
/* A request we sent (buf: at least its start) could not reach its peer: end its client
 * transaction now with a transport error (see transport.c). */
void ex_transport_failed(struct eXosip_t *ctx, const char *buf, size_t len);
void ex_incoming(struct eXosip_t *ctx, const char *buf, size_t len, int proto, const struct sockaddr *src,
                 socklen_t srclen, long conn_id);
/* Bind fd; returns the bound port or a negative code. */
int ex_bind_socket(int fd, const char *addr, int port, int family);
int ex_udp_open(struct eXosip_t *ctx, const char *addr, int port, int family);
int ex_udp_read(struct eXosip_t *ctx);
/* Take over a UDP socket bound by the program (eXosip_set_socket); port: the one advertised. */
int ex_udp_adopt(struct eXosip_t *ctx, int fd, int port);
void ex_udp_read_errors(struct eXosip_t *ctx);
int ex_tcp_open(struct eXosip_t *ctx, const char *addr, int port, int family);
void ex_tcp_accept(struct eXosip_t *ctx);
void ex_tcp_event(struct eXosip_t *ctx, long conn_id, uint32_t events);
int ex_tcp_send(struct eXosip_t *ctx, const struct ex_dest *dest, const char *buf, size_t len);
void ex_tcp_sweep(struct eXosip_t *ctx);
void ex_tcp_close_all(struct eXosip_t *ctx);
int ex_tls_open(struct eXosip_t *ctx, const char *addr, int port, int family);
void ex_tls_accept(struct eXosip_t *ctx);
/* 1 when the top Via of a serialized message names TLS */
int ex_buf_via_tls(const char *buf, size_t len);

/* tls.c: OpenSSL behind tcp.c's connections */
int ex_tls_set_params(struct eXosip_t *ctx, const eXosip_tls_ctx_t *params);
void ex_tls_free(struct eXosip_t *ctx);
/* Attach a TLS session to c (server side when accepted); host: the name or address to check. */
int ex_tls_attach(struct eXosip_t *ctx, struct ex_conn *c, int server, const char *host);
/* Drive the handshake: 1 done, 0 in progress (c->want_write tells which way), -1 failed. */
int ex_tls_handshake(struct eXosip_t *ctx, struct ex_conn *c);
/* Read/write through TLS: bytes moved, 0 when it would block (peer_eof set on close_notify),
 * -1 on error. */
long ex_tls_read(struct ex_conn *c, char *buf, size_t len, int *eof);
long ex_tls_write(struct ex_conn *c, const char *buf, size_t len);
int ex_tls_pending(struct ex_conn *c);
/* Send close_notify (before the socket closes); detach frees the session (when c is freed). */
void ex_tls_shutdown(struct ex_conn *c);
void ex_tls_detach(struct ex_conn *c);
void ex_tcp_reset(struct eXosip_t *ctx);

/* capture.c: copy one message into the capture queue (call only when ctx->capture_on) */
void ex_capture_message(struct eXosip_t *ctx, int direction, int proto, const struct sockaddr *remote,
                        long conn_id, const char *buf, size_t len);
void ex_capture_free(struct eXosip_t *ctx);

/* sipcheck.c: one linear pass before oSIP2 parses a message (see the file's comment). Returns
 * EX_CHECK_OK or the first problem found; when why is not NULL it gets a sentence naming it
 * (and the limit's option). */
enum ex_check {
  EX_CHECK_OK = 0,
  EX_CHECK_NOT_SIP,    /* no SIP request or status line, or a NUL byte before the body */
  EX_CHECK_HEADERS,    /* more than limits.max_headers header lines */
  EX_CHECK_PARAMS,     /* a header line with more than limits.max_params ';' parameters */
  EX_CHECK_URI_PARAMS, /* a Request-URI with more than limits.max_params parameters */
  EX_CHECK_VALUES,     /* a header line with more than limits.max_header_values values */
  EX_CHECK_BAD_START_LINE, /* a request line wrong only in its white space; the rest within limits */
  EX_CHECK_BODY_PART  /* a multipart body part with two Content-Type lines (leaks in oSIP2 5.3) */
};
int ex_sip_precheck(const char *buf, size_t len, const struct ex_limits *lim, char *why, size_t whylen);
/* The default limits (setup_api.c). */
void ex_limits_defaults(struct ex_limits *l);

/* osip_glue.c: transactions */
int ex_osip_setup(struct eXosip_t *ctx);
int ex_tx_new(struct eXosip_t *ctx, osip_fsm_type_t kind, osip_message_t *request, struct ex_tx **out);
void ex_tx_execute(struct eXosip_t *ctx, struct ex_tx *w, osip_event_t *evt);
int ex_tx_send(struct eXosip_t *ctx, struct ex_tx *w, osip_message_t *msg);
struct ex_tx *ex_tx_by_tid(struct eXosip_t *ctx, int tid);
void ex_tx_timer_fire(struct eXosip_t *ctx, struct ex_tx *w);
void ex_tx_replay(struct eXosip_t *ctx, struct ex_tx *w);
void ex_tx_reap(struct eXosip_t *ctx);
void ex_tx_free_all(struct eXosip_t *ctx);
char *ex_server_key(const osip_message_t *req, const char *method_override);
/* the NULL-terminated *parts* joined in a fresh malloc'd string (NULL when out of memory) */
char *ex_join_parts(const char *const *parts);

/* Text built by appending, as snprintf would write it: s[0..n) goes to buf at `at`, cut to fit
 * (buf always ends with NUL when size > 0); the result is the length the whole text needs, so
 * a result >= size says it was cut. For the strings built per message, without a format parse. */
static inline size_t ex_put(char *buf, size_t size, size_t at, const char *s, size_t n)
{
  if (at < size) {
    size_t room = size - 1 - at, k = n < room ? n : room;
    memcpy(buf + at, s, k);
    buf[at + k] = '\0';
  }
  return at + n;
}

static inline size_t ex_puts(char *buf, size_t size, size_t at, const char *s)
{
  return ex_put(buf, size, at, s, strlen(s));
}

/* A decimal int, as "%d" writes it. */
static inline size_t ex_put_int(char *buf, size_t size, size_t at, int v)
{
  char d[12];
  size_t i = sizeof(d);
  unsigned int u = v < 0 ? 0u - (unsigned int) v : (unsigned int) v;
  do {
    d[--i] = (char) ('0' + u % 10);
    u /= 10;
  } while (u != 0);
  if (v < 0)
    d[--i] = '-';
  return ex_put(buf, size, at, d + i, sizeof(d) - i);
}
/* May a new server transaction for a request from src be created? 0 yes (after evicting retired
 * transactions when a limit is reached), or 503 when the limits are full of live ones. The bound
 * on queued events is checked by the caller (call.c), which knows what the request ends. */
int ex_tx_admit(struct eXosip_t *ctx, const struct sockaddr *src);
/* Count a new server transaction against its source and index it for merged-request detection. */
void ex_tx_attach(struct eXosip_t *ctx, struct ex_tx *w, const osip_message_t *req, const struct sockaddr *src);
/* The transaction still in progress that a request without To tag merges with (same Call-ID,
 * From tag and CSeq, another branch), or NULL. */
struct ex_tx *ex_tx_merged(struct eXosip_t *ctx, const osip_message_t *req);

/* strict.c: checks on the receive path and stateless answers */
/* 0: acceptable; otherwise the message was answered (400/505) or must be dropped (-1). */
int ex_strict_check(struct eXosip_t *ctx, const osip_message_t *sip, int proto, const struct sockaddr *src,
                    socklen_t srclen, long conn_id);
/* A datagram or stream message oSIP2 could not parse: 400 when it is a request with a Via and a
 * CSeq to answer along, silence for anything else. */
void ex_strict_unparsed(struct eXosip_t *ctx, const char *buf, size_t len, int proto, const struct sockaddr *src,
                        socklen_t srclen, long conn_id);
/* Answer a request without a transaction (never an ACK); Retry-After when retry_after > 0. */
void ex_reply_stateless(struct eXosip_t *ctx, const osip_message_t *req, int status, int retry_after,
                        int proto, const struct sockaddr *src, socklen_t srclen, long conn_id);
char *ex_client_key(const osip_message_t *msg);

/* event.c */
int ex_event_emit(struct eXosip_t *ctx, eXosip_event_type_t type, struct ex_call *call, struct ex_dialog *dlg,
                  int tid, const osip_message_t *request, const osip_message_t *response,
                  const osip_message_t *ack);
int ex_event_emit_ack(struct eXosip_t *ctx, struct ex_call *call, struct ex_dialog *dlg, int tid,
                      osip_message_t *ack);
int ex_event_emit_rid(struct eXosip_t *ctx, eXosip_event_type_t type, struct ex_call *call,
                      struct ex_dialog *dlg, int rid, int tid, const osip_message_t *request,
                      const osip_message_t *response, const osip_message_t *ack);
void ex_event_queue_destroy(struct eXosip_t *ctx);
void ex_event_flush(struct eXosip_t *ctx, int n);

/* msgbuild.c */
int ex_build_request_out(struct eXosip_t *ctx, const char *method, const char *to, const char *from,
                         const char *route, osip_message_t **out);
int ex_build_request_in_dialog(struct eXosip_t *ctx, struct ex_dialog *dlg, const char *method,
                               osip_message_t **out);
int ex_build_response(struct eXosip_t *ctx, const osip_message_t *req, int status, const char *to_tag,
                      int with_contact, osip_message_t **out);
int ex_add_via(struct eXosip_t *ctx, osip_message_t *msg, int proto);
int ex_set_contact(struct eXosip_t *ctx, osip_message_t *msg, const char *user, int proto);
void ex_set_user_agent_header(struct eXosip_t *ctx, osip_message_t *msg);
const char *ex_to_tag(const osip_message_t *msg);
/* The whole Call-ID value (oSIP2 splits it at '@'), written into buf. */
const char *ex_callid(const osip_message_t *msg, char *buf, size_t size);
const char *ex_from_tag(const osip_message_t *msg);
char *ex_body_string(const osip_message_t *msg);

/* sdp_api.c: oSIP2's SDP parser, given only CRLF line breaks (see there why) */
int ex_sdp_parse(sdp_message_t *sdp, const char *text);

/* dialog.c and call.c */
int ex_dialog_new(struct eXosip_t *ctx, struct ex_call *call, osip_dialog_t *d, struct ex_dialog **out);
struct ex_dialog *ex_dialog_by_did(struct eXosip_t *ctx, int did);
struct ex_dialog *ex_dialog_lookup(struct eXosip_t *ctx, const char *callid, const char *local_tag,
                                   const char *remote_tag);
void ex_dialog_free(struct eXosip_t *ctx, struct ex_dialog *dlg);
void ex_dialog_cache_free(struct eXosip_t *ctx);
/* Where an answer to server transaction ist goes (its Via over UDP, its connection over TCP). */
void ex_dest_of_answer(struct eXosip_t *ctx, const osip_message_t *resp, const struct ex_tx *ist,
                       struct ex_dest *dest);
void ex_dialog_start_2xx(struct eXosip_t *ctx, struct ex_dialog *dlg, const osip_message_t *resp2xx,
                         const struct ex_tx *ist);
void ex_dialog_stop_2xx(struct eXosip_t *ctx, struct ex_dialog *dlg);
void ex_dialog_2xx_fire(struct eXosip_t *ctx, struct ex_dialog *dlg);
/* A confirmed dialog: watch it for the idle timeout (limits.call_idle_timeout_s). */
void ex_dialog_idle_arm(struct eXosip_t *ctx, struct ex_dialog *dlg);
int ex_call_new(struct eXosip_t *ctx, struct ex_call **out);
struct ex_call *ex_call_by_cid(struct eXosip_t *ctx, int cid);
void ex_call_release(struct eXosip_t *ctx, struct ex_call *call, int emit);
void ex_call_ist_gone(struct eXosip_t *ctx, const struct ex_tx *w);
void ex_call_free_all(struct eXosip_t *ctx);
int ex_send_bye(struct eXosip_t *ctx, struct ex_call *call, struct ex_dialog *dlg, const char *reason);
/* The same with any one extra header (name NULL or value empty: none). */
int ex_send_bye_with(struct eXosip_t *ctx, struct ex_call *call, struct ex_dialog *dlg, const char *hname,
                     const char *hvalue);
int ex_request_dest(struct eXosip_t *ctx, const osip_message_t *req, struct ex_dest *dest);
void ex_handle_request(struct eXosip_t *ctx, osip_event_t *evt, int proto, const struct sockaddr *src,
                       socklen_t srclen, long conn_id);
void ex_handle_response(struct eXosip_t *ctx, osip_event_t *evt);
void ex_tu_after(struct eXosip_t *ctx, struct ex_tx *w, int cbtype);

/* answers shared by call_api.c, message_api.c, options_api.c */
int ex_answer_build(struct eXosip_t *ctx, int tid, int status, osip_message_t **answer);
int ex_answer_send(struct eXosip_t *ctx, int tid, int status, osip_message_t *answer);
int ex_request_send_out(struct eXosip_t *ctx, osip_message_t *msg);

/* prack.c: reliable provisional responses (RFC 3262) */
/* The comma-separated token list of header name (or its compact form alt) holds token. */
int ex_header_has_token(const osip_message_t *msg, const char *name, const char *alt, const char *token);
/* A new INVITE that requires what we cannot serve (420) or asks for a session interval below our
 * minimum (422): answered here, returns 1; 0 to go on. */
int ex_invite_precheck(struct eXosip_t *ctx, struct ex_tx *w);
/* UAC: a 1xx to our INVITE on dialog dlg; 1 when it is a retransmitted reliable 1xx (its PRACK was
 * sent again and no event is due). */
int ex_prack_uac_1xx(struct eXosip_t *ctx, struct ex_dialog *dlg, const osip_message_t *resp);
/* UAS: a 1xx the program sends (answer, to IST w): 0 not reliable, 1 made reliable (RSeq added,
 * retransmitted until its PRACK), or a negative code (answer freed). */
int ex_prack_uas_1xx(struct eXosip_t *ctx, struct ex_tx *w, struct ex_dialog *dlg, osip_message_t *answer);
/* UAS: call after ex_tx_send of a reliable 1xx (the serialized copy is kept and timed). */
void ex_prack_uas_1xx_sent(struct eXosip_t *ctx, struct ex_dialog *dlg);
/* UAS: a final answer to IST w: 1 when a 2xx is held until the PRACK comes (answer taken). */
int ex_prack_uas_final(struct eXosip_t *ctx, struct ex_tx *w, struct ex_dialog *dlg, osip_message_t *answer);
/* UAS: a PRACK in dialog dlg (server transaction w): 1 when answered here (400/481), 0 to report it. */
int ex_prack_uas_prack(struct eXosip_t *ctx, struct ex_tx *w, struct ex_dialog *dlg);
/* UAS: the program answered PRACK transaction tid finally: a held 2xx goes now. */
void ex_prack_uas_prack_answered(struct eXosip_t *ctx, int tid, struct ex_dialog *dlg);
void ex_prack_rel_fire(struct eXosip_t *ctx, struct ex_dialog *dlg);
void ex_prack_dialog_free(struct eXosip_t *ctx, struct ex_dialog *dlg);

/* session_timer.c: session timers (RFC 4028) */
/* A 2xx to our INVITE/UPDATE (client transaction w) on dialog dlg. */
void ex_st_2xx_received(struct eXosip_t *ctx, struct ex_tx *w, struct ex_dialog *dlg,
                        const osip_message_t *req, const osip_message_t *resp);
/* A refresh of ours that failed (non-2xx final or timeout). */
void ex_st_refresh_failed(struct eXosip_t *ctx, struct ex_tx *w, struct ex_dialog *dlg);
/* A 2xx we send to an INVITE/UPDATE (req) of dialog dlg: Session-Expires completed, timer started. */
void ex_st_2xx_sent(struct eXosip_t *ctx, struct ex_dialog *dlg, const osip_message_t *req, osip_message_t *answer);
/* eXosip_automatic_action: refreshes due, and sessions whose refresh never came. */
void ex_st_automatic(struct eXosip_t *ctx);
void ex_st_dialog_free(struct eXosip_t *ctx, struct ex_dialog *dlg);
/* insubscribe.c: the SUBSCRIBE of w was never answered and is closed by the core */
void ex_insub_unanswered(struct eXosip_t *ctx, struct ex_tx *w);

/* fork.c: 2xx of a forked INVITE, and calls with several dialogs */
/* Set up the index of an outgoing call (after its INVITE is built); removed by ex_call_release. */
int ex_fork_index_call(struct eXosip_t *ctx, struct ex_call *call, const osip_message_t *invite);
void ex_fork_unindex_call(struct eXosip_t *ctx, struct ex_call *call);
/* A 2xx to INVITE that matched no transaction: 1 when it was handled (a new branch: ACKed, and
 * ended with BYE unless EXOSIP_CORE_OPT_KEEP_FORKED_DIALOGS), 0 when it is for reack(). */
int ex_fork_2xx(struct eXosip_t *ctx, osip_message_t *resp);
/* Nonzero when a dialog of the call other than dlg is still confirmed: ending dlg keeps the call. */
int ex_call_other_dialog_up(const struct ex_call *call, const struct ex_dialog *dlg);
/* Send an ACK built for dlg, kept to answer retransmissions of the 2xx. Takes ack. */
int ex_dialog_send_ack(struct eXosip_t *ctx, struct ex_dialog *dlg, osip_message_t *ack);
/* Replace the local body of dlg (sdp taken), keeping the former one for eXosip_get_previous_local_sdp. */
void ex_dialog_set_local_sdp(struct ex_dialog *dlg, char *sdp);

/* invite.c: CANCEL after a provisional answer, INVITEs never answered, glare */
/* CANCEL the initial INVITE of call now, or as soon as a provisional answer arrives (RFC 3261 9.1). */
int ex_invite_cancel(struct eXosip_t *ctx, struct ex_call *call, const char *hname, const char *hvalue);
/* A provisional answer to call's initial INVITE: send a CANCEL that waited for it. */
void ex_invite_got_1xx(struct eXosip_t *ctx, struct ex_call *call);
/* A 2xx to call's initial INVITE (dialog dlg): when the program had asked to end the call before,
 * it is ACKed and ended with BYE here. Nonzero when that happened. */
int ex_invite_2xx_after_cancel(struct eXosip_t *ctx, struct ex_call *call, struct ex_dialog *dlg);
/* An INVITE server transaction not answered finally: its deadline (us), or 0 for none. */
uint64_t ex_invite_answer_deadline(struct eXosip_t *ctx, const struct ex_tx *w);
/* That deadline passed: answer it (408 or the configured code) and end its call if initial. */
void ex_invite_answer_timeout(struct eXosip_t *ctx, struct ex_tx *w);
/* A re-INVITE arrived in dlg: 0 to go on, or the status to refuse it with (491, or 500 with
 * Retry-After when the peer's previous INVITE is still unanswered). */
int ex_invite_glare_status(struct eXosip_t *ctx, struct ex_dialog *dlg, struct ex_tx *w);
/* The RFC 3261 14.1 delay before a re-INVITE refused with 491 is sent again (us). */
uint64_t ex_invite_glare_delay_us(struct eXosip_t *ctx, int call_id_owner);

/* netopts.c: the network options of eXosip2 5.3 */
/* OSIP_SUCCESS / OSIP_BADPARAMETER when opt is one of them, 1 when it is not. */
int ex_netopt_set(struct eXosip_t *ctx, int opt, const void *value);
void ex_netopt_free(struct eXosip_t *ctx);
/* Apply the DSCP of EXOSIP_OPT_SET_DSCP to a new socket. */
void ex_netopt_socket(struct eXosip_t *ctx, int fd, int family);
/* eXosip_automatic_action: keep-alives toward each registrar every ctx->keepalive ms. */
void ex_keepalive_run(struct eXosip_t *ctx);
/* A response to one of our requests: learn our public address from its Via (auto masquerade). */
void ex_netopt_learn(struct eXosip_t *ctx, const osip_message_t *resp);
/* The Contact decorations: display name and +sip.instance. */
const char *ex_contact_displayname(struct eXosip_t *ctx);
/* Bind a new outgoing TCP socket as the OC_* and REUSE_TCP_PORT options ask (0, or -1 on failure). */
int ex_netopt_bind_outgoing(struct eXosip_t *ctx, int fd, int family);
/* Before the listening TCP socket binds: SO_REUSEPORT when REUSE_TCP_PORT is on. */
void ex_netopt_listen_socket(struct eXosip_t *ctx, int fd);
/* A UAC dialog without Record-Route: keep the Route of its INVITE (REMOVE_PREROUTESET 0). */
void ex_dialog_keep_preroute(struct eXosip_t *ctx, struct ex_dialog *dlg, const osip_message_t *invite);

#endif /* EXOSIP2_CORE_INTERNAL_H */
