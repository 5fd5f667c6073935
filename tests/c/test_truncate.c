/* test_truncate: another process truncates a live lock's file (a hostile or
 * buggy peer with write access). The data plane's next access beyond the new
 * end of file raises SIGBUS; the library must turn it into EPROTO, never a
 * crash, and must leave every other SIGBUS of the process alone. Each case
 * runs in a child (fork without exec), so that a crash is a failed case. */
#include "testutil.h"

#include <sys/mman.h>

static char name[128], path[4096];

static int shrink(off_t len) {
  int fd = open(path, O_RDWR | O_CLOEXEC);
  int rc = fd >= 0 && ftruncate(fd, len) == 0 ? 0 : errno;
  if (fd >= 0) close(fd);
  return rc;
}

/* Hold read, truncate to nothing, then use the lock: every access of the
 * data plane faults. */
static int case_zero(void) {
  prw_lock *l = NULL;
  int bad = 0;
  if (prw_open(name, 0, 0, &l) != 0 || prw_acquire_read(l, 0) != 0 || shrink(0) != 0) return 100;
  int rc = prw_release(l);
  if (rc != EPROTO) fprintf(stderr, "release after truncation = %d\n", rc), bad++;
  rc = prw_acquire_write(l, 100000000);
  if (rc != EPROTO) fprintf(stderr, "acquire after truncation = %d\n", rc), bad++;
  rc = prw_try_acquire_read(l);
  if (rc != EPROTO) fprintf(stderr, "try-read after truncation = %d\n", rc), bad++;
  prw_info_t info;
  rc = prw_info(l, &info); /* the Go engine: its own fault handling */
  if (rc != EPROTO) fprintf(stderr, "info after truncation = %d\n", rc), bad++;
  prw_close(l);
  return bad;
}

/* Truncate to the first page: operations on slots that are still mapped may
 * work, the others fail; none crashes. */
static int case_page(void) {
  prw_lock *l = NULL;
  int bad = 0;
  if (prw_open(name, 0, 0, &l) != 0 || prw_acquire_write(l, 0) != 0 || shrink(4096) != 0) return 100;
  int rc = prw_release(l);
  if (rc != 0 && rc != EPROTO) bad++;
  for (int k = 0; k < 200; k++) {
    rc = (k & 1) ? prw_try_acquire_read(l) : prw_try_acquire_write(l);
    if (rc == 0) rc = prw_release(l);
    if (rc != 0 && rc != EPROTO) fprintf(stderr, "after truncation to a page: %d\n", rc), bad++;
  }
  prw_close(l);
  return bad;
}

static prw_lock *W;
static int waiter_rc;

static void *waiter(void *p) {
  (void)p;
  waiter_rc = prw_acquire_read(W, 10000000000LL);
  return NULL;
}

/* Truncate while a thread sleeps in a wait: it wakes with EPROTO. */
static int case_wait(void) {
  if (prw_open(name, 0, 0, &W) != 0 || prw_acquire_write(W, 0) != 0) return 100;
  pthread_t th;
  if (pthread_create(&th, NULL, waiter, NULL) != 0) return 101;
  prw_info_t info;
  if (!t_until(prw_info(W, &info) == 0 && info.waiting_readers == 1, 5000)) return 102;
  int64_t t0 = t_now_ns();
  if (shrink(0) != 0) return 103;
  pthread_join(th, NULL);
  int64_t took = t_now_ns() - t0;
  int bad = 0;
  if (waiter_rc != EPROTO) fprintf(stderr, "waiter = %d\n", waiter_rc), bad++;
  if (took > 5000000000LL) fprintf(stderr, "waiter took %lld ms\n", (long long)(took / 1000000)), bad++;
  prw_close(W);
  return bad;
}

/* A SIGBUS that is not ours still does what it did: here, kill. */
static int foreign_sigbus(void) {
  prw_lock *l = NULL;
  if (prw_open(name, 0, 0, &l) != 0 || prw_try_acquire_read(l) != 0 || prw_release(l) != 0) return 1;
  char tmp[] = "/tmp/prwlock-sigbus-XXXXXX";
  int fd = mkstemp(tmp);
  if (fd < 0 || ftruncate(fd, 8192) != 0) return 2;
  unlink(tmp);
  volatile char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED || ftruncate(fd, 0) != 0) return 3;
  p[4096] = 1; /* SIGBUS: must kill us */
  return 4;
}

static int run(int (*fn)(void), int *sig) {
  fflush(stdout);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    alarm(30);
    exit(fn());
  }
  int status;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  *sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void make_lock(void) {
  prw_lock *l;
  t_name(name, sizeof name, "truncate");
  REQUIRE(prw_open(name, PRW_CREATE | PRW_EXCL, 0600, &l) == 0);
  t_path(l, path, sizeof path);
  REQUIRE(prw_close(l) == 0);
}

int main(void) {
  alarm(120);
  int sig;
  int (*cases[])(void) = {case_zero, case_page, case_wait};
  const char *names[] = {"to 0 bytes", "to one page", "to 0 bytes during a wait"};
  for (int k = 0; k < 3; k++) {
    make_lock();
    int rc = run(cases[k], &sig);
    if (rc != 0) fprintf(stderr, "truncated %s: exit %d, signal %d\n", names[k], rc, sig);
    CHECK(rc == 0);
    CHECK(unlink(path) == 0); /* prw_unlink refuses what is no longer a segment */
  }
  make_lock();
  int rc = run(foreign_sigbus, &sig);
  CHECK(rc == -1 && sig == SIGBUS);
  EXPECT_RC(prw_unlink(name), 0);
  printf("truncate: 3 truncations of a live lock: EPROTO, no crash; a foreign SIGBUS still kills\n");
  return t_done("test_truncate");
}
