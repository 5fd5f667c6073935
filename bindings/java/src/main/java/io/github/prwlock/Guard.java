package io.github.prwlock;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A hold on an {@link RWLock}, released by {@link #close()} (try-with-resources).
 *
 * <p>The hold belongs to the owner recorded in the guard (the acquiring
 * thread's {@link Thread#threadId()}), not to an OS thread, so any thread may
 * release it: a virtual thread that moved to another carrier, or a thread the
 * guard was handed to.
 *
 * <p>{@link #ownerDead()} tells that a writer died holding the lock: the data
 * it protects may be half-written. Releasing a write guard vouches for the
 * data (the mark is cleared); {@link #releaseUnrepaired()} leaves it for the
 * next writer.
 */
public final class Guard implements AutoCloseable {
  private final RWLock lock;
  private final long owner;
  private volatile Mode mode;
  private final boolean ownerDead;
  private final AtomicBoolean held = new AtomicBoolean(true);

  Guard(RWLock lock, long owner, Mode mode, boolean ownerDead) {
    this.lock = lock;
    this.owner = owner;
    this.mode = mode;
    this.ownerDead = ownerDead;
  }

  /** The hold's mode (READ after {@link #downgrade()}). */
  public Mode mode() {
    return mode;
  }

  /** The owner number the library records for this hold. */
  public long owner() {
    return owner;
  }

  /** True if a writer died holding the lock ({@code EOWNERDEAD}); the lock is held all the same. */
  public boolean ownerDead() {
    return ownerDead;
  }

  /** False once released. */
  public boolean held() {
    return held.get();
  }

  /** Releases the hold. @throws NotHeldException if it was already released */
  public void release() {
    end(Native.releaseAs, "release");
  }

  /** Releases without vouching for the data: the lock stays owner-dead for the next writer. */
  public void releaseUnrepaired() {
    end(Native.releaseUnrepairedAs, "releaseUnrepaired");
  }

  /** Turns a write hold into a read hold atomically; readers waiting behind it are admitted. */
  public void downgrade() {
    if (!held.get()) throw released("downgrade");
    lock.ownerCall(Native.downgradeAs, owner, "downgrade");
    mode = Mode.READ;
  }

  /** Releases the hold if it is still held; a second close does nothing. */
  @Override
  public void close() {
    if (held.get()) release();
  }

  private void end(java.lang.invoke.MethodHandle mh, String op) {
    if (!held.compareAndSet(true, false)) throw released(op);
    try {
      lock.ownerCall(mh, owner, op);
    } catch (PrwlockException e) {
      // Nothing was released (EBUSY, EBADF...): the guard still stands for
      // whatever the library says is held, except when it says nothing is.
      if (!(e instanceof NotHeldException) && !(e instanceof LockClosedException)) held.set(true);
      throw e;
    }
  }

  private NotHeldException released(String op) {
    return new NotHeldException(Errno.EPERM, op + ": this guard was already released");
  }

  @Override
  public String toString() {
    return "Guard[" + mode + ", owner " + owner + (ownerDead ? ", owner dead" : "") + (held() ? "" : ", released") + "]";
  }
}
