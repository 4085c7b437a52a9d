#!/usr/bin/env bash
# bench/openblas_threading.sh — Debian's pthread build of OpenBLAS against its OpenMP build,
# on the fused contrastive loss (small M, where OpenBLAS's own thread pool and the engine's
# OpenMP regions take turns on the cores) and on the train step.
#
# Both variants are installed side by side by Debian (libopenblas0-pthread,
# libopenblas0-openmp); LD_LIBRARY_PATH picks one per run, without touching the system's
# alternative. Contenders alternate A B A B; the script prints each run and the median of
# the pairwise ratios pthread time / openmp time (> 1: the OpenMP build is faster).
#
#   bench/openblas_threading.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
lib=/usr/lib/x86_64-linux-gnu
for v in pthread openmp; do
  [ -e "$lib/openblas-$v/libopenblas.so.0" ] || { echo "missing $lib/openblas-$v (apt-get install libopenblas0-$v)"; exit 1; }
done
# The environment is left as users have it (OMP_WAIT_POLICY unset = GNU OpenMP spins a while
# after each parallel region); set OMP_WAIT_POLICY=PASSIVE to compare without spinning.

source "$(dirname "$0")/lib.sh"  # median_of, ratio, field

"$build/bench/bench_contrastive_loss" --threads 2 --pairs 1 --sizes 256 | grep '^kernels'
declare -A loss_ratios step_ratios
for ((r = 1; r <= rounds; r++)); do
  declare -A fused step
  for v in pthread openmp; do
    out=$(LD_LIBRARY_PATH=$lib/openblas-$v "$build/bench/bench_contrastive_loss" --threads 2 --pairs 3 --sizes 256,1024,4096)
    # columns: M, fused ms, ...
    fused[$v]=$(echo "$out" | awk '$1 ~ /^[0-9]+$/ {printf "%s:%s ", $1, $2}')
    step[$v]=$(LD_LIBRARY_PATH=$lib/openblas-$v "$build/bench/bench_train_step" --batch 64 --threads 2 --steps 3 --warmup 1 2>/dev/null |
      field step_ms)
    echo "round $r $v: fused loss ms (M:ms) ${fused[$v]}| train step ${step[$v]} ms"
  done
  for m in 256 1024 4096; do
    p=$(echo "${fused[pthread]}" | tr ' ' '\n' | awk -F: -v m=$m '$1 == m {print $2}')
    o=$(echo "${fused[openmp]}" | tr ' ' '\n' | awk -F: -v m=$m '$1 == m {print $2}')
    loss_ratios[$m]+="$(ratio "$p" "$o") "
  done
  step_ratios[all]+="$(ratio "${step[pthread]}" "${step[openmp]}") "
done
for m in 256 1024 4096; do
  echo "fused loss M=$m: median pthread/openmp time ratio $(median_of "${loss_ratios[$m]}")"
done
echo "train step (ResNet-18, batch 64): median pthread/openmp time ratio $(median_of "${step_ratios[all]}")"
