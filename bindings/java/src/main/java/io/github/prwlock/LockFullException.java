package io.github.prwlock;

/** Every holder slot of the lock is in use ({@code EAGAIN}); see the lock's capacity. */
public class LockFullException extends PrwlockException {
  private static final long serialVersionUID = 1L;

  LockFullException(int errno, String message) {
    super(errno, message);
  }
}
