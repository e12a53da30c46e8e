package jgpt.io;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import jgpt.util.UserError;

/**
 * A safetensors file (an 8-byte little-endian header length, a JSON header naming each tensor's
 * dtype, shape and byte range, then the raw little-endian data), memory-mapped and validated in
 * full when opened, so a damaged or hostile file fails as a {@link UserError} naming the file and
 * the tensor or field, never as a crash later. Closing unmaps it: segments from {@link #raw}
 * become unusable.
 */
public final class SafeTensors implements AutoCloseable {
    /** Bound on the JSON header: real headers are kilobytes; a huge length means a damaged file. */
    public static final long MAX_HEADER_BYTES = 100_000_000L;

    // The file is little-endian whatever the platform, and tensors start at any byte.
    private static final ValueLayout.OfLong I64_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64_LE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static final JsonMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private static final String METADATA = "__metadata__";

    /** The safetensors dtypes with a whole-byte size. Only some convert to float or int here. */
    public enum DType {
        BOOL(1), U8(1), I8(1), F8_E5M2(1), F8_E4M3(1), I16(2), U16(2), F16(2), BF16(2),
        I32(4), U32(4), F32(4), I64(8), U64(8), F64(8);

        private final int size;

        DType(int size) {
            this.size = size;
        }

        public int size() {
            return size;
        }
    }

    /** One tensor's header entry; {@code offset} is from the start of the file. */
    public record TensorInfo(String name, DType dtype, long[] shape, long offset, long byteLength) {
        public TensorInfo {
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        public long numel() {
            return byteLength / dtype.size;
        }
    }

    private final Path path;
    private final Arena arena;
    private final MemorySegment file;
    private final Map<String, String> metadata;
    private final Map<String, TensorInfo> tensors;

    private SafeTensors(Path path, Arena arena, MemorySegment file, Map<String, String> metadata,
                        Map<String, TensorInfo> tensors) {
        this.path = path;
        this.arena = arena;
        this.file = file;
        this.metadata = metadata;
        this.tensors = tensors;
    }

    public static SafeTensors open(Path path) {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new UserError(path + ": not a safetensors file: " + size + " bytes, shorter than the 8-byte header length");
            }
            MemorySegment file = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            Header header = new Parser(path, file).parse();
            return new SafeTensors(path, arena, file, header.metadata, header.tensors);
        } catch (NoSuchFileException e) {
            arena.close();
            throw new UserError(path + ": no such file");
        } catch (IOException e) {
            arena.close();
            throw new UserError(path + ": cannot read: " + e.getMessage(), e);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    public Path path() {
        return path;
    }

    /** The header's {@code __metadata__} (empty when absent). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Tensor names in header order. */
    public Set<String> names() {
        return tensors.keySet();
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    public TensorInfo info(String name) {
        TensorInfo info = tensors.get(name);
        if (info == null) throw new UserError("tensor '" + name + "' not found in " + path);
        return info;
    }

    /** The tensor as floats: F32 as is, F16/BF16 widened, F64 rounded to nearest. */
    public float[] floats(String name) {
        TensorInfo info = info(name);
        float[] out = new float[arrayLength(info)];
        if (info.dtype == DType.F32) {
            MemorySegment.copy(file, F32_LE, info.offset, out, 0, out.length);
        } else {
            requireFloatDtype(info);
            for (int i = 0; i < out.length; i++) out[i] = floatAt(info, i);
        }
        return out;
    }

    /**
     * Copies the tensor as native-order floats into {@code dst} starting at float index
     * {@code dstFloatOffset}; F32 is a bulk copy.
     */
    public void copyFloats(String name, MemorySegment dst, long dstFloatOffset) {
        TensorInfo info = info(name);
        long n = info.numel();
        if (dstFloatOffset < 0 || dst.byteSize() / Float.BYTES - dstFloatOffset < n) {
            throw new IllegalArgumentException("tensor '" + name + "' (" + n + " floats) does not fit in "
                    + dst.byteSize() / Float.BYTES + " floats at offset " + dstFloatOffset);
        }
        if (info.dtype == DType.F32) {
            MemorySegment.copy(file, F32_LE, info.offset, dst, ValueLayout.JAVA_FLOAT_UNALIGNED, dstFloatOffset * Float.BYTES, n);
            return;
        }
        requireFloatDtype(info);
        for (long i = 0; i < n; i++) dst.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, dstFloatOffset + i, floatAt(info, i));
    }

    /** The tensor as ints: I32 as is, I64 when every value fits in an int. */
    public int[] ints(String name) {
        TensorInfo info = info(name);
        int[] out = new int[arrayLength(info)];
        switch (info.dtype) {
            case I32 -> MemorySegment.copy(file, I32_LE, info.offset, out, 0, out.length);
            case I64 -> {
                for (int i = 0; i < out.length; i++) {
                    long v = file.get(I64_LE, info.offset + 8L * i);
                    if (v != (int) v) {
                        throw new UserError(path + ": tensor '" + name + "': I64 value " + v + " at index " + i + " does not fit in an int");
                    }
                    out[i] = (int) v;
                }
            }
            default -> throw new UserError(path + ": tensor '" + name + "' has dtype " + info.dtype + ", expected I32 or I64");
        }
        return out;
    }

    /** The tensor's bytes as stored (little-endian, unaligned), valid until {@link #close}. */
    public MemorySegment raw(String name) {
        TensorInfo info = info(name);
        return file.asSlice(info.offset, info.byteLength);
    }

    @Override
    public void close() {
        arena.close();
    }

    private int arrayLength(TensorInfo info) {
        // Java arrays stop a little short of Integer.MAX_VALUE.
        if (info.numel() > Integer.MAX_VALUE - 8) {
            throw new UserError(path + ": tensor '" + info.name + "' has " + info.numel() + " elements, too many for a Java array");
        }
        return (int) info.numel();
    }

    private void requireFloatDtype(TensorInfo info) {
        switch (info.dtype) {
            case F32, F16, BF16, F64 -> { }
            default -> throw new UserError(path + ": tensor '" + info.name + "' has dtype " + info.dtype
                    + ", expected F32, F16, BF16 or F64");
        }
    }

    private float floatAt(TensorInfo info, long i) {
        return switch (info.dtype) {
            case F32 -> file.get(F32_LE, info.offset + 4 * i);
            case F16 -> Float.float16ToFloat(file.get(I16_LE, info.offset + 2 * i));
            // bfloat16 is the top half of a float32.
            case BF16 -> Float.intBitsToFloat((file.get(I16_LE, info.offset + 2 * i) & 0xFFFF) << 16);
            case F64 -> (float) file.get(F64_LE, info.offset + 8 * i);
            default -> throw new IllegalStateException("not a float dtype: " + info.dtype);
        };
    }

    private record Header(Map<String, String> metadata, Map<String, TensorInfo> tensors) {
    }

    /** Reads and checks the header of a mapped file; every failure names the file. */
    private record Parser(Path path, MemorySegment file) {
        Header parse() {
            long headerLength = file.get(I64_LE, 0);  // a u64: above 2^63 reads negative
            if (headerLength < 0 || headerLength > MAX_HEADER_BYTES) {
                throw fail("header length " + Long.toUnsignedString(headerLength) + " is over the "
                        + MAX_HEADER_BYTES + "-byte limit (damaged file?)");
            }
            long dataStart = 8 + headerLength;
            if (dataStart > file.byteSize()) {
                throw fail("header length " + headerLength + " runs past the end of the file (" + file.byteSize() + " bytes)");
            }
            JsonNode root = readJson(file.asSlice(8, headerLength).toArray(ValueLayout.JAVA_BYTE));
            if (!root.isObject()) throw fail("header is not a JSON object");

            long dataSize = file.byteSize() - dataStart;
            Map<String, String> metadata = Map.of();
            Map<String, TensorInfo> tensors = new LinkedHashMap<>();
            for (Map.Entry<String, JsonNode> field : root.properties()) {
                if (field.getKey().equals(METADATA)) {
                    metadata = metadata(field.getValue());
                } else {
                    tensors.put(field.getKey(), tensor(field.getKey(), field.getValue(), dataStart, dataSize));
                }
            }
            checkNoOverlap(tensors.values(), dataStart);
            return new Header(metadata, Collections.unmodifiableMap(tensors));
        }

        private JsonNode readJson(byte[] bytes) {
            try {
                return JSON.readTree(bytes);
            } catch (JacksonException e) {
                throw fail("header is not valid JSON: " + e.getOriginalMessage().replaceAll("\\s+", " "));
            } catch (IOException e) {
                throw fail("header is not valid JSON: " + e.getMessage());
            }
        }

        private Map<String, String> metadata(JsonNode node) {
            if (!node.isObject()) throw fail(METADATA + " is not a JSON object");
            Map<String, String> out = new LinkedHashMap<>();
            for (Map.Entry<String, JsonNode> e : node.properties()) {
                if (!e.getValue().isTextual()) throw fail(METADATA + " value of '" + e.getKey() + "' is not a string");
                out.put(e.getKey(), e.getValue().textValue());
            }
            return Collections.unmodifiableMap(out);
        }

        private TensorInfo tensor(String name, JsonNode node, long dataStart, long dataSize) {
            String where = "tensor '" + name + "'";
            if (!node.isObject()) throw fail(where + " is not a JSON object");

            JsonNode dtypeNode = field(node, where, "dtype");
            if (!dtypeNode.isTextual()) throw fail(where + ": dtype is not a string");
            DType dtype;
            try {
                dtype = DType.valueOf(dtypeNode.textValue());
            } catch (IllegalArgumentException e) {
                throw fail(where + ": unknown dtype '" + dtypeNode.textValue() + "'");
            }

            long[] shape = longs(field(node, where, "shape"), where + ": shape");
            long numel = 1;
            for (long d : shape) {
                if (d < 0) throw fail(where + ": negative dimension in shape " + Arrays.toString(shape));
                try {
                    numel = Math.multiplyExact(numel, d);
                } catch (ArithmeticException e) {
                    throw fail(where + ": shape " + Arrays.toString(shape) + " has too many elements");
                }
            }

            long[] offsets = longs(field(node, where, "data_offsets"), where + ": data_offsets");
            if (offsets.length != 2) throw fail(where + ": data_offsets has " + offsets.length + " entries, expected [begin, end]");
            long begin = offsets[0], end = offsets[1];
            if (begin < 0 || begin > end) throw fail(where + ": data_offsets [" + begin + ", " + end + "] is not [begin <= end]");
            if (end > dataSize) {
                throw fail(where + ": data_offsets [" + begin + ", " + end + "] runs past the data section (" + dataSize + " bytes)");
            }
            long expected = numel > Long.MAX_VALUE / dtype.size ? -1 : numel * dtype.size;
            if (end - begin != expected) {
                throw fail(where + ": data_offsets [" + begin + ", " + end + "] hold " + (end - begin) + " bytes but "
                        + dtype + " " + Arrays.toString(shape) + " needs " + (expected < 0 ? "more than 2^63" : expected));
            }
            return new TensorInfo(name, dtype, shape, dataStart + begin, end - begin);
        }

        private JsonNode field(JsonNode node, String where, String field) {
            JsonNode value = node.get(field);
            if (value == null) throw fail(where + ": missing " + field);
            return value;
        }

        private long[] longs(JsonNode node, String what) {
            if (!node.isArray()) throw fail(what + " is not a JSON array");
            long[] out = new long[node.size()];
            for (int i = 0; i < out.length; i++) {
                JsonNode v = node.get(i);
                if (!v.isIntegralNumber() || !v.canConvertToLong()) throw fail(what + "[" + i + "] is not an integer: " + v);
                out[i] = v.longValue();
            }
            return out;
        }

        private void checkNoOverlap(Iterable<TensorInfo> infos, long dataStart) {
            List<TensorInfo> sorted = new ArrayList<>();
            for (TensorInfo t : infos) if (t.byteLength > 0) sorted.add(t);
            sorted.sort(Comparator.comparingLong(TensorInfo::offset));
            for (int i = 1; i < sorted.size(); i++) {
                TensorInfo a = sorted.get(i - 1), b = sorted.get(i);
                if (b.offset < a.offset + a.byteLength) {
                    throw fail("tensor '" + b.name + "' data_offsets " + range(b, dataStart) + " overlap tensor '"
                            + a.name + "' " + range(a, dataStart));
                }
            }
        }

        private static String range(TensorInfo t, long dataStart) {
            return "[" + (t.offset - dataStart) + ", " + (t.offset - dataStart + t.byteLength) + "]";
        }

        private UserError fail(String what) {
            return new UserError(path + ": " + what);
        }
    }

    /**
     * Collects named tensors (F32 and I32) and metadata, then writes one safetensors file
     * atomically: a temporary file in the same directory, fsync, rename. Arrays and segments are
     * read at {@link #write} time, not copied when added.
     */
    public static final class Writer {
        private record Entry(DType dtype, long[] shape, MemorySegment data, ValueLayout source) {
        }

        private final Map<String, Entry> entries = new LinkedHashMap<>();
        private final Map<String, String> metadata = new LinkedHashMap<>();

        public Writer metadata(String key, String value) {
            metadata.put(key, value);
            return this;
        }

        /** An F32 tensor; an empty shape is a scalar. */
        public Writer floats(String name, float[] data, long... shape) {
            return add(name, DType.F32, shape, MemorySegment.ofArray(data), ValueLayout.JAVA_FLOAT_UNALIGNED);
        }

        /** An F32 tensor from native-order floats, e.g. a parameter buffer. */
        public Writer floats(String name, MemorySegment data, long... shape) {
            return add(name, DType.F32, shape, data, ValueLayout.JAVA_FLOAT_UNALIGNED);
        }

        /** An I32 tensor; an empty shape is a scalar. */
        public Writer ints(String name, int[] data, long... shape) {
            return add(name, DType.I32, shape, MemorySegment.ofArray(data), ValueLayout.JAVA_INT_UNALIGNED);
        }

        private Writer add(String name, DType dtype, long[] shape, MemorySegment data, ValueLayout source) {
            if (name.isEmpty() || name.equals(METADATA)) throw new IllegalArgumentException("bad tensor name '" + name + "'");
            if (entries.containsKey(name)) throw new IllegalArgumentException("tensor '" + name + "' added twice");
            long numel = 1;
            for (long d : shape) {
                if (d < 0) throw new IllegalArgumentException("tensor '" + name + "': negative dimension in " + Arrays.toString(shape));
                numel = Math.multiplyExact(numel, d);
            }
            if (data.byteSize() != Math.multiplyExact(numel, dtype.size)) {
                throw new IllegalArgumentException("tensor '" + name + "': " + data.byteSize() + " bytes of data for shape "
                        + Arrays.toString(shape));
            }
            entries.put(name, new Entry(dtype, shape.clone(), data, source));
            return this;
        }

        public void write(Path path) {
            Path target = path.toAbsolutePath();
            Path tmp = null;
            try {
                tmp = Files.createTempFile(target.getParent(), "." + target.getFileName() + ".", ".tmp");
                try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                    writeAll(ch, header());
                    ByteBuffer chunk = ByteBuffer.allocateDirect(1 << 20);
                    MemorySegment chunkSeg = MemorySegment.ofBuffer(chunk);
                    for (Entry e : entries.values()) writeTensor(ch, e, chunk, chunkSeg);
                    ch.force(true);
                }
                try {
                    Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
                }
            } catch (IOException e) {
                deleteQuietly(tmp);
                throw new UserError(path + ": cannot write: " + e.getMessage(), e);
            } catch (RuntimeException | Error e) {
                deleteQuietly(tmp);
                throw e;
            }
        }

        /** Length prefix and JSON, padded with spaces so the data starts 8-byte aligned. */
        private ByteBuffer header() throws IOException {
            ObjectNode root = JSON.createObjectNode();
            if (!metadata.isEmpty()) {
                ObjectNode meta = root.putObject(METADATA);
                metadata.forEach(meta::put);
            }
            long offset = 0;
            for (Map.Entry<String, Entry> e : entries.entrySet()) {
                ObjectNode t = root.putObject(e.getKey());
                t.put("dtype", e.getValue().dtype.name());
                var shape = t.putArray("shape");
                for (long d : e.getValue().shape) shape.add(d);
                long size = e.getValue().data.byteSize();
                t.putArray("data_offsets").add(offset).add(offset + size);
                offset += size;
            }
            byte[] json = JSON.writeValueAsString(root).getBytes(StandardCharsets.UTF_8);
            int padded = (json.length + 7) / 8 * 8;
            ByteBuffer buf = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
            buf.putLong(padded).put(json);
            while (buf.hasRemaining()) buf.put((byte) ' ');
            return buf.flip();
        }

        private static void writeTensor(FileChannel ch, Entry e, ByteBuffer chunk, MemorySegment chunkSeg) throws IOException {
            int elem = e.dtype.size;
            ValueLayout target = e.dtype == DType.F32 ? F32_LE : I32_LE;
            long n = e.data.byteSize() / elem;
            long perChunk = chunk.capacity() / elem;
            for (long i = 0; i < n; i += perChunk) {
                long count = Math.min(perChunk, n - i);
                MemorySegment.copy(e.data, e.source, i * elem, chunkSeg, target, 0, count);
                writeAll(ch, chunk.clear().limit((int) (count * elem)));
            }
        }

        private static void writeAll(FileChannel ch, ByteBuffer buf) throws IOException {
            while (buf.hasRemaining()) ch.write(buf);
        }

        private static void deleteQuietly(Path p) {
            if (p == null) return;
            try {
                Files.deleteIfExists(p);
            } catch (IOException ignored) {
                // the original failure is the one worth reporting
            }
        }
    }
}
