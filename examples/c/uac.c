/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uac — a user agent client on the eXosip2 5.3 API: places calls at a given rate.
 *
 * uac [-a ADDR] [-p PORT] [-t udp|tcp] [-n CALLS] [-r RATE] [-l LIMIT] [-d HOLD_MS] [-T TIMEOUT_S]
 *     [-s START_DELAY_MS] sip:service@HOST:PORT
 *
 * Each call: INVITE, ACK on 2xx, hold, BYE (-d 0: at once). -l caps the calls in progress. Once
 * bound it prints "uac: listening on PROTO ADDR:PORT", waits START_DELAY_MS (default 0) and starts
 * calling: a benchmark reads the program's CPU time during that wait, so that its start-up is not
 * counted as the cost of the calls. At the end it prints "uac: calls=N ok=N failed=N". Exit status
 * 0 only if every call was answered and closed cleanly. Uses only the public eXosip2 API.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <eXosip2/eXosip.h>

enum { ST_NONE, ST_CALLING, ST_ANSWERED, ST_BYE, ST_FAILED, ST_DONE };

struct call_state {
  int state;
  int did;
  long long bye_at;
};

/* Calls waiting for their hang-up. The hold time is the same for every call, so they fall
 * due in the order they were answered: a FIFO of call ids is enough. */
static int *hangups;
static size_t hangup_head, hangup_tail;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
  (void) sig;
  stop_requested = 1;
}

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000LL + ts.tv_nsec / 1000000LL;
}

static void usage(void)
{
  fprintf(stderr, "usage: uac [-a ADDR] [-p PORT] [-t udp|tcp] [-n CALLS] [-r RATE] [-l LIMIT] [-d HOLD_MS]\n"
                  "           [-T TIMEOUT_S] [-s START_DELAY_MS] sip:service@HOST:PORT\n");
}

int main(int argc, char **argv)
{
  struct eXosip_t *ctx;
  struct sigaction sa;
  const char *addr = "127.0.0.1", *target;
  int port = 0, proto = IPPROTO_UDP, opt, family;
  long ncalls = 1, limit = 100, hold = 0, timeout_s = 30, start_delay = 0;
  double rate = 10.0;
  struct call_state *states;
  size_t nstates;
  long placed = 0, active = 0, ok = 0, failed = 0, finished = 0;
  long long start, next_call, deadline;
  char from[256], sdp[512];

  while ((opt = getopt(argc, argv, "a:p:t:n:r:l:d:T:s:h")) != -1) {
    switch (opt) {
    case 'a': addr = optarg; break;
    case 'p': port = atoi(optarg); break;
    case 't':
      if (strcmp(optarg, "tcp") == 0)
        proto = IPPROTO_TCP;
      else if (strcmp(optarg, "udp") != 0) {
        usage();
        return 2;
      }
      break;
    case 'n': ncalls = atol(optarg); break;
    case 'r': rate = atof(optarg); break;
    case 'l': limit = atol(optarg); break;
    case 'd': hold = atol(optarg); break;
    case 'T': timeout_s = atol(optarg); break;
    case 's': start_delay = atol(optarg); break;
    default:
      usage();
      return 2;
    }
  }
  if (optind != argc - 1 || ncalls < 1 || rate <= 0 || limit < 1 || start_delay < 0) {
    usage();
    return 2;
  }
  target = argv[optind];

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  ctx = eXosip_malloc();
  if (ctx == NULL || eXosip_init(ctx) != 0) {
    fprintf(stderr, "uac: eXosip_init failed\n");
    return 1;
  }
  eXosip_set_user_agent(ctx, "uac-example");
  family = strchr(addr, ':') != NULL ? AF_INET6 : AF_INET;
  if (port == 0)
    port = eXosip_find_free_port(ctx, 0, proto);
  if (port <= 0 || eXosip_listen_addr(ctx, proto, addr, port, family, 0) != 0) {
    fprintf(stderr, "uac: cannot listen on %s port %d\n", addr, port);
    eXosip_quit(ctx);
    osip_free(ctx);
    return 1;
  }
  snprintf(from, sizeof(from), family == AF_INET6 ? "sip:uac@[%s]:%d" : "sip:uac@%s:%d", addr, port);
  snprintf(sdp, sizeof(sdp),
           "v=0\r\no=uac 1 1 IN IP4 %s\r\ns=uac\r\nc=IN IP4 %s\r\nt=0 0\r\n"
           "m=audio 40002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
           addr, addr);

  nstates = (size_t) ncalls + 64;
  states = calloc(nstates, sizeof(*states));
  hangups = calloc(nstates, sizeof(*hangups));
  if (states == NULL || hangups == NULL) {
    free(states);
    free(hangups);
    eXosip_quit(ctx);
    osip_free(ctx);
    return 1;
  }
  printf("uac: listening on %s %s:%d\n", proto == IPPROTO_TCP ? "tcp" : "udp", addr, port);
  fflush(stdout);
  if (start_delay > 0) {
    struct timespec pause = {start_delay / 1000, (start_delay % 1000) * 1000000L};
    nanosleep(&pause, NULL); /* a signal ends it early: the loop below then stops at once */
  }
  start = now_ms();
  next_call = start;
  deadline = start + timeout_s * 1000LL;

  while (!stop_requested && finished < ncalls && now_ms() < deadline) {
    long long now = now_ms();
    eXosip_event_t *ev;

    while (placed < ncalls && active < limit && now >= next_call) {
      osip_message_t *invite = NULL;
      int cid;
      eXosip_lock(ctx);
      if (eXosip_call_build_initial_invite(ctx, &invite, target, from, NULL, "uac") == 0) {
        osip_message_set_body(invite, sdp, strlen(sdp));
        osip_message_set_content_type(invite, "application/sdp");
        if (proto == IPPROTO_TCP)
          eXosip_transport_set(invite, "TCP");
        cid = eXosip_call_send_initial_invite(ctx, invite);
      } else {
        cid = -1;
      }
      eXosip_unlock(ctx);
      placed++;
      next_call = start + (long long) ((double) placed * 1000.0 / rate);
      if (cid > 0 && (size_t) cid < nstates) {
        states[cid].state = ST_CALLING;
        active++;
      } else {
        failed++;
        finished++;
      }
    }

    while (hangup_head < hangup_tail && states[hangups[hangup_head]].bye_at <= now) {
      int c = hangups[hangup_head++];
      if (states[c].state == ST_ANSWERED) {
        eXosip_lock(ctx);
        eXosip_call_terminate(ctx, c, states[c].did);
        eXosip_unlock(ctx);
        states[c].state = ST_BYE;
      }
    }

    ev = eXosip_event_wait(ctx, 0, 10);
    if (ev == NULL)
      continue;
    if (ev->cid > 0 && (size_t) ev->cid < nstates) {
      struct call_state *st = &states[ev->cid];
      switch (ev->type) {
      case EXOSIP_CALL_ANSWERED:
        eXosip_lock(ctx);
        {
          osip_message_t *ack = NULL;
          if (eXosip_call_build_ack(ctx, ev->tid, &ack) == 0)
            eXosip_call_send_ack(ctx, ev->tid, ack);
        }
        if (st->state == ST_CALLING) {
          st->did = ev->did;
          if (hold > 0) {
            st->state = ST_ANSWERED;
            st->bye_at = now_ms() + hold;
            if (hangup_tail < nstates)
              hangups[hangup_tail++] = ev->cid;
          } else {
            st->state = ST_BYE;
            eXosip_call_terminate(ctx, ev->cid, ev->did);
          }
        }
        eXosip_unlock(ctx);
        break;
      case EXOSIP_CALL_NOANSWER:
      case EXOSIP_CALL_REDIRECTED:
      case EXOSIP_CALL_REQUESTFAILURE:
      case EXOSIP_CALL_SERVERFAILURE:
      case EXOSIP_CALL_GLOBALFAILURE:
        if (st->state == ST_CALLING)
          st->state = ST_FAILED;
        break;
      case EXOSIP_CALL_MESSAGE_REQUESTFAILURE:
      case EXOSIP_CALL_MESSAGE_SERVERFAILURE:
      case EXOSIP_CALL_MESSAGE_GLOBALFAILURE:
        if (st->state == ST_BYE)
          st->state = ST_FAILED;
        break;
      case EXOSIP_CALL_CLOSED:
        if (st->state == ST_ANSWERED)
          st->state = ST_BYE; /* the peer hung up first: a clean end too */
        break;
      case EXOSIP_CALL_RELEASED:
        if (st->state != ST_NONE && st->state != ST_DONE) {
          if (st->state == ST_BYE)
            ok++;
          else
            failed++;
          st->state = ST_DONE;
          active--;
          finished++;
        }
        break;
      default:
        break;
      }
    }
    eXosip_event_free(ev);
  }
  failed += ncalls - finished;
  printf("uac: calls=%ld ok=%ld failed=%ld\n", placed, ok, failed);
  fflush(stdout);
  eXosip_quit(ctx);
  osip_free(ctx);
  free(states);
  free(hangups);
  return ok == ncalls ? 0 : 1;
}
