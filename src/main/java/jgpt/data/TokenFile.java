package jgpt.data;

import jgpt.util.UserError;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * A binary file of token ids, memory-mapped for reading.
 *
 * <p>Layout (little-endian): a 256-byte header — magic {@code "JGPTTOK\0"}, int32 version (1),
 * int32 header size (256), 32 bytes tokenizer name (ASCII, zero padded), int32 vocab size,
 * int32 dtype (1 = uint16, 2 = int32), int64 token count, zero padding — then the tokens.
 */
public final class TokenFile implements AutoCloseable {
    static final int HEADER_SIZE = 256;
    static final int VERSION = 1;
    static final int UINT16 = 1;
    static final int INT32 = 2;
    private static final byte[] MAGIC = "JGPTTOK\0".getBytes(StandardCharsets.US_ASCII);
    private static final int NAME_BYTES = 32;
    private static final int OFF_VERSION = 8, OFF_HEADER_SIZE = 12, OFF_NAME = 16,
            OFF_VOCAB = 48, OFF_DTYPE = 52, OFF_COUNT = 56;
    private static final ValueLayout.OfShort U16 =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 =
            ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 =
            ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path path;
    private final Arena arena;
    private final MemorySegment tokens;
    private final String tokenizerName;
    private final int vocabSize;
    private final int dtype;
    private final long count;

    private TokenFile(Path path, Arena arena, MemorySegment tokens, String tokenizerName, int vocabSize,
                      int dtype, long count) {
        this.path = path;
        this.arena = arena;
        this.tokens = tokens;
        this.tokenizerName = tokenizerName;
        this.vocabSize = vocabSize;
        this.dtype = dtype;
        this.count = count;
    }

    /** The narrowest dtype that holds every id of a vocabulary. */
    static int dtypeFor(int vocabSize) {
        return vocabSize <= 65536 ? UINT16 : INT32;
    }

    static int bytesPer(int dtype) {
        return dtype == UINT16 ? 2 : 4;
    }

    /** Maps a token file and checks its header against the file's size. */
    public static TokenFile open(Path path) {
        // shared arena: data loaders may be read from worker threads
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < HEADER_SIZE) {
                throw new UserError(path + ": file is " + size + " bytes, shorter than the "
                        + HEADER_SIZE + "-byte header");
            }
            MemorySegment file = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            if (!Arrays.equals(file.asSlice(0, MAGIC.length).toArray(ValueLayout.JAVA_BYTE), MAGIC)) {
                throw new UserError(path + ": bad magic (not a jgpt token file)");
            }
            int version = file.get(I32, OFF_VERSION);
            if (version != VERSION) {
                throw new UserError(path + ": unsupported version " + version + " (expected " + VERSION + ")");
            }
            int headerSize = file.get(I32, OFF_HEADER_SIZE);
            if (headerSize != HEADER_SIZE) {
                throw new UserError(path + ": header size " + headerSize + " (expected " + HEADER_SIZE + ")");
            }
            String name = readName(file);
            int vocab = file.get(I32, OFF_VOCAB);
            if (vocab <= 0) {
                throw new UserError(path + ": vocab size " + vocab + " is not positive");
            }
            int dtype = file.get(I32, OFF_DTYPE);
            if (dtype != UINT16 && dtype != INT32) {
                throw new UserError(path + ": dtype code " + dtype + " (expected 1 = uint16 or 2 = int32)");
            }
            if (dtype == UINT16 && vocab > 65536) {
                throw new UserError(path + ": dtype uint16 cannot hold vocab size " + vocab);
            }
            long count = file.get(I64, OFF_COUNT);
            long held = (size - HEADER_SIZE) / bytesPer(dtype);
            if (count != held || (size - HEADER_SIZE) % bytesPer(dtype) != 0) {
                throw new UserError(path + ": token count " + count + " in header but file holds "
                        + held + ((size - HEADER_SIZE) % bytesPer(dtype) != 0 ? " and a partial token" : ""));
            }
            return new TokenFile(path, arena, file.asSlice(HEADER_SIZE), name, vocab, dtype, count);
        } catch (NoSuchFileException e) {
            arena.close();
            throw new UserError("token file not found: " + path);
        } catch (IOException e) {
            arena.close();
            throw new UncheckedIOException("cannot read " + path, e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static String readName(MemorySegment file) {
        byte[] raw = file.asSlice(OFF_NAME, NAME_BYTES).toArray(ValueLayout.JAVA_BYTE);
        int len = 0;
        while (len < raw.length && raw[len] != 0) {
            len++;
        }
        return new String(raw, 0, len, StandardCharsets.US_ASCII);
    }

    public Path path() {
        return path;
    }

    public String tokenizerName() {
        return tokenizerName;
    }

    public int vocabSize() {
        return vocabSize;
    }

    public long count() {
        return count;
    }

    public int get(long i) {
        if (i < 0 || i >= count) {
            throw new IndexOutOfBoundsException("token " + i + " of " + count + " in " + path);
        }
        return dtype == UINT16 ? Short.toUnsignedInt(tokens.get(U16, 2 * i)) : tokens.get(I32, 4 * i);
    }

    /** Copies tokens [start, start+len) into dst[off..]. */
    public void read(long start, int[] dst, int off, int len) {
        if (start < 0 || len < 0 || start > count - len) {
            throw new IndexOutOfBoundsException("tokens [" + start + ", " + (start + len) + ") of " + count
                    + " in " + path);
        }
        if (dtype == INT32) {
            MemorySegment.copy(tokens, I32, 4 * start, dst, off, len);
            return;
        }
        // bulk copy then widen: both loops are simple enough for the JIT to vectorize
        short[] scratch = new short[Math.min(len, 1 << 16)];
        for (int done = 0; done < len; ) {
            int n = Math.min(scratch.length, len - done);
            MemorySegment.copy(tokens, U16, 2 * (start + done), scratch, 0, n);
            for (int k = 0; k < n; k++) {
                dst[off + done + k] = Short.toUnsignedInt(scratch[k]);
            }
            done += n;
        }
    }

    /** Unmaps the file; later reads fail. */
    @Override
    public void close() {
        arena.close();
    }

    /** Shrinks a closed token file to its first {@code newCount} tokens. */
    static void truncate(Path path, long newCount) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer header = ByteBuffer.allocate(HEADER_SIZE).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(header, 0);
            int dtype = header.getInt(OFF_DTYPE);
            ch.truncate(HEADER_SIZE + newCount * bytesPer(dtype));
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, newCount), OFF_COUNT);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot truncate " + path, e);
        }
    }

    /** Appends token chunks to a new file; {@link #finish()} writes the final count into the header. */
    public static final class Writer implements AutoCloseable {
        private final Path path;
        private final FileChannel ch;
        private final int vocabSize;
        private final int dtype;
        private final ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        private long count;

        public Writer(Path path, String tokenizerName, int vocabSize) {
            byte[] name = tokenizerName.getBytes(StandardCharsets.US_ASCII);
            if (name.length > NAME_BYTES) {
                throw new IllegalArgumentException("tokenizer name longer than " + NAME_BYTES + " bytes");
            }
            if (vocabSize <= 0) {
                throw new IllegalArgumentException("vocab size " + vocabSize);
            }
            this.path = path;
            this.vocabSize = vocabSize;
            this.dtype = dtypeFor(vocabSize);
            try {
                ch = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                        StandardOpenOption.TRUNCATE_EXISTING);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot create " + path, e);
            }
            // count stays 0 until finish(): an interrupted write leaves a file the reader rejects
            buf.put(MAGIC).putInt(VERSION).putInt(HEADER_SIZE).put(name)
                    .position(OFF_VOCAB).putInt(vocabSize).putInt(dtype).putLong(0)
                    .position(HEADER_SIZE);
        }

        public void write(int[] tokens) {
            write(tokens, 0, tokens.length);
        }

        public void write(int[] tokens, int off, int len) {
            int bytes = bytesPer(dtype);
            for (int i = off; i < off + len; i++) {
                int t = tokens[i];
                if (t < 0 || t >= vocabSize) {
                    throw new IllegalArgumentException("token " + t + " outside vocab of " + vocabSize);
                }
                if (buf.remaining() < bytes) {
                    flush();
                }
                if (dtype == UINT16) {
                    buf.putShort((short) t);
                } else {
                    buf.putInt(t);
                }
            }
            count += len;
        }

        public long count() {
            return count;
        }

        /** Writes buffered tokens and the header's token count, and closes the file. */
        public void finish() {
            flush();
            try {
                ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, count), OFF_COUNT);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + path, e);
            }
            close();
        }

        private void flush() {
            buf.flip();
            try {
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + path, e);
            }
            buf.clear();
        }

        /** Closes without finishing when called first (e.g. after an error). */
        @Override
        public void close() {
            try {
                ch.close();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot close " + path, e);
            }
        }
    }
}
