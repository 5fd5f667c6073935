/* prw_engine_inl.h: the C data plane's accessors and its uncontended read
 * and write pairs, inline. Private.
 *
 * prw_engine.c uses all of it; shim.c inlines the pairs (read_fast,
 * release_fast, write_alone, release_alone) into its acquire and
 * prw_release, which it puts into the data plane's section (PRWE_TEXT) for
 * that reason: a fault on the mapping must come from an instruction inside
 * that section (see the SIGBUS guard in shim.c). Everything here follows
 * lock/layout.go as prw_engine.c does; read_fast and release_fast are the
 * twins of segment.readFast and the read branch of releaseRec in
 * lock/lock.go, write_alone and release_alone those of segment.writeAlone
 * and segment.releaseAlone. */
#ifndef PRW_ENGINE_INL_H
#define PRW_ENGINE_INL_H

#include <errno.h>

#include "prw_engine.h"

/* Every function of the data plane goes into one section of its own, so
 * that the SIGBUS guard of shim.c can tell a fault of ours (the lock's file
 * was truncated under us) from any other by the faulting instruction's
 * address (__start_prw_dataplane .. __stop_prw_dataplane). A function with
 * an explicit section is never split into hot and cold parts. */
#define PRWE_TEXT __attribute__((section("prw_dataplane")))
#define PRWE_INLINE __attribute__((section("prw_dataplane"), always_inline)) static inline

/* ------------------------------------------------------------------------
 * Atomics (sync/atomic) and raw accessors (segment.go). */

#define SC __ATOMIC_SEQ_CST
PRWE_INLINE uint32_t ld32(uint32_t *p) { return __atomic_load_n(p, SC); }
PRWE_INLINE uint64_t ld64(uint64_t *p) { return __atomic_load_n(p, SC); }
PRWE_INLINE void st32(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, SC); }
PRWE_INLINE void st64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, SC); }
PRWE_INLINE int cas32(uint32_t *p, uint32_t old, uint32_t nw) {
  return __atomic_compare_exchange_n(p, &old, nw, 0, SC, SC);
}
PRWE_INLINE int cas64(uint64_t *p, uint64_t old, uint64_t nw) {
  return __atomic_compare_exchange_n(p, &old, nw, 0, SC, SC);
}

PRWE_INLINE uint32_t *u32(const prwe_seg *s, size_t off) { return (uint32_t *)(s->base + off); }
PRWE_INLINE uint64_t *u64(const prwe_seg *s, size_t off) { return (uint64_t *)(s->base + off); }

PRWE_INLINE uint32_t *state(const prwe_seg *s) { return u32(s, PRWL_OFF_STATE); }
PRWE_INLINE uint32_t *read_seq(const prwe_seg *s) { return u32(s, PRWL_OFF_READ_SEQ); }
PRWE_INLINE uint32_t *write_seq(const prwe_seg *s) { return u32(s, PRWL_OFF_WRITE_SEQ); }
PRWE_INLINE uint32_t *drain_seq(const prwe_seg *s) { return u32(s, PRWL_OFF_DRAIN_SEQ); }
PRWE_INLINE uint32_t *used_words(const prwe_seg *s) { return u32(s, PRWL_OFF_USED_WORDS); }

PRWE_INLINE size_t slot(const prwe_seg *s, int i, size_t field) {
  return s->slot_off + (size_t)i * PRWL_SLOT_SIZE + field;
}
PRWE_INLINE uint64_t *owner(const prwe_seg *s, int i) { return u64(s, slot(s, i, PRWL_SLOT_OWNER)); }
PRWE_INLINE uint64_t *ctl(const prwe_seg *s, int i) { return u64(s, slot(s, i, PRWL_SLOT_CTL)); }
PRWE_INLINE uint32_t *count(const prwe_seg *s, int i) { return u32(s, slot(s, i, PRWL_SLOT_COUNT)); }
PRWE_INLINE uint32_t *sflags(const prwe_seg *s, int i) { return u32(s, slot(s, i, PRWL_SLOT_FLAGS)); }
PRWE_INLINE uint64_t *pstart(const prwe_seg *s, int i) { return u64(s, slot(s, i, PRWL_SLOT_PSTART)); }
PRWE_INLINE uint64_t *pidns(const prwe_seg *s, int i) { return u64(s, slot(s, i, PRWL_SLOT_PIDNS)); }
PRWE_INLINE uint64_t *since(const prwe_seg *s, int i) { return u64(s, slot(s, i, PRWL_SLOT_SINCE)); }
PRWE_INLINE uint64_t *holder(const prwe_seg *s, int i) { return u64(s, slot(s, i, PRWL_SLOT_HOLDER)); }
PRWE_INLINE uint32_t *sleep_word(const prwe_seg *s, int i) { return u32(s, slot(s, i, PRWL_SLOT_SLEEP)); }
PRWE_INLINE uint64_t *bitmap_word(const prwe_seg *s, int w) { return u64(s, PRWL_OFF_BITMAP + 8 * (size_t)w); }

/* LOCAL_SEG(s) points s at a copy of *s on the stack. The segment's
 * description never changes, but every atomic access is a compiler barrier
 * after which the fields of *s would be loaded again; a local copy that
 * nothing else can see need not be. */
#define LOCAL_SEG(s)             \
  const prwe_seg local_seg_ = *s; \
  s = &local_seg_

/* since is an int64 in Go; stored here through its uint64 view. */
PRWE_INLINE int64_t ld_since(const prwe_seg *s, int i) { return (int64_t)ld64(since(s, i)); }
PRWE_INLINE void st_since(const prwe_seg *s, int i, int64_t v) { st64(since(s, i), (uint64_t)v); }

/* writerSlot: the writer index of lock word st, or -1; ok is false for an
 * index out of range (a corrupt or hostile segment). */
PRWE_INLINE int writer_slot(const prwe_seg *s, uint32_t st, int *ok) {
  int idx = prwl_writer_of(st);
  *ok = idx < (int)s->capacity;
  return idx;
}

/* ------------------------------------------------------------------------
 * Slots (segment.go, lock.go) and the read pair. */

/* move changes the state of our own slot i from `from` to `to`; it fails
 * only when another process recovered the slot. */
PRWE_INLINE int move(const prwe_seg *s, int i, uint32_t gen, uint32_t from, uint32_t to) {
  return cas64(ctl(s, i), prwl_make_ctl(gen, from), prwl_make_ctl(gen, to));
}

/* keep ends r's hold in slot i by moving it from `from` to slotIdle, kept
 * for r's next hold. It fails only when the slot was recovered. */
PRWE_INLINE int keep(const prwe_seg *s, const prwe_me *me, prwe_rec *r, int i, uint32_t gen,
                     uint32_t from) {
  if (!move(s, i, gen, from, PRWL_SLOT_IDLE)) return 0;
  r->idle = i, r->idle_gen = gen, r->idle_key = me->key;
  return 1;
}

/* grantResult: 0 or EOWNERDEAD, from the lock word seen at or after the
 * grant. */
PRWE_INLINE int grant_result(uint32_t st) { return st & PRWL_STATE_OWNER_DEAD ? EOWNERDEAD : 0; }

/* owns: slot i is still ours, at generation gen and in state st. */
PRWE_INLINE int owns(const prwe_seg *s, const prwe_me *me, int i, uint32_t gen, uint32_t st) {
  return ld64(ctl(s, i)) == prwl_make_ctl(gen, st) && ld64(owner(s, i)) == me->key;
}

/* lost forgets r's slot, which another process recovered. */
PRWE_INLINE int lost(prwe_rec *r) {
  r->slot = -1, r->mode = PRWE_NONE, r->wait = PRWE_NONE, r->told = 0;
  return ENOTRECOVERABLE;
}

/* kickDrain wakes a pending writer that waits for readers to leave. The
 * look is inline (the read pair's release pays it); the wake is not. */
PRWI_HIDDEN void prwe_wake_drain(const prwe_seg *s);
PRWE_INLINE void kick_drain(const prwe_seg *s) {
  if (__builtin_expect(ld32(state(s)) & PRWL_STATE_DRAIN_WAITING, 0)) prwe_wake_drain(s);
}

/* read_fast (prwe_read_fast) is acquireRead's fast path on the slot r keeps idle:
 * one CAS to publish, one load to look for a writer. It returns -1, with
 * nothing changed, whenever the full path must decide (no kept slot, a
 * hold or wait in progress, a writer in the way, the slot evicted). */
PRWE_INLINE int read_fast(const prwe_seg *s, const prwe_me *me, prwe_rec *r) {
  int i = r->idle;
  if (i < 0 || r->slot >= 0 || r->idle_key != me->key) return -1;
  /* The addresses first: every atomic below is a compiler barrier after
   * which *s and *r would be read again. */
  uint32_t *stp = state(s), gen = r->idle_gen;
  uint64_t *cp = ctl(s, i), *sp = since(s, i);
  uint64_t idle = prwl_make_ctl(gen, PRWL_SLOT_IDLE), read = prwl_make_ctl(gen, PRWL_SLOT_READ);
  if (prwl_has_writer(ld32(stp))) return -1; /* don't publish only to back off */
  if (!cas64(cp, idle, read)) return -1;
  uint32_t st = ld32(stp);
  if (prwl_has_writer(st)) {
    /* A writer came between: give the slot back as a release would (the
     * writer may have counted us) and let the full path queue. */
    if (!cas64(cp, read, idle)) {
      r->idle = -1;
      return lost(r); /* recovered meanwhile, as acquireRead's back-off can be */
    }
    kick_drain(s);
    return -1;
  }
  if (ld64(sp) != 0) st64(sp, 0);
  r->idle = -1;
  r->slot = i, r->gen = gen, r->mode = PRWE_READ;
  return grant_result(st);
}

/* release_fast (prwe_release_fast) is release for a plain (not recursive) read hold:
 * one CAS back to idle, and a look for a draining writer. It returns -1,
 * with nothing changed, for anything else. */
PRWE_INLINE int release_fast(const prwe_seg *s, const prwe_me *me, prwe_rec *r) {
  int i = r->slot;
  if (i < 0 || r->mode != PRWE_READ || r->wait != PRWE_NONE) return -1;
  /* The addresses first, as in read_fast; then keep's CAS and records. */
  uint32_t gen = r->gen, *cntp = count(s, i);
  uint64_t *cp = ctl(s, i), key = me->key;
  if (ld32(cntp) != 0 || !cas64(cp, prwl_make_ctl(gen, PRWL_SLOT_READ), prwl_make_ctl(gen, PRWL_SLOT_IDLE)))
    return -1;
  r->idle = i, r->idle_gen = gen, r->idle_key = key;
  kick_drain(s);
  r->slot = -1, r->mode = PRWE_NONE, r->told = 0;
  return 0;
}

/* othersIdle (prw_engine.c uses it too): every slot whose bitmap bit is
 * set, other than slot i (ours), is idle, and at most keptScanMax of them.
 * The writer's scans act only on slots in other states (older_writer on
 * slotWaitWrite, any_reader on slotRead and slotGranted, hand_off_readers
 * on slotWaitRead, and on idle slots past keptScanMax), so a scan that
 * reads the same words and ctls would do nothing, and a caller that knows
 * what it would do with slot i may skip it. A claim in progress may be
 * missing here exactly as it is from a scan (Claim order in layout.go);
 * like a scan, it reads only the words below usedWords. */
PRWE_INLINE int others_idle(const prwe_seg *s, int i) {
  uint32_t u = ld32(used_words(s));
  if (u == 1 && i < 64 && ld64(bitmap_word(s, 0)) == UINT64_C(1) << i)
    return 1; /* the usual case: one word in use, our bit alone (no capacity is below 64) */
  uint32_t nw = s->capacity / 64;
  if (u < nw) nw = u;
  int idle = 0;
  for (uint32_t w = 0; w < nw; w++) {
    uint64_t m = ld64(bitmap_word(s, (int)w));
    if (w == (uint32_t)i / 64) m &= ~(UINT64_C(1) << (i % 64));
    for (; m; m &= m - 1) {
      if (prwl_ctl_state(ld64(ctl(s, (int)w * 64 + __builtin_ctzll(m)))) != PRWL_SLOT_IDLE) return 0;
      if (++idle > PRWL_KEPT_SCAN_MAX) return 0;
    }
  }
  return 1;
}

/* clearWriter (prw_engine.c) gives up the writer field held by slot idx. */
PRWI_HIDDEN int prwe_clear_writer(const prwe_seg *s, int idx, int set_dead, int clear_dead);

/* write_alone is acquireWrite's fast path for the owner of a kept slot
 * when nobody else is there: the writer field free and unmarked, every
 * other slot in use idle (so no reader inside, none waiting, no writer
 * waiting for its turn). The slot goes straight from slotIdle to
 * slotWrite, then the field is taken; the look for readers comes after
 * that CAS, as the Dekker argument requires, and if anyone came between,
 * the field and the slot are given back and the full path decides (see
 * Lone writers in layout.go). It returns -1 with nothing held. Twin of
 * segment.writeAlone. */
PRWE_INLINE int write_alone(const prwe_seg *s, const prwe_me *me, prwe_rec *r) {
  int i = r->idle;
  if (i < 0 || r->slot >= 0 || r->idle_key != me->key) return -1;
  LOCAL_SEG(s);
  if (ld32(state(s)) != 0 || !others_idle(s, i)) return -1;
  uint32_t gen = r->idle_gen;
  if (!move(s, i, gen, PRWL_SLOT_IDLE, PRWL_SLOT_WRITE)) return -1; /* evicted or recovered */
  if (cas32(state(s), 0, prwl_with_writer(0, i))) {
    if (__builtin_expect(others_idle(s, i), 1)) {
      if (ld_since(s, i) != 0) st_since(s, i, 0);
      r->idle = -1;
      r->slot = i, r->gen = gen, r->mode = PRWE_WRITE, r->wait = PRWE_NONE, r->told = 0;
      return 0;
    }
    prwe_clear_writer(s, i, 0, 0); /* someone came between: wakes whoever slept on it */
  }
  if (!move(s, i, gen, PRWL_SLOT_WRITE, PRWL_SLOT_IDLE)) {
    r->idle = -1;
    return lost(r); /* recovered meanwhile */
  }
  return -1;
}

/* release_alone is release for a write hold when nobody else is there:
 * the lock word names only us (no sleeper, no owner-dead mark to keep or
 * clear) and every other slot in use is idle, so there is nobody to hand
 * the lock to. The field is cleared first, then the slot goes from
 * slotWrite to slotIdle (see Lone writers in layout.go). It returns -1
 * with nothing changed for anything else. Twin of segment.releaseAlone. */
PRWE_INLINE int release_alone(const prwe_seg *s, const prwe_me *me, prwe_rec *r) {
  int i = r->slot;
  if (i < 0 || r->mode != PRWE_WRITE || r->wait != PRWE_NONE) return -1;
  LOCAL_SEG(s);
  /* owns first: a slot recovered and claimed by another owner could have
   * our index in the field. */
  if (!owns(s, me, i, r->gen, PRWL_SLOT_WRITE) || !others_idle(s, i) ||
      !cas32(state(s), prwl_with_writer(0, i), 0))
    return -1;
  keep(s, me, r, i, r->gen, PRWL_SLOT_WRITE); /* fails only if recovered meanwhile: the hold ended anyway */
  r->slot = -1, r->mode = PRWE_NONE, r->told = 0;
  return 0;
}

#endif /* PRW_ENGINE_INL_H */
