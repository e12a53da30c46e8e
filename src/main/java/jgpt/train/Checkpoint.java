package jgpt.train;

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
import java.util.Arrays;
import jgpt.model.FlatBuffer;
import jgpt.model.GPTConfig;
import jgpt.model.LanguageModel;
import jgpt.model.ParamLayout;
import jgpt.model.ParamTensor;
import jgpt.tokenizer.Tokenizer;
import jgpt.util.UserError;

/**
 * A run's single checkpoint file, {@code RUN/ckpt.bin}: the magic {@code JGPTCKPT}, a u32 version,
 * a u64 header length, a JSON header (model and train config, tokenizer, step, RNG state, data
 * position, tensor table), then raw little-endian f32 parameters and, optionally, AdamW's m and v.
 * The header is space-padded so the tensors start 64-byte aligned. Saving is atomic: a crash
 * mid-write leaves the previous checkpoint intact.
 *
 * <p>An opened checkpoint maps the file; close it when done.
 */
public final class Checkpoint implements AutoCloseable {
    public static final String FILE = "ckpt.bin";
    public static final int VERSION = 1;
    private static final byte[] MAGIC = "JGPTCKPT".getBytes(StandardCharsets.US_ASCII);
    private static final int PREFIX = MAGIC.length + Integer.BYTES + Long.BYTES;
    private static final int ALIGN = 64;
    private static final ObjectMapper JSON = new ObjectMapper();

    static {
        // Tensors are written and read as raw memory, which is little-endian on every supported CPU.
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) throw new ExceptionInInitializerError("big-endian CPU");
    }

    /**
     * What a checkpoint records besides the tensors.
     *
     * @param tokenizer    the tokenizer's JSON ({@code tokenizer.json} of the data)
     * @param step         optimizer steps completed
     * @param rngState     the trainer's RNG state
     * @param dataPosition the training loader's position
     */
    public record State(GPTConfig model, TrainConfig train, JsonNode tokenizer, long step, long rngState, long dataPosition) {}

    private final Path file;
    private final State state;
    private final boolean hasOptimizer;
    private final Arena arena;
    private final MemorySegment data; // the tensors: params, then m and v when present

    private Checkpoint(Path file, State state, boolean hasOptimizer, Arena arena, MemorySegment data) {
        this.file = file;
        this.state = state;
        this.hasOptimizer = hasOptimizer;
        this.arena = arena;
        this.data = data;
    }

    /** {@code RUN/ckpt.bin} for a run directory, or the path itself when it is a file. */
    public static Path resolve(Path dirOrFile) {
        return Files.isDirectory(dirOrFile) ? dirOrFile.resolve(FILE) : dirOrFile;
    }

    // ---------------------------------------------------------------- save

    /** Atomically writes {@code runDir/ckpt.bin}; optimizer may be null (weights only). */
    public static void save(Path runDir, State state, FlatBuffer params, AdamW optimizer) {
        Path target = runDir.resolve(FILE);
        Path tmp = runDir.resolve(FILE + ".tmp");
        byte[] header = paddedHeader(state, params.layout(), optimizer != null);
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer prefix = ByteBuffer.allocate(PREFIX).order(ByteOrder.LITTLE_ENDIAN);
                prefix.put(MAGIC).putInt(VERSION).putLong(header.length).flip();
                writeFully(ch, prefix);
                writeFully(ch, ByteBuffer.wrap(header));
                write(ch, params.data());
                if (optimizer != null) {
                    write(ch, optimizer.m().data());
                    write(ch, optimizer.v().data());
                }
                ch.force(true);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write checkpoint " + target + ": " + e.getMessage(), e);
        }
        fsyncDirectory(runDir);
    }

    private static byte[] paddedHeader(State s, ParamLayout layout, boolean withOptimizer) {
        ObjectNode h = JSON.createObjectNode();
        h.set("model", modelJson(s.model()));
        h.set("train", s.train().toJson());
        h.set("tokenizer", s.tokenizer());
        h.put("step", s.step());
        h.put("rng_state", s.rngState());
        h.put("data_position", s.dataPosition());
        h.put("optimizer", withOptimizer);
        h.put("numel", layout.numel());
        ArrayNode tensors = h.putArray("tensors");
        for (ParamTensor t : layout.tensors()) {
            ObjectNode o = tensors.addObject().put("name", t.name()).put("offset", t.offset());
            ArrayNode shape = o.putArray("shape");
            for (int d : t.shape()) shape.add(d);
        }
        byte[] json = h.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (int) (Math.ceilDiv(PREFIX + json.length, ALIGN) * ALIGN - PREFIX);
        byte[] out = new byte[padded];
        System.arraycopy(json, 0, out, 0, json.length);
        Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    public static void write(FileChannel ch, MemorySegment seg) throws IOException {
        long chunk = 1L << 26;
        for (long off = 0; off < seg.byteSize(); off += chunk) {
            writeFully(ch, seg.asSlice(off, Math.min(chunk, seg.byteSize() - off)).asByteBuffer());
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }

    /** Makes the rename itself durable; not every file system lets a directory be opened. */
    public static void fsyncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // best effort
        }
    }

    // ---------------------------------------------------------------- load

    /** Opens and validates a checkpoint given its run directory or its file. */
    public static Checkpoint load(Path dirOrFile) {
        Path file = resolve(dirOrFile);
        if (!Files.isRegularFile(file)) throw new UserError("no checkpoint at " + file);
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            Checkpoint c = parse(file, all, arena);
            arena = null; // owned by c now
            return c;
        } catch (IOException e) {
            throw new UserError("cannot read checkpoint " + file + ": " + e.getMessage());
        } finally {
            if (arena != null) arena.close();
        }
    }

    private static Checkpoint parse(Path file, MemorySegment all, Arena arena) {
        long size = all.byteSize();
        if (size < PREFIX || !Arrays.equals(MAGIC, all.asSlice(0, MAGIC.length).toArray(ValueLayout.JAVA_BYTE))) {
            throw new UserError(file + ": not a jgpt checkpoint (bad magic)");
        }
        int version = all.get(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), MAGIC.length);
        if (version != VERSION) throw new UserError(file + ": checkpoint version " + version + ", expected " + VERSION);
        long headerLen = all.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), MAGIC.length + 4);
        if (headerLen < 2 || headerLen > size - PREFIX) {
            throw new UserError(file + ": truncated or corrupt checkpoint (header length " + headerLen + ", file size " + size + ")");
        }
        JsonNode h;
        try {
            byte[] json = all.asSlice(PREFIX, headerLen).toArray(ValueLayout.JAVA_BYTE);
            h = JSON.readTree(new String(json, StandardCharsets.UTF_8));
        } catch (JacksonException e) {
            throw new UserError(file + ": corrupt checkpoint header (" + e.getOriginalMessage() + ")");
        }
        GPTConfig model = modelFromJson(file, h.path("model"));
        State state = new State(model, TrainConfig.fromJson(h.path("train"), file + " (train config)"),
                required(file, h, "tokenizer"), required(file, h, "step").asLong(),
                required(file, h, "rng_state").asLong(), required(file, h, "data_position").asLong());
        boolean hasOptimizer = required(file, h, "optimizer").asBoolean();
        ParamLayout layout = ParamLayout.of(model);
        checkTensorTable(file, h, layout);
        long tensorBytes = layout.numel() * Float.BYTES * (hasOptimizer ? 3 : 1);
        long expected = PREFIX + headerLen + tensorBytes;
        if (size != expected) {
            throw new UserError(file + ": truncated or corrupt checkpoint (expected " + expected + " bytes, found " + size + ")");
        }
        return new Checkpoint(file, state, hasOptimizer, arena, all.asSlice(PREFIX + headerLen, tensorBytes));
    }

    static JsonNode required(Path file, JsonNode h, String field) {
        JsonNode n = h.get(field);
        if (n == null || n.isNull()) throw new UserError(file + ": corrupt checkpoint header (no '" + field + "')");
        return n;
    }

    private static void checkTensorTable(Path file, JsonNode h, ParamLayout layout) {
        JsonNode table = required(file, h, "tensors");
        if (required(file, h, "numel").asLong() != layout.numel() || table.size() != layout.tensors().size()) {
            throw new UserError(file + ": tensor table does not match the model config in its header");
        }
        for (int i = 0; i < table.size(); i++) {
            ParamTensor t = layout.tensors().get(i);
            JsonNode e = table.get(i);
            int[] shape = new int[e.path("shape").size()];
            for (int k = 0; k < shape.length; k++) shape[k] = e.path("shape").get(k).asInt();
            if (!t.name().equals(e.path("name").asText()) || t.offset() != e.path("offset").asLong(-1)
                    || !Arrays.equals(t.shape(), shape)) {
                throw new UserError(file + ": tensor " + e.path("name").asText("#" + i)
                        + " does not match the layout of the model config in its header");
            }
        }
    }

    public static ObjectNode modelJson(GPTConfig c) {
        return JSON.createObjectNode().put("n_layer", c.nLayer()).put("n_head", c.nHead()).put("n_embd", c.nEmbd())
                .put("block_size", c.blockSize()).put("vocab_size", c.vocabSize()).put("bias", c.bias()).put("tied", c.tied())
                .put("arch", c.arch()).put("n_kv_head", c.nKvHead()).put("ffn_hidden", c.ffnHidden())
                .put("rope_theta", c.ropeTheta()).put("norm_eps", c.normEps());
    }

    public static GPTConfig modelFromJson(Path file, JsonNode m) {
        for (String f : new String[] {"n_layer", "n_head", "n_embd", "block_size", "vocab_size", "bias", "tied"}) {
            if (!m.has(f)) throw new UserError(file + ": corrupt checkpoint header (model has no '" + f + "')");
        }
        try {
            // arch and the Llama fields are absent from checkpoints written before Llama: GPT-2 defaults.
            return new GPTConfig(m.get("n_layer").asInt(), m.get("n_head").asInt(), m.get("n_embd").asInt(),
                    m.get("block_size").asInt(), m.get("vocab_size").asInt(), m.get("bias").asBoolean(), m.get("tied").asBoolean(),
                    m.path("arch").asText(GPTConfig.GPT2), m.path("n_kv_head").asInt(0), m.path("ffn_hidden").asInt(0),
                    m.path("rope_theta").asDouble(10000), m.path("norm_eps").asDouble(1e-5));
        } catch (UserError e) {
            throw new UserError(file + ": " + e.getMessage());
        }
    }

    // ---------------------------------------------------------------- use

    public Path file() { return file; }
    public State state() { return state; }
    public GPTConfig config() { return state.model(); }
    public boolean hasOptimizer() { return hasOptimizer; }

    public Tokenizer tokenizer() {
        return Tokenizer.fromJson(state.tokenizer());
    }

    /** A new model holding the checkpoint's weights. */
    public LanguageModel newModel() {
        LanguageModel model = LanguageModel.create(config());
        loadParams(model.params());
        return model;
    }

    public void loadParams(FlatBuffer params) {
        copyInto(params, 0);
    }

    /** Restores AdamW's moments; a user error if the checkpoint holds weights only. */
    public void loadOptimizer(AdamW optimizer) {
        if (!hasOptimizer) throw new UserError(file + ": checkpoint holds no optimizer state, cannot resume from it");
        copyInto(optimizer.m(), 1);
        copyInto(optimizer.v(), 2);
    }

    private void copyInto(FlatBuffer dst, int which) {
        if (dst.numel() != ParamLayout.of(config()).numel()) {
            throw new IllegalArgumentException("buffer of " + dst.numel() + " floats for a checkpoint of another model");
        }
        long bytes = dst.numel() * Float.BYTES;
        MemorySegment.copy(data, which * bytes, dst.data(), 0, bytes);
    }

    /**
     * Fails, naming the field and its flag, unless {@code wanted} is the checkpoint's model:
     * e.g. resuming with a different {@code --n-embd}.
     */
    public void requireModel(GPTConfig wanted) {
        GPTConfig have = config();
        mismatch("n_layer", "--n-layer", have.nLayer(), wanted.nLayer());
        mismatch("n_head", "--n-head", have.nHead(), wanted.nHead());
        mismatch("n_embd", "--n-embd", have.nEmbd(), wanted.nEmbd());
        mismatch("block_size", "--block-size", have.blockSize(), wanted.blockSize());
        if (have.vocabSize() != wanted.vocabSize()) {
            throw new UserError(file + ": checkpoint has vocab_size " + have.vocabSize()
                    + " but the data's vocabulary is " + wanted.vocabSize());
        }
        mismatch("bias", "--no-bias", have.bias(), wanted.bias());
        mismatch("tied", "--no-tie", have.tied(), wanted.tied());
        mismatch("arch", "--arch", have.arch(), wanted.arch());
        mismatch("n_kv_head", "--n-kv-head", have.nKvHead(), wanted.nKvHead());
        mismatch("ffn_hidden", "--ffn-hidden", have.ffnHidden(), wanted.ffnHidden());
    }

    private void mismatch(String field, String flag, Object have, Object wanted) {
        if (have.equals(wanted)) return;
        String yours = have instanceof Boolean ? "the config has " + field + " " + wanted + " (" + flag + ")" : flag + " is " + wanted;
        throw new UserError(file + ": checkpoint has " + field + " " + have + " but " + yours);
    }

    @Override
    public void close() {
        arena.close();
    }
}
