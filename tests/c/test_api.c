/* test_api: every function of prwlock.h in one process, with every error
 * code that one process can provoke; handle safety; bounded resources. */
#include "testutil.h"

static const int documented[] = {0,      EBUSY,  ETIMEDOUT, EDEADLK, EPERM,
                                  EOWNERDEAD, EAGAIN, EPROTO, EBADF, EINVAL,
                                  ENOENT, EEXIST, EACCES,   ERANGE,  EIO,
                                  PRW_EFORKED};

static void test_version_strerror(void) {
  char want[32];
  snprintf(want, sizeof want, "%d.%d.%d", PRW_VERSION_MAJOR, PRW_VERSION_MINOR,
           PRW_VERSION_PATCH);
  CHECK(strcmp(prw_version(), want) == 0);
  CHECK(strcmp(prw_version(), "1.0.0") == 0);
  CHECK(PRW_EFORKED == 1024 && PRW_CREATE == 1 && PRW_EXCL == 2);
  CHECK(PRW_MODE_READ == 1 && PRW_MODE_WRITE == 2);
  for (size_t i = 0; i < sizeof documented / sizeof documented[0]; i++) {
    const char *s = prw_strerror(documented[i]);
    CHECK(s != NULL && *s && strcmp(s, "unknown error") != 0);
    for (size_t j = 0; j < i; j++) CHECK(strcmp(s, prw_strerror(documented[j])) != 0);
  }
  CHECK(strstr(prw_strerror(PRW_EFORKED), "fork") != NULL);
  CHECK(prw_strerror(-5) != NULL && prw_strerror(999999) != NULL);
}

/* Every function with NULL arguments: EINVAL, except prw_close(NULL). */
static void test_null(void) {
  prw_lock *l = (prw_lock *)0x1;
  prw_info_t info;
  prw_holder_t hs[1];
  size_t n = 16;
  char buf[16];
  EXPECT_RC(prw_create(NULL), EINVAL);
  EXPECT_RC(prw_open(NULL, PRW_CREATE, 0, &l), EINVAL);
  CHECK(l == NULL); /* *out is cleared on failure */
  EXPECT_RC(prw_open("x", PRW_CREATE, 0, NULL), EINVAL);
  EXPECT_RC(prw_close(NULL), 0);
  EXPECT_RC(prw_unlink(NULL), EINVAL);
  EXPECT_RC(prw_acquire_read(NULL, 0), EINVAL);
  EXPECT_RC(prw_acquire_write(NULL, -1), EINVAL);
  EXPECT_RC(prw_try_acquire_read(NULL), EINVAL);
  EXPECT_RC(prw_try_acquire_write(NULL), EINVAL);
  EXPECT_RC(prw_release(NULL), EINVAL);
  EXPECT_RC(prw_downgrade(NULL), EINVAL);
  EXPECT_RC(prw_serialize(NULL, buf, &n), EINVAL);
  EXPECT_RC(prw_name(NULL, buf, &n), EINVAL);
  EXPECT_RC(prw_is_anonymous(NULL), EINVAL);
  EXPECT_RC(prw_info(NULL, &info), EINVAL);
  EXPECT_RC(prw_holders(NULL, hs, 1, &n), EINVAL);
  l = (prw_lock *)0x1;
  EXPECT_RC(prw_deserialize(NULL, &l), EINVAL);
  CHECK(l == NULL);
  EXPECT_RC(prw_deserialize("prwlock:1:2:3:/dev/shm/x", NULL), EINVAL);

  REQUIRE(prw_create(&l) == 0);
  EXPECT_RC(prw_serialize(l, buf, NULL), EINVAL);
  EXPECT_RC(prw_name(l, buf, NULL), EINVAL);
  EXPECT_RC(prw_info(l, NULL), EINVAL);
  EXPECT_RC(prw_holders(l, hs, 1, NULL), EINVAL);
  EXPECT_RC(prw_holders(l, NULL, 1, &n), EINVAL);
  EXPECT_RC(prw_close(l), 0);
}

/* Values that are not live handles: EBADF from every function, no crash. */
static void check_dead_handle(prw_lock *l) {
  prw_info_t info;
  prw_holder_t hs[1];
  size_t n = 16;
  char buf[16];
  EXPECT_RC(prw_acquire_read(l, 0), EBADF);
  EXPECT_RC(prw_acquire_write(l, 1000), EBADF);
  EXPECT_RC(prw_try_acquire_read(l), EBADF);
  EXPECT_RC(prw_try_acquire_write(l), EBADF);
  EXPECT_RC(prw_release(l), EBADF);
  EXPECT_RC(prw_downgrade(l), EBADF);
  EXPECT_RC(prw_serialize(l, buf, &n), EBADF);
  EXPECT_RC(prw_name(l, buf, &n), EBADF);
  EXPECT_RC(prw_is_anonymous(l), EBADF);
  EXPECT_RC(prw_info(l, &info), EBADF);
  EXPECT_RC(prw_holders(l, hs, 1, &n), EBADF);
  EXPECT_RC(prw_close(l), EBADF);
}

/* second_handle opens l's lock again, through its token. */
static prw_lock *second_handle(prw_lock *l) {
  char tok[512];
  size_t n = sizeof tok;
  prw_lock *m = NULL;
  REQUIRE(prw_serialize(l, tok, &n) == 0);
  REQUIRE(prw_deserialize(tok, &m) == 0);
  return m;
}

static void *close_it(void *l) {
  CHECK(prw_close(l) == 0);
  return NULL;
}

static void test_bad_handles(void) {
  int local = 0;
  prw_lock *l, *stale;
  check_dead_handle((prw_lock *)0x1);
  check_dead_handle((prw_lock *)&local);
  check_dead_handle((prw_lock *)(uintptr_t)0xdeadbeefcafeULL);
  check_dead_handle((prw_lock *)(uintptr_t)-1);

  /* A handle closed while it is the thread's last lock (the fast path's
   * starting point), by this thread or by another one, while a second
   * handle keeps the lock open, and then as the last handle. */
  prw_lock *other;
  REQUIRE(prw_create(&l) == 0);
  other = second_handle(l);
  EXPECT_RC(prw_acquire_read(l, 0), 0);
  EXPECT_RC(prw_release(l), 0);
  EXPECT_RC(prw_close(l), 0);
  check_dead_handle(l);
  EXPECT_RC(prw_acquire_write(other, 0), 0);
  EXPECT_RC(prw_release(other), 0);
  pthread_t closer;
  REQUIRE(pthread_create(&closer, NULL, close_it, other) == 0);
  REQUIRE(pthread_join(closer, NULL) == 0);
  check_dead_handle(other);
  REQUIRE(prw_create(&l) == 0);
  other = second_handle(l);
  EXPECT_RC(prw_acquire_write(l, 0), 0);
  EXPECT_RC(prw_release(l), 0);
  REQUIRE(pthread_create(&closer, NULL, close_it, l) == 0);
  REQUIRE(pthread_join(closer, NULL) == 0);
  check_dead_handle(l);
  EXPECT_RC(prw_close(other), 0);

  /* Double close, and a stale handle never aliases a later lock, even one
   * that holds the write lock for this very thread. */
  REQUIRE(prw_create(&stale) == 0);
  EXPECT_RC(prw_close(stale), 0);
  EXPECT_RC(prw_close(stale), EBADF);
  for (int i = 0; i < 500; i++) {
    REQUIRE(prw_create(&l) == 0);
    CHECK(l != stale);
    if (i == 0) {
      EXPECT_RC(prw_acquire_write(l, 0), 0);
      check_dead_handle(stale);
      EXPECT_RC(prw_release(l), 0);
    }
    EXPECT_RC(prw_close(l), 0);
    if (l == stale) break;
  }
  EXPECT_RC(prw_try_acquire_read(stale), EBADF);
}

static void test_open_unlink(void) {
  char name[128], path[4096], other[4096];
  prw_lock *a, *b;
  struct stat st;
  t_name(name, sizeof name, "open");
  snprintf(path, sizeof path, "/dev/shm/prwlock.%s", name);

  b = (prw_lock *)0x1;
  EXPECT_RC(prw_open(name, 0, 0, &b), ENOENT);
  CHECK(b == NULL);
  EXPECT_RC(prw_open(name, 8, 0, &b), EINVAL); /* an unknown flag */
  EXPECT_RC(prw_open(name, PRW_EXCL, 0, &b), EINVAL);
  EXPECT_RC(prw_open(name, PRW_CREATE, 01777, &b), EINVAL);
  EXPECT_RC(prw_open("", PRW_CREATE, 0, &b), EINVAL);
  EXPECT_RC(prw_open("..", PRW_CREATE, 0, &b), EINVAL);
  EXPECT_RC(prw_unlink(""), EINVAL);
  EXPECT_RC(prw_unlink(name), ENOENT);
  CHECK(!t_exists(path));

  EXPECT_RC(prw_open(name, PRW_CREATE | PRW_EXCL, 0640, &a), 0);
  CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0640);
  EXPECT_RC(prw_open(name, PRW_CREATE | PRW_EXCL, 0, &b), EEXIST);
  CHECK(b == NULL);
  EXPECT_RC(prw_open(name, PRW_CREATE, 0, &b), 0);
  CHECK(b != NULL && b != a);
  EXPECT_RC(prw_is_anonymous(a), 0);
  size_t n = sizeof other;
  EXPECT_RC(prw_name(a, other, &n), 0);
  CHECK(strcmp(other, path) == 0 && n == strlen(path));

  /* Two handles of one lock in one process share this thread's holds. */
  EXPECT_RC(prw_acquire_write(a, 0), 0);
  EXPECT_RC(prw_try_acquire_read(b), EDEADLK);
  EXPECT_RC(prw_release(b), 0);
  EXPECT_RC(prw_release(a), EPERM);

  /* Unlink removes the name; open handles keep working. */
  EXPECT_RC(prw_unlink(name), 0);
  CHECK(!t_exists(path));
  EXPECT_RC(prw_try_acquire_write(a), 0);
  EXPECT_RC(prw_release(a), 0);
  EXPECT_RC(prw_open(name, 0, 0, &b), ENOENT);
  EXPECT_RC(prw_close(a), 0);

  /* Default mode 0600, path names, and files that are not locks. */
  snprintf(path, sizeof path, "%s/prwlock-ctest-%d", t_tmpdir(), (int)getpid());
  EXPECT_RC(prw_open(path, PRW_CREATE, 0, &a), 0);
  CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
  n = sizeof other;
  EXPECT_RC(prw_name(a, other, &n), 0);
  CHECK(strcmp(other, path) == 0);
  EXPECT_RC(prw_close(a), 0);
  EXPECT_RC(prw_unlink(path), 0);
  CHECK(!t_exists(path));

  int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
  REQUIRE(fd >= 0);
  char junk[8192];
  memset(junk, 'x', sizeof junk);
  CHECK(write(fd, junk, sizeof junk) == (ssize_t)sizeof junk);
  close(fd);
  EXPECT_RC(prw_open(path, 0, 0, &a), EPROTO);
  EXPECT_RC(prw_open(path, PRW_CREATE, 0, &a), EPROTO);
  EXPECT_RC(prw_unlink(path), EPROTO);
  CHECK(t_exists(path)); /* not a lock: kept */
  unlink(path);
  EXPECT_RC(prw_open("/tmp", 0, 0, &a), EISDIR); /* errno of open(2) */
}

/* The acquire/release/downgrade rules for one thread. */
static void test_modes(void) {
  prw_lock *l;
  prw_info_t i;
  REQUIRE(prw_create(&l) == 0);
  EXPECT_RC(prw_release(l), EPERM);
  EXPECT_RC(prw_downgrade(l), EPERM);

  EXPECT_RC(prw_acquire_read(l, -1), 0);
  EXPECT_RC(prw_acquire_read(l, 0), 0); /* recursive */
  EXPECT_RC(prw_try_acquire_read(l), 0);
  EXPECT_RC(prw_acquire_write(l, 1000000), EDEADLK);
  EXPECT_RC(prw_try_acquire_write(l), EDEADLK);
  EXPECT_RC(prw_downgrade(l), EPERM);
  EXPECT_RC(prw_info(l, &i), 0);
  CHECK(i.readers == 1 && i.writer_pid == 0 && i.writer_active == 0);
  EXPECT_RC(prw_release(l), 0);
  EXPECT_RC(prw_release(l), 0);
  EXPECT_RC(prw_release(l), 0);
  EXPECT_RC(prw_release(l), EPERM);

  EXPECT_RC(prw_acquire_write(l, -1), 0);
  EXPECT_RC(prw_acquire_write(l, 0), EDEADLK);
  EXPECT_RC(prw_acquire_read(l, 1000000), EDEADLK);
  EXPECT_RC(prw_try_acquire_read(l), EDEADLK);
  EXPECT_RC(prw_info(l, &i), 0);
  CHECK(i.readers == 0 && i.writer_pid == (uint32_t)getpid());
  CHECK(i.writer_tid == t_gettid() && i.writer_active == 1 && i.owner_dead == 0);
  EXPECT_RC(prw_downgrade(l), 0);
  EXPECT_RC(prw_info(l, &i), 0);
  CHECK(i.readers == 1 && i.writer_pid == 0 && i.writer_active == 0);
  EXPECT_RC(prw_downgrade(l), EPERM);
  EXPECT_RC(prw_acquire_read(l, 0), 0); /* downgraded hold is a read hold */
  EXPECT_RC(prw_release(l), 0);
  EXPECT_RC(prw_release(l), 0);
  EXPECT_RC(prw_release(l), EPERM);

  EXPECT_RC(prw_try_acquire_write(l), 0);
  EXPECT_RC(prw_release(l), 0);
  EXPECT_RC(prw_info(l, &i), 0);
  CHECK(i.readers == 0 && i.writer_pid == 0 && i.waiting_readers == 0 &&
        i.waiting_writers == 0 && i.used_slots == 0 && i.owner_dead == 0);
  CHECK(i.capacity >= 64 && i.attached == 1 && i.recoveries == 0 && i.owner_deaths == 0);
  EXPECT_RC(prw_close(l), 0);
}

/* Buffer rules of prw_serialize, prw_name and prw_holders; tokens. */
static void test_buffers_tokens(void) {
  prw_lock *l, *m;
  char tok[4096], path[4096], small[4];
  size_t n, need;
  REQUIRE(prw_create(&l) == 0);
  EXPECT_RC(prw_is_anonymous(l), 1);

  n = 0;
  EXPECT_RC(prw_serialize(l, NULL, &n), ERANGE);
  need = n;
  CHECK(need > 1 && need <= 4096);
  n = 12345;
  EXPECT_RC(prw_serialize(l, NULL, &n), ERANGE);
  CHECK(n == need);
  n = sizeof small;
  memcpy(small, "abc", 4);
  EXPECT_RC(prw_serialize(l, small, &n), ERANGE);
  CHECK(n == need && strcmp(small, "abc") == 0); /* nothing written */
  n = need - 1;
  EXPECT_RC(prw_serialize(l, tok, &n), ERANGE);
  n = need;
  EXPECT_RC(prw_serialize(l, tok, &n), 0);
  CHECK(n == need - 1 && strlen(tok) == n);
  for (size_t i = 0; i < n; i++) CHECK(tok[i] > ' ' && tok[i] < 127);

  n = 0;
  EXPECT_RC(prw_name(l, NULL, &n), ERANGE);
  need = n;
  n = sizeof path;
  EXPECT_RC(prw_name(l, path, &n), 0);
  CHECK(n == need - 1 && strncmp(path, "/dev/shm/prwlock.", 17) == 0 && t_exists(path));

  /* The token opens the same lock (same process: same holds). */
  EXPECT_RC(prw_deserialize(tok, &m), 0);
  EXPECT_RC(prw_is_anonymous(m), 1);
  EXPECT_RC(prw_acquire_write(l, 0), 0);
  EXPECT_RC(prw_try_acquire_write(m), EDEADLK);
  EXPECT_RC(prw_release(m), 0);
  EXPECT_RC(prw_close(m), 0);

  /* Garbage and foreign tokens; the short ones carry this library's own
   * layout version, taken from its token. */
  char short3[64], short4[64];
  const char *v_end = strchr(tok + 8, ':');
  REQUIRE(strncmp(tok, "prwlock:", 8) == 0 && v_end != NULL && v_end - tok < 40);
  snprintf(short3, sizeof short3, "%.*s:2:3", (int)(v_end - tok), tok);
  snprintf(short4, sizeof short4, "%.*s:2:3:5", (int)(v_end - tok), tok);
  const char *const garbage[] = {"", "garbage", "prwlock:", short3, short4, "\x01\xff"};
  for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
    m = (prw_lock *)0x1;
    EXPECT_RC(prw_deserialize(garbage[i], &m), EINVAL);
    CHECK(m == NULL);
  }
  /* Tokens of older layouts (version 3, before usedWords; 4, before lone
   * writers; 5, before the writers' sleep words). */
  EXPECT_RC(prw_deserialize("prwlock:3:2:3:/dev/shm/prwlock.x", &m), EPROTO);
  EXPECT_RC(prw_deserialize("prwlock:4:2:3:/dev/shm/prwlock.x", &m), EPROTO);
  EXPECT_RC(prw_deserialize("prwlock:5:2:3:/dev/shm/prwlock.x", &m), EPROTO);
  char *huge = malloc(100000);
  memset(huge, 'a', 99999);
  huge[99999] = 0;
  EXPECT_RC(prw_deserialize(huge, &m), EINVAL);
  free(huge);
  /* Same version, a path that is not the lock's file: dev/ino mismatch. */
  unsigned ver = 0;
  unsigned long long dev = 0, ino = 0;
  REQUIRE(sscanf(tok, "prwlock:%u:%llu:%llu:", &ver, &dev, &ino) == 3);
  char foreign[4200];
  snprintf(foreign, sizeof foreign, "prwlock:%u:%llu:%llu:%s", ver, dev, ino + 1, path);
  EXPECT_RC(prw_deserialize(foreign, &m), ENOENT);
  snprintf(foreign, sizeof foreign, "prwlock:%u:%llu:%llu:/dev/shm/prwlock.nonexistent.%d",
           ver, dev, ino, (int)getpid());
  EXPECT_RC(prw_deserialize(foreign, &m), ENOENT);
  snprintf(foreign, sizeof foreign, "prwlock:%u:%llu:%llu:%s", ver + 1000, dev, ino, path);
  EXPECT_RC(prw_deserialize(foreign, &m), EPROTO);
  snprintf(foreign, sizeof foreign, "prwlock:%u:x:y:%s", ver, path);
  EXPECT_RC(prw_deserialize(foreign, &m), EINVAL);
  snprintf(foreign, sizeof foreign, "prwlock:%u:%llu:%llu:relative", ver, dev, ino);
  EXPECT_RC(prw_deserialize(foreign, &m), EINVAL);

  /* Holders: count only, too small, exact. */
  prw_holder_t hs[4];
  memset(hs, 0xee, sizeof hs);
  EXPECT_RC(prw_acquire_write(l, 0), 0);
  EXPECT_RC(prw_holders(l, NULL, 0, &n), ERANGE);
  CHECK(n == 1);
  EXPECT_RC(prw_holders(l, hs, 4, &n), 0);
  CHECK(n == 1 && hs[0].pid == (uint32_t)getpid() && hs[0].tid == t_gettid());
  CHECK(hs[0].mode == PRW_MODE_WRITE && hs[0].waiting == 0);
  CHECK(hs[0].since_ns > 0 && hs[0].since_ns <= t_now_ns());
  CHECK(hs[1].pid == 0xeeeeeeee); /* nothing beyond *count written */
  EXPECT_RC(prw_release(l), 0);
  EXPECT_RC(prw_holders(l, NULL, 0, &n), 0);
  CHECK(n == 0);
  EXPECT_RC(prw_acquire_read(l, 0), 0);
  EXPECT_RC(prw_acquire_read(l, 0), 0);
  EXPECT_RC(prw_holders(l, hs, 1, &n), 0);
  CHECK(n == 1 && hs[0].mode == PRW_MODE_READ && hs[0].count == 2);
  EXPECT_RC(prw_release(l), 0);
  EXPECT_RC(prw_release(l), 0);

  /* Anonymous: the file goes with the last close. */
  EXPECT_RC(prw_close(l), 0);
  CHECK(!t_exists(path));
  EXPECT_RC(prw_deserialize(tok, &m), ENOENT);
}

/* Closing the last handle while holding never wedges the lock. */
static void test_close_while_holding(void) {
  char name[128];
  prw_lock *l;
  prw_info_t i;
  t_name(name, sizeof name, "closeheld");
  REQUIRE(prw_open(name, PRW_CREATE | PRW_EXCL, 0, &l) == 0);
  EXPECT_RC(prw_acquire_read(l, 0), 0);
  EXPECT_RC(prw_close(l), 0);
  REQUIRE(prw_open(name, 0, 0, &l) == 0);
  EXPECT_RC(prw_try_acquire_write(l), 0); /* a read hold goes quietly */
  EXPECT_RC(prw_close(l), 0);             /* ... a write hold does not */
  REQUIRE(prw_open(name, 0, 0, &l) == 0);
  EXPECT_RC(prw_info(l, &i), 0);
  CHECK(i.owner_dead == 1 && i.readers == 0 && i.writer_pid == 0);
  if (i.owner_dead != 1)
    fprintf(stderr, "info: owner_dead %u owner_deaths %llu readers %u writer_pid %u\n",
            i.owner_dead, (unsigned long long)i.owner_deaths, i.readers, i.writer_pid);
  EXPECT_RC(prw_try_acquire_read(l), EOWNERDEAD);
  EXPECT_RC(prw_release(l), 0);
  EXPECT_RC(prw_try_acquire_write(l), EOWNERDEAD);
  EXPECT_RC(prw_release(l), 0); /* a told writer released: consistent */
  EXPECT_RC(prw_try_acquire_read(l), 0);
  EXPECT_RC(prw_release(l), 0);
  EXPECT_RC(prw_close(l), 0);
  EXPECT_RC(prw_unlink(name), 0);
}

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld", &kb) == 1) break;
  if (f) fclose(f);
  return kb;
}

static int count_fds(void) {
  int n = 0;
  for (int fd = 0; fd < 4096; fd++)
    if (fcntl(fd, F_GETFD) != -1) n++;
  return n;
}

/* Thousands of open/close cycles: no growth in memory or descriptors. */
static void test_cycles(void) {
  char name[128], tok[4096];
  prw_lock *a, *b;
  t_name(name, sizeof name, "cycles");
  long rss0 = 0;
  int fds0 = 0;
  const int warm = 300, total = getenv("PRW_CYCLES") ? atoi(getenv("PRW_CYCLES")) : 4000;
  for (int i = 0; i < total; i++) {
    if (i == warm) {
      rss0 = rss_kb();
      fds0 = count_fds();
    }
    size_t n = sizeof tok;
    REQUIRE(prw_create(&a) == 0);
    REQUIRE(prw_serialize(a, tok, &n) == 0);
    REQUIRE(prw_deserialize(tok, &b) == 0);
    REQUIRE(prw_acquire_read(b, 0) == 0);
    REQUIRE(prw_close(b) == 0);
    REQUIRE(prw_close(a) == 0);
    REQUIRE(prw_open(name, PRW_CREATE, 0, &a) == 0);
    REQUIRE(prw_close(a) == 0);
  }
  long grew = rss_kb() - rss0;
  printf("cycles: %d create/deserialize/close rounds, RSS grew %ld kB, fds %d -> %d\n",
         total - warm, grew, fds0, count_fds());
  CHECK(grew < 16 * 1024); /* generous; a leak of a page a cycle is 14 MB */
  CHECK(count_fds() == fds0);
  EXPECT_RC(prw_unlink(name), 0);
}

/* Uncontended cost of a C read pair and write pair (reported only). */
static void bench(void) {
  prw_lock *l;
  const int n = 200000;
  REQUIRE(prw_create(&l) == 0);
  int64_t t0 = t_now_ns();
  for (int i = 0; i < n; i++) {
    prw_acquire_read(l, -1);
    prw_release(l);
  }
  int64_t t1 = t_now_ns();
  for (int i = 0; i < n; i++) {
    prw_acquire_write(l, -1);
    prw_release(l);
  }
  int64_t t2 = t_now_ns();
  printf("uncontended: %.0f ns per read pair, %.0f ns per write pair\n",
         (double)(t1 - t0) / n, (double)(t2 - t1) / n);
  prw_close(l);
}

/* prw_acquire_slice / prw_cancel: a sliced wait keeps its place between
 * calls, is handed the lock while away, and cancel leaves nothing behind. */
static prw_lock *slice_lock;
static volatile int slice_phase;
static void *slice_holder(void *arg) {
  (void)arg;
  EXPECT_RC(prw_acquire_write(slice_lock, -1), 0);
  slice_phase = 1;
  while (slice_phase != 2) t_sleep_ms(1);
  EXPECT_RC(prw_release(slice_lock), 0);
  return NULL;
}

static void test_slice(void) {
  prw_info_t i;
  pthread_t th;
  REQUIRE(prw_create(&slice_lock) == 0);
  prw_lock *l = slice_lock;
  EXPECT_RC(prw_acquire_slice(l, 3, -1, t_now_ns() + 1000000), EINVAL);
  EXPECT_RC(prw_acquire_slice(l, PRW_MODE_READ, -1, 0), EINVAL);
  EXPECT_RC(prw_acquire_slice(NULL, PRW_MODE_READ, -1, 1), EINVAL);
  EXPECT_RC(prw_cancel(l), EPERM);
  EXPECT_RC(prw_acquire_slice(l, PRW_MODE_READ, -1, t_now_ns() + 1000000000), 0); /* free: granted */
  EXPECT_RC(prw_release(l), 0);

  REQUIRE(pthread_create(&th, NULL, slice_holder, NULL) == 0);
  while (slice_phase != 1) t_sleep_ms(1);
  int64_t t0 = t_now_ns();
  EXPECT_RC(prw_acquire_slice(l, PRW_MODE_WRITE, t0 + 5000000000LL, t0 + 20000000), EINTR);
  CHECK(t_now_ns() - t0 >= 20000000);
  EXPECT_RC(prw_info(l, &i), 0);
  CHECK(i.waiting_writers == 1);
  EXPECT_RC(prw_cancel(l), 0);
  EXPECT_RC(prw_cancel(l), EPERM);
  EXPECT_RC(prw_info(l, &i), 0);
  CHECK(i.waiting_writers == 0 && i.used_slots == 1);
  /* A queued reader is handed the lock while it is away. */
  EXPECT_RC(prw_acquire_slice(l, PRW_MODE_READ, -1, t_now_ns() + 10000000), EINTR);
  slice_phase = 2;
  pthread_join(th, NULL);
  EXPECT_RC(prw_info(l, &i), 0);
  CHECK(i.readers == 1 && i.waiting_readers == 0);
  EXPECT_RC(prw_acquire_slice(l, PRW_MODE_READ, -1, t_now_ns() + 1000000000), 0);
  EXPECT_RC(prw_release(l), 0);
  EXPECT_RC(prw_info(l, &i), 0);
  CHECK(i.used_slots == 0);
  EXPECT_RC(prw_close(l), 0);
}

int main(void) {
  alarm(200);
  test_version_strerror();
  test_null();
  test_bad_handles();
  test_open_unlink();
  test_modes();
  test_slice();
  test_buffers_tokens();
  test_close_while_holding();
  test_cycles();
  bench();
  return t_done("test_api");
}
