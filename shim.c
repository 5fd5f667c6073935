/* The public prw_* entry points of libprwlock.so.
 *
 * The data plane runs here, in C: acquire, release, downgrade, cancel and
 * the waits call the engine of prw_engine.c on the segment's mapping, with
 * the calling thread's record, and never enter Go. The Go engine (export.go,
 * package lock) is a backend for what is rare: open, create and close,
 * inspection, the mapping of a new segment, the checks a waiter runs once
 * per poll interval (is a holder dead or stopped? recover it), and the sweep
 * of a full table. In the process that loaded the library the backend is the
 * Go exports; in a child forked without exec, whose inherited Go runtime
 * cannot run, it is a private copy of the library that prw_fork.c loads on
 * the first call that needs it. Inherited handles stay valid in the child:
 * their data plane needs no backend at all, and they are bound to the copy
 * by their token when a rare path needs it.
 *
 * Three tables, all plain process memory (a fork child inherits them):
 * - handles: a prw_lock* names an entry (the backend's handle and binding,
 *   the lock's token, its segment);
 * - segments: one per lock file of the process, whatever the number of
 *   handles on it, so that a thread has one view of its holds (as the Go
 *   engine's registry does);
 * - threads: each thread's records, one per segment it uses (ownerRec).
 *
 * Closing a process's last handle on a segment must not unmap it under a
 * thread that is still inside an operation. Each thread publishes the
 * segment it operates on (inop) with a plain store; the closer marks the
 * segment closing and then issues membarrier(MEMBARRIER_CMD_PRIVATE_
 * EXPEDITED), a memory barrier on every running thread of the process, after
 * which it sees every inop that was published before the thread could see
 * "closing" (see op_begin). So the fast path pays no fence for it.
 *
 * Remote locks (etcd://, lock/remote.go) have no segment: their entry has
 * seg NULL, and every data-plane call on them goes to the backend (the r_*
 * ops: Go's prwgo_remote_* exports, or the private copy's public functions
 * in a fork child), which keeps their holds per thread id; the exit of a
 * thread ends its remote holds there too (abandon_remote).
 *
 * A public function never calls another public function: in a private copy
 * such a call could bind to the first copy's symbol of that name. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "_cgo_export.h"
#include "prw_engine_inl.h"
#include "prw_shim.h"
#include "prwlock.h"

/* Live handles of this process, so that exit has nothing to do for none. */
static long prw_live;

/* Set in a private copy by the library that loaded it (prw_fork.c), which
 * closes its handles itself at exit, data plane first. */
static int prw_is_copy;

/* ------------------------------------------------------------------------
 * This process (prwe_me), computed once per fork epoch. */

static prwe_me me_val;
static uint64_t me_epoch = UINT64_MAX;
static pthread_mutex_t me_mu = PTHREAD_MUTEX_INITIALIZER;

static const prwe_me *me_slow(uint64_t epoch) {
  pthread_mutex_lock(&me_mu);
  if (__atomic_load_n(&me_epoch, __ATOMIC_ACQUIRE) != epoch) {
    prwe_self(&me_val);
    __atomic_store_n(&me_epoch, epoch, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&me_mu);
  return &me_val;
}

static inline const prwe_me *me_get(void) {
  uint64_t epoch = prw_epoch();
  if (__atomic_load_n(&me_epoch, __ATOMIC_ACQUIRE) == epoch) return &me_val;
  return me_slow(epoch);
}

/* adopt_identity makes the Go engine's view of this process ours when the
 * two differ (a /proc that answers differently over time): the slots we
 * claim must carry the key the Go engine treats as its own. */
static void adopt_identity(const prwi_mapping *m) {
  const prwe_me *me = me_get();
  if (me->key == m->key && me->pstart == m->pstart && me->pidns == m->pidns) return;
  pthread_mutex_lock(&me_mu);
  me_val.pid = m->pid, me_val.pstart = m->pstart, me_val.pidns = m->pidns, me_val.key = m->key;
  pthread_mutex_unlock(&me_mu);
}

/* ------------------------------------------------------------------------
 * Segments and handles. */

typedef struct prw_seg {
  prwe_seg e;         /* the mapping the data plane uses; fixed while live */
  uint64_t size;      /* of the mapping */
  uint64_t dev, ino;
  uint64_t id;        /* nonzero while live, new at each reuse; records match on it */
  uint32_t refs;      /* live entries on it; under tab.mu */
  uint32_t closing;   /* set once its last entry closes: operations end with EBADF */
  uint32_t broken;    /* its file was truncated under the data plane: EPROTO */
  struct prw_seg *next; /* in the registry, or in the pool */
  struct prw_seg *all_next; /* every segment ever made (the SIGBUS guard walks it) */
} prw_seg;

static prw_seg *all_segs;
static void bus_guard_install(void);

/* fast_gen changes whenever something the fast path (fast_enter) would
 * otherwise have to check may have changed: a handle closed, a segment
 * began closing, was retired or found truncated, a thread exited (its holds
 * must be ended first). data_op reads it before its own checks and gives
 * the value to the thread's last lock (prw_thr.last_gen); the fast path
 * runs only while the two are equal, so one load stands for those checks.
 * A bump is seq-cst and comes after the change it announces. */
static uint64_t fast_gen;
static inline void fast_gen_bump(void) { __atomic_add_fetch(&fast_gen, 1, __ATOMIC_SEQ_CST); }

#define IDX_BITS 24
#define MAX_ENTRIES (1u << IDX_BITS)
#define CHUNK_BITS 10
#define CHUNK (1u << CHUNK_BITS)
#define GEN_MAX ((UINT64_C(1) << (64 - IDX_BITS)) - 1)
/* HMUL is odd, so multiplying by it is a bijection on uint64; HINV is its
 * inverse modulo 2^64. */
#define HMUL UINT64_C(0x9e3779b97f4a7c15)
#define HINV UINT64_C(0xf1de83e19937733d)

/* A handle encodes an entry index and that entry's generation,
 * v = gen<<IDX_BITS | idx with gen >= 1, scrambled as h = v*HMUL ^ hkey: a
 * bijection, so distinct (idx, gen) pairs give distinct handles, and with a
 * per-process random key a garbage value is very unlikely to decode to a
 * live entry. A generation only grows, so a handle is never reissued; an
 * entry whose generations are exhausted is retired. Entries live in chunks
 * that never move or go away, reached through a fixed directory, so a
 * lookup is lock-free: decode, two loads, one compare. */
typedef struct prw_entry {
  uint64_t hv;       /* the live handle; 0 while free. Set last, cleared first */
  uint32_t seq;      /* seqlock over bepoch and bh: odd while they change */
  uint32_t anon;     /* the lock is anonymous; fixed while live */
  uint32_t remote;   /* a remote lock (no segment: seg is NULL); fixed while live */
  uint64_t bepoch;   /* fork epoch in which bh is a handle of the backend */
  uintptr_t bh;
  prw_seg *seg;      /* fixed while live */
  char *token;       /* the lock's token and file; fixed while live, freed under bind_mu */
  char *path;
  uint64_t gen;      /* last generation issued; under tab.mu */
} prw_entry;

static prw_entry *dir[MAX_ENTRIES / CHUNK];
static uint64_t hkey;

static struct {
  pthread_mutex_t mu; /* register, free list, segments */
  uint32_t n;         /* entries ever used: 0..n-1 */
  uint32_t *free;     /* closed entries, reusable */
  size_t nfree, capfree;
  prw_seg *segs;      /* live segments */
  prw_seg *pool;      /* segments to reuse; never freed (records point to them) */
  uint64_t seg_ids;
} tab = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Serializes binding an entry to this process's backend, and the token. */
static pthread_mutex_t bind_mu = PTHREAD_MUTEX_INITIALIZER;

static inline uint32_t handle_index(uint64_t h) {
  return (uint32_t)(((h ^ hkey) * HINV) & (MAX_ENTRIES - 1));
}

static inline prw_entry *entry_at(uint32_t idx) {
  return &dir[idx >> CHUNK_BITS][idx & (CHUNK - 1)];
}

static inline prw_entry *lookup(prw_lock *lock) {
  uint64_t h = (uint64_t)(uintptr_t)lock;
  uint32_t idx = handle_index(h);
  prw_entry *c = __atomic_load_n(&dir[idx >> CHUNK_BITS], __ATOMIC_ACQUIRE);
  if (!c) return NULL;
  prw_entry *e = &c[idx & (CHUNK - 1)];
  return __atomic_load_n(&e->hv, __ATOMIC_ACQUIRE) == h ? e : NULL;
}

static inline int live(prw_entry *e, prw_lock *lock) {
  return __atomic_load_n(&e->hv, __ATOMIC_ACQUIRE) == (uint64_t)(uintptr_t)lock;
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

/* seg_get returns the live segment of file dev/ino, or a new one mapped as
 * m says, with one more reference. Called with tab.mu held. A segment
 * inherited through fork keeps the mapping it came with (memory of this
 * process like any other), so the handles of one file share one view. */
static prw_seg *seg_get(const prwi_mapping *m) {
  for (prw_seg *s = tab.segs; s; s = s->next)
    if (s->dev == m->dev && s->ino == m->ino) {
      s->refs++;
      return s;
    }
  prw_seg *s = tab.pool;
  if (s) {
    tab.pool = s->next;
  } else if ((s = calloc(1, sizeof *s))) {
    s->all_next = all_segs;
    __atomic_store_n(&all_segs, s, __ATOMIC_RELEASE);
    bus_guard_install();
  } else {
    return NULL;
  }
  prwe_seg_init(&s->e, m->base, m->capacity, m->slot_off);
  s->size = m->size;
  __atomic_store_n(&s->broken, 0, __ATOMIC_RELAXED);
  s->dev = m->dev, s->ino = m->ino;
  s->refs = 1;
  __atomic_store_n(&s->closing, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&s->id, ++tab.seg_ids, __ATOMIC_RELEASE);
  s->next = tab.segs;
  tab.segs = s;
  return s;
}

/* seg_put drops a reference and reports whether it was the last; the
 * segment then leaves the registry (its retirement is the caller's). */
static int seg_put(prw_seg *s) {
  if (--s->refs > 0) return 0;
  for (prw_seg **p = &tab.segs; *p; p = &(*p)->next)
    if (*p == s) {
      *p = s->next;
      break;
    }
  return 1;
}

static void seg_retire(prw_seg *s) {
  pthread_mutex_lock(&tab.mu);
  __atomic_store_n(&s->id, 0, __ATOMIC_RELEASE);
  fast_gen_bump();
  s->next = tab.pool;
  tab.pool = s;
  pthread_mutex_unlock(&tab.mu);
}

/* table_add issues a handle for a lock bound to (epoch, bh) whose mapping
 * is m (NULL: a remote lock); it takes ownership of token and path. It
 * returns NULL if the table is full or memory ran out. */
static prw_lock *table_add(uint64_t epoch, uintptr_t bh, const prwi_mapping *m, char *token,
                           char *path, int anon) {
  pthread_mutex_lock(&tab.mu);
  prw_seg *s = m ? seg_get(m) : NULL;
  for (; s || !m;) {
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
      e->path = path;
      e->anon = (uint32_t)anon;
      e->remote = !m;
      e->seg = s;
      __atomic_store_n(&e->hv, h, __ATOMIC_RELEASE);
      pthread_mutex_unlock(&tab.mu);
      __atomic_add_fetch(&prw_live, 1, __ATOMIC_RELAXED);
      return (prw_lock *)(uintptr_t)h;
    }
    /* Generations exhausted: retire the entry, take another. */
  }
  int last = s && seg_put(s);
  pthread_mutex_unlock(&tab.mu);
  if (last) seg_retire(s);
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

/* ------------------------------------------------------------------------
 * The SIGBUS guard.
 *
 * A process that can write the lock's file can also truncate it; the data
 * plane's next access beyond the new end of file then raises SIGBUS. The Go
 * engine turns that fault into EPROTO (debug.SetPanicOnFault); so does this
 * guard, for the C data plane. Its handler acts only on a fault raised by
 * an instruction of the data plane (the section prw_dataplane of
 * prw_engine.c) on an address of one of our segments: it maps an anonymous
 * page over the faulting one, so the instruction completes on zeros, and
 * marks the segment broken; the operation then returns EPROTO, as does
 * every later one on that segment. Every other SIGBUS goes to the handler
 * that was there before (the Go runtime's, or the host's). The handler is
 * installed when the first segment is mapped. */

extern char __start_prw_dataplane[] __attribute__((visibility("hidden")));
extern char __stop_prw_dataplane[] __attribute__((visibility("hidden")));

static struct sigaction bus_prev;
static int bus_installed;
static uintptr_t bus_page;

static uintptr_t fault_pc(void *uc) {
#if defined(__x86_64__)
  return (uintptr_t)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
  return (uintptr_t)((ucontext_t *)uc)->uc_mcontext.pc;
#else
  (void)uc;
  return 0; /* unknown: never ours */
#endif
}

static void bus_chain(int sig, siginfo_t *si, void *uc) {
  if (bus_prev.sa_flags & SA_SIGINFO) {
    if (bus_prev.sa_sigaction) {
      bus_prev.sa_sigaction(sig, si, uc);
      return;
    }
  } else if (bus_prev.sa_handler != SIG_DFL && bus_prev.sa_handler != SIG_IGN) {
    bus_prev.sa_handler(sig);
    return;
  }
  /* No handler before ours: the default action, when the faulting
   * instruction runs again. */
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigaction(sig, &dfl, NULL);
}

static void bus_handler(int sig, siginfo_t *si, void *uc) {
  uintptr_t pc = fault_pc(uc), a = (uintptr_t)si->si_addr;
  if (pc >= (uintptr_t)__start_prw_dataplane && pc < (uintptr_t)__stop_prw_dataplane) {
    for (prw_seg *s = __atomic_load_n(&all_segs, __ATOMIC_ACQUIRE); s; s = s->all_next) {
      uintptr_t b = (uintptr_t)s->e.base;
      if (!__atomic_load_n(&s->id, __ATOMIC_ACQUIRE) || a < b || a >= b + s->size) continue;
      void *p = (void *)(a & ~(bus_page - 1));
      if (mmap(p, bus_page, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == p) {
        __atomic_store_n(&s->broken, 1, __ATOMIC_RELEASE);
        fast_gen_bump(); /* a lock-free atomic: async-signal-safe */
        return;
      }
      break;
    }
  }
  bus_chain(sig, si, uc);
}

/* Called with tab.mu held. */
static void bus_guard_install(void) {
  if (bus_installed) return;
  bus_installed = 1;
  bus_page = (uintptr_t)sysconf(_SC_PAGESIZE);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = bus_handler;
  /* SA_ONSTACK: the signal may land on a thread of the Go runtime. */
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGBUS, &sa, &bus_prev) != 0) bus_installed = 0;
}

static inline int seg_broken(prw_seg *s) { return __atomic_load_n(&s->broken, __ATOMIC_ACQUIRE); }

/* ------------------------------------------------------------------------
 * Threads and their records. */

/* A thread's record for one segment. */
typedef struct prw_rec {
  prw_seg *seg;
  uint64_t id; /* seg->id when the record was made: stale once it differs */
  prwe_rec r;
} prw_rec;

#define RECS_PER_BLOCK 4
typedef struct prw_recs {
  prw_rec rec[RECS_PER_BLOCK];
  struct prw_recs *next;
} prw_recs;

typedef struct prw_thr {
  prw_seg *inop;        /* segment of the operation in progress, or NULL */
  uint32_t tid;         /* kernel tid, the owner id written to slots */
  /* The local lock of the thread's last data-plane operation, its entry
   * and record: the fast path (fast_enter) starts from them. */
  prw_lock *last;
  struct prw_seg *last_s;
  struct prw_rec *last_x;
  uint64_t last_gen; /* fast_gen when data_op checked them */
  prw_recs recs;        /* the first block inline; more as needed */
  struct prw_thr *next; /* in thr_list */
} prw_thr;

/* The thread list: closers and exiting threads walk it under thr_mu. */
static pthread_mutex_t thr_mu = PTHREAD_MUTEX_INITIALIZER;
static prw_thr *thr_list;
static pthread_key_t thr_key;

/* The calling thread's descriptor. On x86-64 the library is compiled with
 * TLS descriptors (-mtls-dialect=gnu2, export.go), so that in the library
 * that the program loaded this costs a load from static TLS instead of a
 * call to __tls_get_addr (about 2 ns per call, a tenth of the read pair).
 * In a library loaded with dlopen (Python's, or a private copy loaded for a
 * fork child) glibc backs a descriptor with static TLS only while some is
 * left, else with dynamic TLS, so it never makes a dlopen fail. Never
 * initial-exec: that demands static TLS in every copy, and dlopen of a
 * later copy would fail sooner (see prw_fork.c). bench_fork fork-depth
 * measures how many copies load: as many with descriptors as without. */
static __thread prw_thr *thr_cur;

/* rec_live: x belongs to a live segment (a record goes stale when its
 * segment is retired). */
static int rec_live(const prw_rec *x) {
  prw_seg *s = __atomic_load_n(&x->seg, __ATOMIC_RELAXED);
  return s && x->id == __atomic_load_n(&s->id, __ATOMIC_ACQUIRE);
}

/* abandon_recs ends the holds and waits of the records of t that belong to
 * segment s (every segment if s is NULL), as if their thread had died.
 * Called with thr_mu held, while no operation runs on those segments. */
static void abandon_recs(prw_thr *t, prw_seg *s, const prwe_me *me) {
  for (prw_recs *b = &t->recs; b; b = b->next)
    for (int k = 0; k < RECS_PER_BLOCK; k++) {
      prw_rec *x = &b->rec[k];
      if (!rec_live(x) || (s && x->seg != s)) continue;
      if (x->r.slot >= 0 || x->r.idle >= 0) prwe_abandon(&x->seg->e, me, &x->r);
    }
}

static void thr_free(prw_thr *t) {
  for (prw_recs *b = t->recs.next; b;) {
    prw_recs *n = b->next;
    free(b);
    b = n;
  }
  free(t);
}

/* Threads that exited, whose holds still have to end. A thread's holds die
 * with it (a write hold leaves the lock owner-dead, as a dead process's
 * does), and nobody else can release them. The exiting thread only queues
 * its descriptor (thr_exit, the destructor of thr_key); the process's next
 * call into the data plane, from any thread, ends them (reap_dead), and so
 * does a waiter at its next check. So they end at a point of the caller's
 * program, as the documentation says, not somewhere during the exit. */
static prw_thr *thr_dead;
static int dead_pending;

static void thr_exit(void *p) {
  prw_thr *t = p;
  pthread_mutex_lock(&thr_mu);
  for (prw_thr **q = &thr_list; *q; q = &(*q)->next)
    if (*q == t) {
      *q = t->next;
      break;
    }
  t->next = thr_dead;
  thr_dead = t;
  __atomic_store_n(&dead_pending, 1, __ATOMIC_RELEASE);
  fast_gen_bump();
  pthread_mutex_unlock(&thr_mu);
}

static void abandon_remote(prw_thr *dead);

static void reap_dead_slow(void) {
  const prwe_me *me = me_get();
  pthread_mutex_lock(&thr_mu);
  prw_thr *dead = thr_dead;
  thr_dead = NULL;
  __atomic_store_n(&dead_pending, 0, __ATOMIC_RELAXED);
  for (prw_thr *t = dead; t; t = t->next) abandon_recs(t, NULL, me);
  pthread_mutex_unlock(&thr_mu);
  abandon_remote(dead);
  for (prw_thr *t = dead; t;) {
    prw_thr *n = t->next;
    thr_free(t);
    t = n;
  }
}

static inline void reap_dead(void) {
  if (__builtin_expect(__atomic_load_n(&dead_pending, __ATOMIC_ACQUIRE), 0)) reap_dead_slow();
}

static prw_thr *thr_new(void) {
  prw_thr *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->tid = (uint32_t)syscall(SYS_gettid);
  pthread_mutex_lock(&thr_mu);
  t->next = thr_list;
  thr_list = t;
  pthread_mutex_unlock(&thr_mu);
  pthread_setspecific(thr_key, t);
  thr_cur = t;
  return t;
}

static inline prw_thr *thr_get(void) {
  prw_thr *t = thr_cur;
  return t ? t : thr_new();
}

/* rec_get returns t's record for segment s, making one if needed; NULL
 * when out of memory. Only t's thread calls it. Making a record takes
 * thr_mu: a closer may be ending the holds of t's records meanwhile. */
static prw_rec *rec_get(prw_thr *t, prw_seg *s) {
  uint64_t id = __atomic_load_n(&s->id, __ATOMIC_ACQUIRE);
  for (prw_recs *b = &t->recs; b; b = b->next)
    for (int k = 0; k < RECS_PER_BLOCK; k++) {
      prw_rec *x = &b->rec[k];
      if (__atomic_load_n(&x->seg, __ATOMIC_RELAXED) == s && x->id == id) return x;
    }
  pthread_mutex_lock(&thr_mu);
  prw_rec *spare = NULL;
  prw_recs *b = &t->recs;
  for (;; b = b->next) {
    for (int k = 0; k < RECS_PER_BLOCK && !spare; k++) {
      prw_rec *x = &b->rec[k];
      /* A record with nothing held, queued or kept can serve another
       * segment. */
      if (!rec_live(x) || (x->r.slot < 0 && x->r.idle < 0)) spare = x;
    }
    if (spare || !b->next) break;
  }
  if (!spare) {
    prw_recs *nb = calloc(1, sizeof *nb);
    if (nb) {
      b->next = nb;
      spare = &nb->rec[0];
    }
  }
  if (spare) {
    prwe_rec init = PRWE_REC_INIT;
    spare->r = init;
    spare->id = id;
    __atomic_store_n(&spare->seg, s, __ATOMIC_RELAXED);
  }
  pthread_mutex_unlock(&thr_mu);
  return spare;
}

/* ------------------------------------------------------------------------
 * Operations in flight, and closing (see the top of the file). */

/* Set when membarrier is unavailable (old kernel, seccomp): the fast path
 * then pays a full fence instead. */
static int prw_full_fence;

static void barrier_init(void) {
  long q = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  if (q < 0 || !(q & MEMBARRIER_CMD_PRIVATE_EXPEDITED) ||
      syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) != 0)
    prw_full_fence = 1;
}

/* op_begin publishes that t operates on s. Then the caller checks that s
 * is not closing: either the closer sees inop, or we see closing. */
static inline void op_begin(prw_thr *t, prw_seg *s) {
  __atomic_store_n(&t->inop, s, __ATOMIC_RELAXED);
  if (__builtin_expect(prw_full_fence, 0))
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
  else
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* the closer's membarrier orders it */
}

static inline void op_end(prw_thr *t) { __atomic_store_n(&t->inop, NULL, __ATOMIC_RELEASE); }

static inline int seg_closing(prw_seg *s) { return __atomic_load_n(&s->closing, __ATOMIC_RELAXED); }

static void own_abandon_seg(prw_seg *s, const prwe_me *me);

/* seg_quiesce marks s closing, waits until no thread of this process
 * operates on it (waiters notice within a poll interval), then ends every
 * thread's holds and waits on it: read holds silently, write holds as if
 * their writer died (the data may be half written), as the Go engine's
 * Close does. It returns 0, or ETIMEDOUT if an operation did not end
 * before deadline (>0), leaving s as it is. */
static int seg_quiesce(prw_seg *s, int64_t deadline) {
  __atomic_store_n(&s->closing, 1, __ATOMIC_SEQ_CST);
  fast_gen_bump(); /* before the barrier: fast_enter loads it after op_begin */
  if (prw_full_fence)
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* pairs with the fence of op_begin */
  else
    syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
  for (;;) {
    pthread_mutex_lock(&thr_mu);
    int busy = 0;
    for (prw_thr *t = thr_list; t && !busy; t = t->next)
      busy = __atomic_load_n(&t->inop, __ATOMIC_ACQUIRE) == s;
    if (!busy) break;
    pthread_mutex_unlock(&thr_mu);
    if (deadline > 0 && prwe_now() > deadline) return ETIMEDOUT;
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
  }
  const prwe_me *me = me_get();
  for (prw_thr *t = thr_list; t; t = t->next) abandon_recs(t, s, me);
  for (prw_thr *t = thr_dead; t; t = t->next) abandon_recs(t, s, me);
  pthread_mutex_unlock(&thr_mu);
  own_abandon_seg(s, me); /* explicit owners' holds too (see the end of the file) */
  return 0;
}

/* ------------------------------------------------------------------------
 * Backends. */

/* The Go backend: the exports of export.go, in the process that loaded us. */
static int g_create(unsigned int c, uintptr_t *bh) { return prwgo_create(c, bh); }
static int g_open(const char *n, int f, unsigned int m, unsigned int c, uintptr_t *bh) {
  return prwgo_open((char *)n, f, m, c, bh);
}
static int g_deserialize(const char *t, uintptr_t *bh) { return prwgo_deserialize((char *)t, bh); }
static int g_close(uintptr_t bh) { return prwgo_close(bh); }
static int g_unlink(const char *n) { return prwgo_unlink((char *)n); }
static int g_serialize(uintptr_t bh, char *b, size_t *n) { return prwgo_serialize(bh, b, n); }
static int g_name(uintptr_t bh, char *b, size_t *n) { return prwgo_name(bh, b, n); }
static int g_is_anonymous(uintptr_t bh) { return prwgo_is_anonymous(bh); }
static int g_info(uintptr_t bh, prw_info_t *i) { return prwgo_info(bh, i); }
static int g_capacity(uintptr_t bh, uint32_t *c) { return prwgo_capacity(bh, c); }
static int g_holders(uintptr_t bh, prw_holder_ex_t *o, size_t c, size_t *n) {
  return prwgo_holders(bh, o, c, n);
}
static int g_mapping(uintptr_t bh, prwi_mapping *m) { return prwgo_mapping(bh, m); }
static int g_check(uintptr_t bh, int kind, int slot, int *recovered) {
  return prwgo_check(bh, kind, slot, recovered);
}

static int g_r_acquire(uintptr_t bh, uint32_t tid, int mode, int64_t deadline, int64_t slice_end) {
  return prwgo_remote_acquire(bh, tid, mode, deadline, slice_end);
}
static int g_r_release(uintptr_t bh, uint32_t tid, int unrepaired) {
  return prwgo_remote_release(bh, tid, unrepaired);
}
static int g_r_cancel(uintptr_t bh, uint32_t tid) { return prwgo_remote_cancel(bh, tid); }
static int g_r_downgrade(uintptr_t bh, uint32_t tid) { return prwgo_remote_downgrade(bh, tid); }
static int g_r_fence(uintptr_t bh, uint32_t tid, uint64_t *f) {
  return prwgo_remote_fence(bh, tid, f);
}
static int g_r_abandon(uintptr_t bh, uint32_t tid) { return prwgo_remote_abandon(bh, tid); }

static const prw_ops go_ops = {
    .create = g_create,
    .open = g_open,
    .deserialize = g_deserialize,
    .close = g_close,
    .unlink = g_unlink,
    .serialize = g_serialize,
    .name = g_name,
    .is_anonymous = g_is_anonymous,
    .info = g_info,
    .capacity = g_capacity,
    .holders = g_holders,
    .mapping = g_mapping,
    .check = g_check,
    .r_acquire = g_r_acquire,
    .r_release = g_r_release,
    .r_cancel = g_r_cancel,
    .r_downgrade = g_r_downgrade,
    .r_fence = g_r_fence,
    .r_abandon = g_r_abandon,
};

/* backend returns this process's backend, or NULL (PRW_EFORKED) in a fork
 * child that cannot load its private copy. */
static inline const prw_ops *backend(uint64_t epoch) {
  return epoch == 0 ? &go_ops : prwi_copy_ops();
}

/* adopt turns a backend handle into a public one: it fetches what the
 * entry keeps (the token, anonymity, the mapping) and registers it. On
 * failure it closes bh. */
static int adopt(const prw_ops *ops, uint64_t epoch, uintptr_t bh, prw_lock **out) {
  char buf[4096], file[4096];
  size_t n = sizeof buf, fn = sizeof file;
  prwi_mapping m;
  int rc = ops->serialize(bh, buf, &n);
  if (rc == 0) rc = ops->name(bh, file, &fn);
  int anon = rc == 0 ? ops->is_anonymous(bh) : 0;
  if (rc == 0 && anon != 0 && anon != 1) rc = anon;
  int remote = rc == 0 && prwi_remote_token(buf);
  if (rc == 0 && !remote) rc = ops->mapping(bh, &m);
  if (rc == 0 && !remote && epoch == 0) adopt_identity(&m);
  char *tok = rc == 0 ? strdup(buf) : NULL, *path = rc == 0 ? strdup(file) : NULL;
  if (rc == 0 && (!tok || !path)) rc = ENOMEM;
  prw_lock *h = rc == 0 ? table_add(epoch, bh, remote ? NULL : &m, tok, path, anon) : NULL;
  if (rc == 0 && !h) rc = EMFILE;
  if (rc != 0) {
    free(tok);
    free(path);
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
static int bind(prw_lock *lock, const prw_ops **ops, uintptr_t *bh) {
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

/* abandon_remote ends the holds of the exited threads on remote locks,
 * which their backend keeps: on each remote handle bound in this process. */
static void abandon_remote(prw_thr *dead) {
  if (!dead) return;
  uint64_t epoch = prw_epoch();
  const prw_ops *ops = backend(epoch);
  if (!ops) return;
  for (uint32_t idx = 0;; idx++) {
    pthread_mutex_lock(&tab.mu);
    prw_entry *e = idx < tab.n ? entry_at(idx) : NULL;
    int remote = e && __atomic_load_n(&e->hv, __ATOMIC_ACQUIRE) && e->remote;
    pthread_mutex_unlock(&tab.mu);
    if (!e) break;
    uint64_t h = __atomic_load_n(&e->hv, __ATOMIC_ACQUIRE), ep;
    uintptr_t bh;
    if (!remote || get_binding(e, h, &ep, &bh) != 0 || ep != epoch) continue;
    for (prw_thr *t = dead; t; t = t->next) ops->r_abandon(bh, t->tid);
  }
}

/* seg_handle returns a live handle on segment s other than skip, or NULL. */
static prw_lock *seg_handle(prw_seg *s, prw_lock *skip) {
  prw_lock *found = NULL;
  pthread_mutex_lock(&tab.mu);
  for (uint32_t idx = 0; idx < tab.n && !found; idx++) {
    prw_entry *e = entry_at(idx);
    uint64_t h = __atomic_load_n(&e->hv, __ATOMIC_ACQUIRE);
    if (h && e->seg == s && h != (uint64_t)(uintptr_t)skip) found = (prw_lock *)(uintptr_t)h;
  }
  pthread_mutex_unlock(&tab.mu);
  return found;
}

/* ------------------------------------------------------------------------
 * The engine's hooks (prwe_env). */

typedef struct op_ctx {
  prw_lock *lock;
  prw_seg *seg;
} op_ctx;

static int hook_check(void *p, int kind, int slot) {
  op_ctx *c = p;
  const prw_ops *ops;
  uintptr_t bh;
  int recovered = 0;
  /* Through the handle in use, or, if it was closed meanwhile, another of
   * the same file. Without a backend (a fork child that cannot load its
   * copy) nothing is checked: waits still end, at their deadline. */
  if (bind(c->lock, &ops, &bh) != 0) {
    prw_lock *other = seg_handle(c->seg, c->lock);
    if (!other || bind(other, &ops, &bh) != 0) return 0;
  }
  ops->check(bh, kind, slot, &recovered);
  return recovered;
}

/* A wait ends when its segment closes, or breaks (see the SIGBUS guard).
 * Between its sleeps it also ends the holds of exited threads: one of them
 * may be what it waits for. */
static int hook_closing(void *p) {
  prw_seg *s = ((op_ctx *)p)->seg;
  reap_dead();
  return seg_closing(s) || seg_broken(s);
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
  pthread_mutex_lock(&thr_mu);
  pthread_mutex_lock(&me_mu);
}

static void prw_on_parent(void) {
  pthread_mutex_unlock(&me_mu);
  pthread_mutex_unlock(&thr_mu);
  pthread_mutex_unlock(&tab.mu);
  prwi_fork_parent();
  pthread_mutex_unlock(&bind_mu);
}

static void prw_on_child(void) {
  pthread_mutex_init(&me_mu, NULL);
  pthread_mutex_init(&thr_mu, NULL);
  pthread_mutex_init(&tab.mu, NULL);
  pthread_mutex_init(&bind_mu, NULL);
  prwi_fork_child();
  /* The parent's threads are not the child's, and its holds stay the
   * parent's: the forking thread keeps its descriptor with a new tid and
   * no records; the others are gone. */
  prw_thr *self = thr_cur;
  for (prw_thr *t = thr_list; t;) {
    prw_thr *n = t->next;
    if (t != self) thr_free(t);
    t = n;
  }
  for (prw_thr *t = thr_dead; t;) {
    prw_thr *n = t->next;
    thr_free(t);
    t = n;
  }
  thr_dead = NULL;
  dead_pending = 0;
  thr_list = self;
  if (self) {
    self->next = NULL;
    self->inop = NULL;
    self->last = NULL;
    self->tid = (uint32_t)syscall(SYS_gettid);
    for (prw_recs *b = &self->recs; b; b = b->next)
      for (int k = 0; k < RECS_PER_BLOCK; k++) b->rec[k].seg = NULL;
  }
}

/* prw_on_exit closes the anonymous locks still open, so that their files
 * go away with their last user. Never in a fork child whose copy is not
 * loaded: nothing of ours attached there, and the inherited runtime would
 * hang. A close that cannot finish within a second (a thread wedged in an
 * operation) is left: the process is exiting, and its death releases what
 * it holds anyway. */
static int close_entry(prw_lock *lock, int64_t deadline);

/* retire_kept frees the slots this process's threads keep idle between
 * holds (see Kept slots in layout.go), so that a process that exits
 * without closing its locks leaves no slots for others to skip over until
 * a full table evicts them. The owning threads may still run: eviction is
 * a CAS they lose or win, and the records are only read. A segment being
 * closed is skipped (its closer frees them); holding thr_mu keeps the
 * others mapped meanwhile (a closer takes it before it unmaps). */
static void retire_kept(void) {
  const prwe_me *me = me_get();
  pthread_mutex_lock(&thr_mu);
  for (prw_thr *t = thr_list; t; t = t->next)
    for (prw_recs *b = &t->recs; b; b = b->next)
      for (int k = 0; k < RECS_PER_BLOCK; k++) {
        prw_rec *x = &b->rec[k];
        if (!rec_live(x) || seg_closing(x->seg) || seg_broken(x->seg)) continue;
        prwe_rec kept = PRWE_REC_INIT;
        kept.idle = __atomic_load_n(&x->r.idle, __ATOMIC_RELAXED);
        kept.idle_gen = __atomic_load_n(&x->r.idle_gen, __ATOMIC_RELAXED);
        kept.idle_key = __atomic_load_n(&x->r.idle_key, __ATOMIC_RELAXED);
        if (kept.idle >= 0 && kept.idle < (int32_t)x->seg->e.capacity) prwe_retire(&x->seg->e, me, &kept);
      }
  pthread_mutex_unlock(&thr_mu);
}

static void prw_on_exit(void) {
  if (__atomic_load_n(&prw_live, __ATOMIC_RELAXED) <= 0) return;
  retire_kept();
  if (prw_is_copy) return;
  int64_t deadline = prwe_now() + 1000000000;
  for (uint32_t idx = 0;; idx++) {
    pthread_mutex_lock(&tab.mu);
    uint32_t n = tab.n;
    prw_entry *e = idx < n ? entry_at(idx) : NULL;
    uint64_t h = e ? __atomic_load_n(&e->hv, __ATOMIC_ACQUIRE) : 0;
    int anon = e && e->anon;
    pthread_mutex_unlock(&tab.mu);
    if (!e) break;
    if (h && anon) close_entry((prw_lock *)(uintptr_t)h, deadline);
  }
}

__attribute__((constructor)) static void prw_init(void) {
  if (getrandom(&hkey, sizeof hkey, GRND_NONBLOCK) != (ssize_t)sizeof hkey) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    hkey = (uint64_t)ts.tv_nsec * HMUL ^ (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)&ts;
  }
  pthread_key_create(&thr_key, thr_exit);
  barrier_init();
  prwi_fork_init((void *)prw_init);
  pthread_atfork(prw_on_prepare, prw_on_parent, prw_on_child);
  atexit(prw_on_exit);
}

/* ------------------------------------------------------------------------
 * The public API. */

static int opened(int (*open)(const prw_ops *, void *, uintptr_t *), void *arg, prw_lock **out) {
  uint64_t epoch = prw_epoch();
  const prw_ops *ops = backend(epoch);
  if (!ops) return PRW_EFORKED;
  uintptr_t bh = 0;
  int rc = open(ops, arg, &bh);
  return rc ? rc : adopt(ops, epoch, bh, out);
}

static int do_create(const prw_ops *ops, void *arg, uintptr_t *bh) {
  return ops->create(*(unsigned int *)arg, bh);
}

int prw_create_ex(unsigned int capacity, prw_lock **out) {
  if (out) *out = NULL;
  if (!out) return EINVAL;
  return opened(do_create, &capacity, out);
}

int prw_create(prw_lock **out) { return prw_create_ex(0, out); }

struct open_args {
  const char *name;
  int flags;
  unsigned int mode, capacity;
};

static int do_open(const prw_ops *ops, void *arg, uintptr_t *bh) {
  struct open_args *a = arg;
  return ops->open(a->name, a->flags, a->mode, a->capacity, bh);
}

int prw_open_ex(const char *name, int flags, unsigned int mode, unsigned int capacity,
                prw_lock **out) {
  if (out) *out = NULL;
  if (!name || !out) return EINVAL;
  struct open_args a = {name, flags, mode, capacity};
  return opened(do_open, &a, out);
}

int prw_open(const char *name, int flags, unsigned int mode, prw_lock **out) {
  return prw_open_ex(name, flags, mode, 0, out);
}

static int do_deserialize(const prw_ops *ops, void *arg, uintptr_t *bh) {
  return ops->deserialize((const char *)arg, bh);
}

int prw_deserialize(const char *token, prw_lock **out) {
  if (out) *out = NULL;
  if (!token || !out) return EINVAL;
  return opened(do_deserialize, (void *)token, out);
}

/* close_entry closes handle lock: the entry first (new operations fail),
 * then, for the process's last handle on the file, the data plane (see
 * seg_quiesce), then the backend's handle. */
static int close_entry(prw_lock *lock, int64_t deadline) {
  prw_entry *e = lookup(lock);
  uint64_t h = (uint64_t)(uintptr_t)lock;
  if (!e || !__atomic_compare_exchange_n(&e->hv, &h, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
    return EBADF;
  fast_gen_bump();
  __atomic_sub_fetch(&prw_live, 1, __ATOMIC_RELAXED);
  prw_seg *s = e->seg; /* NULL for a remote lock: its backend wakes its waiters */
  pthread_mutex_lock(&tab.mu);
  int last = s && seg_put(s);
  pthread_mutex_unlock(&tab.mu);
  if (last && seg_quiesce(s, deadline) != 0) return ETIMEDOUT; /* at exit only */
  pthread_mutex_lock(&bind_mu);
  uint64_t ep = __atomic_load_n(&e->bepoch, __ATOMIC_RELAXED);
  uintptr_t bh = __atomic_load_n(&e->bh, __ATOMIC_RELAXED);
  char *tok = e->token, *path = e->path;
  e->token = e->path = NULL;
  pthread_mutex_unlock(&bind_mu);
  int rc = 0;
  uint64_t epoch = prw_epoch();
  /* A handle inherited and never used through this process's copy has
   * nothing to close but its entry. */
  if (ep == epoch) rc = backend(epoch)->close(bh);
  free(tok);
  free(path);
  table_free(handle_index((uint64_t)(uintptr_t)lock));
  if (last) seg_retire(s);
  return rc;
}

int prw_close(prw_lock *lock) {
  if (!lock) return 0;
  return close_entry(lock, 0);
}

int prw_unlink(const char *name) {
  if (!name) return EINVAL;
  const prw_ops *ops = backend(prw_epoch());
  return ops ? ops->unlink(name) : PRW_EFORKED;
}

/* The data plane: everything below runs in C. */

enum { OP_ACQUIRE, OP_RELEASE, OP_RELEASE_UNREPAIRED, OP_CANCEL, OP_DOWNGRADE };

static int remote_op(prw_lock *lock, int op, int mode, prwe_wait *w);

/* seg_enter begins an operation of the calling thread on local lock
 * entry e: it ends the holds of exited threads, publishes the operation
 * (op_begin), then checks that the segment is not closing or broken and the
 * handle still live. On 0 the caller runs the operation and calls
 * op_end(*tp); on an error nothing is begun. */
static int seg_enter(prw_lock *lock, prw_entry *e, prw_thr **tp) {
  prw_seg *s = e->seg;
  prw_thr *t = thr_get();
  if (!t) return ENOMEM;
  reap_dead();
  op_begin(t, s);
  int rc = seg_closing(s) || !live(e, lock) ? EBADF : seg_broken(s) ? EPROTO : 0;
  if (rc) op_end(t);
  *tp = t;
  return rc;
}

/* engine_op runs data-plane operation op for record r, whose owner is
 * owner (with flags fl: PRWL_SLOT_THREAD_OWNER for a thread), and
 * forgets r's hold if the file was truncated meanwhile. */
static inline __attribute__((always_inline)) int engine_op(prw_lock *lock, prw_seg *s, prwe_rec *r,
                                                          uint64_t owner, int as, int op, int mode,
                                                          prwe_wait *w) {
  const prwe_me *me = me_get();
  int rc;
  if (op == OP_ACQUIRE) {
    op_ctx c = {lock, s};
    prwe_env env = {hook_check, hook_closing, &c};
    rc = as ? prwe_acquire_wait_as(&s->e, me, &env, r, owner, mode, w)
            : prwe_acquire_wait(&s->e, me, &env, r, (uint32_t)owner, mode, w);
  } else if (op == OP_RELEASE || op == OP_RELEASE_UNREPAIRED) {
    rc = prwe_release(&s->e, me, r, op == OP_RELEASE_UNREPAIRED);
  } else if (op == OP_CANCEL) {
    rc = prwe_cancel(&s->e, me, r);
  } else {
    rc = prwe_downgrade(&s->e, me, r);
  }
  if (seg_broken(s)) {
    /* The file was truncated during the operation: whatever it did, it
     * did on zeros. The owner holds nothing that means anything. */
    prwe_rec init = PRWE_REC_INIT;
    *r = init;
    rc = EPROTO;
  }
  return rc;
}

/* data_op runs one data-plane operation of the calling thread on lock. */
static int data_op(prw_lock *lock, int op, int mode, prwe_wait *w) {
  uint64_t gen = __atomic_load_n(&fast_gen, __ATOMIC_SEQ_CST); /* before the checks */
  prw_entry *e = lookup(lock);
  if (!e) return EBADF;
  if (e->remote) return remote_op(lock, op, mode, w);
  prw_thr *t;
  int rc = seg_enter(lock, e, &t);
  if (rc) return rc;
  prw_seg *s = e->seg;
  prw_rec *x = rec_get(t, s);
  if (x) {
    t->last = lock, t->last_s = s, t->last_x = x, t->last_gen = gen;
    rc = engine_op(lock, s, &x->r, t->tid, 0, op, mode, w);
  } else {
    rc = ENOMEM;
  }
  op_end(t);
  return rc;
}

/* fast_enter begins the uncontended fast path of the calling thread on
 * lock: if lock is the thread's last lock, it returns that thread's record
 * for it, with the operation begun (op_begin), and the fast path then needs
 * no handle or record lookup, no deadline and no hooks. It returns NULL
 * when data_op must run instead: another lock, or fast_gen moved since
 * data_op last checked this one (exited threads to reap, a handle closed, a
 * segment closing, retired or broken). A fork child starts with no last
 * lock. fast_exit ends the operation; rc is the engine fast path's result
 * (-1: it declined, nothing changed). */
static inline __attribute__((always_inline)) prw_rec *fast_enter(prw_lock *lock, prw_thr **tp, prw_seg **sp) {
  prw_thr *t = thr_cur;
  if (__builtin_expect(!t || t->last != lock, 0)) return NULL;
  prw_seg *s = t->last_s;
  op_begin(t, s);
  /* Nothing closed, retired, broke or exited since data_op checked (the
   * load after op_begin: see fast_gen and seg_quiesce). */
  if (__atomic_load_n(&fast_gen, __ATOMIC_SEQ_CST) != t->last_gen) {
    op_end(t);
    return NULL;
  }
  *tp = t, *sp = s;
  return t->last_x;
}

/* fast_me is me_get for the fast path: this epoch's identity, with no
 * epoch check. The epoch changes only in a fork child's at-fork handler,
 * which also forgets the forking thread's last lock (and the child has no
 * other thread), so a fast path in a new epoch is preceded by a data_op of
 * the same thread, whose engine_op computed the identity for it. */
static inline __attribute__((always_inline)) const prwe_me *fast_me(void) { return &me_val; }

static inline __attribute__((always_inline)) int fast_exit(prw_thr *t, prw_seg *s, prw_rec *x, int rc) {
  if (__builtin_expect(rc != -1 && seg_broken(s), 0)) {
    prwe_rec init = PRWE_REC_INIT; /* see data_op */
    x->r = init;
    rc = EPROTO;
  }
  op_end(t);
  return rc;
}

/* remote_op runs a data-plane operation on a remote lock: in its backend,
 * for the calling thread. */
/* remote_bind finds the calling thread's record and the backend of remote
 * lock `lock`, after ending the holds of exited threads. */
static int remote_bind(prw_lock *lock, prw_thr **t, const prw_ops **ops, uintptr_t *bh) {
  *t = thr_get();
  if (!*t) return ENOMEM;
  reap_dead();
  return bind(lock, ops, bh);
}

static int remote_op(prw_lock *lock, int op, int mode, prwe_wait *w) {
  prw_thr *t;
  const prw_ops *ops;
  uintptr_t bh;
  int rc = remote_bind(lock, &t, &ops, &bh);
  if (rc) return rc;
  switch (op) {
  case OP_ACQUIRE:
    return ops->r_acquire(bh, t->tid, mode == PRWE_READ ? PRW_MODE_READ : PRW_MODE_WRITE, w->deadline,
                          w->slice_end);
  case OP_RELEASE:
  case OP_RELEASE_UNREPAIRED:
    return ops->r_release(bh, t->tid, op == OP_RELEASE_UNREPAIRED);
  case OP_CANCEL:
    return ops->r_cancel(bh, t->tid);
  default:
    return ops->r_downgrade(bh, t->tid);
  }
}

int prw_fence(prw_lock *lock, uint64_t *fence) {
  if (!lock || !fence) return EINVAL;
  prw_entry *e = lookup(lock);
  if (!e) return EBADF;
  if (!e->remote) return live(e, lock) ? ENOTSUP : EBADF;
  prw_thr *t;
  const prw_ops *ops;
  uintptr_t bh;
  int rc = remote_bind(lock, &t, &ops, &bh);
  return rc ? rc : ops->r_fence(bh, t->tid, fence);
}

static int acquire_slow(prw_lock *lock, int mode, int64_t timeout_ns);

/* wait_for is the wait of an acquire with timeout_ns (< 0 forever, 0 try
 * once, > 0 relative); the clock is read only for a timed wait. */
static inline prwe_wait wait_for(int64_t timeout_ns) {
  prwe_wait w = {timeout_ns, 0, 0, 0};
  if (timeout_ns > 0) {
    int64_t now = prwe_now();
    w.deadline = timeout_ns > INT64_MAX - now ? -1 : now + timeout_ns;
  }
  return w;
}

/* write_company is acquire's write path when write_alone declined: the
 * engine's full path under the same fast_enter. */
PRWE_TEXT __attribute__((noinline)) static int write_company(prw_lock *lock, prw_thr *t, prw_seg *s, prw_rec *x,
                                                             int64_t timeout_ns) {
  prwe_wait w = wait_for(timeout_ns);
  int rc = engine_op(lock, s, &x->r, t->tid, 0, OP_ACQUIRE, PRWE_WRITE, &w);
  op_end(t);
  return rc;
}

/* acquire takes lock in mode with timeout_ns (see wait_for). On the
 * thread's last lock, a read tries the engine's read_fast and a write its
 * write_alone, both inlined, and anything else (a wait, a writer with
 * company) runs the engine's full path under the same fast_enter, without
 * data_op's lookups. acquire, prw_release and the public calls they may be
 * inlined into run in the data plane's section: the inlined pairs touch the
 * mapping (see the SIGBUS guard). Its slow halves are out of line
 * (acquire_slow, write_company) and reached by a tail call, so that the
 * fast paths do not set up their frames. */
PRWE_TEXT __attribute__((always_inline)) static inline int acquire(prw_lock *lock, int mode, int64_t timeout_ns) {
  if (!lock) return EINVAL;
  prw_thr *t;
  prw_seg *s;
  prw_rec *x = fast_enter(lock, &t, &s);
  if (!x) return acquire_slow(lock, mode, timeout_ns);
  if (mode == PRWE_READ) {
    int rc = fast_exit(t, s, x, read_fast(&s->e, fast_me(), &x->r));
    if (rc != -1) return rc;
    return acquire_slow(lock, mode, timeout_ns);
  }
  int rc = write_alone(&s->e, fast_me(), &x->r);
  if (rc != -1) return fast_exit(t, s, x, rc);
  return write_company(lock, t, s, x, timeout_ns);
}

__attribute__((noinline)) static int acquire_slow(prw_lock *lock, int mode, int64_t timeout_ns) {
  prwe_wait w = wait_for(timeout_ns);
  return data_op(lock, OP_ACQUIRE, mode, &w);
}

PRWE_TEXT int prw_acquire_read(prw_lock *lock, int64_t timeout_ns) {
  return acquire(lock, PRWE_READ, timeout_ns);
}

PRWE_TEXT int prw_acquire_write(prw_lock *lock, int64_t timeout_ns) {
  return acquire(lock, PRWE_WRITE, timeout_ns);
}

PRWE_TEXT int prw_try_acquire_read(prw_lock *lock) { return acquire(lock, PRWE_READ, 0); }

PRWE_TEXT int prw_try_acquire_write(prw_lock *lock) { return acquire(lock, PRWE_WRITE, 0); }

int prw_acquire_slice(prw_lock *lock, int mode, int64_t deadline_ns, int64_t slice_end_ns) {
  if (!lock || (mode != PRW_MODE_READ && mode != PRW_MODE_WRITE) || slice_end_ns <= 0)
    return EINVAL;
  prwe_wait w = {deadline_ns, slice_end_ns, 0, 0};
  return data_op(lock, OP_ACQUIRE, mode == PRW_MODE_READ ? PRWE_READ : PRWE_WRITE, &w);
}

int prw_cancel(prw_lock *lock) {
  if (!lock) return EINVAL;
  return data_op(lock, OP_CANCEL, 0, NULL);
}

/* release_write is prw_release for anything but a read hold, under its
 * fast_enter: release_alone inlined, else the engine's full path. Out of
 * line and reached by a tail call, as acquire's slow halves are. */
PRWE_TEXT __attribute__((noinline)) static int release_write(prw_lock *lock, prw_thr *t, prw_seg *s, prw_rec *x) {
  int rc = release_alone(&s->e, fast_me(), &x->r);
  if (rc != -1) return fast_exit(t, s, x, rc);
  rc = engine_op(lock, s, &x->r, t->tid, 0, OP_RELEASE, 0, NULL);
  op_end(t);
  return rc;
}

PRWE_TEXT int prw_release(prw_lock *lock) {
  if (!lock) return EINVAL;
  prw_thr *t;
  prw_seg *s;
  prw_rec *x = fast_enter(lock, &t, &s);
  if (!x) return data_op(lock, OP_RELEASE, 0, NULL);
  if (x->r.mode == PRWE_READ) {
    int rc = fast_exit(t, s, x, release_fast(&s->e, fast_me(), &x->r));
    if (rc != -1) return rc;
    return data_op(lock, OP_RELEASE, 0, NULL);
  }
  return release_write(lock, t, s, x);
}

int prw_release_unrepaired(prw_lock *lock) {
  if (!lock) return EINVAL;
  return data_op(lock, OP_RELEASE_UNREPAIRED, 0, NULL);
}

int prw_downgrade(prw_lock *lock) {
  if (!lock) return EINVAL;
  return data_op(lock, OP_DOWNGRADE, 0, NULL);
}

/* Inspection goes to the backend. */

/* inspect_bind is bind for the inspection calls: a segment whose file was
 * truncated under the data plane is EPROTO for them too, whatever the
 * engine's own view of the (zero-filled) pages. */
static int inspect_bind(prw_lock *lock, const prw_ops **ops, uintptr_t *bh) {
  prw_entry *e = lookup(lock);
  if (e && e->seg && seg_broken(e->seg)) return EPROTO;
  return bind(lock, ops, bh);
}

int prw_info(prw_lock *lock, prw_info_t *info) {
  if (!lock || !info) return EINVAL;
  const prw_ops *ops;
  uintptr_t bh;
  int rc = inspect_bind(lock, &ops, &bh);
  return rc ? rc : ops->info(bh, info);
}

int prw_capacity(prw_lock *lock, uint32_t *capacity) {
  if (!lock || !capacity) return EINVAL;
  const prw_ops *ops;
  uintptr_t bh;
  int rc = bind(lock, &ops, &bh);
  return rc ? rc : ops->capacity(bh, capacity);
}

int prw_holders_ex(prw_lock *lock, prw_holder_ex_t *out, size_t cap, size_t *count) {
  if (!lock || !count || (!out && cap > 0)) return EINVAL;
  const prw_ops *ops;
  uintptr_t bh;
  int rc = inspect_bind(lock, &ops, &bh);
  return rc ? rc : ops->holders(bh, out, cap, count);
}

/* prw_holders is prw_holders_ex without the extra fields. */
int prw_holders(prw_lock *lock, prw_holder_t *out, size_t cap, size_t *count) {
  if (!lock || !count || (!out && cap > 0)) return EINVAL;
  prw_holder_ex_t *ex = NULL;
  if (cap > 0 && !(ex = calloc(cap, sizeof *ex))) return ENOMEM;
  int rc = prw_holders_ex(lock, ex, cap, count);
  if (rc == 0 || rc == ERANGE)
    for (size_t i = 0; i < cap && i < *count; i++) out[i] = ex[i].h;
  free(ex);
  return rc;
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

/* kept copies the token (or the file) that lock's entry keeps. */
static int kept(prw_lock *lock, int file, char *buf, size_t *size) {
  prw_entry *e = lookup(lock);
  if (!e) return EBADF;
  int rc = EBADF;
  pthread_mutex_lock(&bind_mu);
  const char *t = file ? e->path : e->token;
  if (live(e, lock) && t) rc = put_string(t, strlen(t), buf, size);
  pthread_mutex_unlock(&bind_mu);
  return rc;
}

int prw_serialize(prw_lock *lock, char *buf, size_t *len) {
  if (!lock || !len) return EINVAL;
  return kept(lock, 0, buf, len);
}

int prw_name(prw_lock *lock, char *buf, size_t *len) {
  if (!lock || !len) return EINVAL;
  return kept(lock, 1, buf, len);
}

int prw_is_anonymous(prw_lock *lock) {
  if (!lock) return EINVAL;
  prw_entry *e = lookup(lock);
  if (!e) return EBADF;
  int anon = (int)__atomic_load_n(&e->anon, __ATOMIC_RELAXED);
  return live(e, lock) ? anon : EBADF;
}

const char *prw_strerror(int err) {
  switch (err) {
  case 0: return "success";
  case EBUSY: return "lock is busy";
  case ETIMEDOUT: return "timed out waiting for the lock";
  case EDEADLK: return "request would deadlock on the caller's own hold";
  case EPERM: return "caller does not hold the lock in the required mode";
  case EOWNERDEAD: return "lock acquired, but a previous writer died holding it";
  case EAGAIN:
    return "lock is full: every holder slot (one per thread holding or waiting) or, when "
           "attaching to an anonymous lock, every attachment entry (one per process) is in use; "
           "create the lock with a larger capacity (prw_create_ex, prw_open_ex; at most "
           PRW_STR(PRW_MAX_CAPACITY) ")";
  case EPROTO: return "not a valid prwlock segment or token, or an incompatible layout version";
  case EBADF: return "lock handle is closed, or not a live handle";
  case EINTR: return "wait slice ended; the wait is still queued";
  case ELOOP: return "refusing to open a symbolic link";
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
  case ENOTSUP:
    return "not supported on this lock (a local lock has no fencing token; a remote lock has "
           "no explicit owners)";
  case ENOSYS:
    return "not supported by this build of libprwlock (remote locks need the etcd backend)";
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

/* ------------------------------------------------------------------------
 * What a private copy of this library offers the copy that loaded it (see
 * prw_fork.c): the calls on the rare paths that the public API lacks. */

static int priv_mapping(prw_lock *lock, prwi_mapping *m) {
  const prw_ops *ops;
  uintptr_t bh;
  int rc = bind(lock, &ops, &bh);
  return rc ? rc : ops->mapping(bh, m);
}

static int priv_check(prw_lock *lock, int kind, int slot, int *recovered) {
  const prw_ops *ops;
  uintptr_t bh;
  int rc = bind(lock, &ops, &bh);
  return rc ? rc : ops->check(bh, kind, slot, recovered);
}

static void priv_as_copy(void) { prw_is_copy = 1; }

__attribute__((visibility("default"))) const prwi_private prwlock_private_v1 = {
    PRWI_PRIVATE_ABI, priv_as_copy, priv_mapping, priv_check};

/* ------------------------------------------------------------------------
 * Explicit owners (the prw_*_as calls).
 *
 * A hold of an explicit owner belongs to a value the caller chose (a task,
 * a fiber, a virtual thread), not to the calling thread, so that a runtime
 * which moves its tasks between OS threads can release from any of them.
 * Its record lives in a table of the process keyed by (segment, owner),
 * under own_mu, for as long as it holds or has a wait queued; the data
 * plane is the engine's, as for a thread, with the owner value as the
 * slot's holder and without slotThreadOwner, so that the exit of the thread
 * that happened to acquire ends nothing.
 *
 * One operation per owner at a time: an operation marks the record busy,
 * and another call for the same owner on the same lock meanwhile returns
 * EBUSY at once without touching it. A record is only ever changed by the
 * thread that marked it busy, or by the closer once no operation runs on
 * its segment (the thread publishes its segment with op_begin, as data_op
 * does, so seg_quiesce waits for it).
 *
 * own_mu is a leaf: nothing else is locked while it is held, and it is
 * taken with none of the other mutexes held, so the fork handlers may take
 * it in any order with theirs. A fork child drops every record: the holds
 * stay the parent's, as a thread's do. */

typedef struct own_rec {
  prw_seg *seg;
  uint64_t id;    /* seg->id when the record was made */
  uint64_t owner;
  prwe_rec r;
  int busy;       /* an operation runs on it; under own_mu */
  struct own_rec *next;
} own_rec;

static struct {
  pthread_mutex_t mu;
  own_rec **b; /* buckets, a power of two of them */
  size_t nb, n;
} own = {.mu = PTHREAD_MUTEX_INITIALIZER};

static size_t own_bucket(const prw_seg *s, uint64_t owner, size_t nb) {
  uint64_t h = ((uint64_t)(uintptr_t)s ^ owner) * HMUL;
  return (size_t)(h >> 32) & (nb - 1);
}

/* own_grow doubles the buckets when the chains get long; on failure the
 * table keeps working, with longer chains. Called with own.mu held. */
static void own_grow(void) {
  size_t nb = own.nb ? 2 * own.nb : 64;
  own_rec **b = calloc(nb, sizeof *b);
  if (!b) return;
  for (size_t k = 0; k < own.nb; k++)
    for (own_rec *x = own.b[k]; x;) {
      own_rec *n = x->next;
      size_t j = own_bucket(x->seg, x->owner, nb);
      x->next = b[j];
      b[j] = x;
      x = n;
    }
  free(own.b);
  own.b = b;
  own.nb = nb;
}

/* own_find returns the record of (s, owner), or NULL. Called with own.mu
 * held. */
static own_rec *own_find(prw_seg *s, uint64_t id, uint64_t owner) {
  if (!own.nb) return NULL;
  for (own_rec *x = own.b[own_bucket(s, owner, own.nb)]; x; x = x->next)
    if (x->seg == s && x->id == id && x->owner == owner) return x;
  return NULL;
}

/* own_add makes a record for (s, owner); NULL when out of memory. Called
 * with own.mu held. */
static own_rec *own_add(prw_seg *s, uint64_t id, uint64_t owner) {
  if (own.n >= own.nb) own_grow();
  if (!own.nb) return NULL;
  own_rec *x = calloc(1, sizeof *x);
  if (!x) return NULL;
  prwe_rec init = PRWE_REC_INIT;
  x->seg = s, x->id = id, x->owner = owner, x->r = init;
  size_t j = own_bucket(s, owner, own.nb);
  x->next = own.b[j];
  own.b[j] = x;
  own.n++;
  return x;
}

/* own_drop unlinks and frees x. Called with own.mu held. */
static void own_drop(own_rec *x) {
  for (own_rec **p = &own.b[own_bucket(x->seg, x->owner, own.nb)]; *p; p = &(*p)->next)
    if (*p == x) {
      *p = x->next;
      own.n--;
      free(x);
      return;
    }
}

/* own_abandon_seg ends the holds and waits of every explicit owner on s,
 * which is closing with no operation in flight (seg_quiesce): read holds
 * quietly, write holds as owner-dead, as for threads. */
static void own_abandon_seg(prw_seg *s, const prwe_me *me) {
  pthread_mutex_lock(&own.mu);
  for (size_t k = 0; k < own.nb; k++)
    for (own_rec *x = own.b[k]; x;) {
      own_rec *n = x->next;
      if (x->seg == s) {
        if (x->id == __atomic_load_n(&s->id, __ATOMIC_ACQUIRE) && x->r.slot >= 0)
          prwe_abandon(&s->e, me, &x->r);
        own_drop(x);
      }
      x = n;
    }
  pthread_mutex_unlock(&own.mu);
}

static void own_on_prepare(void) { pthread_mutex_lock(&own.mu); }
static void own_on_parent(void) { pthread_mutex_unlock(&own.mu); }

static void own_on_child(void) {
  pthread_mutex_init(&own.mu, NULL);
  for (size_t k = 0; k < own.nb; k++)
    for (own_rec *x = own.b[k]; x;) {
      own_rec *n = x->next;
      free(x);
      x = n;
    }
  free(own.b);
  own.b = NULL;
  own.nb = own.n = 0;
}

__attribute__((constructor)) static void own_init(void) {
  pthread_atfork(own_on_prepare, own_on_parent, own_on_child);
}

/* own_op runs data-plane operation op of owner on lock, from whichever
 * thread calls. */
static int own_op(prw_lock *lock, uint64_t owner, int op, int mode, prwe_wait *w) {
  if (!lock || owner == 0) return EINVAL;
  prw_entry *e = lookup(lock);
  if (!e) return EBADF;
  if (e->remote) return live(e, lock) ? ENOTSUP : EBADF;
  prw_thr *t;
  int rc = seg_enter(lock, e, &t);
  if (rc) return rc;
  prw_seg *s = e->seg;
  uint64_t id = __atomic_load_n(&s->id, __ATOMIC_ACQUIRE);
  pthread_mutex_lock(&own.mu);
  own_rec *x = own_find(s, id, owner);
  if (x && x->busy) {
    x = NULL;
    rc = EBUSY; /* another thread runs an operation of this owner */
  } else if (!x && op != OP_ACQUIRE) {
    rc = EPERM; /* the owner holds nothing here, nor waits */
  } else if (!x && !(x = own_add(s, id, owner))) {
    rc = ENOMEM;
  } else {
    x->busy = 1;
  }
  pthread_mutex_unlock(&own.mu);
  if (x) {
    rc = engine_op(lock, s, &x->r, owner, 1, op, mode, w);
    /* Nothing held or queued: no record, and no kept slot (explicit
     * owners come and go, as tasks do; layout.go, "Kept slots"). */
    if (x->r.slot < 0) prwe_retire(&s->e, me_get(), &x->r);
    pthread_mutex_lock(&own.mu);
    x->busy = 0;
    if (x->r.slot < 0) own_drop(x);
    pthread_mutex_unlock(&own.mu);
  }
  op_end(t);
  return rc;
}

static int acquire_as(prw_lock *lock, uint64_t owner, int mode, int64_t timeout_ns) {
  prwe_wait w = {timeout_ns, 0, 0, 0};
  if (timeout_ns > 0) {
    int64_t now = prwe_now();
    w.deadline = timeout_ns > INT64_MAX - now ? -1 : now + timeout_ns;
  }
  return own_op(lock, owner, OP_ACQUIRE, mode, &w);
}

int prw_acquire_read_as(prw_lock *lock, uint64_t owner, int64_t timeout_ns) {
  return acquire_as(lock, owner, PRWE_READ, timeout_ns);
}

int prw_acquire_write_as(prw_lock *lock, uint64_t owner, int64_t timeout_ns) {
  return acquire_as(lock, owner, PRWE_WRITE, timeout_ns);
}

int prw_try_acquire_read_as(prw_lock *lock, uint64_t owner) {
  return acquire_as(lock, owner, PRWE_READ, 0);
}

int prw_try_acquire_write_as(prw_lock *lock, uint64_t owner) {
  return acquire_as(lock, owner, PRWE_WRITE, 0);
}

int prw_acquire_slice_as(prw_lock *lock, uint64_t owner, int mode, int64_t deadline_ns,
                         int64_t slice_end_ns) {
  if ((mode != PRW_MODE_READ && mode != PRW_MODE_WRITE) || slice_end_ns <= 0) return EINVAL;
  prwe_wait w = {deadline_ns, slice_end_ns, 0, 0};
  return own_op(lock, owner, OP_ACQUIRE, mode == PRW_MODE_READ ? PRWE_READ : PRWE_WRITE, &w);
}

int prw_cancel_as(prw_lock *lock, uint64_t owner) {
  return own_op(lock, owner, OP_CANCEL, 0, NULL);
}

int prw_release_as(prw_lock *lock, uint64_t owner) {
  return own_op(lock, owner, OP_RELEASE, 0, NULL);
}

int prw_release_unrepaired_as(prw_lock *lock, uint64_t owner) {
  return own_op(lock, owner, OP_RELEASE_UNREPAIRED, 0, NULL);
}

int prw_downgrade_as(prw_lock *lock, uint64_t owner) {
  return own_op(lock, owner, OP_DOWNGRADE, 0, NULL);
}
