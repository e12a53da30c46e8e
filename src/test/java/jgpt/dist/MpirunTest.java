package jgpt.dist;

import jgpt.TestProcess;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
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
        TestProcess.Output o = TestProcess.run(cmd, timeoutSeconds);
        return new Result(o.exitCode(), o.output());
    }
}
