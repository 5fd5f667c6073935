/* test_owners: explicit owners (the prw_*_as calls). Holds that belong to a
 * value, not a thread: handed between threads, released from another one,
 * kept when the acquiring thread exits, recovered when the process dies,
 * ended by close, not inherited by a fork child; the per-owner rules
 * (EDEADLK, EPERM, recursion, EINVAL for owner 0); mixing with per-thread
 * holds; one owner used by two threads at once. */
#include "testutil.h"

static prw_lock *L;

static int lock_free_for_write(prw_lock *l) {
  int rc = prw_try_acquire_write(l);
  if (rc == 0 || rc == EOWNERDEAD) prw_release(l);
  return rc == 0 || rc == EOWNERDEAD;
}

static void test_rules(void) {
  /* owner 0 and NULL handles. */
  EXPECT_RC(prw_acquire_read_as(L, 0, 0), EINVAL);
  EXPECT_RC(prw_acquire_write_as(L, 0, -1), EINVAL);
  EXPECT_RC(prw_try_acquire_read_as(L, 0), EINVAL);
  EXPECT_RC(prw_try_acquire_write_as(L, 0), EINVAL);
  EXPECT_RC(prw_acquire_slice_as(L, 0, PRW_MODE_READ, -1, t_now_ns() + 1000000), EINVAL);
  EXPECT_RC(prw_release_as(L, 0), EINVAL);
  EXPECT_RC(prw_release_unrepaired_as(L, 0), EINVAL);
  EXPECT_RC(prw_downgrade_as(L, 0), EINVAL);
  EXPECT_RC(prw_cancel_as(L, 0), EINVAL);
  EXPECT_RC(prw_acquire_read_as(NULL, 1, 0), EINVAL);
  EXPECT_RC(prw_release_as(NULL, 1), EINVAL);
  EXPECT_RC(prw_acquire_read_as((prw_lock *)0x1234, 1, 0), EBADF);
  EXPECT_RC(prw_acquire_slice_as(L, 1, 3, -1, t_now_ns() + 1000000), EINVAL);
  EXPECT_RC(prw_acquire_slice_as(L, 1, PRW_MODE_READ, -1, 0), EINVAL);

  /* Nothing held: EPERM. */
  EXPECT_RC(prw_release_as(L, 1), EPERM);
  EXPECT_RC(prw_downgrade_as(L, 1), EPERM);
  EXPECT_RC(prw_cancel_as(L, 1), EPERM);

  /* Per owner: EDEADLK, recursion, other owners contend. Values with high
   * bits set are owners like any other. */
  const uint64_t a = 1, b = UINT64_C(0xffffffff00000001), c = UINT64_MAX;
  EXPECT_RC(prw_acquire_write_as(L, a, -1), 0);
  EXPECT_RC(prw_acquire_write_as(L, a, -1), EDEADLK);
  EXPECT_RC(prw_acquire_read_as(L, a, -1), EDEADLK);
  EXPECT_RC(prw_try_acquire_read_as(L, b), EBUSY);
  EXPECT_RC(prw_acquire_write_as(L, c, 20000000), ETIMEDOUT);
  /* The calling thread is not the holder: it contends like any other. */
  EXPECT_RC(prw_try_acquire_read(L), EBUSY);
  EXPECT_RC(prw_release(L), EPERM);
  EXPECT_RC(prw_downgrade_as(L, a), 0);
  EXPECT_RC(prw_downgrade_as(L, a), EPERM);
  EXPECT_RC(prw_acquire_read_as(L, a, 0), 0); /* recursive read */
  EXPECT_RC(prw_acquire_read_as(L, b, 0), 0);
  EXPECT_RC(prw_acquire_read_as(L, c, 0), 0);
  EXPECT_RC(prw_try_acquire_write_as(L, b), EDEADLK);
  prw_info_t i;
  EXPECT_RC(prw_info(L, &i), 0);
  CHECK(i.readers == 3);
  /* Holders show the owner's low 32 bits as tid. */
  prw_holder_t hs[8];
  size_t n = 0;
  EXPECT_RC(prw_holders(L, hs, 8, &n), 0);
  int low1 = 0, lowmax = 0; /* a and b share their low 32 bits; c's are all ones */
  for (size_t k = 0; k < n; k++) {
    low1 += hs[k].tid == 1 && hs[k].mode == PRW_MODE_READ;
    lowmax += hs[k].tid == UINT32_MAX && hs[k].mode == PRW_MODE_READ;
  }
  CHECK(n == 3 && low1 == 2 && lowmax == 1);
  EXPECT_RC(prw_release_as(L, a), 0);
  EXPECT_RC(prw_release_as(L, a), 0);
  EXPECT_RC(prw_release_as(L, a), EPERM);
  EXPECT_RC(prw_release_as(L, b), 0);
  EXPECT_RC(prw_release_as(L, c), 0);
  CHECK(lock_free_for_write(L));

  /* Mixing: a per-thread hold is not the owner's, even when the owner's
   * value equals the thread's id, and vice versa. */
  uint64_t tid = t_gettid();
  EXPECT_RC(prw_acquire_read(L, -1), 0);
  EXPECT_RC(prw_release_as(L, tid), EPERM);
  EXPECT_RC(prw_downgrade_as(L, tid), EPERM);
  EXPECT_RC(prw_acquire_read_as(L, tid, 0), 0); /* a second, distinct reader */
  EXPECT_RC(prw_info(L, &i), 0);
  CHECK(i.readers == 2);
  EXPECT_RC(prw_release(L), 0);
  EXPECT_RC(prw_release(L), EPERM); /* the owner's read is not the thread's */
  EXPECT_RC(prw_release_as(L, tid), 0);
  EXPECT_RC(prw_acquire_write_as(L, 9, -1), 0);
  EXPECT_RC(prw_release(L), EPERM);
  EXPECT_RC(prw_downgrade(L), EPERM);
  EXPECT_RC(prw_release_as(L, 9), 0);
  CHECK(lock_free_for_write(L));

  /* Slices: a queued wait belongs to the owner too. */
  EXPECT_RC(prw_acquire_read_as(L, 20, 0), 0);
  EXPECT_RC(prw_acquire_slice_as(L, 21, PRW_MODE_WRITE, -1, t_now_ns() + 10000000), EINTR);
  EXPECT_RC(prw_try_acquire_read_as(L, 22), EBUSY); /* the queued writer keeps readers out */
  EXPECT_RC(prw_cancel_as(L, 21), 0);
  EXPECT_RC(prw_cancel_as(L, 21), EPERM);
  EXPECT_RC(prw_acquire_read_as(L, 22, 0), 0);
  EXPECT_RC(prw_release_as(L, 22), 0);
  EXPECT_RC(prw_release_as(L, 20), 0);
  CHECK(lock_free_for_write(L));
}

/* A hold taken on one thread is released by another; the per-thread call
 * would misattribute it. */
typedef struct {
  uint64_t owner;
  int write, rc;
} job_t;

static void *acquire_job(void *p) {
  job_t *j = p;
  j->rc = j->write ? prw_acquire_write_as(L, j->owner, -1) : prw_acquire_read_as(L, j->owner, -1);
  return NULL;
}

static void *acquire_per_thread(void *p) {
  job_t *j = p;
  j->rc = prw_acquire_write(L, -1);
  return NULL; /* exits holding: its hold ends at the next call */
}

static void test_handoff(void) {
  pthread_t th;
  job_t j = {77, 1, -1};
  REQUIRE(pthread_create(&th, NULL, acquire_job, &j) == 0);
  pthread_join(th, NULL); /* the acquiring thread is gone */
  EXPECT_RC(j.rc, 0);
  EXPECT_RC(prw_try_acquire_read(L), EBUSY); /* the owner still holds */
  EXPECT_RC(prw_try_acquire_read(L), EBUSY);
  EXPECT_RC(prw_release_as(L, 77), 0); /* released by another thread */
  CHECK(lock_free_for_write(L));

  /* The per-thread call cannot do this: the releasing thread holds
   * nothing (EPERM), and the hold dies with its thread. */
  j.rc = -1;
  REQUIRE(pthread_create(&th, NULL, acquire_per_thread, &j) == 0);
  pthread_join(th, NULL);
  EXPECT_RC(j.rc, 0);
  EXPECT_RC(prw_release(L), EPERM);
  int rc = prw_acquire_write(L, 5000000000LL);
  CHECK(rc == EOWNERDEAD); /* the exited thread's write hold ended as dead */
  EXPECT_RC(prw_release(L), 0);
  CHECK(lock_free_for_write(L));
}

/* One owner used by two threads at once: the second call gets EBUSY and
 * changes nothing. */
static void test_concurrent_owner(void) {
  EXPECT_RC(prw_acquire_write_as(L, 1000, -1), 0);
  pthread_t th;
  job_t j = {1001, 1, -1};
  REQUIRE(pthread_create(&th, NULL, acquire_job, &j) == 0);
  /* Wait until 1001 waits (its slot is queued). */
  prw_info_t i;
  CHECK(t_until(prw_info(L, &i) == 0 && i.waiting_writers == 1, 5000));
  EXPECT_RC(prw_release_as(L, 1001), EBUSY);
  EXPECT_RC(prw_try_acquire_read_as(L, 1001), EBUSY);
  EXPECT_RC(prw_cancel_as(L, 1001), EBUSY);
  EXPECT_RC(prw_release_as(L, 1000), 0);
  pthread_join(th, NULL);
  EXPECT_RC(j.rc, 0);
  EXPECT_RC(prw_release_as(L, 1001), 0);
  CHECK(lock_free_for_write(L));
}

/* Two threads hammer one owner with acquires and releases: every answer
 * is a legal one, and at the end the owner's holds, released until EPERM,
 * leave the lock free. */
static volatile int race_stop;
static int race_bad;

static void *race_owner(void *p) {
  (void)p;
  unsigned seed = t_gettid();
  while (!__atomic_load_n(&race_stop, __ATOMIC_RELAXED)) {
    int rc;
    switch (rand_r(&seed) % 4) {
    case 0: rc = prw_try_acquire_read_as(L, 4242); break;
    case 1: rc = prw_try_acquire_write_as(L, 4242); break;
    case 2: rc = prw_downgrade_as(L, 4242); break;
    default: rc = prw_release_as(L, 4242); break;
    }
    if (rc != 0 && rc != EBUSY && rc != EDEADLK && rc != EPERM) __atomic_add_fetch(&race_bad, 1, __ATOMIC_RELAXED);
  }
  return NULL;
}

static void test_owner_race(void) {
  pthread_t th[3];
  for (int k = 0; k < 3; k++) REQUIRE(pthread_create(&th[k], NULL, race_owner, NULL) == 0);
  t_sleep_ms(300);
  __atomic_store_n(&race_stop, 1, __ATOMIC_RELAXED);
  for (int k = 0; k < 3; k++) pthread_join(th[k], NULL);
  CHECK(race_bad == 0);
  int k = 0;
  while (prw_release_as(L, 4242) == 0 && k < 1000000) k++;
  EXPECT_RC(prw_release_as(L, 4242), EPERM);
  CHECK(lock_free_for_write(L));
  prw_info_t i;
  EXPECT_RC(prw_info(L, &i), 0);
  CHECK(i.used_slots == 0 && i.readers == 0 && !i.owner_dead);
}

/* The hammer: acquirer threads take the lock for an owner and pass the
 * held owner to releaser threads, which check the invariant (the hold is
 * still in force on another thread) and release it. */
#define OWNERS 24
#define ACQUIRERS 4
#define RELEASERS 3
#define ROUNDS 20000

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t todo[OWNERS], held[OWNERS];
  int ntodo, nheld, started, done;
} q = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static int activity; /* readers add 1, a writer 1000 */
static int violations, op_errors;
static int crossed;  /* releases made by a thread other than the acquirer */

/* take_todo returns the next owner to acquire for, or 0 once every round
 * has started. */
static uint64_t take_todo(void) {
  pthread_mutex_lock(&q.mu);
  while (q.ntodo == 0 && q.started < ROUNDS) pthread_cond_wait(&q.cv, &q.mu);
  uint64_t v = 0;
  if (q.started < ROUNDS) {
    q.started++;
    v = q.todo[--q.ntodo];
  }
  pthread_mutex_unlock(&q.mu);
  return v;
}

/* take_held returns a held owner to release, or 0 once every round is done. */
static uint64_t take_held(void) {
  pthread_mutex_lock(&q.mu);
  while (q.nheld == 0 && q.done < ROUNDS) pthread_cond_wait(&q.cv, &q.mu);
  uint64_t v = q.nheld > 0 ? q.held[--q.nheld] : 0;
  pthread_mutex_unlock(&q.mu);
  return v;
}

static void put(int held, uint64_t v) {
  pthread_mutex_lock(&q.mu);
  if (held) {
    q.held[q.nheld++] = v;
  } else {
    q.todo[q.ntodo++] = v;
    q.done++;
  }
  pthread_cond_broadcast(&q.cv);
  pthread_mutex_unlock(&q.mu);
}

static int in_range(int v, int write) { return write ? v == 1000 : v >= 1 && v < 1000; }

/* An owner's value: bit 0 the mode (1: write), bits 1..15 which of the
 * OWNERS, bits 16..31 its round, bits 32..63 the acquiring thread's id; so
 * values are never reused while held, and a releaser knows the mode. */
static void *acquirer(void *p) {
  (void)p;
  unsigned seed = t_gettid();
  uint64_t base;
  while ((base = take_todo()) != 0) {
    int write = rand_r(&seed) % 4 == 0;
    uint64_t o = base | (uint64_t)t_gettid() << 32 | (uint64_t)write;
    int rc = write ? prw_acquire_write_as(L, o, -1) : prw_acquire_read_as(L, o, -1);
    if (rc != 0) {
      __atomic_add_fetch(&op_errors, 1, __ATOMIC_SEQ_CST);
      fprintf(stderr, "acquire: %s\n", prw_strerror(rc));
      put(0, base);
      continue;
    }
    int v = __atomic_add_fetch(&activity, write ? 1000 : 1, __ATOMIC_SEQ_CST);
    if (!in_range(v, write)) __atomic_add_fetch(&violations, 1, __ATOMIC_SEQ_CST);
    put(1, o);
  }
  return NULL;
}

static void *releaser(void *p) {
  (void)p;
  uint64_t o;
  while ((o = take_held()) != 0) {
    int write = (int)(o & 1);
    /* Still inside: the hold is in force on this thread too. */
    if (!in_range(__atomic_load_n(&activity, __ATOMIC_SEQ_CST), write))
      __atomic_add_fetch(&violations, 1, __ATOMIC_SEQ_CST);
    sched_yield();
    if (!in_range(__atomic_load_n(&activity, __ATOMIC_SEQ_CST), write))
      __atomic_add_fetch(&violations, 1, __ATOMIC_SEQ_CST);
    __atomic_sub_fetch(&activity, write ? 1000 : 1, __ATOMIC_SEQ_CST);
    if ((uint32_t)(o >> 32) != t_gettid()) __atomic_add_fetch(&crossed, 1, __ATOMIC_SEQ_CST);
    int rc = prw_release_as(L, o);
    if (rc != 0) {
      __atomic_add_fetch(&op_errors, 1, __ATOMIC_SEQ_CST);
      fprintf(stderr, "release: %s\n", prw_strerror(rc));
    }
    put(0, ((o & 0xfffffffeu) + 0x10000) & 0xfffffffeu); /* the owner's next round */
  }
  return NULL;
}

static void test_hammer(void) {
  for (int k = 0; k < OWNERS; k++) q.todo[q.ntodo++] = (uint64_t)(k + 1) << 1;
  pthread_t a[ACQUIRERS], r[RELEASERS];
  int64_t t0 = t_now_ns();
  for (int k = 0; k < ACQUIRERS; k++) REQUIRE(pthread_create(&a[k], NULL, acquirer, NULL) == 0);
  for (int k = 0; k < RELEASERS; k++) REQUIRE(pthread_create(&r[k], NULL, releaser, NULL) == 0);
  for (int k = 0; k < ACQUIRERS; k++) pthread_join(a[k], NULL);
  for (int k = 0; k < RELEASERS; k++) pthread_join(r[k], NULL);
  printf("hammer: %d rounds, %d released on another thread, %.0f ms\n", ROUNDS, crossed,
         (double)(t_now_ns() - t0) / 1e6);
  CHECK(violations == 0);
  CHECK(op_errors == 0);
  CHECK(crossed == ROUNDS); /* the acquirers never release */
  CHECK(activity == 0);
  CHECK(lock_free_for_write(L));
}

/* Close ends the owners' holds: read quietly, write as owner-dead; a
 * handle closed while another on the file stays open ends nothing. */
static void test_close(void) {
  char name[128];
  prw_lock *a, *b;
  t_name(name, sizeof name, "owclose");
  REQUIRE(prw_open(name, PRW_CREATE, 0600, &a) == 0);
  REQUIRE(prw_open(name, 0, 0, &b) == 0);
  EXPECT_RC(prw_acquire_write_as(a, 5, -1), 0);
  EXPECT_RC(prw_close(a), 0); /* b still open: the hold stays */
  EXPECT_RC(prw_try_acquire_read_as(b, 6), EBUSY);
  EXPECT_RC(prw_release_as(b, 5), 0); /* records are per file, not per handle */
  EXPECT_RC(prw_acquire_write_as(b, 5, -1), 0);
  EXPECT_RC(prw_acquire_slice_as(b, 8, PRW_MODE_READ, -1, t_now_ns() + 1000000), EINTR);
  EXPECT_RC(prw_close(b), 0); /* the last: the write hold ends as dead */
  REQUIRE(prw_open(name, 0, 0, &a) == 0);
  EXPECT_RC(prw_release_as(a, 5), EPERM);
  EXPECT_RC(prw_cancel_as(a, 8), EPERM);
  prw_info_t i;
  EXPECT_RC(prw_info(a, &i), 0);
  CHECK(i.used_slots == 0 && i.owner_dead == 1);
  EXPECT_RC(prw_try_acquire_write_as(a, 5), EOWNERDEAD);
  EXPECT_RC(prw_release_as(a, 5), 0);
  EXPECT_RC(prw_acquire_read_as(a, 5, -1), 0);
  EXPECT_RC(prw_close(a), 0); /* a read hold ends quietly */
  REQUIRE(prw_open(name, 0, 0, &a) == 0);
  EXPECT_RC(prw_try_acquire_write(a), 0);
  EXPECT_RC(prw_release(a), 0);
  EXPECT_RC(prw_close(a), 0);
  EXPECT_RC(prw_unlink(name), 0);
}

/* A waiter of an owner is woken with EBADF when the last handle closes. */
static void *wait_on(void *p) {
  job_t *j = p;
  j->rc = prw_acquire_write_as(L, j->owner, -1);
  return NULL;
}

static void test_close_wakes(void) {
  char name[128];
  prw_lock *a, *saved = L;
  t_name(name, sizeof name, "owwake");
  REQUIRE(prw_open(name, PRW_CREATE, 0600, &a) == 0);
  L = a;
  EXPECT_RC(prw_acquire_read_as(a, 1, -1), 0);
  pthread_t th;
  job_t j = {2, 1, -1};
  REQUIRE(pthread_create(&th, NULL, wait_on, &j) == 0);
  prw_info_t i;
  CHECK(t_until(prw_info(a, &i) == 0 && i.waiting_writers == 1, 5000));
  EXPECT_RC(prw_close(a), 0);
  pthread_join(th, NULL);
  EXPECT_RC(j.rc, EBADF);
  L = saved;
  EXPECT_RC(prw_unlink(name), 0);
}

/* Fork: the child's owners hold nothing; the parent's hold stays. */
static void test_fork(void) {
  EXPECT_RC(prw_acquire_write_as(L, 31, -1), 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int bad = 0;
    bad |= prw_release_as(L, 31) != EPERM;
    bad |= prw_try_acquire_write_as(L, 31) != EBUSY;
    bad |= prw_try_acquire_read_as(L, 32) != EBUSY;
    _exit(bad);
  }
  int st = 0;
  REQUIRE(waitpid(pid, &st, 0) == pid);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  EXPECT_RC(prw_release_as(L, 31), 0);
  CHECK(lock_free_for_write(L));
}

/* helper NAME MODE: a thread takes the lock for an owner and exits; the
 * hold outlives it; then the process waits to be killed. */
static int helper(const char *name, const char *mode) {
  pthread_t th;
  job_t j = {0xabcdef0123ULL, mode[0] == 'w', -1};
  REQUIRE(prw_open(name, 0, 0, &L) == 0);
  REQUIRE(pthread_create(&th, NULL, acquire_job, &j) == 0);
  pthread_join(th, NULL);
  /* A call of this process after the thread's exit: a thread's holds
   * would end here; an owner's must not. */
  int probe = prw_try_acquire_write_as(L, 99);
  printf("held %d %d\n", j.rc, probe);
  fflush(stdout);
  for (;;) pause();
}

static void test_kill(const char *mode) {
  char name[128], line[256], self[4096];
  prw_lock *l;
  t_name(name, sizeof name, "owkill");
  REQUIRE(prw_open(name, PRW_CREATE, 0600, &l) == 0);
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  REQUIRE(n > 0);
  self[n] = 0;
  char *argv[] = {self, (char *)"helper", name, (char *)mode, NULL};
  t_helper h;
  t_spawn(&h, argv);
  REQUIRE(t_line(&h, line, sizeof line, 20000) == 0);
  CHECK(strcmp(line, "held 0 16") == 0); /* 16: EBUSY */
  EXPECT_RC(prw_try_acquire_write(l), EBUSY);
  prw_holder_t hs[4];
  size_t cnt = 0;
  EXPECT_RC(prw_holders(l, hs, 4, &cnt), 0);
  CHECK(cnt == 1 && hs[0].pid == (uint32_t)h.pid && hs[0].tid == 0xcdef0123u);
  t_kill(&h);
  int rc = prw_acquire_write(l, 20000000000LL);
  EXPECT_RC(rc, mode[0] == 'w' ? EOWNERDEAD : 0);
  EXPECT_RC(prw_release(l), 0);
  prw_info_t i;
  EXPECT_RC(prw_info(l, &i), 0);
  CHECK(i.recoveries >= 1 && i.used_slots == 0);
  EXPECT_RC(prw_close(l), 0);
  EXPECT_RC(prw_unlink(name), 0);
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "helper") == 0) return helper(argv[2], argv[3]);
  REQUIRE(prw_create(&L) == 0);
  test_rules();
  test_handoff();
  test_concurrent_owner();
  test_owner_race();
  test_hammer();
  test_close();
  test_close_wakes();
  test_fork();
  test_kill("w");
  test_kill("r");
  EXPECT_RC(prw_close(L), 0);
  return t_done("test_owners");
}
