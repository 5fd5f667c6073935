/* Threads that end: a main thread that calls pthread_exit while another
 * thread holds the lock (the process is alive: nobody may take the hold
 * away), and threads that exit while holding (their holds end as if they
 * had died, at the process's next call). */
#include "testutil.h"

static prw_lock *lk;

/* helper NAME: a thread takes write and keeps it for 1.5 s while the main
 * thread calls pthread_exit (the thread-group leader becomes a zombie). */
static void *hold_write(void *arg) {
  (void)arg;
  int rc = prw_acquire_write(lk, -1);
  printf("held %d\n", rc);
  fflush(stdout);
  t_sleep_ms(1500);
  printf("released %d\n", prw_release(lk));
  fflush(stdout);
  exit(0); /* the Go runtime's threads would keep the process alive */
}

static int helper(const char *name) {
  pthread_t th;
  REQUIRE(prw_open(name, 0, 0, &lk) == 0);
  REQUIRE(pthread_create(&th, NULL, hold_write, NULL) == 0);
  pthread_exit(NULL);
}

static char leader_state(pid_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return '?';
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  return p && p[1] ? p[2] : '?';
}

static void test_zombie_leader_is_alive(void) {
  char name[128], line[256];
  prw_lock *l;
  t_name(name, sizeof name, "zleader");
  REQUIRE(prw_open(name, PRW_CREATE, 0600, &l) == 0);
  static char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  REQUIRE(n > 0);
  self[n] = 0;
  char *argv[] = {self, (char *)"helper", name, NULL};
  t_helper h;
  t_spawn(&h, argv);
  REQUIRE(t_line(&h, line, sizeof line, 10000) == 0);
  CHECK(strcmp(line, "held 0") == 0);
  CHECK(t_until(leader_state(h.pid) == 'Z', 2000)); /* the scenario is real */
  int64_t t0 = t_now_ns();
  int rc = prw_acquire_write(l, 3000000000LL);
  int64_t waited_ms = (t_now_ns() - t0) / 1000000;
  /* The holder was alive: we must get the lock only after it released,
   * and without an owner-dead report. */
  EXPECT_RC(rc, 0);
  CHECK(waited_ms >= 1000);
  REQUIRE(t_line(&h, line, sizeof line, 5000) == 0);
  CHECK(strcmp(line, "released 0") == 0);
  if (rc == 0 || rc == EOWNERDEAD) prw_release(l);
  CHECK(WIFEXITED(t_wait(&h, 10000)));
  prw_close(l);
  prw_unlink(name);
  printf("zombie leader: waited %lld ms for the live holder\n", (long long)waited_ms);
}

static void *take_and_exit(void *arg) {
  int mode = (int)(intptr_t)arg;
  int rc = mode == PRW_MODE_READ ? prw_acquire_read(lk, -1) : prw_acquire_write(lk, -1);
  return (void *)(intptr_t)rc;
}

static int run_thread(int mode) {
  pthread_t th;
  void *ret;
  REQUIRE(pthread_create(&th, NULL, take_and_exit, (void *)(intptr_t)mode) == 0);
  REQUIRE(pthread_join(th, &ret) == 0);
  return (int)(intptr_t)ret;
}

static void test_exited_holders_end(void) {
  char name[128];
  t_name(name, sizeof name, "texit");
  REQUIRE(prw_open(name, PRW_CREATE, 0600, &lk) == 0);

  /* A reader that exits holding: the next call ends its hold. */
  EXPECT_RC(run_thread(PRW_MODE_READ), 0);
  EXPECT_RC(prw_acquire_write(lk, 2000000000LL), 0);
  EXPECT_RC(prw_release(lk), 0);

  /* The same with this thread's fast path primed on the lock (it was the
   * thread's last lock): a try must still find the exited reader's hold
   * ended, not busy. */
  EXPECT_RC(prw_acquire_read(lk, 0), 0);
  EXPECT_RC(prw_release(lk), 0);
  EXPECT_RC(run_thread(PRW_MODE_READ), 0);
  EXPECT_RC(prw_try_acquire_write(lk), 0);
  EXPECT_RC(prw_release(lk), 0);

  /* A writer that exits holding dies as a writer: owner-dead. */
  EXPECT_RC(run_thread(PRW_MODE_WRITE), 0);
  EXPECT_RC(prw_acquire_read(lk, 2000000000LL), EOWNERDEAD);
  EXPECT_RC(prw_release(lk), 0);
  EXPECT_RC(prw_acquire_write(lk, 2000000000LL), EOWNERDEAD);
  EXPECT_RC(prw_release(lk), 0); /* told: repaired */
  EXPECT_RC(prw_acquire_write(lk, 0), 0);
  EXPECT_RC(prw_release(lk), 0);

  /* Thread churn: many threads come and go, each holding at exit. */
  for (int i = 0; i < 500; i++) EXPECT_RC(run_thread(PRW_MODE_READ), 0);
  EXPECT_RC(prw_acquire_write(lk, 2000000000LL), 0);
  EXPECT_RC(prw_release(lk), 0);
  prw_info_t info;
  EXPECT_RC(prw_info(lk, &info), 0);
  CHECK(info.readers == 0);

  /* prw_release_unrepaired keeps the owner-dead mark for the next writer. */
  EXPECT_RC(run_thread(PRW_MODE_WRITE), 0);
  EXPECT_RC(prw_acquire_write(lk, 2000000000LL), EOWNERDEAD);
  EXPECT_RC(prw_release_unrepaired(lk), 0);
  EXPECT_RC(prw_acquire_write(lk, 2000000000LL), EOWNERDEAD);
  EXPECT_RC(prw_release(lk), 0);
  EXPECT_RC(prw_release_unrepaired(lk), EPERM);
  EXPECT_RC(prw_release_unrepaired(NULL), EINVAL);

  prw_close(lk);
  prw_unlink(name);
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "helper") == 0) return helper(argv[2]);
  test_zombie_leader_is_alive();
  test_exited_holders_end();
  return t_done("test_threadexit");
}
