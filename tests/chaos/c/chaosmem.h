/* The chaos test's shared scratch memory, as seen from C (the C worker and,
 * through libchaoscs.so, the Python worker). The Go side (chaosmem.go) is
 * the same layout; keep the two in step.
 *
 * The memory is a file in /dev/shm that the supervisor creates and every
 * worker maps. It holds, per lock, the two words a writer keeps equal and
 * the owner-dead episode tables, and per worker thread a "slot" with the
 * thread's mark (what it holds right now), its write phase (for the
 * supervisor's owner-dead accounting) and its counters. Each slot has one
 * writer (its thread), so counters need no atomic read-modify-write; marks
 * use sequentially consistent stores and loads because the exclusion check
 * is a Dekker-style "publish, then look" (see cs_check). */
#ifndef PRW_CHAOSMEM_H
#define PRW_CHAOSMEM_H

#include <stdint.h>

#define CM_MAGIC 0x534f414843575250ULL /* "PRWCHAOS" */

/* Header words. */
#define CM_H_MAGIC 0
#define CM_H_STOP 8      /* nonzero: workers finish their operation and exit */
#define CM_H_NLOCKS 16
#define CM_H_NSLOTS 24   /* slots the supervisor hands out (scan bound) */
#define CM_H_OVERFLOW 32 /* an episode id exceeded the tables */

/* Per-lock blocks. */
#define CM_LOCK_BASE 65536
#define CM_LOCK_STRIDE 131072
#define CM_MAX_LOCKS 8
#define CM_L_A 0          /* a writer stores x here ... */
#define CM_L_B 64         /* ... then here: readers check A == B */
#define CM_L_REPAIRS 128  /* owner-dead episodes repaired by told writers */
#define CM_L_WEP 4096     /* [CM_EPISODES] u64: when a writer first saw episode i */
#define CM_L_REP 36864    /* [CM_EPISODES] u64: a reader saw episode i */
#define CM_EPISODES 4096

/* Per-thread slots. */
#define CM_SLOT_BASE (CM_LOCK_BASE + CM_MAX_LOCKS * CM_LOCK_STRIDE)
#define CM_SLOT_SIZE 128
#define CM_MAX_SLOTS 1024
#define CM_SIZE (CM_SLOT_BASE + CM_MAX_SLOTS * CM_SLOT_SIZE)

#define CM_S_MARK 0       /* pid<<32 | (lock+1)<<8 | mode while inside, else 0 */
#define CM_S_WPHASE 8     /* lock+1 from before acquire-write until the write hold is gone */
#define CM_S_OPS 16       /* critical sections completed */
#define CM_S_MAXWAIT 24   /* longest acquire call, ns */
#define CM_S_WAITSTART 32 /* CLOCK_MONOTONIC ns an acquire call began, 0 when not in one */
#define CM_S_VIOL 40      /* invariant violations seen */
#define CM_S_ODOBS 48     /* acquires that returned owner-dead */
#define CM_S_FAILS 56     /* busy and timed-out acquires */
#define CM_S_ERRS 64      /* unexpected errors */
#define CM_S_LASTERR 72
#define CM_S_PID 80
#define CM_S_BEAT 88      /* CLOCK_MONOTONIC ns of the last completed operation */
#define CM_S_READS 96
#define CM_S_WRITES 104
#define CM_S_DOWNGRADES 112

#define CM_MODE_READ 1
#define CM_MODE_WRITE 2

#endif
