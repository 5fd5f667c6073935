/* The critical-section checks of the chaos test, in C. The C worker links
 * this file; the Python worker loads it as libchaoscs.so through ctypes, so
 * that its checks use real atomics (Python has none) and cost one call.
 * The Go worker has the same logic in chaosmem.go. Layout: chaosmem.h. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "chaosmem.h"

#define P(base, off) ((uint64_t *)((char *)(base) + (off)))
#define LD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define ST(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)

/* The scratch file's path: a process that no longer maps it has left every
 * critical section for good (see mark_stale). */
static char cm_path[512];

static uint64_t *slotw(void *base, int slot, int field) {
  return P(base, CM_SLOT_BASE + (long)slot * CM_SLOT_SIZE + field);
}
static uint64_t *lockw(void *base, int lock, int field) {
  return P(base, CM_LOCK_BASE + (long)lock * CM_LOCK_STRIDE + field);
}

int64_t cs_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* cs_map maps the scratch file; NULL on failure. */
void *cs_map(const char *path) {
  if (strlen(path) >= sizeof cm_path) return NULL;
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return NULL;
  void *m = mmap(NULL, CM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (m == MAP_FAILED || LD(P(m, CM_H_MAGIC)) != CM_MAGIC) return NULL;
  strcpy(cm_path, path);
  return m;
}

int cs_stop(void *base) { return LD(P(base, CM_H_STOP)) != 0; }

void cs_hello(void *base, int slot) {
  ST(slotw(base, slot, CM_S_PID), (uint64_t)getpid());
  ST(slotw(base, slot, CM_S_BEAT), (uint64_t)cs_now());
}

/* pid_gone: the process no longer runs (no such process, or a zombie). */
static int pid_gone(uint32_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%u/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 1;
  buf[n] = 0;
  char *rp = strrchr(buf, ')');
  return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

/* maps_scratch: 1 if process pid maps the scratch file, 0 if it does not
 * (it exec'd, or its memory is already gone), -1 if we cannot tell. */
static int maps_scratch(uint32_t pid) {
  char path[64], buf[8192];
  snprintf(path, sizeof path, "/proc/%u/maps", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t nl = strlen(cm_path), keep = 0;
  int found = 0;
  for (;;) {
    ssize_t n = read(fd, buf + keep, sizeof buf - keep);
    if (n < 0) {
      found = -1;
      break;
    }
    if (n == 0) break;
    size_t len = keep + (size_t)n;
    if (memmem(buf, len, cm_path, nl)) {
      found = 1;
      break;
    }
    /* A path split across two reads: keep its possible beginning. */
    keep = len < nl - 1 ? len : nl - 1;
    memmove(buf, buf + len - keep, keep);
  }
  close(fd);
  return found;
}

/* mark_stale: the process that published a mark can no longer be inside a
 * critical section: it is gone, or it no longer maps the scratch file that
 * every critical section works on (it exec'd while holding). The engine may
 * hand the lock on from then. */
static int mark_stale(uint32_t pid) { return pid_gone(pid) || maps_scratch(pid) == 0; }

static void violation(void *base, int slot, const char *fmt, uint64_t a, uint64_t b) {
  uint64_t *v = slotw(base, slot, CM_S_VIOL);
  ST(v, LD(v) + 1);
  fprintf(stderr, "chaos VIOLATION pid %d slot %d: ", (int)getpid(), slot);
  fprintf(stderr, fmt, (unsigned long long)a, (unsigned long long)b);
  fputc('\n', stderr);
}

/* cs_check looks for threads that are inside lock in a conflicting mode.
 * The caller published its own mark first, so of two threads inside at the
 * same time at least one sees the other (both use seq_cst). A mark left by a
 * killed process, or by one that exec'd, is not a conflict: the engine may
 * hand the lock on as soon as that process is gone or has let go of the
 * segment. */
static void cs_check(void *base, int slot, int lock, int mode) {
  int n = (int)LD(P(base, CM_H_NSLOTS));
  for (int s = 0; s < n; s++) {
    if (s == slot) continue;
    uint64_t m = LD(slotw(base, s, CM_S_MARK));
    if (m == 0 || (int)((m >> 8) & 0xff) != lock + 1) continue;
    if (mode == CM_MODE_READ && (m & 0xff) != CM_MODE_WRITE) continue;
    if (mark_stale((uint32_t)(m >> 32))) continue;
    violation(base, slot, "inside together with mark %#llx (slot %llu)", m, (uint64_t)s);
  }
}

static void spin(int n) {
  for (int i = 0; i < n; i++) __asm__ volatile("pause" ::: "memory");
}

/* cs_wait_begin is called just before an acquire call. */
int64_t cs_wait_begin(void *base, int slot, int lock, int write) {
  if (write) ST(slotw(base, slot, CM_S_WPHASE), (uint64_t)lock + 1);
  ST(slotw(base, slot, CM_S_WAITINFO), (uint64_t)lock | (uint64_t)(write != 0) << 8);
  int64_t now = cs_now();
  ST(slotw(base, slot, CM_S_WAITSTART), (uint64_t)now);
  return now;
}

/* cs_wait_end is called when the acquire call returns. outcome: 0 granted,
 * 1 granted with owner-dead, 2 busy or timed out, 3 another error (err). */
void cs_wait_end(void *base, int slot, int64_t start, int outcome, int err) {
  int64_t end = cs_now(), took = end - start;
  ST(slotw(base, slot, CM_S_WAITSTART), 0);
  if (took >= CM_RING_MIN_NS) {
    uint64_t *head = slotw(base, slot, CM_S_RINGHEAD), h = LD(head);
    uint64_t *e = P(base, CM_RING_BASE + ((long)slot * CM_RING_LEN + (long)(h % CM_RING_LEN)) * CM_RING_ENTRY);
    ST(e + CM_R_START / 8, (uint64_t)start);
    ST(e + CM_R_END / 8, (uint64_t)end);
    ST(e + CM_R_INFO / 8, LD(slotw(base, slot, CM_S_WAITINFO)) | (uint64_t)outcome << 16);
    ST(head, h + 1);
  }
  uint64_t *mw = slotw(base, slot, CM_S_MAXWAIT);
  if ((uint64_t)took > LD(mw)) ST(mw, (uint64_t)took);
  uint64_t *c = NULL;
  switch (outcome) {
  case 1: c = slotw(base, slot, CM_S_ODOBS); break;
  case 2: c = slotw(base, slot, CM_S_FAILS); break;
  case 3:
    c = slotw(base, slot, CM_S_ERRS);
    ST(slotw(base, slot, CM_S_LASTERR), (uint64_t)err);
    break;
  }
  if (c) ST(c, LD(c) + 1);
  if (outcome <= 1) {
    uint64_t info = LD(slotw(base, slot, CM_S_WAITINFO));
    __atomic_fetch_add(lockw(base, (int)(info & 0xff), (info >> 8 & 1) ? CM_L_WGRANTS : CM_L_RGRANTS), 1, __ATOMIC_SEQ_CST);
  }
  if (outcome >= 2) ST(slotw(base, slot, CM_S_WPHASE), 0);
}

static void record_episode(void *base, int lock, int writer, int64_t now) {
  uint64_t id = LD(lockw(base, lock, CM_L_REPAIRS));
  if (id >= CM_EPISODES) {
    ST(P(base, CM_H_OVERFLOW), 1);
    return;
  }
  uint64_t *e = lockw(base, lock, (writer ? CM_L_WEP : CM_L_REP) + 8 * (int)id);
  if (LD(e) == 0) ST(e, writer ? (uint64_t)now : 1);
}

/* cs_write runs a write critical section: mark, check, change A then B.
 * told: the acquire returned owner-dead, so A and B may disagree; repair
 * them and count the episode as repaired. The mark stays until cs_leave. */
void cs_write(void *base, int slot, int lock, int told, uint64_t x, int n) {
  ST(slotw(base, slot, CM_S_MARK), (uint64_t)getpid() << 32 | (uint64_t)(lock + 1) << 8 | CM_MODE_WRITE);
  cs_check(base, slot, lock, CM_MODE_WRITE);
  uint64_t *a = lockw(base, lock, CM_L_A), *b = lockw(base, lock, CM_L_B);
  if (told) {
    record_episode(base, lock, 1, cs_now());
    ST(b, LD(a));
  } else if (LD(a) != LD(b)) {
    violation(base, slot, "writer found A %llu != B %llu without owner-dead", LD(a), LD(b));
  }
  ST(a, x);
  spin(n);
  ST(b, x);
  if (LD(a) != x || LD(b) != x) violation(base, slot, "writer's words changed under it: A %llu B %llu", LD(a), LD(b));
  if (told) {
    uint64_t *r = lockw(base, lock, CM_L_REPAIRS);
    ST(r, LD(r) + 1);
  }
  uint64_t *w = slotw(base, slot, CM_S_WRITES);
  ST(w, LD(w) + 1);
}

/* cs_read runs a read critical section; the mark stays until cs_leave. */
void cs_read(void *base, int slot, int lock, int told, int n) {
  ST(slotw(base, slot, CM_S_MARK), (uint64_t)getpid() << 32 | (uint64_t)(lock + 1) << 8 | CM_MODE_READ);
  cs_check(base, slot, lock, CM_MODE_READ);
  uint64_t *a = lockw(base, lock, CM_L_A), *b = lockw(base, lock, CM_L_B);
  if (told) {
    record_episode(base, lock, 0, 0);
    return;
  }
  for (int k = 0; k < 2; k++) {
    uint64_t va = LD(a), vb = LD(b);
    if (va != vb) violation(base, slot, "reader found A %llu != B %llu", va, vb);
    spin(n);
  }
  uint64_t *r = slotw(base, slot, CM_S_READS);
  ST(r, LD(r) + 1);
}

/* cs_downgrading is called before a downgrade: from here on the thread may
 * share the lock with readers. */
void cs_downgrading(void *base, int slot, int lock) {
  ST(slotw(base, slot, CM_S_MARK), (uint64_t)getpid() << 32 | (uint64_t)(lock + 1) << 8 | CM_MODE_READ);
}

void cs_downgraded(void *base, int slot, int ok) {
  if (!ok) return;
  ST(slotw(base, slot, CM_S_WPHASE), 0);
  uint64_t *d = slotw(base, slot, CM_S_DOWNGRADES);
  ST(d, LD(d) + 1);
}

/* cs_exec_due is called while holding: if the supervisor asked this
 * worker to exec and this thread claims the request, it records the time
 * and returns how many ms the new program should sleep; otherwise 0. */
int cs_exec_due(void *base, int slot) {
  uint64_t *req = P(base, CM_H_EXECREQ + 8 * (slot / 8));
  uint64_t ms = LD(req);
  if (ms == 0 || !__atomic_compare_exchange_n(req, &ms, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) return 0;
  ST(slotw(base, slot, CM_S_EXECAT), (uint64_t)cs_now());
  return (int)ms;
}

/* cs_leave is called before release. */
void cs_leave(void *base, int slot) { ST(slotw(base, slot, CM_S_MARK), 0); }

/* cs_released is called after release returned. */
void cs_released(void *base, int slot, int err) {
  ST(slotw(base, slot, CM_S_WPHASE), 0);
  if (err) {
    uint64_t *e = slotw(base, slot, CM_S_ERRS);
    ST(e, LD(e) + 1);
    ST(slotw(base, slot, CM_S_LASTERR), (uint64_t)err);
    fprintf(stderr, "chaos: pid %d slot %d: release failed: %d\n", (int)getpid(), slot, err);
  }
  uint64_t *o = slotw(base, slot, CM_S_OPS);
  ST(o, LD(o) + 1);
  ST(slotw(base, slot, CM_S_BEAT), (uint64_t)cs_now());
}
