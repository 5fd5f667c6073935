package io.github.prwlock;

/**
 * An error the library reported: {@link #errno()} is its code (see
 * {@link Errno}) and {@link #code()} the code's name. Subclasses name the
 * cases callers handle: {@link LockTimeoutException}, {@link DeadlockException},
 * {@link NotHeldException}, {@link LockClosedException}, {@link LockFullException}.
 */
public class PrwlockException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final int errno;

  PrwlockException(int errno, String message) {
    super(message);
    this.errno = errno;
  }

  /** The error number the library returned. */
  public int errno() {
    return errno;
  }

  /** The name of {@link #errno()}, such as "ETIMEDOUT". */
  public String code() {
    return Errno.name(errno);
  }

  /** The exception for {@code errno} returned by {@code op} on the lock named {@code what}. */
  static PrwlockException of(int errno, String op, String what) {
    String msg = op + ": " + Native.strerror(errno) + " [" + Errno.name(errno) + "]"
        + (what == null ? "" : " (" + what + ")");
    return switch (errno) {
      case Errno.ETIMEDOUT -> new LockTimeoutException(errno, msg);
      case Errno.EDEADLK -> new DeadlockException(errno, msg);
      case Errno.EPERM -> new NotHeldException(errno, msg);
      case Errno.EBADF -> new LockClosedException(errno, msg);
      case Errno.EAGAIN -> new LockFullException(errno, msg);
      default -> new PrwlockException(errno, msg);
    };
  }
}
