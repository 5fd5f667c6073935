/* C worker of the chaos test: threads that randomly read, write, try, time
 * out and downgrade on the shared locks through the C ABI, checking the
 * invariants of cs.c inside every critical section, until the supervisor
 * sets the stop word or kills the process. When the supervisor asks, one
 * thread execs sleep(1) while it holds: the lock must treat it as dead.
 *   chaos_cworker MEMFILE SLOTBASE NTHREADS SEED LOCKNAME...   */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chaosmem.h"
#include "cs.h"
#include "prwlock.h"

static void *mem;
static int nlocks;
static prw_lock *locks[CM_MAX_LOCKS];

struct thr {
  pthread_t t;
  int slot;
  uint64_t rng;
};

static uint64_t next(uint64_t *s) { /* xorshift64* */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ULL;
}

/* timeout_for picks a blocking, timed or try acquire. */
static int64_t timeout_for(uint64_t *r) {
  switch (next(r) % 4) {
  case 0: return -1;
  case 1: return 0;
  default: return (int64_t)(1 + next(r) % 50) * 1000000; /* 1..50 ms */
  }
}

/* exec_sleeper replaces the whole process, holds and all, by a program
 * that knows nothing of the lock. */
static void exec_sleeper(int ms) {
  char arg[32];
  snprintf(arg, sizeof arg, "%d.%03d", ms / 1000, ms % 1000);
  execlp("sleep", "sleep", arg, (char *)NULL);
  perror("chaos_cworker: exec sleep");
  _exit(3);
}

static void *run(void *arg) {
  struct thr *t = arg;
  void *m = mem;
  int slot = t->slot;
  cs_hello(m, slot);
  while (!cs_stop(m)) {
    int k = (int)(next(&t->rng) % (uint64_t)nlocks);
    int op = (int)(next(&t->rng) % 100);
    int write = op >= 45, down = op >= 85;
    int64_t to = timeout_for(&t->rng);
    int spin = (int)(next(&t->rng) % 200);
    int64_t start = cs_wait_begin(m, slot, k, write);
    int rc = write ? prw_acquire_write(locks[k], to) : prw_acquire_read(locks[k], to);
    int outcome = rc == 0 ? 0 : rc == EOWNERDEAD ? 1 : (rc == EBUSY || rc == ETIMEDOUT) ? 2 : 3;
    cs_wait_end(m, slot, start, outcome, rc);
    if (outcome == 3) {
      fprintf(stderr, "chaos: C worker %d: acquire: %s\n", (int)getpid(), prw_strerror(rc));
      continue;
    }
    if (outcome == 2) continue;
    int told = outcome == 1;
    if (write) {
      cs_write(m, slot, k, told, next(&t->rng) | 1, spin);
      if (down) {
        cs_downgrading(m, slot, k);
        int d = prw_downgrade(locks[k]);
        cs_downgraded(m, slot, d == 0);
        if (d == 0) cs_read(m, slot, k, 0, spin);
        else fprintf(stderr, "chaos: C worker: downgrade: %s\n", prw_strerror(d));
      }
    } else {
      cs_read(m, slot, k, told, spin);
    }
    int ms = cs_exec_due(m, slot);
    if (ms) exec_sleeper(ms);
    if (next(&t->rng) % 200 == 0) { /* now and then hold long enough to queue others */
      struct timespec ts = {0, 1000000};
      nanosleep(&ts, NULL);
    }
    cs_leave(m, slot);
    cs_released(m, slot, prw_release(locks[k]));
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s MEMFILE SLOTBASE NTHREADS SEED LOCKNAME...\n", argv[0]);
    return 2;
  }
  mem = cs_map(argv[1]);
  if (!mem) {
    perror("chaos_cworker: map");
    return 2;
  }
  int base = atoi(argv[2]), n = atoi(argv[3]);
  uint64_t seed = strtoull(argv[4], NULL, 10);
  nlocks = argc - 5;
  if (nlocks > CM_MAX_LOCKS || n < 1 || n > 64) {
    fprintf(stderr, "chaos_cworker: %d locks, %d threads: out of range\n", nlocks, n);
    return 2;
  }
  for (int i = 0; i < nlocks; i++) {
    int rc = prw_open(argv[5 + i], 0, 0, &locks[i]);
    if (rc) {
      fprintf(stderr, "chaos_cworker: open %s: %s\n", argv[5 + i], prw_strerror(rc));
      return 2;
    }
  }
  struct thr th[64];
  for (int i = 0; i < n; i++) {
    th[i].slot = base + i;
    th[i].rng = seed * 0x9E3779B97F4A7C15ULL + (uint64_t)i * 7919 + 1;
    int rc = pthread_create(&th[i].t, NULL, run, &th[i]);
    if (rc) {
      fprintf(stderr, "chaos_cworker: pthread_create: %s\n", strerror(rc));
      return 2;
    }
  }
  for (int i = 0; i < n; i++) pthread_join(th[i].t, NULL);
  for (int i = 0; i < nlocks; i++) prw_close(locks[i]);
  return 0;
}
