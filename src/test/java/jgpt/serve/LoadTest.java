package jgpt.serve;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import jgpt.generate.KVCacheEquivalenceTestAccess;
import jgpt.model.GPT;
import org.junit.jupiter.api.Test;

/**
 * 32 concurrent streaming clients against one server on loopback for a bounded time
 * ({@code -Djgpt.loadSeconds}, 10 by default; the documented manual run uses 30): every request
 * must end in [DONE] with no error, and the heap after GC must come back near where it started.
 */
class LoadTest {
    static final int CLIENTS = 32;

    static long heapAfterGc() throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(100);
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    @Test
    void thirtyTwoStreamingClients() throws Exception {
        long seconds = Long.getLong("jgpt.loadSeconds", 10);
        try (GPT model = KVCacheEquivalenceTestAccess.model(64, 6);
             Server server = new Server(model, KVCacheEquivalenceTestAccess.TOKENIZER,
                     new Server.Options("127.0.0.1", 0, "load", 16, 64, 1 << 16, 1))) {
            HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            URI uri = URI.create("http://127.0.0.1:" + server.port() + "/v1/completions");
            AtomicLong requests = new AtomicLong(), tokens = new AtomicLong();
            ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();
            // A short first round warms up the JIT, connection pools and caches, so the heap
            // comparison measures what the load itself leaves behind.
            load(client, uri, 2, requests, tokens, errors);
            long before = heapAfterGc();
            requests.set(0);
            tokens.set(0);
            load(client, uri, seconds, requests, tokens, errors);
            long after = heapAfterGc();
            System.out.printf("load: %d clients, %d s: %d requests, %d chunks (%.0f/s), heap after GC %d -> %d KiB%n",
                    CLIENTS, seconds, requests.get(), tokens.get(), tokens.get() / (double) seconds, before >> 10, after >> 10);
            assertThat(errors).isEmpty();
            assertThat(requests.get()).isGreaterThanOrEqualTo(CLIENTS);
            assertThat(server.engine().active()).isZero();
            assertThat(after - before).as("heap growth in bytes").isLessThan(16L << 20);
        }
    }

    /** CLIENTS virtual threads streaming completions back to back for the given time. */
    private static void load(HttpClient client, URI uri, long seconds, AtomicLong requests, AtomicLong tokens,
                             ConcurrentLinkedQueue<String> errors) throws InterruptedException {
        long end = System.nanoTime() + seconds * 1_000_000_000L;
        List<Thread> threads = new ArrayList<>();
        for (int c = 0; c < CLIENTS; c++) {
            int seed = c;
            threads.add(Thread.ofVirtual().start(() -> {
                for (int i = 0; System.nanoTime() < end; i++) {
                    String body = "{\"prompt\":\"Hello there\",\"max_tokens\":48,\"stream\":true,\"seed\":" + (seed * 1000 + i) + "}";
                    try {
                        HttpResponse<java.util.stream.Stream<String>> r = client.send(HttpRequest.newBuilder(uri)
                                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofLines());
                        if (r.statusCode() != 200) {
                            errors.add("status " + r.statusCode());
                            continue;
                        }
                        List<String> data = r.body().filter(l -> l.startsWith("data: ")).toList();
                        if (!data.getLast().equals("data: [DONE]") || data.stream().anyMatch(l -> l.contains("\"error\""))) {
                            errors.add("bad stream end " + data.getLast());
                        }
                        tokens.addAndGet(data.size() - 1);
                        requests.incrementAndGet();
                    } catch (Exception e) {
                        errors.add(e.toString());
                    }
                }
            }));
        }
        for (Thread t : threads) t.join();
    }
}
