package io.github.prwlock;

/** The lock was closed ({@code EBADF}), before or during the call. */
public class LockClosedException extends PrwlockException {
  private static final long serialVersionUID = 1L;

  LockClosedException(int errno, String message) {
    super(errno, message);
  }
}
