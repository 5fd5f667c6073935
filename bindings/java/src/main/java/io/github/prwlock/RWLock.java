package io.github.prwlock;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A reader-writer lock shared by the processes of one machine (and with C,
 * Go, Python and Node programs using libprwlock on the same lock).
 *
 * <pre>{@code
 * try (RWLock lock = RWLock.open("jobs", RWLock.Options.create());
 *      Guard g = lock.acquireWrite(Duration.ofSeconds(2))) {
 *   if (g.ownerDead()) repair();
 *   ...
 * }
 * }</pre>
 *
 * <p><b>Owners.</b> A hold belongs to the acquiring thread's
 * {@link Thread#threadId()}, passed to the library as an explicit owner, not
 * to the OS thread the call runs on. So virtual threads work: one may yield,
 * sleep or block between acquire and release and resume on another carrier,
 * and {@link Guard#close()} still releases its hold. As with pthread rwlocks,
 * read holds are recursive and a thread that asks again in a conflicting
 * mode gets {@link DeadlockException} instead of hanging.
 *
 * <p><b>Waiting.</b> An acquisition first tries without waiting. A platform
 * thread then waits in the library in bounded slices, checking for
 * interruption between them. A virtual thread must not wait in native code
 * (that pins its carrier, and the holder it waits for may need that
 * carrier), so it hands the wait to a daemon platform thread and parks until
 * that thread reports; each waiting virtual thread uses one such thread while
 * it waits. Timeouts are CLOCK_MONOTONIC deadlines.
 *
 * <p>Instances are thread-safe. Holders that die, even by SIGKILL, are
 * recovered by the next waiter; a dead writer makes acquisitions report
 * {@link Guard#ownerDead()} until a writer releases it repaired.
 */
public final class RWLock implements AutoCloseable {
  /** Options of {@link #open(String, Options)}; immutable. */
  public static final class Options {
    final boolean create, exclusive, multiuser;
    final int mode, capacity;

    private Options(boolean create, boolean exclusive, boolean multiuser, int mode, int capacity) {
      this.create = create;
      this.exclusive = exclusive;
      this.multiuser = multiuser;
      this.mode = mode;
      this.capacity = capacity;
    }

    /** Open an existing lock only. */
    public static Options existing() {
      return new Options(false, false, false, 0, 0);
    }

    /** Create the lock if it does not exist. */
    public static Options create() {
      return new Options(true, false, false, 0, 0);
    }

    /** With create: fail ({@code EEXIST}) if it exists. */
    public Options exclusive() {
      return new Options(create, true, multiuser, mode, capacity);
    }

    /** Accept (or create) a lock shared between users (see prwlock.h, prw_open). */
    public Options multiuser() {
      return new Options(create, exclusive, true, mode, capacity);
    }

    /** Permission bits of a lock this open creates (0 means 0600). */
    public Options mode(int mode) {
      return new Options(create, exclusive, multiuser, mode, capacity);
    }

    /** Holder slots of a lock this open creates (0 means the library's default). */
    public Options capacity(int capacity) {
      return new Options(create, exclusive, multiuser, mode, capacity);
    }
  }

  // How long one native wait may last before it returns to check for
  // interruption or cancellation; the wait stays queued in between.
  private static final long SLICE_NANOS = 50_000_000L;

  private static final ExecutorService WAITERS = Executors.newCachedThreadPool(new ThreadFactory() {
    private final AtomicInteger n = new AtomicInteger();

    @Override
    public Thread newThread(Runnable r) {
      Thread t = new Thread(r, "prwlock-waiter-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    }
  });

  private volatile MemorySegment handle;
  private final String name;

  private RWLock(MemorySegment handle, String name) {
    this.handle = handle;
    this.name = name;
  }

  /** Opens the named lock: a bare name is /dev/shm/prwlock.NAME, a name with '/' a file path. */
  public static RWLock open(String name) {
    return open(name, Options.existing());
  }

  /** Opens, or creates, the named lock. */
  public static RWLock open(String name, Options options) {
    int flags = (options.create ? Native.PRW_CREATE : 0) | (options.exclusive ? Native.PRW_EXCL : 0)
        | (options.multiuser ? Native.PRW_MULTIUSER : 0);
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ValueLayout.ADDRESS);
      int rc = (int) Native.openEx.invokeExact(a.allocateFrom(name), flags, options.mode, options.capacity, out);
      if (rc != 0) throw PrwlockException.of(rc, "open", name);
      return new RWLock(out.get(ValueLayout.ADDRESS, 0), name);
    } catch (Throwable t) {
      throw Native.rethrow(t);
    }
  }

  /** Creates an anonymous lock with the default capacity; share it by {@link #token()}. */
  public static RWLock anonymous() {
    return anonymous(0);
  }

  /** Creates an anonymous lock with that many holder slots (rounded up to a multiple of 64). */
  public static RWLock anonymous(int capacity) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ValueLayout.ADDRESS);
      int rc = (int) Native.createEx.invokeExact(capacity, out);
      if (rc != 0) throw PrwlockException.of(rc, "create", null);
      return new RWLock(out.get(ValueLayout.ADDRESS, 0), null);
    } catch (Throwable t) {
      throw Native.rethrow(t);
    }
  }

  /** Opens the lock a token ({@link #token()}, from any process of this machine) names. */
  public static RWLock fromToken(String token) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ValueLayout.ADDRESS);
      int rc = (int) Native.deserialize.invokeExact(a.allocateFrom(token), out);
      if (rc != 0) throw PrwlockException.of(rc, "fromToken", null);
      return new RWLock(out.get(ValueLayout.ADDRESS, 0), null);
    } catch (Throwable t) {
      throw Native.rethrow(t);
    }
  }

  /** Removes the named lock's file; processes that have it open keep using it. */
  public static void unlink(String name) {
    try (Arena a = Arena.ofConfined()) {
      int rc = (int) Native.unlink.invokeExact(a.allocateFrom(name));
      if (rc != 0) throw PrwlockException.of(rc, "unlink", name);
    } catch (Throwable t) {
      throw Native.rethrow(t);
    }
  }

  /** The library's version, "MAJOR.MINOR.PATCH". */
  public static String libraryVersion() {
    return Native.version();
  }

  /** The name the lock was opened with; null for an anonymous or deserialized lock. */
  public String name() {
    return name;
  }

  public boolean isClosed() {
    return handle == null;
  }

  private MemorySegment handle(String op) {
    MemorySegment h = handle;
    if (h == null) throw PrwlockException.of(Errno.EBADF, op, name);
    return h;
  }

  /** Takes the lock for reading, waiting as long as it takes. */
  public Guard acquireRead() throws InterruptedException {
    return acquire(Mode.READ, -1, "acquireRead");
  }

  /** Takes the lock for reading within timeout. @throws LockTimeoutException if it passed first */
  public Guard acquireRead(Duration timeout) throws InterruptedException {
    return acquire(Mode.READ, nanos(timeout), "acquireRead");
  }

  /** Takes the lock for writing, waiting as long as it takes. */
  public Guard acquireWrite() throws InterruptedException {
    return acquire(Mode.WRITE, -1, "acquireWrite");
  }

  /** Takes the lock for writing within timeout. @throws LockTimeoutException if it passed first */
  public Guard acquireWrite(Duration timeout) throws InterruptedException {
    return acquire(Mode.WRITE, nanos(timeout), "acquireWrite");
  }

  /** Takes the lock for reading if it is free for readers now. */
  public Optional<Guard> tryAcquireRead() {
    return Optional.ofNullable(tryAcquire(Mode.READ, Thread.currentThread().threadId(), "tryAcquireRead"));
  }

  /** Takes the lock for writing if it is free now. */
  public Optional<Guard> tryAcquireWrite() {
    return Optional.ofNullable(tryAcquire(Mode.WRITE, Thread.currentThread().threadId(), "tryAcquireWrite"));
  }

  private static long nanos(Duration timeout) {
    if (timeout.isNegative()) throw new IllegalArgumentException("negative timeout " + timeout);
    try {
      return timeout.toNanos();
    } catch (ArithmeticException e) {
      return -1; // beyond ~292 years: forever
    }
  }

  private static boolean granted(int rc) {
    return rc == 0 || rc == Errno.EOWNERDEAD;
  }

  private Guard tryAcquire(Mode mode, long owner, String op) {
    MemorySegment h = handle(op);
    int rc;
    try {
      rc = mode == Mode.READ ? (int) Native.tryReadAs.invokeExact(h, owner)
          : (int) Native.tryWriteAs.invokeExact(h, owner);
    } catch (Throwable t) {
      throw Native.rethrow(t);
    }
    if (granted(rc)) return new Guard(this, owner, mode, rc == Errno.EOWNERDEAD);
    if (rc == Errno.EBUSY) return null;
    throw PrwlockException.of(rc, op, name);
  }

  private Guard acquire(Mode mode, long timeoutNanos, String op) throws InterruptedException {
    if (Thread.interrupted()) throw new InterruptedException();
    long owner = Thread.currentThread().threadId();
    Guard g = tryAcquire(mode, owner, op);
    if (g != null) return g;
    if (timeoutNanos == 0) throw PrwlockException.of(Errno.ETIMEDOUT, op, name);
    long deadline = timeoutNanos < 0 ? -1 : saturatedAdd(Native.monotonicNanos(), timeoutNanos);
    Wait w = new Wait(handle(op), owner, mode, deadline);
    int rc = Thread.currentThread().isVirtual() ? w.offCarrier() : w.here();
    if (granted(rc)) {
      g = new Guard(this, owner, mode, rc == Errno.EOWNERDEAD);
      if (w.interrupted) Thread.currentThread().interrupt(); // granted as the interrupt came: keep it
      return g;
    }
    if (rc == Errno.EINTR) throw new InterruptedException();
    throw PrwlockException.of(rc, op, name);
  }

  private static long saturatedAdd(long a, long b) {
    long s = a + b;
    return ((a ^ s) & (b ^ s)) < 0 ? Long.MAX_VALUE : s;
  }

  /** One wait: slices of prw_acquire_slice_as until granted, failed, or cancelled. */
  private static final class Wait {
    final MemorySegment h;
    final long owner;
    final int mode;
    final long deadline;
    volatile boolean cancelled;
    boolean interrupted;

    Wait(MemorySegment h, long owner, Mode mode, long deadline) {
      this.h = h;
      this.owner = owner;
      this.mode = mode.value;
      this.deadline = deadline;
    }

    /** Returns the library's code, or EINTR once cancelled (the wait withdrawn). */
    int run(boolean checkInterrupt) {
      try {
        for (;;) {
          int rc = (int) Native.sliceAs.invokeExact(h, owner, mode, deadline, Native.monotonicNanos() + SLICE_NANOS);
          if (rc != Errno.EINTR) return rc;
          if (checkInterrupt && Thread.interrupted()) cancelled = true;
          if (cancelled) {
            // Withdraws the wait; a grant that raced with it is given back.
            int c = (int) Native.cancelAs.invokeExact(h, owner);
            return c == 0 || c == Errno.EPERM ? Errno.EINTR : c;
          }
        }
      } catch (Throwable t) {
        throw Native.rethrow(t);
      }
    }

    /** A platform thread waits itself. */
    int here() {
      int rc = run(true);
      interrupted = rc == Errno.EINTR;
      return rc;
    }

    /** A virtual thread parks while a waiter thread waits in native code for it. */
    int offCarrier() throws InterruptedException {
      CompletableFuture<Integer> done = CompletableFuture.supplyAsync(() -> run(false), WAITERS);
      try {
        return done.get();
      } catch (InterruptedException e) {
        interrupted = true;
        cancelled = true;
        // Until the waiter is done, a call for this owner would be refused
        // (one call per owner at a time): wait for it, at most one slice.
        int rc = done.join();
        if (rc == Errno.EINTR) throw e;
        return rc;
      } catch (ExecutionException e) {
        throw Native.rethrow(e.getCause());
      }
    }
  }

  /** Calls an owner's release/downgrade function, retrying while another call of that owner is in flight. */
  void ownerCall(MethodHandle mh, long owner, String op) {
    MemorySegment h = handle(op);
    try {
      for (;;) {
        int rc = (int) mh.invokeExact(h, owner);
        if (rc == 0) return;
        // EBUSY: the guard was handed to another thread while its owner
        // thread makes a call of its own on this lock; that call never waits
        // (it would be EDEADLK or a recursive read), so it ends at once.
        if (rc != Errno.EBUSY) throw PrwlockException.of(rc, op, name);
        Thread.onSpinWait();
      }
    } catch (Throwable t) {
      throw Native.rethrow(t);
    }
  }

  /** A string any process of this machine can pass to {@link #fromToken(String)}. */
  public String token() {
    return string(Native.serialize, "token");
  }

  /** The path of the lock's file. */
  public String fileName() {
    return string(Native.name, "fileName");
  }

  private String string(MethodHandle mh, String op) {
    MemorySegment h = handle(op);
    long size = 256;
    try (Arena a = Arena.ofConfined()) {
      MemorySegment len = a.allocate(ValueLayout.JAVA_LONG);
      for (;;) {
        MemorySegment buf = a.allocate(size);
        len.set(ValueLayout.JAVA_LONG, 0, size);
        int rc = (int) mh.invokeExact(h, buf, len);
        if (rc == 0) return buf.getString(0);
        if (rc != Errno.ERANGE) throw PrwlockException.of(rc, op, name);
        size = len.get(ValueLayout.JAVA_LONG, 0);
      }
    } catch (Throwable t) {
      throw Native.rethrow(t);
    }
  }

  /** A snapshot of the lock's state. */
  public LockInfo info() {
    MemorySegment h = handle("info");
    try (Arena a = Arena.ofConfined()) {
      MemorySegment s = a.allocate(Native.INFO);
      int rc = (int) Native.info.invokeExact(h, s);
      if (rc != 0) throw PrwlockException.of(rc, "info", name);
      int[] f = new int[10];
      for (int i = 0; i < f.length; i++) f[i] = s.get(ValueLayout.JAVA_INT, 4L * i);
      return new LockInfo(f[0], f[1], f[2], f[3] != 0, f[4], f[5], f[6], f[7], f[8], f[9] != 0,
          s.get(ValueLayout.JAVA_LONG, 40), s.get(ValueLayout.JAVA_LONG, 48));
    } catch (Throwable t) {
      throw Native.rethrow(t);
    }
  }

  /**
   * Closes the handle. If it was this process's last handle on the lock, the
   * holds its threads still have end (a write hold marks the lock owner-dead)
   * and waits in progress fail with {@link LockClosedException}. Closing
   * twice does nothing.
   */
  @Override
  public void close() {
    MemorySegment h;
    synchronized (this) {
      h = handle;
      handle = null;
    }
    if (h == null) return;
    try {
      int rc = (int) Native.close.invokeExact(h);
      if (rc != 0) throw PrwlockException.of(rc, "close", name);
    } catch (Throwable t) {
      throw Native.rethrow(t);
    }
  }

  @Override
  public String toString() {
    return "RWLock[" + (name != null ? name : "anonymous") + (isClosed() ? ", closed" : "") + "]";
  }
}
