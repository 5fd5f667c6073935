package io.github.prwlock;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Starts {@link Child} in a new JVM of the same Java, with this test's classes. */
final class Children {
  private Children() {}

  static String classPath() throws Exception {
    List<String> cp = new ArrayList<>();
    for (Class<?> c : new Class<?>[] {RWLock.class, Child.class}) {
      cp.add(Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI()).toString());
    }
    return String.join(":", cp);
  }

  static Process start(List<String> jvmFlags, String... args) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(ProcessHandle.current().info().command().orElseThrow());
    cmd.add("--enable-native-access=ALL-UNNAMED");
    cmd.addAll(jvmFlags);
    cmd.add("-cp");
    cmd.add(classPath());
    cmd.add(Child.class.getName());
    cmd.addAll(List.of(args));
    return new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
  }

  static BufferedReader out(Process p) {
    return new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
  }

  static String line(Process p) throws IOException {
    return out(p).readLine();
  }
}
