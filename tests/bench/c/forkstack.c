/* forkstack: the benchmark rows of fork children and foreign stacks.
 *
 *   bench_fork fork --children N          a child forked without exec: its
 *       first call on an inherited handle (data plane), its first and second
 *       call that needs the engine (the library loads its private copy), and
 *       what the copy costs (RSS, threads); the parent's pair as baseline
 *   bench_fork fork-depth --engine 0|1 --cap D
 *       nested forks, each generation making a data-plane call (engine 0) or
 *       also one that needs the engine (engine 1): how deep it goes
 *   bench_fork stack --reps R --n N        an uncontended pair on the
 *       thread's stack and on a malloc'd (makecontext) stack
 *
 * Prints one JSON object per line on stdout, progress on stderr. Files it
 * makes carry $BENCH_TAG and are removed at exit. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "prwlock.h"

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long argl(int argc, char **argv, const char *name, long def) {
  for (int i = 0; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0) return strtol(argv[i + 1], NULL, 10);
  return def;
}

static void die(const char *what, int rc) {
  fprintf(stderr, "bench_fork: %s: %d (%s)\n", what, rc, prw_strerror(rc));
  exit(2);
}

/* status_kb reads a "Name:   123 kB" field of /proc/self/status. */
static long status_field(const char *name) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  size_t n = strlen(name);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, name, n) == 0 && line[n] == ':') v = strtol(line + n + 1, NULL, 10);
  if (f) fclose(f);
  return v;
}

static int copy_loaded(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  char line[4096];
  int found = 0;
  while (f && !found && fgets(line, sizeof line, f)) found = strstr(line, "libprwlock-fork-copy") != NULL;
  if (f) fclose(f);
  return found;
}

static prw_lock *L;

static double pair_ns(prw_lock *l, int n) {
  int64_t t0 = now_ns();
  for (int k = 0; k < n; k++) {
    prw_acquire_read(l, -1);
    prw_release(l);
  }
  return (double)(now_ns() - t0) / n;
}

/* ------------------------------------------------------------------- fork */

struct child_result {
  int64_t first_data_ns, first_engine_ns, second_engine_ns;
  long rss_before_kb, rss_after_kb, threads_before, threads_after;
  int copy_after_data, copy_after_engine, rc;
};

static void fork_child(int fd) {
  struct child_result r = {0};
  int64_t t0 = now_ns();
  int rc = prw_try_acquire_read(L);
  if (rc == 0) rc = prw_release(L);
  r.first_data_ns = now_ns() - t0;
  r.copy_after_data = copy_loaded();
  r.rss_before_kb = status_field("VmRSS");
  r.threads_before = status_field("Threads");
  prw_info_t info;
  t0 = now_ns();
  if (rc == 0) rc = prw_info(L, &info);
  r.first_engine_ns = now_ns() - t0;
  t0 = now_ns();
  if (rc == 0) rc = prw_info(L, &info);
  r.second_engine_ns = now_ns() - t0;
  r.rss_after_kb = status_field("VmRSS");
  r.threads_after = status_field("Threads");
  r.copy_after_engine = copy_loaded();
  r.rc = rc;
  if (write(fd, &r, sizeof r) != sizeof r) _exit(3);
  exit(0); /* exit(), not _exit(): a child's atexit work is part of the cost */
}

static int cmd_fork(int argc, char **argv) {
  int children = (int)argl(argc, argv, "--children", 10);
  int rc = prw_create(&L);
  if (rc) die("prw_create", rc);
  double parent = pair_ns(L, 100000);
  printf("{\"bench\":\"fork\",\"what\":\"parent_pair\",\"ns\":%.1f}\n", parent);
  for (int k = 0; k < children; k++) {
    int fds[2];
    if (pipe(fds) != 0) die("pipe", errno);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork", errno);
    if (pid == 0) {
      close(fds[0]);
      alarm(60);
      fork_child(fds[1]);
    }
    close(fds[1]);
    struct child_result r;
    ssize_t got = read(fds[0], &r, sizeof r);
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    if (got != sizeof r || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "bench_fork: child %d failed (status %#x)\n", k, status);
      continue;
    }
    printf("{\"bench\":\"fork\",\"what\":\"child\",\"rc\":%d,\"first_data_ns\":%lld,"
           "\"first_engine_ns\":%lld,\"second_engine_ns\":%lld,\"copy_after_data\":%d,"
           "\"copy_after_engine\":%d,\"rss_copy_kb\":%ld,\"threads_copy\":%ld}\n",
           r.rc, (long long)r.first_data_ns, (long long)r.first_engine_ns,
           (long long)r.second_engine_ns, r.copy_after_data, r.copy_after_engine,
           r.rss_after_kb - r.rss_before_kb, r.threads_after - r.threads_before);
  }
  fprintf(stderr, "  fork: %d children done\n", children);
  prw_close(L);
  return 0;
}

/* ------------------------------------------------------------- fork-depth */

struct depth_ctl {
  int deepest_ok;  /* deepest generation whose calls all succeeded */
  int failed_at;   /* first generation that failed, 0 if none */
  int rc;          /* its error */
  int done;
};

/* chain runs the generations: each makes its calls, forks the next and
 * exits at once, so that only the chain's tip lives (address spaces still
 * nest: each child inherits every copy its ancestors loaded). */
static void chain(struct depth_ctl *c, int engine, int cap) {
  for (int level = 1;; level++) {
    int rc = prw_try_acquire_read(L);
    if (rc == 0) rc = prw_release(L);
    if (rc == 0 && engine) {
      prw_info_t info;
      rc = prw_info(L, &info);
    }
    if (rc != 0) {
      c->failed_at = level, c->rc = rc;
      break;
    }
    c->deepest_ok = level;
    if (level == cap) break;
    pid_t pid = fork();
    if (pid < 0) {
      c->failed_at = level + 1, c->rc = errno;
      break;
    }
    if (pid > 0) _exit(0);
  }
  __atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
  exit(0);
}

static int cmd_fork_depth(int argc, char **argv) {
  int engine = (int)argl(argc, argv, "--engine", 0), cap = (int)argl(argc, argv, "--cap", 64);
  struct depth_ctl *c = mmap(NULL, sizeof *c, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (c == MAP_FAILED) die("mmap", errno);
  /* Orphaned generations are reparented to us, so that we reap them. */
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  int rc = prw_create(&L);
  if (rc) die("prw_create", rc);
  int64_t t0 = now_ns();
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) die("fork", errno);
  if (pid == 0) chain(c, engine, cap);
  int64_t deadline = t0 + 300000000000LL;
  while (!__atomic_load_n(&c->done, __ATOMIC_ACQUIRE) && now_ns() < deadline) {
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
  }
  double secs = (double)(now_ns() - t0) / 1e9;
  while (waitpid(-1, NULL, 0) > 0) {
  }
  printf("{\"bench\":\"fork_depth\",\"engine\":%d,\"cap\":%d,\"deepest_ok\":%d,\"failed_at\":%d,"
         "\"rc\":%d,\"seconds\":%.2f}\n",
         engine, cap, c->deepest_ok, c->failed_at, c->rc, secs);
  fprintf(stderr, "  fork-depth (engine %d): %d generations, failed at %d\n", engine, c->deepest_ok,
          c->failed_at);
  prw_close(L);
  return 0;
}

/* ------------------------------------------------------------------ stack */

static ucontext_t main_ctx, co_ctx;
static int co_n, co_write;
static double co_ns;

static double pairs(int n, int write) {
  int64_t t0 = now_ns();
  for (int k = 0; k < n; k++) {
    int rc = write ? prw_acquire_write(L, -1) : prw_acquire_read(L, -1);
    if (rc == 0) rc = prw_release(L);
    if (rc) die("pair", rc);
  }
  return (double)(now_ns() - t0) / n;
}

static void coroutine(void) { co_ns = pairs(co_n, co_write); }

static int cmd_stack(int argc, char **argv) {
  int reps = (int)argl(argc, argv, "--reps", 5), n = (int)argl(argc, argv, "--n", 200000);
  int rc = prw_create(&L);
  if (rc) die("prw_create", rc);
  size_t size = 256 * 1024;
  void *stack = malloc(size);
  if (!stack) die("malloc", ENOMEM);
  pairs(n / 10, 0);
  for (int r = 0; r < reps; r++)
    for (co_write = 0; co_write < 2; co_write++) {
      double own = pairs(n, co_write);
      co_n = n;
      getcontext(&co_ctx);
      co_ctx.uc_stack.ss_sp = stack;
      co_ctx.uc_stack.ss_size = size;
      co_ctx.uc_link = &main_ctx;
      makecontext(&co_ctx, coroutine, 0);
      swapcontext(&main_ctx, &co_ctx);
      const char *mode = co_write ? "write" : "read";
      printf("{\"bench\":\"stack\",\"where\":\"thread\",\"mode\":\"%s\",\"rep\":%d,\"ns\":%.2f}\n", mode, r, own);
      printf("{\"bench\":\"stack\",\"where\":\"malloc\",\"mode\":\"%s\",\"rep\":%d,\"ns\":%.2f}\n", mode, r,
             co_ns);
      fflush(stdout);
    }
  fprintf(stderr, "  stack: %d reps done\n", reps);
  free(stack);
  prw_close(L);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_fork fork|fork-depth|stack [--opt val]...\n");
    return 2;
  }
  if (strcmp(argv[1], "fork") == 0) return cmd_fork(argc, argv);
  if (strcmp(argv[1], "fork-depth") == 0) return cmd_fork_depth(argc, argv);
  if (strcmp(argv[1], "stack") == 0) return cmd_stack(argc, argv);
  fprintf(stderr, "bench_fork: unknown command %s\n", argv[1]);
  return 2;
}
