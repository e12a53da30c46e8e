package jgpt.dist;

import java.util.ArrayList;
import java.util.List;
import jgpt.model.ParamLayout;

/**
 * How a flat parameter buffer splits into units and shards. The units are the model's
 * {@link jgpt.model.LanguageModel.Hooks hook units}: {@code -1} = [0, blockStart(0)) (GPT-2's wte,
 * wpe; Llama's embed_tokens), block l = [blockStart(l), blockEnd(l)), {@code n_layer} =
 * [blockEnd(last), numel) (the final norm, lm_head when untied). Each
 * unit is padded to a multiple of the world size and cut into equal pieces, one per rank: rank r
 * owns floats [start + r*per, start + (r+1)*per) of it, clipped to the unit (the padding is never
 * stored). A unit is gathered and reduce-scattered as one collective of {@code per} floats per rank.
 */
public final class Sharding {
    /** A range [from, to) of the flat buffer. */
    public record Range(long from, long to) {
        public long length() {
            return to - from;
        }
    }

    private final int world;
    private final int nLayer;
    private final long numel;
    private final long[] start; // by unit index u+1
    private final long[] end;

    public Sharding(ParamLayout layout, int nLayer, int world) {
        if (world < 1) throw new IllegalArgumentException("world " + world);
        this.world = world;
        this.nLayer = nLayer;
        this.numel = layout.numel();
        start = new long[nLayer + 2];
        end = new long[nLayer + 2];
        start[0] = 0;
        end[0] = layout.blockStart(0);
        for (int l = 0; l < nLayer; l++) {
            start[l + 1] = layout.blockStart(l);
            end[l + 1] = layout.blockEnd(l);
        }
        start[nLayer + 1] = layout.blockEnd(nLayer - 1);
        end[nLayer + 1] = numel;
    }

    public int world() { return world; }
    public long numel() { return numel; }
    /** Hook units run from {@link #firstUnit()} ({@code -1}) to {@link #lastUnit()} ({@code n_layer}). */
    public int firstUnit() { return -1; }
    public int lastUnit() { return nLayer; }

    public Range unit(int u) {
        return new Range(start[u + 1], end[u + 1]);
    }

    /** Floats per rank of unit u (its length padded to a multiple of the world, divided by it). */
    public long per(int u) {
        return Math.ceilDiv(end[u + 1] - start[u + 1], world);
    }

    /** What rank owns of unit u (possibly empty, at the unit's end). */
    public Range owned(int u, int rank) {
        long s = start[u + 1], e = end[u + 1], p = per(u);
        long lo = Math.min(e, s + rank * p), hi = Math.min(e, s + (rank + 1) * p);
        return new Range(lo, hi);
    }

    /** All of rank's owned ranges, in buffer order (non-empty ones). */
    public List<Range> owned(int rank) {
        List<Range> out = new ArrayList<>();
        for (int u = -1; u <= nLayer; u++) {
            Range r = owned(u, rank);
            if (r.length() > 0) out.add(r);
        }
        return out;
    }

    /** Floats rank owns. */
    public long ownedFloats(int rank) {
        return owned(rank).stream().mapToLong(Range::length).sum();
    }

    /** The largest per-rank piece of any unit. */
    public long maxPer() {
        long m = 0;
        for (int u = -1; u <= nLayer; u++) m = Math.max(m, per(u));
        return m;
    }

    /**
     * Bytes of parameters, gradients and both AdamW moments that one rank keeps between steps
     * (the largest over ranks): DDP 16 per parameter; ZeRO-2 4 per parameter plus 12 per owned
     * float; FSDP 16 per owned float.
     */
    public long stateBytes(Strategy s) {
        long owned = 0;
        for (int r = 0; r < world; r++) owned = Math.max(owned, ownedFloats(r));
        return switch (s) {
            case DDP -> 16 * numel;
            case ZERO2 -> 4 * numel + 12 * owned;
            case FSDP -> 16 * owned;
        };
    }

    /**
     * Upper bound of the bytes held only while units are in use or gradients travel. FSDP and
     * ZeRO-2: the gather slots of a padded unit each (FSDP three, which the model reads in place;
     * ZeRO-2 one), three reduce-scatter send buffers (where backward writes a unit's gradients) and
     * three receive shards, beyond two ranks the {@link Pairwise} scratch for the other peers'
     * blocks of each, and the embedding's gradient rows exchanged instead of its dense gradient
     * ({@code rowFloats} per rank: B·T·(C+1) of a micro-batch, sent once and received from every
     * rank). DDP (about, not a bound: blocks round up per bucket): the all-reduce's scratch,
     * (N-1)/N of every bucket, all of them in flight at the end of backward.
     */
    public long transientBytes(Strategy s, long rowFloats) {
        long padded = maxPer() * world, rows = 4 * rowFloats * (world + 1), scratch = 4 * 3 * Math.max(0, world - 2) * maxPer();
        return switch (s) {
            case DDP -> 4 * (world - 1) * Math.ceilDiv(numel, world);
            case ZERO2 -> 4 * (4 * padded + 3 * maxPer()) + rows + scratch;
            case FSDP -> 4 * (6 * padded + 3 * maxPer()) + rows + scratch;
        };
    }
}
