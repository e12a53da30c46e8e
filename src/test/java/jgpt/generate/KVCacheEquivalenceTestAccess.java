package jgpt.generate;

import jgpt.model.GPT;
import jgpt.model.GPTConfig;
import jgpt.tokenizer.CharTokenizer;

/** Test models for other packages: small random-weight GPTs over a fixed alphabet (with the chat template's colon). */
public final class KVCacheEquivalenceTestAccess {
    public static final CharTokenizer TOKENIZER = CharTokenizer.fromText(KVCacheEquivalenceTest.ALPHABET + ":'-\"");

    private KVCacheEquivalenceTestAccess() {}

    public static GPT model(int blockSize, long seed) {
        return KVCacheEquivalenceTest.randomModel(new GPTConfig(2, 2, 32, blockSize, TOKENIZER.vocabSize(), true, true), seed);
    }
}
