package io.github.prwlock;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The downcall table for libprwlock.so. Loaded once per JVM, on first use.
 * Holds are always taken through the explicit-owner calls ({@code prw_*_as}):
 * a virtual thread is not an OS thread.
 */
@SuppressWarnings("restricted")
final class Native {
  private Native() {}

  static final String LIBRARY_PROPERTY = "prwlock.library";
  static final String LIBRARY_ENV = "PRWLOCK_LIBRARY";
  static final String SONAME = "libprwlock.so.1";

  static final int PRW_CREATE = 1;
  static final int PRW_EXCL = 2;
  static final int PRW_MULTIUSER = 4;
  static final int MODE_READ = 1;
  static final int MODE_WRITE = 2;

  private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
  private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG;
  private static final ValueLayout PTR = ValueLayout.ADDRESS;

  /** prw_info_t. */
  static final StructLayout INFO = MemoryLayout.structLayout(
      INT.withName("readers"), INT.withName("writer_pid"), INT.withName("writer_tid"),
      INT.withName("writer_active"), INT.withName("waiting_readers"), INT.withName("waiting_writers"),
      INT.withName("capacity"), INT.withName("used_slots"), INT.withName("attached"),
      INT.withName("owner_dead"), I64.withName("recoveries"), I64.withName("owner_deaths"));

  /** struct timespec on LP64 Linux. */
  private static final StructLayout TIMESPEC = MemoryLayout.structLayout(I64.withName("tv_sec"), I64.withName("tv_nsec"));
  private static final int CLOCK_MONOTONIC = 1;

  static final MethodHandle createEx, openEx, deserialize, close, unlink, serialize, name, info;
  static final MethodHandle tryReadAs, tryWriteAs, sliceAs, cancelAs, releaseAs, releaseUnrepairedAs, downgradeAs;
  private static final MethodHandle strerror, version, clockGettime;
  static final String path;

  static {
    List<String> tried = new ArrayList<>();
    SymbolLookup lookup = null;
    String found = null;
    for (String candidate : candidates()) {
      if (candidate.contains("/") && !Files.exists(Path.of(candidate))) {
        tried.add("  " + candidate + ": no such file");
        continue;
      }
      try {
        lookup = SymbolLookup.libraryLookup(candidate, Arena.global());
        found = candidate;
        break;
      } catch (IllegalArgumentException e) {
        tried.add("  " + candidate + ": " + e.getMessage());
      }
    }
    if (lookup == null) {
      throw new UnsatisfiedLinkError("cannot load libprwlock; tried, in order:\n" + String.join("\n", tried)
          + "\n(set the system property " + LIBRARY_PROPERTY + " or $" + LIBRARY_ENV
          + " to the library's path, or run 'make build' in a checkout)");
    }
    path = found;
    Linker linker = Linker.nativeLinker();
    SymbolLookup lib = lookup;
    createEx = fn(linker, lib, "prw_create_ex", INT, INT, PTR);
    openEx = fn(linker, lib, "prw_open_ex", INT, PTR, INT, INT, INT, PTR);
    deserialize = fn(linker, lib, "prw_deserialize", INT, PTR, PTR);
    close = fn(linker, lib, "prw_close", INT, PTR);
    unlink = fn(linker, lib, "prw_unlink", INT, PTR);
    serialize = fn(linker, lib, "prw_serialize", INT, PTR, PTR, PTR);
    name = fn(linker, lib, "prw_name", INT, PTR, PTR, PTR);
    info = fn(linker, lib, "prw_info", INT, PTR, PTR);
    tryReadAs = fn(linker, lib, "prw_try_acquire_read_as", INT, PTR, I64);
    tryWriteAs = fn(linker, lib, "prw_try_acquire_write_as", INT, PTR, I64);
    sliceAs = fn(linker, lib, "prw_acquire_slice_as", INT, PTR, I64, INT, I64, I64);
    cancelAs = fn(linker, lib, "prw_cancel_as", INT, PTR, I64);
    releaseAs = fn(linker, lib, "prw_release_as", INT, PTR, I64);
    releaseUnrepairedAs = fn(linker, lib, "prw_release_unrepaired_as", INT, PTR, I64);
    downgradeAs = fn(linker, lib, "prw_downgrade_as", INT, PTR, I64);
    strerror = linker.downcallHandle(lib.find("prw_strerror").orElseThrow(), FunctionDescriptor.of(PTR, INT));
    version = linker.downcallHandle(lib.find("prw_version").orElseThrow(), FunctionDescriptor.of(PTR));
    clockGettime = linker.downcallHandle(linker.defaultLookup().find("clock_gettime").orElseThrow(),
        FunctionDescriptor.of(INT, INT, PTR));
  }

  /** The paths tried: the system property, the environment, the repository's build/, the SONAME. */
  static List<String> candidates() {
    List<String> out = new ArrayList<>();
    String p = System.getProperty(LIBRARY_PROPERTY);
    if (p != null && !p.isEmpty()) out.add(p);
    String e = System.getenv(LIBRARY_ENV);
    if (e != null && !e.isEmpty()) out.add(e);
    out.add(SONAME);
    return out;
  }

  private static MethodHandle fn(Linker linker, SymbolLookup lib, String sym, ValueLayout ret, ValueLayout... args) {
    MemorySegment addr = lib.find(sym).orElseThrow(
        () -> new UnsatisfiedLinkError(sym + " not found in " + path + " (a libprwlock older than this binding?)"));
    return linker.downcallHandle(addr, FunctionDescriptor.of(ret, args));
  }

  /** The library's text for an error number. */
  static String strerror(int errno) {
    try {
      MemorySegment s = (MemorySegment) strerror.invokeExact(errno);
      return s.reinterpret(Long.MAX_VALUE).getString(0);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  static String version() {
    try {
      MemorySegment s = (MemorySegment) version.invokeExact();
      return s.reinterpret(Long.MAX_VALUE).getString(0);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /**
   * CLOCK_MONOTONIC now, in nanoseconds: the clock of the library's deadlines.
   * Read from libc rather than System.nanoTime, whose origin Java leaves open.
   */
  static long monotonicNanos() {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment ts = a.allocate(TIMESPEC);
      int rc = (int) clockGettime.invokeExact(CLOCK_MONOTONIC, ts);
      if (rc != 0) throw new IllegalStateException("clock_gettime(CLOCK_MONOTONIC) failed");
      return ts.get(I64, 0) * 1_000_000_000L + ts.get(I64, 8);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  static RuntimeException rethrow(Throwable t) {
    if (t instanceof RuntimeException r) throw r;
    if (t instanceof Error e) throw e;
    throw new IllegalStateException(t);
  }
}
