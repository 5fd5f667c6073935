/* The public prw_* entry points of libprwlock.so.
 *
 * Handles are issued here, in C: a prw_lock* names an entry of the handle
 * table below, which says where the lock lives for the engine (the backend
 * and its handle) and keeps what a fork child needs to reach the lock again
 * without the parent's Go runtime (the lock's token). Each entry point checks
 * its arguments, looks the handle up, and calls the backend: the Go exports
 * of export.go in the process that loaded the library, the private copy of
 * prw_fork.c in a child forked without exec. Inherited handles stay valid in
 * the child; on first use there they are bound to the copy by their token.
 * prw_serialize, prw_name, prw_is_anonymous, prw_strerror and prw_version
 * answer from C alone.
 *
 * A public function never calls another public function: in a private copy
 * such a call could bind to the first copy's symbol of that name. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "_cgo_export.h"
#include "prw_shim.h"
#include "prwlock.h"

/* Live handles of this process, so that exit does not enter Go for
 * nothing. */
static long prw_live;

/* The calling thread's kernel tid, the lock owner. gettid is a system call,
 * so it is cached per thread. The access goes through __tls_get_addr (~10
 * instructions). Keep it that way: initial-exec TLS, or TLSDESC
 * (-mtls-dialect=gnu2), which glibc backs with static TLS when it can, would
 * eat into the static TLS that each private copy of the library needs for
 * its Go runtime (see prw_fork.c). */
static __thread uint32_t prw_tid;

/* Threads that exited after using the library. A thread's holds die with
 * it (as if its process had died: a write hold leaves the lock owner-dead),
 * and its tid may be given to a new thread, which must not inherit them.
 * The destructor of prw_exit_key, run by the exiting thread itself (so
 * before its tid can be reused), queues the tid; the next call into the
 * library from any thread ends the queued owners in Go before it uses its
 * own tid. The destructor never enters Go: it may run after the Go
 * runtime's own thread-exit destructor. Only the Go backend uses this: in a
 * fork child the private copy keeps its own queue. */
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

/* ------------------------------------------------------------------------
 * The Go backend: the exports of export.go, in the process that loaded us. */

static int g_create(uintptr_t *bh) { return prwgo_create(bh); }
static int g_open(const char *n, int f, unsigned int m, uintptr_t *bh) {
  return prwgo_open((char *)n, f, m, bh);
}
static int g_deserialize(const char *t, uintptr_t *bh) { return prwgo_deserialize((char *)t, bh); }
static int g_close(uintptr_t bh) { return prwgo_close(bh); }
static int g_unlink(const char *n) { return prwgo_unlink((char *)n); }
static int g_acquire(uintptr_t bh, int mode, int64_t t) {
  return prwgo_acquire(bh, prw_self(), mode, t);
}
static int g_acquire_slice(uintptr_t bh, int mode, int64_t d, int64_t s) {
  return prwgo_acquire_slice(bh, prw_self(), mode, d, s);
}
static int g_cancel(uintptr_t bh) { return prwgo_cancel(bh, prw_self()); }
static int g_release(uintptr_t bh) { return prwgo_release(bh, prw_self()); }
static int g_release_unrepaired(uintptr_t bh) { return prwgo_release_unrepaired(bh, prw_self()); }
static int g_downgrade(uintptr_t bh) { return prwgo_downgrade(bh, prw_self()); }
static int g_serialize(uintptr_t bh, char *b, size_t *n) { return prwgo_serialize(bh, b, n); }
static int g_is_anonymous(uintptr_t bh) { return prwgo_is_anonymous(bh); }
static int g_info(uintptr_t bh, prw_info_t *i) { return prwgo_info(bh, i); }
static int g_holders(uintptr_t bh, prw_holder_t *o, size_t c, size_t *n) {
  return prwgo_holders(bh, o, c, n);
}

static const prw_ops go_ops = {
    .create = g_create,
    .open = g_open,
    .deserialize = g_deserialize,
    .close = g_close,
    .unlink = g_unlink,
    .acquire = g_acquire,
    .acquire_slice = g_acquire_slice,
    .cancel = g_cancel,
    .release = g_release,
    .release_unrepaired = g_release_unrepaired,
    .downgrade = g_downgrade,
    .serialize = g_serialize,
    .is_anonymous = g_is_anonymous,
    .info = g_info,
    .holders = g_holders,
};

/* backend returns this process's backend, or NULL (PRW_EFORKED) in a fork
 * child that cannot load its private copy. */
static inline const prw_ops *backend(uint64_t epoch) {
  return epoch == 0 ? &go_ops : prwi_copy_ops();
}

/* ------------------------------------------------------------------------
 * The handle table.
 *
 * A handle encodes an entry index and that entry's generation,
 * v = gen<<IDX_BITS | idx with gen >= 1, scrambled as h = v*HMUL ^ hkey: a
 * bijection, so distinct (idx, gen) pairs give distinct handles, and with a
 * per-process random key a garbage value is very unlikely to decode to a
 * live entry. A generation only grows, so a handle is never reissued; an
 * entry whose generations are exhausted is retired. Entries live in chunks
 * that never move or go away, reached through a fixed directory, so a lookup
 * is lock-free: decode, two loads, one compare. The table is plain memory,
 * so a fork child inherits it whole. */

#define IDX_BITS 24
#define MAX_ENTRIES (1u << IDX_BITS)
#define CHUNK_BITS 10
#define CHUNK (1u << CHUNK_BITS)
#define GEN_MAX ((UINT64_C(1) << (64 - IDX_BITS)) - 1)
/* HMUL is odd, so multiplying by it is a bijection on uint64; HINV is its
 * inverse modulo 2^64. */
#define HMUL UINT64_C(0x9e3779b97f4a7c15)
#define HINV UINT64_C(0xf1de83e19937733d)

typedef struct prw_entry {
  uint64_t hv;     /* the live handle; 0 while free. Set last, cleared first */
  uint32_t seq;    /* seqlock over bepoch and bh: odd while they change */
  uint32_t anon;   /* the lock is anonymous; fixed while hv is live */
  uint64_t bepoch; /* fork epoch in which bh is a handle of the backend */
  uintptr_t bh;
  char *token;     /* the lock's token; fixed while live, freed under bind_mu */
  uint64_t gen;    /* last generation issued; under tab.mu */
} prw_entry;

static prw_entry *dir[MAX_ENTRIES / CHUNK];
static uint64_t hkey;

static struct {
  pthread_mutex_t mu; /* register, free list */
  uint32_t n;         /* entries ever used: 0..n-1 */
  uint32_t *free;     /* closed entries, reusable */
  size_t nfree, capfree;
} tab = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Serializes binding an entry to this process's backend, and the token. */
static pthread_mutex_t bind_mu = PTHREAD_MUTEX_INITIALIZER;

static inline uint32_t handle_index(uint64_t h) {
  return (uint32_t)(((h ^ hkey) * HINV) & (MAX_ENTRIES - 1));
}

static inline prw_entry *lookup(prw_lock *lock) {
  uint64_t h = (uint64_t)(uintptr_t)lock;
  uint32_t idx = handle_index(h);
  prw_entry *c = __atomic_load_n(&dir[idx >> CHUNK_BITS], __ATOMIC_ACQUIRE);
  if (!c) return NULL;
  prw_entry *e = &c[idx & (CHUNK - 1)];
  return __atomic_load_n(&e->hv, __ATOMIC_ACQUIRE) == h ? e : NULL;
}

static inline prw_entry *entry_at(uint32_t idx) {
  return &dir[idx >> CHUNK_BITS][idx & (CHUNK - 1)];
}

static void set_binding(prw_entry *e, uint64_t epoch, uintptr_t bh) {
  uint32_t s = __atomic_load_n(&e->seq, __ATOMIC_RELAXED);
  __atomic_store_n(&e->seq, s + 1, __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_RELEASE);
  __atomic_store_n(&e->bepoch, epoch, __ATOMIC_RELAXED);
  __atomic_store_n(&e->bh, bh, __ATOMIC_RELAXED);
  __atomic_store_n(&e->seq, s + 2, __ATOMIC_RELEASE);
}

/* get_binding reads e's binding; it fails if e stops being handle h
 * meanwhile. */
static int get_binding(prw_entry *e, uint64_t h, uint64_t *epoch, uintptr_t *bh) {
  for (;;) {
    uint32_t s1 = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
    uint64_t ep = __atomic_load_n(&e->bepoch, __ATOMIC_RELAXED);
    uintptr_t b = __atomic_load_n(&e->bh, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if ((s1 & 1) || __atomic_load_n(&e->seq, __ATOMIC_RELAXED) != s1) continue;
    if (__atomic_load_n(&e->hv, __ATOMIC_RELAXED) != h) return EBADF;
    *epoch = ep;
    *bh = b;
    return 0;
  }
}

/* table_add issues a handle for a lock bound to (epoch, bh); it takes
 * ownership of token. It returns NULL if the table is full or memory ran
 * out. */
static prw_lock *table_add(uint64_t epoch, uintptr_t bh, char *token, int anon) {
  pthread_mutex_lock(&tab.mu);
  for (;;) {
    uint32_t idx;
    if (tab.nfree > 0) {
      idx = tab.free[--tab.nfree];
    } else {
      if (tab.n == MAX_ENTRIES) break;
      idx = tab.n;
      if ((idx & (CHUNK - 1)) == 0) {
        prw_entry *c = calloc(CHUNK, sizeof *c);
        if (!c) break;
        __atomic_store_n(&dir[idx >> CHUNK_BITS], c, __ATOMIC_RELEASE);
      }
      tab.n++;
    }
    prw_entry *e = entry_at(idx);
    while (e->gen < GEN_MAX) {
      uint64_t h = ((++e->gen << IDX_BITS) | idx) * HMUL ^ hkey;
      if (h == 0) continue; /* 0 is NULL */
      set_binding(e, epoch, bh);
      e->token = token;
      e->anon = (uint32_t)anon;
      __atomic_store_n(&e->hv, h, __ATOMIC_RELEASE);
      pthread_mutex_unlock(&tab.mu);
      __atomic_add_fetch(&prw_live, 1, __ATOMIC_RELAXED);
      return (prw_lock *)(uintptr_t)h;
    }
    /* Generations exhausted: retire the entry, take another. */
  }
  pthread_mutex_unlock(&tab.mu);
  return NULL;
}

/* table_free makes a closed entry reusable. */
static void table_free(uint32_t idx) {
  pthread_mutex_lock(&tab.mu);
  if (tab.nfree == tab.capfree) {
    size_t n = tab.capfree ? 2 * tab.capfree : 64;
    uint32_t *f = realloc(tab.free, n * sizeof *f);
    if (!f) {
      /* Keep the entry out of use rather than fail a close. */
      pthread_mutex_unlock(&tab.mu);
      return;
    }
    tab.free = f;
    tab.capfree = n;
  }
  tab.free[tab.nfree++] = idx;
  pthread_mutex_unlock(&tab.mu);
}

/* adopt turns a backend handle into a public one: it fetches what the
 * entry keeps (the token, anonymity) and registers it. On failure it closes
 * bh. */
static int adopt(const prw_ops *ops, uint64_t epoch, uintptr_t bh, prw_lock **out) {
  char buf[4096];
  size_t n = sizeof buf;
  int rc = ops->serialize(bh, buf, &n);
  int anon = rc == 0 ? ops->is_anonymous(bh) : 0;
  if (rc == 0 && anon != 0 && anon != 1) rc = anon;
  char *tok = rc == 0 ? strdup(buf) : NULL;
  if (rc == 0 && !tok) rc = ENOMEM;
  prw_lock *h = rc == 0 ? table_add(epoch, bh, tok, anon) : NULL;
  if (rc == 0 && !h) rc = EMFILE;
  if (rc != 0) {
    free(tok);
    ops->close(bh);
    return rc;
  }
  *out = h;
  return 0;
}

/* rebind binds e, inherited from an ancestor process, to this process's
 * copy of the library, through its token. */
static int rebind(prw_entry *e, uint64_t h, uint64_t epoch, const prw_ops **ops, uintptr_t *bh) {
  int rc = 0;
  pthread_mutex_lock(&bind_mu);
  uint64_t ep;
  uintptr_t b;
  if (get_binding(e, h, &ep, &b) != 0) {
    rc = EBADF;
  } else if (!(*ops = backend(epoch))) {
    rc = PRW_EFORKED;
  } else if (ep == epoch) {
    *bh = b; /* another thread did it meanwhile */
  } else if ((rc = (*ops)->deserialize(e->token, &b)) == 0) {
    set_binding(e, epoch, b);
    *bh = b;
  }
  pthread_mutex_unlock(&bind_mu);
  return rc;
}

/* bind finds the backend and the backend's handle of lock in this
 * process. */
static inline int bind(prw_lock *lock, const prw_ops **ops, uintptr_t *bh) {
  prw_entry *e = lookup(lock);
  if (!e) return EBADF;
  uint64_t h = (uint64_t)(uintptr_t)lock, epoch = prw_epoch(), ep;
  uintptr_t b;
  if (get_binding(e, h, &ep, &b) != 0) return EBADF;
  if (ep == epoch) {
    /* Bound in this process: its backend is loaded. */
    *ops = backend(epoch);
    *bh = b;
    return 0;
  }
  return rebind(e, h, epoch, ops, bh);
}

/* ------------------------------------------------------------------------
 * Load, fork and exit. */

static void prw_on_prepare(void) {
  /* No fork in the middle of a table change, a binding or a copy's load:
   * the child would inherit the half-done state and a mutex no thread of
   * it will ever release. */
  pthread_mutex_lock(&bind_mu);
  prwi_fork_prepare();
  pthread_mutex_lock(&tab.mu);
}

static void prw_on_parent(void) {
  pthread_mutex_unlock(&tab.mu);
  prwi_fork_parent();
  pthread_mutex_unlock(&bind_mu);
}

static void prw_on_child(void) {
  pthread_mutex_init(&tab.mu, NULL);
  pthread_mutex_init(&bind_mu, NULL);
  prwi_fork_child();
  prw_tid = 0; /* the child's only thread has a new tid */
  /* The parent's threads are not the child's: nothing of theirs to end. */
  pthread_setspecific(prw_exit_key, NULL);
  pthread_mutex_init(&prw_exited_mu, NULL);
  __atomic_store_n(&prw_exited_pending, 0, __ATOMIC_RELAXED);
  prw_exited_n = 0;
}

static void prw_on_exit(void) {
  /* Never enter the inherited Go runtime in a fork child: it would hang
   * the exit. A child's private copy closes its own handles. */
  if (prw_epoch() != 0 || __atomic_load_n(&prw_live, __ATOMIC_RELAXED) <= 0) return;
  prwgo_atexit();
}

__attribute__((constructor)) static void prw_init(void) {
  if (getrandom(&hkey, sizeof hkey, GRND_NONBLOCK) != (ssize_t)sizeof hkey) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    hkey = (uint64_t)ts.tv_nsec * HMUL ^ (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)&ts;
  }
  pthread_key_create(&prw_exit_key, prw_thread_exit);
  prwi_fork_init((void *)prw_init);
  pthread_atfork(prw_on_prepare, prw_on_parent, prw_on_child);
  atexit(prw_on_exit);
}

/* ------------------------------------------------------------------------
 * The public API. */

int prw_create(prw_lock **out) {
  if (out) *out = NULL;
  if (!out) return EINVAL;
  uint64_t epoch = prw_epoch();
  const prw_ops *ops = backend(epoch);
  if (!ops) return PRW_EFORKED;
  uintptr_t bh = 0;
  int rc = ops->create(&bh);
  return rc ? rc : adopt(ops, epoch, bh, out);
}

int prw_open(const char *name, int flags, unsigned int mode, prw_lock **out) {
  if (out) *out = NULL;
  if (!name || !out) return EINVAL;
  uint64_t epoch = prw_epoch();
  const prw_ops *ops = backend(epoch);
  if (!ops) return PRW_EFORKED;
  uintptr_t bh = 0;
  int rc = ops->open(name, flags, mode, &bh);
  return rc ? rc : adopt(ops, epoch, bh, out);
}

int prw_deserialize(const char *token, prw_lock **out) {
  if (out) *out = NULL;
  if (!token || !out) return EINVAL;
  uint64_t epoch = prw_epoch();
  const prw_ops *ops = backend(epoch);
  if (!ops) return PRW_EFORKED;
  uintptr_t bh = 0;
  int rc = ops->deserialize(token, &bh);
  return rc ? rc : adopt(ops, epoch, bh, out);
}

int prw_close(prw_lock *lock) {
  if (!lock) return 0;
  prw_entry *e = lookup(lock);
  uint64_t h = (uint64_t)(uintptr_t)lock;
  if (!e || !__atomic_compare_exchange_n(&e->hv, &h, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
    return EBADF;
  pthread_mutex_lock(&bind_mu);
  uint64_t ep = __atomic_load_n(&e->bepoch, __ATOMIC_RELAXED);
  uintptr_t bh = __atomic_load_n(&e->bh, __ATOMIC_RELAXED);
  char *tok = e->token;
  e->token = NULL;
  pthread_mutex_unlock(&bind_mu);
  int rc = 0;
  uint64_t epoch = prw_epoch();
  /* A handle inherited and never used through this process's copy has
   * nothing to close but its entry. */
  if (ep == epoch) rc = backend(epoch)->close(bh);
  free(tok);
  table_free(handle_index((uint64_t)(uintptr_t)lock));
  __atomic_sub_fetch(&prw_live, 1, __ATOMIC_RELAXED);
  return rc;
}

int prw_unlink(const char *name) {
  if (!name) return EINVAL;
  const prw_ops *ops = backend(prw_epoch());
  return ops ? ops->unlink(name) : PRW_EFORKED;
}

static int acquire(prw_lock *lock, int mode, int64_t timeout_ns) {
  if (!lock) return EINVAL;
  const prw_ops *ops;
  uintptr_t bh;
  int rc = bind(lock, &ops, &bh);
  return rc ? rc : ops->acquire(bh, mode, timeout_ns);
}

int prw_acquire_read(prw_lock *lock, int64_t timeout_ns) {
  return acquire(lock, PRW_MODE_READ, timeout_ns);
}

int prw_acquire_write(prw_lock *lock, int64_t timeout_ns) {
  return acquire(lock, PRW_MODE_WRITE, timeout_ns);
}

int prw_try_acquire_read(prw_lock *lock) { return acquire(lock, PRW_MODE_READ, 0); }

int prw_try_acquire_write(prw_lock *lock) { return acquire(lock, PRW_MODE_WRITE, 0); }

int prw_acquire_slice(prw_lock *lock, int mode, int64_t deadline_ns, int64_t slice_end_ns) {
  if (!lock || (mode != PRW_MODE_READ && mode != PRW_MODE_WRITE)) return EINVAL;
  const prw_ops *ops;
  uintptr_t bh;
  int rc = bind(lock, &ops, &bh);
  return rc ? rc : ops->acquire_slice(bh, mode, deadline_ns, slice_end_ns);
}

/* CALL(lock, fn, args...): bind lock, then call the backend's fn. */
#define CALL(lock, fn, ...)                       \
  do {                                            \
    const prw_ops *ops_;                          \
    uintptr_t bh_;                                \
    int rc_ = bind((lock), &ops_, &bh_);          \
    return rc_ ? rc_ : ops_->fn(bh_, ##__VA_ARGS__); \
  } while (0)

int prw_cancel(prw_lock *lock) {
  if (!lock) return EINVAL;
  CALL(lock, cancel);
}

int prw_release(prw_lock *lock) {
  if (!lock) return EINVAL;
  CALL(lock, release);
}

int prw_release_unrepaired(prw_lock *lock) {
  if (!lock) return EINVAL;
  CALL(lock, release_unrepaired);
}

int prw_downgrade(prw_lock *lock) {
  if (!lock) return EINVAL;
  CALL(lock, downgrade);
}

int prw_info(prw_lock *lock, prw_info_t *info) {
  if (!lock || !info) return EINVAL;
  CALL(lock, info, info);
}

int prw_holders(prw_lock *lock, prw_holder_t *out, size_t cap, size_t *count) {
  if (!lock || !count || (!out && cap > 0)) return EINVAL;
  CALL(lock, holders, out, cap, count);
}

/* put_string copies s and a NUL to buf, following the ERANGE convention of
 * prw_serialize. */
static int put_string(const char *s, size_t len, char *buf, size_t *size) {
  if (!buf || *size < len + 1) {
    *size = len + 1;
    return ERANGE;
  }
  memcpy(buf, s, len);
  buf[len] = 0;
  *size = len;
  return 0;
}

/* token_part copies the whole token of lock, or (path_only) the path it
 * ends with: "prwlock:<version>:<dev>:<ino>:<path>". */
static int token_part(prw_lock *lock, int path_only, char *buf, size_t *size) {
  prw_entry *e = lookup(lock);
  if (!e) return EBADF;
  int rc = EBADF;
  pthread_mutex_lock(&bind_mu);
  const char *t = e->token;
  if (__atomic_load_n(&e->hv, __ATOMIC_ACQUIRE) == (uint64_t)(uintptr_t)lock && t) {
    for (int k = 0; path_only && k < 4 && t; k++) {
      t = strchr(t, ':');
      if (t) t++;
    }
    rc = t ? put_string(t, strlen(t), buf, size) : EIO;
  }
  pthread_mutex_unlock(&bind_mu);
  return rc;
}

int prw_serialize(prw_lock *lock, char *buf, size_t *len) {
  if (!lock || !len) return EINVAL;
  return token_part(lock, 0, buf, len);
}

int prw_name(prw_lock *lock, char *buf, size_t *len) {
  if (!lock || !len) return EINVAL;
  return token_part(lock, 1, buf, len);
}

int prw_is_anonymous(prw_lock *lock) {
  if (!lock) return EINVAL;
  prw_entry *e = lookup(lock);
  if (!e) return EBADF;
  int anon = (int)__atomic_load_n(&e->anon, __ATOMIC_RELAXED);
  return __atomic_load_n(&e->hv, __ATOMIC_ACQUIRE) == (uint64_t)(uintptr_t)lock ? anon : EBADF;
}

const char *prw_strerror(int err) {
  switch (err) {
  case 0: return "success";
  case EBUSY: return "lock is busy";
  case ETIMEDOUT: return "timed out waiting for the lock";
  case EDEADLK: return "request would deadlock on the caller's own hold";
  case EPERM: return "calling thread does not hold the lock in the required mode";
  case EOWNERDEAD: return "lock acquired, but a previous writer died holding it";
  case EAGAIN: return "holder table is full";
  case EPROTO: return "not a valid prwlock segment or token, or incompatible layout";
  case EBADF: return "not a live lock handle";
  case EINVAL: return "invalid argument";
  case ENOENT: return "no such lock";
  case EEXIST: return "lock already exists";
  case EACCES: return "permission denied";
  case ERANGE: return "buffer too small";
  case ENOTRECOVERABLE:
    return "hold lost: another process recovered it, judging its owner dead";
  case EIO: return "internal error in libprwlock";
  case PRW_EFORKED:
    return "process was forked without exec and libprwlock could not load its "
           "private copy here (see \"Fork\" in prwlock.h)";
  }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  if (err > 0) {
    const char *s = strerrordesc_np(err);
    if (s) return s;
  }
#endif
  return "unknown error";
}

const char *prw_version(void) { return PRW_VERSION_STRING; }
