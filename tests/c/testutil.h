/* Small helpers shared by the C tests: checks that report and carry on,
 * unique lock names, clocks, and helper processes that are started with
 * posix_spawn + exec (never a bare fork) and driven through pipes. */
#ifndef PRW_TESTUTIL_H
#define PRW_TESTUTIL_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "prwlock.h"

extern char **environ;

static int t_failures;

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      t_failures++;                                                        \
    }                                                                      \
  } while (0)

/* EXPECT_RC(call, want): call returns want. */
#define EXPECT_RC(call, want)                                              \
  do {                                                                     \
    int got_ = (call), want_ = (want);                                     \
    if (got_ != want_) {                                                   \
      fprintf(stderr, "%s:%d: %s = %d (%s), want %d (%s)\n", __FILE__,     \
              __LINE__, #call, got_, prw_strerror(got_), want_,            \
              prw_strerror(want_));                                        \
      t_failures++;                                                        \
    }                                                                      \
  } while (0)

/* REQUIRE: like CHECK, but stop the test at once. */
#define REQUIRE(cond)                                                      \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__,   \
              #cond);                                                      \
      exit(1);                                                             \
    }                                                                      \
  } while (0)

static inline int t_done(const char *name) {
  if (t_failures) {
    fprintf(stderr, "%s: %d check(s) FAILED\n", name, t_failures);
    return 1;
  }
  printf("%s: all checks passed\n", name);
  return 0;
}

static inline int64_t t_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void t_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

static inline uint32_t t_gettid(void) { return (uint32_t)syscall(SYS_gettid); }

/* t_tmpdir: where tests put their files, TMPDIR or /tmp. `make test` gives
 * each run a TMPDIR of its own and checks what is left in it. */
static inline const char *t_tmpdir(void) {
  const char *d = getenv("TMPDIR");
  return d && d[0] == '/' ? d : "/tmp";
}

/* t_name: a bare lock name unique to this process and call. */
static inline const char *t_name(char *buf, size_t n, const char *tag) {
  static int seq;
  snprintf(buf, n, "ctest.%s.%d.%d", tag, (int)getpid(), seq++);
  return buf;
}

static inline int t_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* t_path: the file of lock l. */
static inline const char *t_path(prw_lock *l, char *buf, size_t n) {
  size_t len = n;
  if (prw_name(l, buf, &len) != 0) snprintf(buf, n, "(no name)");
  return buf;
}

/* t_until polls cond (an expression) for at most ms milliseconds. */
#define t_until(cond, ms)                                                  \
  ({                                                                       \
    int64_t end_ = t_now_ns() + (int64_t)(ms) * 1000000;                    \
    int ok_;                                                               \
    while (!(ok_ = !!(cond)) && t_now_ns() < end_) t_sleep_ms(1);           \
    ok_;                                                                   \
  })

/* A helper process whose stdin and stdout are pipes to us. */
typedef struct {
  pid_t pid;
  int to;   /* its stdin */
  int from; /* its stdout */
  char buf[8192];
  size_t have;
} t_helper;

/* t_spawn starts argv[0] with argv, stdin/stdout on pipes. */
static inline void t_spawn(t_helper *h, char *const argv[]) {
  int in[2], out[2];
  posix_spawn_file_actions_t fa;
  memset(h, 0, sizeof *h);
  REQUIRE(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0);
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  REQUIRE(posix_spawn(&h->pid, argv[0], &fa, NULL, argv, environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  h->to = in[1];
  h->from = out[0];
}

/* t_spawn_self starts this program as "prog helper". */
static inline void t_spawn_self(t_helper *h) {
  static char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  REQUIRE(n > 0);
  self[n] = 0;
  char *argv[] = {self, (char *)"helper", NULL};
  t_spawn(h, argv);
}

/* t_line reads the helper's next output line into out (without the
 * newline), waiting at most timeout_ms. Returns 0, or -1 on timeout/EOF. */
static inline int t_line(t_helper *h, char *out, size_t n, int timeout_ms) {
  int64_t deadline = t_now_ns() + (int64_t)timeout_ms * 1000000;
  for (;;) {
    char *nl = memchr(h->buf, '\n', h->have);
    if (nl) {
      size_t len = (size_t)(nl - h->buf);
      snprintf(out, n, "%.*s", (int)len, h->buf);
      memmove(h->buf, nl + 1, h->have - len - 1);
      h->have -= len + 1;
      return 0;
    }
    int64_t left = (deadline - t_now_ns()) / 1000000;
    if (left <= 0) return -1;
    struct pollfd p = {h->from, POLLIN, 0};
    int r = poll(&p, 1, (int)left);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    ssize_t got = read(h->from, h->buf + h->have, sizeof h->buf - 1 - h->have);
    if (got <= 0) return -1;
    h->have += (size_t)got;
  }
}

/* t_cmd sends one command line and returns the first line of the reply
 * (in reply), or -1 if none came within timeout_ms. */
static inline int t_cmd(t_helper *h, char *reply, size_t n, int timeout_ms,
                        const char *fmt, ...) {
  char line[8192];
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  line[len++] = '\n';
  REQUIRE(write(h->to, line, (size_t)len) == len);
  return t_line(h, reply, n, timeout_ms);
}

/* t_send sends a command that has no reply (exit, _exit). */
static inline void t_send(t_helper *h, const char *line) {
  size_t n = strlen(line);
  REQUIRE(write(h->to, line, n) == (ssize_t)n && write(h->to, "\n", 1) == 1);
}

/* t_rc sends a command whose reply is a return code; -1 if none came. */
static inline int t_rc(t_helper *h, int timeout_ms, const char *fmt, ...) {
  char line[8192], reply[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (t_cmd(h, reply, sizeof reply, timeout_ms, "%s", line) != 0) {
    fprintf(stderr, "helper %d: no reply to \"%s\"\n", (int)h->pid, line);
    return -1;
  }
  return atoi(reply);
}

/* t_wait reaps the helper, waiting at most timeout_ms (then SIGKILL), and
 * returns its wait status. */
static inline int t_wait(t_helper *h, int timeout_ms) {
  int status = 0;
  int64_t deadline = t_now_ns() + (int64_t)timeout_ms * 1000000;
  for (;;) {
    pid_t r = waitpid(h->pid, &status, WNOHANG);
    if (r == h->pid) break;
    if (t_now_ns() > deadline) {
      fprintf(stderr, "helper %d did not exit in time; killing it\n", (int)h->pid);
      kill(h->pid, SIGKILL);
      waitpid(h->pid, &status, 0);
      status = -1;
      break;
    }
    t_sleep_ms(2);
  }
  if (h->to >= 0) close(h->to);
  if (h->from >= 0) close(h->from);
  h->to = h->from = -1;
  return status;
}

/* t_kill SIGKILLs the helper and reaps it. */
static inline void t_kill(t_helper *h) {
  kill(h->pid, SIGKILL);
  t_wait(h, 10000);
}

/* Running helpers as another user
 * -------------------------------
 * T_OTHER_UID runs this program through setpriv, with no groups. The repo
 * may live under a directory that user cannot enter, so t_asuser_setup
 * copies this program and the library it loaded into a fresh 0755
 * directory under t_tmpdir(), and t_spawn_asuser runs the copies from there. */
#define T_OTHER_UID 65534
#define T_SETPRIV "/usr/bin/setpriv"

typedef struct {
  char dir[256];
  char prog[300];
  char lib[300];
} t_asuser;

static inline int t_copy_file(const char *src, const char *dst, mode_t mode) {
  int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, ok = 0;
  char buf[65536];
  ssize_t n;
  if (in < 0) return -1;
  out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (out >= 0) {
    ok = 1;
    while ((n = read(in, buf, sizeof buf)) > 0)
      if (write(out, buf, (size_t)n) != n) ok = 0;
    if (n < 0 || fchmod(out, mode) != 0) ok = 0;
    close(out);
  }
  close(in);
  return ok ? 0 : -1;
}

/* With T_PROBE_ENV set, a program that includes this header prints
 * "probe UID" and exits before main: t_asuser_setup runs it so to learn
 * whether the other user can run the copies at all (exec, and load the
 * library, which the loader does before this runs). */
#define T_PROBE_ENV "PRW_T_PROBE"
__attribute__((constructor)) static void t_probe_answer(void) {
  if (getenv(T_PROBE_ENV)) {
    printf("probe %d\n", (int)getuid());
    fflush(stdout);
    _exit(0);
  }
}

static inline void t_asuser_cleanup(t_asuser *a);
static inline void t_spawn_asuser(t_helper *h, t_asuser *a, ...);

/* t_asuser_setup prepares a; returns 0, or -1 with the reason printed when
 * the test must be skipped: not root, no setpriv, or the other user cannot
 * run the copies (say /tmp is mounted noexec). It never fails the test for
 * what the machine lacks. */
static inline int t_asuser_setup(t_asuser *a, const char *what) {
  char self[4096], reply[64], want[64];
  const char *why = NULL;
  Dl_info info;
  memset(a, 0, sizeof *a);
  if (geteuid() != 0 || access(T_SETPRIV, X_OK) != 0) {
    printf("%s: skipped (needs root and %s)\n", what, T_SETPRIV);
    return -1;
  }
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  REQUIRE(n > 0);
  self[n] = 0;
  REQUIRE(dladdr((void *)prw_version, &info) != 0 && info.dli_fname != NULL);
  snprintf(a->dir, sizeof a->dir, "%s/prwlock-asuser-XXXXXX", t_tmpdir());
  if (mkdtemp(a->dir) == NULL) {
    a->dir[0] = 0;
    why = "cannot make a directory in the temporary directory";
  }
  snprintf(a->prog, sizeof a->prog, "%s/prog", a->dir);
  /* Named after the SONAME, which is what the program asks the loader for. */
  snprintf(a->lib, sizeof a->lib, "%s/libprwlock.so.1", a->dir);
  if (!why && (chmod(a->dir, 0755) != 0 || t_copy_file(self, a->prog, 0755) != 0 ||
               t_copy_file(info.dli_fname, a->lib, 0644) != 0))
    why = "cannot copy the program and the library to the temporary directory";
  if (!why) {
    t_helper h;
    REQUIRE(setenv(T_PROBE_ENV, "1", 1) == 0);
    t_spawn_asuser(&h, a, NULL);
    unsetenv(T_PROBE_ENV);
    int got = t_line(&h, reply, sizeof reply, 20000);
    t_wait(&h, 10000);
    snprintf(want, sizeof want, "probe %d", T_OTHER_UID);
    if (got != 0 || strcmp(reply, want) != 0)
      why = "uid 65534 cannot run a copy of the program from the temporary directory "
            "(not searchable by that user, or mounted noexec?)";
  }
  if (why) {
    printf("%s: skipped (%s)\n", what, why);
    t_asuser_cleanup(a);
    return -1;
  }
  return 0;
}

static inline void t_asuser_cleanup(t_asuser *a) {
  if (!a->dir[0]) return;
  unlink(a->prog);
  unlink(a->lib);
  rmdir(a->dir);
}

/* t_spawn_asuser starts the copied program with up to 6 arguments (NULL
 * terminated) as T_OTHER_UID, its library found through LD_LIBRARY_PATH. */
static inline void t_spawn_asuser(t_helper *h, t_asuser *a, ...) {
  char env[300], uid[32], gid[32];
  char *argv[16] = {(char *)T_SETPRIV, uid, gid, (char *)"--clear-groups", (char *)"/usr/bin/env",
                    env, a->prog};
  int k = 7;
  va_list ap;
  va_start(ap, a);
  for (char *arg; k < 15 && (arg = va_arg(ap, char *)) != NULL;) argv[k++] = arg;
  va_end(ap);
  argv[k] = NULL;
  snprintf(uid, sizeof uid, "--reuid=%d", T_OTHER_UID);
  snprintf(gid, sizeof gid, "--regid=%d", T_OTHER_UID);
  snprintf(env, sizeof env, "LD_LIBRARY_PATH=%s", a->dir);
  t_spawn(h, argv);
}

#endif
