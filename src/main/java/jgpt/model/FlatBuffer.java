package jgpt.model;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A flat off-heap float buffer with named views, laid out by a {@link ParamLayout}. Parameters,
 * gradients and both AdamW moments are each one FlatBuffer with the same layout, so a DDP bucket
 * or an FSDP shard is a slice of the buffer, never a copy.
 */
public final class FlatBuffer implements AutoCloseable {
    private final ParamLayout layout;
    private final Arena arena;
    private final MemorySegment data;
    private final Map<String, MemorySegment> views = new LinkedHashMap<>();
    /** The views into {@link #data}, for {@link #restore}. */
    private final Map<String, MemorySegment> home = new LinkedHashMap<>();
    /** Ranges redirected now, for {@link #span}. */
    private final List<Redirect> redirects = new ArrayList<>();

    private record Redirect(long from, long to, MemorySegment storage) {}

    public FlatBuffer(ParamLayout layout) {
        this.layout = layout;
        this.arena = Arena.ofShared();
        this.data = arena.allocate(layout.numel() * Float.BYTES, 64);
        for (ParamTensor t : layout.tensors()) {
            views.put(t.name(), data.asSlice(t.offset() * Float.BYTES, t.numel() * Float.BYTES));
        }
        home.putAll(views);
    }

    /**
     * Points the views of the tensors lying in floats [from, to) at {@code storage}, which holds
     * those floats from its start; {@link #data()} is unchanged. FSDP reads a unit it has
     * all-gathered into a scratch buffer this way, in place: copying it into this buffer instead
     * faulted in the pages it had returned to the OS, ~2.4 µs per 4 KiB page on this machine.
     */
    public void redirect(long from, long to, MemorySegment storage) {
        redirects.add(new Redirect(from, to, storage));
        for (ParamTensor t : layout.tensors()) {
            if (t.offset() >= from && t.offset() + t.numel() <= to) {
                views.put(t.name(), storage.asSlice((t.offset() - from) * Float.BYTES, t.numel() * Float.BYTES));
            }
        }
    }

    /** Undoes {@link #redirect} for the tensors in floats [from, to): their views read this buffer again. */
    public void restore(long from, long to) {
        redirects.removeIf(r -> r.from() >= from && r.to() <= to);
        for (ParamTensor t : layout.tensors()) {
            if (t.offset() >= from && t.offset() + t.numel() <= to) views.put(t.name(), home.get(t.name()));
        }
    }

    public ParamLayout layout() {
        return layout;
    }

    /** The whole buffer. */
    public MemorySegment data() {
        return data;
    }

    public long numel() {
        return layout.numel();
    }

    /** The named tensor's slice of the buffer (no copy), or of the storage it is redirected to. */
    public MemorySegment view(String name) {
        MemorySegment v = views.get(name);
        if (v == null) throw new IllegalArgumentException("no tensor named '" + name + "'");
        return v;
    }

    /**
     * {@code floats} floats from the start of tensor {@code first} on, through the tensors after it
     * (a fused q|k|v weight): a slice of this buffer, or of the storage the range is redirected to.
     */
    public MemorySegment span(String first, long floats) {
        long from = layout.tensor(first).offset(), to = from + floats;
        if (floats < 0 || to > layout.numel()) throw new IllegalArgumentException(first + ": span of " + floats + " floats outside the buffer");
        for (Redirect r : redirects) {
            if (r.from() <= from && to <= r.to()) return r.storage().asSlice((from - r.from()) * Float.BYTES, floats * Float.BYTES);
            if (from < r.to() && r.from() < to) {
                throw new IllegalStateException(first + ": span [" + from + ", " + to + ") straddles a redirect [" + r.from() + ", " + r.to() + ")");
            }
        }
        return data.asSlice(from * Float.BYTES, floats * Float.BYTES);
    }

    public float get(long i) {
        return data.getAtIndex(ValueLayout.JAVA_FLOAT, i);
    }

    public void set(long i, float v) {
        data.setAtIndex(ValueLayout.JAVA_FLOAT, i, v);
    }

    public void zero() {
        data.fill((byte) 0);
    }

    public void copyFrom(FlatBuffer other) {
        data.copyFrom(other.data);
    }

    public float[] toArray(String name) {
        return view(name).toArray(ValueLayout.JAVA_FLOAT);
    }

    public float[] toArray() {
        return data.toArray(ValueLayout.JAVA_FLOAT);
    }

    @Override
    public void close() {
        arena.close();
    }

    /** Named tensors, in layout order. */
    public List<ParamTensor> tensors() {
        return Collections.unmodifiableList(new ArrayList<>(layout.tensors()));
    }
}
