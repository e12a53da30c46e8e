package jgpt;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs a child process (e.g. an mpirun job) to completion within a time limit, collecting its output. */
public final class TestProcess {
    public record Output(int exitCode, String output) {}

    private TestProcess() {}

    /** Fails the test (after killing the whole process tree) if it runs past the limit. */
    public static Output run(List<String> cmd, long timeoutSeconds) throws IOException, InterruptedException {
        System.out.println("run: " + String.join(" ", cmd));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        // read concurrently: a full pipe would block the child
        StringBuilder out = new StringBuilder();
        Thread reader = Thread.ofPlatform().start(() -> {
            try (InputStream in = p.getInputStream()) {
                out.append(new String(in.readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                out.append("(reading output failed: ").append(e).append(')');
            }
        });
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            reader.join(5000);
            fail(String.join(" ", cmd) + " still running after " + timeoutSeconds + " s; output:\n" + out);
        }
        reader.join();
        System.out.println(out);
        return new Output(p.exitValue(), out.toString());
    }
}
