/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uas — a user agent server on the eXosip2 5.3 API: answers every call.
 *
 * uas [-a ADDR] [-p PORT] [-t udp|tcp] [-s STATUS] [-r] [-D ANSWER_DELAY_MS] [-b BYE_AFTER_MS]
 *     [-n EXIT_AFTER_CALLS] [-i CALL_IDLE_TIMEOUT_S] [-q]
 *
 * SIGUSR1 prints one line of counts to stdout ("uas: stats ...": calls, answered, acked, closed,
 * and the stack's live transactions and calls) and the program goes on.
 *
 * Uses only the public eXosip2 API, so it builds unchanged against a real libeXosip2; -i (core/'s
 * EXOSIP_CORE_OPT_CALL_IDLE_TIMEOUT) is refused when eX_core.h is not there.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <eXosip2/eXosip.h>
#if defined(__has_include)
#if __has_include(<eXosip2/eX_core.h>)
#include <eXosip2/eX_core.h>
#endif
#endif

struct pending {
  long long due_ms;
  int tid; /* answer this INVITE, or 0 */
  int cid, did; /* hang up this call, when tid is 0 */
};

static volatile sig_atomic_t stop_requested, stats_requested;
static struct pending *pend;
static size_t npend, cappend;
static const char *local_addr = "127.0.0.1";
static int answer_status = 200;
static int quiet;
static long calls, answered, acked, closed_calls;

static void on_signal(int sig)
{
  (void) sig;
  stop_requested = 1;
}

static void on_usr1(int sig)
{
  (void) sig;
  stats_requested = 1;
}

static void print_stats(struct eXosip_t *ctx)
{
  struct eXosip_stats st;
  memset(&st, 0, sizeof(st));
  eXosip_lock(ctx);
  eXosip_set_option(ctx, EXOSIP_OPT_GET_STATISTICS, &st);
  eXosip_unlock(ctx);
  printf("uas: stats calls=%ld answered=%ld acked=%ld closed=%ld live_transactions=%d live_calls=%d\n", calls,
         answered, acked, closed_calls, st.allocated_transactions, st.allocated_calls);
  fflush(stdout);
}

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000LL + ts.tv_nsec / 1000000LL;
}

static void schedule(long long due, int tid, int cid, int did)
{
  if (npend == cappend) {
    size_t cap = cappend ? cappend * 2 : 256;
    struct pending *p = realloc(pend, cap * sizeof(*p));
    if (p == NULL)
      return;
    pend = p;
    cappend = cap;
  }
  pend[npend].due_ms = due;
  pend[npend].tid = tid;
  pend[npend].cid = cid;
  pend[npend].did = did;
  npend++;
}

static void answer_with_sdp(struct eXosip_t *ctx, int tid, int status)
{
  osip_message_t *answer = NULL;
  char sdp[512];
  if (eXosip_call_build_answer(ctx, tid, status, &answer) != 0 || answer == NULL)
    return;
  snprintf(sdp, sizeof(sdp),
           "v=0\r\no=uas 1 1 IN IP4 %s\r\ns=uas\r\nc=IN IP4 %s\r\nt=0 0\r\n"
           "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
           local_addr, local_addr);
  osip_message_set_body(answer, sdp, strlen(sdp));
  osip_message_set_content_type(answer, "application/sdp");
  if (eXosip_call_send_answer(ctx, tid, status, answer) == 0)
    answered++;
}

static void answer_call(struct eXosip_t *ctx, int tid)
{
  eXosip_lock(ctx);
  if (answer_status >= 200 && answer_status < 300)
    answer_with_sdp(ctx, tid, answer_status);
  else
    eXosip_call_send_answer(ctx, tid, answer_status, NULL);
  eXosip_unlock(ctx);
}

static void run_pending(struct eXosip_t *ctx)
{
  long long now = now_ms();
  size_t i = 0;
  while (i < npend) {
    if (pend[i].due_ms <= now) {
      struct pending p = pend[i];
      pend[i] = pend[--npend];
      if (p.tid > 0) {
        answer_call(ctx, p.tid);
      } else {
        eXosip_lock(ctx);
        eXosip_call_terminate(ctx, p.cid, p.did);
        eXosip_unlock(ctx);
      }
    } else {
      i++;
    }
  }
}

static void usage(void)
{
  fprintf(stderr, "usage: uas [-a ADDR] [-p PORT] [-t udp|tcp] [-s STATUS] [-r] [-D ANSWER_DELAY_MS]\n"
                  "           [-b BYE_AFTER_MS] [-n EXIT_AFTER_CALLS] [-i CALL_IDLE_TIMEOUT_S] [-q]\n");
}

int main(int argc, char **argv)
{
  struct eXosip_t *ctx;
  struct sigaction sa;
  int port = 5060, proto = IPPROTO_UDP, ringing = 0, opt, family;
  long answer_delay = 0, bye_after = 0, exit_after = 0;
  int idle_timeout = -1; /* -1: the stack's default */

  while ((opt = getopt(argc, argv, "a:p:t:s:rD:b:n:i:qh")) != -1) {
    switch (opt) {
    case 'a': local_addr = optarg; break;
    case 'p': port = atoi(optarg); break;
    case 't':
      if (strcmp(optarg, "tcp") == 0)
        proto = IPPROTO_TCP;
      else if (strcmp(optarg, "udp") != 0) {
        usage();
        return 2;
      }
      break;
    case 's': answer_status = atoi(optarg); break;
    case 'r': ringing = 1; break;
    case 'D': answer_delay = atol(optarg); break;
    case 'b': bye_after = atol(optarg); break;
    case 'n': exit_after = atol(optarg); break;
    case 'i': idle_timeout = atoi(optarg); break;
    case 'q': quiet = 1; break;
    default:
      usage();
      return 2;
    }
  }
  if (answer_status < 200 || answer_status > 699 || port < 0 || port > 65535 || idle_timeout < -1) {
    usage();
    return 2;
  }

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, NULL);

  ctx = eXosip_malloc();
  if (ctx == NULL || eXosip_init(ctx) != 0) {
    fprintf(stderr, "uas: eXosip_init failed\n");
    return 1;
  }
  eXosip_set_user_agent(ctx, "uas-example");
  if (idle_timeout >= 0) {
#ifdef EXOSIP_CORE_OPT_CALL_IDLE_TIMEOUT
    if (eXosip_set_option(ctx, EXOSIP_CORE_OPT_CALL_IDLE_TIMEOUT, &idle_timeout) != 0) {
      fprintf(stderr, "uas: call idle timeout %d refused\n", idle_timeout);
      eXosip_quit(ctx);
      osip_free(ctx);
      return 2;
    }
#else
    fprintf(stderr, "uas: -i needs core/'s eX_core.h\n");
    eXosip_quit(ctx);
    osip_free(ctx);
    return 2;
#endif
  }
  family = strchr(local_addr, ':') != NULL ? AF_INET6 : AF_INET;
  if (port == 0)
    port = eXosip_find_free_port(ctx, 0, proto);
  if (port <= 0 || eXosip_listen_addr(ctx, proto, local_addr, port, family, 0) != 0) {
    fprintf(stderr, "uas: cannot listen on %s port %d\n", local_addr, port);
    eXosip_quit(ctx);
    osip_free(ctx);
    return 1;
  }
  printf("uas: listening on %s %s:%d\n", proto == IPPROTO_TCP ? "tcp" : "udp", local_addr, port);
  fflush(stdout);

  while (!stop_requested && !(exit_after > 0 && closed_calls >= exit_after)) {
    eXosip_event_t *ev = eXosip_event_wait(ctx, 0, npend > 0 ? 5 : 50);
    run_pending(ctx);
    if (stats_requested) {
      stats_requested = 0;
      print_stats(ctx);
    }
    if (ev == NULL)
      continue;
    if (!quiet)
      fprintf(stderr, "uas: event %d cid=%d did=%d tid=%d %s\n", ev->type, ev->cid, ev->did, ev->tid,
              ev->textinfo);
    switch (ev->type) {
    case EXOSIP_CALL_INVITE:
      calls++;
      if (ringing) {
        eXosip_lock(ctx);
        eXosip_call_send_answer(ctx, ev->tid, 180, NULL);
        eXosip_unlock(ctx);
      }
      if (answer_delay > 0)
        schedule(now_ms() + answer_delay, ev->tid, 0, 0);
      else
        answer_call(ctx, ev->tid);
      break;
    case EXOSIP_CALL_REINVITE:
      eXosip_lock(ctx);
      answer_with_sdp(ctx, ev->tid, 200);
      answered--; /* not a new call */
      eXosip_unlock(ctx);
      break;
    case EXOSIP_CALL_ACK:
      acked++;
      if (bye_after > 0)
        schedule(now_ms() + bye_after, 0, ev->cid, ev->did);
      break;
    case EXOSIP_CALL_MESSAGE_NEW:
      if (ev->request != NULL && !MSG_IS_BYE(ev->request)) { /* a BYE is answered by the stack */
        osip_message_t *ok = NULL;
        eXosip_lock(ctx);
        if (eXosip_call_build_answer(ctx, ev->tid, 200, &ok) == 0)
          eXosip_call_send_answer(ctx, ev->tid, 200, ok);
        eXosip_unlock(ctx);
      }
      break;
    case EXOSIP_MESSAGE_NEW:
      eXosip_lock(ctx);
      eXosip_message_send_answer(ctx, ev->tid, 200, NULL);
      eXosip_unlock(ctx);
      break;
    case EXOSIP_IN_SUBSCRIPTION_NEW:
      /* this UAS serves no event package: 489 Bad Event (RFC 6665), so nothing is held */
      eXosip_lock(ctx);
      eXosip_insubscription_send_answer(ctx, ev->tid, 489, NULL);
      eXosip_unlock(ctx);
      break;
    case EXOSIP_CALL_RELEASED:
      closed_calls++;
      break;
    default:
      break;
    }
    eXosip_event_free(ev);
  }
  printf("uas: calls=%ld answered=%ld closed=%ld\n", calls, answered, closed_calls);
  fflush(stdout);
  {
    struct eXosip_stats st;
    memset(&st, 0, sizeof(st));
    if (eXosip_set_option(ctx, EXOSIP_OPT_GET_STATISTICS, &st) == 0)
      fprintf(stderr, "uas: live transactions=%d calls=%d dropped=%d closed_connections=%d\n",
              st.allocated_transactions, st.allocated_calls, st.reserved1[0], st.reserved1[1]);
  }
  eXosip_quit(ctx);
  osip_free(ctx);
  free(pend);
  return 0;
}
