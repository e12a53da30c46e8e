package jgpt.train;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import jgpt.dist.Comm;
import jgpt.dist.PageMemory;
import jgpt.dist.Sharding;
import jgpt.dist.Sharding.Range;
import jgpt.dist.Strategy;
import jgpt.model.FlatBuffer;
import jgpt.model.LanguageModel;

/**
 * Data parallelism applied to a model (GPT-2 or Llama) from outside through its
 * {@link LanguageModel.Hooks}, for a world of ranks that each run the same model on different micro-batches.
 *
 * <ul>
 *   <li>{@link Strategy#DDP}: all-reduce of the gradients in buckets of ~25 MB (flat slices of the
 *       gradient buffer, from its end), each started asynchronously as soon as backward has
 *       finished every unit it covers, and awaited at the end of backward. With gradient
 *       accumulation only the last micro-step communicates.
 *   <li>{@link Strategy#ZERO2}: after each unit's backward its gradients are reduce-scattered to
 *       their owners ({@link Sharding}); each rank keeps gradients and AdamW moments of its shard
 *       only, steps its shard, then the updated parameters are all-gathered unit by unit.
 *   <li>{@link Strategy#FSDP}: like ZeRO-2, and parameters are sharded too: a unit's parameters
 *       are all-gathered just before its forward and again before its backward (the next unit's
 *       gather is started asynchronously meanwhile) into a scratch slot, which the model reads in
 *       place ({@link FlatBuffer#redirect}) until the unit is released right after.
 * </ul>
 *
 * <p>Sharded strategies keep the model's full-size buffers (so the model and AdamW index them as
 * usual) but only the owned ranges stay resident: the rest is released to the OS with
 * {@link PageMemory#release} (it reads as zeros afterwards). A unit's backward adds its gradients
 * into a reduce-scatter send buffer that holds zeros but for this rank's accumulated shard, so the
 * reduce-scatter sums to exactly accumulated + Σ local on the owner: accumulation needs no extra
 * buffer. The embedding's own backward is the exception where the vocabulary is large: its
 * gradient is a scatter of the batch's rows into a vocabulary-sized matrix, so the rows and token
 * ids are all-gathered instead and each owner adds them ({@link #takeEmbeddingGradient}); unit
 * -1's dense gradient (a tied head's) is then reduce-scattered right after the head's backward,
 * overlapping the blocks' backward.
 *
 * <p>Gradients are not divided here: the trainer scales backward by 1/(accum × world), so summing
 * over ranks gives the mean over the global batch.
 */
public final class DataParallel implements LanguageModel.Hooks, AutoCloseable {
    public static final long BUCKET_BYTES = 25L << 20;

    private final Comm comm;
    private final Strategy strategy;
    private final LanguageModel model;
    private final AdamW opt;
    private final Sharding sh;
    private final int rank, world, L;
    private final boolean tied;
    /**
     * Sharded strategies: the embedding's gradient travels as the micro-batch's rows rather than
     * as unit -1's dense reduce-scatter, when the rows are the smaller (GPT-2's vocabulary: 394 K
     * floats of rows against 19.7 M at the 6-layer shape; a character vocabulary: the dense one).
     */
    private final boolean embeddingRows;
    private final FlatBuffer params, grads;
    private final Arena arena = Arena.ofShared();
    /**
     * Gather buffers of one padded unit each. FSDP: three, each holding a gathered unit while the
     * model reads it (the unit computing, the next one arriving, and wte while a tied head needs
     * it); ZeRO-2: one, scratch for gathering into the full buffers.
     */
    private final MemorySegment[] slots;
    /** By unit index u+1: the slot holding unit u while gathered or arriving, else -1. */
    private final int[] slotOf;
    /**
     * Three slots of reduce-scatter buffers. The backward adds a unit's gradients into its send
     * slot in place ({@link FlatBuffer#redirect}), so the full gradient buffer's non-owned pages,
     * returned to the OS, are never touched again: writing them re-faulted every page each
     * backward. Blocks take slots 0 and 1 in turn: a unit's reduce-scatter runs while the next
     * unit's backward computes. {@link #HEAD_SLOT} holds the unit the head's weight gradient goes
     * into (the token embedding when tied, else the head's own unit): vocabulary-sized, its
     * reduce-scatter runs from the end of the head's backward to the end of backward; in the
     * blocks' rotation the second block after the head already waited for it (150 ms a step at
     * the 6-layer GPT-2 shape, where it is 79 MB).
     */
    private final MemorySegment[] send = new MemorySegment[3], recv = new MemorySegment[3];
    private final Comm.Request[] rsPending = new Comm.Request[3];
    private final int[] rsUnit = new int[3];
    private static final int HEAD_SLOT = 2;
    private int rsNext;
    /** By unit index u+1: the send slot unit u's backward is writing its gradients into, else -1. */
    private final int[] gradSlotOf;
    private final List<Range> owned;

    // Embedding gradient rows (sharded strategies): [tokens as floats | rows x C] per rank
    private MemorySegment rowsSend, rowsRecv;
    private Comm.Request rowsPending;
    private int rowsCount;
    private int[] rowTokens = new int[0];

    // DDP buckets
    private final long bucketFloats;
    private final List<Range> buckets = new ArrayList<>();
    private final List<Comm.Request> inFlight = new ArrayList<>();
    private int launched;

    // FSDP gather state per unit (index u+1)
    private final boolean[] gathered;
    private static final int NONE = Integer.MIN_VALUE;
    private int pendingUnit = NONE;
    private Comm.Request pending;

    private boolean communicate = true;
    private boolean evalMode;
    private long commNanos;

    /**
     * {@code microBatchTokens}: B·T of a training micro-batch, which decides how the embedding's
     * gradient travels ({@link #takeEmbeddingGradient}). DDP buckets are {@link #BUCKET_BYTES}.
     * Test hooks: the system properties {@code jgpt.ddp.bucketBytes} (small buckets) and {@code jgpt.dp.embeddingRows=false}
     * (always the dense reduce-scatter).
     */
    public DataParallel(Comm comm, Strategy strategy, LanguageModel model, AdamW opt, int microBatchTokens) {
        this(comm, strategy, model, opt, microBatchTokens, Long.getLong("jgpt.ddp.bucketBytes", BUCKET_BYTES));
    }

    public DataParallel(Comm comm, Strategy strategy, LanguageModel model, AdamW opt, int microBatchTokens, long bucketBytes) {
        this.comm = comm;
        this.strategy = strategy;
        this.model = model;
        this.opt = opt;
        this.rank = comm.rank();
        this.world = comm.size();
        this.L = model.config().nLayer();
        this.tied = model.config().tied();
        this.params = model.params();
        this.grads = model.grads();
        this.sh = new Sharding(model.layout(), L, world);
        this.embeddingRows = strategy.shardsGrads() && !"false".equals(System.getProperty("jgpt.dp.embeddingRows"))
                && (long) microBatchTokens * (model.config().nEmbd() + 1) < sh.unit(-1).length();
        this.owned = sh.owned(rank);
        this.gathered = new boolean[L + 2];
        long padded = sh.maxPer() * world;
        slots = new MemorySegment[strategy.shardsParams() ? 3 : strategy.shardsGrads() ? 1 : 0];
        for (int i = 0; i < slots.length; i++) slots[i] = arena.allocate(padded * 4, 64);
        slotOf = new int[L + 2];
        java.util.Arrays.fill(slotOf, -1);
        gradSlotOf = new int[L + 2];
        java.util.Arrays.fill(gradSlotOf, -1);
        if (strategy.shardsGrads()) {
            for (int i = 0; i < send.length; i++) {
                send[i] = arena.allocate(padded * 4, 64);
                recv[i] = arena.allocate(sh.maxPer() * 4, 64);
            }
        }
        bucketFloats = Math.max(1, bucketBytes / 4);
        long n = params.numel();
        for (long hi = n; hi > 0; hi -= bucketFloats) buckets.add(new Range(Math.max(0, hi - bucketFloats), hi));
        model.setHooks(this);
    }

    public Strategy strategy() { return strategy; }
    public Sharding sharding() { return sh; }
    /** Ranges of the flat buffers this rank's optimizer owns (everything under DDP). */
    public List<Range> ownedRanges() {
        return strategy.shardsGrads() ? owned : List.of(new Range(0, params.numel()));
    }
    /** Nanoseconds spent waiting in (or issuing) collectives since the last call. */
    public long takeCommNanos() {
        long t = commNanos;
        commNanos = 0;
        return t;
    }

    /**
     * Makes every rank's state consistent after initialization or loading full buffers: broadcasts
     * rank 0's parameters (identical anyway with the same seed) and releases what this rank does
     * not own.
     */
    public void distribute() {
        comm.broadcast(params.data(), params.numel(), 0);
        releaseNonOwned(grads);
        if (strategy.shardsGrads()) {
            releaseNonOwned(opt.m());
            releaseNonOwned(opt.v());
        }
        if (strategy.shardsParams()) releaseNonOwned(params);
    }

    private void releaseNonOwned(FlatBuffer b) {
        if (!strategy.shardsGrads()) return;
        long at = 0;
        for (Range r : owned) {
            if (r.from() > at) PageMemory.release(slice(b, at, r.from()));
            at = r.to();
        }
        if (at < b.numel()) PageMemory.release(slice(b, at, b.numel()));
    }

    private static MemorySegment slice(FlatBuffer b, long from, long to) {
        return b.data().asSlice(from * 4, (to - from) * 4);
    }

    /** Bytes of params, grads, m and v of this rank that are resident in RAM now (mincore). */
    public long residentStateBytes() {
        long sum = 0;
        for (FlatBuffer b : new FlatBuffer[] {params, grads, opt.m(), opt.v()}) {
            long r = PageMemory.residentBytes(b.data());
            if (r < 0) return -1;
            sum += r;
        }
        return sum;
    }

    // ------------------------------------------------------------------ step

    /** Zeroes the gradients for a new optimizer step. */
    public void zeroGrad() {
        if (!strategy.shardsGrads()) {
            grads.zero();
            return;
        }
        for (Range r : owned) slice(grads, r.from(), r.to()).fill((byte) 0); // the rest is already zero
    }

    /** Before each micro-step: whether it is the last of the step (DDP communicates only then). */
    public void beginMicroStep(boolean last) {
        completeReduceScatters(); // this micro-step's backward adds into the reduced shards
        communicate = strategy.shardsGrads() || last;
        launched = 0;
    }

    /** After the last micro-step's backward: all gradient communication has completed. */
    public void finishBackward() {
        if (strategy != Strategy.DDP) {
            completeReduceScatters();
            return;
        }
        launchBuckets(0);
        long t0 = System.nanoTime();
        for (Comm.Request r : inFlight) r.await();
        inFlight.clear();
        commNanos += System.nanoTime() - t0;
    }

    /** Mean of a per-rank value over the ranks. */
    public double mean(double v) {
        return comm.allReduceSum(v) / world;
    }

    /** Global L2 norm of the (reduced) gradients. */
    public double gradNorm() {
        if (!strategy.shardsGrads()) return GradClip.norm(grads);
        double sq = 0;
        for (Range r : owned) sq += GradClip.sumOfSquares(grads, r.from(), r.to());
        return Math.sqrt(comm.allReduceSum(sq));
    }

    /**
     * AdamW on this rank's shard, gradients multiplied by gradScale (clipping's coefficient) as
     * they are read; ZeRO-2 then all-gathers the updated parameters.
     */
    public void optimizerStep(float lr, int t, float gradScale) {
        for (Range r : ownedRanges()) opt.step(lr, t, r.from(), r.to(), gradScale);
        if (strategy == Strategy.ZERO2) {
            for (int u = -1; u <= L; u++) gatherNow(u, params, true);
        }
    }

    /** Eval mode: forward-only passes, which must release what they gather. */
    public void setEvalMode(boolean eval) {
        this.evalMode = eval;
    }

    // ------------------------------------------------------------------ checkpoints

    /**
     * Fills rank 0's full buffers (what it does not own: parameters under FSDP, moments under
     * ZeRO-2/FSDP) so it can write a consolidated checkpoint. A collective; undo with
     * {@link #afterConsolidate()}.
     */
    public void consolidate() {
        if (!strategy.shardsGrads()) return;
        for (int u = -1; u <= L; u++) {
            if (strategy.shardsParams()) gatherNow(u, params, rank == 0);
            gatherNow(u, opt.m(), rank == 0);
            gatherNow(u, opt.v(), rank == 0);
        }
    }

    public void afterConsolidate() {
        if (!strategy.shardsGrads() || rank != 0) return;
        if (strategy.shardsParams()) releaseNonOwned(params);
        releaseNonOwned(opt.m());
        releaseNonOwned(opt.v());
    }

    /** Makes parameters of every unit resident (for a full-buffer read, e.g. tests); collective. */
    public void gatherAllParams() {
        if (strategy.shardsParams()) for (int u = -1; u <= L; u++) gatherNow(u, params, true);
    }

    // ------------------------------------------------------------------ hooks

    @Override
    public void beforeForward(int unit) {
        if (!strategy.shardsParams()) return;
        if (unit == L && tied) ensureGathered(-1);
        ensureGathered(unit);
        if (unit < L) prefetch(unit + 1);
    }

    @Override
    public void afterForward(int unit) {
        if (!strategy.shardsParams()) return;
        if (evalMode) {
            if (unit == L) {
                releaseParams(L);
                releaseParams(-1);
            } else if (!(unit == -1 && tied)) {
                releaseParams(unit);
            }
            return;
        }
        // Kept for backward: the head (runs first), and wte when the head reads it.
        if (unit == L || (unit == -1 && tied)) return;
        releaseParams(unit);
    }

    @Override
    public void beforeBackward(int unit) {
        if (strategy.shardsGrads()) {
            // A tied head adds into the token embedding's gradient first: unit -1's slot is taken with the head's.
            if (unit >= 0 || !(tied || embeddingRows)) mountGradients(unit);
            if (unit == L && tied) mountGradients(-1);
        }
        if (!strategy.shardsParams()) return;
        if (unit == -1) return; // the embedding's backward reads no parameters
        if (unit == L && tied) ensureGathered(-1);
        ensureGathered(unit);
        if (unit > 0) prefetch(unit - 1);
    }

    @Override
    public void afterBackward(int unit) {
        if (!communicate) return;
        if (strategy == Strategy.DDP) {
            launchBuckets(sh.unit(unit).from());
            progress(); // counted as communication: a completed reduction's sum runs in here
            return;
        }
        if (strategy.shardsParams()) releaseParams(unit);
        // With the embedding's rows exchanged, unit -1's dense gradient (a tied head's, if any) is
        // final after the head's backward and reduced from there on.
        if (unit >= 0 || !embeddingRows) reduceScatter(unit);
        if (unit == L && tied && embeddingRows) reduceScatter(-1);
    }

    /**
     * Sharded strategies: instead of reduce-scattering the embedding's vocabulary-sized gradient
     * at the very end of backward (nothing left to overlap it with), every rank's gradient rows
     * and token ids (the micro-batch's size) are all-gathered, and each rank adds the ones that
     * fall in its shard ({@link #applyEmbeddingRows}), in rank order: the one-process order.
     */
    @Override
    public boolean takeEmbeddingGradient(MemorySegment dout, int[] tokens, int rows) {
        if (!embeddingRows) return false;
        int C = model.config().nEmbd();
        long per = (long) rows * (C + 1);
        if (rowsSend == null || rowsSend.byteSize() < per * 4) {
            rowsSend = arena.allocate(per * 4, 64);
            rowsRecv = arena.allocate(per * world * 4, 64);
        }
        long t0 = System.nanoTime();
        for (int n = 0; n < rows; n++) rowsSend.setAtIndex(JAVA_FLOAT, n, tokens[n]); // exact below 2^24
        MemorySegment.copy(dout, 0, rowsSend, (long) rows * 4, (long) rows * C * 4);
        rowsPending = comm.allGatherAsync(rowsSend.asSlice(0, per * 4), rowsRecv.asSlice(0, per * world * 4), per);
        rowsCount = rows;
        commNanos += System.nanoTime() - t0;
        return true;
    }

    /** Adds every rank's exchanged embedding rows to this rank's shard (after unit -1's reduce-scatter landed). */
    private void applyEmbeddingRows() {
        if (rowsPending == null) return;
        long t0 = System.nanoTime();
        rowsPending.await();
        rowsPending = null;
        commNanos += System.nanoTime() - t0;
        int rows = rowsCount, C = model.config().nEmbd();
        long per = (long) rows * (C + 1);
        if (rowTokens.length < rows) rowTokens = new int[rows];
        Range mine = sh.owned(-1, rank);
        for (int r = 0; r < world; r++) {
            MemorySegment block = rowsRecv.asSlice(r * per * 4, per * 4);
            for (int n = 0; n < rows; n++) rowTokens[n] = (int) block.getAtIndex(JAVA_FLOAT, n);
            model.addEmbeddingGradient(block.asSlice((long) rows * 4), rowTokens, rows, mine.from(), mine.to());
        }
    }

    /**
     * One MPI_Test on a request in flight, which runs Open MPI's progress engine for all of them:
     * without it a prefetched gather moved only once the rank waited for it, so every wait also
     * waited for the other rank to reach its own wait.
     */
    @Override
    public void progress() {
        long t0 = System.nanoTime();
        Comm.Request r = pending;
        for (int i = 0; i < rsPending.length && r == null; i++) r = rsPending[i];
        if (r != null) r.isDone();
        else poll();
        commNanos += System.nanoTime() - t0;
    }

    // ------------------------------------------------------------------ DDP

    /** Starts every bucket lying wholly at or above {@code finalFrom} (gradients there are final). */
    private void launchBuckets(long finalFrom) {
        long t0 = System.nanoTime();
        while (launched < buckets.size() && buckets.get(launched).from() >= finalFrom) {
            Range b = buckets.get(launched++);
            inFlight.add(comm.allReduceSumAsync(grads.data(), b.from(), b.length()));
        }
        commNanos += System.nanoTime() - t0;
    }

    /** Lets MPI progress the in-flight collectives (it has no progress thread). */
    private void poll() {
        for (Comm.Request r : inFlight) if (!r.isDone()) break;
    }

    // ------------------------------------------------------------------ sharded

    /**
     * Before unit u's backward: a send slot (its previous reduce-scatter completed first)
     * takes the unit's gradients, zero but for this rank's accumulated shard, and the model's
     * gradient views of the unit point into it.
     */
    private void mountGradients(int u) {
        int slot = HEAD_SLOT;
        if (u != (tied ? -1 : L)) {
            slot = rsNext;
            rsNext ^= 1;
        }
        completeReduceScatter(slot); // its last unit's: two blocks ago (HEAD_SLOT: the previous micro-step's)
        long t0 = System.nanoTime();
        Range unit = sh.unit(u), mine = sh.owned(u, rank);
        MemorySegment g = send[slot].asSlice(0, sh.per(u) * world * 4);
        g.fill((byte) 0);
        MemorySegment.copy(grads.data(), mine.from() * 4, g, (mine.from() - unit.from()) * 4, mine.length() * 4);
        grads.redirect(unit.from(), unit.to(), g);
        gradSlotOf[u + 1] = slot;
        commNanos += System.nanoTime() - t0;
    }

    /** Starts the reduce-scatter of unit u's gradients (final now) from the send slot its backward wrote them into. */
    private void reduceScatter(int u) {
        int slot = gradSlotOf[u + 1];
        if (slot < 0) throw new IllegalStateException("rank " + rank + ": unit " + u + "'s gradients were not mounted");
        long t0 = System.nanoTime();
        Range unit = sh.unit(u);
        long per = sh.per(u);
        grads.restore(unit.from(), unit.to());
        gradSlotOf[u + 1] = -1;
        rsPending[slot] = comm.reduceScatterSumAsync(send[slot].asSlice(0, per * world * 4), recv[slot].asSlice(0, per * 4), per);
        rsUnit[slot] = u;
        commNanos += System.nanoTime() - t0;
    }

    /** Waits for the slot's reduce-scatter: this rank's shard of the unit's gradients = the reduced sum. */
    private void completeReduceScatter(int slot) {
        Comm.Request r = rsPending[slot];
        if (r == null) return;
        long t0 = System.nanoTime();
        r.await();
        rsPending[slot] = null;
        Range mine = sh.owned(rsUnit[slot], rank);
        MemorySegment.copy(recv[slot], 0, grads.data(), mine.from() * 4, mine.length() * 4);
        commNanos += System.nanoTime() - t0;
    }

    /** Every gradient exchange of this backward has landed in this rank's shard. */
    private void completeReduceScatters() {
        completeReduceScatter(rsNext); // the older one, if any
        completeReduceScatter(rsNext ^ 1);
        completeReduceScatter(HEAD_SLOT);
        applyEmbeddingRows();
    }

    private void ensureGathered(int u) {
        if (gathered[u + 1]) return;
        long t0 = System.nanoTime();
        if (pendingUnit == u) {
            finishPrefetch();
        } else {
            finishPrefetch(); // every rank must issue collectives in the same order
            int slot = freeSlot();
            slotOf[u + 1] = slot;
            startGather(u, params, slots[slot]).await();
            mount(u);
        }
        commNanos += System.nanoTime() - t0;
    }

    /** Starts the async all-gather of unit u's parameters, unless it is resident or on its way. */
    private void prefetch(int u) {
        if (gathered[u + 1] || pendingUnit != NONE) return; // one in flight at a time
        int slot = freeSlot();
        if (slot < 0) return;
        long t0 = System.nanoTime();
        slotOf[u + 1] = slot;
        pending = startGather(u, params, slots[slot]);
        pendingUnit = u;
        commNanos += System.nanoTime() - t0;
    }

    /** Waits for the prefetch in flight, if any, and lets the model read its unit. */
    private void finishPrefetch() {
        if (pendingUnit == NONE) return;
        pending.await();
        int u = pendingUnit;
        pendingUnit = NONE;
        pending = null;
        mount(u);
    }

    /** The model reads gathered unit u in place, from its slot. */
    private void mount(int u) {
        Range unit = sh.unit(u);
        params.redirect(unit.from(), unit.to(), slots[slotOf[u + 1]]);
        gathered[u + 1] = true;
    }

    private void releaseParams(int u) {
        if (!gathered[u + 1]) return;
        Range unit = sh.unit(u);
        params.restore(unit.from(), unit.to());
        slotOf[u + 1] = -1;
        gathered[u + 1] = false;
    }

    /** A slot no unit holds, or -1. */
    private int freeSlot() {
        for (int s = 0; s < slots.length; s++) {
            boolean used = false;
            for (int x : slotOf) used |= x == s;
            if (!used) return s;
        }
        return -1;
    }

    private Comm.Request startGather(int u, FlatBuffer b, MemorySegment buf) {
        Range mine = sh.owned(u, rank);
        long per = sh.per(u);
        MemorySegment block = buf.asSlice(rank * per * 4, per * 4);
        MemorySegment.copy(b.data(), mine.from() * 4, block, 0, mine.length() * 4);
        block.asSlice(mine.length() * 4).fill((byte) 0);
        return comm.allGatherAsync(block, buf.asSlice(0, per * world * 4), per);
    }

    /**
     * Synchronous all-gather of unit u of buffer b through a free slot; copies the result into b
     * when {@code keep} (consolidated checkpoints, tests, ZeRO-2's updated parameters).
     */
    private void gatherNow(int u, FlatBuffer b, boolean keep) {
        finishPrefetch();
        int slot = freeSlot();
        if (slot < 0) throw new IllegalStateException("rank " + rank + ": no free gather buffer for unit " + u);
        MemorySegment buf = slots[slot];
        startGather(u, b, buf).await();
        if (keep) MemorySegment.copy(buf, 0, b.data(), sh.unit(u).from() * 4, sh.unit(u).length() * 4);
    }

    @Override
    public void close() {
        model.setHooks(null);
        arena.close();
    }
}
