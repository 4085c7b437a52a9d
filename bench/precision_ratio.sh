#!/usr/bin/env bash
# bench/precision_ratio.sh — the train step (bench_train_step: ResNet-18 CIFAR stem + head,
# two views, NT-Xent, SGD) with float32 convolutions against bf16 convolutions
# (--precision bf16: backend.h set_conv_precision), in alternating runs A B A B. Prints
# each run, and the median of the pairwise ratios f32 step time / bf16 step time (> 1: bf16
# is faster) for wall time and for process CPU time (the steadier of the two when other
# work shares the cores), and the first-step losses of the two precisions side by side.
#
#   bench/precision_ratio.sh [BUILD_DIR] [ROUNDS] [BATCH]      defaults: build 3 128
set -euo pipefail
source "$(dirname "$0")/lib.sh"  # median_of, ratio, field, train_step_args
train_step_args precision_ratio "$@"
lscpu | grep -m1 'Model name' || true

wall_ratios="" cpu_ratios=""
for ((r = 1; r <= rounds; r++)); do
  declare -A wall cpu
  for p in f32 bf16; do
    out=$("$bin" --batch "$batch" --threads 2 --steps 3 --warmup 1 --precision "$p" 2>/dev/null) || {
      echo "$out"; echo "precision_ratio: bench_train_step --precision $p failed"; exit 1; }
    [ "$r" -eq 1 ] && [ "$p" = f32 ] && echo "$out" | grep '^kernels'
    line=$(echo "$out" | grep '^contra train_step')
    echo "round $r: $line"
    wall[$p]=$(echo "$line" | field step_ms)
    cpu[$p]=$(echo "$line" | field cpu_s_per_step)
  done
  wall_ratios+="$(ratio "${wall[f32]}" "${wall[bf16]}") "
  cpu_ratios+="$(ratio "${cpu[f32]}" "${cpu[bf16]}") "
done
echo "batch $batch, $rounds rounds: median f32/bf16 step-time ratio: wall $(median_of "$wall_ratios")," \
  "cpu $(median_of "$cpu_ratios") (pairwise: wall $wall_ratios| cpu $cpu_ratios)"
