package jgpt.generate;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import jgpt.model.GPT;
import jgpt.model.GPTConfig;
import jgpt.tokenizer.CharTokenizer;
import org.junit.jupiter.api.Test;

/** Batched decoding must give every request the tokens it would get alone. */
class EngineTest {
    static final CharTokenizer TOK = CharTokenizer.fromText(KVCacheEquivalenceTest.ALPHABET);
    static final GPTConfig CFG = new GPTConfig(2, 2, 32, 16, TOK.vocabSize(), true, true);

    /** Collects a request's tokens and result. */
    static final class Collector implements Engine.Listener {
        final List<Integer> tokens = new ArrayList<>();
        final StringBuilder text = new StringBuilder();
        final CompletableFuture<Engine.Result> done = new CompletableFuture<>();
        final CountDownLatch firstToken = new CountDownLatch(1);

        @Override
        public void onToken(int token, String t, Explanation e) {
            tokens.add(token);
            text.append(t);
            firstToken.countDown();
        }

        @Override
        public void onDone(String tail, Engine.Result r) {
            text.append(tail);
            done.complete(r);
        }

        Engine.Result result() throws Exception {
            return done.get(60, TimeUnit.SECONDS);
        }
    }

    static SamplingParams params(int i) {
        // greedy, plain sampling and filtered sampling, each with its own seed
        return switch (i % 3) {
            case 0 -> SamplingParams.defaults().withTemperature(0);
            case 1 -> SamplingParams.defaults().withSeed(100 + i);
            default -> SamplingParams.defaults().withTemperature(0.8).withTopK(10).withTopP(0.9).withSeed(100 + i);
        };
    }

    @Test
    void batchedSequencesMatchOneAtATimeGeneratorIncludingPastBlockSize() throws Exception {
        String[] prompts = {"Hello", "a", "The quick brown fox", "xyz", "Once upon", "?", "Zebra 42", "no"};
        int maxNew = 30; // past block_size 16: every sequence is cropped while others are in the batch
        try (GPT model = KVCacheEquivalenceTest.randomModel(CFG, 7);
             Generator gen = new Generator(model, TOK);
             Engine engine = new Engine(model, TOK, 4, 16)) {
            List<Collector> cs = new ArrayList<>();
            List<Engine.Request> reqs = new ArrayList<>();
            for (int i = 0; i < prompts.length; i++) {
                Collector c = new Collector();
                cs.add(c);
                reqs.add(new Engine.Request(TOK.encode(prompts[i]), maxNew - i, params(i), List.of(), 0, c));
            }
            engine.submitAll(reqs); // 8 requests, 4 slots: later ones join as earlier ones finish
            for (int i = 0; i < prompts.length; i++) {
                Generator.Result want = gen.generate(TOK.encode(prompts[i]), maxNew - i, params(i), List.of(), null);
                Engine.Result got = cs.get(i).result();
                assertThat(got.tokens()).as("request %d", i).containsExactly(want.tokens());
                assertThat(got.text()).isEqualTo(want.text()).isEqualTo(cs.get(i).text.toString());
                assertThat(got.finish()).isEqualTo(Engine.Finish.LENGTH);
            }
        }
    }

    @Test
    void greedyBatchEqualsFullRecompute() throws Exception {
        try (GPT model = KVCacheEquivalenceTest.randomModel(CFG, 8); Engine engine = new Engine(model, TOK, 3, 3)) {
            String[] prompts = {"Hi", "abc", "Some text"};
            List<Collector> cs = new ArrayList<>();
            for (String p : prompts) {
                Collector c = new Collector();
                cs.add(c);
                engine.submit(new Engine.Request(TOK.encode(p), 20, params(0), List.of(), 0, c));
            }
            for (int i = 0; i < prompts.length; i++) {
                int[] want = KVCacheEquivalenceTest.recomputeGreedy(model, TOK.encode(prompts[i]), 20);
                assertThat(cs.get(i).result().tokens()).containsExactly(want);
            }
        }
    }

    @Test
    void requestJoiningMidBatchIsUnaffectedAndStopsAndCancelWork() throws Exception {
        try (GPT model = KVCacheEquivalenceTest.randomModel(CFG, 9);
             Generator gen = new Generator(model, TOK);
             Engine engine = new Engine(model, TOK, 4, 4)) {
            Collector longRunning = new Collector();
            Engine.Handle h = engine.submit(new Engine.Request(TOK.encode("long"), 1_000_000, params(1), List.of(), 0, longRunning));
            assertThat(longRunning.firstToken.await(30, TimeUnit.SECONDS)).isTrue();
            Collector joiner = new Collector();
            int[] prompt = TOK.encode("join me");
            engine.submit(new Engine.Request(prompt, 25, params(2), List.of(), 3, joiner));
            Generator.Result want = gen.generate(prompt, 25, params(2), List.of(), null);
            assertThat(joiner.result().tokens()).containsExactly(want.tokens());
            assertThat(longRunning.done).isNotDone();

            String stopAt = want.text().substring(5, 7);
            Collector stopper = new Collector();
            engine.submit(new Engine.Request(prompt, 25, params(2), List.of(stopAt), 0, stopper));
            Engine.Result stopped = stopper.result();
            assertThat(stopped.finish()).isEqualTo(Engine.Finish.STOP);
            assertThat(stopped.text()).isEqualTo(want.text().substring(0, want.text().indexOf(stopAt)));

            h.cancel();
            assertThat(longRunning.result().finish()).isEqualTo(Engine.Finish.CANCELLED);
            // the count is updated after the step's listeners ran
            for (int i = 0; i < 500 && engine.active() > 0; i++) Thread.sleep(10);
            assertThat(engine.active()).isZero();
        }
    }

    @Test
    void fullQueueIsRefused() throws Exception {
        try (GPT model = KVCacheEquivalenceTest.randomModel(CFG, 10); Engine engine = new Engine(model, TOK, 1, 1)) {
            Collector running = new Collector();
            Engine.Handle h = engine.submit(new Engine.Request(TOK.encode("a"), 1_000_000, params(0), List.of(), 0, running));
            running.firstToken.await(30, TimeUnit.SECONDS);
            Collector queued = new Collector();
            engine.submit(new Engine.Request(TOK.encode("b"), 3, params(0), List.of(), 0, queued));
            org.assertj.core.api.Assertions.assertThatThrownBy(() ->
                    engine.submit(new Engine.Request(TOK.encode("c"), 3, params(0), List.of(), 0, new Collector())))
                    .isInstanceOf(Engine.QueueFullException.class);
            h.cancel();
            assertThat(queued.result().tokens()).hasSize(3);
        }
    }
}
