/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Extensions of this core that eXosip2 5.3 does not have. Nothing here changes a 5.3
 * contract: a program written for 5.3 never includes this header, and a program that does
 * include it does not build against an installed libeXosip2.
 *
 * Limits on what a peer can make a context hold or spend. Every limit is an int option set with
 * eXosip_set_option(ctx, EXOSIP_CORE_OPT_*, &value) and read back with eXosip_core_get_limit().
 * The defaults are the safe ones for a server on the internet; the comment beside each option
 * says its default, its range and what happens when the limit is reached.
 */
#ifndef EXOSIP2_EX_CORE_H
#define EXOSIP2_EX_CORE_H

#include <eXosip2/eX_setup.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Core-only option numbers start far above eXosip2's own (which end at 2000). */
#define EXOSIP_CORE_OPT_BASE 0x10000

/* ---- transports (tcp.c, udp.c) ---- */
/* Open TCP connections in all (default 1024, lowered to fit the descriptor limit). */
#define EXOSIP_CORE_OPT_MAX_TCP_CONNECTIONS (EXOSIP_CORE_OPT_BASE + 1)
/* Open TCP connections from one source address (default 64); more are refused at accept. */
#define EXOSIP_CORE_OPT_MAX_TCP_CONNECTIONS_PER_SOURCE (EXOSIP_CORE_OPT_BASE + 2)
/* Milliseconds a TCP peer has to complete a message once it starts one (default 10000); a
 * connection that stalls mid-message (slowloris) is closed. */
#define EXOSIP_CORE_OPT_TCP_MESSAGE_TIMEOUT_MS (EXOSIP_CORE_OPT_BASE + 3)
/* Milliseconds an idle TCP connection is kept (default 64000). */
#define EXOSIP_CORE_OPT_TCP_IDLE_TIMEOUT_MS (EXOSIP_CORE_OPT_BASE + 4)

/* ---- parsing (sipcheck.c): checked in one linear pass before oSIP2 parses a message ----
 * A message over one of these limits is dropped and counted (eXosip_stats reserved1[0]): an
 * answer would have to echo its oversized headers, and over UDP that reflects the attack onto a
 * spoofed source. OsipMessage.parse in the binding refuses such text with the same check. */
/* Header lines in one message (default 256). */
#define EXOSIP_CORE_OPT_MAX_HEADERS (EXOSIP_CORE_OPT_BASE + 10)
/* Parameters (';' separated) in one header line or URI (default 64). */
#define EXOSIP_CORE_OPT_MAX_PARAMS (EXOSIP_CORE_OPT_BASE + 11)
/* Comma separated values in one header line (default 64). */
#define EXOSIP_CORE_OPT_MAX_HEADER_VALUES (EXOSIP_CORE_OPT_BASE + 12)

/* ---- state (osip_glue.c, call.c, dialog.c) ---- */
/* Transactions alive in all (default 8192, range 16..2^24). A live oSIP2 transaction costs about
 * 20 KB, so this bounds the worst case near 160 MB; an answered non-INVITE server transaction over
 * UDP is retired to its final answer (about 1 KB) until Timer J. When a new request would pass the
 * limit, the oldest retired transactions are freed first (they only absorb retransmissions of an
 * answered request: RFC 3261 17.2.2 lets them go, a late retransmission is then a new request);
 * when none is left the request gets 503 Service Unavailable with Retry-After, sent without a
 * transaction. Never an answer to an ACK; garbage stays unanswered. Our own requests are not
 * refused, but a 2xx that is never acknowledged is not followed by a BYE while a quarter of the
 * limit is in use (the call is released at once). */
#define EXOSIP_CORE_OPT_MAX_TRANSACTIONS (EXOSIP_CORE_OPT_BASE + 20)
/* Server transactions alive for one source address, retired ones included (default 1024, range
 * 1..2^24; the port is not part of the address). The same oldest-retired-first eviction, then 503
 * with Retry-After. */
#define EXOSIP_CORE_OPT_MAX_TRANSACTIONS_PER_SOURCE (EXOSIP_CORE_OPT_BASE + 21)
/* Calls alive in all (default 16384, range 1..2^24; a call with its dialog costs about 3.5 KiB).
 * A new INVITE (no To tag) beyond it gets 503 with Retry-After; requests inside existing calls
 * are not affected. */
#define EXOSIP_CORE_OPT_MAX_CALLS (EXOSIP_CORE_OPT_BASE + 22)
/* Seconds a confirmed call may stay without any SIP message in either direction before it is
 * ended with BYE (default 7200, range 0..604800; 0 disables). The program sees
 * EXOSIP_CALL_CLOSED when the BYE is sent and EXOSIP_CALL_RELEASED when it is answered or times
 * out. A session timer (RFC 4028) ends a call whose refresh never comes much sooner. */
#define EXOSIP_CORE_OPT_CALL_IDLE_TIMEOUT (EXOSIP_CORE_OPT_BASE + 23)
/* Events waiting for the program (eXosip_event_wait) beyond which new requests get 503 with
 * Retry-After (default 2048, range 16..2^24): a program that falls behind sheds load instead of
 * letting queued events, each with copies of its messages, grow without bound. */
#define EXOSIP_CORE_OPT_MAX_QUEUED_EVENTS (EXOSIP_CORE_OPT_BASE + 24)

/* ---- automatic retries (retry.c, register.c) ---- */
/* Automatic re-sends (401/407, 3xx, 422, 423, stale nonce) of one request or registration
 * before its failure is reported (default 5; a REGISTER gets at most 3, as in eXosip2 5.3). */
#define EXOSIP_CORE_OPT_MAX_AUTOMATIC_RETRIES (EXOSIP_CORE_OPT_BASE + 30)
/* The largest Min-Expires of a 423 that a registration follows (default 86400); above it the
 * 423 is reported as a failure. */
#define EXOSIP_CORE_OPT_MAX_MIN_EXPIRES (EXOSIP_CORE_OPT_BASE + 31)
/* The smallest Expires a REGISTER asks for (default 30, as eXosip2 5.3; range 1..86400): an
 * Expires of 1 up to one less than it, given to eXosip_register_build_initial_register or
 * eXosip_register_build_register, is raised to it (0, the removal, stays 0). Lower it only where
 * a registrar really grants shorter bindings (a lab, a test). */
#define EXOSIP_CORE_OPT_MIN_REGISTER_EXPIRES (EXOSIP_CORE_OPT_BASE + 32)


/* ---- session timers (session_timer.c) ---- */
/* The smallest session interval, in seconds, honoured (default 90, RFC 4028's floor; range
 * 1..86400): a Session-Expires below it is raised to it, and a new INVITE from a peer that
 * supports timer asking for less is refused with 422 and this Min-SE. Lower it only in a lab. */
#define EXOSIP_CORE_OPT_MIN_SESSION_EXPIRES (EXOSIP_CORE_OPT_BASE + 45)

/* ---- server location (dns.c) ---- */
/* const char *: "IP[:PORT]" (IPv4, default port 53) of the one DNS server this context asks,
 * instead of those of /etc/resolv.conf (NULL or "": back to them). Empties the DNS cache. */
#define EXOSIP_CORE_OPT_DNS_SERVER (EXOSIP_CORE_OPT_BASE + 50)
/* int *: milliseconds one DNS query waits for its answer (default 2000, range 100..30000, used in
 * whole seconds, at least one); each query is tried twice. */
#define EXOSIP_CORE_OPT_DNS_TIMEOUT_MS (EXOSIP_CORE_OPT_BASE + 51)

/* One target of a lookup, in the order a request tries them. */
struct eXosip_core_dns_target {
  char transport[8]; /* "UDP", "TCP" or "TLS" */
  char host[256];    /* the SRV target (or the name itself without SRV) */
  char ip[64];
  int port;
  int priority, weight; /* of the SRV record (0 without) */
  int ttl;              /* seconds the answer may be kept (the smallest TTL of its records) */
};

/* The RFC 3263 lookup of name (NAPTR, SRV, A/AAAA as capabilities 2, 1 or 0 allow), without a
 * context or a cache, on the calling thread (it blocks for up to the query timeouts): server as
 * for EXOSIP_CORE_OPT_DNS_SERVER (NULL: the system's), timeout_ms per query. Fills up to max
 * targets and returns how many; OSIP_UNKNOWN_HOST when the name has no SIP server or address,
 * OSIP_TIMEOUT when no DNS server answered, OSIP_BADPARAMETER for bad arguments. */
int eXosip_core_dns_lookup(const char *server, int timeout_ms, int capabilities, const char *name,
                           struct eXosip_core_dns_target *targets, int max);
/* ---- INVITE transactions and forking (invite.c, fork.c) ---- */
/* Milliseconds the program has to answer an INVITE finally (default 180000, range 0..86400000;
 * 0 disables). Past it the server transaction is answered with INVITE_ANSWER_TIMEOUT_STATUS; for
 * an initial INVITE the call is released (EXOSIP_CALL_RELEASED). A re-INVITE gets the same answer
 * and its dialog stays. */
#define EXOSIP_CORE_OPT_INVITE_ANSWER_TIMEOUT_MS (EXOSIP_CORE_OPT_BASE + 40)
/* The status of that answer (default 408 Request Timeout, range 300..699). */
#define EXOSIP_CORE_OPT_INVITE_ANSWER_TIMEOUT_STATUS (EXOSIP_CORE_OPT_BASE + 41)
/* Dialogs one outgoing call may hold, early dialogs and forked branches included (default 16,
 * range 1..1024). The 2xx of a branch beyond it is not acknowledged. */
#define EXOSIP_CORE_OPT_MAX_FORKED_DIALOGS (EXOSIP_CORE_OPT_BASE + 42)
/* 0 (default): the 2xx of a second branch of a forked INVITE is acknowledged and its dialog ended
 * with BYE at once, as eXosip2 does; the program sees the answer to that BYE
 * (EXOSIP_CALL_MESSAGE_ANSWERED) with the branch's own did. 1: the dialog is acknowledged and kept,
 * reported with EXOSIP_CALL_ANSWERED (its own did, the INVITE's tid); the core has acknowledged it
 * already (eXosip_call_build_ack(tid) keeps naming the first dialog). The program ends the ones it
 * does not want with eXosip_call_terminate(cid, did). */
#define EXOSIP_CORE_OPT_KEEP_FORKED_DIALOGS (EXOSIP_CORE_OPT_BASE + 43)

/* The current value of a limit option, or a negative OSIP_* code for an unknown option. */
int eXosip_core_get_limit(struct eXosip_t *excontext, int opt);

/* A request refused with 401/407, 3xx or 422 that eXosip_automatic_action sends again goes out as
 * a new transaction with a new tid, as in eXosip2 (REGISTERs keep their rid instead). For the tid
 * of such a refused request: the tid of the transaction that carries it on (> 0); 0 while the
 * re-send waits for eXosip_automatic_action (its back-off); OSIP_NOTFOUND when it is not sent again
 * (the refusal is final, or the link is older than the last 1024 re-sends); OSIP_BADPARAMETER for a
 * tid <= 0. Follow the chain: the new tid may be refused and sent again in turn. */
int eXosip_core_retried_tid(struct eXosip_t *excontext, int tid);

/* eXosip_call_send_request as in eXosip2 5.3 (the same arguments, the same ownership of request:
 * taken even on failure), but returning the tid of the new transaction (> 0) instead of
 * OSIP_SUCCESS; a negative OSIP_* code on failure, as eXosip_call_send_request. */
int eXosip_core_call_send_request_tid(struct eXosip_t *excontext, int did, osip_message_t *request);

/* Checks one SIP message (buf, len bytes) the way a context checks what it receives, with the
 * default limits, before oSIP2 parses it: the first line must be a SIP request or status line,
 * and the header lines, parameters and comma-separated values of MAX_HEADERS, MAX_PARAMS and
 * MAX_HEADER_VALUES are counted in one linear pass. Returns OSIP_SUCCESS, or OSIP_SYNTAXERROR
 * with a sentence naming the problem (and the option of the limit exceeded) in why (whylen
 * bytes, may be NULL); OSIP_BADPARAMETER when buf is NULL. */
int eXosip_core_sip_precheck(const char *buf, size_t len, char *why, size_t whylen);

/* ---- capture of SIP messages (capture.c) ----
 * When capture is on, every message a context sends or receives is copied, with its direction,
 * transport, addresses and time, into a bounded queue that the program drains with
 * eXosip_core_capture_next(); nothing is called back. When it is off, the send and receive
 * paths pay one test. When the queue is full (max_messages or max_bytes of text), new messages
 * are not queued but counted (eXosip_core_capture_dropped): the queue keeps the oldest. */
#define EXOSIP_CORE_CAPTURE_SENT 0
#define EXOSIP_CORE_CAPTURE_RECEIVED 1

struct eXosip_core_captured {
  int direction;          /* EXOSIP_CORE_CAPTURE_SENT or _RECEIVED */
  int transport;          /* IPPROTO_UDP or IPPROTO_TCP */
  int family;             /* AF_INET or AF_INET6 (of both addresses) */
  char local_ip[64];
  int local_port;
  char remote_ip[64];
  int remote_port;
  long long time_us;      /* wall clock (CLOCK_REALTIME), microseconds since the epoch */
  size_t length;          /* bytes of text, which is NUL-terminated after them */
  char text[];
};

/* Capture on (max_messages > 0: at most that many messages and max_bytes of text queued;
 * max_bytes 0 means 16 MiB) or off (max_messages 0: what is queued is discarded and the
 * dropped count reset). OSIP_BADPARAMETER for a NULL context or a negative bound. */
int eXosip_core_capture(struct eXosip_t *excontext, int max_messages, size_t max_bytes);
/* The oldest queued message (free it with eXosip_core_captured_free), or NULL when none. */
struct eXosip_core_captured *eXosip_core_capture_next(struct eXosip_t *excontext);
void eXosip_core_captured_free(struct eXosip_core_captured *msg);
/* Messages queued now (a hint: read without the queue's lock). */
int eXosip_core_capture_queued(struct eXosip_t *excontext);
/* Messages not queued because the queue was full, since capture was switched on. */
unsigned long eXosip_core_capture_dropped(struct eXosip_t *excontext);

/* The errno of the system call that made the last eXosip_listen_addr of this context fail
 * (socket, bind, listen), or 0 when it did not fail in a system call. */
int eXosip_core_listen_errno(struct eXosip_t *excontext);

/* Checks a TLS set-up the way EXOSIP_OPT_SET_TLS_CERTIFICATES_INFO loads it, without installing
 * it: builds and frees the client and the server SSL_CTX that the option would build (with the
 * OpenSSL core/ is linked with), and reads the pinned public key. Returns OSIP_SUCCESS (TLS_OK), or
 * a negative code with a one-line reason naming the file and what is wrong in why (whylen bytes,
 * may be NULL): TLS_ERR_MISSING_AUTH_PART for a certificate without its key (or the reverse), a
 * file that is missing, empty, a directory or not PEM (or holds the wrong PEM block), a key that
 * does not match its certificate or uses an algorithm this OpenSSL does not provide, or a pinned
 * public key that is unreadable or not one DER public key; TLS_ERR_NO_PW for a wrong
 * or missing password; TLS_ERR_NO_ROOT_CA for a root_ca_cert holding no certificate;
 * OSIP_BADPARAMETER for a cipher_list OpenSSL does not know or a NULL params. */
int eXosip_core_tls_check(const eXosip_tls_ctx_t *params, char *why, size_t whylen);

#ifdef __cplusplus
}
#endif

#endif /* EXOSIP2_EX_CORE_H */
