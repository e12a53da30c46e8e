package jgpt.dist;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * FFM bindings to Open MPI's C library. Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...)
 * are the addresses of its predefined global objects, so they are looked up as symbols; the
 * constants below are from Open MPI's mpi.h (4.x), which the MPI ABI does not fix across vendors.
 */
final class MpiLibrary {
    static final String SONAME = "libmpi.so.40";
    static final int MPI_SUCCESS = 0;
    static final int MPI_THREAD_MULTIPLE = 3;
    static final int MPI_MAX_ERROR_STRING = 256;
    static final MemorySegment MPI_IN_PLACE = MemorySegment.ofAddress(1);
    static final MemorySegment MPI_STATUS_IGNORE = MemorySegment.NULL;
    static final MemorySegment MPI_STATUSES_IGNORE = MemorySegment.NULL;

    final MemorySegment commWorld;
    final MemorySegment floatType;
    final MemorySegment doubleType;
    final MemorySegment opSum;
    final MemorySegment errorsReturn;

    final MethodHandle initThread;
    final MethodHandle finalize;
    final MethodHandle abort;
    final MethodHandle commRank;
    final MethodHandle commSize;
    final MethodHandle commSetErrhandler;
    final MethodHandle errorString;
    final MethodHandle allreduce;
    final MethodHandle isend;
    final MethodHandle irecv;
    final MethodHandle allgather;
    final MethodHandle iallgather;
    final MethodHandle bcast;
    final MethodHandle barrier;
    final MethodHandle wait;
    final MethodHandle test;
    final MethodHandle testall;

    private final SymbolLookup lib;

    private MpiLibrary(SymbolLookup lib) {
        this.lib = lib;
        commWorld = symbol("ompi_mpi_comm_world");
        floatType = symbol("ompi_mpi_float");
        doubleType = symbol("ompi_mpi_double");
        opSum = symbol("ompi_mpi_op_sum");
        errorsReturn = symbol("ompi_mpi_errors_return");
        // int MPI_Init_thread(int *argc, char ***argv, int required, int *provided)
        initThread = function("MPI_Init_thread", JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS);
        finalize = function("MPI_Finalize", JAVA_INT);
        abort = function("MPI_Abort", JAVA_INT, ADDRESS, JAVA_INT);
        commRank = function("MPI_Comm_rank", JAVA_INT, ADDRESS, ADDRESS);
        commSize = function("MPI_Comm_size", JAVA_INT, ADDRESS, ADDRESS);
        commSetErrhandler = function("MPI_Comm_set_errhandler", JAVA_INT, ADDRESS, ADDRESS);
        // int MPI_Error_string(int errorcode, char *string, int *resultlen)
        errorString = function("MPI_Error_string", JAVA_INT, JAVA_INT, ADDRESS, ADDRESS);
        // (sendbuf, recvbuf, count, datatype, op, comm)
        allreduce = function("MPI_Allreduce", JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
        // (buf, count, datatype, dest or source, tag, comm, request)
        isend = function("MPI_Isend", JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS);
        irecv = function("MPI_Irecv", JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS);
        // (sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm [, request])
        allgather = function("MPI_Allgather", JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS);
        iallgather = function("MPI_Iallgather", JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
        // (buffer, count, datatype, root, comm)
        bcast = function("MPI_Bcast", JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS);
        barrier = function("MPI_Barrier", JAVA_INT, ADDRESS);
        // int MPI_Wait(MPI_Request *request, MPI_Status *status)
        wait = function("MPI_Wait", JAVA_INT, ADDRESS, ADDRESS);
        // int MPI_Test(MPI_Request *request, int *flag, MPI_Status *status)
        test = function("MPI_Test", JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
        // int MPI_Testall(int count, MPI_Request requests[], int *flag, MPI_Status statuses[])
        testall = function("MPI_Testall", JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
    }

    /** Loads the library; throws IllegalArgumentException when it is not installed. */
    static MpiLibrary load() {
        return new MpiLibrary(SymbolLookup.libraryLookup(SONAME, Arena.global()));
    }

    private MemorySegment symbol(String name) {
        return lib.find(name).orElseThrow(() -> new UnsatisfiedLinkError(SONAME + " has no symbol " + name));
    }

    private MethodHandle function(String name, MemoryLayout result, MemoryLayout... args) {
        return Linker.nativeLinker().downcallHandle(symbol(name), FunctionDescriptor.of(result, args));
    }
}
