package io.github.prwlock;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The exclusion workload of the tests, run in this JVM and in child JVMs on
 * one lock at once. A data file, mapped by every process, holds two
 * counters that a writer bumps one after the other with a yield (or a
 * sleep) in between; readers check that they are equal and stay so while
 * they hold. Inside one JVM, counters of holders check the same thing. At
 * the end the file's counters equal the number of writes made by everyone,
 * which a lost update would break.
 */
final class Hammer {
  private static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle();

  record Result(long writes, long reads, long carrierMoves, List<String> violations) {
    String line() {
      return "writes=" + writes + " reads=" + reads + " moves=" + carrierMoves + " violations=" + violations.size()
          + (violations.isEmpty() ? "" : " first=" + violations.get(0).replace(' ', '_'));
    }
  }

  static void initData(Path data) throws IOException {
    Files.write(data, new byte[16]);
  }

  static long[] read(Path data) throws IOException {
    try (Arena a = Arena.ofConfined(); FileChannel ch = FileChannel.open(data, StandardOpenOption.READ)) {
      MemorySegment m = ch.map(FileChannel.MapMode.READ_ONLY, 0, 16, a);
      return new long[] {m.get(ValueLayout.JAVA_LONG, 0), m.get(ValueLayout.JAVA_LONG, 8)};
    }
  }

  /** The carrier a virtual thread is mounted on, from its toString ("...@ForkJoinPool-1-worker-2"). */
  private static String carrier() {
    String s = Thread.currentThread().toString();
    int at = s.lastIndexOf('@');
    return at < 0 ? "" : s.substring(at + 1);
  }

  static Result run(String lockPath, Path data, int threads, int rounds, boolean virtual) throws Exception {
    // The first few violations are kept (one broken lock makes thousands).
    List<String> violations = Collections.synchronizedList(new ArrayList<>() {
      private static final long serialVersionUID = 1L;

      @Override
      public boolean add(String v) {
        return size() < 10 && super.add(v);
      }
    });
    AtomicLong writes = new AtomicLong(), reads = new AtomicLong(), moves = new AtomicLong();
    AtomicInteger writersIn = new AtomicInteger(), readersIn = new AtomicInteger();
    try (RWLock lock = RWLock.open(lockPath); Arena arena = Arena.ofShared();
        FileChannel ch = FileChannel.open(data, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      MemorySegment m = ch.map(FileChannel.MapMode.READ_WRITE, 0, 16, arena);
      Runnable pause = () -> {
        try {
          if (virtual && ThreadLocalHolder.next() % 5 == 0) Thread.sleep(1);
          else Thread.yield();
        } catch (InterruptedException e) {
          throw new RuntimeException(e);
        }
      };
      Thread.Builder builder = virtual ? Thread.ofVirtual() : Thread.ofPlatform();
      List<Thread> ts = new ArrayList<>();
      for (int id = 0; id < threads; id++) {
        int me = id;
        ts.add(builder.start(() -> {
          try {
            for (int i = 0; i < rounds; i++) {
              boolean writer = (i + me) % 3 == 0;
              String before;
              try (Guard g = writer ? lock.acquireWrite(Duration.ofSeconds(120)) : lock.acquireRead(Duration.ofSeconds(120))) {
                before = carrier();
                long a = (long) LONG.getVolatile(m, 0L), b = (long) LONG.getVolatile(m, 8L);
                if (a != b) violations.add((writer ? "writer" : "reader") + " entered with " + a + " != " + b);
                if (writer) {
                  if (writersIn.incrementAndGet() != 1 || readersIn.get() != 0) violations.add("writer not alone in this JVM");
                  LONG.setVolatile(m, 0L, a + 1);
                  pause.run();
                  long a2 = (long) LONG.getVolatile(m, 0L), b2 = (long) LONG.getVolatile(m, 8L);
                  if (a2 != a + 1 || b2 != b) violations.add("writer saw " + a2 + "," + b2 + " under its hold");
                  LONG.setVolatile(m, 8L, a + 1);
                  writersIn.decrementAndGet();
                  writes.incrementAndGet();
                } else {
                  readersIn.incrementAndGet();
                  if (writersIn.get() != 0) violations.add("reader beside a writer in this JVM");
                  pause.run();
                  long a2 = (long) LONG.getVolatile(m, 0L), b2 = (long) LONG.getVolatile(m, 8L);
                  if (a2 != a || b2 != b) violations.add("reader saw " + a + "," + b + " then " + a2 + "," + b2);
                  readersIn.decrementAndGet();
                  reads.incrementAndGet();
                }
                if (virtual && !carrier().equals(before)) moves.incrementAndGet();
              }
            }
          } catch (Throwable t) {
            violations.add("thread failed: " + t);
          }
        }));
      }
      for (Thread t : ts) t.join();
    }
    return new Result(writes.get(), reads.get(), moves.get(), new ArrayList<>(violations));
  }

  /** A per-thread counter, so pauses vary without shared state. */
  private static final class ThreadLocalHolder {
    private static final ThreadLocal<int[]> N = ThreadLocal.withInitial(() -> new int[1]);

    static int next() {
      return ++N.get()[0];
    }
  }
}
