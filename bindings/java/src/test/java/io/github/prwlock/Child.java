package io.github.prwlock;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A child JVM for the tests (see {@link Children}):
 * <ul>
 * <li>{@code hold MODE PATH}: acquire, print "held ownerDead=B", wait until killed.
 * <li>{@code hammer PATH DATA THREADS ROUNDS VIRTUAL NPE_THREADS}: run {@link Hammer} while
 *     NPE_THREADS threads throw implicit NullPointerExceptions (each a SIGSEGV the JVM's
 *     handler turns into an exception, with libprwlock's Go runtime loaded) and the heap is
 *     churned; print "ok writes=... npes=N".
 * </ul>
 */
public final class Child {
  static volatile Object nothing;
  static volatile int[] noArray;

  public static void main(String[] args) throws Exception {
    switch (args[0]) {
      case "hold" -> {
        RWLock lock = RWLock.open(args[2]);
        Guard g = args[1].equals("write") ? lock.acquireWrite() : lock.acquireRead();
        System.out.println("held ownerDead=" + g.ownerDead());
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
      }
      case "hammer" -> {
        int npeThreads = Integer.parseInt(args[6]);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong npes = new AtomicLong();
        List<Thread> storm = new ArrayList<>();
        for (int i = 0; i < npeThreads; i++) {
          storm.add(Thread.ofPlatform().daemon().start(() -> {
            long n = 0;
            List<byte[]> churn = new ArrayList<>();
            while (!stop.get()) {
              try {
                n += nothing.hashCode();
              } catch (NullPointerException e) {
                n++;
              }
              try {
                n += noArray.length;
              } catch (NullPointerException e) {
                n++;
              }
              if ((n & 1023) == 0) {
                churn.add(new byte[64 << 10]);
                if (churn.size() > 64) churn.clear();
              }
            }
            npes.addAndGet(n);
          }));
        }
        Hammer.Result r = Hammer.run(args[1], Path.of(args[2]), Integer.parseInt(args[3]), Integer.parseInt(args[4]),
            Boolean.parseBoolean(args[5]));
        stop.set(true);
        for (Thread t : storm) t.join();
        System.out.println("ok " + r.line() + " npes=" + npes.get());
        System.exit(r.violations().isEmpty() ? 0 : 1);
      }
      default -> throw new IllegalArgumentException(args[0]);
    }
  }
}
