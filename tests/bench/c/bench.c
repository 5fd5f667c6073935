/* bench: the C side of the prwlock benchmark suite (tests/bench/run.py).
 *
 * One binary, one subcommand per benchmark. Each coordinator subcommand
 * prints one JSON object per result on stdout and progress on stderr. Worker
 * processes are this same binary started with posix_spawn (fork+exec), never
 * a bare fork: the library's Go runtime does not survive fork without exec.
 *
 * Implementations ("impl"):
 *   ours      libprwlock.so (prw_* API), a named lock
 *   glibc     pthread_rwlock_t, PTHREAD_PROCESS_SHARED, default kind
 *             (PTHREAD_RWLOCK_PREFER_READER_NP)
 *   glibc-pw  the same with PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP
 *   futex     no rwlock: a bare futex word, exclusive; the hand-off's floor
 *
 * Shared files: every file this program makes has BENCH_TAG (environment,
 * default "c<pid>") in its name, so that the driver can remove whatever a
 * crash left behind in /dev/shm; coordinators also unlink their own files
 * on every exit path they control (including SIGINT/SIGTERM).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "prwlock.h"

extern char **environ;

/* ---------------------------------------------------------------- utilities */

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ns(int64_t ns) {
  struct timespec ts = {ns / 1000000000LL, ns % 1000000000LL};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

static void die(const char *what, int err) {
  fprintf(stderr, "bench: %s: %s\n", what, strerror(err));
  exit(2);
}

static const char *tag(void) {
  static char buf[64];
  const char *t = getenv("BENCH_TAG");
  if (t && *t) return t;
  if (!buf[0]) snprintf(buf, sizeof buf, "c%d", (int)getpid());
  return buf;
}

static const char *arg(int argc, char **argv, const char *name, const char *def) {
  for (int i = 0; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0) return argv[i + 1];
  return def;
}

static long argl(int argc, char **argv, const char *name, long def) {
  const char *v = arg(argc, argv, name, NULL);
  return v ? strtol(v, NULL, 10) : def;
}

/* About a cycle of work per iteration that the compiler cannot remove. The
 * counter stays in a register: a volatile counter on the stack made each
 * iteration a store and a load whose forwarding took from 0.26 to 0.45 ns
 * depending on the process (measured over fresh processes of one binary),
 * so the hold of a run depended on which processes it drew. */
static void hold_work(int iters) {
  for (int i = 0; i < iters; i++) __asm__ __volatile__("" : "+r"(i));
}

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) v = strtol(line + 6, NULL, 10);
  fclose(f);
  return v;
}

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  if (!d) return -1;
  while (readdir(d)) n++;
  closedir(d);
  return n - 3; /* ".", "..", and the directory's own fd */
}

/* ------------------------------------------------------------ shared control */

/* IMPL_FUTEX is no rwlock: a bare futex word taken exclusively (read or
 * write alike), the least any lock that sleeps in the kernel can do. Only
 * the hand-off uses it, as the kernel's floor for a wake-up. */
enum { IMPL_OURS, IMPL_GLIBC, IMPL_GLIBC_PW, IMPL_FUTEX };
static const char *impl_names[] = {"ours", "glibc", "glibc-pw", "futex"};

static int parse_impl(const char *s) {
  for (int i = 0; i < (int)(sizeof impl_names / sizeof *impl_names); i++)
    if (strcmp(s, impl_names[i]) == 0) return i;
  fprintf(stderr, "bench: unknown impl %s\n", s);
  exit(2);
}

#define MAXW 64
#define MAXSAMPLES 4096

struct worker_ctr {
  _Alignas(64) atomic_long ops_r;
  atomic_long ops_w;
  atomic_long violations;
};

/* The control block every process of one run maps. The glibc lock lives in
 * it too, so that all impls share the same memory layout. */
struct ctl {
  _Alignas(64) pthread_rwlock_t rw;
  _Alignas(64) atomic_uint fx; /* IMPL_FUTEX: 0 free, 1 held, 2 held with sleepers */
  _Alignas(64) atomic_int ready;
  atomic_int go;
  atomic_int stop;
  atomic_int err;
  _Alignas(64) atomic_int readers_in; /* invariant checks in the critical section */
  atomic_int writer_in;
  _Alignas(64) atomic_long data_a; /* --check data: what the writers write and the readers read */
  atomic_long data_b;
  _Alignas(64) atomic_long stamp; /* hand-off: release time of the holder */
  atomic_int phase;
  atomic_int seq;
  atomic_long result_ns;
  atomic_int result_rc;
  struct worker_ctr w[MAXW];
  int64_t samples[MAXSAMPLES];
};

static char ctl_path[256];
static char our_name[128];
static int impl_global = -1;
static pid_t children[MAXW + 2];
static int nchildren;

static void cleanup_files(void) {
  if (ctl_path[0]) unlink(ctl_path);
  if (our_name[0]) prw_unlink(our_name);
}

static void kill_children(void) {
  for (int i = 0; i < nchildren; i++)
    if (children[i] > 0) kill(children[i], SIGKILL);
  for (int i = 0; i < nchildren; i++)
    if (children[i] > 0) waitpid(children[i], NULL, 0);
  nchildren = 0;
}

static void on_signal(int sig) {
  for (int i = 0; i < nchildren; i++)
    if (children[i] > 0) kill(children[i], SIGKILL);
  if (ctl_path[0]) unlink(ctl_path);
  /* The lock's own file: unlink(2) directly, async-signal-safe. */
  if (our_name[0]) {
    char p[256];
    snprintf(p, sizeof p, "/dev/shm/prwlock.%s", our_name);
    unlink(p);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

static struct ctl *ctl_create(int impl) {
  static int n;
  snprintf(ctl_path, sizeof ctl_path, "/dev/shm/prwlock-bench-%s-ctl-%d-%d", tag(), (int)getpid(), n++);
  int fd = open(ctl_path, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) die("create control file", errno);
  if (ftruncate(fd, sizeof(struct ctl)) != 0) die("ftruncate", errno);
  struct ctl *c = mmap(NULL, sizeof(struct ctl), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (c == MAP_FAILED) die("mmap", errno);
  if (impl == IMPL_GLIBC || impl == IMPL_GLIBC_PW) {
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    pthread_rwlockattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (impl == IMPL_GLIBC_PW)
      pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&c->rw, &a);
    pthread_rwlockattr_destroy(&a);
  }
  return c;
}

static struct ctl *ctl_map(const char *path) {
  int fd = open(path, O_RDWR);
  if (fd < 0) die("open control file", errno);
  struct ctl *c = mmap(NULL, sizeof(struct ctl), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (c == MAP_FAILED) die("mmap", errno);
  return c;
}

static void ctl_destroy(struct ctl *c) {
  munmap(c, sizeof *c);
  unlink(ctl_path);
  ctl_path[0] = 0;
}

/* ------------------------------------------------------------------- a lock */

struct lk {
  int impl;
  prw_lock *p;
  pthread_rwlock_t *g;
  atomic_uint *fx;
};

/* The bare futex word of IMPL_FUTEX: the classic three-state mutex (0 free,
 * 1 held, 2 held and someone may sleep), process-shared futex calls. */
static void fx_lock(atomic_uint *f) {
  unsigned c = 0;
  if (atomic_compare_exchange_strong(f, &c, 1)) return;
  if (c != 2) c = atomic_exchange(f, 2);
  while (c != 0) {
    syscall(SYS_futex, f, FUTEX_WAIT, 2, NULL, NULL, 0);
    c = atomic_exchange(f, 2);
  }
}

static void fx_unlock(atomic_uint *f) {
  if (atomic_fetch_sub(f, 1) != 1) {
    atomic_store(f, 0);
    syscall(SYS_futex, f, FUTEX_WAKE, 1, NULL, NULL, 0);
  }
}

static void lk_open(struct lk *l, int impl, struct ctl *c, const char *name, int create) {
  l->impl = impl;
  l->g = &c->rw;
  l->fx = &c->fx;
  l->p = NULL;
  if (impl == IMPL_OURS) {
    int rc = prw_open(name, create ? PRW_CREATE : 0, 0600, &l->p);
    if (rc) die("prw_open", rc);
  }
}

static void lk_close(struct lk *l) {
  if (l->p) prw_close(l->p);
  l->p = NULL;
}

/* timeout_ns < 0: forever. Returns 0 when held (EOWNERDEAD counts as held),
 * ETIMEDOUT, or another error. */
static int lk_acquire(struct lk *l, int write, int64_t timeout_ns) {
  if (l->impl == IMPL_FUTEX) die("the bare futex word has no timed acquire", EINVAL);
  if (l->impl == IMPL_OURS) {
    int rc = write ? prw_acquire_write(l->p, timeout_ns) : prw_acquire_read(l->p, timeout_ns);
    return rc == EOWNERDEAD ? 0 : rc;
  }
  if (timeout_ns < 0) return write ? pthread_rwlock_wrlock(l->g) : pthread_rwlock_rdlock(l->g);
  struct timespec ts;
  int64_t dl = now_ns() + timeout_ns;
  ts.tv_sec = dl / 1000000000LL;
  ts.tv_nsec = dl % 1000000000LL;
  return write ? pthread_rwlock_clockwrlock(l->g, CLOCK_MONOTONIC, &ts)
               : pthread_rwlock_clockrdlock(l->g, CLOCK_MONOTONIC, &ts);
}

/* lk_lock acquires for write (or read), waiting as long as it takes. */
static inline int lk_lock(struct lk *l, int write) {
  switch (l->impl) {
  case IMPL_OURS:
    return write ? prw_acquire_write(l->p, -1) : prw_acquire_read(l->p, -1);
  case IMPL_FUTEX:
    fx_lock(l->fx);
    return 0;
  default:
    return write ? pthread_rwlock_wrlock(l->g) : pthread_rwlock_rdlock(l->g);
  }
}
static inline int lk_read(struct lk *l) { return lk_lock(l, 0); }
static inline int lk_write(struct lk *l) { return lk_lock(l, 1); }
static inline int lk_release(struct lk *l) {
  switch (l->impl) {
  case IMPL_OURS:
    return prw_release(l->p);
  case IMPL_FUTEX:
    fx_unlock(l->fx);
    return 0;
  default:
    return pthread_rwlock_unlock(l->g);
  }
}

/* ------------------------------------------------------------ process spawn */

static char self_exe[4096];

static pid_t spawn_self(char *const args[]) {
  pid_t pid;
  int rc = posix_spawn(&pid, self_exe, NULL, NULL, args, environ);
  if (rc) die("posix_spawn", rc);
  children[nchildren++] = pid;
  return pid;
}

static void wait_ready(struct ctl *c, int n, const char *what) {
  int64_t dl = now_ns() + 20000000000LL;
  while (atomic_load(&c->ready) < n) {
    if (atomic_load(&c->err)) {
      fprintf(stderr, "bench: a %s worker failed\n", what);
      kill_children();
      cleanup_files();
      exit(2);
    }
    if (now_ns() > dl) {
      fprintf(stderr, "bench: %s workers not ready after 20 s\n", what);
      kill_children();
      cleanup_files();
      exit(2);
    }
    sleep_ns(200000);
  }
}

static void wait_children(void) {
  for (int i = 0; i < nchildren; i++) {
    int st;
    if (children[i] > 0) waitpid(children[i], &st, 0);
  }
  nchildren = 0;
}

static void setup_run(int impl) {
  impl_global = impl;
  our_name[0] = 0;
  if (impl == IMPL_OURS) {
    static int n;
    snprintf(our_name, sizeof our_name, "bench-%s-%d-%d", tag(), (int)getpid(), n++);
  }
}

static void finish_run(struct ctl *c) {
  if (our_name[0]) prw_unlink(our_name);
  our_name[0] = 0;
  ctl_destroy(c);
}

/* ----------------------------------------------------- 1. uncontended pairs */

typedef void (*pairfn)(void *, long);

static void pair_ours_r(void *p, long n) {
  for (long i = 0; i < n; i++) {
    prw_acquire_read(p, -1);
    prw_release(p);
  }
}
static void pair_ours_w(void *p, long n) {
  for (long i = 0; i < n; i++) {
    prw_acquire_write(p, -1);
    prw_release(p);
  }
}
/* The same with an explicit owner (prw_*_as): a record looked up by
 * (lock file, owner) under a mutex instead of the thread's own. */
static void pair_as_r(void *p, long n) {
  for (long i = 0; i < n; i++) {
    prw_acquire_read_as(p, 7, -1);
    prw_release_as(p, 7);
  }
}
static void pair_as_w(void *p, long n) {
  for (long i = 0; i < n; i++) {
    prw_acquire_write_as(p, 7, -1);
    prw_release_as(p, 7);
  }
}
static void pair_g_r(void *p, long n) {
  for (long i = 0; i < n; i++) {
    pthread_rwlock_rdlock(p);
    pthread_rwlock_unlock(p);
  }
}
static void pair_g_w(void *p, long n) {
  for (long i = 0; i < n; i++) {
    pthread_rwlock_wrlock(p);
    pthread_rwlock_unlock(p);
  }
}
/* One call that enters Go and returns at once: the price of the crossing. */
static void call_crossing(void *p, long n) {
  for (long i = 0; i < n; i++) prw_is_anonymous(p);
}

/* ns per iteration of f over about ms milliseconds. */
static double time_it(pairfn f, void *p, long ms) {
  long n = 1000;
  f(p, n); /* warm */
  for (;;) {
    int64_t t0 = now_ns();
    f(p, n);
    int64_t dt = now_ns() - t0;
    if (dt >= ms * 1000000LL / 4 || n > (1L << 34)) {
      long want = (long)((double)n * (ms * 1e6) / (double)(dt > 0 ? dt : 1));
      if (want < n) want = n;
      t0 = now_ns();
      f(p, want);
      dt = now_ns() - t0;
      return (double)dt / (double)want;
    }
    n *= 4;
  }
}

static int cmd_pairs(int argc, char **argv) {
  int reps = (int)argl(argc, argv, "--reps", 5);
  long ms = argl(argc, argv, "--ms", 100);
  /* No other process maps the glibc locks here: their files can go at
   * once, so that no exit path leaves them behind. */
  struct ctl *cg = ctl_create(IMPL_GLIBC);
  unlink(ctl_path);
  struct ctl *cw = ctl_create(IMPL_GLIBC_PW);
  unlink(ctl_path);
  ctl_path[0] = 0;
  setup_run(IMPL_OURS);
  prw_lock *p;
  int rc = prw_open(our_name, PRW_CREATE, 0600, &p);
  if (rc) die("prw_open", rc);
  struct {
    const char *impl, *mode;
    pairfn f;
    void *arg;
  } cases[] = {
      {"glibc", "read", pair_g_r, &cg->rw},        {"glibc", "write", pair_g_w, &cg->rw},
      {"glibc-pw", "read", pair_g_r, &cw->rw},     {"glibc-pw", "write", pair_g_w, &cw->rw},
      {"ours", "read", pair_ours_r, p},            {"ours", "write", pair_ours_w, p},
      {"ours", "crossing", call_crossing, p},
      {"ours", "read-as", pair_as_r, p},           {"ours", "write-as", pair_as_w, p},
  };
  int ncases = sizeof cases / sizeof cases[0];
  for (int r = 0; r < reps; r++) {
    for (int i = 0; i < ncases; i++) {
      double ns = time_it(cases[i].f, cases[i].arg, ms);
      printf("{\"bench\":\"pair\",\"lang\":\"c\",\"impl\":\"%s\",\"mode\":\"%s\",\"rep\":%d,\"ns\":%.3f}\n",
             cases[i].impl, cases[i].mode, r, ns);
      fflush(stdout);
    }
    fprintf(stderr, "  c pairs: rep %d/%d done\n", r + 1, reps);
  }
  prw_close(p);
  prw_unlink(our_name);
  our_name[0] = 0;
  munmap(cg, sizeof *cg);
  munmap(cw, sizeof *cw);
  return 0;
}

/* ----------------------------------------------------- 2. contended mixes */

/* The critical sections of the mix and their invariant checks; each
 * returns 1 on a violation. writer_in catches two writers at once. With
 * --check counter every reader counts itself in and out of readers_in, a
 * line all readers write, and a writer looks for readers counted in. With
 * --check data the readers only read, as the readers of read-mostly data
 * do: a writer stamps data_a as it enters and data_b as it leaves, so a
 * writer inside as a reader entered left a != b, and one that came in
 * during its hold moved them. */
static int write_hold(struct ctl *c, int hold, int data) {
  int viol = atomic_exchange(&c->writer_in, 1) != 0;
  if (!data && atomic_load_explicit(&c->readers_in, memory_order_relaxed)) viol = 1;
  long v = data ? atomic_load_explicit(&c->data_a, memory_order_relaxed) + 1 : 0;
  if (data) atomic_store(&c->data_a, v);
  hold_work(hold);
  if (data) atomic_store(&c->data_b, v);
  atomic_store(&c->writer_in, 0);
  return viol;
}

static int read_hold(struct ctl *c, int hold, int data) {
  if (data) {
    long a1 = atomic_load(&c->data_a), b1 = atomic_load(&c->data_b);
    hold_work(hold);
    long a2 = atomic_load(&c->data_a), b2 = atomic_load(&c->data_b);
    return a1 != b1 || a2 != a1 || b2 != b1;
  }
  atomic_fetch_add_explicit(&c->readers_in, 1, memory_order_relaxed);
  int viol = atomic_load_explicit(&c->writer_in, memory_order_relaxed) != 0;
  hold_work(hold);
  atomic_fetch_sub_explicit(&c->readers_in, 1, memory_order_relaxed);
  return viol;
}

/* worker-mix CTL IMPL NAME IDX READPCT HOLD CHECK */
static int cmd_worker_mix(int argc, char **argv) {
  (void)argc;
  struct ctl *c = ctl_map(argv[2]);
  int impl = parse_impl(argv[3]);
  int idx = atoi(argv[5]), readpct = atoi(argv[6]), hold = atoi(argv[7]);
  int data = strcmp(argv[8], "data") == 0;
  struct lk l;
  lk_open(&l, impl, c, argv[4], 0);
  struct worker_ctr *w = &c->w[idx];
  uint32_t rng = (uint32_t)(idx + 1) * 2654435761u;
  atomic_fetch_add(&c->ready, 1);
  while (!atomic_load_explicit(&c->go, memory_order_acquire)) sleep_ns(100000);
  long nr = 0, nw = 0, viol = 0;
  while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
    rng = rng * 1664525u + 1013904223u;
    int write = (int)((rng >> 16) % 100) >= readpct;
    int rc = lk_lock(&l, write);
    if (rc && rc != EOWNERDEAD) {
      atomic_store(&c->err, rc);
      break;
    }
    if (write) {
      viol += write_hold(c, hold, data);
      nw++;
    } else {
      viol += read_hold(c, hold, data);
      nr++;
    }
    lk_release(&l);
    if (((nr + nw) & 255) == 0) {
      atomic_store_explicit(&w->ops_r, nr, memory_order_relaxed);
      atomic_store_explicit(&w->ops_w, nw, memory_order_relaxed);
    }
  }
  atomic_store(&w->ops_r, nr);
  atomic_store(&w->ops_w, nw);
  atomic_store(&w->violations, viol);
  lk_close(&l);
  return 0;
}

static int cmd_contended(int argc, char **argv) {
  int impl = parse_impl(arg(argc, argv, "--impl", "ours"));
  int procs = (int)argl(argc, argv, "--procs", 2);
  int readpct = (int)argl(argc, argv, "--read-pct", 90);
  long ms = argl(argc, argv, "--ms", 500);
  int hold = (int)argl(argc, argv, "--hold", 50);
  int rep = (int)argl(argc, argv, "--rep", 0);
  const char *check = arg(argc, argv, "--check", "counter");
  if (strcmp(check, "counter") != 0 && strcmp(check, "data") != 0) die("--check counter|data", EINVAL);
  if (procs > MAXW) procs = MAXW;
  setup_run(impl);
  struct ctl *c = ctl_create(impl);
  struct lk l;
  lk_open(&l, impl, c, our_name, 1);
  char sidx[16], srp[16], shold[16];
  snprintf(srp, sizeof srp, "%d", readpct);
  snprintf(shold, sizeof shold, "%d", hold);
  for (int i = 0; i < procs; i++) {
    snprintf(sidx, sizeof sidx, "%d", i);
    char *args[] = {self_exe, "worker-mix", ctl_path, (char *)impl_names[impl], our_name[0] ? our_name : "-",
                    sidx, srp, shold, (char *)check, NULL};
    spawn_self(args);
  }
  wait_ready(c, procs, "contended");
  int64_t t0 = now_ns();
  atomic_store_explicit(&c->go, 1, memory_order_release);
  sleep_ns(ms * 1000000LL);
  atomic_store(&c->stop, 1);
  int64_t t1 = now_ns();
  wait_children();
  long r = 0, w = 0, v = 0, minw = -1, maxw = 0;
  for (int i = 0; i < procs; i++) {
    long o = c->w[i].ops_r + c->w[i].ops_w;
    r += c->w[i].ops_r;
    w += c->w[i].ops_w;
    v += c->w[i].violations;
    if (minw < 0 || o < minw) minw = o;
    if (o > maxw) maxw = o;
  }
  double secs = (double)(t1 - t0) / 1e9;
  int64_t h0 = now_ns();
  for (int i = 0; i < 2000; i++) hold_work(hold);
  double hold_ns = (double)(now_ns() - h0) / 2000;
  printf("{\"bench\":\"contended\",\"hold_ns\":%.0f,", hold_ns);
  printf("\"lang\":\"c\",\"impl\":\"%s\",\"check\":\"%s\",\"procs\":%d,\"read_pct\":%d,\"rep\":%d,"
         "\"secs\":%.4f,\"reads\":%ld,\"writes\":%ld,\"ops_per_s\":%.1f,\"min_proc_ops\":%ld,"
         "\"max_proc_ops\":%ld,\"violations\":%ld,\"error\":%d}\n",
         impl_names[impl], check, procs, readpct, rep, secs, r, w, (double)(r + w) / secs, minw, maxw, v,
         atomic_load(&c->err));
  fflush(stdout);
  lk_close(&l);
  finish_run(c);
  return 0;
}

/* ------------------------------------------------------------ 3. starvation */

/* worker-spin CTL IMPL NAME IDX WRITE HOLD: back-to-back holds of one mode. */
static int cmd_worker_spin(int argc, char **argv) {
  (void)argc;
  struct ctl *c = ctl_map(argv[2]);
  int impl = parse_impl(argv[3]);
  int idx = atoi(argv[5]), write = atoi(argv[6]), hold = atoi(argv[7]);
  struct lk l;
  lk_open(&l, impl, c, argv[4], 0);
  struct worker_ctr *w = &c->w[idx];
  atomic_fetch_add(&c->ready, 1);
  while (!atomic_load_explicit(&c->go, memory_order_acquire)) sleep_ns(100000);
  while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
    int rc = lk_acquire(&l, write, 50000000LL); /* bounded, so stop is seen */
    if (rc == ETIMEDOUT) continue;
    if (rc) {
      atomic_store(&c->err, rc);
      break;
    }
    /* Count at acquisition: the waiter compares the count around its wait. */
    atomic_fetch_add_explicit(write ? &w->ops_w : &w->ops_r, 1, memory_order_relaxed);
    hold_work(hold);
    lk_release(&l);
  }
  lk_close(&l);
  return 0;
}

static long sum_ops(struct ctl *c, int n, int write) {
  long s = 0;
  for (int i = 0; i < n; i++) s += atomic_load_explicit(write ? &c->w[i].ops_w : &c->w[i].ops_r, memory_order_relaxed);
  return s;
}

/* starve --impl I --victim write|read --n N --ms T --limit-ms L --hold H
 * The coordinator is the victim (the lone writer or reader); N workers hold
 * the other mode back to back. */
static int cmd_starve(int argc, char **argv) {
  int impl = parse_impl(arg(argc, argv, "--impl", "ours"));
  int victim_write = strcmp(arg(argc, argv, "--victim", "write"), "write") == 0;
  int n = (int)argl(argc, argv, "--n", 4);
  long ms = argl(argc, argv, "--ms", 1000);
  long limit_ms = argl(argc, argv, "--limit-ms", 2000);
  int hold = (int)argl(argc, argv, "--hold", 2000);
  long gap_us = argl(argc, argv, "--gap-us", 2000);
  setup_run(impl);
  struct ctl *c = ctl_create(impl);
  struct lk l;
  lk_open(&l, impl, c, our_name, 1);
  char sidx[16], swr[4], shold[16];
  snprintf(swr, sizeof swr, "%d", victim_write ? 0 : 1);
  snprintf(shold, sizeof shold, "%d", hold);
  for (int i = 0; i < n; i++) {
    snprintf(sidx, sizeof sidx, "%d", i);
    char *args[] = {self_exe, "worker-spin", ctl_path, (char *)impl_names[impl], our_name[0] ? our_name : "-",
                    sidx, swr, shold, NULL};
    spawn_self(args);
  }
  wait_ready(c, n, "starvation");
  atomic_store_explicit(&c->go, 1, memory_order_release);
  sleep_ns(50000000LL); /* let the others get going */
  int64_t waits[MAXSAMPLES];
  long granted[MAXSAMPLES];
  int ns = 0, timed_out = 0;
  int64_t end = now_ns() + ms * 1000000LL;
  while (now_ns() < end && ns < MAXSAMPLES) {
    long g0 = sum_ops(c, n, !victim_write);
    int64_t t0 = now_ns();
    int rc = lk_acquire(&l, victim_write, limit_ms * 1000000LL);
    int64_t t1 = now_ns();
    long g1 = sum_ops(c, n, !victim_write);
    if (rc == ETIMEDOUT) {
      timed_out = 1;
      waits[ns] = t1 - t0;
      granted[ns++] = g1 - g0;
      break;
    }
    if (rc) die("victim acquire", rc);
    lk_release(&l);
    waits[ns] = t1 - t0;
    granted[ns++] = g1 - g0;
    sleep_ns(gap_us * 1000);
  }
  atomic_store(&c->stop, 1);
  long others = sum_ops(c, n, !victim_write);
  wait_children();
  printf("{\"bench\":\"starve\",\"lang\":\"c\",\"impl\":\"%s\",\"victim\":\"%s\",\"n\":%d,\"hold\":%d,"
         "\"limit_ms\":%ld,\"timed_out\":%s,\"others_ops\":%ld,\"waits_ns\":[",
         impl_names[impl], victim_write ? "write" : "read", n, hold, limit_ms, timed_out ? "true" : "false", others);
  for (int i = 0; i < ns; i++) printf("%s%" PRId64, i ? "," : "", waits[i]);
  printf("],\"granted\":[");
  for (int i = 0; i < ns; i++) printf("%s%ld", i ? "," : "", granted[i]);
  printf("],\"error\":%d}\n", atomic_load(&c->err));
  fflush(stdout);
  lk_close(&l);
  finish_run(c);
  return 0;
}

/* ------------------------------------------------------------- 4. hand-off */

/* worker-handoff CTL IMPL NAME WRITE: waits, stamps the latency, releases. */
static int cmd_worker_handoff(int argc, char **argv) {
  (void)argc;
  struct ctl *c = ctl_map(argv[2]);
  int impl = parse_impl(argv[3]);
  int write = atoi(argv[5]);
  struct lk l;
  lk_open(&l, impl, c, argv[4], 0);
  atomic_fetch_add(&c->ready, 1);
  for (int seq = 1;; seq++) {
    while (atomic_load(&c->phase) != seq) {
      if (atomic_load(&c->stop)) goto out;
    }
    /* phase == seq: the coordinator holds write; block on it. */
    atomic_store(&c->go, seq);
    int rc = lk_lock(&l, write);
    int64_t t1 = now_ns();
    if (rc && rc != EOWNERDEAD) {
      atomic_store(&c->err, rc);
      break;
    }
    c->samples[(seq - 1) % MAXSAMPLES] = t1 - atomic_load(&c->stamp);
    lk_release(&l);
    atomic_store(&c->seq, seq);
  }
out:
  lk_close(&l);
  return 0;
}

static int cmd_handoff(int argc, char **argv) {
  int impl = parse_impl(arg(argc, argv, "--impl", "ours"));
  int write = strcmp(arg(argc, argv, "--waiter", "write"), "write") == 0;
  int n = (int)argl(argc, argv, "--n", 200);
  long settle_us = argl(argc, argv, "--settle-us", 1000);
  if (n > MAXSAMPLES) n = MAXSAMPLES;
  setup_run(impl);
  struct ctl *c = ctl_create(impl);
  struct lk l;
  lk_open(&l, impl, c, our_name, 1);
  char *args[] = {self_exe, "worker-handoff", ctl_path, (char *)impl_names[impl], our_name[0] ? our_name : "-",
                  write ? "1" : "0", NULL};
  spawn_self(args);
  wait_ready(c, 1, "hand-off");
  for (int seq = 1; seq <= n; seq++) {
    if (lk_write(&l) != 0) die("hand-off holder", EIO);
    atomic_store(&c->phase, seq);
    while (atomic_load(&c->go) != seq) {
      if (atomic_load(&c->err)) die("hand-off waiter", atomic_load(&c->err));
    }
    sleep_ns(settle_us * 1000); /* the waiter is asleep in the kernel by now */
    atomic_store(&c->stamp, now_ns());
    lk_release(&l);
    int64_t dl = now_ns() + 5000000000LL;
    while (atomic_load(&c->seq) != seq) {
      if (now_ns() > dl) die("hand-off: waiter never ran", ETIMEDOUT);
    }
  }
  atomic_store(&c->stop, 1);
  wait_children();
  printf("{\"bench\":\"handoff\",\"lang\":\"c\",\"impl\":\"%s\",\"waiter\":\"%s\",\"lat_ns\":[", impl_names[impl],
         write ? "write" : "read");
  for (int i = 0; i < n; i++) printf("%s%" PRId64, i ? "," : "", c->samples[i]);
  printf("]}\n");
  fflush(stdout);
  lk_close(&l);
  finish_run(c);
  return 0;
}

/* ------------------------------------------------------------- 5. recovery */

/* worker-hold CTL IMPL NAME WRITE: take the lock, say so, sleep forever. */
static int cmd_worker_hold(int argc, char **argv) {
  (void)argc;
  struct ctl *c = ctl_map(argv[2]);
  int impl = parse_impl(argv[3]);
  struct lk l;
  lk_open(&l, impl, c, argv[4], 0);
  int rc = lk_acquire(&l, atoi(argv[5]), -1);
  if (rc) atomic_store(&c->err, rc);
  atomic_fetch_add(&c->ready, 1);
  for (;;) pause();
  return 0;
}

/* worker-recover-wait CTL IMPL NAME LIMITMS: wait for write, report. */
static int cmd_worker_recover_wait(int argc, char **argv) {
  (void)argc;
  struct ctl *c = ctl_map(argv[2]);
  int impl = parse_impl(argv[3]);
  long limit_ms = atol(argv[5]);
  struct lk l;
  lk_open(&l, impl, c, argv[4], 0);
  atomic_fetch_add(&c->ready, 1);
  int rc = lk_acquire(&l, 1, limit_ms * 1000000LL);
  int64_t t1 = now_ns();
  atomic_store(&c->result_ns, t1);
  atomic_store(&c->result_rc, rc);
  if (rc == 0) lk_release(&l);
  lk_close(&l);
  return 0;
}

static int cmd_recover(int argc, char **argv) {
  int impl = parse_impl(arg(argc, argv, "--impl", "ours"));
  int write = strcmp(arg(argc, argv, "--holder", "write"), "write") == 0;
  long limit_ms = argl(argc, argv, "--limit-ms", 2000);
  int rep = (int)argl(argc, argv, "--rep", 0);
  setup_run(impl);
  struct ctl *c = ctl_create(impl);
  struct lk l;
  lk_open(&l, impl, c, our_name, 1);
  char slim[24];
  snprintf(slim, sizeof slim, "%ld", limit_ms);
  const char *nm = our_name[0] ? our_name : "-";
  char *hargs[] = {self_exe, "worker-hold", ctl_path, (char *)impl_names[impl], (char *)nm, write ? "1" : "0", NULL};
  pid_t holder = spawn_self(hargs);
  wait_ready(c, 1, "holder");
  char *wargs[] = {self_exe, "worker-recover-wait", ctl_path, (char *)impl_names[impl], (char *)nm, slim, NULL};
  spawn_self(wargs);
  wait_ready(c, 2, "waiter");
  sleep_ns(20000000LL); /* the waiter is blocked by now */
  atomic_store(&c->result_rc, -1);
  int64_t t0 = now_ns();
  kill(holder, SIGKILL);
  waitpid(holder, NULL, 0); /* reaped at once, as a supervisor would */
  children[0] = 0;
  wait_children();
  int rc = atomic_load(&c->result_rc);
  int64_t t1 = atomic_load(&c->result_ns);
  printf("{\"bench\":\"recover\",\"lang\":\"c\",\"impl\":\"%s\",\"holder\":\"%s\",\"rep\":%d,\"limit_ms\":%ld,"
         "\"recovered\":%s,\"ns\":%" PRId64 ",\"rc\":%d}\n",
         impl_names[impl], write ? "write" : "read", rep, limit_ms, rc == 0 ? "true" : "false",
         rc == 0 ? t1 - t0 : (int64_t)-1, rc);
  fflush(stdout);
  lk_close(&l);
  /* A glibc lock whose holder died can never be released: leave it. */
  finish_run(c);
  return 0;
}

/* ---------------------------------------------------------------- 6. scale */

struct glk {
  pthread_rwlock_t *rw;
};

static pthread_rwlock_t *glibc_make(const char *path, int create) {
  int fd = open(path, O_RDWR | (create ? O_CREAT : 0), 0600);
  if (fd < 0) die("open glibc lock", errno);
  if (create && ftruncate(fd, sizeof(pthread_rwlock_t)) != 0) die("ftruncate", errno);
  pthread_rwlock_t *rw = mmap(NULL, sizeof *rw, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (rw == MAP_FAILED) die("mmap", errno);
  if (create) {
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    pthread_rwlockattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_rwlock_init(rw, &a);
  }
  return rw;
}

static int cmd_scale(int argc, char **argv) {
  int iters = (int)argl(argc, argv, "--iters", 2000);
  int many = (int)argl(argc, argv, "--many", 10000);
  char gpath[256], oname[128];
  snprintf(gpath, sizeof gpath, "/dev/shm/prwlock-bench-%s-scale-%d", tag(), (int)getpid());
  snprintf(oname, sizeof oname, "bench-%s-scale-%d", tag(), (int)getpid());
  strcpy(our_name, oname);
  strcpy(ctl_path, gpath); /* so that a signal removes it */

  /* Fixed soft limit: 10,000 locks must fit in 1024 descriptors. */
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = 1024;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) die("setrlimit", errno);

  /* Warm up the runtime so the first call's ~1 ms is not counted. */
  prw_lock *p;
  int rc = prw_create(&p);
  if (rc) die("prw_create", rc);
  prw_close(p);

  int64_t t0;
  double ns;
  /* create + close, anonymous */
  t0 = now_ns();
  for (int i = 0; i < iters; i++) {
    if ((rc = prw_create(&p))) die("prw_create", rc);
    prw_close(p);
  }
  ns = (double)(now_ns() - t0) / iters;
  printf("{\"bench\":\"scale\",\"lang\":\"c\",\"impl\":\"ours\",\"op\":\"create+close\",\"ns\":%.1f}\n", ns);
  /* open existing + close */
  prw_lock *keep;
  if ((rc = prw_open(oname, PRW_CREATE, 0600, &keep))) die("prw_open", rc);
  t0 = now_ns();
  for (int i = 0; i < iters; i++) {
    if ((rc = prw_open(oname, 0, 0, &p))) die("prw_open", rc);
    prw_close(p);
  }
  ns = (double)(now_ns() - t0) / iters;
  printf("{\"bench\":\"scale\",\"lang\":\"c\",\"impl\":\"ours\",\"op\":\"open+close\",\"ns\":%.1f}\n", ns);
  prw_close(keep);
  prw_unlink(oname);
  fprintf(stderr, "  c scale: create/open costs done\n");

  /* glibc baseline: a file in /dev/shm with a pshared rwlock in it. */
  t0 = now_ns();
  for (int i = 0; i < iters; i++) {
    pthread_rwlock_t *rw = glibc_make(gpath, 1);
    pthread_rwlock_destroy(rw);
    munmap(rw, sizeof *rw);
    unlink(gpath);
  }
  ns = (double)(now_ns() - t0) / iters;
  printf("{\"bench\":\"scale\",\"lang\":\"c\",\"impl\":\"glibc\",\"op\":\"create+close\",\"ns\":%.1f}\n", ns);
  pthread_rwlock_t *grw = glibc_make(gpath, 1);
  t0 = now_ns();
  for (int i = 0; i < iters; i++) {
    pthread_rwlock_t *rw = glibc_make(gpath, 0);
    munmap(rw, sizeof *rw);
  }
  ns = (double)(now_ns() - t0) / iters;
  printf("{\"bench\":\"scale\",\"lang\":\"c\",\"impl\":\"glibc\",\"op\":\"open+close\",\"ns\":%.1f}\n", ns);
  munmap(grw, sizeof *grw);
  unlink(gpath);
  fflush(stdout);

  /* Many at once: ours. */
  prw_lock **ps = calloc((size_t)many, sizeof *ps);
  long rss0 = rss_kb();
  int fd0 = count_fds();
  t0 = now_ns();
  int opened = 0, err = 0;
  for (int i = 0; i < many; i++) {
    if ((rc = prw_create(&ps[i]))) {
      err = rc;
      break;
    }
    opened++;
    /* Use each one once, so the figure includes a lock that has been used. */
    prw_acquire_write(ps[i], -1);
    prw_release(ps[i]);
  }
  double open_s = (double)(now_ns() - t0) / 1e9;
  long rss1 = rss_kb();
  int fd1 = count_fds();
  t0 = now_ns();
  for (int i = 0; i < opened; i++) prw_close(ps[i]);
  double close_s = (double)(now_ns() - t0) / 1e9;
  printf("{\"bench\":\"scale-many\",\"lang\":\"c\",\"impl\":\"ours\",\"want\":%d,\"opened\":%d,\"error\":%d,"
         "\"nofile_soft\":1024,\"open_s\":%.4f,\"close_s\":%.4f,\"rss_kb\":%ld,\"fds\":%d}\n",
         many, opened, err, open_s, close_s, rss1 - rss0, fd1 - fd0);
  fflush(stdout);
  free(ps);
  fprintf(stderr, "  c scale: %d locks of ours done\n", opened);

  /* Many at once: glibc, one small file each, mapped, fd closed. */
  pthread_rwlock_t **gs = calloc((size_t)many, sizeof *gs);
  rss0 = rss_kb();
  fd0 = count_fds();
  char path[300];
  t0 = now_ns();
  for (int i = 0; i < many; i++) {
    snprintf(path, sizeof path, "%s-%d", gpath, i);
    gs[i] = glibc_make(path, 1);
    pthread_rwlock_wrlock(gs[i]);
    pthread_rwlock_unlock(gs[i]);
  }
  open_s = (double)(now_ns() - t0) / 1e9;
  rss1 = rss_kb();
  fd1 = count_fds();
  t0 = now_ns();
  for (int i = 0; i < many; i++) {
    munmap(gs[i], sizeof(pthread_rwlock_t));
    snprintf(path, sizeof path, "%s-%d", gpath, i);
    unlink(path);
  }
  close_s = (double)(now_ns() - t0) / 1e9;
  printf("{\"bench\":\"scale-many\",\"lang\":\"c\",\"impl\":\"glibc\",\"want\":%d,\"opened\":%d,\"error\":0,"
         "\"nofile_soft\":1024,\"open_s\":%.4f,\"close_s\":%.4f,\"rss_kb\":%ld,\"fds\":%d}\n",
         many, many, open_s, close_s, rss1 - rss0, fd1 - fd0);
  fflush(stdout);
  free(gs);
  our_name[0] = 0;
  ctl_path[0] = 0;
  return 0;
}

/* ------------------------------------------------------------- 7. capacity */

/* Bytes of /dev/shm the file really uses (tmpfs allocates a page when it is
 * first touched; st_blocks counts them, as du does) and its size, which is
 * what every process maps. */
static void shm_usage(const char *name, long *touched, long *mapped) {
  char path[300];
  struct stat st;
  snprintf(path, sizeof path, "/dev/shm/prwlock.%s", name);
  if (stat(path, &st) != 0) die("stat lock file", errno);
  *touched = (long)st.st_blocks * 512;
  *mapped = (long)st.st_size;
}

/* A thread that takes and drops read once: a new owner (thread id). */
static void *read_pair_thread(void *p) {
  if (prw_acquire_read(p, -1) == 0) prw_release(p);
  return NULL;
}

/* Owners 1..n, one thread each, one after the other, each a read pair. */
static void owners_use(prw_lock *p, int n) {
  for (int i = 0; i < n; i++) {
    pthread_t th;
    if (pthread_create(&th, NULL, read_pair_thread, p) != 0) die("pthread_create", errno);
    pthread_join(th, NULL);
  }
}

/* n threads hold read at once: touched memory while they all hold. */
struct together {
  prw_lock *p;
  pthread_barrier_t held, go;
};

static void *hold_together_thread(void *arg) {
  struct together *t = arg;
  int rc = prw_acquire_read(t->p, -1);
  pthread_barrier_wait(&t->held);
  pthread_barrier_wait(&t->go);
  if (rc == 0) prw_release(t->p);
  return NULL;
}

static void print_memory(const char *name, int capacity, const char *state, int owners, int procs);

static void owners_hold_together(prw_lock *p, const char *name, int capacity, int n) {
  struct together t = {.p = p};
  pthread_t *th = calloc((size_t)n, sizeof *th);
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setstacksize(&a, 64 * 1024);
  pthread_barrier_init(&t.held, NULL, (unsigned)n + 1);
  pthread_barrier_init(&t.go, NULL, (unsigned)n + 1);
  for (int i = 0; i < n; i++)
    if (pthread_create(&th[i], &a, hold_together_thread, &t) != 0) die("pthread_create", errno);
  pthread_barrier_wait(&t.held);
  print_memory(name, capacity, "held", n, 1);
  pthread_barrier_wait(&t.go);
  for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
  pthread_barrier_destroy(&t.held);
  pthread_barrier_destroy(&t.go);
  pthread_attr_destroy(&a);
  free(th);
}

/* worker-attach CTL NAME: open the lock, one read pair, report, stay. */
static int cmd_worker_attach(int argc, char **argv) {
  (void)argc;
  struct ctl *c = ctl_map(argv[2]);
  prw_lock *p;
  int rc = prw_open(argv[3], 0, 0, &p);
  if (rc == 0) rc = prw_acquire_read(p, -1);
  if (rc == 0) rc = prw_release(p);
  if (rc) atomic_store(&c->err, rc);
  atomic_fetch_add(&c->ready, 1);
  for (;;) pause();
  return 0;
}

static void print_memory(const char *name, int capacity, const char *state, int owners, int procs) {
  long touched, mapped;
  shm_usage(name, &touched, &mapped);
  printf("{\"bench\":\"capacity-memory\",\"lang\":\"c\",\"impl\":\"ours\",\"capacity\":%d,\"state\":\"%s\","
         "\"owners\":%d,\"procs\":%d,\"touched\":%ld,\"mapped\":%ld}\n",
         capacity, state, owners, procs, touched, mapped);
  fflush(stdout);
}

/* set: "capacity" (one process, by capacity) or "attached-N" (a default
 * lock with N other processes attached, next to one with none). */
static void print_pair(const char *set, int capacity, int procs, int rep, double ns) {
  printf("{\"bench\":\"capacity-pair\",\"lang\":\"c\",\"impl\":\"ours\",\"mode\":\"write\",\"set\":\"%s\","
         "\"capacity\":%d,\"procs\":%d,\"rep\":%d,\"ns\":%.3f}\n",
         set, capacity, procs, rep, ns);
  fflush(stdout);
}

/* capacity --reps R --ms MS --procs N,N...: memory per lock by capacity and
 * use, and the uncontended write pair by capacity and by the number of
 * other processes attached to the lock. */
static int cmd_capacity(int argc, char **argv) {
  int reps = (int)argl(argc, argv, "--reps", 3);
  long ms = argl(argc, argv, "--ms", 100);
  const char *procs_arg = arg(argc, argv, "--procs", "10,1000");
  static const int caps[] = {64, 128, PRW_DEFAULT_CAPACITY, PRW_MAX_CAPACITY}; /* locks[2]: default */
  enum { NCAPS = sizeof caps / sizeof caps[0] };
  char names[NCAPS][128];
  prw_lock *locks[NCAPS];

  /* 1. Memory: fresh, after one owner, after 10 and 1000 owners (threads,
   * one after the other: slots are claimed where the owner's id hashes). */
  for (int k = 0; k < NCAPS; k++) {
    snprintf(names[k], sizeof names[k], "bench-%s-cap%d-%d", tag(), caps[k], (int)getpid());
    strcpy(our_name, names[k]); /* removed on a signal */
    int rc = prw_open_ex(names[k], PRW_CREATE | PRW_EXCL, 0600, (unsigned)caps[k], &locks[k]);
    if (rc) die("prw_open_ex", rc);
    print_memory(names[k], caps[k], "created", 0, 1);
    pair_ours_w(locks[k], 1);
    print_memory(names[k], caps[k], "used", 1, 1);
    owners_use(locks[k], 10);
    print_memory(names[k], caps[k], "used", 11, 1);
    owners_use(locks[k], 1000);
    print_memory(names[k], caps[k], "used", 1011, 1);
    if (caps[k] >= 1000) owners_hold_together(locks[k], names[k], caps[k], 1000);
  }
  fprintf(stderr, "  c capacity: memory by capacity done\n");

  /* 2. The write pair by capacity, this process alone. */
  for (int r = 0; r < reps; r++)
    for (int k = 0; k < NCAPS; k++) print_pair("capacity", caps[k], 1, r, time_it(pair_ours_w, locks[k], ms));
  fprintf(stderr, "  c capacity: write pair by capacity done\n");

  /* 3. A default lock with N other processes attached (each did a read
   * pair and stays), next to the same lock with nobody else. */
  char plist[256];
  snprintf(plist, sizeof plist, "%s", procs_arg);
  for (char *tok = strtok(plist, ","); tok; tok = strtok(NULL, ",")) {
    int n = atoi(tok);
    if (n <= 0) continue;
    char name[128];
    snprintf(name, sizeof name, "bench-%s-attached%d-%d", tag(), n, (int)getpid());
    strcpy(our_name, name);
    struct ctl *c = ctl_create(IMPL_OURS);
    prw_lock *p;
    int rc = prw_open(name, PRW_CREATE | PRW_EXCL, 0600, &p);
    if (rc) die("prw_open", rc);
    pid_t *pids = calloc((size_t)n, sizeof *pids);
    int64_t t0 = now_ns();
    for (int i = 0; i < n; i++) {
      char *wargs[] = {self_exe, "worker-attach", ctl_path, name, NULL};
      if ((rc = posix_spawn(&pids[i], self_exe, NULL, NULL, wargs, environ))) die("posix_spawn", rc);
    }
    int64_t dl = now_ns() + 120000000000LL;
    while (atomic_load(&c->ready) < n && !atomic_load(&c->err) && now_ns() < dl) sleep_ns(1000000);
    if (atomic_load(&c->ready) < n || atomic_load(&c->err)) {
      fprintf(stderr, "bench: attach workers: %d of %d ready, error %d\n", atomic_load(&c->ready), n,
              atomic_load(&c->err));
      for (int i = 0; i < n; i++) kill(pids[i], SIGKILL);
      for (int i = 0; i < n; i++) waitpid(pids[i], NULL, 0);
      prw_close(p);
      finish_run(c);
      exit(2);
    }
    fprintf(stderr, "  c capacity: %d processes attached in %.1f s\n", n, (now_ns() - t0) / 1e9);
    print_memory(name, PRW_DEFAULT_CAPACITY, "attached", n + 1, n + 1);
    char set[32];
    snprintf(set, sizeof set, "attached-%d", n);
    for (int r = 0; r < reps; r++) {
      print_pair(set, PRW_DEFAULT_CAPACITY, 1, r, time_it(pair_ours_w, locks[2], ms));
      print_pair(set, PRW_DEFAULT_CAPACITY, n + 1, r, time_it(pair_ours_w, p, ms));
    }
    for (int i = 0; i < n; i++) kill(pids[i], SIGKILL);
    for (int i = 0; i < n; i++) waitpid(pids[i], NULL, 0);
    free(pids);
    prw_close(p);
    finish_run(c);
  }
  for (int k = 0; k < NCAPS; k++) {
    prw_close(locks[k]);
    prw_unlink(names[k]);
  }
  our_name[0] = 0;
  return 0;
}

/* -------------------------------------------------------------------- main */

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench pairs|contended|starve|handoff|recover|scale|capacity [--opt val]...\n");
    return 2;
  }
  ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
  if (n <= 0) die("readlink /proc/self/exe", errno);
  self_exe[n] = 0;
  const char *cmd = argv[1];
  if (strncmp(cmd, "worker-", 7) == 0) {
    if (strcmp(cmd, "worker-mix") == 0) return cmd_worker_mix(argc, argv);
    if (strcmp(cmd, "worker-spin") == 0) return cmd_worker_spin(argc, argv);
    if (strcmp(cmd, "worker-handoff") == 0) return cmd_worker_handoff(argc, argv);
    if (strcmp(cmd, "worker-hold") == 0) return cmd_worker_hold(argc, argv);
    if (strcmp(cmd, "worker-recover-wait") == 0) return cmd_worker_recover_wait(argc, argv);
    if (strcmp(cmd, "worker-attach") == 0) return cmd_worker_attach(argc, argv);
    fprintf(stderr, "bench: unknown worker %s\n", cmd);
    return 2;
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGHUP, on_signal);
  signal(SIGPIPE, on_signal); /* output piped into a reader that stopped */
  if (strcmp(cmd, "pairs") == 0) return cmd_pairs(argc, argv);
  if (strcmp(cmd, "contended") == 0) return cmd_contended(argc, argv);
  if (strcmp(cmd, "starve") == 0) return cmd_starve(argc, argv);
  if (strcmp(cmd, "handoff") == 0) return cmd_handoff(argc, argv);
  if (strcmp(cmd, "recover") == 0) return cmd_recover(argc, argv);
  if (strcmp(cmd, "scale") == 0) return cmd_scale(argc, argv);
  if (strcmp(cmd, "capacity") == 0) return cmd_capacity(argc, argv);
  fprintf(stderr, "bench: unknown command %s\n", cmd);
  return 2;
}
