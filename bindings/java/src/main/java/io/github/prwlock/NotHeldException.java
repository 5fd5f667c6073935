package io.github.prwlock;

/** Release or downgrade without the matching hold ({@code EPERM}). */
public class NotHeldException extends PrwlockException {
  private static final long serialVersionUID = 1L;

  NotHeldException(int errno, String message) {
    super(errno, message);
  }
}
