/* prwlock: a reader-writer lock shared between processes of one machine.
 *
 * This is the public C API of libprwlock.so (SONAME libprwlock.so.1). The
 * data plane (acquire, release, the waits) is written in C and the rest of
 * the engine in Go; this header is written by hand and is the whole
 * contract. Link with -lprwlock, or use pkg-config (prwlock) or CMake
 * (find_package(prwlock 1 CONFIG REQUIRED), target prwlock::prwlock).
 *
 * Conventions
 * -----------
 * - Every function that returns int returns 0 on success or a positive error
 *   number, as the pthread functions do: an errno value from <errno.h>, or
 *   PRW_EFORKED. errno itself is never read or set.
 * - A prw_lock* is an opaque handle. It is not a pointer to memory: never
 *   dereference it. A handle is valid from the call that returns it until
 *   prw_close. A closed handle is never reissued, so a stale handle gets
 *   EBADF; it can never act on a lock opened later.
 * - Passing NULL where a handle is expected returns EINVAL, except for
 *   prw_close, where NULL is a harmless no-op. A value that is not a live
 *   handle (closed, or never returned by this library) returns EBADF.
 * - Any function may also return EIO if the library hits an internal error
 *   (a bug). The library never aborts the process on such an error.
 * - Every function is thread-safe. A handle may be shared by all threads of
 *   a process.
 *
 * Ownership
 * ---------
 * Holds belong to the calling thread, as with pthread rwlocks: the thread
 * that acquires must be the one that releases. A thread may hold one lock in
 * one mode at a time. Read holds are recursive (each acquire needs its own
 * release); write holds are not. A thread that holds the lock and asks for it
 * again in a conflicting mode gets EDEADLK instead of hanging.
 *
 * Explicit owners: the prw_*_as calls take the owner as an argument
 * instead, for runtimes that move a task between OS threads (goroutines,
 * virtual threads, fibers, async tasks); see "Explicit owners" below.
 *
 * Fairness: a waiting writer stops new readers from entering, and readers
 * that arrived while a writer held the lock go before the next writer, so
 * neither side starves.
 *
 * Holder death
 * ------------
 * If a process dies (even by SIGKILL) while it holds or waits for the lock,
 * the next process that has to wait for it detects the death and reclaims
 * its slots. A dead reader leaves nothing behind. A dead writer leaves the
 * data it protected possibly half-written, so the lock is marked
 * "owner dead": every acquisition then succeeds with EOWNERDEAD instead of 0
 * (the lock IS held), until a thread that got EOWNERDEAD while acquiring in
 * write mode releases its write hold. That writer is expected to have
 * repaired the data (prw_release_unrepaired leaves the mark for the next).
 *
 * "Dies" means: the process is gone (a zombie thread-group leader whose
 * other threads still run is alive), its pid now belongs to another
 * process, or it no longer maps the lock (it called exec while holding).
 * A thread that exits while holding dies the same way: its holds end at
 * the process's next call into the library, from any thread. A process
 * that is stopped (SIGSTOP, a debugger) while it only waits never holds
 * the others up for more than a poll interval; one stopped while it holds
 * still blocks them, as any holder does. Processes in another PID
 * namespace are never declared dead.
 *
 * Fork
 * ----
 * A child forked without exec (a prefork server's worker, multiprocessing's
 * fork start method) can make every call, on the handles it inherited and
 * on new ones. Acquire, release, downgrade and the waits run in C on the
 * shared memory: in the child they work at once and load nothing. Holds the
 * parent has stay the parent's; the child holds nothing until it acquires.
 * The calls that need the library's engine (create, open, deserialize,
 * unlink, info, holders, close of a handle used through it, and the
 * liveness checks of a wait that lasts longer than a poll interval) run in
 * a private copy of the library that the library loads by itself in the
 * child, on the first such call, once per process: a Go runtime does not
 * survive fork, so the copy comes with its own (from a memfd, under a path
 * of the child's own). It costs milliseconds, a few MB and a few threads
 * (figures in docs/bench). An inherited handle is attached to the copy by
 * its token on first need; if the lock's file was removed meanwhile, those
 * calls return ENOENT (the data plane keeps working).
 *
 * PRW_EFORKED remains for a child where no copy can be loaded: memfd_create
 * or /proc unavailable (a sandbox), the library's file replaced or removed
 * and the descriptor kept on it closed, or the static TLS of the process
 * used up by the copies of its ancestors (about a hundred generations of
 * nested forks that each needed the engine). The calls that need the
 * engine then return PRW_EFORKED at once; the data plane keeps working, but
 * a wait there cannot recover dead holders (it still ends at its deadline).
 * A child created with vfork() or posix_spawn() that execs at once is fine.
 * A raw clone() bypasses pthread_atfork and is not supported.
 *
 * Remote locks (etcd)
 * -------------------
 * A name that starts with etcd:// or etcds:// is the URL of a lock kept by
 * an etcd cluster, shared by processes of many machines:
 *   etcd://[user[:password]@]host[:port][,host[:port]...]/NAME[?options]
 * Options: ttl=SECONDS (session lease, default 10), timeout=DURATION
 * (per request, default 5s), and for etcds:// cacert=, cert=, key= (PEM
 * files). Every function works on such a handle as on a local one, with
 * these differences:
 * - a holder's death is seen when its lease expires, up to the TTL later;
 * - each hold has a fencing token (prw_fence);
 * - a hold whose lease expired, or could not be renewed in time, is lost:
 *   the next call on it (prw_release, prw_downgrade, prw_fence, a
 *   recursive prw_acquire_read) returns ENOTRECOVERABLE;
 * - ENOTCONN: the cluster did not answer in time (unreachable, or no
 *   quorum); nothing was granted;
 * - the token is the URL (it carries the password, if the URL has one);
 * - prw_holders' pid and tid are the holder's on its own machine;
 * - there is no capacity: prw_capacity and prw_info report 0, and the
 *   capacity argument of prw_open_ex is ignored;
 * - a library built without the etcd backend returns ENOSYS from prw_open.
 *
 * Capacity
 * --------
 * A lock has a fixed capacity, chosen by its creator: that many threads may
 * hold or wait for it at once (each takes a slot of its holder table until
 * it releases or stops waiting), and that many processes may have an
 * anonymous lock open at once. PRW_DEFAULT_CAPACITY is meant to be out of
 * reach; prw_create_ex and prw_open_ex ask for up to PRW_MAX_CAPACITY.
 * Beyond it an acquire, or opening an anonymous lock, returns EAGAIN at
 * once, never after a wait. The lock's file is sparse: memory is allocated
 * only for the parts of the table that have been used.
 *
 * Process exit
 * ------------
 * At normal process exit (exit() or return from main) the library closes
 * the anonymous locks the process still has open, so that their files are
 * removed when the process was their last user; this waits at most about one
 * second. A fork child closes those its private copy attached (see Fork).
 * Named locks are left
 * to the kernel: their holds, like those of a killed process, are reclaimed
 * by the next process that waits for them.
 */
#ifndef PRWLOCK_H
#define PRWLOCK_H

#include <errno.h>  /* the return codes: EOWNERDEAD, EDEADLK, ETIMEDOUT... */
#include <stddef.h> /* size_t */
#include <stdint.h> /* int64_t, uint32_t, uint64_t */

#ifdef __cplusplus
extern "C" {
#endif

#define PRW_VERSION_MAJOR 1
#define PRW_VERSION_MINOR 0
#define PRW_VERSION_PATCH 0

/* Flags for prw_open. */
#define PRW_CREATE 1    /* create the lock if it does not exist */
#define PRW_EXCL 2      /* with PRW_CREATE: fail with EEXIST if it exists */
#define PRW_MULTIUSER 4 /* accept a lock shared between users (see prw_open) */

/* Capacity of a lock (see Capacity above): the default, and the most that
 * prw_create_ex and prw_open_ex accept. */
#define PRW_DEFAULT_CAPACITY 1024
#define PRW_MAX_CAPACITY 4096

/* Modes, as reported in prw_holder_t.mode. */
#define PRW_MODE_READ 1
#define PRW_MODE_WRITE 2

/* Returned, in a child forked without exec where the library cannot load
 * its private copy, by the functions that need the engine (see Fork).
 * Larger than every errno value. */
#define PRW_EFORKED 1024

/* A handle to an open lock. Opaque: see Conventions above. */
typedef struct prw_lock prw_lock;

/* A snapshot of a lock's state, filled by prw_info. Booleans are 0 or 1. */
typedef struct prw_info {
  uint32_t readers;         /* threads holding read */
  uint32_t writer_pid;      /* writer holding or draining the lock, else 0 */
  uint32_t writer_tid;      /* its thread id, else 0 */
  uint32_t writer_active;   /* 1: the writer holds the lock; 0: it still
                               waits for readers to leave, or no writer */
  uint32_t waiting_readers;
  uint32_t waiting_writers; /* includes a draining writer */
  uint32_t capacity;        /* holder slots; each holder or waiter uses one */
  uint32_t used_slots;
  uint32_t attached;        /* processes that have the lock open */
  uint32_t owner_dead;      /* 1: acquisitions return EOWNERDEAD */
  uint64_t recoveries;      /* slots of dead processes reclaimed, ever */
  uint64_t owner_deaths;    /* writers that died holding the lock, ever */
} prw_info_t;

/* One slot of the holder table, filled by prw_holders: a hold or a wait. */
typedef struct prw_holder {
  uint32_t pid;
  uint32_t tid;
  int32_t mode;     /* PRW_MODE_READ or PRW_MODE_WRITE */
  int32_t waiting;  /* 1: waits for mode; 0: holds it */
  uint32_t count;   /* recursion depth of a read hold */
  uint32_t reserved;
  int64_t since_ns; /* CLOCK_MONOTONIC ns when the hold or wait began (or was
                       first seen by an inspector); 0 if unknown */
} prw_holder_t;

/* prw_create creates a new anonymous lock and stores its handle in *out.
 * The lock has a unique name; other processes reach it through its token
 * (prw_serialize, prw_deserialize). Its file is removed when the last
 * process using it closes it or exits (or, after crashes, when a later
 * process notices that every user is dead).
 *
 * Returns:
 *   0           success; *out is a new handle
 *   EINVAL      out is NULL
 *   EACCES, ENOSPC, EMFILE, ENOMEM, ...
 *               the file could not be created (errno of the system call)
 *   PRW_EFORKED in a fork child that cannot load the library's copy (see Fork)
 * On failure *out (if out is not NULL) is set to NULL. */
int prw_create(prw_lock **out);

/* prw_create_ex is prw_create with a capacity (see Capacity above): the
 * number of threads that may hold or wait for the lock at once, and of
 * processes that may have it open at once. It is rounded up to a multiple
 * of 64; 0 means PRW_DEFAULT_CAPACITY.
 *
 * Returns: as prw_create, and
 *   EINVAL      capacity > PRW_MAX_CAPACITY */
int prw_create_ex(unsigned int capacity, prw_lock **out);

/* prw_open opens the lock called name and stores its handle in *out.
 * A name without '/' names /dev/shm/prwlock.<name>; a name containing '/' is
 * a file path; a name starting with etcd:// or etcds:// is a remote lock
 * (see Remote locks: it always exists, PRW_EXCL is EINVAL, mode and
 * PRW_MULTIUSER do not apply). flags is 0 or PRW_CREATE, optionally with PRW_EXCL, and
 * optionally PRW_MULTIUSER. mode is the permission of a lock this call
 * creates, applied exactly (no umask); 0 means 0600. The lock stays until
 * prw_unlink removes it.
 *
 * Ownership. Without PRW_MULTIUSER an existing lock file must be owned by
 * the caller's effective uid or by root, and must not be writable by users
 * other than its owner (no group or other write bit), or the open fails
 * with EACCES: another local user could have planted it (anyone can create
 * files in /dev/shm) and, attached, could break the lock's exclusion. The
 * check is made on the opened file, not its name. PRW_MULTIUSER accepts any
 * owner and mode, for a lock meant to be shared between users, and is
 * needed to create one with group or other write bits in mode. Share such
 * a lock by a path in a directory that only the group can write, with mode
 * 0660, rather than by a bare name. Its token carries the opt-in (see
 * prw_deserialize).
 *
 * Returns:
 *   0           success; *out is a new handle
 *   EINVAL      name or out is NULL; name is not a valid lock name (empty,
 *               "." or "..", a path with a ".." component or a trailing
 *               '/', or too long); flags has unknown bits; PRW_EXCL without
 *               PRW_CREATE; mode has bits outside 0777; or PRW_CREATE with
 *               group or other write bits in mode but no PRW_MULTIUSER
 *   ENOENT      no such lock and PRW_CREATE not given
 *   EEXIST      PRW_CREATE|PRW_EXCL and the lock exists
 *   EACCES      permission denied by the file's mode; or, without
 *               PRW_MULTIUSER, the file belongs to a user other than the
 *               caller and root, or others can write it (see Ownership)
 *   EPROTO      the file is not a prwlock segment, or its layout version is
 *               incompatible with this library
 *   ETIMEDOUT   the file's creator did not finish initialising it within
 *               about 5 seconds
 *   EAGAIN      the lock is anonymous (opened by its path) and as many
 *               processes as its capacity have it open (see Capacity)
 *   other errno values of open, ftruncate or mmap (EISDIR, ELOOP for a
 *               symbolic link, ENOSPC, EMFILE, ENOMEM, ...)
 *   ENOTCONN    remote lock: the etcd cluster did not answer in time
 *   ENOSYS      remote lock: this library was built without the etcd backend
 *   PRW_EFORKED in a fork child that cannot load the library's copy (see Fork)
 * On failure *out (if out is not NULL) is set to NULL. */
int prw_open(const char *name, int flags, unsigned int mode, prw_lock **out);

/* prw_open_ex is prw_open with the capacity of a lock this call creates, as
 * for prw_create_ex; opening an existing lock ignores it (its creator
 * chose). 0 means PRW_DEFAULT_CAPACITY.
 *
 * Returns: as prw_open; EINVAL also when capacity > PRW_MAX_CAPACITY. */
int prw_open_ex(const char *name, int flags, unsigned int mode, unsigned int capacity,
                prw_lock **out);

/* prw_close closes the handle. Passing NULL is a harmless no-op.
 * If this was the process's last handle to the lock, the holds that threads
 * of this process still have on it are released: read holds quietly, a write
 * hold by marking the lock owner-dead (later acquirers get EOWNERDEAD), just
 * as if the process had died. The lock is never left wedged. Threads of this
 * process blocked in an acquire on the lock when its last handle closes
 * return EBADF. An anonymous lock's file is removed when its last user
 * closes it.
 *
 * Returns:
 *   0           success, or lock is NULL
 *   EBADF       lock is not a live handle (already closed, or garbage) */
int prw_close(prw_lock *lock);

/* prw_unlink removes the named lock's file (see prw_open for names).
 * Processes that have it open keep using it; a later prw_open with
 * PRW_CREATE makes a new, different lock. Only a file that really is a
 * prwlock segment, owned by the caller's effective uid or by root, is
 * removed, whatever its mode; another user's lock is left to its owner (or
 * to rm).
 *
 * Returns:
 *   0           success
 *   EINVAL      name is NULL or not a valid lock name (see prw_open)
 *   ENOENT      no such lock
 *   EPROTO      the file exists but is not a prwlock segment; it is kept
 *   EACCES      the file is owned by another user (not root); it is kept
 *   EACCES, EPERM, ...  errno of unlink
 *   PRW_EFORKED in a fork child that cannot load the library's copy (see Fork) */
int prw_unlink(const char *name);

/* prw_acquire_read takes the lock for reading for the calling thread.
 * timeout_ns < 0 waits forever, 0 tries once, > 0 waits at most that many
 * nanoseconds (CLOCK_MONOTONIC). Never returns EINTR: signals do not cut the
 * wait short. A thread that already holds read takes it once more
 * (recursive); each acquire needs a release.
 *
 * Returns:
 *   0           the lock is held for reading
 *   EOWNERDEAD  the lock IS held for reading, but a writer died holding it
 *               (see Holder death)
 *   EBUSY       timeout_ns == 0 and the lock was not free for readers
 *   ETIMEDOUT   timeout_ns > 0 and it expired
 *   EDEADLK     the calling thread holds the lock for writing
 *   EAGAIN      the lock is full: as many threads as its capacity hold or
 *               wait for it (see Capacity); returned at once
 *   EPROTO      the shared state is corrupt
 *   EINVAL      lock is NULL
 *   EBADF       lock is not a live handle, or was closed during the wait
 *   ENOMEM      the calling thread's first call could not allocate its
 *               record */
int prw_acquire_read(prw_lock *lock, int64_t timeout_ns);

/* prw_acquire_write takes the lock for writing for the calling thread.
 * timeout_ns as for prw_acquire_read.
 *
 * Returns:
 *   0           the lock is held for writing
 *   EOWNERDEAD  the lock IS held for writing, but a writer died holding it;
 *               repair the data, then prw_release clears the state
 *   EBUSY       timeout_ns == 0 and the lock was not free
 *   ETIMEDOUT   timeout_ns > 0 and it expired
 *   EDEADLK     the calling thread already holds the lock (read or write)
 *   EAGAIN, EPROTO, EINVAL, EBADF  as for prw_acquire_read */
int prw_acquire_write(prw_lock *lock, int64_t timeout_ns);

/* prw_acquire_slice waits for the lock in mode (PRW_MODE_READ or
 * PRW_MODE_WRITE) for callers that must regain control now and then while
 * they wait, such as an interpreter that runs signal handlers. Both times
 * are absolute CLOCK_MONOTONIC nanoseconds. At slice_end_ns it returns EINTR
 * with the wait still queued: the thread keeps its place (a queued writer
 * keeps new readers out), and calling prw_acquire_slice again with the same
 * mode resumes the wait. prw_cancel withdraws it; so does prw_release, or a
 * request in the other mode. deadline_ns < 0 waits forever; 0 tries once.
 *
 * Returns:
 *   0, EOWNERDEAD  the lock is held, as for prw_acquire_read/_write
 *   EINTR       slice_end_ns passed; the wait is still queued
 *   ETIMEDOUT   deadline_ns passed; the wait is withdrawn
 *   EBUSY       deadline_ns == 0 and the lock was not free
 *   EINVAL      lock is NULL, mode is not a mode, or slice_end_ns <= 0
 *   EDEADLK, EAGAIN, EPROTO, EBADF  as for prw_acquire_read */
int prw_acquire_slice(prw_lock *lock, int mode, int64_t deadline_ns, int64_t slice_end_ns);

/* prw_cancel withdraws the wait prw_acquire_slice left queued for the
 * calling thread. If the lock was granted to that wait meanwhile, it is
 * given back: the thread holds nothing afterwards.
 *
 * Returns:
 *   0           the wait was withdrawn
 *   EPERM       the calling thread has no queued wait on this lock
 *   EPROTO, EINVAL, EBADF  as for prw_release */
int prw_cancel(prw_lock *lock);

/* prw_try_acquire_read is prw_acquire_read(lock, 0). */
int prw_try_acquire_read(prw_lock *lock);

/* prw_try_acquire_write is prw_acquire_write(lock, 0). */
int prw_try_acquire_write(prw_lock *lock);

/* prw_release drops the calling thread's hold, read or write. A recursive
 * read hold drops one level. Releasing a write hold whose acquisition
 * returned EOWNERDEAD vouches for the data: the lock is marked consistent.
 *
 * Returns:
 *   0           success
 *   EPERM       the calling thread holds nothing on this lock
 *   ENOTRECOVERABLE  the hold was already gone: another process judged the
 *               thread's process dead and recovered it (only a process it
 *               cannot judge, such as one whose liveness checks were
 *               defeated, sees this). Nothing was written; nothing is held
 *   EPROTO      the shared state is corrupt
 *   EINVAL      lock is NULL
 *   EBADF       lock is not a live handle */
int prw_release(prw_lock *lock);

/* prw_release_unrepaired is prw_release for a thread that got EOWNERDEAD
 * but did not repair the data (it gave up, or could not pass the news on):
 * the lock stays marked owner-dead for the next writer.
 *
 * Returns: as prw_release. */
int prw_release_unrepaired(prw_lock *lock);

/* prw_downgrade turns the calling thread's write hold into a read hold,
 * atomically: no writer gets in between, and readers waiting behind the
 * writer are admitted with it. Release the read hold with prw_release.
 *
 * Returns:
 *   0           success
 *   EPERM       the calling thread does not hold the lock for writing
 *   EPROTO, EINVAL, EBADF  as for prw_release */
int prw_downgrade(prw_lock *lock);

/* Explicit owners
 * ---------------
 * The calls below are the data-plane calls above with one more argument,
 * owner: the hold belongs to that value instead of the calling OS thread.
 * An owner is any nonzero 64-bit number the caller chooses to name a task
 * of its own (a goroutine, a virtual thread, a fiber, an asyncio task, a
 * request); the library gives it no other meaning. Its holds can be
 * released, downgraded or cancelled from any thread of the process.
 *
 * - Scope: an owner is local to the process, and to the lock's file: the
 *   same value used on two locks names two independent holders, and the
 *   same value in two processes names two different owners.
 * - Rules: exactly those of the per-thread calls, applied to the owner.
 *   EDEADLK when the owner asks again in a conflicting mode, EPERM when the
 *   owner holds nothing, recursive read holds, EOWNERDEAD, prw_release_as
 *   vouching for the data after EOWNERDEAD. Each call's return codes are
 *   those of the per-thread call of the same name, plus those listed below.
 * - Owners and threads are distinct holders, even with equal numbers. A hold
 *   taken by a per-thread call cannot be released with a prw_*_as call,
 *   and a hold of an owner cannot be released with a per-thread call: both
 *   return EPERM (nothing is held by that holder). Mixing them in one
 *   thread is as between two threads: an owner asking for write while the
 *   calling thread itself holds read waits (it does not get EDEADLK).
 * - Lifetime: an owner's holds last until released, until the process dies
 *   (other processes recover them, as for any holder; a write hold leaves
 *   the lock owner-dead), or until the process closes its last handle on
 *   the lock's file (as prw_close does for threads: read holds end quietly,
 *   write holds as owner-dead). The exit of the thread that acquired ends
 *   nothing.
 * - One call per owner at a time: while a call for an owner runs (say a
 *   blocking acquire), another call for the same owner on the same lock
 *   returns EBUSY at once and changes nothing. Use an owner from one task,
 *   as a thread uses its own holds.
 * - Fork: a child does not inherit its parent's owners' holds; there the
 *   owners hold nothing (EPERM), as the parent's threads' holds are not the
 *   child's.
 * - Remote locks (etcd://) have no explicit owners yet: ENOTSUP.
 * - prw_holders and prw_info report such a hold with the low 32 bits of the
 *   owner as its tid.
 *
 * Returns, in addition to those of the per-thread call:
 *   EINVAL      owner is 0
 *   EBUSY       another call for this owner on this lock is in progress
 *               (for the try and acquire calls, EBUSY also keeps its own
 *               meaning: the lock was not free)
 *   EPERM       also: the hold was taken by a per-thread call
 *   ENOTSUP     the lock is remote
 *   ENOMEM      the owner's record could not be allocated */
int prw_acquire_read_as(prw_lock *lock, uint64_t owner, int64_t timeout_ns);
int prw_acquire_write_as(prw_lock *lock, uint64_t owner, int64_t timeout_ns);
int prw_try_acquire_read_as(prw_lock *lock, uint64_t owner);
int prw_try_acquire_write_as(prw_lock *lock, uint64_t owner);
int prw_acquire_slice_as(prw_lock *lock, uint64_t owner, int mode, int64_t deadline_ns,
                         int64_t slice_end_ns);
int prw_cancel_as(prw_lock *lock, uint64_t owner);
int prw_release_as(prw_lock *lock, uint64_t owner);
int prw_release_unrepaired_as(prw_lock *lock, uint64_t owner);
int prw_downgrade_as(prw_lock *lock, uint64_t owner);

/* prw_fence stores in *fence the fencing token of the calling thread's
 * hold on a remote lock: a number that grows with every hold granted after
 * it in a conflicting mode (the etcd revision at which the hold was
 * queued). Pass it to the storage the lock protects and let the storage
 * refuse any token smaller than the largest it has seen: a holder that lost
 * its lease but has not noticed yet is then refused.
 *
 * Returns:
 *   0           success; *fence is the token
 *   ENOTRECOVERABLE  the hold is lost: its lease expired, or could not be
 *               renewed in time; the thread holds nothing now
 *   EPERM       the calling thread holds nothing on this lock
 *   ENOTSUP     the lock is local: local locks have no fencing token
 *   EINVAL      lock or fence is NULL
 *   EBADF       lock is not a live handle
 *   PRW_EFORKED called in a forked child */
int prw_fence(prw_lock *lock, uint64_t *fence);

/* prw_serialize writes the lock's token, a printable NUL-terminated string
 * shorter than 4096 bytes, to buf. Any process of this machine can pass it to
 * prw_deserialize to open the same lock, anonymous or named.
 * On input *len is the size of buf. On success *len is set to the length of
 * the token, without the NUL. If buf is NULL or too small, nothing is
 * written, *len is set to the size needed (with the NUL) and ERANGE is
 * returned.
 *
 * Returns:
 *   0           success
 *   ERANGE      buf is NULL or *len is too small; *len is the size needed
 *   EINVAL      lock or len is NULL
 *   EBADF       lock is not a live handle */
int prw_serialize(prw_lock *lock, char *buf, size_t *len);

/* prw_deserialize opens the lock that token (from prw_serialize) names and
 * stores a new handle in *out. Close it with prw_close as any other.
 * The file must pass prw_open's ownership check. The token of a handle
 * opened with PRW_MULTIUSER carries that opt-in, pinned to the uid that
 * owned the file: it is accepted for a file still owned by that uid only.
 * So a token is as trustworthy as whoever hands it over: accept tokens only
 * from processes you would let choose the lock.
 *
 * Returns:
 *   0           success; *out is a new handle
 *   EINVAL      token or out is NULL, or token is not a prwlock token
 *   ENOENT      the lock no longer exists: its file is gone, or is now
 *               another lock or file than the one the token was made for
 *   EPROTO      the token was made by an incompatible version of the
 *               library, or its file is not a prwlock segment
 *   EACCES      as for prw_open without PRW_MULTIUSER, or, for a token
 *               that carries the opt-in, the file's owner is not the uid
 *               the token names
 *   EAGAIN, ETIMEDOUT, ...  as for prw_open
 *   PRW_EFORKED in a fork child that cannot load the library's copy (see Fork)
 * On failure *out (if out is not NULL) is set to NULL. */
int prw_deserialize(const char *token, prw_lock **out);

/* prw_name writes the path of the lock's file (for an anonymous lock, its
 * generated path), with the same buffer and ERANGE rules as prw_serialize.
 *
 * Returns: 0, ERANGE, EINVAL, EBADF as for prw_serialize. */
int prw_name(prw_lock *lock, char *buf, size_t *len);

/* prw_is_anonymous tells whether the lock was made by prw_create (or is a
 * deserialized anonymous lock).
 *
 * Returns:
 *   1           anonymous
 *   0           named
 *   EINVAL      lock is NULL
 *   EBADF       lock is not a live handle */
int prw_is_anonymous(prw_lock *lock);

/* prw_info fills *info with a snapshot of the lock's state. Holds of dead
 * processes still count until a waiter reclaims them.
 *
 * Returns:
 *   0           success
 *   EINVAL      lock or info is NULL
 *   EBADF       lock is not a live handle
 *   EPROTO      the shared state is corrupt
 *   PRW_EFORKED in a fork child that cannot load the library's copy (see Fork) */
int prw_info(prw_lock *lock, prw_info_t *info);

/* prw_capacity stores the lock's capacity (see Capacity), as its creator
 * chose it, in *capacity. Unlike prw_info it costs no scan of the lock's
 * tables, so it suits an error path (EAGAIN).
 *
 * Returns:
 *   0           success
 *   EINVAL      lock or capacity is NULL
 *   EBADF       lock is not a live handle
 *   PRW_EFORKED called in a forked child */
int prw_capacity(prw_lock *lock, uint32_t *capacity);

/* prw_holders copies a snapshot of the holder table (holds and waits, of
 * all processes) to out[0..cap). *count is set to the number of entries in
 * the snapshot. If that is more than cap, the first cap entries are copied
 * and ERANGE is returned; out may be NULL when cap is 0, to ask for the
 * count.
 *
 * Returns:
 *   0           success; out[0..*count) is filled
 *   ERANGE      more than cap entries; *count is how many there are
 *   EINVAL      lock or count is NULL, or out is NULL with cap > 0
 *   EBADF, EPROTO, PRW_EFORKED  as for prw_info */
int prw_holders(prw_lock *lock, prw_holder_t *out, size_t cap, size_t *count);

/* prw_strerror returns a static, constant description of err, one of the
 * codes above; it never returns NULL. Works in a forked child. */
const char *prw_strerror(int err);

/* prw_version returns the library's version, "MAJOR.MINOR.PATCH", matching
 * the PRW_VERSION_* macros of the header it was built with. Works in a
 * forked child. */
const char *prw_version(void);

#ifdef __cplusplus
}
#endif

#endif /* PRWLOCK_H */
