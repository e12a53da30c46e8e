package jgpt.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import jgpt.cli.Main;
import jgpt.dist.Launcher;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code jgpt train} on 2 ranks (the real CLI under mpirun); rank 1 is killed with SIGKILL after
 * the first checkpoint: the whole job must end within 60 s with a non-zero exit naming rank 1,
 * and {@code --resume} (here on one process with the same global batch) continues from the last
 * complete checkpoint.
 */
class RankFailureTest {
    @TempDir Path dir;

    @Test
    void killedRankEndsTheJobAndTheRunResumes() throws Exception {
        assumeTrue(Launcher.findMpirun().isPresent(), "mpirun is not on PATH (apt-get install openmpi-bin)");
        Path data = dir.resolve("data"), run = dir.resolve("run");
        DistTrainJob.writeData(data);
        List<String> common = List.of("--data", data.toString(), "--out", run.toString(), "--n-layer", "2", "--n-head", "2",
                "--n-embd", "32", "--block-size", "16", "--threads", "1", "--checkpoint-interval", "2", "--eval-interval", "0");
        List<String> args = new java.util.ArrayList<>(List.of("train", "--strategy", "fsdp", "--batch-size", "2", "--max-steps", "100000"));
        args.addAll(common);
        List<String> cmd = Launcher.command(2, Main.class.getName(), args);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        StringBuilder out = new StringBuilder();
        Thread reader = Thread.ofPlatform().start(() -> {
            try (InputStream in = p.getInputStream()) {
                byte[] buf = new byte[4096];
                for (int n; (n = in.read(buf)) > 0; ) synchronized (out) { out.append(new String(buf, 0, n, StandardCharsets.UTF_8)); }
            } catch (IOException ignored) {
            }
        });
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(240);
            while (!Files.exists(run.resolve(Checkpoint.FILE))) {
                if (!p.isAlive()) fail("job ended before its first checkpoint:\n" + out);
                if (System.nanoTime() > deadline) fail("no checkpoint after 240 s:\n" + out);
                Thread.sleep(200);
            }
            ProcessHandle rank1 = findRank(p, 1).orElseThrow(() -> new AssertionError("rank 1 not found among mpirun's children"));
            long t0 = System.nanoTime();
            rank1.destroyForcibly();
            boolean ended = p.waitFor(60, TimeUnit.SECONDS);
            double seconds = (System.nanoTime() - t0) / 1e9;
            if (!ended) fail("job still running 60 s after rank 1 was killed:\n" + out);
            reader.join(5000);
            System.out.println(out);
            System.out.printf("RankFailureTest: job ended %.1f s after SIGKILL of rank 1, exit %d%n", seconds, p.exitValue());
            assertThat(p.exitValue()).isNotZero();
            assertThat(p.descendants().filter(ProcessHandle::isAlive).count()).as("ranks left alive").isZero();
            assertThat(out.toString()).containsPattern("rank 1 with PID \\d+ .*(signal 9|Killed)|Process name: *\\[\\[\\d+,\\d+],1]");
        } finally {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }

        long saved;
        try (Checkpoint ck = Checkpoint.load(run)) {
            saved = ck.state().step();
        }
        assertThat(saved).isGreaterThanOrEqualTo(2);
        List<String> resume = new java.util.ArrayList<>(List.of("train", "--resume", "--batch-size", "4",
                "--max-steps", Long.toString(saved + 2)));
        resume.addAll(common);
        assertThat(Main.execute(resume.toArray(String[]::new))).isZero();
        try (Checkpoint ck = Checkpoint.load(run)) {
            assertThat(ck.state().step()).isEqualTo(saved + 2);
        }
        assertThat(DistributedTrainingTest.column(run, "loss")).isNotEmpty();
    }

    /** The rank's JVM: a descendant of mpirun whose environment says OMPI_COMM_WORLD_RANK=rank. */
    private static Optional<ProcessHandle> findRank(Process mpirun, int rank) {
        return mpirun.descendants().filter(h -> {
            try {
                String env = Files.readString(Path.of("/proc", Long.toString(h.pid()), "environ"), StandardCharsets.ISO_8859_1);
                return h.info().command().orElse("").endsWith("java")
                        && List.of(env.split("\0")).contains("OMPI_COMM_WORLD_RANK=" + rank);
            } catch (IOException e) {
                return false;
            }
        }).findFirst();
    }
}
