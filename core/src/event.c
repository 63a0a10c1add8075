/* SPDX-License-Identifier: Apache-2.0 */
/* The event FIFO: filled by the I/O thread and the API, drained by eXosip_event_wait/get. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "exosip_internal.h"
#include "arena.h"
#include "usage.h"

static const char *event_text(eXosip_event_type_t type)
{
  switch (type) {
  case EXOSIP_CALL_INVITE: return "New call received";
  case EXOSIP_CALL_REINVITE: return "INVITE within call received";
  case EXOSIP_CALL_NOANSWER: return "No answer for call";
  case EXOSIP_CALL_PROCEEDING: return "Call is being processed";
  case EXOSIP_CALL_RINGING: return "Remote party is ringing";
  case EXOSIP_CALL_ANSWERED: return "Call answered";
  case EXOSIP_CALL_REDIRECTED: return "Call redirected";
  case EXOSIP_CALL_REQUESTFAILURE: return "Call failed (4xx)";
  case EXOSIP_CALL_SERVERFAILURE: return "Call failed (5xx)";
  case EXOSIP_CALL_GLOBALFAILURE: return "Call failed (6xx)";
  case EXOSIP_CALL_ACK: return "ACK received";
  case EXOSIP_CALL_CANCELLED: return "Call cancelled by the caller";
  case EXOSIP_CALL_MESSAGE_NEW: return "New request within call";
  case EXOSIP_CALL_MESSAGE_PROCEEDING: return "Request within call is being processed";
  case EXOSIP_CALL_MESSAGE_ANSWERED: return "Request within call answered";
  case EXOSIP_CALL_MESSAGE_REDIRECTED: return "Request within call redirected";
  case EXOSIP_CALL_MESSAGE_REQUESTFAILURE: return "Request within call failed (4xx)";
  case EXOSIP_CALL_MESSAGE_SERVERFAILURE: return "Request within call failed (5xx)";
  case EXOSIP_CALL_MESSAGE_GLOBALFAILURE: return "Request within call failed (6xx)";
  case EXOSIP_CALL_CLOSED: return "Call closed by the remote party";
  case EXOSIP_CALL_RELEASED: return "Call context released";
  case EXOSIP_MESSAGE_NEW: return "New request outside of calls";
  case EXOSIP_MESSAGE_PROCEEDING: return "Request is being processed";
  case EXOSIP_MESSAGE_ANSWERED: return "Request answered";
  case EXOSIP_MESSAGE_REDIRECTED: return "Request redirected";
  case EXOSIP_MESSAGE_REQUESTFAILURE: return "Request failed (4xx)";
  case EXOSIP_MESSAGE_SERVERFAILURE: return "Request failed (5xx)";
  case EXOSIP_MESSAGE_GLOBALFAILURE: return "Request failed (6xx)";
  case EXOSIP_REGISTRATION_SUCCESS: return "User is successfully registered";
  case EXOSIP_REGISTRATION_FAILURE: return "Registration failed";
  case EXOSIP_SUBSCRIPTION_NOTIFY: return "NOTIFY received in a subscription";
  case EXOSIP_IN_SUBSCRIPTION_NEW: return "New incoming subscription";
  default: return "Event";
  }
}

static osip_message_t *copy_of(const osip_message_t *m)
{
  osip_message_t *c = NULL;
  if (m == NULL)
    return NULL;
  ex_arena_begin(); /* the event's copy: its blocks die together when the program frees the event */
  if (osip_message_clone(m, &c) != 0)
    c = NULL;
  ex_arena_end();
  return c;
}

/* Make the eventfd readable; evlock held. */
static void signal_fd_locked(struct eXosip_t *ctx)
{
  uint64_t one = 1;
  if (ctx->ev_fd >= 0 && write(ctx->ev_fd, &one, sizeof(one)) == (ssize_t) sizeof(one))
    ctx->ev_signaled = 1;
}

/* Called with the context lock held. */
int ex_event_emit(struct eXosip_t *ctx, eXosip_event_type_t type, struct ex_call *call, struct ex_dialog *dlg,
                  int tid, const osip_message_t *request, const osip_message_t *response,
                  const osip_message_t *ack)
{
  return ex_event_emit_rid(ctx, type, call, dlg, 0, tid, request, response, ack);
}

static int emit(struct eXosip_t *ctx, eXosip_event_type_t type, struct ex_call *call, struct ex_dialog *dlg,
                int rid, const struct ex_event_sub *sub, int tid, const osip_message_t *request,
                const osip_message_t *response, const osip_message_t *ack, osip_message_t *owned_ack);

/* The same, for events that name a registration (rid > 0). */
int ex_event_emit_rid(struct eXosip_t *ctx, eXosip_event_type_t type, struct ex_call *call,
                      struct ex_dialog *dlg, int rid, int tid, const osip_message_t *request,
                      const osip_message_t *response, const osip_message_t *ack)
{
  return emit(ctx, type, call, dlg, rid, NULL, tid, request, response, ack, NULL);
}

/* EXOSIP_CALL_ACK with the received ACK itself instead of a copy: the caller is done with it, and the
 * event (or, when none could be made, this function) frees it. */
int ex_event_emit_ack(struct eXosip_t *ctx, struct ex_call *call, struct ex_dialog *dlg, int tid,
                      osip_message_t *ack)
{
  return emit(ctx, EXOSIP_CALL_ACK, call, dlg, 0, NULL, tid, NULL, NULL, NULL, ack);
}

/* The same, for events of subscriptions: did, sid or nid, and the Subscription-State. */
int ex_event_emit_sub(struct eXosip_t *ctx, eXosip_event_type_t type, const struct ex_event_sub *sub, int tid,
                      const osip_message_t *request, const osip_message_t *response)
{
  return emit(ctx, type, NULL, NULL, 0, sub, tid, request, response, NULL, NULL);
}

static int emit(struct eXosip_t *ctx, eXosip_event_type_t type, struct ex_call *call, struct ex_dialog *dlg,
                int rid, const struct ex_event_sub *sub, int tid, const osip_message_t *request,
                const osip_message_t *response, const osip_message_t *ack, osip_message_t *owned_ack)
{
  struct ex_event *e = calloc(1, sizeof(*e));
  eXosip_event_t *je;
  int was_empty, wake;

  if (e == NULL) {
    if (owned_ack != NULL)
      osip_message_free(owned_ack);
    return OSIP_NOMEM;
  }
  je = &e->ev;
  je->type = type;
  je->tid = tid;
  je->rid = rid;
  if (call != NULL) {
    je->cid = call->cid;
    je->external_reference = call->reference;
  }
  if (dlg != NULL)
    je->did = dlg->did;
  je->request = copy_of(request);
  je->response = copy_of(response);
  je->ack = owned_ack != NULL ? owned_ack : copy_of(ack);
  {
    /* copied (cut to fit), not formatted: this runs for every event */
    const char *text = response != NULL && response->reason_phrase != NULL ? response->reason_phrase
                                                                         : event_text(type);
    size_t n = strnlen(text, sizeof(je->textinfo) - 1);
    memcpy(je->textinfo, text, n);
    je->textinfo[n] = '\0';
  }
  if (sub != NULL) {
    je->did = sub->did;
    je->sid = sub->sid;
    je->nid = sub->nid;
    je->ss_status = sub->ss_status;
    je->ss_reason = sub->ss_reason;
  }

  pthread_mutex_lock(&ctx->evlock);
  was_empty = ctx->evhead == NULL;
  if (ctx->evtail != NULL)
    ctx->evtail->next = e;
  else
    ctx->evhead = e;
  ctx->evtail = e;
  ctx->evcount++;
  /* the eventfd costs a write here and a read when the queue drains: only for a program that
   * watches it (eXosip_event_geteventsocket catches up on what is queued when it is first asked) */
  if (was_empty && ctx->ev_fd_wanted && !ctx->ev_signaled)
    signal_fd_locked(ctx);
  wake = ctx->ev_waiters > 0;
  if (ctx->io_leader == EX_LEAD_PROGRAM && !ctx->ev_defer)
    ex_io_kick(ctx); /* a program thread waits on the sockets for events (wait_for): this is one */
  pthread_mutex_unlock(&ctx->evlock);
  if (!wake)
    return OSIP_SUCCESS; /* nobody asleep: the next wait finds the event in the queue */
  if (ctx->ev_defer) {
    /* the I/O thread signals once when it has worked through what it read and let the context
     * lock go (ex_event_flush): a waiter woken now would first wait for that lock anyway */
    ctx->ev_deferred++;
    return OSIP_SUCCESS;
  }
  /* after the unlock: a waiter woken while evlock is still held would only block again at once
   * on that mutex (a second futex wait, and a second wake-up from the unlock). A waiter cannot
   * miss this event: it looks at the queue under evlock before it sleeps. */
  pthread_cond_signal(&ctx->evcond);
  return OSIP_SUCCESS;
}

/* The I/O thread, after it let the context lock go: wake the waiters told of nothing yet. n is
 * ev_deferred, read (and cleared) while the lock was still held. */
void ex_event_flush(struct eXosip_t *ctx, int n)
{
  if (n == 1)
    pthread_cond_signal(&ctx->evcond);
  else if (n > 1)
    pthread_cond_broadcast(&ctx->evcond); /* several events: as many waiters as there are may take them */
}

/* Take the head of the queue; evlock held. */
static eXosip_event_t *pop_locked(struct eXosip_t *ctx)
{
  struct ex_event *e = ctx->evhead;
  if (e == NULL)
    return NULL;
  ctx->evhead = e->next;
  if (ctx->evhead == NULL) {
    ctx->evtail = NULL;
    if (ctx->ev_signaled && ctx->ev_fd >= 0) {
      uint64_t v;
      if (read(ctx->ev_fd, &v, sizeof(v)) == (ssize_t) sizeof(v))
        ctx->ev_signaled = 0;
    }
  }
  ctx->evcount--;
  e->next = NULL;
  return &e->ev;
}

EXOSIP_API void eXosip_event_free(eXosip_event_t *je)
{
  if (je == NULL)
    return;
  if (je->request != NULL)
    osip_message_free(je->request);
  if (je->response != NULL)
    osip_message_free(je->response);
  if (je->ack != NULL)
    osip_message_free(je->ack);
  free((struct ex_event *) je);
}

/* Milliseconds left until the deadline, rounded up; 0 once it has passed. */
static int ms_until(const struct timespec *deadline)
{
  struct timespec now;
  long long ns;
  clock_gettime(CLOCK_MONOTONIC, &now);
  ns = (long long) (deadline->tv_sec - now.tv_sec) * 1000000000LL + (deadline->tv_nsec - now.tv_nsec);
  if (ns <= 0)
    return 0;
  if (ns > 3600LL * 1000000000LL)
    return 3600 * 1000;
  return (int) ((ns + 999999LL) / 1000000LL);
}

/* Run one round of the I/O loop on this thread (see setup_api.c, "Who waits on the sockets").
 * Called and returns with evlock held. */
static void lead(struct eXosip_t *ctx, int max_ms)
{
  ctx->io_leader = EX_LEAD_PROGRAM;
  ctx->io_epoch++;
  pthread_mutex_unlock(&ctx->evlock);
  ex_io_round(ctx, max_ms);
  pthread_mutex_lock(&ctx->evlock);
  ctx->io_leader = 0;
  if (ctx->stopping)
    pthread_cond_broadcast(&ctx->io_cond); /* eXosip_quit waits for this round to end */
  else if (ctx->ev_waiters > 0)
    pthread_cond_signal(&ctx->evcond); /* another waiter leads while this one hands its event back */
}

static eXosip_event_t *wait_for(struct eXosip_t *ctx, const struct timespec *deadline)
{
  eXosip_event_t *je = NULL;
  int wakeups;

  if (ctx == NULL || !ctx->initialized)
    return NULL;
  pthread_mutex_lock(&ctx->evlock);
  wakeups = ctx->wakeups;
  for (;;) {
    je = pop_locked(ctx);
    if (je != NULL || ctx->stopping || ctx->wakeups != wakeups)
      break;
    if (ctx->io_leader == 0 && ctx->thread_started) {
      int ms = deadline != NULL ? ms_until(deadline) : -1;
      if (ms == 0)
        break; /* timed out */
      lead(ctx, ms);
      continue;
    }
    if (ctx->io_leader == EX_LEAD_IO && !ctx->io_yield_asked) {
      /* the I/O thread waits on the sockets (the program was away): it hands the lead over
       * once its round ends, and this makes that now */
      ctx->io_yield_asked = 1;
      ex_io_kick(ctx);
    }
    ctx->ev_waiters++;
    if (deadline == NULL) {
      pthread_cond_wait(&ctx->evcond, &ctx->evlock);
    } else if (pthread_cond_timedwait(&ctx->evcond, &ctx->evlock, deadline) == ETIMEDOUT) {
      ctx->ev_waiters--;
      je = pop_locked(ctx);
      break;
    }
    ctx->ev_waiters--;
  }
  pthread_mutex_unlock(&ctx->evlock);
  return je;
}

EXOSIP_API eXosip_event_t *eXosip_event_wait(struct eXosip_t *excontext, int tv_s, int tv_ms)
{
  struct timespec ts;
  long long ns;

  if (tv_s < 0)
    tv_s = 0;
  if (tv_ms < 0)
    tv_ms = 0;
  if (tv_s == 0 && tv_ms == 0) {
    /* a poll: the queue's head or nothing, without a timed wait on the condition (a futex call
     * that returns at once, about 20 us with the binding's GIL round trip around it) */
    eXosip_event_t *je = NULL;
    if (excontext == NULL || !excontext->initialized)
      return NULL;
    pthread_mutex_lock(&excontext->evlock);
    je = pop_locked(excontext);
    pthread_mutex_unlock(&excontext->evlock);
    return je;
  }
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ns = (long long) ts.tv_nsec + (long long) tv_ms * 1000000LL;
  ts.tv_sec += tv_s + (time_t) (ns / 1000000000LL);
  ts.tv_nsec = (long) (ns % 1000000000LL);
  return wait_for(excontext, &ts);
}

EXOSIP_API eXosip_event_t *eXosip_event_get(struct eXosip_t *excontext)
{
  return wait_for(excontext, NULL);
}

EXOSIP_API int eXosip_event_geteventsocket(struct eXosip_t *excontext)
{
  if (excontext == NULL || !excontext->initialized)
    return OSIP_BADPARAMETER;
  pthread_mutex_lock(&excontext->evlock);
  if (!excontext->ev_fd_wanted) {
    excontext->ev_fd_wanted = 1;
    if (excontext->evhead != NULL && !excontext->ev_signaled)
      signal_fd_locked(excontext); /* what was queued before anyone watched */
  }
  pthread_mutex_unlock(&excontext->evlock);
  return excontext->ev_fd;
}

EXOSIP_API void eXosip_wakeup_event(struct eXosip_t *excontext)
{
  if (excontext == NULL || !excontext->initialized)
    return;
  pthread_mutex_lock(&excontext->evlock);
  excontext->wakeups++;
  pthread_cond_broadcast(&excontext->evcond);
  if (excontext->io_leader == EX_LEAD_PROGRAM)
    ex_io_kick(excontext); /* the waiter that is waiting on the sockets */
  pthread_mutex_unlock(&excontext->evlock);
}

void ex_event_queue_destroy(struct eXosip_t *ctx)
{
  eXosip_event_t *je;
  pthread_mutex_lock(&ctx->evlock);
  while ((je = pop_locked(ctx)) != NULL)
    eXosip_event_free(je);
  pthread_mutex_unlock(&ctx->evlock);
}
