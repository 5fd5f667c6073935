/* Kept slots (layout.go, "Kept slots"): a thread keeps its slot idle
 * between holds, and gives it up when it exits, when its process exits
 * (even without closing), when its handle closes, and when a full table
 * needs room. A fork child never uses the slot its parent kept. The test
 * reads the holder table from its own read-only mapping of the file, by
 * the protocol's offsets (prw_layout.h). */
#include "testutil.h"

#include <pthread.h>
#include <sys/mman.h>

#include "../../prw_layout.h"

typedef struct view {
  uint8_t *base;
  size_t size;
  uint32_t capacity;
  uint64_t slot_off;
} view;

static void view_open(view *v, prw_lock *l) {
  char path[4096];
  t_path(l, path, sizeof path);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  struct stat st;
  REQUIRE(fstat(fd, &st) == 0);
  v->size = (size_t)st.st_size;
  v->base = mmap(NULL, v->size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  REQUIRE(v->base != MAP_FAILED);
  v->capacity = *(uint32_t *)(v->base + PRWL_OFF_CAPACITY);
  uint64_t att, size;
  prwl_layout_for(v->capacity, &v->slot_off, &att, &size);
}

static uint64_t slot_u64(const view *v, int i, int field) {
  return __atomic_load_n((uint64_t *)(v->base + v->slot_off + (uint64_t)i * PRWL_SLOT_SIZE + field),
                         __ATOMIC_SEQ_CST);
}

static uint32_t slot_state(const view *v, int i) { return prwl_ctl_state(slot_u64(v, i, PRWL_SLOT_CTL)); }
static uint32_t slot_pid(const view *v, int i) { return prwl_key_pid(slot_u64(v, i, PRWL_SLOT_OWNER)); }

/* count_slots counts the slots owned by pid (any pid if 0) in state st
 * (any state if st is -1); *last gets the index of the last one. */
static int count_slots(const view *v, uint32_t pid, int st, int *last) {
  int n = 0;
  for (int i = 0; i < (int)v->capacity; i++) {
    uint64_t own = slot_u64(v, i, PRWL_SLOT_OWNER);
    if (own == 0 || (pid && prwl_key_pid(own) != pid)) continue;
    if (st >= 0 && slot_state(v, i) != (uint32_t)st) continue;
    n++;
    if (last) *last = i;
  }
  return n;
}

static prw_lock *lk;

/* A thread that does read and write pairs, then reports its kept slot. */
static void *pairs_then_report(void *arg) {
  int *slot = arg;
  for (int k = 0; k < 3; k++) {
    EXPECT_RC(prw_acquire_read(lk, -1), 0);
    EXPECT_RC(prw_release(lk), 0);
    EXPECT_RC(prw_acquire_write(lk, -1), 0);
    EXPECT_RC(prw_release(lk), 0);
  }
  *slot = -1;
  view v;
  view_open(&v, lk);
  int idx = -1;
  uint32_t tid = t_gettid();
  for (int i = 0; i < (int)v.capacity; i++)
    if (slot_pid(&v, i) == (uint32_t)getpid() && slot_u64(&v, i, PRWL_SLOT_HOLDER) == tid) {
      CHECK(idx < 0); /* one slot per thread, however many holds */
      idx = i;
    }
  CHECK(idx >= 0 && slot_state(&v, idx) == PRWL_SLOT_IDLE);
  *slot = idx;
  munmap(v.base, v.size);
  return NULL;
}

static void test_thread(const char *name) {
  (void)name;
  view v;
  view_open(&v, lk);
  int slot;
  pthread_t th;
  REQUIRE(pthread_create(&th, NULL, pairs_then_report, &slot) == 0);
  pthread_join(th, NULL);
  REQUIRE(slot >= 0);
  /* The thread exited: its kept slot goes at this process's next call. */
  EXPECT_RC(prw_try_acquire_read(lk), 0);
  EXPECT_RC(prw_release(lk), 0);
  CHECK(slot_u64(&v, slot, PRWL_SLOT_OWNER) == 0 || slot_u64(&v, slot, PRWL_SLOT_HOLDER) == t_gettid());
  /* Stats count holds and waits, not kept slots. */
  prw_info_t info;
  EXPECT_RC(prw_info(lk, &info), 0);
  CHECK(info.used_slots == 0);
  munmap(v.base, v.size);
}

/* Child modes, run by exec of this program. */
static int child(const char *mode, const char *token) {
  prw_lock *l;
  EXPECT_RC(prw_deserialize(token, &l), 0);
  EXPECT_RC(prw_acquire_read(l, -1), 0);
  EXPECT_RC(prw_release(l), 0);
  if (strcmp(mode, "exitclean") == 0) exit(t_failures ? 1 : 0); /* exit(3) without prw_close */
  /* "hang": keep the slot until killed. */
  printf("kept\n");
  fflush(stdout);
  for (;;) pause();
}

static void run_child(const char *mode, const char *token, int kill_it, uint32_t *pid) {
  static char self[4096];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  REQUIRE(len > 0);
  self[len] = 0;
  t_helper h;
  char *argv[] = {self, (char *)"child", (char *)mode, (char *)token, NULL};
  t_spawn(&h, argv);
  *pid = (uint32_t)h.pid;
  if (kill_it) {
    char line[64];
    REQUIRE(t_line(&h, line, sizeof line, 10000) == 0 && strcmp(line, "kept") == 0);
    kill(h.pid, SIGKILL);
  }
  int st = t_wait(&h, 10000);
  if (!kill_it) CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_process_exit(void) {
  view v;
  view_open(&v, lk);
  char token[4096];
  size_t n = sizeof token;
  EXPECT_RC(prw_serialize(lk, token, &n), 0);
  uint32_t pid;
  /* exit(3) without prw_close: the library's exit handler frees the slot. */
  run_child("exitclean", token, 0, &pid);
  CHECK(count_slots(&v, pid, -1, NULL) == 0);
  /* SIGKILL: the slot stays kept by a dead process... */
  run_child("hang", token, 1, &pid);
  CHECK(count_slots(&v, pid, PRWL_SLOT_IDLE, NULL) == 1);
  munmap(v.base, v.size);
}

/* A full table of kept slots makes room: 64 threads keep a slot each in a
 * 64-slot lock, and a 65th thread still gets the lock, as do the 64
 * afterwards. */
static prw_lock *small;
static pthread_barrier_t bar;

static void *keeper(void *arg) {
  (void)arg;
  EXPECT_RC(prw_acquire_read(small, -1), 0);
  EXPECT_RC(prw_release(small), 0);
  pthread_barrier_wait(&bar); /* all keep a slot */
  pthread_barrier_wait(&bar); /* the newcomer got in */
  EXPECT_RC(prw_acquire_write(small, 5000000000LL), 0);
  EXPECT_RC(prw_release(small), 0);
  EXPECT_RC(prw_acquire_read(small, 5000000000LL), 0);
  EXPECT_RC(prw_release(small), 0);
  return NULL;
}

static void *newcomer(void *arg) {
  (void)arg;
  EXPECT_RC(prw_acquire_read(small, 5000000000LL), 0);
  EXPECT_RC(prw_release(small), 0);
  return NULL;
}

static void test_full_of_kept(void) {
  char name[128];
  EXPECT_RC(prw_open_ex(t_name(name, sizeof name, "kept-full"), PRW_CREATE | PRW_EXCL, 0600, 64, &small), 0);
  view v;
  view_open(&v, small);
  REQUIRE(v.capacity == 64);
  enum { N = 64 };
  pthread_t th[N], nc;
  REQUIRE(pthread_barrier_init(&bar, NULL, N + 1) == 0);
  for (int i = 0; i < N; i++) REQUIRE(pthread_create(&th[i], NULL, keeper, NULL) == 0);
  pthread_barrier_wait(&bar);
  CHECK(count_slots(&v, (uint32_t)getpid(), PRWL_SLOT_IDLE, NULL) == N);
  REQUIRE(pthread_create(&nc, NULL, newcomer, NULL) == 0);
  pthread_join(nc, NULL);
  pthread_barrier_wait(&bar);
  for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
  pthread_barrier_destroy(&bar);
  EXPECT_RC(prw_close(small), 0);
  EXPECT_RC(prw_unlink(name), 0);
  /* Closing gave up every kept slot. */
  CHECK(count_slots(&v, 0, -1, NULL) == 0);
  munmap(v.base, v.size);
}

/* A fork child uses its inherited handle with a slot of its own, and the
 * parent's kept slot stays the parent's. */
static void test_fork_child(void) {
  view v;
  view_open(&v, lk);
  EXPECT_RC(prw_acquire_read(lk, -1), 0);
  EXPECT_RC(prw_release(lk), 0);
  int mine = -1;
  REQUIRE(count_slots(&v, (uint32_t)getpid(), PRWL_SLOT_IDLE, &mine) == 1);
  uint64_t ctl = slot_u64(&v, mine, PRWL_SLOT_CTL);
  pid_t c = fork();
  if (c == 0) {
    int ok = prw_acquire_read(lk, -1) == 0;
    int other = -1;
    ok = ok && count_slots(&v, (uint32_t)getpid(), PRWL_SLOT_READ, &other) == 1 && other != mine;
    ok = ok && slot_u64(&v, mine, PRWL_SLOT_CTL) == ctl;
    ok = ok && prw_release(lk) == 0;
    _exit(ok ? 0 : 1);
  }
  int st;
  waitpid(c, &st, 0);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  CHECK(slot_u64(&v, mine, PRWL_SLOT_CTL) == ctl && slot_pid(&v, mine) == (uint32_t)getpid());
  EXPECT_RC(prw_acquire_read(lk, -1), 0); /* the parent's slot still serves it */
  int now = -1;
  CHECK(count_slots(&v, (uint32_t)getpid(), PRWL_SLOT_READ, &now) == 1 && now == mine);
  EXPECT_RC(prw_release(lk), 0);
  munmap(v.base, v.size);
}

/* Explicit owners come and go as tasks do: they keep no slot. */
static void test_explicit_owner(void) {
  view v;
  view_open(&v, lk);
  uint64_t owner = UINT64_C(0x1234567890);
  for (int k = 0; k < 3; k++) {
    EXPECT_RC(prw_acquire_read_as(lk, owner, -1), 0);
    EXPECT_RC(prw_release_as(lk, owner), 0);
    EXPECT_RC(prw_acquire_write_as(lk, owner, -1), 0);
    EXPECT_RC(prw_release_as(lk, owner), 0);
  }
  for (int i = 0; i < (int)v.capacity; i++)
    CHECK(!(slot_pid(&v, i) == (uint32_t)getpid() && slot_u64(&v, i, PRWL_SLOT_HOLDER) == owner));
  munmap(v.base, v.size);
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "child") == 0) return child(argv[2], argv[3]);
  char name[128];
  EXPECT_RC(prw_open(t_name(name, sizeof name, "kept"), PRW_CREATE | PRW_EXCL, 0600, &lk), 0);
  test_thread(name);
  test_process_exit();
  test_fork_child();
  test_explicit_owner();
  test_full_of_kept();
  EXPECT_RC(prw_close(lk), 0);
  EXPECT_RC(prw_unlink(name), 0);
  return t_done("test_kept");
}
