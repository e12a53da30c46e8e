package jgpt.generate;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jgpt.kernels.Q8Tensor;
import jgpt.model.GPTConfig;
import jgpt.model.LanguageModel;
import jgpt.model.Llama;
import jgpt.model.ParamTensor;
import jgpt.tokenizer.Tokenizer;
import jgpt.train.Checkpoint;
import jgpt.util.UserError;

/**
 * A Llama checkpoint for decoding with Q8_0 weights ({@code jgpt quantize}): the linear weights
 * that {@link LlamaDecoder} multiplies by ({@link LlamaDecoder#weights}) as int8 blocks of 32 with
 * one f32 scale each, exactly as {@link Q8Tensor#quantize} makes them at load; embeddings and norms
 * as f32. No optimizer state: it cannot be trained or resumed.
 *
 * <p>File {@code ckpt-q8.bin}, little-endian: magic {@code JGPTQ8_0}, int32 version, int64 header
 * length, a UTF-8 JSON header (model config, tokenizer, tensor table) padded with spaces so the
 * data starts 64-byte aligned, then the tensors in table order, each at its 64-byte aligned
 * offset (relative to the data): f32 tensors as numel floats, q8_0 tensors as rows·cols int8
 * followed by rows·cols/32 f32 scales. The loader recomputes the whole table from the model config
 * and requires an exact match, the exact file size and finite non-negative scales.
 */
public final class Q8Checkpoint implements AutoCloseable {
    public static final String FILE = "ckpt-q8.bin";
    public static final int VERSION = 1;
    private static final byte[] MAGIC = "JGPTQ8_0".getBytes(StandardCharsets.US_ASCII);
    private static final int PREFIX = MAGIC.length + Integer.BYTES + Long.BYTES;
    private static final int ALIGN = 64;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** One entry of the tensor table; offset and bytes relative to the data section. */
    private record Entry(String name, boolean q8, int rows, int cols, long offset, long bytes) {
        ObjectNode json() {
            return JSON.createObjectNode().put("name", name).put("dtype", q8 ? "q8_0" : "f32").put("rows", rows)
                    .put("cols", cols).put("offset", offset).put("bytes", bytes);
        }
    }

    private final Path file;
    private final GPTConfig config;
    private final JsonNode tokenizer;
    private final Arena arena;
    private final MemorySegment data;
    private final List<Entry> table;

    private Q8Checkpoint(Path file, GPTConfig config, JsonNode tokenizer, Arena arena, MemorySegment data, List<Entry> table) {
        this.file = file;
        this.config = config;
        this.tokenizer = tokenizer;
        this.arena = arena;
        this.data = data;
        this.table = table;
    }

    /** The table a config's Q8 file must hold: f32 embeddings and norms, then the decoder's weights as q8_0. */
    private static List<Entry> table(GPTConfig c) {
        if (!c.isLlama()) throw new UserError("Q8_0 checkpoints are implemented for llama models only, got arch " + c.arch());
        List<Entry> t = new ArrayList<>();
        long off = 0;
        for (ParamTensor p : jgpt.model.ParamLayout.of(c).tensors()) {
            if (p.shape().length != 1 && !p.name().equals("embed_tokens.weight")) continue;
            int rows = p.shape().length == 1 ? 1 : p.shape()[0], cols = p.shape()[p.shape().length - 1];
            t.add(new Entry(p.name(), false, rows, cols, off, p.numel() * 4));
            off = align(off + p.numel() * 4);
        }
        for (LlamaDecoder.Weight w : LlamaDecoder.weights(c)) {
            if (w.cols() % Q8Tensor.BLOCK != 0) {
                throw new UserError("Q8_0 needs rows of a multiple of " + Q8Tensor.BLOCK + " weights; " + w.first() + " has " + w.cols());
            }
            long n = (long) w.rows() * w.cols();
            t.add(new Entry(w.first(), true, w.rows(), w.cols(), off, n + n / Q8Tensor.BLOCK * 4));
            off = align(off + n + n / Q8Tensor.BLOCK * 4);
        }
        return t;
    }

    private static long align(long n) {
        return Math.ceilDiv(n, ALIGN) * ALIGN;
    }

    /** {@code dir/ckpt-q8.bin} for a directory, else the path itself. */
    public static Path resolve(Path dirOrFile) {
        return Files.isDirectory(dirOrFile) ? dirOrFile.resolve(FILE) : dirOrFile;
    }

    /** Whether a --checkpoint argument names a Q8 file: a directory without ckpt.bin but with ckpt-q8.bin, or a file with the Q8 magic. */
    public static boolean isQ8(Path dirOrFile) {
        if (Files.isDirectory(dirOrFile)) {
            return !Files.exists(dirOrFile.resolve(Checkpoint.FILE)) && Files.isRegularFile(dirOrFile.resolve(FILE));
        }
        if (!Files.isRegularFile(dirOrFile)) return false;
        try (var in = Files.newInputStream(dirOrFile)) {
            return Arrays.equals(in.readNBytes(MAGIC.length), MAGIC);
        } catch (IOException e) {
            return false;
        }
    }

    // ---------------------------------------------------------------- write

    /** Quantizes a Llama checkpoint's weights into {@code outDir/ckpt-q8.bin}, atomically; returns the file. */
    public static Path write(Checkpoint ckpt, Path outDir) {
        GPTConfig c = ckpt.config();
        List<Entry> t = table(c);
        try {
            Files.createDirectories(outDir);
        } catch (IOException e) {
            throw new UserError("cannot create " + outDir + ": " + e.getMessage());
        }
        Path target = outDir.resolve(FILE), tmp = outDir.resolve(FILE + ".tmp");
        ObjectNode h = JSON.createObjectNode().put("format", "q8_0").put("block", Q8Tensor.BLOCK);
        h.set("model", Checkpoint.modelJson(c));
        h.set("tokenizer", ckpt.state().tokenizer());
        h.put("source_step", ckpt.state().step());
        ArrayNode tensors = h.putArray("tensors");
        t.forEach(e -> tensors.add(e.json()));
        byte[] json;
        try {
            json = JSON.writeValueAsBytes(h);
        } catch (JacksonException e) {
            throw new IllegalStateException(e);
        }
        byte[] header = Arrays.copyOf(json, (int) (align(PREFIX + json.length) - PREFIX));
        Arrays.fill(header, json.length, header.length, (byte) ' ');
        try (LanguageModel model = ckpt.newModel(); Arena scratch = Arena.ofConfined()) {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer prefix = ByteBuffer.allocate(PREFIX).order(ByteOrder.LITTLE_ENDIAN);
                prefix.put(MAGIC).putInt(VERSION).putLong(header.length).flip();
                while (prefix.hasRemaining()) ch.write(prefix);
                ByteBuffer hb = ByteBuffer.wrap(header);
                while (hb.hasRemaining()) ch.write(hb);
                long base = PREFIX + header.length;
                for (Entry e : t) {
                    ch.position(base + e.offset());
                    MemorySegment src = model.params().data().asSlice(model.layout().tensor(e.name()).offset() * 4,
                            (long) e.rows() * e.cols() * 4);
                    if (e.q8()) {
                        Q8Tensor q = Q8Tensor.quantize(src, e.rows(), e.cols(), scratch);
                        Checkpoint.write(ch, q.q());
                        Checkpoint.write(ch, q.scales());
                    } else {
                        Checkpoint.write(ch, src);
                    }
                }
                Entry last = t.getLast();
                ch.truncate(base + last.offset() + last.bytes());
                ch.force(true);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + target + ": " + e.getMessage(), e);
        }
        Checkpoint.fsyncDirectory(outDir);
        return target;
    }

    // ---------------------------------------------------------------- load

    /** Opens and validates a Q8 checkpoint (its directory or file); errors are one-line user errors. */
    public static Q8Checkpoint load(Path dirOrFile) {
        Path file = resolve(dirOrFile);
        if (!Files.isRegularFile(file)) throw new UserError("no Q8 checkpoint at " + file);
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            Q8Checkpoint q = parse(file, ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena), arena);
            arena = null;
            return q;
        } catch (IOException e) {
            throw new UserError("cannot read " + file + ": " + e.getMessage());
        } finally {
            if (arena != null) arena.close();
        }
    }

    private static Q8Checkpoint parse(Path file, MemorySegment all, Arena arena) {
        long size = all.byteSize();
        if (size < PREFIX || !Arrays.equals(MAGIC, all.asSlice(0, MAGIC.length).toArray(ValueLayout.JAVA_BYTE))) {
            throw new UserError(file + ": not a jgpt Q8_0 checkpoint (bad magic)");
        }
        int version = all.get(INT, MAGIC.length);
        if (version != VERSION) throw new UserError(file + ": Q8_0 checkpoint version " + version + ", expected " + VERSION);
        long headerLen = all.get(LONG, MAGIC.length + 4);
        if (headerLen < 2 || headerLen > size - PREFIX) {
            throw new UserError(file + ": truncated or corrupt Q8_0 checkpoint (header length " + headerLen + ", file size " + size + ")");
        }
        JsonNode h;
        try {
            h = JSON.readTree(new String(all.asSlice(PREFIX, headerLen).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8));
        } catch (JacksonException e) {
            throw new UserError(file + ": corrupt Q8_0 checkpoint header (" + e.getOriginalMessage().lines().findFirst().orElse("") + ")");
        }
        if (h == null || !"q8_0".equals(h.path("format").asText()) || h.path("block").asInt() != Q8Tensor.BLOCK
                || !h.path("tokenizer").isObject()) {
            throw new UserError(file + ": corrupt Q8_0 checkpoint header (format, block or tokenizer)");
        }
        GPTConfig config = Checkpoint.modelFromJson(file, h.path("model"));
        List<Entry> expected = table(config);
        JsonNode t = h.path("tensors");
        if (t.size() != expected.size()) throw new UserError(file + ": tensor table does not match the model config in its header");
        for (int i = 0; i < expected.size(); i++) {
            if (!expected.get(i).json().toString().equals(String.valueOf(t.get(i)))) { // as text: IntNode vs LongNode
                throw new UserError(file + ": tensor " + t.get(i).path("name").asText("#" + i)
                        + " does not match the layout of the model config in its header");
            }
        }
        Entry last = expected.getLast();
        long base = PREFIX + headerLen, want = base + last.offset() + last.bytes();
        if (base % ALIGN != 0 || size != want) {
            throw new UserError(file + ": truncated or corrupt Q8_0 checkpoint (expected " + want + " bytes, found " + size + ")");
        }
        MemorySegment data = all.asSlice(base);
        for (Entry e : expected) {
            if (!e.q8()) continue;
            long n = (long) e.rows() * e.cols();
            MemorySegment scales = data.asSlice(e.offset() + n, n / Q8Tensor.BLOCK * 4);
            for (long b = 0; b < n / Q8Tensor.BLOCK; b++) {
                float s = scales.getAtIndex(JAVA_FLOAT, b);
                if (!(s >= 0) || Float.isInfinite(s)) {
                    throw new UserError(file + ": corrupt Q8_0 checkpoint (" + e.name() + " has scale " + s + " in block " + b + ")");
                }
            }
        }
        return new Q8Checkpoint(file, config, h.get("tokenizer"), arena, data, expected);
    }

    public Path file() { return file; }
    public GPTConfig config() { return config; }

    public Tokenizer tokenizer() {
        return Tokenizer.fromJson(tokenizer);
    }

    /** A Llama holding the f32 tensors (embeddings, norms); its linear weights stay zero: decode with {@link #decoder}. */
    public Llama newModel() {
        Llama model = (Llama) LanguageModel.create(config);
        for (Entry e : table) {
            if (e.q8()) continue;
            MemorySegment.copy(data, e.offset(), model.params().data(), model.layout().tensor(e.name()).offset() * 4, e.bytes());
        }
        return model;
    }

    /** The int8 weights, read in place from the mapped file (valid until close), keyed by first tensor. */
    public Map<String, Q8Tensor> weights() {
        Map<String, Q8Tensor> m = new LinkedHashMap<>();
        for (Entry e : table) {
            if (!e.q8()) continue;
            long n = (long) e.rows() * e.cols();
            m.put(e.name(), new Q8Tensor(e.rows(), e.cols(), data.asSlice(e.offset(), n), data.asSlice(e.offset() + n, n / Q8Tensor.BLOCK * 4)));
        }
        return m;
    }

    /** A decoder over a model from {@link #newModel} and this file's int8 weights. */
    public LlamaDecoder decoder(Llama model) {
        return new LlamaDecoder(model, weights());
    }

    @Override
    public void close() {
        arena.close();
    }
}
