/* test_fork: children forked without exec (the one place these tests use a
 * bare fork). The parent keeps threads busy inside the library while it
 * forks; each child must be able to make every call, on inherited handles
 * and new ones, never hang, and exit normally through the atexit handlers.
 * Then: nested forks, a child that closed every descriptor, the documented
 * PRW_EFORKED case (a child that cannot load a private copy), exec, and a
 * private copy loaded by hand, which still works.
 * Usage: test_fork PATH_TO_libprwlock.so */
#include "testutil.h"

#include <dlfcn.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>

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

static int bad;

/* copy_loaded: this process has loaded its private copy of the library. */
static int copy_loaded(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  char line[4096];
  int found = 0;
  while (f && !found && fgets(line, sizeof line, f)) found = strstr(line, "libprwlock-fork-copy") != NULL;
  if (f) fclose(f);
  return found;
}

#define C_RC(call, want)                                                       \
  do {                                                                         \
    int rc_ = (call), want_ = (want);                                          \
    if (rc_ != want_) {                                                        \
      fprintf(stderr, "child %d: %s = %d (%s), want %d\n", (int)getpid(), #call, rc_, \
              prw_strerror(rc_), want_);                                       \
      bad++;                                                                   \
    }                                                                          \
  } while (0)
#define C_OK(cond)                                                              \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "child %d: %s:%d: %s\n", (int)getpid(), __FILE__, __LINE__, #cond); \
      bad++;                                                                    \
    }                                                                           \
  } while (0)

/* The inherited handle, every kind of call, under the parent's readers. */
static void use_inherited(void) {
  C_RC(prw_try_acquire_read(L), 0);
  C_RC(prw_release(L), 0);
  C_RC(prw_acquire_write(L, 10000000000LL), 0); /* waits out the parent's readers */
  C_RC(prw_downgrade(L), 0);
  C_RC(prw_release(L), 0);
  C_RC(prw_acquire_read(L, 10000000000LL), 0);
  prw_holder_t hs[16];
  size_t n = 0;
  int rc = prw_holders(L, hs, 16, &n);
  C_OK(rc == 0 || rc == ERANGE);
  int mine = 0;
  for (size_t k = 0; k < n && k < 16; k++)
    if (hs[k].pid == (uint32_t)getpid() && hs[k].tid == t_gettid() && hs[k].mode == PRW_MODE_READ)
      mine++;
  C_OK(mine == 1);
  C_RC(prw_release(L), 0);
  C_RC(prw_release(L), EPERM);
  /* A wait left queued, then withdrawn. */
  int64_t now = t_now_ns();
  rc = prw_acquire_slice(L, PRW_MODE_WRITE, now + 10000000000LL, now + 1);
  C_OK(rc == 0 || rc == EINTR);
  C_RC(rc == 0 ? prw_release(L) : prw_cancel(L), 0);
  prw_info_t i;
  C_RC(prw_info(L, &i), 0);
  C_OK(i.attached >= 1);
  char buf[4096];
  n = sizeof buf;
  C_RC(prw_serialize(L, buf, &n), 0);
  C_OK(strcmp(buf, token) == 0);
  n = sizeof buf;
  C_RC(prw_name(L, buf, &n), 0);
  C_OK(strncmp(buf, "/dev/shm/prwlock.", 17) == 0);
  C_RC(prw_is_anonymous(L), 1);
}

/* New handles in the child: named, anonymous, from a token. */
static void use_new(void) {
  char name[128];
  snprintf(name, sizeof name, "ctest.forkchild.%d", (int)getpid());
  prw_lock *m = NULL, *a = NULL, *b = NULL;
  C_RC(prw_open(name, PRW_CREATE | PRW_EXCL, 0600, &m), 0);
  if (m) {
    C_RC(prw_acquire_write(m, 0), 0);
    C_RC(prw_release(m), 0);
    C_RC(prw_close(m), 0);
  }
  C_RC(prw_unlink(name), 0);
  C_RC(prw_create(&a), 0);
  char tok[4096];
  size_t n = sizeof tok;
  if (a) C_RC(prw_serialize(a, tok, &n), 0);
  if (a) C_RC(prw_deserialize(tok, &b), 0);
  if (b) {
    C_RC(prw_try_acquire_read(b), 0);
    C_RC(prw_release(b), 0);
    C_RC(prw_close(b), 0);
  }
  if (a) C_RC(prw_close(a), 0);
  C_OK(!a || !t_exists(strrchr(tok, ':') + 1)); /* its last user closed it */
  /* The parent's lock, opened anew. */
  C_RC(prw_deserialize(token, &b), 0);
  if (b) C_RC(prw_close(b), 0);
}

static void finish_child(void) {
  C_RC(prw_close(L), 0);
  C_RC(prw_try_acquire_read(L), EBADF);
  C_RC(prw_close(L), EBADF);
  C_RC(prw_close(NULL), 0);
  C_OK(strcmp(prw_version(), "1.0.0") == 0);
}

static int wait_child(pid_t pid, const char *what) {
  int status;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "%s child %d: status %#x%s\n", what, (int)pid, status,
            WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM ? " (hung)" : "");
    return 1;
  }
  return 0;
}

/* Fork without exec, repeatedly, while other threads are inside the
 * library; each child makes every call. */
static void test_children(void) {
  pthread_t th[2];
  for (int k = 0; k < 2; k++) pthread_create(&th[k], NULL, busy, NULL);
  t_sleep_ms(20);
  int64_t first_worst = 0;
  for (int k = 0; k < 10; k++) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      alarm(60); /* a hang becomes SIGALRM, which the parent reports */
      close(fds[0]);
      int64_t t0 = t_now_ns();
      C_RC(prw_try_acquire_read(L), 0);
      int64_t first = t_now_ns() - t0;
      C_RC(prw_release(L), 0);
      /* The data plane needs no engine: nothing was loaded for it. */
      C_RC(prw_acquire_write(L, 10000000000LL), 0);
      C_RC(prw_release(L), 0);
      C_OK(!copy_loaded());
      use_inherited();
      C_OK(copy_loaded()); /* inspection needed it */
      use_new();
      finish_child();
      if (write(fds[1], &first, sizeof first) != sizeof first) bad++;
      exit(bad ? 1 : 0); /* exit(), not _exit(): the atexit handlers run */
    }
    close(fds[1]);
    int64_t first = 0;
    if (read(fds[0], &first, sizeof first) == sizeof first && first > first_worst)
      first_worst = first;
    close(fds[0]);
    CHECK(wait_child(pid, "fork") == 0);
  }
  __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
  for (int k = 0; k < 2; k++) pthread_join(th[k], NULL);
  printf("fork: 10 children made every call; slowest first call on an inherited handle %.3f ms\n",
         first_worst / 1e6);
  /* The parent is unaffected. */
  EXPECT_RC(prw_try_acquire_write(L), 0);
  EXPECT_RC(prw_release(L), 0);
}

/* Each generation uses the handle it inherited, then forks the next. */
static void nested(int depth, int max) {
  use_inherited();
  use_new();
  if (depth < max) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
      bad++;
    } else if (pid == 0) {
      bad = 0;
      nested(depth + 1, max);
      exit(bad ? 1 : 0);
    } else {
      bad += wait_child(pid, "nested");
    }
  }
  finish_child();
}

static void test_nested(void) {
  fflush(stdout);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    alarm(120);
    nested(1, 4);
    exit(bad ? 1 : 0);
  }
  CHECK(wait_child(pid, "nested") == 0);
}

/* A host that closes every descriptor after fork (daemons do): the copy's
 * bytes then come from the library's path. */
static void test_closed_fds(void) {
  fflush(stdout);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    alarm(60);
    for (int fd = 3; fd < 1024; fd++) close(fd);
    use_inherited();
    use_new();
    finish_child();
    exit(bad ? 1 : 0);
  }
  CHECK(wait_child(pid, "closed-fds") == 0);
}

/* A child that cannot load a private copy (memfd_create denied, as a
 * sandbox might): the calls that need the engine there return PRW_EFORKED
 * at once; the data plane and what a handle keeps still work. */
static int deny_memfd(void) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
#if defined(__x86_64__)
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
#elif defined(__aarch64__)
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_AARCH64, 1, 0),
#else
      BPF_JUMP(BPF_JMP | BPF_JA, 0, 0, 0),
#endif
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_memfd_create, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

static void test_no_copy(void) {
  fflush(stdout);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    alarm(60);
    if (deny_memfd() != 0) {
      printf("fork: seccomp unavailable here; PRW_EFORKED case not tested\n");
      exit(0);
    }
    prw_lock *m = NULL;
    int64_t t0 = t_now_ns();
    C_RC(prw_open("ctest.nocopy", PRW_CREATE, 0600, &m), PRW_EFORKED);
    C_OK(m == NULL);
    C_OK(t_now_ns() - t0 < 10000000000LL);
    C_RC(prw_create(&m), PRW_EFORKED);
    prw_info_t i;
    C_RC(prw_info(L, &i), PRW_EFORKED);
    C_OK(strstr(prw_strerror(PRW_EFORKED), "fork") != NULL);
    C_RC(prw_try_acquire_read(L), 0);
    C_RC(prw_release(L), 0);
    C_RC(prw_acquire_write(L, 10000000000LL), 0);
    C_RC(prw_downgrade(L), 0);
    C_RC(prw_release(L), 0);
    C_OK(!copy_loaded());
    /* Answered from what the handle keeps, without the engine. */
    char buf[4096];
    size_t n = sizeof buf;
    C_RC(prw_serialize(L, buf, &n), 0);
    C_RC(prw_is_anonymous(L), 1);
    C_RC(prw_close(L), 0);
    exit(bad ? 1 : 0);
  }
  CHECK(wait_child(pid, "no-copy") == 0);
}

/* exec: the new program uses the token. */
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
  fflush(stdout);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    alarm(20);
    execl(self, self, "--exec-child", token, (char *)NULL);
    _exit(127);
  }
  CHECK(wait_child(pid, "exec") == 0);
}

/* A private copy of the library loaded by hand, from a memfd whose path
 * holds the child's pid (what hosts had to do before the library did it):
 * it keeps working, next to the inherited copy. */
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
  /* A handle of one copy means nothing to another. */
  if (acq(L, 0) != EBADF) return 6;
  if (prw_try_acquire_read(L) != 0 || prw_release(L) != 0) return 7;
  return rc == 0 ? 0 : 8;
}

static void test_private_copy(const char *libpath) {
  EXPECT_RC(prw_acquire_read(L, 0), 0); /* the child's writer must wait for us */
  fflush(stdout);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    alarm(20);
    _exit(private_copy_child(libpath));
  }
  prw_info_t i;
  CHECK(t_until(prw_info(L, &i) == 0 && i.waiting_writers == 1, 15000));
  EXPECT_RC(prw_release(L), 0);
  CHECK(wait_child(pid, "private-copy") == 0);
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--exec-child") == 0) return exec_child(argv[2]);
  REQUIRE(argc == 2);
  alarm(300);
  REQUIRE(prw_create(&L) == 0);
  size_t n = sizeof token;
  REQUIRE(prw_serialize(L, token, &n) == 0);
  test_children();
  test_nested();
  test_closed_fds();
  test_no_copy();
  test_exec();
  test_private_copy(argv[1]);
  char path[4096];
  t_path(L, path, sizeof path);
  EXPECT_RC(prw_close(L), 0);
  CHECK(!t_exists(path)); /* the children's closes left the parent the last user */
  return t_done("test_fork");
}
