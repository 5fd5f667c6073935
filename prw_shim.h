/* prw_shim.h: what the C files of libprwlock share. Private: never
 * installed, never included by users.
 *
 * The public prw_* functions (shim.c) run in C until they need the engine.
 * The engine is reached through a backend, a table of operations: in the
 * process that loaded the library, the Go exports of export.go; in a child
 * forked without exec, whose inherited Go runtime cannot run, a private copy
 * of the library loaded by prw_fork.c. */
#ifndef PRW_SHIM_H
#define PRW_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "prwlock.h"

/* Functions and data shared between the library's C files: prwi_, never
 * prw_ (the version script exports prw_*), and hidden, so that calls bind
 * inside this copy of the library. */
#define PRWI_HIDDEN __attribute__((visibility("hidden")))

#define PRW_STR_(x) #x
#define PRW_STR(x) PRW_STR_(x)
#define PRW_VERSION_STRING \
  PRW_STR(PRW_VERSION_MAJOR) "." PRW_STR(PRW_VERSION_MINOR) "." PRW_STR(PRW_VERSION_PATCH)

/* A segment's mapping, as the engine that opened it has it. */
typedef struct prwi_mapping {
  void *base;          /* MAP_SHARED, mapped while the engine has a handle on the file */
  uint64_t size;
  uint32_t capacity;
  uint32_t slot_off;
  uint64_t dev, ino;
  uint32_t pid;        /* the engine's view of this process (its claims' identity) */
  uint64_t pstart, pidns, key;
} prwi_mapping;

/* A backend: the engine that opens, closes, inspects, and runs the checks
 * of waits (liveness and recovery). Handles (bh) are the backend's own: a
 * Go handle, or a handle of the private copy. Each function returns 0 or an
 * error number, as the public function of the same name. */
typedef struct prw_ops {
  int (*create)(unsigned int capacity, uintptr_t *bh);
  int (*open)(const char *name, int flags, unsigned int mode, unsigned int capacity, uintptr_t *bh);
  int (*deserialize)(const char *token, uintptr_t *bh);
  int (*close)(uintptr_t bh);
  int (*unlink)(const char *name);
  int (*serialize)(uintptr_t bh, char *buf, size_t *len);
  int (*name)(uintptr_t bh, char *buf, size_t *len);
  int (*is_anonymous)(uintptr_t bh);
  int (*info)(uintptr_t bh, prw_info_t *info);
  int (*capacity)(uintptr_t bh, uint32_t *capacity);
  int (*holders)(uintptr_t bh, prw_holder_ex_t *out, size_t cap, size_t *count);
  int (*mapping)(uintptr_t bh, prwi_mapping *m);
  /* check runs a check of prw_engine.h (PRWE_CHECK_*); *recovered gets
   * the slots a sweep recovered. */
  int (*check)(uintptr_t bh, int kind, int slot, int *recovered);
  /* Remote locks (etcd://, lock/remote.go) have no mapping: their data
   * plane runs in the backend, for thread tid. mode is PRW_MODE_*;
   * deadline and slice_end are as for prw_acquire_slice (slice_end 0: no
   * slice). r_abandon ends the holds of an exited thread. */
  int (*r_acquire)(uintptr_t bh, uint32_t tid, int mode, int64_t deadline, int64_t slice_end);
  int (*r_release)(uintptr_t bh, uint32_t tid, int unrepaired);
  int (*r_cancel)(uintptr_t bh, uint32_t tid);
  int (*r_downgrade)(uintptr_t bh, uint32_t tid);
  int (*r_fence)(uintptr_t bh, uint32_t tid, uint64_t *fence);
  int (*r_abandon)(uintptr_t bh, uint32_t tid);
} prw_ops;

/* prwi_remote_token tells whether a token (or name) is a remote lock's
 * URL: the schemes of lock/remote.go. */
static inline int prwi_remote_token(const char *t) {
  return t && (strncmp(t, "etcd://", 7) == 0 || strncmp(t, "etcds://", 8) == 0);
}

/* What a private copy offers beyond the public API, found by dlsym under
 * the name PRWI_PRIVATE_SYMBOL. Its abi must equal PRWI_PRIVATE_ABI: the
 * copy is the very same file, so it always does, unless the file changed. */
#define PRWI_PRIVATE_SYMBOL "prwlock_private_v1"
#define PRWI_PRIVATE_ABI 1
typedef struct prwi_private {
  uint32_t abi;
  void (*as_copy)(void); /* the copy leaves closing at exit to its loader */
  int (*mapping)(prw_lock *lock, prwi_mapping *m);
  int (*check)(prw_lock *lock, int kind, int slot, int *recovered);
} prwi_private;

/* prwi_fork_epoch counts the forks between the process that loaded the
 * library and the calling one: 0 there, +1 in each fork child (the
 * pthread_atfork child handler bumps it). Along one line of descent it
 * never repeats, so "bound in epoch e" means "usable in this process"
 * exactly when e == prwi_fork_epoch. */
PRWI_HIDDEN extern uint64_t prwi_fork_epoch;

static inline uint64_t prw_epoch(void) {
  return __atomic_load_n(&prwi_fork_epoch, __ATOMIC_ACQUIRE);
}

/* prwi_copy_ops returns the private copy's backend for this process (fork
 * epoch > 0), loading the copy on first use. NULL if that is impossible;
 * the caller returns PRW_EFORKED. */
PRWI_HIDDEN const prw_ops *prwi_copy_ops(void);

/* prwi_fork_init runs once at load (the library's constructor): it records
 * where the library's bytes are, for the copies of fork children. */
PRWI_HIDDEN void prwi_fork_init(void *self_addr);

/* The fork handlers of prw_fork.c; shim.c registers them with its own. */
PRWI_HIDDEN void prwi_fork_prepare(void);
PRWI_HIDDEN void prwi_fork_parent(void);
PRWI_HIDDEN void prwi_fork_child(void);

#endif /* PRW_SHIM_H */
