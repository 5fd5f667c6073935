/* prw_engine.c: the C data plane. See prw_engine.h.
 *
 * Every function below is the C twin of the Go function named in its
 * comment (lock/lock.go, lock/segment.go); read them side by side. All
 * accesses to the segment are sequentially consistent atomics, as
 * sync/atomic's are, so the orderings argued in lock/layout.go hold here
 * word for word. Slot indices come only from the bitmap (bounded by the
 * capacity) and from the lock word after the range check of writer_slot, so
 * arbitrary shared state can make an operation fail, never reach outside
 * the segment. */
#define _GNU_SOURCE
#include "prw_engine_inl.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * System (sys_linux.go). */

PRWE_TEXT int64_t prwe_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* futexWait: sleep while *addr == val, until woken or until the absolute
 * CLOCK_MONOTONIC deadline (ns; <0 none). Shared futexes: waker and sleeper
 * live in different processes. A wake whose bitset shares no bit with bits
 * passes this sleeper by. */
PRWE_TEXT static void futex_wait(uint32_t *addr, uint32_t val, int64_t deadline, uint32_t bits) {
  struct timespec ts, *tsp = NULL;
  if (deadline >= 0) {
    ts.tv_sec = deadline / 1000000000;
    ts.tv_nsec = deadline % 1000000000;
    tsp = &ts;
  }
  syscall(SYS_futex, addr, FUTEX_WAIT_BITSET, val, tsp, NULL, bits);
}

PRWE_TEXT static void futex_wake_n(uint32_t *addr, int n) {
  syscall(SYS_futex, addr, FUTEX_WAKE, n, NULL, NULL, 0);
}

/* futexWakeBits wakes the sleepers on addr whose bitset shares a bit with
 * bits. */
PRWE_TEXT static void futex_wake_bits(uint32_t *addr, uint32_t bits) {
  syscall(SYS_futex, addr, FUTEX_WAKE_BITSET, 1 << 30, NULL, NULL, bits);
}

/* proc_start is procStart(self): field 22 of /proc/self/stat, after the
 * command name in parentheses (which may itself contain ") "). */
PRWE_TEXT static uint64_t proc_start(void) {
  char buf[1024];
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return 0;
  p++;
  /* Fields from 3 (state) on, separated by single spaces; start is 22. */
  for (int field = 2; field < 22; field++) {
    p = strchr(p, ' ');
    if (!p) return 0;
    p++;
  }
  uint64_t v = 0;
  for (; *p >= '0' && *p <= '9'; p++) v = v * 10 + (uint64_t)(*p - '0');
  return v;
}

/* prwe_self is self() with processKey. */
PRWE_TEXT void prwe_self(prwe_me *me) {
  struct stat st;
  me->pid = (uint32_t)getpid();
  me->pstart = proc_start();
  me->pidns = stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
  me->key = prwl_process_key(me->pid, me->pstart, me->pidns);
}

/* ------------------------------------------------------------------------
 * segment.go */

/* isReader: slot state st counts as a reader inside. */
PRWE_INLINE int is_reader(uint32_t st) {
  return st == PRWL_SLOT_READ || st == PRWL_SLOT_GRANTED;
}

PRWE_INLINE uint32_t slot_state(const prwe_seg *s, int i) { return prwl_ctl_state(ld64(ctl(s, i))); }

PRWE_INLINE int bit_set(const prwe_seg *s, int i) {
  return (ld64(bitmap_word(s, i / 64)) >> (i % 64)) & 1;
}

PRWE_INLINE void set_if_diff64(uint64_t *p, uint64_t v) {
  if (ld64(p) != v) st64(p, v);
}

PRWE_TEXT void prwe_seg_init(prwe_seg *s, void *base, uint32_t capacity, uint32_t slot_off) {
  s->base = base;
  s->capacity = capacity;
  s->slot_off = slot_off;
  s->cap_inv = UINT64_MAX / capacity + 1;
}

/* markUsed sets slot i's bitmap bit, after raising usedWords so that
 * scans read its word (see Claim order in layout.go). */
PRWE_INLINE void mark_used(const prwe_seg *s, int i) {
  uint32_t w = (uint32_t)(i / 64) + 1, u;
  while ((u = ld32(used_words(s))) < w && !cas32(used_words(s), u, w)) {
  }
  __atomic_or_fetch(bitmap_word(s, i / 64), UINT64_C(1) << (i % 64), SC);
}

/* claim takes a free slot for owner o (slot flags fl) in slot state st;
 * *gen gets its generation. It returns the index, or -1 (EAGAIN) when the table is full
 * even after a sweep. The state is stored before the bitmap bit is set: a
 * writer that finds the bit then sees the state, and one that misses it
 * changed the lock word before our caller loads it. */
PRWE_TEXT static int claim(const prwe_seg *s, const prwe_me *me, const prwe_env *env, uint64_t o,
                 uint32_t fl, uint32_t st, uint32_t *gen) {
  LOCAL_SEG(s);
  int n = (int)s->capacity;
  /* claimStart (segment.go): hash among the first 1 << PRWE_CLAIM_SPREAD_BITS
   * slots, so concurrent claims rarely collide, an owner tends to reuse its
   * slot, and holders stay in the first pages of the table. */
  uint32_t h = (uint32_t)o ^ (uint32_t)(o >> 32); /* a thread id: itself */
  int start = (int)((h * 2654435761u) >> (32 - PRWE_CLAIM_SPREAD_BITS));
  for (int pass = 0; pass < 2; pass++) {
    for (int k = 0; k < n; k++) {
      int i = start + k;
      if (i >= n) i -= n;
      if (ld64(owner(s, i)) != 0) continue;
      if (!cas64(owner(s, i), 0, me->key)) continue;
      /* Fields left by an earlier claim are usually ours already; a load
       * is cheaper than a locked store. */
      set_if_diff64(pstart(s, i), me->pstart);
      set_if_diff64(pidns(s, i), me->pidns);
      if (ld_since(s, i) != 0) st_since(s, i, 0);
      if (ld32(count(s, i)) != 0) st32(count(s, i), 0);
      if (ld32(sflags(s, i)) != fl) st32(sflags(s, i), fl);
      set_if_diff64(holder(s, i), o);
      *gen = prwl_ctl_gen(ld64(ctl(s, i))) + 1;
      st64(ctl(s, i), prwl_make_ctl(*gen, st));
      mark_used(s, i);
      return i;
    }
    if (pass == 0 && env->check(env->ctx, PRWE_CHECK_SWEEP, -1) == 0) break;
  }
  return -1;
}

/* free returns slot i to the pool. The owner word is cleared by CAS: a
 * recoverer that replaced it by its marker finishes the free itself. */
PRWE_TEXT static void slot_free(const prwe_seg *s, const prwe_me *me, int i) {
  LOCAL_SEG(s);
  __atomic_and_fetch(bitmap_word(s, i / 64), ~(UINT64_C(1) << (i % 64)), SC);
  cas64(owner(s, i), me->key, 0);
}


/* claimFor takes a slot for record r in slot state st: the slot r kept
 * from its last hold if it still has it, else a free one. */
PRWE_TEXT static int claim_for(const prwe_seg *s, const prwe_me *me, const prwe_env *env, prwe_rec *r,
                               uint64_t o, uint32_t fl, uint32_t st, uint32_t *gen) {
  int i = r->idle;
  if (i >= 0) {
    r->idle = -1;
    /* Evicted (a full table, our handle closing), recovered, or our
     * parent's (we are its fork child): no longer ours to touch. */
    if (r->idle_key == me->key && move(s, i, r->idle_gen, PRWL_SLOT_IDLE, st)) {
      /* A hold's since may have been stamped by an inspector after the
       * last release; a writer's is its place in the queue. */
      if (ld_since(s, i) != 0) st_since(s, i, 0);
      *gen = r->idle_gen;
      return i;
    }
  }
  return claim(s, me, env, o, fl, st, gen);
}


/* evict frees idle slot i, whose ctl was c, whoever keeps it (see Kept
 * slots in layout.go), as a recoverer frees a slot. */
PRWE_TEXT static int evict(const prwe_seg *s, const prwe_me *me, int i, uint64_t c) {
  LOCAL_SEG(s);
  if (!cas64(ctl(s, i), c, prwl_make_ctl(prwl_ctl_gen(c), PRWL_SLOT_FREE))) return 0;
  uint64_t own = ld64(owner(s, i));
  if (own == 0 || (own & PRWL_TAG_MARKER) || !cas64(owner(s, i), own, me->key | PRWL_TAG_MARKER)) return 0;
  __atomic_and_fetch(bitmap_word(s, i / 64), ~(UINT64_C(1) << (i % 64)), SC);
  st64(owner(s, i), 0);
  return 1;
}

PRWE_TEXT void prwe_retire(const prwe_seg *s, const prwe_me *me, prwe_rec *r) {
  int i = r->idle;
  if (i < 0) return;
  r->idle = -1;
  if (r->idle_key == me->key) evict(s, me, i, prwl_make_ctl(r->idle_gen, PRWL_SLOT_IDLE));
}

static int any_reader(const prwe_seg *s);
static int next_writer(const prwe_seg *s, int skip, int *others);

/* kick_drain's wake (prw_engine_inl.h; kickDrain): once the last reader
 * has left. Woken while others are still inside, the writer would only
 * look and sleep again. Called after a reader's slot stopped being a
 * reader; every other leaving reader stopped too before its own look, so
 * the last of the looks (in the order of the atomics) finds nobody and
 * wakes. */
PRWE_TEXT void prwe_wake_drain(const prwe_seg *s) {
  if (any_reader(s)) return;
  __atomic_add_fetch(drain_seq(s), 1, SC);
  futex_wake_n(drain_seq(s), 1);
}

/* wakeFor wakes the sleepers whose waiting bits were set in old: every
 * reader, and of the writers the one that is due, first (see next_writer),
 * or all of them if none waits (-1). */
PRWE_TEXT static void wake_for(const prwe_seg *s, uint32_t old, int first) {
  if (old & PRWL_STATE_READERS_WAITING) {
    __atomic_add_fetch(read_seq(s), 1, SC);
    futex_wake_n(read_seq(s), 1 << 30);
  }
  if (old & PRWL_STATE_WRITERS_WAITING) {
    if (first < 0) {
      __atomic_add_fetch(write_seq(s), 1, SC);
      futex_wake_n(write_seq(s), 1 << 30);
    } else if (cas32(sleep_word(s, first), 1, 0)) {
      /* Take its sleep word first, then move writeSeq: it read writeSeq
       * before it looked at the word (Waking writers in layout.go). */
      __atomic_add_fetch(write_seq(s), 1, SC);
      futex_wake_bits(write_seq(s), prwl_writer_bit(first));
    } /* else it is running: no call */
  }
}

/* forEachUsed, as an iterator over the slots whose bitmap bit is set:
 *   for (used_iter it = used(s); (i = next_used(&it)) >= 0;) ... */
typedef struct used_iter {
  const uint64_t *words; /* the bitmap */
  uint32_t w, nw;        /* current word, number of words */
  uint64_t m;            /* its bits not yet visited */
} used_iter;

PRWE_INLINE used_iter used(const prwe_seg *s) {
  uint32_t nw = s->capacity / 64, u = ld32(used_words(s));
  if (u < nw) nw = u; /* no bit beyond (see Claim order in layout.go) */
  used_iter it = {bitmap_word(s, 0), 0, nw, nw ? ld64(bitmap_word(s, 0)) : 0};
  return it;
}

PRWE_INLINE int next_used(used_iter *it) {
  while (it->m == 0) {
    if (++it->w >= it->nw) return -1;
    it->m = __atomic_load_n(&it->words[it->w], SC);
  }
  int b = __builtin_ctzll(it->m);
  it->m &= it->m - 1;
  return (int)it->w * 64 + b;
}

/* anyReader: some slot holds read or was granted it. */
PRWE_TEXT static int any_reader(const prwe_seg *s) {
  LOCAL_SEG(s);
  int i;
  for (used_iter it = used(s); (i = next_used(&it)) >= 0;)
    if (is_reader(slot_state(s, i))) return 1;
  return 0;
}

/* nextWriter returns the slotWaitWrite slot other than skip that is due to
 * take the writer field next: the one that began to wait first (older_writer's
 * order: the oldest non-zero since, ties to the lower index, a writer that
 * never waited last), or -1. *others tells whether another such slot waits
 * besides it. */
PRWE_TEXT static int next_writer(const prwe_seg *s, int skip, int *others) {
  LOCAL_SEG(s);
  int i, first = -1, n = 0;
  int64_t first_since = 0;
  for (used_iter it = used(s); (i = next_used(&it)) >= 0;) {
    if (i == skip || slot_state(s, i) != PRWL_SLOT_WAIT_WRITE) continue;
    int64_t si = ld_since(s, i);
    if (first < 0 || prwl_waited_before(si, i, first_since, first)) first = i, first_since = si;
    n++;
  }
  *others = n > 1;
  return first;
}

/* handOffReaders grants read to every waiting reader. Only the owner of
 * the writer field calls it. */
PRWE_TEXT static void hand_off_readers(const prwe_seg *s, const prwe_me *me) {
  LOCAL_SEG(s);
  int i, idle = 0;
  for (used_iter it = used(s); (i = next_used(&it)) >= 0;) {
    uint64_t c = ld64(ctl(s, i));
    if (prwl_ctl_state(c) == PRWL_SLOT_WAIT_READ)
      cas64(ctl(s, i), c, prwl_make_ctl(prwl_ctl_gen(c), PRWL_SLOT_GRANTED));
    else if (prwl_ctl_state(c) == PRWL_SLOT_IDLE && ++idle > PRWL_KEPT_SCAN_MAX)
      evict(s, me, i, c); /* every writer scans kept slots: keep them few */
  }
}

/* clearWriter gives up the writer field held by slot idx, optionally
 * setting or clearing the owner-dead flag, and wakes the sleepers. It
 * returns 0 if idx did not own it. */
PRWE_TEXT int prwe_clear_writer(const prwe_seg *s, int idx, int set_dead, int clear_dead) {
  LOCAL_SEG(s);
  for (;;) {
    uint32_t old = ld32(state(s));
    if (prwl_writer_of(old) != idx) return 0;
    uint32_t nw = old & ~(PRWL_STATE_WRITER_MASK | PRWL_STATE_READERS_WAITING |
                          PRWL_STATE_WRITERS_WAITING | PRWL_STATE_DRAIN_WAITING);
    if (set_dead) nw |= PRWL_STATE_OWNER_DEAD;
    if (clear_dead) nw &= ~PRWL_STATE_OWNER_DEAD;
    /* Only the writer that is due is woken; while others wait, the bit
     * stays, so that the next clearing wakes the next. */
    int first = -1, others = 0;
    if (old & PRWL_STATE_WRITERS_WAITING) {
      first = next_writer(s, idx, &others);
      if (others) nw |= PRWL_STATE_WRITERS_WAITING;
    }
    if (cas32(state(s), old, nw)) {
      wake_for(s, old, first);
      return 1;
    }
  }
}

/* ------------------------------------------------------------------------
 * lock.go */



/* wakeWritersIfFree wakes the writer that is due when the writer field is
 * free, so that it takes it. */
PRWE_TEXT static void wake_writers_if_free(const prwe_seg *s) {
  uint32_t st = ld32(state(s));
  int others;
  if (!prwl_has_writer(st) && (st & PRWL_STATE_WRITERS_WAITING))
    wake_for(s, PRWL_STATE_WRITERS_WAITING, next_writer(s, -1, &others));
}

/* cancelWait withdraws waiting slot i. It returns 0 when the slot is no
 * longer in state st (granted meanwhile, or recovered). */
PRWE_TEXT static int cancel_wait(const prwe_seg *s, const prwe_me *me, int i, uint32_t gen, uint32_t st) {
  if (!move(s, i, gen, st, PRWL_SLOT_FREE)) return 0;
  slot_free(s, me, i);
  /* Writers that deferred to us as the oldest must look again. */
  if (st == PRWL_SLOT_WAIT_WRITE) wake_writers_if_free(s);
  return 1;
}

/* withdrawRead withdraws the wait of reader slot i, or accepts the grant
 * it was given meanwhile (*held). It fails (ENOTRECOVERABLE) if the slot
 * was recovered. */
PRWE_TEXT static int withdraw_read(const prwe_seg *s, const prwe_me *me, int i, uint32_t gen, int *held) {
  for (;;) {
    *held = 0;
    if (cancel_wait(s, me, i, gen, PRWL_SLOT_WAIT_READ)) return 0;
    if (move(s, i, gen, PRWL_SLOT_GRANTED, PRWL_SLOT_READ)) {
      *held = 1;
      return 0;
    }
    /* Neither: lost, unless a revoke (Granted -> WaitRead) came between. */
    uint64_t c = ld64(ctl(s, i));
    if (c != prwl_make_ctl(gen, PRWL_SLOT_WAIT_READ) && c != prwl_make_ctl(gen, PRWL_SLOT_GRANTED))
      return ENOTRECOVERABLE;
  }
}

/* Spinning. A reader kept out by a writer, and a pending writer waiting
 * for the readers inside to leave, poll for a while before they announce
 * themselves (the waiting bits) and sleep (a writer kept out by another
 * writer does not: see take_writer_field): a hold on another CPU often
 * ends within that time, and then neither side makes a system call, where
 * a sleep costs the waiter a futex wait and its waker a futex wake, plus
 * the time until the scheduler runs the waiter again. Only with more than
 * one CPU (on one, the holder cannot run while we spin), and not for long
 * (a reader longest, see below): a spin reads the shared state only, so
 * it changes nothing the protocol sees. */
#define PRWE_SPINS 64

/* A reader that a writer keeps out spins longer, by the clock: for about
 * what going to sleep and being woken costs on a virtual machine, where
 * the wake-up of a sleeping process is slow. A writer's phase is usually
 * over by then, and a reader that sleeps through its grant holds up the
 * next writer, which must wait for it to wake, run and leave (a granted
 * reader counts as inside) while new readers stay out: with more processes
 * than CPUs those wake-ups chain into stalls of the whole lock. The clock
 * is read every PRWE_SPIN_CLOCK pauses only. */
#define PRWE_READ_SPIN_NS 16000
#define PRWE_SPIN_CLOCK 16

PRWE_TEXT static int spin_ok(void) {
  static int ncpu; /* 0: not yet known */
  int n = __atomic_load_n(&ncpu, __ATOMIC_RELAXED);
  if (n == 0) {
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    n = c > 1 ? 2 : 1;
    __atomic_store_n(&ncpu, n, __ATOMIC_RELAXED);
  }
  return n > 1;
}

PRWE_INLINE void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* sleep waits on futex addr while it holds seq, at most until the next
 * check is due. It returns ETIMEDOUT at the deadline, EINTR at the end of
 * the slice, EBADF when the segment closes, and 0 otherwise. Whenever a
 * poll interval has passed since the wait's last check, whatever woke it,
 * it runs the check. */
PRWE_TEXT static int wait_sleep(const prwe_env *env, prwe_wait *w, uint32_t *addr,
                      uint32_t seq, uint32_t bits, int kind, int arg) {
  int64_t now = prwe_now();
  if (w->deadline > 0 && now >= w->deadline) return ETIMEDOUT;
  if (w->slice_end > 0 && now >= w->slice_end) return EINTR;
  if (w->last_check == 0) w->last_check = now;
  int64_t until = w->last_check + PRWL_POLL_INTERVAL;
  if (w->deadline > 0 && w->deadline < until) until = w->deadline;
  if (w->slice_end > 0 && w->slice_end < until) until = w->slice_end;
  if (until > now) {
    futex_wait(addr, seq, until, bits);
    now = prwe_now();
  }
  if (w->deadline > 0 && now >= w->deadline) return ETIMEDOUT;
  if (w->slice_end > 0 && now >= w->slice_end) return EINTR;
  if (now - w->last_check >= PRWL_POLL_INTERVAL) {
    env->check(env->ctx, kind, arg);
    w->last_check = now;
  }
  if (env->closing(env->ctx)) return EBADF;
  return 0;
}

static int read_wait(const prwe_seg *s, const prwe_me *me, const prwe_env *env, prwe_wait *w,
                     prwe_rec *r, int i, uint32_t gen);
static int write_wait(const prwe_seg *s, const prwe_me *me, const prwe_env *env, prwe_wait *w,
                      prwe_rec *r, int i, uint32_t gen);
static int cancel_pending(const prwe_seg *s, const prwe_me *me, prwe_rec *r);

/* acquireRead. Fast path: publish the read hold, then look for a writer. A
 * writer CASes the lock word before it scans the slots, so one of us sees
 * the other. */
PRWE_TEXT static int acquire_read(const prwe_seg *s, const prwe_me *me, const prwe_env *env, prwe_wait *w,
                        prwe_rec *r, uint64_t o, uint32_t fl) {
  LOCAL_SEG(s);
  uint32_t gen;
  int i;
  if (prwl_has_writer(ld32(state(s)))) {
    /* A writer is in already: queue at once. A slot that never said
     * slotRead was never counted by a draining writer, so, unlike a
     * back-off, this wakes nobody. */
    if ((i = claim_for(s, me, env, r, o, fl, PRWL_SLOT_WAIT_READ, &gen)) < 0) return EAGAIN;
    if (w->deadline != 0) st_since(s, i, prwe_now());
    return read_wait(s, me, env, w, r, i, gen);
  }
  if ((i = claim_for(s, me, env, r, o, fl, PRWL_SLOT_READ, &gen)) < 0) return EAGAIN;
  uint32_t st = ld32(state(s));
  if (!prwl_has_writer(st)) {
    r->slot = i, r->gen = gen, r->mode = PRWE_READ;
    return grant_result(st);
  }
  /* Slow path: back off and queue. */
  if (!move(s, i, gen, PRWL_SLOT_READ, PRWL_SLOT_WAIT_READ)) return lost(r);
  kick_drain(s); /* the pending writer may have counted us as a reader */
  if (w->deadline != 0) st_since(s, i, prwe_now());
  return read_wait(s, me, env, w, r, i, gen);
}

/* readWait's granted closure. */
PRWE_TEXT static int read_granted(const prwe_seg *s, prwe_wait *w, prwe_rec *r, int i, uint32_t gen) {
  r->slot = i, r->gen = gen, r->mode = PRWE_READ, r->wait = PRWE_NONE;
  if (w->deadline != 0) st_since(s, i, prwe_now());
  return grant_result(ld32(state(s)));
}

/* readWait's giveUp closure. */
PRWE_TEXT static int read_give_up(const prwe_seg *s, const prwe_me *me, prwe_wait *w, prwe_rec *r, int i,
                        uint32_t gen, int err) {
  int held;
  if (withdraw_read(s, me, i, gen, &held) != 0) return lost(r);
  if (held) return read_granted(s, w, r, i, gen); /* granted just as we gave up: take it */
  r->slot = -1, r->wait = PRWE_NONE;
  return err;
}

/* readWait waits in slot i (slotWaitRead, or already granted) for read. */
PRWE_TEXT static int read_wait(const prwe_seg *s, const prwe_me *me, const prwe_env *env, prwe_wait *w,
                     prwe_rec *r, int i, uint32_t gen) {
  for (;;) {
    /* Try: nothing to wait for, but a releasing writer may have granted us
     * the lock meanwhile. */
    if (w->deadline == 0) return read_give_up(s, me, w, r, i, gen, EBUSY);
    /* Spin while a writer is in and nobody has granted us read. */
    int64_t t0 = 0;
    for (int k = 1; spin_ok(); k++) {
      if (ld64(ctl(s, i)) != prwl_make_ctl(gen, PRWL_SLOT_WAIT_READ) || !prwl_has_writer(ld32(state(s))))
        break;
      cpu_relax();
      if (k % PRWE_SPIN_CLOCK == 0) {
        int64_t now = prwe_now();
        if (t0 == 0) t0 = now;
        else if (now - t0 >= PRWE_READ_SPIN_NS) break;
      }
    }
    /* Announce the wait (the bit) only when about to sleep: a bit left
     * standing costs the next release a futex wake that wakes nobody. */
    int announce = ld64(ctl(s, i)) == prwl_make_ctl(gen, PRWL_SLOT_WAIT_READ) &&
                   prwl_has_writer(ld32(state(s)));
    if (announce) __atomic_or_fetch(state(s), PRWL_STATE_READERS_WAITING, SC);
    uint32_t seq = ld32(read_seq(s));
    uint64_t c = ld64(ctl(s, i));
    if (c == prwl_make_ctl(gen, PRWL_SLOT_GRANTED)) {
      if (move(s, i, gen, PRWL_SLOT_GRANTED, PRWL_SLOT_READ))
        return read_granted(s, w, r, i, gen); /* handed off by a releasing writer */
      continue;                               /* revoked meanwhile: wait again */
    } else if (c != prwl_make_ctl(gen, PRWL_SLOT_WAIT_READ)) {
      return lost(r);
    }
    uint32_t st = ld32(state(s));
    if (!prwl_has_writer(st)) {
      if (move(s, i, gen, PRWL_SLOT_WAIT_READ, PRWL_SLOT_READ)) {
        if (!prwl_has_writer(ld32(state(s)))) return read_granted(s, w, r, i, gen);
        /* A writer got the field first. */
        if (!move(s, i, gen, PRWL_SLOT_READ, PRWL_SLOT_WAIT_READ)) return lost(r);
        kick_drain(s);
      }
      continue; /* granted, revoked or lost meanwhile: look again */
    }
    int ok;
    writer_slot(s, st, &ok);
    if (!ok) {
      int held;
      withdraw_read(s, me, i, gen, &held);
      r->slot = -1, r->wait = PRWE_NONE;
      return EPROTO; /* corrupt lock word */
    }
    if (!announce) continue; /* a writer came in after our look */
    /* A clearing removed the bit since our OR, and may have moved readSeq
     * before we read it (a writer that gave up hands nothing off):
     * sleeping now could outlast the next release. */
    if (!(st & PRWL_STATE_READERS_WAITING)) continue;
    int err = wait_sleep(env, w, read_seq(s), seq, FUTEX_BITSET_MATCH_ANY, PRWE_CHECK_WRITER, -1);
    if (err) {
      if (err == EINTR) {
        r->slot = i, r->gen = gen, r->wait = PRWE_READ;
        return err;
      }
      return read_give_up(s, me, w, r, i, gen, err);
    }
  }
}



/* The read pair out of line, for callers that do not inline it (the
 * differential test). */
PRWE_TEXT int prwe_read_fast(const prwe_seg *s, const prwe_me *me, prwe_rec *r) {
  return read_fast(s, me, r);
}

PRWE_TEXT int prwe_release_fast(const prwe_seg *s, const prwe_me *me, prwe_rec *r) {
  return release_fast(s, me, r);
}

static int write_fast(const prwe_seg *s, const prwe_me *me, const prwe_env *env, prwe_wait *w,
                      prwe_rec *r);

/* acquireWrite */
PRWE_TEXT static int acquire_write(const prwe_seg *s, const prwe_me *me, const prwe_env *env, prwe_wait *w,
                         prwe_rec *r, uint64_t o, uint32_t fl) {
  int rc = write_alone(s, me, r);
  if (rc == -1) rc = write_fast(s, me, env, w, r);
  if (rc != -1) return rc;
  uint32_t gen;
  int i = claim_for(s, me, env, r, o, fl, PRWL_SLOT_WAIT_WRITE, &gen);
  if (i < 0) return EAGAIN;
  return write_wait(s, me, env, w, r, i, gen);
}

/* olderWriter returns a writer that has waited longer than overtakeNs and
 * began to wait before slot i, or -1. A writer that never waited (since 0)
 * comes after all that did. The clock is read only when another writer
 * waits. */
PRWE_TEXT static int older_writer(const prwe_seg *s, int i) {
  LOCAL_SEG(s);
  if (others_idle(s, i)) return -1; /* the scan would find no other writer */
  int64_t mine = ld_since(s, i), now = 0;
  int j;
  for (used_iter it = used(s); (j = next_used(&it)) >= 0;) {
    if (j == i || slot_state(s, j) != PRWL_SLOT_WAIT_WRITE) continue;
    int64_t sj = ld_since(s, j);
    if (sj == 0 || !prwl_waited_before(sj, j, mine, i)) continue; /* only one that waited, before us, is due */
    if (now == 0) now = prwe_now();
    if (now - sj > PRWL_OVERTAKE_NS) return j;
  }
  return -1;
}

/* abortWrite gives up the writer field and the slot of a writer that
 * never drained the readers: nothing was written, so no owner-dead mark.
 * It returns 0 if the slot was recovered meanwhile. */
PRWE_TEXT static int abort_write(const prwe_seg *s, const prwe_me *me, int i, uint32_t gen) {
  prwe_clear_writer(s, i, 0, 0);
  if (!move(s, i, gen, PRWL_SLOT_WAIT_WRITE, PRWL_SLOT_FREE)) return 0;
  slot_free(s, me, i);
  return 1;
}

/* writeWait waits in slot i (slotWaitWrite) for write: first for the
 * writer field, then for the readers inside to leave. */
static int take_writer_field(const prwe_seg *s, const prwe_me *me, const prwe_env *env,
                             prwe_wait *w, prwe_rec *r, int i, uint32_t gen);
static int drain_readers(const prwe_seg *s, const prwe_me *me, const prwe_env *env, prwe_wait *w,
                         prwe_rec *r, int i, uint32_t gen, int *revoked);

PRWE_TEXT static int write_wait(const prwe_seg *s, const prwe_me *me, const prwe_env *env, prwe_wait *w,
                      prwe_rec *r, int i, uint32_t gen) {
  for (;;) {
    int err = take_writer_field(s, me, env, w, r, i, gen), revoked;
    if (err) return err;
    if ((err = drain_readers(s, me, env, w, r, i, gen, &revoked)) != 0) return err;
    if (!revoked) break;
    /* Our process was stopped while we drained, and another process took
     * the field away (see Hand-off in layout.go): queue again. */
  }
  if (!move(s, i, gen, PRWL_SLOT_WAIT_WRITE, PRWL_SLOT_WRITE)) return lost(r);
  r->slot = i, r->gen = gen, r->mode = PRWE_WRITE, r->wait = PRWE_NONE;
  int err = grant_result(ld32(state(s)));
  r->told = err != 0 && !w->silent;
  return err;
}

/* queueWrite records that r's write wait stays queued in slot i (a slice
 * ended) and returns err. */
PRWE_TEXT static int queue_write(prwe_rec *r, int i, uint32_t gen, int err) {
  r->slot = i, r->gen = gen, r->wait = PRWE_WRITE;
  return err;
}

/* giveUpWrite withdraws r's write wait in slot i, which does not own the
 * writer field, and returns err (ENOTRECOVERABLE if the slot was
 * recovered). */
PRWE_TEXT static int give_up_write(const prwe_seg *s, const prwe_me *me, prwe_rec *r, int i, uint32_t gen,
                         int err) {
  if (!cancel_wait(s, me, i, gen, PRWL_SLOT_WAIT_WRITE)) return lost(r);
  r->slot = -1, r->wait = PRWE_NONE;
  return err;
}

/* takeWriterField waits in slot i (slotWaitWrite) until it owns the writer
 * field, which blocks new readers at once. */
PRWE_TEXT static int take_writer_field(const prwe_seg *s, const prwe_me *me, const prwe_env *env,
                             prwe_wait *w, prwe_rec *r, int i, uint32_t gen) {
  for (;;) {
    uint32_t st = ld32(state(s));
    if (prwl_writer_of(st) == i) return 0; /* resumed while owning it */
    /* (The waiting bit cannot stand in for the scan: the release that
     * wakes the last waiting writer clears it before that writer runs.)
     * Taking the field keeps the bit as it is: it stands while other
     * writers wait (see Waking writers in layout.go). */
    if (!prwl_has_writer(st) && older_writer(s, i) < 0) {
      if (!owns(s, me, i, gen, PRWL_SLOT_WAIT_WRITE)) return lost(r);
      if (cas32(state(s), st, prwl_with_writer(st, i))) return 0;
      continue;
    }
    int ok;
    writer_slot(s, st, &ok);
    if (!ok) return give_up_write(s, me, r, i, gen, EPROTO); /* corrupt lock word */
    if (w->deadline == 0) return give_up_write(s, me, r, i, gen, EBUSY);
    /* First wait, or demoted while stopped: take a place. */
    if (ld_since(s, i) == 0) st_since(s, i, prwe_now());
    /* No spin for the field: a writer kept out by another writer sleeps
     * at once. A spinner takes the field the moment it is released, so
     * busy writers pass it between their CPUs on every hold, each time
     * fetching the lock's lines from the other cache, while a sleeper lets
     * the holder take it back while its lines are warm (the older-writer
     * rule bounds that at overtakeNs), and since a release wakes only the
     * writer that is due, and makes no call while it runs (layout v6), a
     * sleep costs little. Spinning only while other writers already slept
     * was measured against this, interleaved: at 90% reads 4.8 against 5.3
     * million operations a second at 8 processes and 4.7 against 5.6 at 4,
     * at 50% and 10% reads 2.6-3.2 against 3.8-4.8 at 4 and 8, the same at
     * 2. A free field that an older writer is due to take is slept on too. */
    st32(sleep_word(s, i), 1);
    __atomic_or_fetch(state(s), PRWL_STATE_WRITERS_WAITING, SC);
    uint32_t seq = ld32(write_seq(s));
    uint32_t st2 = ld32(state(s));
    /* Sleep only while the bit still stands (a clearing that removed it
     * since our OR may have moved writeSeq before we read it, and the
     * writer that took the field after it would then not wake us) and our
     * sleep word too (a waker that took it may have woken us already). */
    int err = 0;
    if ((st2 & PRWL_STATE_WRITERS_WAITING) && (prwl_has_writer(st2) || older_writer(s, i) >= 0) &&
        ld32(sleep_word(s, i)) == 1)
      err = wait_sleep(env, w, write_seq(s), seq, prwl_writer_bit(i), PRWE_CHECK_WRITE_WAIT, i);
    st32(sleep_word(s, i), 0);
    if (err) return err == EINTR ? queue_write(r, i, gen, err) : give_up_write(s, me, r, i, gen, err);
  }
}

/* setDrainWaiting sets the drain bit for pending writer i, which sleeps on
 * drainSeq; only the owner of the writer field sets it. It returns 0 if i
 * no longer owns the field. */
PRWE_TEXT static int set_drain_waiting(const prwe_seg *s, int i) {
  for (;;) {
    uint32_t st = ld32(state(s));
    if (prwl_writer_of(st) != i) return 0;
    if ((st & PRWL_STATE_DRAIN_WAITING) || cas32(state(s), st, st | PRWL_STATE_DRAIN_WAITING))
      return 1;
  }
}

/* endDrain clears the drain bit of pending writer i, which found no reader
 * inside. The CAS races with the Go engine's revokeFieldIfStopped: exactly
 * one wins. It returns 0 if the field was revoked. */
PRWE_TEXT static int end_drain(const prwe_seg *s, int i) {
  for (;;) {
    uint32_t st = ld32(state(s));
    if (prwl_writer_of(st) != i) return 0;
    if (!(st & PRWL_STATE_DRAIN_WAITING) || cas32(state(s), st, st & ~PRWL_STATE_DRAIN_WAITING))
      return 1;
  }
}

/* revokeYoungGrants takes back, before a pending writer sleeps until the
 * readers inside leave, every grant that its reader has not accepted yet
 * (it is not running) and whose wait began less than starveNs ago (see
 * Hand-off in layout.go). It reports whether it took any back. */
PRWE_TEXT static int revoke_young_grants(const prwe_seg *s) {
  LOCAL_SEG(s);
  int64_t now = 0;
  int i, n = 0;
  for (used_iter it = used(s); (i = next_used(&it)) >= 0;) {
    uint64_t c = ld64(ctl(s, i));
    if (prwl_ctl_state(c) != PRWL_SLOT_GRANTED) continue;
    int64_t since = ld_since(s, i);
    if (now == 0) now = prwe_now();
    if (since != 0 && now - since < PRWL_STARVE_NS &&
        cas64(ctl(s, i), c, prwl_make_ctl(prwl_ctl_gen(c), PRWL_SLOT_WAIT_READ)))
      n++;
  }
  return n > 0; /* no bit: the readers are not asleep (Hand-off in layout.go) */
}

/* drainReaders waits, owning the writer field, for the readers inside to
 * leave. *revoked reports that the field was taken away meanwhile (our
 * process was stopped while it waited): the caller must queue again. */
PRWE_TEXT static int drain_readers(const prwe_seg *s, const prwe_me *me, const prwe_env *env, prwe_wait *w,
                         prwe_rec *r, int i, uint32_t gen, int *revoked) {
  *revoked = 0;
  /* The drain bit was never set, so nobody can revoke the field. Slot i
   * (slotWaitWrite) is no reader: when the others are idle, the scan would
   * find none. */
  if (others_idle(s, i) || !any_reader(s)) return 0;
  if (w->deadline == 0) {
    if (!abort_write(s, me, i, gen)) return lost(r);
    r->slot = -1, r->wait = PRWE_NONE;
    return EBUSY;
  }
  if (ld_since(s, i) == 0) st_since(s, i, prwe_now());
  for (;;) {
    /* Spin while readers are inside: before the drain bit is set, a reader
     * that leaves has no one to wake; after a wake-up, a reader that only
     * passed by (it published itself, saw the field taken and backed off)
     * is gone within the spin, where sleeping again would cost a futex
     * wait that its kick undoes at once. */
    for (int k = 0; k < PRWE_SPINS / 4 && spin_ok() && any_reader(s); k++)
      for (int j = 0; j < 4; j++) cpu_relax();
    if (!set_drain_waiting(s, i)) {
      *revoked = 1;
      return 0;
    }
    uint32_t seq = ld32(drain_seq(s));
    if (!any_reader(s) || (revoke_young_grants(s) && !any_reader(s))) break;
    int err = wait_sleep(env, w, drain_seq(s), seq, FUTEX_BITSET_MATCH_ANY, PRWE_CHECK_READERS, -1);
    if (err) {
      if (err == EINTR) return queue_write(r, i, gen, err); /* keep the field: new readers stay out */
      if (!abort_write(s, me, i, gen)) return lost(r);
      r->slot = -1, r->wait = PRWE_NONE;
      return err;
    }
  }
  if (!end_drain(s, i)) {
    *revoked = 1;
    return 0;
  }
  st_since(s, i, prwe_now());
  return 0;
}

/* writeFast is acquireWrite for an owner that keeps an idle slot, while
 * the writer field is free: claimFor's, takeWriterField's and
 * drainReaders' steps, in their order, without their loops. A scan is
 * skipped only when every other slot in use is idle (others_idle), where
 * it would find nothing; whatever would wait or retry goes on in
 * write_wait, which starts from where we are (slot i in slotWaitWrite,
 * owning the field or not). It returns -1, with nothing changed, when the
 * general path must begin. */
PRWE_TEXT static int write_fast(const prwe_seg *s, const prwe_me *me, const prwe_env *env, prwe_wait *w,
                                prwe_rec *r) {
  int i = r->idle;
  if (i < 0 || r->slot >= 0 || r->idle_key != me->key) return -1;
  LOCAL_SEG(s);
  if (prwl_has_writer(ld32(state(s)))) return -1;
  /* claim_for */
  uint32_t gen = r->idle_gen;
  r->idle = -1;
  if (!move(s, i, gen, PRWL_SLOT_IDLE, PRWL_SLOT_WAIT_WRITE)) return -1; /* evicted or recovered: claim afresh */
  if (ld_since(s, i) != 0) st_since(s, i, 0);
  /* take_writer_field's first round */
  uint32_t st = ld32(state(s));
  if (prwl_has_writer(st) || older_writer(s, i) >= 0 ||
      !owns(s, me, i, gen, PRWL_SLOT_WAIT_WRITE) || !cas32(state(s), st, prwl_with_writer(st, i)))
    return write_wait(s, me, env, w, r, i, gen);
  /* drain_readers' first look: slot i (slotWaitWrite) is no reader. */
  if (!others_idle(s, i) && any_reader(s)) return write_wait(s, me, env, w, r, i, gen);
  if (!move(s, i, gen, PRWL_SLOT_WAIT_WRITE, PRWL_SLOT_WRITE)) return lost(r);
  r->slot = i, r->gen = gen, r->mode = PRWE_WRITE, r->wait = PRWE_NONE;
  int err = grant_result(ld32(state(s)));
  r->told = err != 0 && !w->silent;
  return err;
}

/* cancelPending withdraws the wait a slice left queued for r. If the wait
 * was granted meanwhile, the grant is given back: no phantom hold. */
PRWE_TEXT static int cancel_pending(const prwe_seg *s, const prwe_me *me, prwe_rec *r) {
  int i = r->slot, ok = 1;
  uint32_t gen = r->gen;
  if (r->wait == PRWE_READ) {
    int held;
    int err = withdraw_read(s, me, i, gen, &held);
    if (held) {
      ok = move(s, i, gen, PRWL_SLOT_READ, PRWL_SLOT_FREE);
      if (ok) {
        kick_drain(s);
        slot_free(s, me, i);
      }
    }
    ok = ok && err == 0;
  } else if (prwl_writer_of(ld32(state(s))) == i) {
    ok = abort_write(s, me, i, gen);
  } else {
    ok = cancel_wait(s, me, i, gen, PRWL_SLOT_WAIT_WRITE);
  }
  r->slot = -1, r->mode = PRWE_NONE, r->wait = PRWE_NONE, r->told = 0;
  return ok ? 0 : ENOTRECOVERABLE;
}

/* acquireWait. o is the owner (holder) id, fl its slot flags. */
PRWE_TEXT static int acquire_wait(const prwe_seg *s, const prwe_me *me, const prwe_env *env,
                                  prwe_rec *r, uint64_t o, uint32_t fl, int m, prwe_wait *w) {
  if (m != PRWE_READ && m != PRWE_WRITE) return EINVAL;
  if (r->slot < 0) return m == PRWE_READ ? acquire_read(s, me, env, w, r, o, fl)
                                         : acquire_write(s, me, env, w, r, o, fl);
  if (r->wait == m) {
    /* Resume the wait an earlier slice left queued. */
    return m == PRWE_READ ? read_wait(s, me, env, w, r, r->slot, r->gen)
                          : write_wait(s, me, env, w, r, r->slot, r->gen);
  }
  if (r->wait != PRWE_NONE) {
    /* A different request replaces the queued one. */
    cancel_pending(s, me, r);
    return m == PRWE_READ ? acquire_read(s, me, env, w, r, o, fl)
                          : acquire_write(s, me, env, w, r, o, fl);
  }
  if (r->mode == PRWE_READ && m == PRWE_READ) {
    /* Recursive read: never consults the lock word, so it cannot deadlock
     * against a pending writer. */
    if (!owns(s, me, r->slot, r->gen, PRWL_SLOT_READ)) return lost(r);
    __atomic_add_fetch(count(s, r->slot), 1, SC);
    return grant_result(ld32(state(s)));
  }
  return EDEADLK;
}

/* acquireWait for a thread: o is its kernel tid. */
PRWE_TEXT int prwe_acquire_wait(const prwe_seg *s, const prwe_me *me, const prwe_env *env, prwe_rec *r,
                      uint32_t o, int m, prwe_wait *w) {
  if (o == 0 || o == 0xffffffffu) return EINVAL;
  return acquire_wait(s, me, env, r, o, PRWL_SLOT_THREAD_OWNER, m, w);
}

/* acquireWait for an explicit owner: any nonzero value, and no
 * slotThreadOwner, since no thread's life bounds the hold. */
PRWE_TEXT int prwe_acquire_wait_as(const prwe_seg *s, const prwe_me *me, const prwe_env *env,
                                   prwe_rec *r, uint64_t o, int m, prwe_wait *w) {
  if (o == 0) return EINVAL;
  return acquire_wait(s, me, env, r, o, 0, m, w);
}

/* releaseRec drops r's hold, or its queued wait. force marks a write
 * hold's data inconsistent (the owner never released it itself). */
PRWE_TEXT static int release_rec(const prwe_seg *s, const prwe_me *me, prwe_rec *r, int force) {
  LOCAL_SEG(s);
  if (r->wait != PRWE_NONE) return cancel_pending(s, me, r);
  int i = r->slot;
  uint32_t gen = r->gen;
  if (r->mode == PRWE_READ) {
    /* count holds the recursion levels beyond the first. */
    if (!force && ld32(count(s, i)) > 0) {
      if (!owns(s, me, i, gen, PRWL_SLOT_READ)) return lost(r);
      __atomic_sub_fetch(count(s, i), 1, SC);
      return 0;
    }
    if (!keep(s, me, r, i, gen, PRWL_SLOT_READ)) return lost(r);
    kick_drain(s);
  } else {
    if (!force && !r->told && release_alone(s, me, r) == 0) return 0;
    /* The readers queued behind us get the lock before the field opens to
     * the next writer; then the field is cleared, and only then does the
     * slot leave slotWrite: an idle slot can be evicted and claimed by
     * another owner, which must never find its own index in the field, and
     * a slotWrite slot that no longer owns the field is done writing (see
     * Lone writers in layout.go). */
    if (!owns(s, me, i, gen, PRWL_SLOT_WRITE)) return lost(r);
    if (!others_idle(s, i)) hand_off_readers(s, me); /* else the scan would find nothing to do */
    if (prwe_clear_writer(s, i, force, r->told && !force) && force)
      __atomic_add_fetch(u64(s, PRWL_OFF_OWNER_DEATHS), 1, SC);
    if (!keep(s, me, r, i, gen, PRWL_SLOT_WRITE)) {
      /* Recovered meanwhile (we were judged dead): the hold ended anyway. */
      r->slot = -1, r->mode = PRWE_NONE, r->told = 0;
      return 0;
    }
  }
  /* The slot stays ours, idle, for the owner's next hold (see Kept slots
   * in layout.go). */
  r->slot = -1, r->mode = PRWE_NONE, r->told = 0;
  return 0;
}

/* release (Release and ReleaseUnrepaired). */
PRWE_TEXT int prwe_release(const prwe_seg *s, const prwe_me *me, prwe_rec *r, int keep_mark) {
  if (r->slot < 0) return EPERM;
  /* Nothing is held while a wait is queued, but the wait must not linger:
   * releaseRec withdraws it. */
  int queued = r->wait != PRWE_NONE;
  if (keep_mark) r->told = 0;
  int err = release_rec(s, me, r, 0);
  if (err || !queued) return err;
  return EPERM;
}

/* Cancel */
PRWE_TEXT int prwe_cancel(const prwe_seg *s, const prwe_me *me, prwe_rec *r) {
  if (r->slot < 0 || r->wait == PRWE_NONE) return EPERM;
  return cancel_pending(s, me, r);
}

/* Abandon, without the record table: the caller forgets the record. */
PRWE_TEXT int prwe_abandon(const prwe_seg *s, const prwe_me *me, prwe_rec *r) {
  int err = EPERM;
  if (r->slot >= 0) {
    err = release_rec(s, me, r, r->wait == PRWE_NONE && r->mode == PRWE_WRITE);
    if (err == ENOTRECOVERABLE) err = 0;
  }
  prwe_retire(s, me, r);
  return err;
}

/* downgrade. Still owning the writer field, become a reader, admit the
 * waiting readers, then open the field: no writer can get in between. */
PRWE_TEXT int prwe_downgrade(const prwe_seg *s, const prwe_me *me, prwe_rec *r) {
  (void)me;
  if (r->slot < 0 || r->mode != PRWE_WRITE) return EPERM;
  int i = r->slot;
  if (!move(s, i, r->gen, PRWL_SLOT_WRITE, PRWL_SLOT_READ)) return lost(r);
  if (!others_idle(s, i)) hand_off_readers(s, me); /* else the scan would find nothing to do */
  prwe_clear_writer(s, i, 0, r->told);
  r->mode = PRWE_READ, r->told = 0;
  return 0;
}
