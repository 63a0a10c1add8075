/*
 * The kernel's CSPRNG for core/'s tokens and DNS ids, reached through the system call itself rather
 * than glibc's getrandom() wrapper: that wrapper (and <sys/random.h>) exist only since glibc 2.25,
 * while the wheels are built for glibc 2.17 (manylinux2014) and for musl. The call is in every
 * Linux kernel since 3.17; on an older kernel (ENOSYS) the bytes come from /dev/urandom.
 * Header-only, so dns_wire.c still builds on its own (its musl test compiles it alone).
 */
#ifndef EXOSIP_CORE_OSRANDOM_H
#define EXOSIP_CORE_OSRANDOM_H

#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef SYS_getrandom
#if defined(__x86_64__)
#define SYS_getrandom 318
#elif defined(__aarch64__)
#define SYS_getrandom 278
#elif defined(__i386__)
#define SYS_getrandom 355
#endif
#endif

/* Up to n random bytes into p: the count read (as read(2) would), or -1 with errno set. */
static inline ssize_t ex_os_random(void *p, size_t n)
{
  ssize_t got = -1;
#ifdef SYS_getrandom
  do {
    got = (ssize_t) syscall(SYS_getrandom, p, n, 0);
  } while (got < 0 && errno == EINTR);
  if (got >= 0 || errno != ENOSYS)
    return got;
#endif
  {
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return -1;
    do {
      got = read(fd, p, n);
    } while (got < 0 && errno == EINTR);
    close(fd);
  }
  return got;
}

#endif
