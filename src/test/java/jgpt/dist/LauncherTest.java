package jgpt.dist;

import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class LauncherTest {

    @Test
    void stripsNprocInBothSpellings() {
        assertThat(Launcher.withoutNproc(List.of("train", "--nproc", "4", "--steps", "10")))
                .containsExactly("train", "--steps", "10");
        assertThat(Launcher.withoutNproc(List.of("train", "--nproc=2", "--out", "x")))
                .containsExactly("train", "--out", "x");
    }

    @Test
    void reRunsThisJvmUnderMpirun() {
        assumeTrue(Launcher.findMpirun().isPresent(), "mpirun not on PATH");
        List<String> cmd = Launcher.command(3, "jgpt.cli.Main", List.of("train", "--steps", "10"));
        assertThat(cmd.getFirst()).endsWith("mpirun");
        assertThat(cmd).containsSequence("--oversubscribe", "--bind-to", "none", "-np", "3",
                ProcessHandle.current().info().command().orElseThrow());
        assertThat(cmd.contains("--allow-run-as-root")).isEqualTo("root".equals(System.getProperty("user.name")));
        assertThat(cmd).containsSubsequence(ManagementFactory.getRuntimeMXBean().getInputArguments());
        assertThat(cmd).contains("--enable-native-access=ALL-UNNAMED");
        assertThat(cmd.subList(cmd.size() - 6, cmd.size())).containsExactly(
                "-cp", System.getProperty("java.class.path"), "jgpt.cli.Main", "train", "--steps", "10");
    }
}
