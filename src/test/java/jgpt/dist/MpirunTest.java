package jgpt.dist;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Real multi-process runs: {@link CommSelfTest} on N ranks under mpirun, with the command that
 * {@link Launcher} builds from this surefire JVM (its java, JVM options and test classpath).
 */
class MpirunTest {

    private record Result(int exitCode, String output) {
    }

    @BeforeAll
    static void needMpirun() {
        if (Launcher.findMpirun().isEmpty()) {
            System.err.println("MpirunTest SKIPPED: mpirun is not on PATH (apt-get install openmpi-bin)");
        }
        assumeTrue(Launcher.findMpirun().isPresent(), "mpirun is not on PATH (apt-get install openmpi-bin)");
    }

    @Test
    void everyCollectiveOnTwoRanks() throws Exception {
        assertAllCollectivesOk(2);
    }

    @Test
    void everyCollectiveOnFourRanks() throws Exception {
        assertAllCollectivesOk(4);
    }

    @Test
    void aRankThatThrowsAbortsTheJob() throws Exception {
        Result r = mpirun(3, "throw", 60);
        assertThat(r.exitCode()).isNotZero();
        assertThat(r.output()).contains("rank 1: error: java.lang.IllegalStateException: injected failure");
        assertThat(r.output()).doesNotContain("unexpectedly finished");
    }

    @Test
    void aRankThatExitsEndsTheJob() throws Exception {
        Result r = mpirun(2, "exit", 60);
        assertThat(r.exitCode()).isNotZero();
        // Open MPI names the first failed process as [[job,step],rank]
        assertThat(r.output()).containsPattern("Process name: *\\[\\[\\d+,\\d+],1]")
                .containsPattern("Exit code: *3");
        assertThat(r.output()).doesNotContain("unexpectedly finished");
    }

    private static void assertAllCollectivesOk(int np) throws Exception {
        Result r = mpirun(np, "collectives", 180);
        assertThat(r.exitCode()).as("mpirun exit code").isZero();
        for (int rank = 0; rank < np; rank++) {
            assertThat(r.output()).contains("rank " + rank + " of " + np + ": all collectives ok");
            assertThat(r.output()).contains("rank " + rank + ": ok buckets in flight");
            assertThat(r.output()).contains("rank " + rank + ": ok MPI error returned: rank " + rank
                    + ": MPI_Bcast failed");
        }
    }

    private static Result mpirun(int np, String mode, long timeoutSeconds) throws IOException, InterruptedException {
        List<String> cmd = Launcher.command(np, CommSelfTest.class.getName(), List.of(mode));
        System.out.println("MpirunTest: " + String.join(" ", cmd));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        // read concurrently: a full pipe would block the ranks
        StringBuilder out = new StringBuilder();
        Thread reader = Thread.ofPlatform().start(() -> {
            try (InputStream in = p.getInputStream()) {
                out.append(new String(in.readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                out.append("(reading mpirun's output failed: ").append(e).append(')');
            }
        });
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            reader.join(5000);
            fail("mpirun -np " + np + " " + mode + " still running after " + timeoutSeconds + " s; output:\n" + out);
        }
        reader.join();
        System.out.println(out);
        return new Result(p.exitValue(), out.toString());
    }
}
