/* crosslang: C processes (through libprwlock.so) and Go processes (package
 * lock directly, tests/c/gohelper) take one named lock together; each checks
 * the invariant inside its critical section, and the unprotected counter
 * that every write increments must not lose an update.
 * Usage: crosslang PATH_TO_gohelper */
#include "testutil.h"

#include <sys/mman.h>

struct shared {      /* mirrored by gohelper's shared */
  int32_t writer;    /* pid of the writer inside, 0 if none */
  int32_t readers;   /* readers inside */
  int64_t counter;   /* incremented by every write, without atomics */
  int32_t last_lang; /* language of the last writer: 1 C, 2 Go */
  int32_t switches;  /* writes whose last writer was the other language */
};

#define ITERS 20000
#define WORKERS 2 /* of each language */

static int worker(const char *name, const char *shm, int iters) {
  prw_lock *l;
  int fd = open(shm, O_RDWR);
  struct shared *sh = fd < 0 ? MAP_FAILED
      : mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (sh == MAP_FAILED || prw_open(name, 0, 0, &l) != 0) return 1;
  printf("ready\n");
  fflush(stdout);
  int32_t me = (int32_t)getpid(), zero;
  int bad = 0;
  for (int i = 0; i < iters; i++) {
    int write = i % 3 == 0;
    int rc = write ? prw_acquire_write(l, 20000000000LL) : prw_acquire_read(l, 20000000000LL);
    if (rc != 0) {
      fprintf(stderr, "C worker: acquire %d\n", rc);
      bad++;
      continue;
    }
    if (write) {
      zero = 0;
      if (!__atomic_compare_exchange_n(&sh->writer, &zero, me, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) ||
          __atomic_load_n(&sh->readers, __ATOMIC_SEQ_CST) != 0)
        bad++;
      int64_t c = __atomic_load_n(&sh->counter, __ATOMIC_SEQ_CST);
      if (i % 32 == 0) sched_yield();
      __atomic_store_n(&sh->counter, c + 1, __ATOMIC_SEQ_CST);
      if (sh->last_lang == 2) sh->switches++;
      sh->last_lang = 1;
      if (!__atomic_compare_exchange_n(&sh->writer, &me, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        bad++;
    } else {
      __atomic_add_fetch(&sh->readers, 1, __ATOMIC_SEQ_CST);
      if (__atomic_load_n(&sh->writer, __ATOMIC_SEQ_CST) != 0) bad++;
      if (i % 32 == 1) sched_yield();
      __atomic_sub_fetch(&sh->readers, 1, __ATOMIC_SEQ_CST);
    }
    if (prw_release(l) != 0) bad++;
  }
  prw_close(l);
  if (bad) fprintf(stderr, "C worker %d: %d invariant violations\n", (int)me, bad);
  return bad ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "--worker") == 0)
    return worker(argv[2], argv[3], atoi(argv[4]));
  REQUIRE(argc == 2);
  alarm(200);
  char name[128], shm[256], self[4096], iters[16];
  t_name(name, sizeof name, "xlang");
  snprintf(shm, sizeof shm, "%s/prwlock-xlang-%d", t_tmpdir(), (int)getpid());
  snprintf(iters, sizeof iters, "%d", ITERS);
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  REQUIRE(n > 0);
  self[n] = 0;
  int fd = open(shm, O_RDWR | O_CREAT | O_TRUNC, 0600);
  REQUIRE(fd >= 0 && ftruncate(fd, 4096) == 0);
  struct shared *sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  REQUIRE(sh != MAP_FAILED);
  prw_lock *l;
  REQUIRE(prw_open(name, PRW_CREATE | PRW_EXCL, 0, &l) == 0);

  /* Hold the lock for writing so that all workers start together. */
  REQUIRE(prw_acquire_write(l, 0) == 0);
  t_helper w[2 * WORKERS];
  for (int k = 0; k < 2 * WORKERS; k++) {
    char *cargv[] = {self, (char *)"--worker", name, shm, iters, NULL};
    char *gargv[] = {argv[1], name, shm, iters, NULL};
    t_spawn(&w[k], k % 2 ? gargv : cargv);
  }
  for (int k = 0; k < 2 * WORKERS; k++) {
    char line[64] = "";
    REQUIRE(t_line(&w[k], line, sizeof line, 60000) == 0 && strcmp(line, "ready") == 0);
  }
  int64_t t0 = t_now_ns();
  REQUIRE(prw_release(l) == 0);
  for (int k = 0; k < 2 * WORKERS; k++) {
    int st = t_wait(&w[k], 150000);
    if (st != 0) fprintf(stderr, "%s worker %d: status %#x\n", k % 2 ? "Go" : "C", k, st);
    CHECK(st == 0);
  }
  int64_t want = (int64_t)2 * WORKERS * ((ITERS + 2) / 3);
  printf("crosslang: %d C + %d Go processes, %d ops each, %lld writes (want %lld), "
         "%d C<->Go handovers, %.0f ms\n", WORKERS, WORKERS, ITERS, (long long)sh->counter,
         (long long)want, sh->switches, (t_now_ns() - t0) / 1e6);
  CHECK(sh->counter == want);
  CHECK(sh->switches >= 2); /* the languages really took turns */
  prw_info_t i;
  EXPECT_RC(prw_info(l, &i), 0);
  CHECK(i.used_slots == 0 && i.attached == 1 && i.owner_dead == 0);
  EXPECT_RC(prw_close(l), 0);
  EXPECT_RC(prw_unlink(name), 0);
  unlink(shm);
  return t_done("crosslang");
}
