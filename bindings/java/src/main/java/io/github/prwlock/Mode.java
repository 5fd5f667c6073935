package io.github.prwlock;

/** The mode of a hold. */
public enum Mode {
  READ(Native.MODE_READ),
  WRITE(Native.MODE_WRITE);

  final int value;

  Mode(int value) {
    this.value = value;
  }
}
