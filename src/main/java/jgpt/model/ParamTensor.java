package jgpt.model;

import java.util.Arrays;

/**
 * One named tensor inside a flat float buffer.
 *
 * @param name   e.g. {@code h.0.attn.c_attn.weight}
 * @param offset first element, in floats, within the flat buffer
 * @param shape  dimensions, row-major; Linear weights are [out, in]
 */
public record ParamTensor(String name, long offset, int[] shape) {

    public long numel() {
        long n = 1;
        for (int d : shape) n *= d;
        return n;
    }

    /** AdamW decays matrices (embeddings and Linear weights), never biases or norm gains. */
    public boolean decayed() {
        return shape.length >= 2;
    }

    @Override
    public String toString() {
        return name + Arrays.toString(shape) + "@" + offset;
    }
}
