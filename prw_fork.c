/* prw_fork.c: the engine of a child forked without exec.
 *
 * A Go runtime does not survive fork(): the child has only the forking
 * thread, and the runtime's own threads, locks held by them and its
 * scheduler state are gone, so a call into the inherited runtime can hang
 * forever. What works is a second, private copy of the library in the
 * child, with a runtime of its own. glibc's dlopen returns an object that
 * is already loaded when the path string, or the file (device and inode),
 * matches one; so the copy must come from a new file under a new path: a
 * memfd holding the library's bytes, opened as /proc/<pid>/fd/<n>. The
 * memfd stays open for the life of the process, so that its path keeps
 * naming it, and every dlopen handle this line of processes ever got is
 * remembered: a path that an ancestor used (pid reuse) would hand back that
 * ancestor's dead copy, which is refused and retried under another path.
 *
 * The copy is loaded lazily, by the first call in the child that needs the
 * engine, once per process (a grandchild loads its own). Costs are in
 * README.md ("Fork"). The library's bytes come from a descriptor opened at
 * load time and kept (close-on-exec), checked against the device and inode
 * seen at load, so that the copy is the very library the parent runs even
 * if the file was replaced since; failing that, from the path, with the
 * same check. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "prw_shim.h"

uint64_t prwi_fork_epoch;

/* The private copy's functions, found with dlsym. */
typedef struct prw_copy_fns {
  int (*create)(unsigned int, prw_lock **);
  int (*open)(const char *, int, unsigned int, unsigned int, prw_lock **);
  int (*deserialize)(const char *, prw_lock **);
  int (*close)(prw_lock *);
  int (*unlink)(const char *);
  int (*serialize)(prw_lock *, char *, size_t *);
  int (*name)(prw_lock *, char *, size_t *);
  int (*is_anonymous)(prw_lock *);
  int (*info)(prw_lock *, prw_info_t *);
  int (*capacity)(prw_lock *, uint32_t *);
  int (*holders)(prw_lock *, prw_holder_ex_t *, size_t, size_t *);
  /* The data plane of remote locks, which the copy runs itself. */
  int (*acquire_read)(prw_lock *, int64_t);
  int (*acquire_write)(prw_lock *, int64_t);
  int (*acquire_slice)(prw_lock *, int, int64_t, int64_t);
  int (*release)(prw_lock *);
  int (*release_unrepaired)(prw_lock *);
  int (*cancel)(prw_lock *);
  int (*downgrade)(prw_lock *);
  int (*fence)(prw_lock *, uint64_t *);
  const char *(*version)(void);
  const prwi_private *priv;
} prw_copy_fns;

static struct {
  pthread_mutex_t mu; /* serializes loading; held across fork */

  /* Where the library's bytes are. */
  char *path;  /* as the dynamic loader reported it */
  int src_fd;  /* opened at load, close-on-exec; -1 if none */
  dev_t dev;   /* identity of the file at load */
  ino_t ino;
  int have_id; /* dev/ino are known */

  /* The copy of this process. */
  uint64_t epoch; /* fork epoch it was loaded in; 0: none */
  prw_copy_fns fns;
  int memfd;

  /* dlopen handles ever returned in this line of processes. */
  void **seen;
  size_t nseen, capseen;
} cp = {.mu = PTHREAD_MUTEX_INITIALIZER, .src_fd = -1, .memfd = -1};

/* The ops of the copy. Only one copy is usable per process, so they read
 * cp.fns, which is complete before prwi_copy_ops publishes them. */
#define H(bh) ((prw_lock *)(bh))
static int c_create(unsigned int c, uintptr_t *bh) { return cp.fns.create(c, (prw_lock **)bh); }
static int c_open(const char *n, int f, unsigned int m, unsigned int c, uintptr_t *bh) {
  return cp.fns.open(n, f, m, c, (prw_lock **)bh);
}
static int c_deserialize(const char *t, uintptr_t *bh) {
  return cp.fns.deserialize(t, (prw_lock **)bh);
}
static int c_close(uintptr_t bh) { return cp.fns.close(H(bh)); }
static int c_unlink(const char *n) { return cp.fns.unlink(n); }
static int c_serialize(uintptr_t bh, char *b, size_t *n) { return cp.fns.serialize(H(bh), b, n); }
static int c_name(uintptr_t bh, char *b, size_t *n) { return cp.fns.name(H(bh), b, n); }
static int c_is_anonymous(uintptr_t bh) { return cp.fns.is_anonymous(H(bh)); }
static int c_info(uintptr_t bh, prw_info_t *i) { return cp.fns.info(H(bh), i); }
static int c_capacity(uintptr_t bh, uint32_t *c) { return cp.fns.capacity(H(bh), c); }
static int c_holders(uintptr_t bh, prw_holder_ex_t *o, size_t c, size_t *n) {
  return cp.fns.holders(H(bh), o, c, n);
}
static int c_mapping(uintptr_t bh, prwi_mapping *m) { return cp.fns.priv->mapping(H(bh), m); }
static int c_check(uintptr_t bh, int kind, int slot, int *recovered) {
  return cp.fns.priv->check(H(bh), kind, slot, recovered);
}
/* A remote lock's calls go to the copy's public functions, which run them
 * for the calling thread (the same kernel thread: tid is the copy's to
 * find). The copy ends the holds of its exited threads itself. */
static int c_r_acquire(uintptr_t bh, uint32_t tid, int mode, int64_t deadline, int64_t slice_end) {
  (void)tid;
  if (slice_end > 0) return cp.fns.acquire_slice(H(bh), mode, deadline, slice_end);
  int64_t timeout = deadline;
  if (deadline > 0) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    timeout = deadline > now ? deadline - now : 1;
  }
  return (mode == PRW_MODE_READ ? cp.fns.acquire_read : cp.fns.acquire_write)(H(bh), timeout);
}
static int c_r_release(uintptr_t bh, uint32_t tid, int unrepaired) {
  (void)tid;
  return (unrepaired ? cp.fns.release_unrepaired : cp.fns.release)(H(bh));
}
static int c_r_cancel(uintptr_t bh, uint32_t tid) {
  (void)tid;
  return cp.fns.cancel(H(bh));
}
static int c_r_downgrade(uintptr_t bh, uint32_t tid) {
  (void)tid;
  return cp.fns.downgrade(H(bh));
}
static int c_r_fence(uintptr_t bh, uint32_t tid, uint64_t *f) {
  (void)tid;
  return cp.fns.fence(H(bh), f);
}
static int c_r_abandon(uintptr_t bh, uint32_t tid) {
  (void)bh, (void)tid;
  return 0;
}
#undef H

static const prw_ops copy_ops = {
    .create = c_create,
    .open = c_open,
    .deserialize = c_deserialize,
    .close = c_close,
    .unlink = c_unlink,
    .serialize = c_serialize,
    .name = c_name,
    .is_anonymous = c_is_anonymous,
    .info = c_info,
    .capacity = c_capacity,
    .holders = c_holders,
    .mapping = c_mapping,
    .check = c_check,
    .r_acquire = c_r_acquire,
    .r_release = c_r_release,
    .r_cancel = c_r_cancel,
    .r_downgrade = c_r_downgrade,
    .r_fence = c_r_fence,
    .r_abandon = c_r_abandon,
};

/* Set once the copy of the current epoch is loaded. */
static const prw_ops *current;
static uint64_t current_epoch;

void prwi_fork_init(void *self_addr) {
  Dl_info di;
  if (!dladdr(self_addr, &di) || !di.dli_fname || di.dli_fname[0] == 0) return;
  cp.path = strdup(di.dli_fname);
  /* A library loaded from /proc/<pid>/fd/<n> is a private copy (ours, or
   * one a host made by hand): its loader keeps the bytes, and the path may
   * not outlive that process. Keep no descriptor for it. */
  if (!cp.path || strncmp(cp.path, "/proc/", 6) == 0) return;
  int fd = open(cp.path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0) return;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return;
  }
  cp.src_fd = fd;
  cp.dev = st.st_dev;
  cp.ino = st.st_ino;
  cp.have_id = 1;
}

static int same_file(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
         (!cp.have_id || (st.st_dev == cp.dev && st.st_ino == cp.ino));
}

/* source_fd returns a descriptor on the library's bytes (the caller closes
 * it if it is not cp.src_fd), or -1. */
static int source_fd(void) {
  /* The descriptor kept from load time may have been closed, or its number
   * reused for another file, by a host that closes descriptors after fork. */
  if (cp.src_fd >= 0 && same_file(cp.src_fd)) return cp.src_fd;
  if (!cp.path) return -1;
  int fd = open(cp.path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0 && !same_file(fd)) {
    close(fd);
    fd = -1;
  }
  return fd;
}

/* copy_bytes copies the whole of src into dst without moving src's file
 * offset, which fork children share. */
static int copy_bytes(int dst, int src) {
  struct stat st;
  if (fstat(src, &st) != 0) return -1;
  off_t off = 0;
  while (off < st.st_size) {
    ssize_t n = sendfile(dst, src, &off, (size_t)(st.st_size - off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
  }
  if (off == st.st_size) return 0;
  /* sendfile refused (or stopped short): read and write what is left. */
  char buf[65536];
  while (off < st.st_size) {
    ssize_t n = pread(src, buf, sizeof buf, off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    for (ssize_t w = 0; w < n;) {
      ssize_t k = pwrite(dst, buf + w, (size_t)(n - w), off + w);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) return -1;
      w += k;
    }
    off += n;
  }
  return 0;
}

static int seen(void *h) {
  for (size_t i = 0; i < cp.nseen; i++)
    if (cp.seen[i] == h) return 1;
  return 0;
}

static int remember(void *h) {
  if (cp.nseen == cp.capseen) {
    size_t n = cp.capseen ? 2 * cp.capseen : 16;
    void **s = realloc(cp.seen, n * sizeof *s);
    if (!s) return -1;
    cp.seen = s;
    cp.capseen = n;
  }
  cp.seen[cp.nseen++] = h;
  return 0;
}

#define SYM(field, name)                                       \
  do {                                                         \
    *(void **)(&f.field) = dlsym(dl, name);                    \
    if (!f.field) return -1;                                   \
  } while (0)

static int resolve(void *dl) {
  prw_copy_fns f;
  SYM(create, "prw_create_ex");
  SYM(open, "prw_open_ex");
  SYM(deserialize, "prw_deserialize");
  SYM(close, "prw_close");
  SYM(unlink, "prw_unlink");
  SYM(serialize, "prw_serialize");
  SYM(name, "prw_name");
  SYM(is_anonymous, "prw_is_anonymous");
  SYM(info, "prw_info");
  SYM(capacity, "prw_capacity");
  SYM(holders, "prw_holders_ex");
  SYM(acquire_read, "prw_acquire_read");
  SYM(acquire_write, "prw_acquire_write");
  SYM(acquire_slice, "prw_acquire_slice");
  SYM(release, "prw_release");
  SYM(release_unrepaired, "prw_release_unrepaired");
  SYM(cancel, "prw_cancel");
  SYM(downgrade, "prw_downgrade");
  SYM(fence, "prw_fence");
  SYM(version, "prw_version");
  SYM(priv, PRWI_PRIVATE_SYMBOL);
  /* Bytes from the same file: the same version, but check rather than
   * trust a file that could have been swapped between the checks. */
  if (strcmp(f.version(), PRW_VERSION_STRING) != 0 || f.priv->abi != PRWI_PRIVATE_ABI) return -1;
  cp.fns = f;
  f.priv->as_copy();
  return 0;
}
#undef SYM

/* open_copy dlopens the copy in memfd under a path new to this line of
 * processes. It returns the descriptor whose path names the loaded copy
 * (the others are closed), or -1. */
static int open_copy(int memfd) {
  int fds[8], n = 0, keep = -1;
  fds[n++] = memfd;
  for (;;) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)getpid(), fds[n - 1]);
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) break;
    if (!seen(dl)) {
      if (remember(dl) == 0 && resolve(dl) == 0) keep = fds[n - 1];
      break;
    }
    /* An ancestor's copy, dead here (pid reuse): never use it; the same
     * file under another descriptor number is a new path. */
    if (n == (int)(sizeof fds / sizeof fds[0])) break;
    int fd = fcntl(fds[n - 1], F_DUPFD_CLOEXEC, 0);
    if (fd < 0) break;
    fds[n++] = fd;
  }
  for (int i = 0; i < n; i++)
    if (fds[i] != keep) close(fds[i]);
  return keep;
}

/* load loads this process's copy. Called with cp.mu held. */
static int load(void) {
  int src = source_fd();
  if (src < 0) return -1;
  int memfd = memfd_create("libprwlock-fork-copy", MFD_CLOEXEC);
  int ok = memfd >= 0 && copy_bytes(memfd, src) == 0;
  if (src != cp.src_fd) close(src);
  if (!ok) {
    if (memfd >= 0) close(memfd);
    return -1;
  }
  int fd = open_copy(memfd);
  if (fd < 0) return -1;
  /* An ancestor's copy is dead here; its descriptor only holds memory. */
  if (cp.memfd >= 0) close(cp.memfd);
  cp.memfd = fd;
  return 0;
}

const prw_ops *prwi_copy_ops(void) {
  uint64_t e = prw_epoch();
  if (__atomic_load_n(&current_epoch, __ATOMIC_ACQUIRE) == e) return current;
  const prw_ops *ops = NULL;
  pthread_mutex_lock(&cp.mu);
  if (cp.epoch == e) {
    ops = &copy_ops;
  } else if (load() == 0) {
    cp.epoch = e;
    ops = &copy_ops;
    current = ops;
    __atomic_store_n(&current_epoch, e, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&cp.mu);
  return ops;
}

void prwi_fork_prepare(void) { pthread_mutex_lock(&cp.mu); }

void prwi_fork_parent(void) { pthread_mutex_unlock(&cp.mu); }

void prwi_fork_child(void) {
  /* The thread that forked took the mutex in prepare; it is the only one
   * left, so a fresh mutex is equivalent and cannot be stuck. */
  pthread_mutex_init(&cp.mu, NULL);
  __atomic_add_fetch(&prwi_fork_epoch, 1, __ATOMIC_RELEASE);
}
