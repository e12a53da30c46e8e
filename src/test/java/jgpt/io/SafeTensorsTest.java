package jgpt.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import jgpt.io.SafeTensors.DType;
import jgpt.util.Rng;
import jgpt.util.UserError;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class SafeTensorsTest {
    @TempDir
    Path dir;

    // ---- the committed fixtures (tools/gen_gpt2_fixture.py) ----

    @Test
    void readsTiedFixture() throws Exception {
        try (SafeTensors st = SafeTensors.open(fixture("gpt2_tiny_tied.safetensors"))) {
            assertThat(st.metadata()).containsEntry("n_layer", "2").containsEntry("n_head", "2")
                    .containsEntry("n_embd", "32").containsEntry("block_size", "8")
                    .containsEntry("vocab_size", "67").containsEntry("tied", "true")
                    .containsKeys("lr", "beta1", "beta2", "eps", "weight_decay", "max_norm", "B", "T", "torch_version");
            Map<String, long[]> params = gpt2Params(2, 32, 8, 67, true);
            checkLayout(st, params);
            assertThat(st.contains("lm_head.weight")).isFalse();
            assertThat(st.names()).hasSize(4 * params.size() + 6);
            checkConsistency(st, params);
        }
    }

    @Test
    void readsUntiedFixture() throws Exception {
        try (SafeTensors st = SafeTensors.open(fixture("gpt2_tiny_untied.safetensors"))) {
            assertThat(st.metadata()).containsEntry("tied", "false");
            Map<String, long[]> params = gpt2Params(2, 32, 8, 67, false);
            checkLayout(st, params);
            assertThat(st.info("lm_head.weight").shape()).containsExactly(67, 32);
            assertThat(st.names()).hasSize(4 * params.size() + 6);
            checkConsistency(st, params);
        }
    }

    private static void checkLayout(SafeTensors st, Map<String, long[]> params) {
        List<String> expectedOrder = new ArrayList<>(params.keySet());
        assertThat(st.names()).startsWith(expectedOrder.toArray(String[]::new));
        for (var p : params.entrySet()) {
            for (String prefix : List.of("", "grad.", "step1.", "step3.")) {
                SafeTensors.TensorInfo info = st.info(prefix + p.getKey());
                assertThat(info.dtype()).isEqualTo(DType.F32);
                assertThat(info.shape()).as(prefix + p.getKey()).containsExactly(p.getValue());
            }
        }
        assertThat(st.info("x").dtype()).isEqualTo(DType.I32);
        assertThat(st.info("x").shape()).containsExactly(2, 8);
        assertThat(st.info("y").shape()).containsExactly(2, 8);
        assertThat(st.info("logits").shape()).containsExactly(2, 8, 67);
        assertThat(st.info("loss").shape()).isEmpty();
        assertThat(st.info("losses").shape()).containsExactly(3);
        assertThat(st.info("grad_norms").shape()).containsExactly(3);
    }

    /** The stored results agree with each other: a check on the fixture and on the reader. */
    private static void checkConsistency(SafeTensors st, Map<String, long[]> params) {
        float[] logits = st.floats("logits");
        int[] y = st.ints("y");
        int vocab = 67;
        double ce = 0;
        for (int i = 0; i < y.length; i++) {
            assertThat(y[i]).isBetween(0, vocab - 1);
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int v = 0; v < vocab; v++) max = Math.max(max, logits[i * vocab + v]);
            for (int v = 0; v < vocab; v++) sum += Math.exp(logits[i * vocab + v] - max);
            ce += max + Math.log(sum) - logits[i * vocab + y[i]];
        }
        float loss = st.floats("loss")[0];
        assertThat(ce / y.length).isCloseTo(loss, within(1e-5));
        assertThat(st.floats("losses")[0]).isEqualTo(loss);

        double sq = 0;
        for (String name : params.keySet()) for (float g : st.floats("grad." + name)) sq += (double) g * g;
        float norm = st.floats("grad_norms")[0];
        assertThat(Math.sqrt(sq)).isCloseTo(norm, within(1e-5 * norm));
        assertThat(norm).as("clipping must trigger").isGreaterThan(Float.parseFloat(st.metadata().get("max_norm")));
    }

    private static Map<String, long[]> gpt2Params(int nLayer, int c, int block, int vocab, boolean tied) {
        Map<String, long[]> p = new LinkedHashMap<>();
        p.put("wte", new long[] {vocab, c});
        p.put("wpe", new long[] {block, c});
        for (int i = 0; i < nLayer; i++) {
            String h = "h." + i + ".";
            p.put(h + "ln_1.weight", new long[] {c});
            p.put(h + "ln_1.bias", new long[] {c});
            p.put(h + "attn.c_attn.weight", new long[] {3 * c, c});
            p.put(h + "attn.c_attn.bias", new long[] {3 * c});
            p.put(h + "attn.c_proj.weight", new long[] {c, c});
            p.put(h + "attn.c_proj.bias", new long[] {c});
            p.put(h + "ln_2.weight", new long[] {c});
            p.put(h + "ln_2.bias", new long[] {c});
            p.put(h + "mlp.c_fc.weight", new long[] {4 * c, c});
            p.put(h + "mlp.c_fc.bias", new long[] {4 * c});
            p.put(h + "mlp.c_proj.weight", new long[] {c, 4 * c});
            p.put(h + "mlp.c_proj.bias", new long[] {c});
        }
        p.put("ln_f.weight", new long[] {c});
        p.put("ln_f.bias", new long[] {c});
        if (!tied) p.put("lm_head.weight", new long[] {vocab, c});
        return p;
    }

    private static Path fixture(String name) throws URISyntaxException {
        return Path.of(SafeTensorsTest.class.getResource("/fixtures/" + name).toURI());
    }

    // ---- writer and reader ----

    @Test
    void writerRoundTrip() throws IOException {
        float[] a = {1.5f, -2f, 3.25f, Float.NaN, Float.MIN_VALUE, -0f};
        int[] b = {1, -2, Integer.MAX_VALUE, Integer.MIN_VALUE};
        Path out = dir.resolve("out.safetensors");
        new SafeTensors.Writer().floats("old", new float[] {9f}).write(out);  // replaced below
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(5 * Float.BYTES);
            for (int i = 0; i < 5; i++) seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, i * 0.5f);
            new SafeTensors.Writer()
                    .metadata("step", "3").metadata("note", "ünïcode")
                    .floats("a", a, 2, 3)
                    .ints("b", b, 4)
                    .floats("scalar", new float[] {7f})
                    .floats("empty", new float[0], 0, 3)
                    .floats("seg", seg, 5)
                    .write(out);
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertThat(files).containsExactly(out);  // no temporary file left behind
        }
        long headerLength = ByteBuffer.wrap(Files.readAllBytes(out), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertThat(headerLength % 8).isZero();

        try (SafeTensors st = SafeTensors.open(out); Arena arena = Arena.ofConfined()) {
            assertThat(st.metadata()).containsExactly(Map.entry("step", "3"), Map.entry("note", "ünïcode"));
            assertThat(st.names()).containsExactly("a", "b", "scalar", "empty", "seg");
            assertThat(st.info("a").dtype()).isEqualTo(DType.F32);
            assertThat(st.info("a").shape()).containsExactly(2, 3);
            assertThat(st.info("a").offset()).isEqualTo(8 + headerLength);
            assertThat(st.floats("a")).usingElementComparator(SafeTensorsTest::sameBits).containsExactly(
                    1.5f, -2f, 3.25f, Float.NaN, Float.MIN_VALUE, -0f);
            assertThat(st.info("b").dtype()).isEqualTo(DType.I32);
            assertThat(st.ints("b")).containsExactly(b);
            assertThat(st.info("scalar").shape()).isEmpty();
            assertThat(st.floats("scalar")).containsExactly(7f);
            assertThat(st.floats("empty")).isEmpty();
            assertThat(st.info("empty").shape()).containsExactly(0, 3);
            assertThat(st.floats("seg")).containsExactly(0f, 0.5f, 1f, 1.5f, 2f);
            assertThat(st.raw("a").byteSize()).isEqualTo(24);
            assertThat(st.raw("b").get(ValueLayout.JAVA_BYTE, 0)).isEqualTo((byte) 1);

            MemorySegment dst = arena.allocate(10 * Float.BYTES);
            st.copyFloats("seg", dst, 3);
            assertThat(dst.toArray(ValueLayout.JAVA_FLOAT)).containsExactly(0f, 0f, 0f, 0f, 0.5f, 1f, 1.5f, 2f, 0f, 0f);
            assertThatThrownBy(() -> st.copyFloats("seg", dst, 6)).isInstanceOf(IllegalArgumentException.class);
        }
    }

    private static int sameBits(Float x, Float y) {
        return Integer.compare(Float.floatToRawIntBits(x), Float.floatToRawIntBits(y));
    }

    @Test
    void writerRejectsMismatchedShape() {
        var w = new SafeTensors.Writer();
        assertThatThrownBy(() -> w.floats("a", new float[5], 2, 3)).isInstanceOf(IllegalArgumentException.class);
        w.floats("a", new float[6], 2, 3);
        assertThatThrownBy(() -> w.floats("a", new float[6], 6)).hasMessageContaining("twice");
    }

    @Test
    void convertsHalfBfloatDoubleAndLong() throws IOException {
        String header = """
                {"f16":{"dtype":"F16","shape":[6],"data_offsets":[0,12]},
                 "bf16":{"dtype":"BF16","shape":[4],"data_offsets":[12,20]},
                 "f64":{"dtype":"F64","shape":[2],"data_offsets":[20,36]},
                 "i64":{"dtype":"I64","shape":[3],"data_offsets":[36,60]},
                 "big":{"dtype":"I64","shape":[1],"data_offsets":[60,68]}}""";
        ByteBuffer data = ByteBuffer.allocate(68).order(ByteOrder.LITTLE_ENDIAN);
        for (int h : new int[] {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00, 0x3555}) data.putShort((short) h);
        for (int h : new int[] {0x3F80, 0xC000, 0x4049, 0xFF80}) data.putShort((short) h);
        data.putDouble(0.1).putDouble(-1e300);
        data.putLong(5).putLong(-7).putLong(Integer.MAX_VALUE).putLong(1L << 40);
        Path p = write("conv.safetensors", file(header, data.array()));

        try (SafeTensors st = SafeTensors.open(p); Arena arena = Arena.ofConfined()) {
            assertThat(st.floats("f16")).containsExactly(1f, -2f, 65504f, 0x1p-24f, Float.POSITIVE_INFINITY, 0.33325195f);
            assertThat(st.floats("bf16")).containsExactly(1f, -2f, 3.140625f, Float.NEGATIVE_INFINITY);
            assertThat(st.floats("f64")).containsExactly(0.1f, Float.NEGATIVE_INFINITY);
            assertThat(st.ints("i64")).containsExactly(5, -7, Integer.MAX_VALUE);
            assertThatThrownBy(() -> st.ints("big")).isInstanceOf(UserError.class)
                    .hasMessageContaining("'big'").hasMessageContaining("1099511627776");
            MemorySegment dst = arena.allocate(6 * Float.BYTES);
            st.copyFloats("f16", dst, 0);
            assertThat(dst.toArray(ValueLayout.JAVA_FLOAT)).containsExactly(st.floats("f16"));
            assertThatThrownBy(() -> st.floats("i64")).isInstanceOf(UserError.class)
                    .hasMessageContaining("'i64'").hasMessageContaining("I64");
            assertThatThrownBy(() -> st.ints("f16")).isInstanceOf(UserError.class).hasMessageContaining("'f16'");
        }
    }

    @Test
    void missingTensorNamesTensorAndFile() throws Exception {
        Path p = fixture("gpt2_tiny_tied.safetensors");
        try (SafeTensors st = SafeTensors.open(p)) {
            assertThatThrownBy(() -> st.floats("h.0.attn.c_attn.weigth")).isInstanceOf(UserError.class)
                    .hasMessage("tensor 'h.0.attn.c_attn.weigth' not found in " + p);
        }
    }

    @Test
    void missingFile() {
        Path p = dir.resolve("nope.safetensors");
        assertThatThrownBy(() -> SafeTensors.open(p)).isInstanceOf(UserError.class).hasMessageContaining(p.toString());
    }

    // ---- malformed files ----

    static Stream<Arguments> malformed() {
        String ok = "\"dtype\":\"F32\",\"shape\":[1]";
        return Stream.of(
                bad("file shorter than 8 bytes", new byte[5], "5 bytes"),
                bad("header length past EOF", withLength(1000, "{}", 0), "header length 1000", "past the end"),
                bad("header length over bound", withLength(200_000_000L, "{}", 0), "header length 200000000"),
                bad("header length above 2^63", withLength(-1L, "{}", 0), "18446744073709551615"),
                bad("empty header", file("", 0), "not a JSON object"),
                bad("not JSON", file("{not json", 0), "not valid JSON"),
                bad("trailing garbage", file("{} x", 0), "not valid JSON"),
                bad("not an object", file("[1,2]", 0), "not a JSON object"),
                bad("duplicate tensor", file("{\"w\":{" + ok + ",\"data_offsets\":[0,4]},\"w\":{}}", 4), "'w'"),
                bad("entry not an object", file("{\"w\":3}", 0), "tensor 'w'", "not a JSON object"),
                bad("missing dtype", file("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "tensor 'w'", "missing dtype"),
                bad("missing shape", file("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4), "tensor 'w'", "missing shape"),
                bad("missing data_offsets", file("{\"w\":{" + ok + "}}", 4), "tensor 'w'", "missing data_offsets"),
                bad("dtype not a string", file("{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
                        "tensor 'w'", "dtype is not a string"),
                bad("unknown dtype", file("{\"w\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
                        "tensor 'w'", "unknown dtype 'F33'"),
                bad("shape not an array", file("{\"w\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}", 4),
                        "tensor 'w'", "shape is not a JSON array"),
                bad("fractional dim", file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4),
                        "tensor 'w'", "shape[0]"),
                bad("dim beyond long", file("{\"w\":{\"dtype\":\"F32\",\"shape\":[123456789012345678901234567890],"
                        + "\"data_offsets\":[0,4]}}", 4), "tensor 'w'", "shape[0]"),
                bad("negative dim", file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,4]}}", 4),
                        "tensor 'w'", "negative dimension"),
                bad("overflowing shape", file("{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],"
                        + "\"data_offsets\":[0,4]}}", 4), "tensor 'w'", "too many elements"),
                bad("overflowing byte size", file("{\"w\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],"
                        + "\"data_offsets\":[0,8]}}", 8), "tensor 'w'", "more than 2^63"),
                bad("data_offsets not an array", file("{\"w\":{" + ok + ",\"data_offsets\":4}}", 4),
                        "tensor 'w'", "data_offsets is not a JSON array"),
                bad("three data_offsets", file("{\"w\":{" + ok + ",\"data_offsets\":[0,4,8]}}", 8),
                        "tensor 'w'", "data_offsets has 3 entries"),
                bad("negative begin", file("{\"w\":{" + ok + ",\"data_offsets\":[-4,0]}}", 4), "tensor 'w'", "data_offsets [-4, 0]"),
                bad("begin after end", file("{\"w\":{" + ok + ",\"data_offsets\":[8,4]}}", 8), "tensor 'w'", "data_offsets [8, 4]"),
                bad("end past data", file("{\"w\":{" + ok + ",\"data_offsets\":[0,400]}}", 4), "tensor 'w'", "past the data section"),
                bad("length not shape x dtype", file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4),
                        "tensor 'w'", "hold 4 bytes", "needs 8"),
                bad("overlapping tensors", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12), "tensor 'b'", "overlap tensor 'a'"),
                bad("metadata not an object", file("{\"__metadata__\":3}", 0), "__metadata__"),
                bad("metadata value not a string", file("{\"__metadata__\":{\"k\":1}}", 0), "__metadata__", "'k'"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformed")
    void malformedFileIsAUserErrorNamingTheField(String name, byte[] contents, String[] fragments) throws IOException {
        Path p = write("bad.safetensors", contents);
        assertThatThrownBy(() -> SafeTensors.open(p).close())
                .isInstanceOf(UserError.class)
                .hasMessageContaining(p.toString())
                .hasMessageContainingAll(fragments)
                .hasMessageNotContaining("\n");
    }

    private static Arguments bad(String name, byte[] contents, String... fragments) {
        return Arguments.of(name, contents, fragments);
    }

    // ---- fuzz: a damaged file never escapes as anything but a UserError ----

    @Test
    void fuzzedFilesOpenOrFailAsUserError() throws IOException {
        byte[] base = fuzzBase();
        int headerEnd = 8 + (int) ByteBuffer.wrap(base, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        Rng rng = new Rng(20261128);
        Path p = dir.resolve("fuzz.safetensors");
        int opened = 0, rejected = 0;
        for (int iter = 0; iter < 300; iter++) {
            byte[] bytes = base.clone();
            int mutations = rng.nextInt(4) == 0 ? 2 + rng.nextInt(2) : 1;
            for (int m = 0; m < mutations; m++) bytes = mutate(bytes, headerEnd, rng);
            Files.write(p, bytes);
            try (SafeTensors st = SafeTensors.open(p); Arena arena = Arena.ofConfined()) {
                opened++;
                readEverything(st, arena);
            } catch (UserError e) {
                rejected++;
                if (!e.getMessage().contains(p.toString()) || e.getMessage().contains("\n")) {
                    throw new AssertionError("iteration " + iter + ": bad message: " + e.getMessage(), e);
                }
            }
        }
        assertThat(opened).as("some mutants must still open").isGreaterThan(15);
        assertThat(rejected).as("some mutants must be rejected").isGreaterThan(150);
    }

    /** Reads every tensor the way its dtype allows; a UserError here must name the tensor. */
    private static void readEverything(SafeTensors st, Arena arena) {
        st.metadata().values().forEach(v -> v.getBytes(StandardCharsets.UTF_8));
        for (String name : st.names()) {
            SafeTensors.TensorInfo info = st.info(name);
            st.raw(name).toArray(ValueLayout.JAVA_BYTE);
            try {
                switch (info.dtype()) {
                    case F32, F16, BF16, F64 -> {
                        if (st.floats(name).length != info.numel()) throw new AssertionError(name + ": wrong length");
                        st.copyFloats(name, arena.allocate(Math.max(1, info.numel()) * Float.BYTES), 0);
                    }
                    case I32, I64 -> {
                        if (st.ints(name).length != info.numel()) throw new AssertionError(name + ": wrong length");
                    }
                    default -> st.floats(name);  // unsupported conversion: a UserError
                }
            } catch (UserError e) {
                if (!e.getMessage().contains(name)) throw new AssertionError("message lacks '" + name + "': " + e.getMessage(), e);
            }
        }
    }

    /** A small valid file with every dtype the reader converts, a scalar and metadata. */
    private static byte[] fuzzBase() {
        String header = "{\"__metadata__\":{\"n_layer\":\"2\",\"tied\":\"true\"},"
                + "\"f32\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                + "\"f16\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]},"
                + "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[32,40]},"
                + "\"f64\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[40,56]},"
                + "\"i32\":{\"dtype\":\"I32\",\"shape\":[3],\"data_offsets\":[56,68]},"
                + "\"i64\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[68,84]},"
                + "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[84,88]},"
                + "\"u8\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[88,91]}}";
        ByteBuffer data = ByteBuffer.allocate(91).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < 6; i++) data.putFloat(i - 2.5f);
        for (int i = 0; i < 8; i++) data.putShort((short) (0x3C00 + i));
        data.putDouble(0.25).putDouble(-3);
        data.putInt(1).putInt(-2).putInt(3);
        data.putLong(4).putLong(-5);
        data.putFloat(42f);
        data.put((byte) 1).put((byte) 2).put((byte) 3);
        return file(header, data.array());
    }

    private static byte[] mutate(byte[] b, int headerEnd, Rng rng) {
        // Most mutations land in the header, where the structure is.
        int pos = b.length == 0 ? 0 : rng.nextInt(10) < 8 && headerEnd <= b.length ? rng.nextInt(headerEnd) : rng.nextInt(b.length);
        switch (rng.nextInt(7)) {
            case 0 -> { if (b.length > 0) b[pos] = (byte) rng.nextInt(256); }
            case 1 -> { if (b.length > 0) b[pos] ^= (byte) (1 << rng.nextInt(8)); }
            case 2 -> b = Arrays.copyOf(b, rng.nextInt(b.length + 1));
            case 3 -> {
                if (b.length < 8) break;
                ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
                long len = bb.getLong(0);
                bb.putLong(0, switch (rng.nextInt(3)) {
                    case 0 -> len + rng.nextInt(33) - 16;
                    case 1 -> rng.nextInt(b.length);
                    default -> rng.nextLong();
                });
            }
            case 4 -> {  // a different digit keeps the JSON valid but moves offsets and dims
                for (int tries = 0; tries < 50 && b.length > 0; tries++) {
                    int i = rng.nextInt(Math.min(headerEnd, b.length));
                    if (b[i] >= '0' && b[i] <= '9') {
                        b[i] = (byte) ('0' + rng.nextInt(10));
                        break;
                    }
                }
            }
            case 5 -> {  // insert or delete a byte, shifting everything after it
                byte[] c = rng.nextInt(2) == 0 ? new byte[b.length + 1] : new byte[Math.max(0, b.length - 1)];
                int at = Math.min(pos, c.length);
                System.arraycopy(b, 0, c, 0, Math.min(at, b.length));
                if (c.length > b.length) {
                    c[at] = (byte) rng.nextInt(256);
                    System.arraycopy(b, at, c, at + 1, b.length - at);
                } else if (b.length > 0) {
                    System.arraycopy(b, at + 1, c, at, b.length - at - 1);
                }
                b = c;
            }
            default -> {
                byte[] specials = "{}[]\",:-09 e.\0".getBytes(StandardCharsets.ISO_8859_1);
                if (b.length > 0) b[pos] = rng.nextInt(5) == 0 ? (byte) 0xC3 : specials[rng.nextInt(specials.length)];
            }
        }
        return b;
    }

    // ---- building files by hand ----

    private static byte[] file(String header, int dataBytes) {
        return file(header, new byte[dataBytes]);
    }

    private static byte[] file(String header, byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return withLength(h.length, h, data);
    }

    private static byte[] withLength(long headerLength, String header, int dataBytes) {
        return withLength(headerLength, header.getBytes(StandardCharsets.UTF_8), new byte[dataBytes]);
    }

    private static byte[] withLength(long headerLength, byte[] header, byte[] data) {
        return ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(headerLength).put(header).put(data).array();
    }

    private Path write(String name, byte[] contents) throws IOException {
        return Files.write(dir.resolve(name), contents);
    }
}
