/* test_prefork: the prefork pattern (Apache prefork, PHP-FPM, Unicorn, a
 * postmaster). The parent opens a named lock and uses it, then forks 4
 * workers without exec; one of them forks a child that forks a child (3
 * levels below the parent). Every worker uses the inherited handle, for
 * reading and for writing, while the parent's threads contend for the lock,
 * then opens the lock anew and uses that handle too. An invariant in shared
 * memory (writers inside, readers inside) is checked inside every critical
 * section. Zero errors and zero exclusion violations. */
#include "testutil.h"

#include <sys/mman.h>

#define WORKERS 4
#define NESTED 3 /* levels of forks below worker 0 */
#define PROCS (WORKERS + NESTED - 1)

typedef struct {
  int writers, readers;
  int violations;
  int errors;
  long ops[PROCS + 1]; /* per process; [PROCS] is the parent */
  int stop;
} shared_t;

static shared_t *sh;
static char name[128];

static void fail(const char *what, int rc) {
  fprintf(stderr, "pid %d: %s = %d (%s)\n", (int)getpid(), what, rc, prw_strerror(rc));
  __atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
}

/* One write and one read critical section on l, checking the invariant. */
static void round_trip(prw_lock *l, int who) {
  int rc = prw_acquire_write(l, 20000000000LL);
  if (rc != 0) {
    fail("acquire_write", rc);
    return;
  }
  if (__atomic_add_fetch(&sh->writers, 1, __ATOMIC_SEQ_CST) != 1 ||
      __atomic_load_n(&sh->readers, __ATOMIC_SEQ_CST) != 0)
    __atomic_add_fetch(&sh->violations, 1, __ATOMIC_SEQ_CST);
  for (volatile int k = 0; k < 200; k++) {
  }
  __atomic_sub_fetch(&sh->writers, 1, __ATOMIC_SEQ_CST);
  if ((rc = prw_release(l)) != 0) fail("release write", rc);

  if ((rc = prw_acquire_read(l, 20000000000LL)) != 0) {
    fail("acquire_read", rc);
    return;
  }
  __atomic_add_fetch(&sh->readers, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&sh->writers, __ATOMIC_SEQ_CST) != 0)
    __atomic_add_fetch(&sh->violations, 1, __ATOMIC_SEQ_CST);
  for (volatile int k = 0; k < 200; k++) {
  }
  __atomic_sub_fetch(&sh->readers, 1, __ATOMIC_SEQ_CST);
  if ((rc = prw_release(l)) != 0) fail("release read", rc);
  __atomic_add_fetch(&sh->ops[who], 1, __ATOMIC_RELAXED);
}

static prw_lock *L; /* opened by the parent, inherited by every worker */

static void *parent_thread(void *arg) {
  (void)arg;
  while (!__atomic_load_n(&sh->stop, __ATOMIC_RELAXED)) round_trip(L, PROCS);
  return NULL;
}

/* A worker: the inherited handle, then a handle of its own. */
static void work(int who) {
  int64_t end = t_now_ns() + 600000000LL;
  while (t_now_ns() < end) round_trip(L, who);
  prw_lock *mine = NULL;
  int rc = prw_open(name, 0, 0, &mine);
  if (rc != 0) {
    fail("prw_open in worker", rc);
  } else {
    end = t_now_ns() + 300000000LL;
    while (t_now_ns() < end) round_trip(mine, who);
    if ((rc = prw_close(mine)) != 0) fail("close own handle", rc);
  }
  if ((rc = prw_close(L)) != 0) fail("close inherited handle", rc);
}

static int reap(pid_t pid) {
  int status;
  if (waitpid(pid, &status, 0) != pid) return 1;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "process %d: status %#x%s\n", (int)pid, status,
            WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM ? " (hung)" : "");
    return 1;
  }
  return 0;
}

/* nest: worker `who` forks the next level first (until NESTED levels),
 * then works, then reaps its child. */
static void nest(int who, int level) {
  pid_t child = -1;
  if (level < NESTED) {
    fflush(stdout);
    child = fork();
    if (child == 0) {
      nest(WORKERS + level - 1, level + 1);
      exit(0);
    }
    if (child < 0) fail("fork (nested)", errno);
  }
  work(who);
  if (child > 0 && reap(child)) __atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
}

int main(void) {
  alarm(120);
  sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  REQUIRE(sh != MAP_FAILED);
  t_name(name, sizeof name, "prefork");
  REQUIRE(prw_open(name, PRW_CREATE | PRW_EXCL, 0600, &L) == 0);
  /* The parent uses the lock before it forks. */
  round_trip(L, PROCS);
  pthread_t th[2];
  for (int k = 0; k < 2; k++) REQUIRE(pthread_create(&th[k], NULL, parent_thread, NULL) == 0);
  pid_t pids[WORKERS];
  for (int w = 0; w < WORKERS; w++) {
    fflush(stdout);
    pids[w] = fork();
    REQUIRE(pids[w] >= 0);
    if (pids[w] == 0) {
      if (w == 0)
        nest(0, 1);
      else
        work(w);
      exit(0); /* exit(), not _exit(): the atexit handlers run */
    }
  }
  int bad = 0;
  for (int w = 0; w < WORKERS; w++) bad += reap(pids[w]);
  __atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
  for (int k = 0; k < 2; k++) pthread_join(th[k], NULL);
  CHECK(bad == 0);
  EXPECT_RC(sh->errors, 0);
  EXPECT_RC(sh->violations, 0);
  long total = 0;
  for (int p = 0; p <= PROCS; p++) {
    if (sh->ops[p] == 0) fprintf(stderr, "process %d made no round trip\n", p);
    CHECK(sh->ops[p] > 0);
    total += sh->ops[p];
  }
  prw_info_t info;
  EXPECT_RC(prw_info(L, &info), 0);
  CHECK(info.used_slots == 0 && info.owner_dead == 0);
  printf("prefork: %d processes (%d forked without exec, %d levels deep), %ld round trips, "
         "0 errors, 0 violations\n",
         PROCS + 1, PROCS, NESTED, total);
  EXPECT_RC(prw_close(L), 0);
  EXPECT_RC(prw_unlink(name), 0);
  return t_done("test_prefork");
}
