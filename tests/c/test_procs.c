/* test_procs: several processes (prw_helper, started with posix_spawn and
 * driven through pipes): tokens across processes, named locks, EACCES,
 * anonymous lifetimes and exit, and holder death by SIGKILL with the
 * EOWNERDEAD rules. Usage: test_procs PATH_TO_prw_helper */
#include "testutil.h"

static char *helper_path;
#define T 10000 /* ms: generous bound for any helper reply */

static void start(t_helper *h) {
  char *argv[] = {helper_path, NULL};
  t_spawn(h, argv);
}

static void test_tokens(void) {
  prw_lock *l;
  t_helper h;
  char tok[4096], path[4096], reply[8192];
  size_t n = sizeof tok;
  prw_info_t i;
  REQUIRE(prw_create(&l) == 0);
  REQUIRE(prw_serialize(l, tok, &n) == 0);
  t_path(l, path, sizeof path);
  start(&h);
  CHECK(t_rc(&h, T, "deser %s", tok) == 0);
  EXPECT_RC(prw_info(l, &i), 0);
  CHECK(i.attached == 2);
  CHECK(t_cmd(&h, reply, sizeof reply, T, "path") == 0 && strcmp(reply + 2, path) == 0);
  /* Same lock: exclusion across the two processes. */
  EXPECT_RC(prw_acquire_read(l, 0), 0);
  CHECK(t_rc(&h, T, "w 0") == EBUSY);
  int64_t t0 = t_now_ns();
  CHECK(t_rc(&h, T, "w 50000000") == ETIMEDOUT);
  CHECK(t_now_ns() - t0 >= 49 * 1000000LL);
  CHECK(t_rc(&h, T, "r 0") == 0); /* readers share */
  CHECK(t_rc(&h, T, "rel") == 0);
  EXPECT_RC(prw_release(l), 0);
  CHECK(t_rc(&h, T, "w 0") == 0);
  EXPECT_RC(prw_info(l, &i), 0);
  CHECK(i.writer_pid == (uint32_t)h.pid && i.writer_active == 1);
  EXPECT_RC(prw_try_acquire_read(l), EBUSY);
  EXPECT_RC(prw_release(l), EPERM); /* the helper's hold is not ours */
  /* A blocked waiter here is woken by the helper's release. */
  CHECK(write(h.to, "down\nrel\n", 9) == 9);
  EXPECT_RC(prw_acquire_write(l, 10000000000LL), 0);
  CHECK(t_line(&h, reply, sizeof reply, T) == 0 && atoi(reply) == 0);
  CHECK(t_line(&h, reply, sizeof reply, T) == 0 && atoi(reply) == 0);
  EXPECT_RC(prw_release(l), 0);
  CHECK(t_rc(&h, T, "close") == 0);
  CHECK(t_rc(&h, T, "close") == 0); /* the helper's handle is now NULL */
  CHECK(t_rc(&h, T, "deser garbage") == EINVAL);
  t_send(&h, "exit 0");
  CHECK(t_wait(&h, T) == 0);
  EXPECT_RC(prw_info(l, &i), 0);
  CHECK(i.attached == 1);
  EXPECT_RC(prw_close(l), 0);
  CHECK(!t_exists(path));
}

static void test_named_and_access(void) {
  char name[128];
  prw_lock *l;
  t_helper h;
  t_name(name, sizeof name, "procs");
  REQUIRE(prw_open(name, PRW_CREATE | PRW_EXCL, 0600, &l) == 0);
  start(&h);
  char path[4096];
  t_path(l, path, sizeof path);
  if (geteuid() == 0) /* root ignores modes: drop to nobody first */
    CHECK(t_rc(&h, T, "setuid 65534") == 0);
  else
    CHECK(chmod(path, 0) == 0);
  CHECK(t_rc(&h, T, "open %s 0 0", name) == EACCES);
  CHECK(chmod(path, 0600) == 0);
  t_send(&h, "exit 0");
  t_wait(&h, T);

  start(&h);
  CHECK(t_rc(&h, T, "open %s 0 0", name) == 0);
  CHECK(t_rc(&h, T, "open %s 3 0", name) == EEXIST);
  CHECK(t_rc(&h, T, "open %s 0 0", name) == 0);
  CHECK(t_rc(&h, T, "r 0") == 0);
  EXPECT_RC(prw_try_acquire_write(l), EBUSY);
  CHECK(t_rc(&h, T, "unlink %s", name) == 0);
  CHECK(t_rc(&h, T, "unlink %s", name) == ENOENT);
  CHECK(t_rc(&h, T, "rel") == 0);
  EXPECT_RC(prw_try_acquire_write(l), 0); /* unlinked, still shared */
  EXPECT_RC(prw_release(l), 0);
  t_send(&h, "exit 0");
  t_wait(&h, T);
  EXPECT_RC(prw_close(l), 0);
}

/* Anonymous locks: removed at the last user's normal exit (atexit); and
 * after a user died without cleaning up, by the next user's close. */
static void test_anonymous_lifetime(void) {
  t_helper h;
  char reply[8192], path[8192], tok[8192];
  start(&h);
  CHECK(t_rc(&h, T, "create") == 0);
  CHECK(t_cmd(&h, reply, sizeof reply, T, "path") == 0);
  snprintf(path, sizeof path, "%s", reply + 2);
  CHECK(t_exists(path));
  t_send(&h, "exit 0"); /* exit() with the lock open */
  CHECK(t_wait(&h, T) == 0);
  CHECK(!t_exists(path)); /* closed by the atexit handler */

  start(&h);
  CHECK(t_rc(&h, T, "create") == 0);
  CHECK(t_cmd(&h, reply, sizeof reply, T, "token") == 0);
  snprintf(tok, sizeof tok, "%s", reply + 2);
  CHECK(t_cmd(&h, reply, sizeof reply, T, "path") == 0);
  snprintf(path, sizeof path, "%s", reply + 2);
  CHECK(t_rc(&h, T, "w 0") == 0);
  t_send(&h, "_exit 0"); /* no atexit, like a crash */
  CHECK(t_wait(&h, T) == 0);
  CHECK(t_exists(path));
  prw_lock *l;
  EXPECT_RC(prw_deserialize(tok, &l), 0);
  EXPECT_RC(prw_acquire_read(l, 10000000000LL), EOWNERDEAD);
  EXPECT_RC(prw_release(l), 0);
  EXPECT_RC(prw_close(l), 0);
  CHECK(!t_exists(path)); /* the last live user removed it */
}

/* SIGKILL of holders, and the EOWNERDEAD rules. */
static void test_holder_death(void) {
  char name[128];
  prw_lock *l;
  prw_info_t i;
  t_helper h, h2;
  t_name(name, sizeof name, "death");
  REQUIRE(prw_open(name, PRW_CREATE | PRW_EXCL, 0, &l) == 0);

  /* A dead reader leaves nothing behind. */
  start(&h);
  CHECK(t_rc(&h, T, "open %s 0 0", name) == 0);
  CHECK(t_rc(&h, T, "r -1") == 0);
  EXPECT_RC(prw_try_acquire_write(l), EBUSY);
  t_kill(&h);
  EXPECT_RC(prw_acquire_write(l, 10000000000LL), 0);
  EXPECT_RC(prw_release(l), 0);
  EXPECT_RC(prw_info(l, &i), 0);
  CHECK(i.recoveries >= 1 && i.owner_dead == 0 && i.owner_deaths == 0);

  /* A dead writer: every acquisition is granted with EOWNERDEAD ... */
  start(&h);
  CHECK(t_rc(&h, T, "open %s 0 0", name) == 0);
  CHECK(t_rc(&h, T, "w -1") == 0);
  t_kill(&h);
  EXPECT_RC(prw_acquire_read(l, 10000000000LL), EOWNERDEAD);
  EXPECT_RC(prw_info(l, &i), 0);
  CHECK(i.owner_dead == 1 && i.owner_deaths == 1 && i.readers == 1 && i.writer_pid == 0);
  EXPECT_RC(prw_release(l), 0);
  EXPECT_RC(prw_acquire_read(l, 0), EOWNERDEAD); /* a reader's release does not clear */
  EXPECT_RC(prw_release(l), 0);
  start(&h2);
  CHECK(t_rc(&h2, T, "open %s 0 0", name) == 0);
  CHECK(t_rc(&h2, T, "r 0") == EOWNERDEAD); /* in every process */
  CHECK(t_rc(&h2, T, "rel") == 0);

  /* ... also after a told writer dies before releasing ... */
  start(&h);
  CHECK(t_rc(&h, T, "open %s 0 0", name) == 0);
  CHECK(t_rc(&h, T, "w -1") == EOWNERDEAD);
  t_kill(&h);
  EXPECT_RC(prw_acquire_write(l, 10000000000LL), EOWNERDEAD);
  EXPECT_RC(prw_info(l, &i), 0);
  CHECK(i.owner_dead == 1 && i.owner_deaths == 2);
  CHECK(t_rc(&h2, T, "r 0") == EBUSY);
  /* ... until a told writer releases. */
  EXPECT_RC(prw_release(l), 0);
  CHECK(t_rc(&h2, T, "r 0") == 0);
  CHECK(t_rc(&h2, T, "rel") == 0);
  EXPECT_RC(prw_acquire_read(l, 0), 0);
  EXPECT_RC(prw_release(l), 0);
  EXPECT_RC(prw_info(l, &i), 0);
  CHECK(i.owner_dead == 0 && i.owner_deaths == 2);

  /* A writer killed while a reader of ours waits: the waiter gets in. */
  start(&h);
  CHECK(t_rc(&h, T, "open %s 0 0", name) == 0);
  CHECK(t_rc(&h, T, "w -1") == 0);
  CHECK(write(h2.to, "r -1\n", 5) == 5); /* h2 blocks */
  t_sleep_ms(30);
  t_kill(&h);
  char reply[64];
  CHECK(t_line(&h2, reply, sizeof reply, T) == 0 && atoi(reply) == EOWNERDEAD);
  CHECK(t_rc(&h2, T, "rel") == 0);
  EXPECT_RC(prw_acquire_write(l, 10000000000LL), EOWNERDEAD);
  EXPECT_RC(prw_release(l), 0);
  t_send(&h2, "exit 0");
  t_wait(&h2, T);

  EXPECT_RC(prw_close(l), 0);
  EXPECT_RC(prw_unlink(name), 0);
}

int main(int argc, char **argv) {
  alarm(200);
  REQUIRE(argc == 2);
  helper_path = argv[1];
  signal(SIGPIPE, SIG_IGN);
  test_tokens();
  test_named_and_access();
  test_anonymous_lifetime();
  test_holder_death();
  return t_done("test_procs");
}
