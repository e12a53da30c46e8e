package jgpt.data;

/** PLACEHOLDER (replaced on merge by the data branch's loader). */
public final class DataLoader {
    public DataLoader(TokenFile file, int B, int T, int rank, int worldSize) {
        throw new UnsupportedOperationException("placeholder");
    }

    public void next(int[] inputs, int[] targets) {
        throw new UnsupportedOperationException("placeholder");
    }

    public long position() {
        throw new UnsupportedOperationException("placeholder");
    }

    public void setPosition(long position) {
        throw new UnsupportedOperationException("placeholder");
    }

    public void reset() {
        throw new UnsupportedOperationException("placeholder");
    }
}
