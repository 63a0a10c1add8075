/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flood_sender — garbage UDP datagrams to 127.0.0.1:PORT at a given rate, for a bounded time.
 *
 * flood_sender PORT SECONDS RATE [SEED]
 *
 * Sends batches of 64 with sendmmsg(), paced every millisecond towards RATE datagrams per second
 * (0: as fast as the machine allows), and stops after SECONDS (at most 600). The destination is
 * always 127.0.0.1. Datagrams are a fixed pool of 256: random binary (half), random printable text
 * (a quarter), and text that starts like a SIP request and then turns to junk (a quarter), 20-600
 * bytes each. Prints one JSON line at the end: {"sent": N, "errors": N, "seconds": S, "rate": R}.
 * Compiled by benchmarks/flood.py at run time.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define POOL 256
#define MAXLEN 600

static uint64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static uint32_t next_rand(uint64_t *s)
{
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (uint32_t) (*s >> 33);
}

int main(int argc, char **argv)
{
  static char pool[POOL][MAXLEN];
  static size_t lens[POOL];
  static const char *sip_heads[] = {"INVITE sip:", "OPTIONS sip:", "REGISTER sip:", "SIP/2.0 200 ", "BYE sip:"};
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_in dst, me;
  unsigned long long sent = 0, errors = 0;
  uint64_t seed, start, end;
  double seconds, rate;
  int port, fd, i, k = 0;

  if (argc < 4) {
    fprintf(stderr, "usage: %s PORT SECONDS RATE [SEED]\n", argv[0]);
    return 2;
  }
  port = atoi(argv[1]);
  seconds = atof(argv[2]);
  rate = atof(argv[3]);
  seed = argc > 4 ? strtoull(argv[4], NULL, 10) : 1;
  if (port <= 0 || port > 65535 || seconds <= 0 || seconds > 600 || rate < 0) {
    fprintf(stderr, "flood_sender: bad arguments\n");
    return 2;
  }

  for (i = 0; i < POOL; i++) {
    size_t n = 20 + next_rand(&seed) % (MAXLEN - 20), j = 0;
    int kind = i % 4;
    if (kind == 3) {
      const char *h = sip_heads[next_rand(&seed) % 5];
      j = strlen(h);
      memcpy(pool[i], h, j);
    }
    for (; j < n; j++)
      pool[i][j] = kind < 2 ? (char) next_rand(&seed) : (char) (32 + next_rand(&seed) % 95);
    lens[i] = n;
  }

  fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) {
    perror("socket");
    return 1;
  }
  memset(&me, 0, sizeof(me));
  me.sin_family = AF_INET;
  me.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *) &me, sizeof(me)) != 0) {
    perror("bind");
    return 1;
  }
  memset(&dst, 0, sizeof(dst));
  dst.sin_family = AF_INET;
  dst.sin_port = htons((uint16_t) port);
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  start = now_ns();
  end = start + (uint64_t) (seconds * 1e9);
  for (;;) {
    uint64_t t = now_ns();
    int want = BATCH, n;
    if (t >= end)
      break;
    if (rate > 0) {
      /* how many we should have sent by now */
      double due = (double) (t - start) / 1e9 * rate;
      if ((double) sent + (double) errors >= due) {
        struct timespec nap = {0, 200000}; /* 0.2 ms */
        nanosleep(&nap, NULL);
        continue;
      }
      if (due - (double) (sent + errors) < BATCH)
        want = (int) (due - (double) (sent + errors)) + 1;
    }
    for (i = 0; i < want; i++) {
      int p = k++ % POOL;
      iov[i].iov_base = pool[p];
      iov[i].iov_len = lens[p];
      memset(&msgs[i], 0, sizeof(msgs[i]));
      msgs[i].msg_hdr.msg_name = &dst;
      msgs[i].msg_hdr.msg_namelen = sizeof(dst);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    n = sendmmsg(fd, msgs, (unsigned int) want, 0);
    if (n < 0) {
      errors += (unsigned long long) want;
      if (errno == ENOBUFS || errno == EAGAIN) {
        struct timespec nap = {0, 100000};
        nanosleep(&nap, NULL);
      }
      continue;
    }
    sent += (unsigned long long) n;
    if (n < want)
      errors += (unsigned long long) (want - n);
  }
  {
    double took = (double) (now_ns() - start) / 1e9;
    printf("{\"sent\": %llu, \"errors\": %llu, \"seconds\": %.3f, \"rate\": %.0f}\n", sent, errors, took,
           took > 0 ? (double) sent / took : 0.0);
  }
  close(fd);
  return 0;
}
