/* test_fork: the fork guard. The parent keeps threads busy in Go while it
 * forks; each child (fork without exec, the one place these tests use a bare
 * fork) must get PRW_EFORKED from every function at once, never hang, and
 * exit normally through the atexit handler. Then the two ways out: exec,
 * and a private copy of the library loaded from a memfd.
 * Usage: test_fork PATH_TO_libprwlock.so */
#include "testutil.h"

#include <dlfcn.h>
#include <sys/mman.h>

static prw_lock *L;
static char token[4096];
static volatile int stop;

static void *busy(void *p) {
  (void)p;
  prw_info_t i;
  while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
    if (prw_acquire_read(L, -1) == 0) prw_release(L);
    prw_info(L, &i);
  }
  return NULL;
}

/* In a forked child: 0 if every function refuses with PRW_EFORKED. */
static int child_checks(void) {
  int bad = 0;
  prw_lock *m = (prw_lock *)0x1;
  prw_info_t i;
  prw_holder_t hs[2];
  size_t n = sizeof token;
  char buf[4096];
#define EF(call)                                                        \
  do {                                                                  \
    int rc_ = (call);                                                   \
    if (rc_ != PRW_EFORKED) {                                           \
      fprintf(stderr, "child: %s = %d, want PRW_EFORKED\n", #call, rc_); \
      bad++;                                                            \
    }                                                                   \
  } while (0)
  EF(prw_create(&m));
  if (m != NULL) bad++;
  EF(prw_open("x", PRW_CREATE, 0, &m));
  EF(prw_deserialize(token, &m));
  EF(prw_unlink("x"));
  EF(prw_acquire_read(L, -1));
  EF(prw_acquire_write(L, -1));
  EF(prw_try_acquire_read(L));
  EF(prw_try_acquire_write(L));
  EF(prw_release(L));
  EF(prw_downgrade(L));
  EF(prw_serialize(L, buf, &n));
  EF(prw_name(L, buf, &n));
  EF(prw_is_anonymous(L));
  EF(prw_info(L, &i));
  EF(prw_holders(L, hs, 2, &n));
  uint32_t cap;
  EF(prw_capacity(L, &cap));
  EF(prw_create_ex(64, &m));
  if (m != NULL) bad++;
  EF(prw_open_ex("x", PRW_CREATE, 0, 64, &m));
  EF(prw_close(L));
  EF(prw_close(NULL));
#undef EF
  if (strcmp(prw_version(), "1.0.0") != 0) bad++;
  if (strstr(prw_strerror(PRW_EFORKED), "fork") == NULL) bad++;
  return bad;
}

/* Fork without exec, repeatedly, while other threads are inside Go. */
static void test_guard(void) {
  pthread_t th[2];
  for (int k = 0; k < 2; k++) pthread_create(&th[k], NULL, busy, NULL);
  t_sleep_ms(20);
  int64_t worst = 0;
  for (int k = 0; k < 20; k++) {
    int64_t t0 = t_now_ns();
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      alarm(20); /* a hang becomes SIGALRM, which the parent reports */
      int64_t c0 = t_now_ns();
      int bad = child_checks();
      int64_t took = t_now_ns() - c0;
      if (took > 10000000000LL) bad++; /* "at once", generously */
      exit(bad ? 1 : 0); /* exit(), not _exit(): the atexit handler runs */
    }
    int status;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    int64_t el = t_now_ns() - t0;
    if (el > worst) worst = el;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      fprintf(stderr, "fork child %d: status %#x%s\n", k, status,
              WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM ? " (hung)" : "");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
  for (int k = 0; k < 2; k++) pthread_join(th[k], NULL);
  printf("fork guard: 20 children refused at once; slowest fork-to-reap %.1f ms\n", worst / 1e6);
  /* The parent is unaffected. */
  EXPECT_RC(prw_try_acquire_write(L), 0);
  EXPECT_RC(prw_release(L), 0);
}

/* Way out 1: exec. The child execs this program, which uses the token. */
static int exec_child(const char *tok) {
  prw_lock *m;
  int rc = prw_deserialize(tok, &m);
  if (rc == 0) rc = prw_acquire_read(m, 10000000000LL);
  if (rc == 0) rc = prw_release(m);
  if (rc == 0) rc = prw_close(m);
  return rc == 0 ? 0 : 1;
}

static void test_exec(void) {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  REQUIRE(n > 0);
  self[n] = 0;
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    alarm(20);
    execl(self, self, "--exec-child", token, (char *)NULL);
    _exit(127);
  }
  int status;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Way out 2: a private copy of the library, from a memfd whose path holds
 * the child's pid. */
static int private_copy_child(const char *libpath) {
  int src = open(libpath, O_RDONLY | O_CLOEXEC);
  int fd = memfd_create("libprwlock-copy", MFD_CLOEXEC);
  if (src < 0 || fd < 0) return 2;
  char buf[65536];
  ssize_t n;
  while ((n = read(src, buf, sizeof buf)) > 0)
    if (write(fd, buf, (size_t)n) != n) return 3;
  close(src);
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)getpid(), fd);
  void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!dl) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 4;
  }
  int (*deser)(const char *, prw_lock **) = (int (*)(const char *, prw_lock **))dlsym(dl, "prw_deserialize");
  int (*acq)(prw_lock *, int64_t) = (int (*)(prw_lock *, int64_t))dlsym(dl, "prw_acquire_write");
  int (*rel)(prw_lock *) = (int (*)(prw_lock *))dlsym(dl, "prw_release");
  int (*cls)(prw_lock *) = (int (*)(prw_lock *))dlsym(dl, "prw_close");
  if (!deser || !acq || !rel || !cls) return 5;
  prw_lock *m;
  int rc = deser(token, &m);
  if (rc == 0) rc = acq(m, 10000000000LL);
  if (rc == 0) rc = rel(m);
  if (rc == 0) rc = cls(m);
  if (rc != 0) fprintf(stderr, "private copy: %d (%s)\n", rc, prw_strerror(rc));
  /* The inherited copy still refuses. */
  if (prw_try_acquire_read(L) != PRW_EFORKED) return 6;
  return rc == 0 ? 0 : 7;
}

static void test_private_copy(const char *libpath) {
  EXPECT_RC(prw_acquire_read(L, 0), 0); /* the child's writer must wait for us */
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    alarm(20);
    _exit(private_copy_child(libpath));
  }
  prw_info_t i;
  CHECK(t_until(prw_info(L, &i) == 0 && i.waiting_writers == 1, 15000));
  EXPECT_RC(prw_release(L), 0);
  int status;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fprintf(stderr, "private-copy child: status %#x\n", status);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--exec-child") == 0) return exec_child(argv[2]);
  REQUIRE(argc == 2);
  alarm(200);
  REQUIRE(prw_create(&L) == 0);
  size_t n = sizeof token;
  REQUIRE(prw_serialize(L, token, &n) == 0);
  test_guard();
  test_exec();
  test_private_copy(argv[1]);
  EXPECT_RC(prw_close(L), 0);
  return t_done("test_fork");
}
