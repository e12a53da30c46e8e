#!/usr/bin/env python3
"""OpenBLAS fp32 GEMM GFLOPS (through numpy) at size^3 with 1 and 2 threads, best of N.

Usage: /usr/bin/python3 tools/bench/sgemm_numpy.py [size] [repeats]
Each thread count runs in a child process with OPENBLAS_NUM_THREADS set (OpenBLAS reads it
once, at load).
"""
import os
import subprocess
import sys
import time


def best_gflops(n, repeats):
    import numpy as np
    rng = np.random.default_rng(42)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), dtype=np.float32)
    for _ in range(2):
        np.matmul(a, b, out=c)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n ** 3 / best / 1e9


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    if os.environ.get("SGEMM_CHILD"):
        print(f"{best_gflops(n, repeats):.1f}")
        return
    coretype = os.environ.get("OPENBLAS_CORETYPE", "(unset)")
    for threads in (1, 2):
        env = dict(os.environ, SGEMM_CHILD="1", OPENBLAS_NUM_THREADS=str(threads))
        out = subprocess.run([sys.executable, __file__, str(n), str(repeats)], env=env,
                             check=True, capture_output=True, text=True).stdout.strip()
        print(f"openblas sgemm {n}x{n}x{n} fp32 threads={threads} OPENBLAS_CORETYPE={coretype} "
              f"best of {repeats}: {out} GFLOPS")


if __name__ == "__main__":
    main()
