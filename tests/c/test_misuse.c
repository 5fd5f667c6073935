/* Misuse of the C API, table-driven: bad names, truncated, oversized and
 * random tokens, release and downgrade without the right hold, use after
 * unlink, closing a handle other threads wait on, and another user opening
 * a 0600 lock. Every case gets a precise error code and nothing crashes.
 * (NULL and stale handles: test_api.c. A name with an embedded NUL cannot
 * be spelled in C: the string ends there.) */
#include "testutil.h"

#include <limits.h>

static int precise(int rc) { return rc != 0 && rc != EIO; }

static void test_names(void) {
  static char longname[300], longpath[PATH_MAX + 16];
  memset(longname, 'n', 256);
  longpath[0] = '/';
  for (int i = 1; i < PATH_MAX + 8; i += 2) memcpy(longpath + i, "a/", 2);
  longpath[PATH_MAX + 8] = 'z';
  static const struct {
    const char *name;
    int want;
  } cases[] = {
      {"", EINVAL},          {".", EINVAL},        {"..", EINVAL},
      {"../x", EINVAL},      {"a/../b", EINVAL},   {"/tmp/../etc/prwlock-x", EINVAL},
      {"/tmp/..", EINVAL},   {"/tmp/dir/", EINVAL}, {longname, EINVAL},
      {longpath, EINVAL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    for (int flags = 0; flags <= PRW_CREATE; flags += PRW_CREATE) {
      prw_lock *l = (prw_lock *)0x1;
      int rc = prw_open(cases[i].name, flags, 0, &l);
      if (rc != cases[i].want || l != NULL) {
        fprintf(stderr, "open(%.40s..., %d) = %d (%s), want %d\n", cases[i].name, flags, rc,
                prw_strerror(rc), cases[i].want);
        t_failures++;
      }
    }
    EXPECT_RC(prw_unlink(cases[i].name), cases[i].want);
  }
  /* The longest bare name is fine. */
  char name[300];
  snprintf(name, sizeof name, "ctest.long.%d.", (int)getpid());
  size_t n = strlen(name);
  memset(name + n, 'y', 255 - strlen("prwlock.") - n);
  name[255 - strlen("prwlock.")] = 0;
  prw_lock *l;
  EXPECT_RC(prw_open(name, PRW_CREATE | PRW_EXCL, 0, &l), 0);
  EXPECT_RC(prw_close(l), 0);
  EXPECT_RC(prw_unlink(name), 0);
  /* A path in a directory that does not exist. */
  EXPECT_RC(prw_open("/nonexistent-prwlock-dir/x", PRW_CREATE, 0, &l), ENOENT);
}

static void test_tokens(void) {
  prw_lock *l, *m;
  char tok[4096];
  size_t n = sizeof tok;
  REQUIRE(prw_create(&l) == 0);
  REQUIRE(prw_serialize(l, tok, &n) == 0);
  char buf[4096];
  /* Every truncation. */
  for (size_t k = 0; k < n; k++) {
    memcpy(buf, tok, k);
    buf[k] = 0;
    m = (prw_lock *)0x1;
    int rc = prw_deserialize(buf, &m);
    if (!precise(rc) || m != NULL) {
      fprintf(stderr, "token truncated to %zu bytes: %d (%s)\n", k, rc, prw_strerror(rc));
      t_failures++;
      if (rc == 0) prw_close(m);
    }
  }
  /* Oversized. */
  size_t big = 1 << 20;
  char *huge = malloc(big + n + 1);
  REQUIRE(huge);
  memcpy(huge, tok, n);
  memset(huge + n, 'x', big);
  huge[n + big] = 0;
  int rc = prw_deserialize(huge, &m);
  CHECK(rc == EINVAL || rc == ENAMETOOLONG);
  free(huge);
  /* Random bytes and random mutations. */
  uint64_t s = 88172645463325252ULL;
  for (int i = 0; i < 2000; i++) {
    size_t len;
    if (i % 2) {
      len = (size_t)(s % 300);
      for (size_t j = 0; j < len; j++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        buf[j] = (char)(1 + s % 255);
      }
    } else {
      len = n;
      memcpy(buf, tok, n);
      for (int k = 0; k < 3; k++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        buf[s % n] = (char)(1 + (s >> 20) % 255);
      }
    }
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    buf[len] = 0;
    int rc = prw_deserialize(buf, &m);
    if (rc == 0) { /* a mutation that still names this very lock */
      char p1[4096], p2[4096];
      CHECK(strcmp(t_path(l, p1, sizeof p1), t_path(m, p2, sizeof p2)) == 0);
      prw_close(m);
    } else if (!precise(rc)) {
      fprintf(stderr, "random token %d: %d\n", i, rc);
      t_failures++;
    }
  }
  EXPECT_RC(prw_close(l), 0);
}

static void test_holds(void) {
  prw_lock *l;
  REQUIRE(prw_create(&l) == 0);
  static const struct {
    const char *what;
    int setup[3]; /* 1 read, 2 write, 3 downgrade, 4 release */
    int op;       /* 4 release, 3 downgrade */
    int want;
  } cases[] = {
      {"release without hold", {0}, 4, EPERM},
      {"downgrade without hold", {0}, 3, EPERM},
      {"downgrade from read", {1}, 3, EPERM},
      {"downgrade from recursive read", {1, 1}, 3, EPERM},
      {"downgrade twice", {2, 3}, 3, EPERM},
      {"release twice", {1, 4}, 4, EPERM},
      {"release after downgrade", {2, 3}, 4, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    for (int j = 0; j < 3 && cases[i].setup[j]; j++) {
      int st = cases[i].setup[j], rc;
      rc = st == 1 ? prw_acquire_read(l, 0) : st == 2 ? prw_acquire_write(l, 0)
         : st == 3 ? prw_downgrade(l) : prw_release(l);
      if (rc) fprintf(stderr, "%s: setup step %d: %d\n", cases[i].what, j, rc), t_failures++;
    }
    int rc = cases[i].op == 4 ? prw_release(l) : prw_downgrade(l);
    if (rc != cases[i].want) {
      fprintf(stderr, "%s: %d (%s), want %d\n", cases[i].what, rc, prw_strerror(rc), cases[i].want);
      t_failures++;
    }
    while (prw_release(l) == 0) {
    }
    prw_info_t info;
    EXPECT_RC(prw_info(l, &info), 0);
    CHECK(info.used_slots == 0 && info.readers == 0 && info.writer_pid == 0);
  }
  EXPECT_RC(prw_close(l), 0);
}

static void test_after_unlink(void) {
  char name[128];
  prw_lock *a, *b;
  t_name(name, sizeof name, "unlinked");
  REQUIRE(prw_open(name, PRW_CREATE | PRW_EXCL, 0, &a) == 0);
  EXPECT_RC(prw_unlink(name), 0);
  EXPECT_RC(prw_unlink(name), ENOENT);
  EXPECT_RC(prw_open(name, 0, 0, &b), ENOENT);
  /* The old lock works; a new one of the same name is a different lock. */
  EXPECT_RC(prw_acquire_write(a, 0), 0);
  EXPECT_RC(prw_open(name, PRW_CREATE | PRW_EXCL, 0, &b), 0);
  EXPECT_RC(prw_acquire_write(b, 0), 0);
  EXPECT_RC(prw_release(b), 0);
  EXPECT_RC(prw_release(a), 0);
  EXPECT_RC(prw_close(a), 0);
  EXPECT_RC(prw_close(b), 0);
  EXPECT_RC(prw_unlink(name), 0);
}

static prw_lock *shared;
static int waiter_rc[4];

static void *waiter(void *arg) {
  int i = (int)(intptr_t)arg;
  waiter_rc[i] = (i % 2) ? prw_acquire_read(shared, -1) : prw_acquire_write(shared, -1);
  return NULL;
}

/* Closing the last handle wakes the threads that wait on it with EBADF. */
static void test_close_with_waiters(void) {
  char name[128];
  pthread_t w[4];
  prw_info_t info;
  t_name(name, sizeof name, "closewait");
  REQUIRE(prw_open(name, PRW_CREATE, 0, &shared) == 0);
  REQUIRE(prw_acquire_write(shared, 0) == 0); /* kept until the close */
  for (int i = 0; i < 4; i++) pthread_create(&w[i], NULL, waiter, (void *)(intptr_t)i);
  CHECK(t_until(prw_info(shared, &info) == 0 && info.waiting_readers + info.waiting_writers == 4, 5000));
  int64_t t0 = t_now_ns();
  EXPECT_RC(prw_close(shared), 0);
  for (int i = 0; i < 4; i++) pthread_join(w[i], NULL);
  int64_t took = t_now_ns() - t0;
  for (int i = 0; i < 4; i++) EXPECT_RC(waiter_rc[i], EBADF);
  CHECK(took < 2000000000LL);
  /* The hold went with the handle, as a death. */
  prw_lock *l;
  REQUIRE(prw_open(name, 0, 0, &l) == 0);
  EXPECT_RC(prw_info(l, &info), 0);
  CHECK(info.used_slots == 0 && info.owner_dead == 1);
  EXPECT_RC(prw_acquire_write(l, 0), EOWNERDEAD);
  EXPECT_RC(prw_release(l), 0);
  EXPECT_RC(prw_close(l), 0);
  EXPECT_RC(prw_unlink(name), 0);
}

/* A second user cannot attach to a 0600 lock. Needs root and setpriv. The
 * helper opens with PRW_MULTIUSER, so that only the file's mode is at play
 * (test_owner.c tests the default refusals). */
static void test_other_user(void) {
  t_asuser a;
  if (t_asuser_setup(&a, "other user") != 0) return;
  static const struct {
    unsigned mode;
    int want;
  } cases[] = {{0600, EACCES}, {0644, EACCES}, {0660, EACCES}, {0666, 0}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char name[128], reply[256];
    prw_lock *l;
    t_name(name, sizeof name, "asuser");
    REQUIRE(prw_open(name, PRW_CREATE | PRW_EXCL | PRW_MULTIUSER, cases[i].mode, &l) == 0);
    t_helper h;
    t_spawn_asuser(&h, &a, "asuser", name, NULL);
    int got = t_line(&h, reply, sizeof reply, 20000) == 0 ? atoi(reply) : -1;
    t_wait(&h, 10000);
    if (got != cases[i].want) {
      fprintf(stderr, "uid 65534 opening a %04o lock: %d (%s), want %d\n", cases[i].mode, got,
              prw_strerror(got), cases[i].want);
      t_failures++;
    }
    prw_info_t info;
    EXPECT_RC(prw_info(l, &info), 0);
    CHECK(info.used_slots == 0);
    EXPECT_RC(prw_close(l), 0);
    EXPECT_RC(prw_unlink(name), 0);
  }
  t_asuser_cleanup(&a);
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "asuser") == 0) {
    prw_lock *l;
    int rc = prw_open(argv[2], PRW_MULTIUSER, 0, &l);
    if (rc == 0) {
      rc = prw_acquire_write(l, 0);
      if (rc == 0) rc = prw_release(l);
      prw_close(l);
    }
    printf("%d\n", rc);
    return 0;
  }
  test_names();
  test_tokens();
  test_holds();
  test_after_unlink();
  test_close_with_waiters();
  test_other_user();
  return t_done("test_misuse");
}
