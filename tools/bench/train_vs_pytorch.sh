#!/usr/bin/env bash
# jgpt's training step against PyTorch's on the same model shape, in one invocation.
#   tools/bench/train_vs_pytorch.sh CONFIG [B] [T] [THREADS] [STEPS] [WARMUP]
#   (defaults: 4 256 2 10 3), e.g. tools/bench/train_vs_pytorch.sh configs/gpt2-124m.json 4 256 2
# Runs `jgpt bench train`, then tools/bench/train_pytorch.py with the environment as is, with
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset, and, when torch's BLAS is not OpenBLAS (Debian's
# torch links libblas.so.3, which here resolves to the reference BLAS), once more with the
# libopenblas0-pthread .deb unpacked under target/openblas first on LD_LIBRARY_PATH and
# OPENBLAS_CORETYPE=SkylakeX (its AVX-512 kernels; 0.3.21 does not recognize this CPU), as
# tools/bench/sgemm.sh does. Nothing is installed system-wide. Prints the ratios at the end
# (tokens/s of each run's fastest step; "best" = the fastest PyTorch run) and the load average.
# ROUNDS=N (default 1) then runs jgpt and PyTorch at its best N-1 more times, back to back, and
# prints each round's ratio and their median: this machine's speed drifts by +-30% within
# minutes, so one pair is a sample of the drift as much as of the two programs. BEST_ONLY=1 skips
# the PyTorch runs on the environment's BLAS and OpenBLAS's default kernels (20 of the 124M shape's
# 26 minutes) and compares with OpenBLAS's AVX-512 kernels only, the fastest PyTorch here so far.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
config="${1:?usage: train_vs_pytorch.sh CONFIG [B] [T] [THREADS] [STEPS] [WARMUP]}"
B="${2:-4}"; T="${3:-256}"; K="${4:-2}"; steps="${5:-10}"; warmup="${6:-3}"
# Runs on the reference BLAS (no OpenBLAS) take about a minute per step for the small model: they get
# SLOW_STEPS timed steps after one warm-up step (default 2).
slow_steps="${SLOW_STEPS:-2}"
rounds="${ROUNDS:-1}"
best_only="${BEST_ONLY:-0}"
py=/usr/bin/python3
out="$(mktemp -d)"; trap 'rm -rf "$out"' EXIT

. "$here/tools/bench/openblas.sh"

# Which BLAS torch's matmuls reach: the libblas mapped after a matmul.
torch_blas() {
  "$py" -c 'import torch; torch.randn(64,64) @ torch.randn(64,64); print(" ".join(sorted({l.split()[-1] for l in open("/proc/self/maps") if "blas" in l})))'
}

echo "== load average: $(cut -d' ' -f1-3 /proc/loadavg); config $config B=$B T=$T threads=$K steps=$steps warmup=$warmup"
echo "== OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-<unset>} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE-<unset>}; torch's BLAS: $(torch_blas)"
"$py" -c 'import torch; print([l.strip() for l in torch.__config__.show().splitlines() if "BLAS_INFO" in l or "CPU capability" in l])'

pt() { # label, then env assignments
  local label="$1"; shift
  local s="$steps" w="$warmup"
  if ! env "$@" "$py" -c 'import torch; torch.randn(8,8) @ torch.randn(8,8); import sys; sys.exit(0 if any("openblas" in l for l in open("/proc/self/maps")) else 1)'; then
    s="$slow_steps"; w=1; echo "(torch's BLAS here is not OpenBLAS: $w warm-up + $s timed steps)"
  fi
  pt_run "$out/$label.txt" "$label" "$s" "$w" "$@"
}

pt_run() { # output file, label, steps, warm-up steps, then env assignments
  local file="$1" label="$2" s="$3" w="$4"; shift 4
  env "$@" OPENBLAS_NUM_THREADS="$K" "$py" "$here/tools/bench/train_pytorch.py" "$config" --batch-size "$B" --seq-len "$T" \
      --threads "$K" --steps "$s" --warmup "$w" --label "$label" | tee "$file"
}

jgpt_run() { # output file
  "$here/jgpt" bench train --config "$config" --batch-size "$B" --seq-len "$T" --threads "$K" --steps "$steps" --warmup "$warmup" | tee "$1"
}

echo "== jgpt"
jgpt_run "$out/jgpt.txt"
if [ "$best_only" != 1 ]; then
echo "== PyTorch, environment as is"
pt as-is
fi
if [ "$best_only" != 1 ] && [ -n "${OPENBLAS_CORETYPE+x}${OPENBLAS_L2_SIZE+x}" ]; then
  echo "== PyTorch, OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset"
  pt unset -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE
fi
if ! torch_blas | grep -qi openblas; then
  lib="$(openblas_dir)"
  lp="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  if [ "$best_only" != 1 ]; then
    echo "== PyTorch, OpenBLAS 0.3.21 from $lib, OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset: torch's BLAS then is $(LD_LIBRARY_PATH="$lp" torch_blas)"
    pt openblas-unset -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE LD_LIBRARY_PATH="$lp"
  fi
  echo "== PyTorch, OpenBLAS 0.3.21, OPENBLAS_CORETYPE=SkylakeX (AVX-512)"
  pt openblas-skylakex LD_LIBRARY_PATH="$lp" OPENBLAS_CORETYPE=SkylakeX
fi
if [ "$rounds" -gt 1 ]; then
  # PyTorch at its best in round 1 (fastest step), rerun with its environment in later rounds.
  best="$("$py" -c 'import glob, json, os, sys
runs = {os.path.basename(f)[:-4]: json.loads([l for l in open(f) if l.startswith("{")][-1]) for f in glob.glob(sys.argv[1] + "/*.txt") if "jgpt" not in f}
print(max(runs, key=lambda k: runs[k]["tokens_per_s"]))' "$out")"
  case "$best" in
    openblas-skylakex) best_env=(LD_LIBRARY_PATH="$lp" OPENBLAS_CORETYPE=SkylakeX) ;;
    openblas-unset) best_env=(-u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE LD_LIBRARY_PATH="$lp") ;;
    unset) best_env=(-u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE) ;;
    *) best_env=() ;;
  esac
  mkdir -p "$out/rounds"
  for r in $(seq 2 "$rounds"); do
    echo "== round $r/$rounds: jgpt"
    jgpt_run "$out/rounds/$r.jgpt.txt"
    echo "== round $r/$rounds: PyTorch $best"
    pt_run "$out/rounds/$r.pytorch.txt" "$best" "$steps" "$warmup" "${best_env[@]}"
  done
fi
echo "== load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

"$py" - "$out" <<'PY'
import glob, json, os, statistics, sys
runs = {}
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*.txt"))):
    lines = [l for l in open(f) if l.startswith("{")]
    if lines:
        runs[os.path.basename(f)[:-4]] = json.loads(lines[-1])
j = runs.pop("jgpt")
print(f"\njgpt: {j['tokens_per_s']:.1f} tokens/s (best step; mean {j['mean_tokens_per_s']:.1f}), "
      f"MFU {100 * j['mfu']:.1f}% of {j['peak_gflops']:.1f} GFLOPS, peak RSS {j['peak_rss_bytes'] / 2**30:.2f} GiB, "
      f"{j['alloc_bytes_per_step'] / 1024:.0f} KiB allocated/step")
for k, r in runs.items():
    print(f"PyTorch {k:18s} {r['tokens_per_s']:8.1f} tokens/s (mean {r['mean_tokens_per_s']:.1f}), "
          f"peak RSS {r['peak_rss_bytes'] / 2**30:.2f} GiB: jgpt/PyTorch = {j['tokens_per_s'] / r['tokens_per_s']:.2f}x "
          f"(mean {j['mean_tokens_per_s'] / r['mean_tokens_per_s']:.2f}x)")
best = max(runs.values(), key=lambda r: r["tokens_per_s"])
as_is = f"vs PyTorch as is {j['tokens_per_s'] / runs['as-is']['tokens_per_s']:.2f}x (goal >= 2.0), " if "as-is" in runs else ""
print(f"ratios: {as_is}vs PyTorch at its best ({best['label']}) {j['tokens_per_s'] / best['tokens_per_s']:.2f}x (goal >= 1.5)")
last = lambda f: json.loads([l for l in open(f) if l.startswith("{")][-1])
pairs = [(j, best)] + [(last(f), last(f.replace(".jgpt.", ".pytorch.")))
                       for f in sorted(glob.glob(os.path.join(sys.argv[1], "rounds", "*.jgpt.txt")), key=lambda f: int(os.path.basename(f).split(".")[0]))]
if len(pairs) > 1:
    ratios = [a["tokens_per_s"] / b["tokens_per_s"] for a, b in pairs]
    print(f"rounds (jgpt / PyTorch {best['label']} tokens/s, best steps): "
          + ", ".join(f"{a['tokens_per_s']:.1f}/{b['tokens_per_s']:.1f} = {r:.2f}x" for (a, b), r in zip(pairs, ratios)))
    print(f"median over {len(ratios)} rounds: {statistics.median(ratios):.2f}x (goal >= 1.5)")
PY
