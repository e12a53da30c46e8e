package jgpt.generate;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import jgpt.model.GPTConfig;

/**
 * Keys and values of every position seen so far, per layer, for one sequence: [n_layer][block_size, kv_dim]
 * (kv_dim = C for GPT-2; only the key/value heads for a grouped-query Llama).
 * Allocated once per sequence; {@link #reset()} reuses it.
 */
public final class KVCache implements AutoCloseable {
    final Arena arena = Arena.ofShared();
    final MemorySegment[] k, v;
    final int capacity;
    int length;

    public KVCache(GPTConfig c) {
        capacity = c.blockSize();
        k = new MemorySegment[c.nLayer()];
        v = new MemorySegment[c.nLayer()];
        long bytes = (long) capacity * c.kvDim() * 4;
        for (int l = 0; l < c.nLayer(); l++) {
            k[l] = arena.allocate(bytes, 64);
            v[l] = arena.allocate(bytes, 64);
        }
    }

    /** Positions held. */
    public int length() {
        return length;
    }

    public int capacity() {
        return capacity;
    }

    public void reset() {
        length = 0;
    }

    @Override
    public void close() {
        arena.close();
    }
}
