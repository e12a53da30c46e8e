package jgpt.docs;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * docs/GUIDE.md stays true: every {@code ```bash runnable} block runs (in order, in a scratch copy
 * of the repository's launcher, configs, data and docs, with the tiny settings below and a tiny
 * model in place of the Austen preset), and every source file and picture the guide names exists.
 * The distributed blocks ({@code --nproc}) run real mpirun jobs; they are skipped, with a message,
 * only when mpirun is not on PATH.
 */
class GuideCommandsTest {
    static final Path GUIDE = Path.of("docs/GUIDE.md");

    /** The variables the runnable blocks read as ${NAME:-default}: tiny values, so the whole guide runs in seconds. */
    static final Map<String, String> TINY = Map.of(
            "STEPS", "3",          // training steps
            "TOKENS", "20",        // tokens to sample
            "EVAL_BATCHES", "2",   // validation batches
            // per-rank state limit between the tiny model's FSDP on 2 ranks (~143 KB) and DDP (286 KB)
            "MAX_STATE_BYTES", "200000");

    /** Replaces configs/austen-char.json in the scratch copy. */
    static final String TINY_PRESET = """
            {"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 32, "batch_size": 4,
             "max_steps": 3, "warmup_steps": 1, "eval_interval": 2, "eval_batches": 2,
             "log_interval": 1, "checkpoint_interval": 2}
            """;

    static List<String> runnableBlocks(String markdown) {
        List<String> blocks = new ArrayList<>();
        StringBuilder cur = null;
        for (String line : markdown.split("\n", -1)) {
            if (cur == null) {
                if (line.strip().equals("```bash runnable")) cur = new StringBuilder();
            } else if (line.strip().equals("```")) {
                blocks.add(cur.toString());
                cur = null;
            } else {
                cur.append(line).append('\n');
            }
        }
        assertThat(cur).as("unterminated runnable block").isNull();
        return blocks;
    }

    @Test
    void everyLinkedSourceFileExists() throws IOException {
        String md = Files.readString(GUIDE);
        Set<String> paths = new LinkedHashSet<>();
        Matcher m = Pattern.compile("(src/(?:main|test)/java/[A-Za-z0-9_/]+\\.java|docs/img/[A-Za-z0-9_.-]+\\.png)").matcher(md);
        while (m.find()) paths.add(m.group(1));
        assertThat(paths).as("the guide links source files").anyMatch(p -> p.startsWith("src/main/java/"));
        for (String p : paths) assertThat(Path.of(p)).as("linked from docs/GUIDE.md").exists();
    }

    @Test
    void runnableBlocksRun(@TempDir Path repo) throws Exception {
        List<String> blocks = runnableBlocks(Files.readString(GUIDE));
        assertThat(blocks).as("runnable blocks in the guide").hasSizeGreaterThan(5);
        // A scratch repository: the launcher and what the commands read; outputs land here too.
        Files.copy(Path.of("jgpt"), repo.resolve("jgpt"), StandardCopyOption.COPY_ATTRIBUTES);
        for (String dir : List.of("configs", "data", "docs")) copyTree(Path.of(dir), repo.resolve(dir));
        // The guide trains the Austen preset; here it is a tiny model of the same kind, so each step takes milliseconds.
        Files.writeString(repo.resolve("configs/austen-char.json"), TINY_PRESET);

        Path log = repo.resolve("block.log");
        boolean mpirun = onPath("mpirun");
        for (String block : blocks) {
            if (block.contains("--nproc") && !mpirun) {
                // like MpirunTest: the distributed blocks need Open MPI (apt-get install openmpi-bin)
                System.out.println("GuideCommandsTest: skipped, no mpirun on PATH: " + block.lines().findFirst().orElse(""));
                continue;
            }
            ProcessBuilder pb = new ProcessBuilder("bash", "-euo", "pipefail", "-c", block)
                    .directory(repo.toFile()).redirectErrorStream(true).redirectOutput(log.toFile());
            Map<String, String> env = pb.environment();
            env.putAll(TINY);
            env.put("JGPT_CLASSPATH", System.getProperty("java.class.path"));
            env.put("JAVA_HOME", System.getProperty("java.home"));
            long t0 = System.nanoTime();
            Process p = pb.start();
            p.getOutputStream().close();
            boolean done = p.waitFor(120, TimeUnit.SECONDS);
            if (!done) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly().waitFor();
            }
            String text = Files.readString(log, StandardCharsets.UTF_8);
            System.out.printf("GuideCommandsTest: %.1f s  %s%n", (System.nanoTime() - t0) / 1e9, block.lines().findFirst().orElse(""));
            assertThat(done && p.exitValue() == 0).as("block failed:\n%s\noutput:\n%s", block, text).isTrue();
        }
    }

    static boolean onPath(String command) {
        String path = System.getenv("PATH");
        if (path == null) return false;
        for (String dir : path.split(java.io.File.pathSeparator)) {
            if (Files.isExecutable(Path.of(dir, command))) return true;
        }
        return false;
    }

    static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path f : (Iterable<Path>) s::iterator) {
                Path t = to.resolve(from.relativize(f).toString());
                if (Files.isDirectory(f)) Files.createDirectories(t);
                else Files.copy(f, t);
            }
        }
    }
}
