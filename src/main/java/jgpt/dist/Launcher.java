package jgpt.dist;

import jgpt.util.UserError;

import java.io.File;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Starts a multi-rank job: {@code jgpt train --nproc N ...} re-runs this very JVM command line
 * (same java, JVM options and classpath, minus {@code --nproc}) on N ranks under Open MPI's mpirun.
 */
public final class Launcher {
    private Launcher() {
    }

    /** mpirun's path, if it is on PATH. */
    public static Optional<Path> findMpirun() {
        String path = System.getenv("PATH");
        if (path == null) return Optional.empty();
        for (String dir : path.split(File.pathSeparator)) {
            if (dir.isEmpty()) continue;
            Path p = Path.of(dir, "mpirun");
            if (Files.isExecutable(p)) return Optional.of(p);
        }
        return Optional.empty();
    }

    /** The mpirun command that runs {@code mainClass args} on {@code nproc} ranks, each a copy of this JVM. */
    public static List<String> command(int nproc, String mainClass, List<String> args) {
        if (nproc < 1) throw new UserError("--nproc must be at least 1, got " + nproc);
        if (System.getenv("OMPI_COMM_WORLD_SIZE") != null) {
            throw new UserError("--nproc given inside an mpirun job: launch with either mpirun or --nproc, not both");
        }
        Path mpirun = findMpirun().orElseThrow(() -> new UserError(
                "--nproc needs Open MPI's mpirun on PATH: install it (apt-get install openmpi-bin)"));
        String java = ProcessHandle.current().info().command()
                .orElseThrow(() -> new IllegalStateException("cannot tell which java runs this process"));
        List<String> cmd = new ArrayList<>(List.of(mpirun.toString()));
        // Open MPI refuses to run as root unless told to (containers and CI run as root).
        if ("root".equals(System.getProperty("user.name"))) cmd.add("--allow-run-as-root");
        // More ranks than cores is fine for tests; ranks are multi-threaded, so no pinning to one core.
        cmd.addAll(List.of("--oversubscribe", "--bind-to", "none", "-np", Integer.toString(nproc), java));
        cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), mainClass));
        cmd.addAll(args);
        return cmd;
    }

    /** {@code args} without {@code --nproc N} / {@code --nproc=N}, so the ranks do not launch again. */
    public static List<String> withoutNproc(List<String> args) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (a.equals("--nproc")) i++;
            else if (!a.startsWith("--nproc=")) out.add(a);
        }
        return out;
    }

    /** Runs {@code command} with this process's stdin, stdout and stderr; returns its exit code. */
    public static int run(List<String> command) throws IOException, InterruptedException {
        return new ProcessBuilder(command).inheritIO().start().waitFor();
    }
}
