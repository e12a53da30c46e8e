package jgpt.dist;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * Giving pages of an off-heap buffer back to the OS, and counting which are resident. FSDP keeps
 * full-size parameter, gradient and moment buffers (so the model and the optimizer index them as
 * usual) but only this rank's shard is resident: everything else is released after use with
 * {@code madvise(MADV_DONTNEED)}, which drops the pages; touching them again maps fresh zero
 * pages. {@code mincore} reports which pages are resident, so the saving is measured, not assumed.
 * Linux only; elsewhere {@link #release} just zeroes and {@link #residentBytes} returns -1.
 */
public final class PageMemory {
    private static final int MADV_DONTNEED = 4;
    private static final long PAGE = 4096;
    private static final MethodHandle MADVISE;
    private static final MethodHandle MINCORE;

    static {
        MethodHandle madvise = null, mincore = null;
        if (System.getProperty("os.name", "").toLowerCase().contains("linux")) {
            Linker linker = Linker.nativeLinker();
            madvise = linker.defaultLookup().find("madvise").map(a -> linker.downcallHandle(a,
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT))).orElse(null);
            mincore = linker.defaultLookup().find("mincore").map(a -> linker.downcallHandle(a,
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS))).orElse(null);
        }
        MADVISE = madvise;
        MINCORE = mincore;
    }

    private PageMemory() {}

    /**
     * Zeroes {@code seg} and returns its whole pages to the OS: the partial pages at either end
     * (shared with neighbouring data) are zeroed in place and stay resident.
     */
    public static void release(MemorySegment seg) {
        long addr = seg.address(), end = addr + seg.byteSize();
        long lo = Math.ceilDiv(addr, PAGE) * PAGE, hi = Math.floorDiv(end, PAGE) * PAGE;
        if (MADVISE == null || hi <= lo) {
            seg.fill((byte) 0);
            return;
        }
        seg.asSlice(0, lo - addr).fill((byte) 0);
        seg.asSlice(hi - addr).fill((byte) 0);
        try {
            int rc = (int) MADVISE.invokeExact(MemorySegment.ofAddress(lo), hi - lo, MADV_DONTNEED);
            if (rc != 0) seg.asSlice(lo - addr, hi - lo).fill((byte) 0);
        } catch (Throwable t) {
            throw new IllegalStateException("madvise failed", t);
        }
    }

    /** Bytes of the pages touching {@code seg} that are resident in RAM; -1 if unknown. */
    public static long residentBytes(MemorySegment seg) {
        if (MINCORE == null || seg.byteSize() == 0) return MINCORE == null ? -1 : 0;
        long lo = Math.floorDiv(seg.address(), PAGE) * PAGE;
        long hi = Math.ceilDiv(seg.address() + seg.byteSize(), PAGE) * PAGE;
        long pages = (hi - lo) / PAGE;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment vec = arena.allocate(pages);
            int rc = (int) MINCORE.invokeExact(MemorySegment.ofAddress(lo), hi - lo, vec);
            if (rc != 0) return -1;
            long resident = 0;
            for (long i = 0; i < pages; i++) if ((vec.get(JAVA_BYTE, i) & 1) != 0) resident++;
            return resident * PAGE;
        } catch (Throwable t) {
            throw new IllegalStateException("mincore failed", t);
        }
    }
}
