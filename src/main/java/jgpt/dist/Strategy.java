package jgpt.dist;

import java.util.Locale;
import jgpt.util.UserError;

/** How the ranks of a data-parallel job share parameters, gradients and optimizer state. */
public enum Strategy {
    /** Every rank holds everything; gradients are all-reduced in buckets during backward. */
    DDP,
    /** ZeRO-2: parameters replicated; gradients and AdamW moments sharded (reduce-scatter). */
    ZERO2,
    /** ZeRO-3: parameters, gradients and moments sharded; parameters gathered per block just in time. */
    FSDP;

    public static Strategy parse(String s) {
        try {
            return valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new UserError("unknown --strategy '" + s + "': expected ddp, fsdp or zero2");
        }
    }

    public String flag() {
        return name().toLowerCase(Locale.ROOT);
    }

    public boolean shardsParams() {
        return this == FSDP;
    }

    public boolean shardsGrads() {
        return this != DDP;
    }
}
