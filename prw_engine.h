/* prw_engine.h: the C data plane of libprwlock. Private.
 *
 * prw_engine.c is a second implementation of the protocol of lock/layout.go,
 * for the paths that must not enter Go: acquire, release, downgrade, cancel
 * and the waits, with their hand-offs and writer ordering. It follows
 * lock/lock.go and lock/segment.go function by function, under the same
 * names in snake case (acquireWait -> prwe_acquire_wait, olderWriter ->
 * older_writer), so that each can be checked against the other. What it
 * leaves to the Go engine, through the hooks of prwe_env: judging whether a
 * process is dead or stopped and recovering after it (the "checks" of a
 * wait), and the sweep of a full table. */
#ifndef PRW_ENGINE_H
#define PRW_ENGINE_H

#include <stdint.h>

#include "prw_layout.h"
#include "prw_shim.h"

/* A mapped segment, as the engine needs it (prwe_seg_init fills it). */
typedef struct prwe_seg {
  uint8_t *base;      /* the MAP_SHARED mapping */
  uint32_t capacity;  /* validated when the Go engine opened it */
  uint32_t slot_off;
  uint64_t cap_inv;   /* for x % capacity by multiplication (claim) */
} prwe_seg;

PRWI_HIDDEN void prwe_seg_init(prwe_seg *s, void *base, uint32_t capacity, uint32_t slot_off);

/* claimSpreadBits of segment.go: claims start among the first 64 slots. */
#define PRWE_CLAIM_SPREAD_BITS 6

/* prwe_mod_capacity is x % capacity, computed without a division (Lemire's
 * fastmod: exact for every 32-bit x and capacity). */
static inline uint32_t prwe_mod_capacity(const prwe_seg *s, uint32_t x) {
  return (uint32_t)(((unsigned __int128)(s->cap_inv * x) * s->capacity) >> 64);
}

/* This process's identity (ident and processKey in Go). */
typedef struct prwe_me {
  uint32_t pid;
  uint64_t pstart; /* start time, clock ticks after boot */
  uint64_t pidns;  /* PID namespace inode, 0 if unknown */
  uint64_t key;    /* pid<<32 | tagOf(pstart, pidns) */
} prwe_me;

/* Modes (lock.Mode). */
enum { PRWE_NONE = 0, PRWE_READ = 1, PRWE_WRITE = 2 };

/* One owner's process-local record (ownerRec). Only the owner's thread
 * touches it, except a closer once no operation is in flight. */
typedef struct prwe_rec {
  int32_t slot;  /* -1: no slot */
  uint32_t gen;  /* generation of the slot when claimed */
  uint8_t mode;  /* PRWE_READ or PRWE_WRITE while held; PRWE_NONE while waiting */
  uint8_t wait;  /* the mode of a wait a slice left queued, or PRWE_NONE */
  uint8_t told;  /* this owner's write hold was granted with EOWNERDEAD */
  /* The slot kept between holds (slotIdle), -1: none; see Kept slots in
   * layout.go. Another process may evict it at any time. idle_key is the
   * process key it was kept under: a fork child must not use its
   * parent's. */
  int32_t idle;
  uint32_t idle_gen;
  uint64_t idle_key;
} prwe_rec;

#define PRWE_REC_INIT {-1, 0, 0, 0, 0, -1, 0, 0}

/* The checks a wait runs whenever a poll interval has passed (sleep in
 * lock.go): the check closures of readWait, writeWait and the drain. */
enum {
  PRWE_CHECK_WRITER = 1,  /* recover the writer if dead (readWait) */
  PRWE_CHECK_WRITE_WAIT,  /* the writer, and the older writer this one defers to */
  PRWE_CHECK_READERS,     /* dead readers, and grants of stopped processes */
  PRWE_CHECK_SWEEP,       /* every slot (a full table) */
};

/* What the engine asks of its caller. */
typedef struct prwe_env {
  /* check runs a check in the Go engine; slot is the waiting writer's
   * slot for PRWE_CHECK_WRITE_WAIT. It returns how many slots a sweep
   * recovered (0 otherwise, or when it cannot run). */
  int (*check)(void *ctx, int kind, int slot);
  /* closing reports whether the segment is being closed: a wait then
   * ends with EBADF. */
  int (*closing)(void *ctx);
  void *ctx;
} prwe_env;

/* How long an acquire may wait (waitCtl). */
typedef struct prwe_wait {
  int64_t deadline;   /* absolute CLOCK_MONOTONIC ns; 0: try only; <0: none */
  int64_t slice_end;  /* >0: at this time return EINTR, still queued */
  int silent;         /* the grant's EOWNERDEAD does not count as told */
  int64_t last_check; /* when this wait last ran its checks (0: not yet) */
} prwe_wait;

/* The operations. Each returns 0 or an errno value, as the C API does:
 * EOWNERDEAD (granted), EBUSY, ETIMEDOUT, EINTR (slice ended, still queued),
 * EBADF (closing), EAGAIN (full), EPROTO, ENOTRECOVERABLE (lost), EDEADLK,
 * EPERM (not held), EINVAL. owner is the holder id written to the slot. */
PRWI_HIDDEN int prwe_acquire_wait(const prwe_seg *s, const prwe_me *me, const prwe_env *env,
                                  prwe_rec *r, uint32_t owner, int mode, prwe_wait *w);
/* prwe_acquire_wait_as is prwe_acquire_wait for an explicit owner (the
 * prw_*_as calls): owner is any nonzero 64-bit value, written to the slot's
 * holder without slotThreadOwner. */
PRWI_HIDDEN int prwe_acquire_wait_as(const prwe_seg *s, const prwe_me *me, const prwe_env *env,
                                     prwe_rec *r, uint64_t owner, int mode, prwe_wait *w);
PRWI_HIDDEN int prwe_release(const prwe_seg *s, const prwe_me *me, prwe_rec *r, int keep_mark);
PRWI_HIDDEN int prwe_cancel(const prwe_seg *s, const prwe_me *me, prwe_rec *r);
PRWI_HIDDEN int prwe_abandon(const prwe_seg *s, const prwe_me *me, prwe_rec *r);
PRWI_HIDDEN int prwe_downgrade(const prwe_seg *s, const prwe_me *me, prwe_rec *r);
/* The uncontended read pair on a kept slot: 0 or EOWNERDEAD (granted),
 * ENOTRECOVERABLE (lost), or -1: nothing done, take the full path. */
PRWI_HIDDEN int prwe_read_fast(const prwe_seg *s, const prwe_me *me, prwe_rec *r);
PRWI_HIDDEN int prwe_release_fast(const prwe_seg *s, const prwe_me *me, prwe_rec *r);
/* prwe_retire frees the slot r keeps idle (unless evicted meanwhile). */
PRWI_HIDDEN void prwe_retire(const prwe_seg *s, const prwe_me *me, prwe_rec *r);

/* prwe_self fills me for the calling process (self() and processKey). */
PRWI_HIDDEN void prwe_self(prwe_me *me);

/* prwe_now is MonotonicNow: CLOCK_MONOTONIC in ns. */
PRWI_HIDDEN int64_t prwe_now(void);

#endif /* PRW_ENGINE_H */
