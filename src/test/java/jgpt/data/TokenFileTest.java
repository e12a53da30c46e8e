package jgpt.data;

import jgpt.util.UserError;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TokenFileTest {
    @TempDir
    Path dir;

    private Path write(String name, int vocab, int[]... chunks) {
        Path p = dir.resolve(name);
        try (var w = new TokenFile.Writer(p, "gpt2", vocab)) {
            for (int[] c : chunks) {
                w.write(c);
            }
            w.finish();
        }
        return p;
    }

    @Test
    void uint16RoundTripIncludingIdsAbove32767() throws IOException {
        int[] a = {0, 1, 50256, 65535, 32768};
        int[] b = IntStream.range(0, 200_000).map(i -> (i * 7919) % 65536).toArray();
        Path p = write("u16.bin", 65536, a, b);
        assertThat(Files.size(p)).isEqualTo(256 + 2L * (a.length + b.length));
        try (TokenFile f = TokenFile.open(p)) {
            assertThat(f.count()).isEqualTo(a.length + b.length);
            assertThat(f.tokenizerName()).isEqualTo("gpt2");
            assertThat(f.vocabSize()).isEqualTo(65536);
            assertThat(f.get(2)).isEqualTo(50256);
            assertThat(f.get(3)).isEqualTo(65535);
            int[] all = new int[a.length + b.length];
            f.read(0, all, 0, all.length); // longer than the widening scratch buffer
            assertThat(IntStream.of(all).limit(a.length).toArray()).isEqualTo(a);
            assertThat(IntStream.of(all).skip(a.length).toArray()).isEqualTo(b);
            int[] window = new int[4];
            f.read(a.length + 10, window, 1, 3);
            assertThat(window).containsExactly(0, b[10], b[11], b[12]);
            assertThatThrownBy(() -> f.read(all.length - 2, window, 0, 3))
                    .isInstanceOf(IndexOutOfBoundsException.class);
        }
    }

    @Test
    void int32UsedAboveUint16Range() throws IOException {
        int[] a = {0, 65536, 99_999, 7};
        Path p = write("i32.bin", 100_000, a);
        assertThat(Files.size(p)).isEqualTo(256 + 4L * a.length);
        try (TokenFile f = TokenFile.open(p)) {
            int[] got = new int[a.length];
            f.read(0, got, 0, a.length);
            assertThat(got).containsExactly(a);
            assertThat(f.get(1)).isEqualTo(65536);
        }
    }

    @Test
    void unfinishedWriterLeavesAFileTheReaderRejects() {
        Path p = dir.resolve("partial.bin");
        try (var w = new TokenFile.Writer(p, "char", 10)) {
            w.write(new int[] {1, 2, 3});
        }
        // buffered tokens are abandoned and the header count is never written
        assertThatThrownBy(() -> TokenFile.open(p)).isInstanceOf(UserError.class)
                .hasMessageStartingWith(p + ": ");
    }

    @Test
    void truncateKeepsTheHead() {
        Path p = write("t.bin", 100, new int[] {5, 6, 7, 8});
        TokenFile.truncate(p, 2);
        try (TokenFile f = TokenFile.open(p)) {
            assertThat(f.count()).isEqualTo(2);
            assertThat(f.get(1)).isEqualTo(6);
        }
    }

    private Path corrupt(long offset, ByteBuffer bytes) throws IOException {
        Path p = write("c.bin", 1000, new int[] {1, 2, 3, 4});
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
            ch.write(bytes, offset);
        }
        return p;
    }

    private static ByteBuffer le32(int v) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, v);
    }

    @Test
    void badMagic() throws IOException {
        Path p = corrupt(0, ByteBuffer.wrap("NOTATOK\0".getBytes()));
        assertThatThrownBy(() -> TokenFile.open(p)).isInstanceOf(UserError.class)
                .hasMessage(p + ": bad magic (not a jgpt token file)");
    }

    @Test
    void badVersion() throws IOException {
        Path p = corrupt(8, le32(7));
        assertThatThrownBy(() -> TokenFile.open(p)).isInstanceOf(UserError.class)
                .hasMessage(p + ": unsupported version 7 (expected 1)");
    }

    @Test
    void badHeaderSize() throws IOException {
        Path p = corrupt(12, le32(512));
        assertThatThrownBy(() -> TokenFile.open(p)).isInstanceOf(UserError.class)
                .hasMessage(p + ": header size 512 (expected 256)");
    }

    @Test
    void badDtype() throws IOException {
        Path p = corrupt(52, le32(9));
        assertThatThrownBy(() -> TokenFile.open(p)).isInstanceOf(UserError.class)
                .hasMessage(p + ": dtype code 9 (expected 1 = uint16 or 2 = int32)");
    }

    @Test
    void countMismatch() throws IOException {
        Path p = corrupt(56, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 1000));
        assertThatThrownBy(() -> TokenFile.open(p)).isInstanceOf(UserError.class)
                .hasMessage(p + ": token count 1000 in header but file holds 4");
    }

    @Test
    void shortAndMissingFiles() throws IOException {
        Path tiny = dir.resolve("tiny.bin");
        Files.write(tiny, new byte[10]);
        assertThatThrownBy(() -> TokenFile.open(tiny)).isInstanceOf(UserError.class)
                .hasMessage(tiny + ": file is 10 bytes, shorter than the 256-byte header");
        assertThatThrownBy(() -> TokenFile.open(dir.resolve("nope.bin"))).isInstanceOf(UserError.class)
                .hasMessage("token file not found: " + dir.resolve("nope.bin"));
    }
}
