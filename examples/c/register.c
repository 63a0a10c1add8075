/* SPDX-License-Identifier: Apache-2.0 */
/*
 * register — keeps a SIP registration alive on the eXosip2 5.3 API.
 *
 * register [-a ADDR] [-p PORT] [-t udp|tcp] [-e EXPIRES] [-m MIN_EXPIRES] [-u USER]
 *          [-w PASSWORD | -H HA1] [-r REALM] [-f FROM] [-x EXIT_AFTER_SECONDS] sip:user@HOST:PORT
 *
 * -H gives MD5(user:realm:password) in hex instead of the password. eXosip2 5.3 raises an Expires
 * of 1 to 29 to 30; built against core/, -m lowers that floor (EXOSIP_CORE_OPT_MIN_REGISTER_EXPIRES
 * of eX_core.h), and against another libeXosip2 it is refused.
 *
 * The argument is the address of record; the registrar is its host and port. The program
 * registers, answers digest challenges with the credentials given, refreshes the binding before it
 * lapses (eXosip_automatic_action), and on SIGINT/SIGTERM (or after -x seconds) removes it with
 * Expires: 0 and exits. Every change is printed on one line:
 *
 *   register: success expires=N
 *   register: challenge status=401
 *   register: interval too brief status=423
 *   register: failure status=403
 *   register: unregistered
 *
 * Exit status: 0 when the last registration attempt succeeded (and the unregistration too),
 * 1 on a final failure, 2 on a usage error. Uses only the public eXosip2 API.
 *
 * Load mode, for benchmarks: -n COUNT sends COUNT registrations instead, each a binding of its own
 * (its own registration id and Call-ID, for the same address of record), started at -R RATE per
 * second (default 100). Each is dropped locally with eXosip_register_remove once answered (no
 * un-REGISTER). A 401/407 is answered when credentials were given, else it is a failure; a 423 is
 * retried by eXosip_automatic_action. -x bounds the whole run (default 60 s); a registration still
 * unanswered then is a failure. Once bound it prints "register: listening on PROTO ADDR:PORT" and
 * waits -s START_DELAY_MS (default 0) before the first REGISTER, so that a benchmark can read the
 * program's CPU time after its start-up; at the end it prints
 *
 *   register: registrations=N ok=N failed=N elapsed_ms=MS
 *
 * (MS from the first REGISTER to the last answer) and exits 0 only if every registration succeeded.
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
#if defined(__has_include)
#if __has_include(<eXosip2/eX_core.h>)
#include <eXosip2/eX_core.h>
#endif
#endif

/* How long a challenge may stay unanswered before the registration counts as failed: the credentials
 * (if any match) go out at the next eXosip_automatic_action, and the answer follows in a moment. */
#define CHALLENGE_WAIT_MS 4000

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
  fprintf(stderr, "usage: register [-a ADDR] [-p PORT] [-t udp|tcp] [-e EXPIRES] [-m MIN_EXPIRES] [-u USER]\n"
                  "                [-w PASSWORD | -H HA1] [-r REALM] [-f FROM] [-x EXIT_AFTER_SECONDS]\n"
                  "                [-n COUNT [-R RATE] [-s START_DELAY_MS]] sip:user@HOST:PORT\n");
}

/* The expires granted to our binding: the Contact's expires parameter, else the Expires header. */
static int granted(const osip_message_t *resp, int asked)
{
  osip_contact_t *c = NULL;
  osip_header_t *h = NULL;
  if (resp == NULL)
    return asked;
  if (osip_message_get_contact(resp, 0, &c) >= 0 && c != NULL) {
    osip_generic_param_t *p = NULL;
    osip_contact_param_get_byname(c, "expires", &p);
    if (p != NULL && p->gvalue != NULL)
      return atoi(p->gvalue);
  }
  if (osip_message_get_expires(resp, 0, &h) >= 0 && h != NULL && h->hvalue != NULL)
    return atoi(h->hvalue);
  return asked;
}

/* Wait for the answer to the REGISTER just sent (rid); 1 success, 0 failure, -1 nothing in time. */
static int handle_event(eXosip_event_t *je, int rid, int expires, int *last_ok)
{
  int status = je->response != NULL ? je->response->status_code : 0;
  if (je->rid != rid)
    return -1;
  if (je->type == EXOSIP_REGISTRATION_SUCCESS) {
    if (expires > 0)
      printf("register: success expires=%d\n", granted(je->response, expires));
    *last_ok = 1;
    return 1;
  }
  if (je->type == EXOSIP_REGISTRATION_FAILURE) {
    if (status == 401 || status == 407) {
      printf("register: challenge status=%d\n", status);
      return -1; /* eXosip_automatic_action answers it when it can; a final failure follows if not */
    }
    if (status == 423) {
      printf("register: interval too brief status=423\n");
      return -1; /* eXosip_automatic_action asks again with the registrar's Min-Expires */
    }
    printf("register: failure status=%d\n", status);
    *last_ok = 0;
    return 0;
  }
  return -1;
}

/* Load mode (-n): COUNT registrations started at RATE per second, each dropped once answered.
 * Returns the exit status. */
static int load(struct eXosip_t *ctx, const char *from, const char *proxy, int expires, long count, double rate,
                long timeout_s, int have_credentials)
{
  long sent = 0, ok = 0, failed = 0;
  long long start = now_ms(), next = start, deadline = start + timeout_s * 1000LL, last_answer = start;
  long long last_action = start;

  while (!stop_requested && ok + failed < count) {
    long long now = now_ms();
    eXosip_event_t *je;
    int wait_ms = 10;
    if (now >= deadline)
      break;
    while (sent < count && now >= next) {
      osip_message_t *reg = NULL;
      int rid, rc;
      eXosip_lock(ctx);
      rid = eXosip_register_build_initial_register(ctx, from, proxy, NULL, expires, &reg);
      rc = rid > 0 ? eXosip_register_send_register(ctx, rid, reg) : rid;
      if (rc != 0 && rid > 0)
        eXosip_register_remove(ctx, rid);
      eXosip_unlock(ctx);
      if (rc != 0)
        failed++;
      sent++;
      next = start + (long long) ((double) sent * 1000.0 / rate);
    }
    if (sent < count && next - now < wait_ms)
      wait_ms = next > now ? (int) (next - now) : 0;
    je = eXosip_event_wait(ctx, 0, wait_ms);
    if (je != NULL) {
      int status = je->response != NULL ? je->response->status_code : 0;
      int final = 0;
      if (je->type == EXOSIP_REGISTRATION_SUCCESS) {
        ok++;
        final = 1;
      } else if (je->type == EXOSIP_REGISTRATION_FAILURE) {
        /* a challenge with credentials, or a 423, is asked again by eXosip_automatic_action */
        final = !(status == 423 || ((status == 401 || status == 407) && have_credentials));
        failed += final;
      }
      if (final && je->rid > 0) {
        last_answer = now_ms();
        eXosip_lock(ctx);
        eXosip_register_remove(ctx, je->rid);
        eXosip_unlock(ctx);
      }
      eXosip_event_free(je);
    }
    if (now_ms() - last_action >= 100) {
      last_action = now_ms();
      eXosip_lock(ctx);
      eXosip_automatic_action(ctx);
      eXosip_unlock(ctx);
    }
  }
  failed = count - ok; /* unanswered ones and the ones never sent count as failed */
  printf("register: registrations=%ld ok=%ld failed=%ld elapsed_ms=%lld\n", sent, ok, failed, last_answer - start);
  return ok == count ? 0 : 1;
}

int main(int argc, char **argv)
{
  struct eXosip_t *ctx;
  struct sigaction sa;
  const char *addr = "127.0.0.1", *aor, *user = NULL, *password = NULL, *realm = NULL, *from = NULL, *ha1 = NULL;
  int port = 0, proto = IPPROTO_UDP, opt, family, expires = 3600, min_expires = 0, rid, rc, last_ok = 0, done = 0;
  long exit_after = 0, count = 0, start_delay = 0;
  double rate = 100.0;
  long long deadline = 0, challenged_at = 0;
  int challenged_status = 0;
  char proxy[512], user_buf[128];
  osip_message_t *reg = NULL;

  while ((opt = getopt(argc, argv, "a:p:t:e:m:u:w:H:r:f:x:n:R:s:h")) != -1) {
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
    case 'e': expires = atoi(optarg); break;
    case 'm': min_expires = atoi(optarg); break;
    case 'u': user = optarg; break;
    case 'w': password = optarg; break;
    case 'H': ha1 = optarg; break;
    case 'r': realm = optarg; break;
    case 'f': from = optarg; break;
    case 'x': exit_after = atol(optarg); break;
    case 'n': count = atol(optarg); break;
    case 'R': rate = atof(optarg); break;
    case 's': start_delay = atol(optarg); break;
    default: usage(); return 2;
    }
  }
  if (optind != argc - 1 || expires <= 0 || count < 0 || rate <= 0 || start_delay < 0) {
    usage();
    return 2;
  }
  aor = argv[optind];
  {
    /* the registrar: sip:HOST:PORT of the address of record */
    const char *at = strchr(aor, '@'), *colon = strchr(aor, ':');
    const char *hostpart = at != NULL ? at + 1 : (colon != NULL ? colon + 1 : NULL);
    if (strncmp(aor, "sip:", 4) != 0 || hostpart == NULL || hostpart[0] == '\0') {
      usage();
      return 2;
    }
    snprintf(proxy, sizeof(proxy), "sip:%s", hostpart);
    if (user == NULL && at != NULL) {
      size_t n = (size_t) (at - (aor + 4));
      if (n >= sizeof(user_buf))
        n = sizeof(user_buf) - 1;
      memcpy(user_buf, aor + 4, n);
      user_buf[n] = '\0';
      user = user_buf;
    }
  }
  if (from == NULL)
    from = aor;

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  setvbuf(stdout, NULL, _IOLBF, 0);

  ctx = eXosip_malloc();
  if (ctx == NULL || eXosip_init(ctx) != 0) {
    fprintf(stderr, "register: cannot initialise the context\n");
    return 1;
  }
  family = strchr(addr, ':') != NULL ? AF_INET6 : AF_INET;
  if (count > 0 && port == 0)
    port = eXosip_find_free_port(ctx, 0, proto); /* load mode says which port it took */
  if (port < 0 || eXosip_listen_addr(ctx, proto, addr, port, family, 0) != 0) {
    fprintf(stderr, "register: cannot listen on %s:%d\n", addr, port);
    eXosip_quit(ctx);
    osip_free(ctx);
    return 1;
  }
  eXosip_set_user_agent(ctx, "exosip2-register-example");
  if (min_expires > 0) {
#ifdef EXOSIP_CORE_OPT_MIN_REGISTER_EXPIRES
    rc = eXosip_set_option(ctx, EXOSIP_CORE_OPT_MIN_REGISTER_EXPIRES, &min_expires);
#else
    rc = OSIP_BADPARAMETER; /* only core/ lets the floor of 30 s be lowered */
#endif
    if (rc != 0) {
      fprintf(stderr, "register: -m is refused by this library (%d)\n", rc);
      eXosip_quit(ctx);
      osip_free(ctx);
      return 2;
    }
  }
  if ((password != NULL || ha1 != NULL) && user != NULL
      && eXosip_add_authentication_info(ctx, user, user, password, ha1, realm) != 0) {
    fprintf(stderr, "register: cannot store the credentials\n");
    eXosip_quit(ctx);
    osip_free(ctx);
    return 1;
  }

  if (count > 0) {
    printf("register: listening on %s %s:%d\n", proto == IPPROTO_TCP ? "tcp" : "udp", addr, port);
    if (start_delay > 0) {
      struct timespec pause = {start_delay / 1000, (start_delay % 1000) * 1000000L};
      nanosleep(&pause, NULL);
    }
    rc = load(ctx, from, proxy, expires, count, rate, exit_after > 0 ? exit_after : 60,
              password != NULL || ha1 != NULL);
    eXosip_quit(ctx);
    osip_free(ctx);
    return rc;
  }

  eXosip_lock(ctx);
  rid = eXosip_register_build_initial_register(ctx, from, proxy, NULL, expires, &reg);
  if (rid > 0)
    rc = eXosip_register_send_register(ctx, rid, reg);
  else
    rc = rid;
  eXosip_unlock(ctx);
  if (rc != 0) {
    fprintf(stderr, "register: cannot send the REGISTER (%d)\n", rc);
    eXosip_quit(ctx);
    osip_free(ctx);
    return 1;
  }
  if (exit_after > 0)
    deadline = now_ms() + exit_after * 1000LL;

  /* registered (and refreshed) until told to stop; a final failure ends the program */
  while (!stop_requested && !done && (deadline == 0 || now_ms() < deadline)) {
    eXosip_event_t *je = eXosip_event_wait(ctx, 0, 200);
    if (je != NULL) {
      int status = je->response != NULL ? je->response->status_code : 0;
      int r = handle_event(je, rid, expires, &last_ok);
      if (r == 0) {
        done = 1;
      } else if (r < 0 && je->rid == rid && (status == 401 || status == 407 || status == 423)) {
        challenged_at = now_ms();
        challenged_status = status;
      } else if (r > 0) {
        challenged_at = 0;
      }
      eXosip_event_free(je);
    }
    if (challenged_at != 0 && now_ms() - challenged_at > CHALLENGE_WAIT_MS) {
      /* nothing followed the challenge: no credentials answer it */
      printf("register: failure status=%d\n", challenged_status);
      last_ok = 0;
      done = 1;
    }
    eXosip_lock(ctx);
    eXosip_automatic_action(ctx);
    eXosip_unlock(ctx);
  }

  if (last_ok) {
    /* remove the binding: Expires: 0, answered within a few seconds or given up */
    long long until = now_ms() + 8000;
    int removed = -1, sent = 0;
    while (removed < 0 && now_ms() < until) {
      eXosip_event_t *je;
      if (!sent) {
        /* a refresh still waiting for its answer must end first (OSIP_WRONG_STATE) */
        eXosip_lock(ctx);
        rc = eXosip_register_build_register(ctx, rid, 0, &reg);
        if (rc == 0)
          rc = eXosip_register_send_register(ctx, rid, reg);
        eXosip_unlock(ctx);
        if (rc == 0)
          sent = 1;
        else if (rc != OSIP_WRONG_STATE)
          break;
      }
      je = eXosip_event_wait(ctx, 0, 200);
      if (je != NULL) {
        if (sent)
          removed = handle_event(je, rid, 0, &last_ok);
        eXosip_event_free(je);
      }
      eXosip_lock(ctx);
      eXosip_automatic_action(ctx);
      eXosip_unlock(ctx);
    }
    if (removed == 1)
      printf("register: unregistered\n");
    else
      printf("register: unregister failed\n");
    last_ok = removed == 1;
  }
  eXosip_lock(ctx);
  eXosip_register_remove(ctx, rid);
  eXosip_unlock(ctx);
  eXosip_quit(ctx);
  osip_free(ctx);
  return last_ok ? 0 : 1;
}
