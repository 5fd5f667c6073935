package io.github.prwlock;

/** The owner already holds the lock in a conflicting mode ({@code EDEADLK}): waiting would never end. */
public class DeadlockException extends PrwlockException {
  private static final long serialVersionUID = 1L;

  DeadlockException(int errno, String message) {
    super(errno, message);
  }
}
