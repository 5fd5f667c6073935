/* test_many: capacity. A default-created named lock is held for reading
 * by 1,000 exec'd processes at the same moment (they meet at a barrier in
 * shared memory), then a writer gets in; the capacity option of
 * prw_create_ex/prw_open_ex; over capacity, EAGAIN comes at once (never a
 * wait) and prw_strerror names the limit and the option.
 *
 * PRW_MANY_PROCS overrides the number of processes (default 1000). */
#include "testutil.h"

#include <linux/futex.h>
#include <stdatomic.h>
#include <sys/mman.h>

/* Shared between the test and its children: the barrier. */
struct shared {
  atomic_int holding; /* children holding read */
  atomic_int failed;  /* children that could not */
  atomic_int release; /* futex: 1 = release and exit */
  atomic_int first_error;
};

static struct shared *S;
static char shared_path[256];
static pid_t *kids; /* for on_alarm */
static int nkids;

static void futex_wait(atomic_int *w, int val, int64_t timeout_ns) {
  struct timespec ts = {timeout_ns / 1000000000LL, timeout_ns % 1000000000LL};
  syscall(SYS_futex, w, FUTEX_WAIT, val, &ts, NULL, 0);
}

static void futex_wake_all(atomic_int *w) { syscall(SYS_futex, w, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0); }

static struct shared *map_shared(const char *path, int create) {
  int fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0600);
  REQUIRE(fd >= 0);
  if (create) REQUIRE(ftruncate(fd, 4096) == 0);
  struct shared *s = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  REQUIRE(s != MAP_FAILED);
  return s;
}

/* child SHARED NAME: hold read on NAME until the release word is set. */
static int child(const char *shared, const char *name) {
  alarm(200);
  struct shared *s = map_shared(shared, 0);
  prw_lock *l;
  int rc = prw_open(name, 0, 0, &l);
  if (rc == 0) rc = prw_acquire_read(l, 120000000000LL);
  if (rc != 0) {
    int zero = 0;
    atomic_compare_exchange_strong(&s->first_error, &zero, rc);
    atomic_fetch_add(&s->failed, 1);
    return 1;
  }
  atomic_fetch_add(&s->holding, 1);
  while (!atomic_load(&s->release)) futex_wait(&s->release, 0, 1000000000LL);
  rc = prw_release(l);
  if (rc == 0) rc = prw_close(l);
  return rc == 0 ? 0 : 1;
}

/* capacity_of returns l's capacity, checking that prw_capacity and
 * prw_info agree. */
static int capacity_of(prw_lock *l) {
  prw_info_t i;
  uint32_t c = 0;
  EXPECT_RC(prw_info(l, &i), 0);
  EXPECT_RC(prw_capacity(l, &c), 0);
  CHECK(c == i.capacity);
  return (int)c;
}

static void test_capacity_option(void) {
  prw_lock *l;
  char name[128];
  uint32_t c;
  EXPECT_RC(prw_create(&l), 0);
  CHECK(capacity_of(l) == PRW_DEFAULT_CAPACITY);
  EXPECT_RC(prw_capacity(l, NULL), EINVAL);
  EXPECT_RC(prw_capacity(NULL, &c), EINVAL);
  prw_close(l);
  EXPECT_RC(prw_capacity(l, &c), EBADF);
  struct {
    unsigned ask;
    int got;
  } cases[] = {{0, PRW_DEFAULT_CAPACITY}, {1, 64}, {100, 128}, {PRW_MAX_CAPACITY, PRW_MAX_CAPACITY}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    EXPECT_RC(prw_create_ex(cases[k].ask, &l), 0);
    CHECK(capacity_of(l) == cases[k].got);
    prw_close(l);
  }
  l = (prw_lock *)1;
  EXPECT_RC(prw_create_ex(PRW_MAX_CAPACITY + 1, &l), EINVAL);
  CHECK(l == NULL);
  EXPECT_RC(prw_create_ex(0, NULL), EINVAL);
  EXPECT_RC(prw_create_ex(~0u, &l), EINVAL);

  t_name(name, sizeof name, "cap");
  EXPECT_RC(prw_open_ex(name, PRW_CREATE, 0600, PRW_MAX_CAPACITY + 1, &l), EINVAL);
  EXPECT_RC(prw_open_ex(name, 0, 0, 0, &l), ENOENT);
  EXPECT_RC(prw_open_ex(NULL, PRW_CREATE, 0600, 200, &l), EINVAL);
  EXPECT_RC(prw_open_ex(name, PRW_CREATE, 0600, 200, &l), 0);
  CHECK(capacity_of(l) == 256);
  /* Opening an existing lock keeps its creator's capacity. */
  prw_lock *l2;
  EXPECT_RC(prw_open_ex(name, PRW_CREATE, 0600, PRW_MAX_CAPACITY, &l2), 0);
  CHECK(capacity_of(l2) == 256);
  EXPECT_RC(prw_open(name, 0, 0, &l2), 0);
  CHECK(capacity_of(l2) == 256);
  prw_close(l2);
  prw_close(l2);
  prw_close(l);
  EXPECT_RC(prw_unlink(name), 0);

  const char *msg = prw_strerror(EAGAIN);
  CHECK(strstr(msg, "capacity") && strstr(msg, "prw_open_ex") && strstr(msg, "prw_create_ex") &&
        strstr(msg, "4096"));
}

/* Over capacity with threads: a 64-slot lock held by 64 threads; a 65th
 * gets EAGAIN at once, whether it tries, waits with a timeout or waits
 * forever. */
struct thr {
  pthread_t th;
  prw_lock *l;
  atomic_int *go;
  int rc;
};

static atomic_int thr_held;

static void *hold_until(void *p) {
  struct thr *t = p;
  t->rc = prw_acquire_read(t->l, 10000000000LL);
  atomic_fetch_add(&thr_held, 1);
  while (!atomic_load(t->go)) futex_wait(t->go, 0, 1000000000LL);
  if (t->rc == 0) t->rc = prw_release(t->l);
  return NULL;
}

static void start_holders(struct thr *t, int n, prw_lock *l, atomic_int *go) {
  atomic_store(&thr_held, 0);
  for (int k = 0; k < n; k++) {
    t[k].l = l;
    t[k].go = go;
    REQUIRE(pthread_create(&t[k].th, NULL, hold_until, &t[k]) == 0);
  }
  REQUIRE(t_until(atomic_load(&thr_held) == n, 30000));
}

static void finish_holders(struct thr *t, int n, atomic_int *go) {
  atomic_store(go, 1);
  futex_wake_all(go);
  for (int k = 0; k < n; k++) {
    pthread_join(t[k].th, NULL);
    EXPECT_RC(t[k].rc, 0);
  }
}

/* full_attempts checks that every kind of acquire returns EAGAIN at once,
 * and reports the slowest. */
static double full_attempts(prw_lock *l) {
  int64_t worst = 0;
  int64_t timeouts[] = {0, 1000000000LL, -1};
  for (int w = 0; w < 2; w++) {
    for (int k = 0; k < 3; k++) {
      int64_t t0 = t_now_ns();
      int rc = w ? prw_acquire_write(l, timeouts[k]) : prw_acquire_read(l, timeouts[k]);
      int64_t took = t_now_ns() - t0;
      EXPECT_RC(rc, EAGAIN);
      if (took > worst) worst = took;
    }
  }
  /* Generous: the error must come at once, not after a wait. */
  CHECK(worst < 1000000000LL);
  return (double)worst / 1e3;
}

static void test_over_capacity_threads(void) {
  prw_lock *l;
  atomic_int go = 0;
  struct thr t[64];
  EXPECT_RC(prw_create_ex(64, &l), 0);
  start_holders(t, 64, l, &go);
  printf("over capacity, 64 threads on a 64-slot lock: EAGAIN after at most %.0f us\n", full_attempts(l));
  finish_holders(t, 64, &go);
  EXPECT_RC(prw_acquire_write(l, 0), 0);
  EXPECT_RC(prw_release(l), 0);
  prw_close(l);
}

static int nprocs(void) {
  const char *e = getenv("PRW_MANY_PROCS");
  int n = e ? atoi(e) : 1000;
  return n > 0 && n < PRW_DEFAULT_CAPACITY ? n : 1000;
}

struct writer {
  pthread_t th;
  prw_lock *l;
  int rc;
  atomic_long got_ns;
  int64_t cpu_ns; /* CPU time this thread spent in the acquire */
};

static int64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The writer checks, while it holds, that no reader is inside. */
static void *writer_main(void *p) {
  struct writer *w = p;
  int64_t c0 = thread_cpu_ns();
  w->rc = prw_acquire_write(w->l, 120000000000LL);
  w->cpu_ns = thread_cpu_ns() - c0;
  atomic_store(&w->got_ns, t_now_ns());
  if (w->rc == 0) {
    prw_info_t info;
    if (prw_info(w->l, &info) != 0 || info.readers != 0 || !info.writer_active) w->rc = -1;
    int rc = prw_release(w->l);
    if (rc) w->rc = rc;
  }
  return NULL;
}

/* The proportional set size of processes, in KiB: each shared page is
 * counted once in all, divided among its users. */
static long pss_kb_of(const pid_t *pids, int n) {
  long total = 0;
  for (int k = 0; k < n; k++) {
    char path[64], line[256];
    long v;
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pids[k]);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    while (fgets(line, sizeof line, f))
      if (sscanf(line, "Pss: %ld kB", &v) == 1) total += v;
    fclose(f);
  }
  return total;
}

/* reader_kept_out reports whether a new reader is kept out (by a writer). */
static int reader_kept_out(prw_lock *l) {
  int rc = prw_try_acquire_read(l);
  if (rc == 0) EXPECT_RC(prw_release(l), 0);
  return rc == EBUSY;
}

static void test_thousand_processes(const char *self) {
  int n = nprocs();
  char name[128];
  prw_lock *l;
  t_name(name, sizeof name, "many");
  snprintf(shared_path, sizeof shared_path, "/dev/shm/prwlock-ctest-many-%d", (int)getpid());
  S = map_shared(shared_path, 1);
  EXPECT_RC(prw_open(name, PRW_CREATE | PRW_EXCL, 0600, &l), 0);
  CHECK(capacity_of(l) == PRW_DEFAULT_CAPACITY);

  pid_t *pids = calloc((size_t)n, sizeof *pids);
  kids = pids;
  int64_t t0 = t_now_ns();
  for (int k = 0; k < n; k++) {
    char *argv[] = {(char *)self, "child", shared_path, name, NULL};
    int rc = posix_spawn(&pids[k], self, NULL, NULL, argv, environ);
    if (rc != 0) {
      fprintf(stderr, "posix_spawn %d: %s\n", k, strerror(rc));
      n = k;
      t_failures++;
      break;
    }
    nkids = k + 1;
  }
  /* The barrier: all of them hold read at the same moment. */
  int all = t_until(atomic_load(&S->holding) + atomic_load(&S->failed) == n, 150000);
  double start_s = (t_now_ns() - t0) / 1e9;
  CHECK(all);
  CHECK(atomic_load(&S->failed) == 0);
  if (atomic_load(&S->failed))
    fprintf(stderr, "%d children failed, first error %d (%s)\n", atomic_load(&S->failed),
            atomic_load(&S->first_error), prw_strerror(atomic_load(&S->first_error)));
  long pss_kb = pss_kb_of(pids, n);
  prw_info_t info;
  EXPECT_RC(prw_info(l, &info), 0);
  printf("%d processes hold read at once after %.1f s (their memory, PSS: %.0f MiB in all): "
         "readers %u, used slots %u, attached %u, capacity %u\n",
         n, start_s, pss_kb / 1024.0, info.readers, info.used_slots, info.attached, info.capacity);
  CHECK(info.readers == (uint32_t)n && info.used_slots == (uint32_t)n);
  /* At least: a concurrent `python -m prwlock list` may be looking too. */
  CHECK(info.attached >= (uint32_t)n + 1);

  /* Over capacity with processes: threads of ours take the remaining
   * slots; one more gets EAGAIN at once, though every slot belongs to a
   * live process the library must not wait for. */
  int rest = (int)info.capacity - n;
  struct thr *t = calloc((size_t)rest, sizeof *t);
  atomic_int go = 0;
  start_holders(t, rest, l, &go);
  printf("over capacity, %d processes and %d threads on a %u-slot lock: EAGAIN after at most %.0f us\n", n,
         rest, info.capacity, full_attempts(l));
  finish_holders(t, rest, &go);
  free(t);

  /* A writer queues behind them, new readers stay out, and it gets in
   * once they leave. While it waits, its polls for dead readers must not
   * judge every reading process each time: it would spend its wait on
   * /proc reads. */
  struct writer w = {.l = l};
  int64_t tw = t_now_ns();
  REQUIRE(pthread_create(&w.th, NULL, writer_main, &w) == 0);
  CHECK(t_until(reader_kept_out(l), 10000));
  t_sleep_ms(500);
  int64_t t1 = t_now_ns();
  atomic_store(&S->release, 1);
  futex_wake_all(&S->release);
  pthread_join(w.th, NULL);
  EXPECT_RC(w.rc, 0);
  printf("the writer got in %.1f ms after %d readers were told to leave; it used %.1f ms of CPU in %.0f ms of "
         "waiting\n",
         (atomic_load(&w.got_ns) - t1) / 1e6, n, w.cpu_ns / 1e6, (atomic_load(&w.got_ns) - tw) / 1e6);
  /* Generous (ten times what it takes): a writer that judged every reader
   * on every poll would spend a third of its wait or more on it. */
  CHECK(w.cpu_ns < (atomic_load(&w.got_ns) - tw) / 10);

  int bad = 0;
  for (int k = 0; k < n; k++) {
    int st;
    if (waitpid(pids[k], &st, 0) != pids[k] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) bad++;
  }
  CHECK(bad == 0);
  nkids = 0;
  printf("all %d children exited (%d failed), %.1f s in all\n", n, bad, (t_now_ns() - t0) / 1e9);
  EXPECT_RC(prw_info(l, &info), 0);
  CHECK(info.used_slots == 0 && info.attached >= 1 && info.attached <= 2);
  free(pids);
  prw_close(l);
  EXPECT_RC(prw_unlink(name), 0);
  munmap(S, 4096);
  unlink(shared_path);
}

static void on_alarm(int sig) {
  (void)sig;
  for (int k = 0; k < nkids; k++) kill(kids[k], SIGKILL);
  if (shared_path[0]) unlink(shared_path);
  _exit(3);
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "child") == 0) return child(argv[2], argv[3]);
  static char self[4096];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  REQUIRE(len > 0);
  self[len] = 0;
  signal(SIGALRM, on_alarm);
  alarm(220);
  test_capacity_option();
  test_over_capacity_threads();
  test_thousand_processes(self);
  return t_done("test_many");
}
