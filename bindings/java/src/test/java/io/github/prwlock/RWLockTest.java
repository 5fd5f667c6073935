package io.github.prwlock;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The API one call at a time: tries, guards, owners, errors, timeouts, interrupts, tokens, close. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RWLockTest {
  @TempDir Path dir;
  String path;
  RWLock lock;

  @BeforeEach
  void open() {
    path = dir.resolve("lock").toString();
    lock = RWLock.open(path, RWLock.Options.create());
  }

  @AfterEach
  void close() {
    lock.close();
  }

  /** Runs body on a new platform thread and returns what it returned (or throws what it threw). */
  static <T> T onOtherThread(java.util.concurrent.Callable<T> body) throws Exception {
    AtomicReference<Object> out = new AtomicReference<>();
    Thread t = Thread.ofPlatform().start(() -> {
      try {
        out.set(body.call());
      } catch (Throwable e) {
        out.set(e);
      }
    });
    t.join();
    if (out.get() instanceof Exception e) throw e;
    @SuppressWarnings("unchecked")
    T v = (T) out.get();
    return v;
  }

  @Test
  void libraryLoads() {
    assertTrue(RWLock.libraryVersion().matches("\\d+\\.\\d+\\.\\d+"));
  }

  @Test
  void readersShareAndAWriterExcludes() throws Exception {
    try (Guard r1 = lock.tryAcquireRead().orElseThrow()) {
      assertEquals(Mode.READ, r1.mode());
      assertTrue(onOtherThread(() -> lock.tryAcquireRead().map(g -> { g.close(); return true; }).orElse(false)));
      assertTrue(onOtherThread(() -> lock.tryAcquireWrite().isEmpty()));
      assertEquals(1, lock.info().readers());
    }
    try (Guard w = lock.tryAcquireWrite().orElseThrow()) {
      assertFalse(w.ownerDead());
      assertTrue(onOtherThread(() -> lock.tryAcquireRead().isEmpty()));
      assertTrue(lock.info().writerActive());
    }
    assertEquals(0, lock.info().usedSlots());
  }

  @Test
  void sameThreadRulesArePerOwner() throws Exception {
    try (Guard r1 = lock.acquireRead(); Guard r2 = lock.acquireRead()) {
      assertEquals(r1.owner(), r2.owner(), "the owner is the thread");
      assertEquals(Thread.currentThread().threadId(), r1.owner());
      DeadlockException e = assertThrows(DeadlockException.class, () -> lock.acquireWrite(Duration.ofSeconds(5)));
      assertEquals("EDEADLK", e.code());
      assertEquals(Errno.EDEADLK, e.errno());
    }
    try (Guard w = lock.acquireWrite()) {
      assertThrows(DeadlockException.class, () -> lock.tryAcquireWrite());
      assertThrows(DeadlockException.class, () -> lock.acquireRead());
    }
  }

  @Test
  void releaseTwiceIsNotHeldAndCloseIsIdempotent() throws Exception {
    Guard g = lock.acquireWrite();
    g.downgrade();
    assertEquals(Mode.READ, g.mode());
    assertThrows(NotHeldException.class, g::downgrade);
    g.release();
    assertFalse(g.held());
    NotHeldException e = assertThrows(NotHeldException.class, g::release);
    assertEquals("EPERM", e.code());
    g.close();
  }

  @Test
  void aGuardIsReleasedByAnotherThread() throws Exception {
    Guard w = lock.acquireWrite();
    onOtherThread(() -> {
      w.close();
      return null;
    });
    assertFalse(w.held());
    assertEquals(0, lock.info().usedSlots());
  }

  @Test
  void timeoutsExpireAtTheirDeadline() throws Exception {
    try (Guard w = lock.acquireWrite()) {
      for (boolean virtual : new boolean[] {false, true}) {
        Thread.Builder b = virtual ? Thread.ofVirtual() : Thread.ofPlatform();
        CompletableFuture<Object> f = new CompletableFuture<>();
        b.start(() -> {
          long t0 = System.nanoTime();
          try {
            lock.acquireRead(Duration.ofMillis(150)).close();
            f.complete("acquired");
          } catch (Throwable e) {
            f.complete(new Object[] {e, (System.nanoTime() - t0) / 1_000_000});
          }
        });
        Object[] res = (Object[]) f.get();
        LockTimeoutException e = assertInstanceOf(LockTimeoutException.class, res[0]);
        assertEquals("ETIMEDOUT", e.code());
        assertTrue((long) res[1] >= 140, "returned after " + res[1] + " ms, before its deadline");
      }
      assertTrue(onOtherThread(() -> assertThrows(LockTimeoutException.class,
          () -> lock.acquireWrite(Duration.ZERO)) != null));
    }
    assertEquals(0, lock.info().usedSlots(), "timed-out waits left nothing queued");
  }

  @Test
  void interruptWithdrawsAWait() throws Exception {
    try (Guard w = lock.acquireWrite()) {
      for (boolean virtual : new boolean[] {false, true}) {
        CompletableFuture<Throwable> f = new CompletableFuture<>();
        Thread t = (virtual ? Thread.ofVirtual() : Thread.ofPlatform()).start(() -> {
          try {
            lock.acquireWrite().close();
            f.complete(null);
          } catch (Throwable e) {
            f.complete(e);
          }
        });
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (lock.info().waitingWriters() == 0 && System.nanoTime() < deadline) Thread.sleep(5);
        assertEquals(1, lock.info().waitingWriters());
        t.interrupt();
        assertInstanceOf(InterruptedException.class, f.get());
        assertEquals(0, lock.info().waitingWriters(), "the interrupted wait was withdrawn");
      }
    }
  }

  @Test
  void errorsAreTyped() {
    PrwlockException e = assertThrows(PrwlockException.class, () -> RWLock.open(dir.resolve("missing").toString()));
    assertEquals("ENOENT", e.code());
    assertTrue(e.getMessage().contains("no such lock"), e.getMessage());
    assertEquals("EINVAL", assertThrows(PrwlockException.class, () -> RWLock.open("")).code());
    assertEquals("EINVAL", assertThrows(PrwlockException.class, () -> RWLock.fromToken("garbage")).code());
    assertEquals("EEXIST",
        assertThrows(PrwlockException.class, () -> RWLock.open(path, RWLock.Options.create().exclusive())).code());
    assertThrows(IllegalArgumentException.class, () -> lock.acquireRead(Duration.ofMillis(-1)));
  }

  @Test
  void tokensReopenTheLock() throws Exception {
    try (RWLock other = RWLock.fromToken(lock.token())) {
      assertEquals(lock.fileName(), other.fileName());
      try (Guard w = lock.acquireWrite()) {
        assertTrue(onOtherThread(() -> other.tryAcquireRead().isEmpty()));
      }
    }
  }

  @Test
  void anonymousLockIsFullAtItsCapacity() throws Exception {
    try (RWLock anon = RWLock.anonymous(64)) {
      assertEquals(64, anon.info().capacity());
      assertNotNull(anon.token());
      // 64 threads each hold read (one slot each); the 65th is refused.
      java.util.List<Thread> ts = new java.util.ArrayList<>();
      java.util.concurrent.CountDownLatch held = new java.util.concurrent.CountDownLatch(64);
      java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(1);
      for (int i = 0; i < 64; i++) {
        ts.add(Thread.ofVirtual().start(() -> {
          try (Guard g = anon.acquireRead()) {
            held.countDown();
            done.await();
          } catch (InterruptedException e) {
            throw new RuntimeException(e);
          }
        }));
      }
      held.await();
      LockFullException e = assertThrows(LockFullException.class, () -> anon.tryAcquireRead());
      assertEquals("EAGAIN", e.code());
      done.countDown();
      for (Thread t : ts) t.join();
    }
  }

  @Test
  void closedLockIsEbadfAndEndsWaits() throws Exception {
    RWLock mine = RWLock.open(path);
    try (Guard w = lock.acquireWrite()) {
      CompletableFuture<Throwable> f = new CompletableFuture<>();
      Thread.ofVirtual().start(() -> {
        try {
          mine.acquireRead().close();
          f.complete(null);
        } catch (Throwable e) {
          f.complete(e);
        }
      });
      while (lock.info().waitingReaders() == 0) Thread.sleep(5);
      mine.close();
      mine.close();
      assertInstanceOf(LockClosedException.class, f.get());
      assertEquals("EBADF", assertThrows(LockClosedException.class, mine::tryAcquireRead).code());
    }
  }
}
