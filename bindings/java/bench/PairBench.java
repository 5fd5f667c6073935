// The cost of an uncontended try + release pair, from a platform thread and
// from a virtual thread (median and best of five runs):
//   mvn -q compile && java --enable-native-access=ALL-UNNAMED -cp target/classes bench/PairBench.java
import io.github.prwlock.Guard;
import io.github.prwlock.RWLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Optional;
import java.util.function.Supplier;

public class PairBench {
  static final int N = 500_000;

  static void measure(String what, Supplier<Optional<Guard>> tryAcquire) {
    for (int i = 0; i < 50_000; i++) tryAcquire.get().orElseThrow().close();
    double[] ns = new double[5];
    for (int r = 0; r < ns.length; r++) {
      long t = System.nanoTime();
      for (int i = 0; i < N; i++) tryAcquire.get().orElseThrow().close();
      ns[r] = (System.nanoTime() - t) / (double) N;
    }
    Arrays.sort(ns);
    System.out.printf("%s try/release pair: median %.0f ns, min %.0f ns%n", what, ns[2], ns[0]);
  }

  public static void main(String[] args) throws Exception {
    Path dir = Files.createTempDirectory("prwlock-pair-");
    try (RWLock lock = RWLock.open(dir.resolve("lock").toString(), RWLock.Options.create())) {
      measure("platform thread, read", lock::tryAcquireRead);
      measure("platform thread, write", lock::tryAcquireWrite);
      Thread v = Thread.ofVirtual().start(() -> {
        measure("virtual thread, read", lock::tryAcquireRead);
        measure("virtual thread, write", lock::tryAcquireWrite);
      });
      v.join();
    } finally {
      Files.deleteIfExists(dir.resolve("lock"));
      Files.delete(dir);
    }
  }
}
