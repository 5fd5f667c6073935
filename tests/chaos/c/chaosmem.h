/* The chaos test's shared scratch memory, as seen from C (the C worker and,
 * through libchaoscs.so, the Python worker). The Go side (chaosmem.go) is
 * the same layout; keep the two in step.
 *
 * The memory is a file in /dev/shm that the supervisor creates and every
 * worker maps. It holds, per lock, the two words a writer keeps equal and
 * the owner-dead episode tables, and per worker thread a "slot" with the
 * thread's mark (what it holds right now), its write phase (for the
 * supervisor's owner-dead accounting) and its counters, and per thread a
 * ring of its long acquire calls (for the supervisor's wait checks). Each
 * slot has one writer (its thread), so counters need no atomic
 * read-modify-write; marks use sequentially consistent stores and loads
 * because the exclusion check is a Dekker-style "publish, then look" (see
 * cs_check). The exec requests are the exception: the supervisor sets one,
 * and the worker's threads race to claim it by CAS. */
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
#define CM_H_EXECREQ 1024 /* [CM_MAX_SLOTS / 8] u64, by worker (slot base / 8): nonzero asks one
                             thread of that worker to exec a sleeper for this many ms while it holds */

/* Per-lock blocks. */
#define CM_LOCK_BASE 65536
#define CM_LOCK_STRIDE 131072
#define CM_MAX_LOCKS 8
#define CM_L_A 0          /* a writer stores x here ... */
#define CM_L_B 64         /* ... then here: readers check A == B */
#define CM_L_REPAIRS 128  /* owner-dead episodes repaired by told writers */
#define CM_L_RGRANTS 192  /* read acquire calls granted (the supervisor watches progress) */
#define CM_L_WGRANTS 256  /* write acquire calls granted */
#define CM_L_WEP 4096     /* [CM_EPISODES] u64: when a writer first saw episode i */
#define CM_L_REP 36864    /* [CM_EPISODES] u64: a reader saw episode i */
#define CM_EPISODES 4096

/* Per-thread slots. */
#define CM_SLOT_BASE (CM_LOCK_BASE + CM_MAX_LOCKS * CM_LOCK_STRIDE)
#define CM_SLOT_SIZE 256
#define CM_MAX_SLOTS 1024

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
#define CM_S_EXECAT 120   /* CLOCK_MONOTONIC ns when this thread, holding, was about to exec */
#define CM_S_WAITINFO 128 /* lock | write << 8 of the current acquire call */
#define CM_S_RINGHEAD 136 /* long acquire calls recorded in the ring so far */

/* Per-thread rings of long acquire calls: entry i of a slot's ring is
 * record i % CM_RING_LEN; the thread fills the entry, then bumps its
 * CM_S_RINGHEAD. The supervisor drains them. */
#define CM_RING_BASE (CM_SLOT_BASE + CM_MAX_SLOTS * CM_SLOT_SIZE)
#define CM_RING_LEN 64
#define CM_RING_ENTRY 32
#define CM_R_START 0 /* CLOCK_MONOTONIC ns the call began */
#define CM_R_END 8   /* ... and returned */
#define CM_R_INFO 16 /* lock | write << 8 | outcome << 16 (see cs_wait_end) */
#define CM_RING_MIN_NS 50000000 /* calls at least this long are recorded */
#define CM_SIZE (CM_RING_BASE + CM_MAX_SLOTS * CM_RING_LEN * CM_RING_ENTRY)

#define CM_MODE_READ 1
#define CM_MODE_WRITE 2

#endif
