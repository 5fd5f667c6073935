package io.github.prwlock;

/**
 * The error numbers the library returns (Linux values, the same on x86-64
 * and arm64) and their names. The text of each comes from the library
 * ({@code prw_strerror}), the project's one table of error text.
 */
public final class Errno {
  private Errno() {}

  public static final int EPERM = 1;
  public static final int ENOENT = 2;
  public static final int EINTR = 4;
  public static final int EIO = 5;
  public static final int EBADF = 9;
  public static final int EAGAIN = 11;
  public static final int ENOMEM = 12;
  public static final int EACCES = 13;
  public static final int EBUSY = 16;
  public static final int EEXIST = 17;
  public static final int EISDIR = 21;
  public static final int EINVAL = 22;
  public static final int EMFILE = 24;
  public static final int ENOSPC = 28;
  public static final int ERANGE = 34;
  public static final int EDEADLK = 35;
  public static final int ENOSYS = 38;
  public static final int ELOOP = 40;
  public static final int EPROTO = 71;
  public static final int ENOTSUP = 95;
  public static final int ENOTCONN = 107;
  public static final int ETIMEDOUT = 110;
  public static final int EOWNERDEAD = 130;
  public static final int ENOTRECOVERABLE = 131;
  /** {@code PRW_EFORKED}: a fork child where the library could not load its private copy. */
  public static final int EFORKED = 1024;

  /** Returns the symbolic name of {@code errno} ("ETIMEDOUT"), or "E" + the number if unknown. */
  public static String name(int errno) {
    return switch (errno) {
      case EPERM -> "EPERM";
      case ENOENT -> "ENOENT";
      case EINTR -> "EINTR";
      case EIO -> "EIO";
      case EBADF -> "EBADF";
      case EAGAIN -> "EAGAIN";
      case ENOMEM -> "ENOMEM";
      case EACCES -> "EACCES";
      case EBUSY -> "EBUSY";
      case EEXIST -> "EEXIST";
      case EISDIR -> "EISDIR";
      case EINVAL -> "EINVAL";
      case EMFILE -> "EMFILE";
      case ENOSPC -> "ENOSPC";
      case ERANGE -> "ERANGE";
      case EDEADLK -> "EDEADLK";
      case ENOSYS -> "ENOSYS";
      case ELOOP -> "ELOOP";
      case EPROTO -> "EPROTO";
      case ENOTSUP -> "ENOTSUP";
      case ENOTCONN -> "ENOTCONN";
      case ETIMEDOUT -> "ETIMEDOUT";
      case EOWNERDEAD -> "EOWNERDEAD";
      case ENOTRECOVERABLE -> "ENOTRECOVERABLE";
      case EFORKED -> "EFORKED";
      default -> "E" + errno;
    };
  }
}
