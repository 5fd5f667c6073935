package io.github.prwlock;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Exclusion under concurrency: many virtual threads that yield and sleep
 * while they hold, platform threads, child JVMs that throw implicit
 * NullPointerExceptions (SIGSEGVs) while they hammer the same lock, and the
 * death of a holder JVM by SIGKILL.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class ConcurrencyTest {
  @TempDir Path dir;

  Path data;
  String lockPath;

  RWLock create(int capacity) throws Exception {
    lockPath = dir.resolve("lock").toString();
    data = dir.resolve("data");
    Hammer.initData(data);
    return RWLock.open(lockPath, RWLock.Options.create().capacity(capacity));
  }

  static long check(List<Hammer.Result> results, Path data) throws Exception {
    long writes = 0;
    for (Hammer.Result r : results) {
      assertEquals(List.of(), r.violations());
      writes += r.writes();
    }
    long[] ab = Hammer.read(data);
    assertEquals(writes, ab[0], "a lost update: two writers were inside at once");
    assertEquals(writes, ab[1]);
    return writes;
  }

  @Test
  void manyVirtualThreadsThatYieldWhileHolding() throws Exception {
    // Many more virtual threads than carriers, all holding or waiting at
    // once. (The lock's cost per hand-off grows with the number of waiters,
    // with platform threads alike, so this stays in the hundreds.)
    try (RWLock lock = create(0)) {
      Hammer.Result r = Hammer.run(lockPath, data, 500, 4, true);
      check(List.of(r), data);
      assertEquals(500 * 4, r.reads() + r.writes());
      // The point of explicit owners: holds released on another carrier.
      assertTrue(r.carrierMoves() > 0, "no hold moved carrier: the test proves nothing");
      assertEquals(0, lock.info().usedSlots(), "every hold and wait ended");
    }
  }

  @Test
  void platformThreads() throws Exception {
    try (RWLock lock = create(0)) {
      check(List.of(Hammer.run(lockPath, data, 16, 60, false)), data);
      assertEquals(0, lock.info().usedSlots());
    }
  }

  @Test
  void childJvmsThrowingImplicitNpesWhileHammering() throws Exception {
    try (RWLock lock = create(0)) {
      List<Process> kids = new ArrayList<>();
      // Plain flags, and -Xrs (the JVM keeps fewer signals for itself).
      kids.add(Children.start(List.of(), "hammer", lockPath, data.toString(), "6", "40", "true", "2"));
      kids.add(Children.start(List.of("-Xrs"), "hammer", lockPath, data.toString(), "6", "40", "false", "2"));
      Hammer.Result mine = Hammer.run(lockPath, data, 6, 40, true);
      long childWrites = 0;
      for (Process p : kids) {
        BufferedReader out = Children.out(p);
        String line = out.readLine();
        assertEquals(0, p.waitFor(), "child said: " + line);
        assertTrue(line != null && line.startsWith("ok ") && line.contains("violations=0"), line);
        long npes = Long.parseLong(line.replaceAll(".*npes=(\\d+).*", "$1"));
        assertTrue(npes > 1000, "only " + npes + " NullPointerExceptions: the storm did not happen");
        childWrites += Long.parseLong(line.replaceAll(".*writes=(\\d+).*", "$1"));
      }
      assertEquals(List.of(), mine.violations());
      long[] ab = Hammer.read(data);
      assertEquals(mine.writes() + childWrites, ab[0], "a lost update across JVMs");
      assertEquals(ab[0], ab[1]);
    }
  }

  @Test
  void aWriterJvmKilledWhileHoldingLeavesOwnerDead() throws Exception {
    try (RWLock lock = create(0)) {
      Process p = Children.start(List.of(), "hold", "write", lockPath);
      assertEquals("held ownerDead=false", Children.line(p));
      p.destroyForcibly(); // SIGKILL
      p.waitFor();
      try (Guard r = lock.acquireRead(Duration.ofSeconds(10))) {
        assertTrue(r.ownerDead(), "a reader is told too");
      }
      Guard w = lock.acquireWrite(Duration.ofSeconds(10));
      assertTrue(w.ownerDead());
      assertTrue(lock.info().ownerDead());
      w.releaseUnrepaired();
      try (Guard w2 = lock.acquireWrite(Duration.ofSeconds(10))) {
        assertTrue(w2.ownerDead(), "releaseUnrepaired keeps the mark");
      }
      try (Guard w3 = lock.acquireWrite(Duration.ofSeconds(10))) {
        assertTrue(!w3.ownerDead(), "a release after ownerDead repairs");
      }
      assertEquals(1, lock.info().ownerDeaths());
    }
  }

  @Test
  void aReaderJvmKilledLeavesNothing() throws Exception {
    try (RWLock lock = create(0)) {
      Process p = Children.start(List.of(), "hold", "read", lockPath);
      assertEquals("held ownerDead=false", Children.line(p));
      p.destroyForcibly();
      p.waitFor();
      try (Guard w = lock.acquireWrite(Duration.ofSeconds(10))) {
        assertTrue(!w.ownerDead());
      }
    }
  }
}
