/* prw_layout.h: the C view of the shared-memory protocol.
 *
 * Private to the library (never installed). lock/layout.go is the contract;
 * this file only restates its constants for C, one for one, under the same
 * names in upper snake case with a PRWL_ prefix (offState -> PRWL_OFF_STATE).
 * layout_test.go (root package) compiles this header and fails if any value
 * differs from the Go constant of that name, if a constant of layout.go has
 * no counterpart here, or if a PRWL_ name here has none in package lock; it
 * also checks the offsets below against segments the Go engine creates.
 * Read the protocol itself (orderings, hand-offs, recovery) in layout.go. */
#ifndef PRW_LAYOUT_H
#define PRW_LAYOUT_H

#include <stdint.h>

/* Segment constants (layout.go, "Segment"). */
#define PRWL_LAYOUT_VERSION 6
#define PRWL_MAGIC_VALUE 0x004b434f4c575250ULL /* "PRWLOCK\0", native-endian */
#define PRWL_SLOT_SIZE 64
#define PRWL_ATTACH_SIZE 32
#define PRWL_PAGE_SIZE 4096

/* Header field offsets. */
#define PRWL_OFF_MAGIC 0
#define PRWL_OFF_VERSION 8
#define PRWL_OFF_SLOT_SIZE 12
#define PRWL_OFF_SIZE 16
#define PRWL_OFF_CAPACITY 24
#define PRWL_OFF_ATTACH_CAP 28
#define PRWL_OFF_SEG_STATE 32
#define PRWL_OFF_FLAGS 36
#define PRWL_OFF_CLOSER_PID 40
#define PRWL_OFF_CLOSER_TAG 44
#define PRWL_OFF_CREATED 48
#define PRWL_OFF_STATE 64
#define PRWL_OFF_READ_SEQ 128
#define PRWL_OFF_WRITE_SEQ 192
#define PRWL_OFF_DRAIN_SEQ 256
#define PRWL_OFF_RECOVERIES 320
#define PRWL_OFF_OWNER_DEATHS 328
#define PRWL_OFF_USED_WORDS 336
#define PRWL_OFF_BITMAP 384

/* Slot field offsets. */
#define PRWL_SLOT_OWNER 0
#define PRWL_SLOT_CTL 8
#define PRWL_SLOT_COUNT 16
#define PRWL_SLOT_FLAGS 20
#define PRWL_SLOT_PSTART 24
#define PRWL_SLOT_PIDNS 32
#define PRWL_SLOT_SINCE 40
#define PRWL_SLOT_HOLDER 48
#define PRWL_SLOT_SLEEP 56

/* Attachment field offsets. */
#define PRWL_ATT_PID 0
#define PRWL_ATT_REFS 4
#define PRWL_ATT_PSTART 8
#define PRWL_ATT_PIDNS 16

/* Segment states. */
#define PRWL_SEG_NEW 0
#define PRWL_SEG_READY 1
#define PRWL_SEG_CLOSING 2
#define PRWL_SEG_REMOVED 3

#define PRWL_FLAG_ANONYMOUS 1

/* Lock word bits (layout.go, "The lock word"). */
#define PRWL_STATE_WRITER_MASK 0x1fffu
#define PRWL_STATE_READERS_WAITING (1u << 16)
#define PRWL_STATE_WRITERS_WAITING (1u << 17)
#define PRWL_STATE_DRAIN_WAITING (1u << 18)
#define PRWL_STATE_OWNER_DEAD (1u << 19)
#define PRWL_STATE_KNOWN_BITS                                                  \
  (PRWL_STATE_WRITER_MASK | PRWL_STATE_READERS_WAITING |                      \
   PRWL_STATE_WRITERS_WAITING | PRWL_STATE_DRAIN_WAITING | PRWL_STATE_OWNER_DEAD)

/* Slot states (low 32 bits of ctl). */
#define PRWL_SLOT_FREE 0
#define PRWL_SLOT_READ 1
#define PRWL_SLOT_WAIT_READ 2
#define PRWL_SLOT_WAIT_WRITE 3
#define PRWL_SLOT_WRITE 4
#define PRWL_SLOT_GRANTED 5
#define PRWL_SLOT_IDLE 6 /* kept by its owner between holds; holds nothing */

/* Slot flags (sflags). */
#define PRWL_SLOT_THREAD_OWNER 1 /* holder is the kernel tid of the thread */

/* Process keys (owner words): pid<<32 | tag. */
#define PRWL_TAG_MARKER (1u << 31)                   /* set only in a recoverer's marker */
#define PRWL_HASH_MUL UINT64_C(0x9e3779b97f4a7c15) /* odd; spreads the hashed values */

/* Engine parameters (lock.go, api.go) that the C data plane shares. */
#define PRWL_DEFAULT_CAPACITY 1024
#define PRWL_MAX_CAPACITY 4096
#define PRWL_POLL_INTERVAL 10000000LL /* ns: bound of each futex sleep */
#define PRWL_OVERTAKE_NS 4000000LL    /* ns: writers may overtake until one waited this long */
#define PRWL_STARVE_NS 1000000LL      /* ns: a grant not yet accepted may be taken back this long */
#define PRWL_KEPT_SCAN_MAX 64         /* a releasing writer evicts the kept slots past this many */

/* The helpers of layout.go. */
static inline int prwl_writer_of(uint32_t s) { return (int)(s & PRWL_STATE_WRITER_MASK) - 1; }
static inline int prwl_has_writer(uint32_t s) { return (s & PRWL_STATE_WRITER_MASK) != 0; }
static inline uint32_t prwl_with_writer(uint32_t s, int i) {
  return (s & ~PRWL_STATE_WRITER_MASK) | (uint32_t)(i + 1);
}
/* waitedBefore: the writer whose wait began at sj in slot j comes before
 * the one whose wait began at si in slot i (earlier non-zero since first,
 * ties to the lower slot, since 0 last). */
static inline int prwl_waited_before(int64_t sj, int j, int64_t si, int i) {
  if (sj == 0) return si == 0 && j < i;
  if (si == 0) return 1;
  return sj < si || (sj == si && j < i);
}
/* writerBit: the futex bitset of the writer in slot i on writeSeq. */
static inline uint32_t prwl_writer_bit(int i) { return 1u << (i % 32); }
static inline uint32_t prwl_ctl_state(uint64_t c) { return (uint32_t)c; }
static inline uint32_t prwl_ctl_gen(uint64_t c) { return (uint32_t)(c >> 32); }
static inline uint64_t prwl_make_ctl(uint32_t gen, uint32_t st) {
  return (uint64_t)gen << 32 | st;
}
/* tagOf: the tag of the process keys of a process that started at pstart
 * in PID namespace pidns. */
static inline uint32_t prwl_tag_of(uint64_t pstart, uint64_t pidns) {
  return (uint32_t)((pidns * PRWL_HASH_MUL) >> 49) << 16 | (uint32_t)((pstart * PRWL_HASH_MUL) >> 48);
}
static inline uint64_t prwl_process_key(uint32_t pid, uint64_t pstart, uint64_t pidns) {
  return (uint64_t)pid << 32 | prwl_tag_of(pstart, pidns);
}
static inline uint32_t prwl_key_pid(uint64_t k) { return (uint32_t)(k >> 32); }
static inline int prwl_is_marker(uint64_t k) { return (k & PRWL_TAG_MARKER) != 0; }

static inline uint64_t prwl_align_up(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

/* prwl_layout_for: layoutFor, the offsets and total size for a capacity. */
static inline void prwl_layout_for(uint32_t capacity, uint64_t *slot_off, uint64_t *att_off,
                                   uint64_t *size) {
  *slot_off = prwl_align_up(PRWL_OFF_BITMAP + capacity / 8, 64);
  *att_off = *slot_off + (uint64_t)PRWL_SLOT_SIZE * capacity;
  *size = prwl_align_up(*att_off + (uint64_t)PRWL_ATTACH_SIZE * capacity, PRWL_PAGE_SIZE);
}

#endif /* PRW_LAYOUT_H */
