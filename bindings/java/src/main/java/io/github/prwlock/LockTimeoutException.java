package io.github.prwlock;

/** The lock was not acquired before the timeout ({@code ETIMEDOUT}). */
public class LockTimeoutException extends PrwlockException {
  private static final long serialVersionUID = 1L;

  LockTimeoutException(int errno, String message) {
    super(errno, message);
  }
}
