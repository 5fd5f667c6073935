/* test_threads: holds belong to threads; timeouts; wake-ups; no EINTR;
 * a hammer with an invariant checked inside the critical section. */

#include "testutil.h"

static prw_lock *L;

/* A thread that takes the lock in a mode, reports, waits for a release
 * order, and releases. */
typedef struct {
  pthread_t th;
  int write;
  int64_t timeout_ns;
  int rc, released_rc;
  uint32_t tid;
  volatile int acquired, go_release, done;
} holder_t;

static void *holder_main(void *p) {
  holder_t *h = p;
  h->tid = t_gettid();
  h->rc = h->write ? prw_acquire_write(L, h->timeout_ns) : prw_acquire_read(L, h->timeout_ns);
  __atomic_store_n(&h->acquired, 1, __ATOMIC_SEQ_CST);
  while (!__atomic_load_n(&h->go_release, __ATOMIC_SEQ_CST)) t_sleep_ms(1);
  h->released_rc = h->rc == 0 ? prw_release(L) : -1;
  __atomic_store_n(&h->done, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

static void holder_start(holder_t *h, int write, int64_t timeout_ns) {
  memset(h, 0, sizeof *h);
  h->write = write;
  h->timeout_ns = timeout_ns;
  REQUIRE(pthread_create(&h->th, NULL, holder_main, h) == 0);
}

static int wait_flag(volatile int *f, int ms) {
  int64_t end = t_now_ns() + (int64_t)ms * 1000000;
  while (!__atomic_load_n(f, __ATOMIC_SEQ_CST)) {
    if (t_now_ns() > end) return 0;
    t_sleep_ms(1);
  }
  return 1;
}

static void holder_finish(holder_t *h) {
  __atomic_store_n(&h->go_release, 1, __ATOMIC_SEQ_CST);
  pthread_join(h->th, NULL);
  CHECK(h->rc != 0 || h->released_rc == 0);
}

static void test_ownership(void) {
  holder_t w;
  prw_info_t i;
  holder_start(&w, 1, -1);
  REQUIRE(wait_flag(&w.acquired, 10000));
  EXPECT_RC(w.rc, 0);
  EXPECT_RC(prw_info(L, &i), 0);
  CHECK(i.writer_pid == (uint32_t)getpid() && i.writer_tid == w.tid && i.writer_tid != t_gettid());
  /* This thread holds nothing: it can neither release nor downgrade the
   * other thread's hold, nor get in. */
  EXPECT_RC(prw_release(L), EPERM);
  EXPECT_RC(prw_downgrade(L), EPERM);
  EXPECT_RC(prw_try_acquire_read(L), EBUSY);
  EXPECT_RC(prw_try_acquire_write(L), EBUSY);

  /* Timeouts, with generous upper bounds. */
  int64_t t0 = t_now_ns();
  EXPECT_RC(prw_acquire_read(L, 100 * 1000000LL), ETIMEDOUT);
  int64_t el = t_now_ns() - t0;
  CHECK(el >= 99 * 1000000LL && el < 5000 * 1000000LL);
  t0 = t_now_ns();
  EXPECT_RC(prw_acquire_write(L, 30 * 1000000LL), ETIMEDOUT);
  el = t_now_ns() - t0;
  CHECK(el >= 29 * 1000000LL && el < 5000 * 1000000LL);
  printf("timeouts: 30 ms write wait took %.1f ms\n", el / 1e6);
  EXPECT_RC(prw_info(L, &i), 0);
  CHECK(i.waiting_readers == 0 && i.waiting_writers == 0); /* timed-out waiters left */
  holder_finish(&w);
  EXPECT_RC(prw_info(L, &i), 0);
  CHECK(i.writer_pid == 0 && i.used_slots == 0);

  /* Several threads hold read at once, each its own hold. */
  holder_t r[4];
  for (int k = 0; k < 4; k++) holder_start(&r[k], 0, 10000000000LL);
  for (int k = 0; k < 4; k++) CHECK(wait_flag(&r[k].acquired, 10000) && r[k].rc == 0);
  EXPECT_RC(prw_info(L, &i), 0);
  CHECK(i.readers == 4);
  prw_holder_t hs[8];
  size_t n = 0;
  EXPECT_RC(prw_holders(L, hs, 8, &n), 0);
  CHECK(n == 4);
  for (size_t a = 0; a < n; a++) {
    int found = 0;
    for (int k = 0; k < 4; k++) found += hs[a].tid == r[k].tid;
    CHECK(found == 1 && hs[a].mode == PRW_MODE_READ && hs[a].count == 1);
  }
  EXPECT_RC(prw_release(L), EPERM);
  EXPECT_RC(prw_try_acquire_write(L), EBUSY);
  EXPECT_RC(prw_try_acquire_read(L), 0); /* readers share */
  EXPECT_RC(prw_release(L), 0);
  for (int k = 0; k < 4; k++) holder_finish(&r[k]);
}

/* A blocked waiter is woken by the release, and a downgrade admits
 * waiting readers but no writer. */
static void test_wakeups(void) {
  holder_t w, r;
  EXPECT_RC(prw_acquire_write(L, -1), 0);
  holder_start(&w, 1, -1);
  prw_info_t i;
  CHECK(t_until(prw_info(L, &i) == 0 && i.waiting_writers == 1, 10000));
  CHECK(!w.acquired);
  EXPECT_RC(prw_release(L), 0);
  CHECK(wait_flag(&w.acquired, 10000) && w.rc == 0);
  holder_finish(&w);

  EXPECT_RC(prw_acquire_write(L, -1), 0);
  holder_start(&r, 0, 20000000000LL);
  t_sleep_ms(30);
  CHECK(!r.acquired);
  EXPECT_RC(prw_downgrade(L), 0);
  CHECK(wait_flag(&r.acquired, 10000) && r.rc == 0);
  holder_start(&w, 1, 0);
  CHECK(wait_flag(&w.acquired, 10000) && w.rc == EBUSY);
  holder_finish(&w);
  EXPECT_RC(prw_release(L), 0);
  holder_finish(&r);
}

/* Signals do not cut a wait short: no EINTR, the wait goes on. */
static void on_usr1(int sig) { (void)sig; }

static void test_no_eintr(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1; /* no SA_RESTART */
  sigaction(SIGUSR1, &sa, NULL);
  holder_t r;
  EXPECT_RC(prw_acquire_write(L, -1), 0);
  holder_start(&r, 0, -1);
  t_sleep_ms(20);
  for (int k = 0; k < 20; k++) {
    pthread_kill(r.th, SIGUSR1);
    t_sleep_ms(5);
  }
  CHECK(!r.acquired);
  EXPECT_RC(prw_release(L), 0);
  CHECK(wait_flag(&r.acquired, 10000) && r.rc == 0);
  holder_finish(&r);

  /* A timed wait keeps its deadline through signals. */
  EXPECT_RC(prw_acquire_write(L, -1), 0);
  holder_start(&r, 0, 150 * 1000000LL);
  int64_t t0 = t_now_ns();
  for (int k = 0; k < 10; k++) {
    pthread_kill(r.th, SIGUSR1);
    t_sleep_ms(5);
  }
  CHECK(wait_flag(&r.acquired, 10000) && r.rc == ETIMEDOUT);
  CHECK(t_now_ns() - t0 >= 140 * 1000000LL);
  EXPECT_RC(prw_release(L), 0);
  holder_finish(&r);
}

/* Hammer: 4 threads mixing reads and writes; the invariant is checked
 * inside each critical section. */
static int active_writers, active_readers, violations;
static long long writes;

static void *hammer(void *p) {
  unsigned seed = (unsigned)(uintptr_t)p;
  for (int k = 0; k < 20000; k++) {
    int write = rand_r(&seed) % 4 == 0;
    int rc = write ? prw_acquire_write(L, 10000000000LL) : prw_acquire_read(L, 10000000000LL);
    if (rc != 0) {
      __atomic_add_fetch(&violations, 1, __ATOMIC_SEQ_CST);
      fprintf(stderr, "hammer acquire: %d\n", rc);
      continue;
    }
    if (write) {
      if (__atomic_add_fetch(&active_writers, 1, __ATOMIC_SEQ_CST) != 1 ||
          __atomic_load_n(&active_readers, __ATOMIC_SEQ_CST) != 0)
        __atomic_add_fetch(&violations, 1, __ATOMIC_SEQ_CST);
      long long w = writes; /* unprotected read-modify-write */
      if (k % 64 == 0) sched_yield();
      writes = w + 1;
      __atomic_sub_fetch(&active_writers, 1, __ATOMIC_SEQ_CST);
    } else {
      __atomic_add_fetch(&active_readers, 1, __ATOMIC_SEQ_CST);
      if (__atomic_load_n(&active_writers, __ATOMIC_SEQ_CST) != 0)
        __atomic_add_fetch(&violations, 1, __ATOMIC_SEQ_CST);
      if (k % 64 == 0) sched_yield();
      __atomic_sub_fetch(&active_readers, 1, __ATOMIC_SEQ_CST);
    }
    if (prw_release(L) != 0) __atomic_add_fetch(&violations, 1, __ATOMIC_SEQ_CST);
  }
  return NULL;
}

static void test_hammer(void) {
  pthread_t th[4];
  int64_t t0 = t_now_ns();
  for (int k = 0; k < 4; k++) pthread_create(&th[k], NULL, hammer, (void *)(uintptr_t)(k + 1));
  for (int k = 0; k < 4; k++) pthread_join(th[k], NULL);
  printf("hammer: 4 threads x 20000 ops, %lld writes, %.0f ms\n", writes,
         (t_now_ns() - t0) / 1e6);
  CHECK(violations == 0);
  CHECK(writes > 0);
}

/* A lone writer (layout.go, "Lone writers") against a reader that keeps its
 * slot idle between holds, both in tight loops: the writer's second look,
 * after it took the field, must see a reader that slipped in after its
 * first, or both would be inside. */
static int lone_stop;

static void *lone_side(void *p) {
  int write = (int)(uintptr_t)p;
  long n = 0;
  while (!__atomic_load_n(&lone_stop, __ATOMIC_SEQ_CST)) {
    int rc = write ? prw_acquire_write(L, -1) : prw_acquire_read(L, -1);
    if (rc != 0) {
      __atomic_add_fetch(&violations, 1, __ATOMIC_SEQ_CST);
      break;
    }
    int *mine = write ? &active_writers : &active_readers, *other = write ? &active_readers : &active_writers;
    __atomic_add_fetch(mine, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(other, __ATOMIC_SEQ_CST) != 0) __atomic_add_fetch(&violations, 1, __ATOMIC_SEQ_CST);
    __atomic_sub_fetch(mine, 1, __ATOMIC_SEQ_CST);
    if (prw_release(L) != 0) __atomic_add_fetch(&violations, 1, __ATOMIC_SEQ_CST);
    n++;
  }
  return (void *)n;
}

static void test_lone_writer(void) {
  pthread_t th[2];
  void *n[2];
  for (int k = 0; k < 2; k++) pthread_create(&th[k], NULL, lone_side, (void *)(uintptr_t)k);
  t_sleep_ms(1000);
  __atomic_store_n(&lone_stop, 1, __ATOMIC_SEQ_CST);
  for (int k = 0; k < 2; k++) pthread_join(th[k], &n[k]);
  printf("lone writer: %ld reads, %ld writes in 1 s, %d violations\n", (long)n[0], (long)n[1], violations);
  CHECK(violations == 0);
  CHECK((long)n[0] > 0 && (long)n[1] > 0);
}

/* The holder table is bounded: one more holder than slots gets EAGAIN.
 * (On the smallest table: test_many fills a default one.) */
static void test_full(void) {
  prw_info_t i;
  prw_lock *main_lock = L;
  EXPECT_RC(prw_create_ex(64, &L), 0);
  EXPECT_RC(prw_info(L, &i), 0);
  int cap = (int)i.capacity;
  CHECK(cap == 64);
  holder_t *h = calloc((size_t)cap, sizeof *h);
  for (int k = 0; k < cap; k++) holder_start(&h[k], 0, 10000000000LL);
  for (int k = 0; k < cap; k++) CHECK(wait_flag(&h[k].acquired, 20000) && h[k].rc == 0);
  EXPECT_RC(prw_try_acquire_read(L), EAGAIN);
  EXPECT_RC(prw_acquire_write(L, 1000000), EAGAIN);
  for (int k = 0; k < cap; k++) holder_finish(&h[k]);
  free(h);
  EXPECT_RC(prw_try_acquire_read(L), 0);
  EXPECT_RC(prw_release(L), 0);
  EXPECT_RC(prw_close(L), 0);
  L = main_lock;
}

/* A release wakes only the writer that is due (Waking writers in
 * layout.go): queued writers that have all waited past the 4 ms bound take
 * the lock one after another in the order they came, each woken by its
 * predecessor's release. Every sleep also ends at a poll, 10 ms after the
 * sleeper's previous check; the first release of each round comes just
 * after the first writer's first poll, so a release that woke the wrong
 * writer, or none, would leave that one asleep for about 9 ms more. */
#define CHAIN_WRITERS 3
#define CHAIN_ROUNDS 12

typedef struct {
  pthread_t th;
  int rc;
  int64_t acquired_ns, released_ns;
} chain_t;

static void *chain_main(void *p) {
  chain_t *c = p;
  c->rc = prw_acquire_write(L, 20000000000LL);
  c->acquired_ns = t_now_ns();
  if (c->rc == 0) {
    t_sleep_ms(1);
    c->released_ns = t_now_ns();
    c->rc = prw_release(L);
  }
  return NULL;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static void test_writer_chain(void) {
  int64_t first[CHAIN_ROUNDS], next[CHAIN_ROUNDS * (CHAIN_WRITERS - 1)];
  int nnext = 0, in_order = 1;
  for (int round = 0; round < CHAIN_ROUNDS; round++) {
    chain_t c[CHAIN_WRITERS];
    memset(c, 0, sizeof c);
    EXPECT_RC(prw_acquire_write(L, -1), 0);
    int64_t t0 = 0;
    for (int k = 0; k < CHAIN_WRITERS; k++) {
      REQUIRE(pthread_create(&c[k].th, NULL, chain_main, &c[k]) == 0);
      prw_info_t i;
      CHECK(t_until(prw_info(L, &i) == 0 && i.waiting_writers == (uint32_t)k + 1, 10000));
      if (k == 0) t0 = t_now_ns(); /* writer 0 has gone to sleep */
      t_sleep_ms(2);               /* the next one's wait begins well after */
    }
    while (t_now_ns() < t0 + 10500000) t_sleep_ms(1); /* past writer 0's first poll */
    int64_t released = t_now_ns();
    EXPECT_RC(prw_release(L), 0);
    for (int k = 0; k < CHAIN_WRITERS; k++) pthread_join(c[k].th, NULL);
    for (int k = 0; k < CHAIN_WRITERS; k++) {
      EXPECT_RC(c[k].rc, 0);
      /* Writer k came k-th; it must get in k-th. */
      if (k > 0 && c[k].acquired_ns < c[k - 1].acquired_ns) in_order = 0;
      if (k == 0) first[round] = c[0].acquired_ns - released;
      else next[nnext++] = c[k].acquired_ns - c[k - 1].released_ns;
    }
  }
  CHECK(in_order);
  qsort(first, CHAIN_ROUNDS, sizeof first[0], cmp_i64);
  qsort(next, (size_t)nnext, sizeof next[0], cmp_i64);
  printf("writer chain: first hand-off p50 %.3f ms (max %.3f), later ones p50 %.3f ms (max %.3f)\n",
         first[CHAIN_ROUNDS / 2] / 1e6, first[CHAIN_ROUNDS - 1] / 1e6, next[nnext / 2] / 1e6, next[nnext - 1] / 1e6);
  CHECK(first[CHAIN_ROUNDS / 2] < 2000000); /* a lost wake-up costs about 9 ms here */
  CHECK(next[nnext / 2] < 5000000);
}

/* Closing the last handle wakes a thread blocked on it with EBADF. */
static void test_close_wakes(void) {
  holder_t w;
  EXPECT_RC(prw_acquire_read(L, -1), 0);
  holder_start(&w, 1, -1);
  t_sleep_ms(30);
  CHECK(!w.acquired);
  char path[4096];
  t_path(L, path, sizeof path);
  EXPECT_RC(prw_close(L), 0);
  CHECK(wait_flag(&w.acquired, 10000) && w.rc == EBADF);
  holder_finish(&w);
  CHECK(!t_exists(path));
}

int main(void) {
  alarm(200);
  REQUIRE(prw_create(&L) == 0);
  test_ownership();
  test_wakeups();
  test_no_eintr();
  test_hammer();
  test_lone_writer();
  test_full();
  test_writer_chain();
  test_close_wakes();
  return t_done("test_threads");
}
