#!/usr/bin/env bash
# jgpt's sgemm against OpenBLAS (through numpy) at the same size, in one invocation.
#   tools/bench/sgemm.sh [SIZE] [ROUNDS]      (defaults 2048, 3)
# OpenBLAS runs with the environment as is, then with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
# unset, then forced to its AVX-512 kernels (OPENBLAS_CORETYPE=SkylakeX: OpenBLAS 0.3.21 does not
# recognize this CPU and otherwise falls back to slower kernels); Python side only. If numpy's BLAS is not OpenBLAS, the
# libopenblas0-pthread .deb from the apt cache (or `apt-get download`) is unpacked under
# target/openblas and put first on LD_LIBRARY_PATH; nothing is installed system-wide.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
size="${1:-2048}"
rounds="${2:-3}"
py=/usr/bin/python3

. "$here/tools/bench/openblas.sh"
# numpy already on OpenBLAS: nothing to unpack.
numpy_openblas() { "$py" -c 'import numpy, sys; c = numpy.__config__; sys.exit(0 if "openblas" in str(getattr(c, "CONFIG", "")) else 1)' 2>/dev/null; }

if numpy_openblas; then lib=""; else lib="$(openblas_dir)"; fi
run_py() { LD_LIBRARY_PATH="${lib}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$py" "$here/tools/bench/sgemm_numpy.py" "$size" "$@"; }

echo "== OpenBLAS, environment as is"
run_py
echo "== OpenBLAS, OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset"
(unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE; run_py)
# The machine's speed drifts by tens of percent within a minute, so the AVX-512 reference and jgpt
# alternate, round by round, and each round's ratio compares neighbours in time.
ratios=()
for r in $(seq 1 "$rounds"); do
  echo "== round $r/$rounds: OpenBLAS, OPENBLAS_CORETYPE=SkylakeX (AVX-512)"
  ob="$(OPENBLAS_CORETYPE=SkylakeX run_py)"
  echo "$ob"
  echo "== round $r/$rounds: jgpt"
  jg="$(for t in 1 2; do "$here/jgpt" bench sgemm --size "$size" --threads "$t"; done)"
  echo "$jg"
  for t in 1 2; do
    o="$(sed -n "s/.*threads=$t .*: \([0-9.]*\) GFLOPS/\1/p" <<<"$ob")"
    j="$(sed -n "s/.*threads=$t .*: \([0-9.]*\) GFLOPS/\1/p" <<<"$jg")"
    ratios+=("$t $(awk -v j="$j" -v o="$o" 'BEGIN { printf "%.0f", 100 * j / o }')")
  done
done
echo "== jgpt / OpenBLAS AVX-512, per round (each pair measured back to back)"
for t in 1 2; do
  per="$(printf '%s\n' "${ratios[@]}" | awk -v t="$t" '$1 == t { print $2 }')"
  med="$(sort -n <<<"$per" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')"
  echo "threads=$t: $(tr '\n' ' ' <<<"$per" | sed 's/ *$//; s/ /%, /g')% (median ${med}%)"
done
