/* The public prw_* entry points of libprwlock.so.
 *
 * Each wrapper checks the fork guard before anything can enter Go, checks
 * NULL arguments, supplies the calling thread's id as the lock owner, and
 * calls the matching prwgo_* export in export.go. prw_strerror and
 * prw_version are pure C so that they work in a forked child too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "prwlock.h"
#include "_cgo_export.h"

#define PRW_STR_(x) #x
#define PRW_STR(x) PRW_STR_(x)

/* Set in the child of a fork. Go cannot run there (its threads are gone). */
static int prw_forked;

/* Live handles of this process, so that exit does not enter Go for
 * nothing. */
static long prw_live;

/* The calling thread's kernel tid, the lock owner. gettid is a syscall
 * (~160 ns here), so it is cached per thread. The access goes through
 * __tls_get_addr (~10 instructions). Keep it that way: initial-exec TLS, or
 * TLSDESC (-mtls-dialect=gnu2), which glibc backs with static TLS when it
 * can, would eat into the static TLS that each private copy of the library
 * needs for the Go runtime, and so lower the number of copies (fork
 * generations) one process can load before dlopen fails. */
static __thread uint32_t prw_tid;

static inline int prw_in_child(void) {
  return __atomic_load_n(&prw_forked, __ATOMIC_RELAXED);
}

/* Threads that exited after using the library. A thread's holds die with
 * it (as if its process had died: a write hold leaves the lock owner-dead),
 * and its tid may be given to a new thread, which must not inherit them.
 * The destructor of prw_exit_key, run by the exiting thread itself (so
 * before its tid can be reused), queues the tid; the next call into the
 * library from any thread ends the queued owners in Go before it uses its
 * own tid. The destructor never enters Go: it may run after the Go
 * runtime's own thread-exit destructor. */
static pthread_key_t prw_exit_key;
static pthread_mutex_t prw_exited_mu = PTHREAD_MUTEX_INITIALIZER;
static uint32_t *prw_exited;
static size_t prw_exited_n, prw_exited_cap;
static int prw_exited_pending;

static void prw_thread_exit(void *v) {
  uint32_t tid = (uint32_t)(uintptr_t)v;
  pthread_mutex_lock(&prw_exited_mu);
  if (prw_exited_n == prw_exited_cap) {
    size_t cap = prw_exited_cap ? 2 * prw_exited_cap : 16;
    uint32_t *p = realloc(prw_exited, cap * sizeof *p);
    if (p) prw_exited = p, prw_exited_cap = cap;
  }
  /* Out of memory: the holds stay until the process exits. */
  if (prw_exited_n < prw_exited_cap) prw_exited[prw_exited_n++] = tid;
  __atomic_store_n(&prw_exited_pending, 1, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&prw_exited_mu);
}

static void prw_reap(void) {
  uint32_t *list;
  size_t n;
  pthread_mutex_lock(&prw_exited_mu);
  list = prw_exited, n = prw_exited_n;
  prw_exited = NULL, prw_exited_n = prw_exited_cap = 0;
  __atomic_store_n(&prw_exited_pending, 0, __ATOMIC_RELAXED);
  pthread_mutex_unlock(&prw_exited_mu);
  if (n) prwgo_threads_exited(list, n);
  free(list);
}

static uint32_t prw_self_slow(void) {
  uint32_t t = prw_tid = (uint32_t)syscall(SYS_gettid);
  pthread_setspecific(prw_exit_key, (void *)(uintptr_t)t);
  return t;
}

/* The calling thread's owner id, after ending the owners of exited
 * threads (one of which may have had this tid). */
static inline uint32_t prw_self(void) {
  uint32_t t = prw_tid;
  if (t == 0) t = prw_self_slow();
  if (__atomic_load_n(&prw_exited_pending, __ATOMIC_ACQUIRE)) prw_reap();
  return t;
}

static inline uintptr_t prw_h(prw_lock *lock) { return (uintptr_t)lock; }

static void prw_on_fork_child(void) {
  __atomic_store_n(&prw_forked, 1, __ATOMIC_RELAXED);
  prw_tid = 0; /* the child's only thread has a new tid */
  /* The parent's threads are not the child's: nothing of theirs to end. */
  pthread_setspecific(prw_exit_key, NULL);
  __atomic_store_n(&prw_exited_pending, 0, __ATOMIC_RELAXED);
  prw_exited_n = 0;
}

static void prw_on_exit(void) {
  /* Never enter Go in a forked child: it would hang the exit. */
  if (prw_in_child() || __atomic_load_n(&prw_live, __ATOMIC_RELAXED) <= 0)
    return;
  prwgo_atexit();
}

__attribute__((constructor)) static void prw_init(void) {
  pthread_key_create(&prw_exit_key, prw_thread_exit);
  pthread_atfork(NULL, NULL, prw_on_fork_child);
  atexit(prw_on_exit);
}

/* Call as prw_opened(prwgo_xxx(..., &h), &h, out): h is read only after the
 * call (argument evaluation order is unspecified). */
static int prw_opened(int rc, const uintptr_t *h, prw_lock **out) {
  if (rc == 0) {
    __atomic_add_fetch(&prw_live, 1, __ATOMIC_RELAXED);
    *out = (prw_lock *)*h;
  }
  return rc;
}

int prw_create_ex(unsigned int capacity, prw_lock **out) {
  uintptr_t h = 0;
  if (out) *out = NULL;
  if (prw_in_child()) return PRW_EFORKED;
  if (!out) return EINVAL;
  return prw_opened(prwgo_create(capacity, &h), &h, out);
}

int prw_create(prw_lock **out) { return prw_create_ex(0, out); }

int prw_open_ex(const char *name, int flags, unsigned int mode, unsigned int capacity,
                prw_lock **out) {
  uintptr_t h = 0;
  if (out) *out = NULL;
  if (prw_in_child()) return PRW_EFORKED;
  if (!name || !out) return EINVAL;
  return prw_opened(prwgo_open((char *)name, flags, mode, capacity, &h), &h, out);
}

int prw_open(const char *name, int flags, unsigned int mode, prw_lock **out) {
  return prw_open_ex(name, flags, mode, 0, out);
}

int prw_deserialize(const char *token, prw_lock **out) {
  uintptr_t h = 0;
  if (out) *out = NULL;
  if (prw_in_child()) return PRW_EFORKED;
  if (!token || !out) return EINVAL;
  return prw_opened(prwgo_deserialize((char *)token, &h), &h, out);
}

int prw_close(prw_lock *lock) {
  int rc;
  if (prw_in_child()) return PRW_EFORKED;
  if (!lock) return 0;
  rc = prwgo_close(prw_h(lock));
  /* The handle is gone unless it was not live to begin with. */
  if (rc != EBADF) __atomic_sub_fetch(&prw_live, 1, __ATOMIC_RELAXED);
  return rc;
}

int prw_unlink(const char *name) {
  if (prw_in_child()) return PRW_EFORKED;
  if (!name) return EINVAL;
  return prwgo_unlink((char *)name);
}

int prw_acquire_read(prw_lock *lock, int64_t timeout_ns) {
  if (prw_in_child()) return PRW_EFORKED;
  if (!lock) return EINVAL;
  return prwgo_acquire(prw_h(lock), prw_self(), PRW_MODE_READ, timeout_ns);
}

int prw_acquire_write(prw_lock *lock, int64_t timeout_ns) {
  if (prw_in_child()) return PRW_EFORKED;
  if (!lock) return EINVAL;
  return prwgo_acquire(prw_h(lock), prw_self(), PRW_MODE_WRITE, timeout_ns);
}

int prw_acquire_slice(prw_lock *lock, int mode, int64_t deadline_ns, int64_t slice_end_ns) {
  if (prw_in_child()) return PRW_EFORKED;
  if (!lock || (mode != PRW_MODE_READ && mode != PRW_MODE_WRITE)) return EINVAL;
  return prwgo_acquire_slice(prw_h(lock), prw_self(), mode, deadline_ns, slice_end_ns);
}

int prw_cancel(prw_lock *lock) {
  if (prw_in_child()) return PRW_EFORKED;
  if (!lock) return EINVAL;
  return prwgo_cancel(prw_h(lock), prw_self());
}

int prw_try_acquire_read(prw_lock *lock) { return prw_acquire_read(lock, 0); }

int prw_try_acquire_write(prw_lock *lock) { return prw_acquire_write(lock, 0); }

int prw_release(prw_lock *lock) {
  if (prw_in_child()) return PRW_EFORKED;
  if (!lock) return EINVAL;
  return prwgo_release(prw_h(lock), prw_self());
}

int prw_release_unrepaired(prw_lock *lock) {
  if (prw_in_child()) return PRW_EFORKED;
  if (!lock) return EINVAL;
  return prwgo_release_unrepaired(prw_h(lock), prw_self());
}

int prw_downgrade(prw_lock *lock) {
  if (prw_in_child()) return PRW_EFORKED;
  if (!lock) return EINVAL;
  return prwgo_downgrade(prw_h(lock), prw_self());
}

int prw_fence(prw_lock *lock, uint64_t *fence) {
  if (prw_in_child()) return PRW_EFORKED;
  if (!lock || !fence) return EINVAL;
  return prwgo_fence(prw_h(lock), prw_self(), fence);
}

int prw_serialize(prw_lock *lock, char *buf, size_t *len) {
  if (prw_in_child()) return PRW_EFORKED;
  if (!lock || !len) return EINVAL;
  return prwgo_serialize(prw_h(lock), buf, len);
}

int prw_name(prw_lock *lock, char *buf, size_t *len) {
  if (prw_in_child()) return PRW_EFORKED;
  if (!lock || !len) return EINVAL;
  return prwgo_name(prw_h(lock), buf, len);
}

int prw_is_anonymous(prw_lock *lock) {
  if (prw_in_child()) return PRW_EFORKED;
  if (!lock) return EINVAL;
  return prwgo_is_anonymous(prw_h(lock));
}

int prw_info(prw_lock *lock, prw_info_t *info) {
  if (prw_in_child()) return PRW_EFORKED;
  if (!lock || !info) return EINVAL;
  return prwgo_info(prw_h(lock), info);
}

int prw_capacity(prw_lock *lock, uint32_t *capacity) {
  if (prw_in_child()) return PRW_EFORKED;
  if (!lock || !capacity) return EINVAL;
  return prwgo_capacity(prw_h(lock), capacity);
}

int prw_holders(prw_lock *lock, prw_holder_t *out, size_t cap, size_t *count) {
  if (prw_in_child()) return PRW_EFORKED;
  if (!lock || !count || (!out && cap > 0)) return EINVAL;
  return prwgo_holders(prw_h(lock), out, cap, count);
}

const char *prw_strerror(int err) {
  switch (err) {
  case 0: return "success";
  case EBUSY: return "lock is busy";
  case ETIMEDOUT: return "timed out waiting for the lock";
  case EDEADLK: return "request would deadlock on the caller's own hold";
  case EPERM: return "calling thread does not hold the lock in the required mode";
  case EOWNERDEAD: return "lock acquired, but a previous writer died holding it";
  case EAGAIN:
    return "lock is full: every holder slot (one per thread holding or waiting) or, when "
           "attaching to an anonymous lock, every attachment entry (one per process) is in use; "
           "create the lock with a larger capacity (prw_create_ex, prw_open_ex; at most "
           PRW_STR(PRW_MAX_CAPACITY) ")";
  case EPROTO: return "not a valid prwlock segment or token, or incompatible layout";
  case EBADF: return "not a live lock handle";
  case EINVAL: return "invalid argument";
  case ENOENT: return "no such lock";
  case EEXIST: return "lock already exists";
  case EACCES:
    return "permission denied (by the file's mode, or the lock's file belongs to "
           "another user or others can write it: see PRW_MULTIUSER)";
  case ERANGE: return "buffer too small";
  case ENOTRECOVERABLE:
    return "hold lost: another process recovered it, judging its owner dead";
  case ENOTCONN:
    return "lock server unavailable (unreachable, or no quorum)";
  case ENOTSUP: return "local locks have no fencing token";
  case ENOSYS:
    return "not supported by this build of libprwlock (remote locks need the "
           "etcd backend)";
  case EIO: return "internal error in libprwlock";
  case PRW_EFORKED:
    return "process was forked without exec: libprwlock cannot run in the "
           "child (exec, or load a private copy of the library)";
  }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  if (err > 0) {
    const char *s = strerrordesc_np(err);
    if (s) return s;
  }
#endif
  return "unknown error";
}

const char *prw_version(void) {
  return PRW_STR(PRW_VERSION_MAJOR) "." PRW_STR(PRW_VERSION_MINOR) "." PRW_STR(
      PRW_VERSION_PATCH);
}
