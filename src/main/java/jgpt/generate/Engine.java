package jgpt.generate;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import jgpt.model.LanguageModel;
import jgpt.tokenizer.Tokenizer;

/**
 * Continuous batching: one engine thread owns the model and decodes every active sequence together,
 * one token each per step, with a single batched {@link Decoder#step}. Requests wait in a bounded
 * queue and join the running batch between steps (their prompt is prefilled alone, then they take
 * part in the next step); finished or cancelled ones leave and free their slot. KV caches are
 * allocated once, one per slot.
 *
 * <p>Each request has its own sampler and seeded generator, and batched logits are bit-identical
 * to single-sequence ones, so a request's tokens are the same whatever else is in the batch.
 * Listeners are called on the engine thread and must not block.
 */
public final class Engine implements AutoCloseable {

    /** Events of one request, called on the engine thread. */
    public interface Listener {
        /** A generated token and the text it completed (often empty: a held stop prefix or a partial character). */
        void onToken(int token, String text, Explanation explanation);

        /** The end; {@code tail} is text released at the end (held back for a possible stop string). Called once. */
        void onDone(String tail, Result result);
    }

    /**
     * @param prompt       token ids, at least one; only the last block_size are seen (callers that must
     *                     not crop check the length first)
     * @param explainTopN  candidates to explain per token (0 = no explanations, faster)
     */
    public record Request(int[] prompt, int maxTokens, SamplingParams params, List<String> stops, int explainTopN,
                          Listener listener) {}

    /** Why generation ended: a stop string, max tokens, cancelled, or an error (see {@link Result#error}). */
    public enum Finish { STOP, LENGTH, CANCELLED, ERROR }

    /** Times in nanoseconds; queue is submit to admission, firstToken is submit to the first token. */
    public record Result(int[] tokens, String text, Finish finish, String error, int promptTokens,
                         long queueNanos, long prefillNanos, long firstTokenNanos, long totalNanos) {}

    /** Thrown by {@link #submit} when the queue is full. */
    public static final class QueueFullException extends RuntimeException {
        QueueFullException(String message) {
            super(message);
        }
    }

    /** A submitted request: cancel it at any time (it ends with {@link Finish#CANCELLED}). */
    public static final class Handle {
        final Request request;
        final long submitted = System.nanoTime();
        volatile boolean cancelled;

        Handle(Request request) {
            this.request = request;
        }

        public void cancel() {
            cancelled = true;
        }
    }

    /** An admitted request and its slot. */
    private static final class Active {
        final Handle handle;
        final Sequence seq;
        long admitted, prefilled, firstToken;
        boolean needsStep; // its last token is not yet in its cache

        Active(Handle handle, Sequence seq) {
            this.handle = handle;
            this.seq = seq;
        }
    }

    private final Tokenizer tokenizer;
    private final TokenDecoder decoder;
    private final int vocab;
    private final int maxQueue;
    private final ArrayDeque<KVCache> freeCaches = new ArrayDeque<>();
    private final List<KVCache> allCaches = new ArrayList<>();
    private final ArrayDeque<Handle> waiting = new ArrayDeque<>(); // guarded by this
    private final List<Active> active = new ArrayList<>(); // engine thread only
    private volatile int activeCount;
    private boolean closing; // guarded by this
    private final Thread thread;
    // batched-step scratch
    private final KVCache[] stepCaches;
    private final int[] stepTokens;
    private final float[][] stepLogits;

    /**
     * @param maxBatch sequences decoded together (one KV cache each, allocated now)
     * @param maxQueue requests that may wait for a slot; more are refused
     */
    public Engine(LanguageModel model, Tokenizer tokenizer, int maxBatch, int maxQueue) {
        this(TokenDecoder.of(model, maxBatch), tokenizer, maxBatch, maxQueue);
    }

    /** An engine over a given decoder (e.g. a Q8 one), which it closes when closed. */
    public Engine(TokenDecoder decoder, Tokenizer tokenizer, int maxBatch, int maxQueue) {
        if (maxQueue < 0) throw new IllegalArgumentException("maxQueue must be >= 0, got " + maxQueue);
        this.tokenizer = tokenizer;
        this.decoder = decoder;
        this.vocab = decoder.config().vocabSize();
        this.maxQueue = maxQueue;
        for (int i = 0; i < maxBatch; i++) {
            KVCache c = decoder.newCache();
            allCaches.add(c);
            freeCaches.add(c);
        }
        stepCaches = new KVCache[maxBatch];
        stepTokens = new int[maxBatch];
        stepLogits = new float[maxBatch][];
        thread = Thread.ofPlatform().name("jgpt-engine").daemon(true).start(this::run);
    }

    public int blockSize() {
        return decoder.config().blockSize();
    }

    /** Sequences being decoded now. */
    public int active() {
        return activeCount;
    }

    public synchronized int queued() {
        return waiting.size();
    }

    public Handle submit(Request request) {
        return submitAll(List.of(request)).getFirst();
    }

    /**
     * Queues all the requests or none of them.
     *
     * @throws QueueFullException if they do not all fit in the queue, or the engine is closed
     */
    public synchronized List<Handle> submitAll(List<Request> requests) {
        if (closing) throw new QueueFullException("the engine is shutting down");
        if (waiting.size() + requests.size() > maxQueue) {
            throw new QueueFullException("the queue is full (" + waiting.size() + " of " + maxQueue + " waiting)");
        }
        List<Handle> handles = new ArrayList<>();
        for (Request r : requests) {
            if (r.prompt().length == 0) throw new IllegalArgumentException("prompt must hold at least one token");
            handles.add(new Handle(r));
        }
        waiting.addAll(handles);
        notifyAll();
        return handles;
    }

    private void run() {
        while (true) {
            List<Handle> joining = takeJoining();
            if (joining == null) break;
            try {
                for (Handle h : joining) admit(h);
                sampleAll();
                stepAll();
            } catch (RuntimeException | OutOfMemoryError e) {
                // a bug in a batched step, or a request too large for the heap: fail the batch, keep serving
                for (Active a : active) finish(a, Finish.ERROR, String.valueOf(e));
                active.clear();
                activeCount = 0;
            }
        }
        for (Active a : active) finish(a, Finish.CANCELLED, null);
        active.clear();
        activeCount = 0;
    }

    /** Waits while idle; returns the requests to admit now, or null when closing. */
    private synchronized List<Handle> takeJoining() {
        while (!closing && active.isEmpty() && waiting.isEmpty()) {
            try {
                wait();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return null;
            }
        }
        if (closing) return null;
        List<Handle> out = new ArrayList<>();
        while (!waiting.isEmpty() && freeCaches.size() > out.size()) out.add(waiting.poll());
        return out;
    }

    private void admit(Handle h) {
        Request r = h.request;
        KVCache cache = freeCaches.poll();
        Sequence seq;
        try {
            seq = new Sequence(cache, tokenizer, vocab, r.prompt(), r.maxTokens(), r.params(), r.stops(), r.explainTopN());
        } catch (RuntimeException e) {
            freeCaches.add(cache);
            r.listener().onDone("", new Result(new int[0], "", Finish.ERROR, e.getMessage(), r.prompt().length,
                    System.nanoTime() - h.submitted, 0, 0, System.nanoTime() - h.submitted));
            return;
        }
        Active a = new Active(h, seq);
        a.admitted = System.nanoTime();
        if (!h.cancelled && !seq.done()) {
            try {
                seq.prefill(decoder);
            } catch (RuntimeException e) {
                finish(a, Finish.ERROR, String.valueOf(e.getMessage()));
                return;
            }
        }
        a.prefilled = System.nanoTime();
        active.add(a); // a cancelled or empty request is finished by sampleAll without running the model
        activeCount = active.size();
    }

    /** Samples one token for every active sequence; finished ones leave the batch. */
    private void sampleAll() {
        int n = 0;
        for (int i = 0; i < active.size(); i++) {
            Active a = active.get(i);
            boolean keep;
            try {
                keep = sampleOne(a);
            } catch (RuntimeException e) {
                finish(a, Finish.ERROR, String.valueOf(e.getMessage()));
                keep = false;
            }
            if (keep) active.set(n++, a);
        }
        active.subList(n, active.size()).clear();
        activeCount = n;
    }

    /** Returns whether the sequence stays in the batch. */
    private boolean sampleOne(Active a) {
        Sequence seq = a.seq;
        if (a.handle.cancelled) return finish(a, Finish.CANCELLED, null);
        if (seq.done()) return finish(a, seq.stopped() ? Finish.STOP : Finish.LENGTH, null);
        Sequence.Token t = seq.next();
        if (a.firstToken == 0) a.firstToken = System.nanoTime();
        a.handle.request.listener().onToken(t.id(), t.text(), t.explanation());
        if (seq.done()) return finish(a, seq.stopped() ? Finish.STOP : Finish.LENGTH, null);
        a.needsStep = seq.needsStep(decoder); // false: a full cache was rebuilt, logits are ready
        return true;
    }

    /** One batched step for the sequences whose last token is not yet in their cache. */
    private void stepAll() {
        int n = 0;
        for (Active a : active) {
            if (!a.needsStep) continue;
            stepCaches[n] = a.seq.cache;
            stepTokens[n] = a.seq.lastToken();
            stepLogits[n++] = a.seq.logits();
        }
        if (n > 0) decoder.step(stepCaches, stepTokens, n, stepLogits);
    }

    /** Ends a request, frees its slot, and tells its listener; returns false (it leaves the batch). */
    private boolean finish(Active a, Finish finish, String error) {
        String tail = finish == Finish.STOP || finish == Finish.LENGTH ? a.seq.finish() : "";
        long now = System.nanoTime(), sub = a.handle.submitted;
        Result r = new Result(a.seq.tokens(), a.seq.text(), finish, error, a.seq.promptLength, a.admitted - sub,
                Math.max(0, a.prefilled - a.admitted), a.firstToken == 0 ? 0 : a.firstToken - sub, now - sub);
        freeCaches.add(a.seq.cache);
        try {
            a.handle.request.listener().onDone(tail, r);
        } catch (RuntimeException e) {
            // a failing listener must not stop the engine; its request is over either way
        }
        return false;
    }

    /** Cancels everything still queued or running, stops the engine thread, and frees the caches. */
    @Override
    public void close() {
        List<Handle> dropped;
        synchronized (this) {
            if (closing) return;
            closing = true;
            dropped = new ArrayList<>(waiting);
            waiting.clear();
            notifyAll();
        }
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (Handle h : dropped) {
            h.request.listener().onDone("", new Result(new int[0], "", Finish.CANCELLED, null, h.request.prompt().length,
                    0, 0, 0, System.nanoTime() - h.submitted));
        }
        for (KVCache c : allCaches) c.close();
        decoder.close();
    }
}
