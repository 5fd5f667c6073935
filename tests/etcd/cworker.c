/* The C worker of the cross-language etcd tests (tests/etcd/test_etcd.py).
 *
 *   cworker hammer URL SHM SLOT SECONDS   see tests/etcd/pyworker.py
 *   cworker api URL                       checks prw_fence and friends on a
 *                                         remote lock; prints "api ok"
 *   cworker hold URL                      takes write, prints "held FENCE",
 *                                         then on each stdin line prints
 *                                         "fence RC FENCE"
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "prwlock.h"

#define SLOT_WORDS 8
#define N_SLOTS 64
enum { W_STATE, W_OPS, W_VIOL, W_ERRORS, W_LOST };

static int64_t *mem;
static int slot;

static int64_t *word(int s, int w) { return &mem[s * SLOT_WORDS + w]; }

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int conflict(int write) {
  for (int s = 0; s < N_SLOTS; s++) {
    if (s == slot) continue;
    int64_t st = __atomic_load_n(word(s, W_STATE), __ATOMIC_SEQ_CST);
    if (st == 2 || (write && st != 0)) return 1;
  }
  return 0;
}

#define CHECK(cond)                                                    \
  do {                                                                 \
    if (!(cond)) {                                                     \
      fprintf(stderr, "cworker: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      return 1;                                                        \
    }                                                                  \
  } while (0)

static void *hold_and_exit(void *l) {
  return (void *)(intptr_t)prw_acquire_write((prw_lock *)l, 5000000000LL);
}

static int api(const char *url) {
  prw_lock *l, *local;
  uint64_t f = 0, g = 0;
  CHECK(prw_open(url, 0, 0, &l) == 0);
  CHECK(prw_fence(l, &f) == EPERM);
  CHECK(prw_fence(l, NULL) == EINVAL);
  CHECK(prw_acquire_write(l, 5000000000LL) == 0);
  CHECK(prw_fence(l, &f) == 0 && f > 0);
  CHECK(prw_try_acquire_read(l) == EDEADLK);
  CHECK(prw_downgrade(l) == 0);
  CHECK(prw_fence(l, &g) == 0 && g == f);
  CHECK(prw_acquire_read(l, 0) == 0); /* recursive */
  CHECK(prw_release(l) == 0 && prw_release(l) == 0);
  CHECK(prw_release(l) == EPERM);
  CHECK(prw_acquire_write(l, 0) == 0);
  CHECK(prw_fence(l, &g) == 0 && g > f);
  prw_holder_t h[4];
  size_t n = 0;
  CHECK(prw_holders(l, h, 4, &n) == 0 && n == 1 && h[0].pid == (uint32_t)getpid() && h[0].mode == PRW_MODE_WRITE);
  prw_info_t info;
  CHECK(prw_info(l, &info) == 0 && info.writer_active == 1 && info.attached >= 1 && info.capacity == 0);
  uint32_t cap = 1;
  CHECK(prw_capacity(l, &cap) == 0 && cap == 0);
  char tok[4096];
  size_t len = sizeof tok;
  CHECK(prw_serialize(l, tok, &len) == 0 && strncmp(tok, "etcd://", 7) == 0);
  CHECK(prw_release(l) == 0);
  prw_lock *l2;
  CHECK(prw_deserialize(tok, &l2) == 0);
  CHECK(prw_try_acquire_write(l2) == 0 && prw_release(l2) == 0 && prw_close(l2) == 0);
  CHECK(prw_close(l) == 0);
  /* A thread that exits holding write ends its hold as if it died, at the
   * process's next call: the next writer is told EOWNERDEAD. */
  CHECK(prw_open(url, 0, 0, &l) == 0);
  pthread_t th;
  void *thr_rc;
  CHECK(pthread_create(&th, NULL, hold_and_exit, l) == 0 && pthread_join(th, &thr_rc) == 0 && thr_rc == NULL);
  CHECK(prw_acquire_write(l, 5000000000LL) == EOWNERDEAD);
  CHECK(prw_release(l) == 0);
  CHECK(prw_acquire_read(l, 0) == 0 && prw_release(l) == 0 && prw_close(l) == 0);
  /* A local lock has no fence. */
  CHECK(prw_create(&local) == 0);
  CHECK(prw_acquire_read(local, 0) == 0);
  CHECK(prw_fence(local, &f) == ENOTSUP);
  CHECK(prw_release(local) == 0 && prw_close(local) == 0);
  CHECK(strcmp(prw_strerror(ENOTCONN), "lock server unavailable (unreachable, or no quorum)") == 0);
  puts("api ok");
  return 0;
}

static int hold(const char *url) {
  prw_lock *l;
  uint64_t f = 0;
  char line[64];
  CHECK(prw_open(url, 0, 0, &l) == 0);
  int rc = prw_acquire_write(l, -1);
  CHECK(rc == 0 || rc == EOWNERDEAD);
  prw_fence(l, &f);
  printf("held %llu\n", (unsigned long long)f);
  fflush(stdout);
  while (fgets(line, sizeof line, stdin)) {
    f = 0;
    rc = prw_fence(l, &f);
    printf("fence %d %llu\n", rc, (unsigned long long)f);
    fflush(stdout);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "api") == 0) return api(argv[2]);
  if (argc == 3 && strcmp(argv[1], "hold") == 0) return hold(argv[2]);
  if (argc != 6 || strcmp(argv[1], "hammer") != 0) {
    fprintf(stderr, "usage: cworker hammer URL SHM SLOT SECONDS | api URL | hold URL\n");
    return 2;
  }
  int fd = open(argv[3], O_RDWR);
  CHECK(fd >= 0);
  mem = mmap(NULL, 8 * SLOT_WORDS * N_SLOTS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  CHECK(mem != MAP_FAILED);
  slot = atoi(argv[4]);
  double end = now() + atof(argv[5]);
  prw_lock *l;
  int rc = prw_open(argv[2], 0, 0, &l);
  if (rc) {
    fprintf(stderr, "cworker: prw_open: %s\n", prw_strerror(rc));
    return 1;
  }
  srand(getpid());
  while (now() < end) {
    int write = rand() % 3 == 0;
    rc = write ? prw_acquire_write(l, 10000000000LL) : prw_acquire_read(l, 10000000000LL);
    if (rc != 0 && rc != EOWNERDEAD) {
      __atomic_add_fetch(word(slot, W_ERRORS), 1, __ATOMIC_SEQ_CST);
      continue;
    }
    __atomic_store_n(word(slot, W_STATE), write ? 2 : 1, __ATOMIC_SEQ_CST);
    int bad = conflict(write);
    usleep(1000);
    bad = bad || conflict(write);
    __atomic_store_n(word(slot, W_STATE), 0, __ATOMIC_SEQ_CST);
    uint64_t f;
    if (prw_fence(l, &f) != 0)
      __atomic_add_fetch(word(slot, W_LOST), 1, __ATOMIC_SEQ_CST);
    else if (bad)
      __atomic_add_fetch(word(slot, W_VIOL), 1, __ATOMIC_SEQ_CST);
    prw_release(l);
    __atomic_add_fetch(word(slot, W_OPS), 1, __ATOMIC_SEQ_CST);
  }
  prw_close(l);
  return 0;
}
