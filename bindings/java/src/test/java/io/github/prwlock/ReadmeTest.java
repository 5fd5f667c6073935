package io.github.prwlock;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The README's example compiles and runs as written, and removes its lock. */
class ReadmeTest {
  @TempDir Path dir;

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void exampleRuns() throws Exception {
    String readme = Files.readString(Path.of("README.md"));
    Matcher m = Pattern.compile("```java\n(.*?)```", Pattern.DOTALL).matcher(readme);
    m.find();
    Path src = dir.resolve("Example.java");
    Files.writeString(src, m.group(1));
    Process p = new ProcessBuilder(ProcessHandle.current().info().command().orElseThrow(),
        "--enable-native-access=ALL-UNNAMED", "-cp", Children.classPath(), src.toString())
        .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(0, p.waitFor());
    assertEquals(List.of("reading: READ", "ETIMEDOUT"), out.lines().toList());
    assertFalse(Files.exists(Path.of("/dev/shm/prwlock.example-" + p.pid())), "the example unlinks its lock");
  }
}
