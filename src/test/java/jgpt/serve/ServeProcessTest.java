package jgpt.serve;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jgpt.generate.KVCacheEquivalenceTestAccess;
import jgpt.model.GPT;
import jgpt.train.Checkpoint;
import jgpt.train.TrainConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real {@code jgpt serve} process (a checkpoint of a random model, an ephemeral port on
 * 127.0.0.1) driven by the official OpenAI Node client and by headless Chromium, then stopped with
 * SIGTERM. The Node and browser checks skip, saying why, when their tools are not installed.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ServeProcessTest {
    static final Path CLIENT_DIR = Path.of("tools/openai-client-test");
    @TempDir static Path dir;
    static Process proc;
    static Path serverLog;
    static String base;

    @BeforeAll
    static void start() throws Exception {
        try (GPT model = KVCacheEquivalenceTestAccess.model(128, 5)) {
            Checkpoint.save(dir, new Checkpoint.State(model.config(), TrainConfig.defaults(),
                    KVCacheEquivalenceTestAccess.TOKENIZER.toJson(), 0, 0, 0), model.params(), null);
        }
        serverLog = dir.resolve("serve.log");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        proc = new ProcessBuilder(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-XX:-TieredCompilation", "-Xmx512m", "-cp", System.getProperty("java.class.path"), "jgpt.cli.Main",
                "serve", "--checkpoint", dir.toString(), "--port", "0", "--model-name", "tiny", "--threads", "1")
                .redirectErrorStream(true).redirectOutput(serverLog.toFile()).start();
        Pattern url = Pattern.compile("(http://127\\.0\\.0\\.1:\\d+)/");
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (base == null && proc.isAlive() && System.nanoTime() < deadline) {
            Matcher m = url.matcher(Files.readString(serverLog));
            if (m.find()) base = m.group(1);
            else Thread.sleep(50);
        }
        assertThat(base).as("server start; output %s", Files.readString(serverLog)).isNotNull();
    }

    @AfterAll
    static void kill() {
        if (proc != null && proc.isAlive()) proc.destroyForcibly();
    }

    static int run(Path workDir, long timeoutS, String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).directory(workDir.toFile()).redirectErrorStream(true).start();
        String output;
        if (!p.waitFor(timeoutS, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", cmd) + " timed out");
        }
        output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        System.out.println(output);
        return p.exitValue();
    }

    static String which(String name) {
        for (String d : System.getenv("PATH").split(File.pathSeparator)) {
            if (Files.isExecutable(Path.of(d, name))) return Path.of(d, name).toString();
        }
        return null;
    }

    @Test
    @Order(1)
    void officialOpenAiNodeClient() throws Exception {
        String node = which("node");
        assumeTrue(node != null, "SKIPPED: node is not installed");
        assumeTrue(Files.isDirectory(CLIENT_DIR.resolve("node_modules/openai")),
                "SKIPPED: run `npm ci --prefix tools/openai-client-test` first");
        assertThat(run(CLIENT_DIR, 120, node, "test.mjs", base)).isZero();
    }

    @Test
    @Order(2)
    void playgroundInHeadlessChromium() throws Exception {
        String chromium = which("chromium");
        assumeTrue(chromium != null, "SKIPPED: chromium is not installed (apt-get install -y chromium)");
        // autorun streams a generation on load; explain=-1 then opens the last token's explanation
        String url = base + "/?autorun=1&explain=-1&max_tokens=40&seed=7&prompt=Once%20upon%20a%20time";
        Path png = Path.of("target/playground.png").toAbsolutePath();
        Files.deleteIfExists(png);
        Path profile = Files.createDirectories(dir.resolve("chromium"));
        Process browser = new ProcessBuilder(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--hide-scrollbars", "--window-size=1280,800", "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0", "--user-data-dir=" + profile, "about:blank")
                .redirectErrorStream(true).redirectOutput(dir.resolve("chromium.log").toFile()).start();
        try {
            Path portFile = profile.resolve("DevToolsActivePort"); // written by Chromium: the port it picked
            long deadline = System.nanoTime() + 20_000_000_000L;
            while (!Files.exists(portFile) || Files.readAllLines(portFile).isEmpty()) {
                assertThat(System.nanoTime() < deadline && browser.isAlive()).as("chromium started; %s",
                        Files.exists(dir.resolve("chromium.log")) ? Files.readString(dir.resolve("chromium.log")) : "").isTrue();
                Thread.sleep(100);
            }
            try (Cdp cdp = new Cdp(Integer.parseInt(Files.readAllLines(portFile).getFirst().trim()))) {
                cdp.send("Page.navigate", Cdp.params().put("url", url));
                while (!"done".equals(cdp.eval("document.body && document.body.dataset.state").asText())) {
                    assertThat(System.nanoTime() < deadline + 30_000_000_000L).as("generation finished in the page").isTrue();
                    Thread.sleep(200);
                }
                assertThat(cdp.eval("document.querySelectorAll('#out .tok').length").asInt()).isEqualTo(40);
                assertThat(cdp.eval("document.querySelector('#explain').dataset.token").asText()).isEqualTo("39");
                assertThat(cdp.eval("document.querySelectorAll('#explain .bar').length").asInt()).isGreaterThan(5);
                assertThat(cdp.eval("document.querySelector('#status').textContent").asText()).doesNotContain("error");
                String b64 = cdp.send("Page.captureScreenshot", Cdp.params().put("format", "png")).get("data").asText();
                Files.write(png, java.util.Base64.getDecoder().decode(b64));
            }
        } finally {
            browser.destroy();
            browser.waitFor(10, TimeUnit.SECONDS);
        }
        assertThat(Files.size(png)).isGreaterThan(10_000);
    }

    @Test
    @Order(3)
    void sigtermShutsDownCleanlyWithExitZero() throws Exception {
        proc.destroy(); // SIGTERM
        assertThat(proc.waitFor(30, TimeUnit.SECONDS)).isTrue();
        String log = Files.readString(serverLog);
        assertThat(proc.exitValue()).as("exit status; log %s", log).isZero();
        assertThat(log).contains("shutting down");
    }
}
