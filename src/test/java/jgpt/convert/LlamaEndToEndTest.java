package jgpt.convert;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.stream.IntStream;
import jgpt.cli.Main;
import jgpt.generate.KVCache;
import jgpt.generate.LlamaDecoder;
import jgpt.generate.TokenDecoder;
import jgpt.model.GPT;
import jgpt.model.GPTConfig;
import jgpt.model.LanguageModel;
import jgpt.model.Llama;
import jgpt.train.AdamW;
import jgpt.tokenizer.CharTokenizer;
import jgpt.train.Checkpoint;
import jgpt.train.TrainConfig;
import jgpt.util.Rng;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Llama through the CLI (import, export, sample --quant q8), the trainer's optimizer, checkpoints and Q8 decoding. */
class LlamaEndToEndTest {
    @TempDir Path dir;
    static final Path LLAMA = ImportReferenceTest.dir("llama_tiny");

    @Test
    void importExportAndQ8SampleThroughTheCli() {
        Path ck = dir.resolve("run"), hf = dir.resolve("hf");
        assertThat(Main.execute("import", "--format", "llama2c", "--in", LLAMA.resolve("model.bin").toString(), "--out", ck.toString())).isZero();
        assertThat(Main.execute("export", "--checkpoint", ck.toString(), "--out", hf.toString())).isZero();
        try (LanguageModel a = HfFormat.read(LLAMA); LanguageModel b = HfFormat.read(hf); Checkpoint c = Checkpoint.load(ck)) {
            assertThat(b.params().toArray()).containsExactly(a.params().toArray());
            assertThat(c.config()).isEqualTo(a.config());
            assertThat(c.tokenizer().vocabSize()).isEqualTo(a.config().vocabSize());
        }
        PrintStream saved = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            assertThat(Main.execute("sample", "--checkpoint", ck.toString(), "--quant", "q8", "--prompt", "ab",
                    "--max-new-tokens", "10", "--temperature", "0")).isZero();
        } finally {
            System.setOut(saved);
        }
        assertThat(out.toString(StandardCharsets.UTF_8).strip().codePointCount(0, out.toString(StandardCharsets.UTF_8).strip().length()))
                .isEqualTo(12);

        Path gpt2 = dir.resolve("gpt2");
        assertThat(Main.execute("import", "--format", "hf", "--in", ImportReferenceTest.dir("gpt2_hf_tiny").toString(),
                "--out", gpt2.toString())).isZero();
        try (Checkpoint c = Checkpoint.load(gpt2); LanguageModel m = c.newModel()) {
            assertThat(m).isInstanceOf(GPT.class);
        }
    }

    @Test
    void q8DecoderLogitsStayCloseToF32() {
        try (LanguageModel m = HfFormat.read(LLAMA);
             TokenDecoder f32 = TokenDecoder.of(m); TokenDecoder q8 = new LlamaDecoder((Llama) m, true);
             KVCache c1 = f32.newCache(); KVCache c2 = q8.newCache()) {
            int[] prompt = {5, 17, 42, 3, 9, 60};
            float[] a = f32.prefill(c1, prompt, 0, prompt.length).clone();
            float[] b = q8.prefill(c2, prompt, 0, prompt.length);
            assertThat(ImportReferenceTest.relErr(b, a)).isLessThan(0.05).isGreaterThan(0);
            a = f32.step(c1, 11).clone();
            b = q8.step(c2, 11);
            assertThat(ImportReferenceTest.relErr(b, a)).isLessThan(0.05);
        }
    }

    @Test
    void aLlamaTrainsWithAdamWAndSurvivesACheckpoint() {
        GPTConfig cfg = GPTConfig.llama(2, 4, 2, 32, 0, 16, 50, false, 10000, 1e-5);
        assertThat(cfg.ffnHidden()).isEqualTo(256); // llama2.c's rule: 2/3 of 4*32 rounded up to 256
        int B = 2, T = 16;
        int[] x = new int[B * T], y = new int[B * T];
        for (int i = 0; i < x.length; i++) {
            x[i] = (i * 7) % 50;
            y[i] = (i * 7 + 7) % 50;
        }
        try (LanguageModel m = LanguageModel.create(cfg); AdamW opt = new AdamW(m.params(), m.grads(), 0.0)) {
            m.initWeights(new Rng(1));
            float first = 0, last = 0;
            for (int step = 1; step <= 30; step++) {
                m.zeroGrad();
                last = m.forward(x, y, B, T);
                if (step == 1) first = last;
                m.backward(1f);
                opt.step(3e-3f, step);
            }
            assertThat(last).isLessThan(first * 0.5f);
            Checkpoint.save(dir, new Checkpoint.State(cfg, TrainConfig.forModel(cfg),
                    new CharTokenizer(IntStream.range(32, 82).toArray()).toJson(), 30, 0, 0), m.params(), opt);
            try (Checkpoint c = Checkpoint.load(dir); LanguageModel back = c.newModel()) {
                assertThat(back).isInstanceOf(Llama.class);
                assertThat(back.forward(x, y, B, T)).isEqualTo(m.forward(x, y, B, T));
                c.requireModel(c.state().train().model(50));
            }
        }
    }

}
