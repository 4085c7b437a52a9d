#!/usr/bin/env bash
# bench/checkpoint_modes.sh — the memory/time trade of activation checkpointing
# (--checkpoint-activations none|stages|blocks: autograd::checkpoint around the ResNet's stem
# and stages, or its stem and residual blocks) on the train step (bench_train_step: ResNet-18
# CIFAR stem + head, two views, NT-Xent, SGD). The modes run in fresh processes, alternated
# none stages blocks, none stages blocks, ...; each run prints its memory report. Prints per
# run the saved-activation peak, the allocator's live peak and the peak RSS (MiB), the step
# time and CPU time, and the weights hash after the last step (equal in every mode: the
# results are bit-identical), then per mode the median of the per-round ratios to `none`.
#
#   bench/checkpoint_modes.sh [BUILD_DIR] [ROUNDS] [BATCH]      defaults: build 3 128
set -euo pipefail
source "$(dirname "$0")/lib.sh"  # median_of, ratio, field, train_step_args
train_step_args checkpoint_modes "$@"
modes=(none stages blocks)

declare -A act alloc rss wall cpu ratios_act ratios_rss ratios_wall ratios_cpu
lscpu | grep -m1 'Model name' || true
header() { printf '%-6s %-6s %10s %10s %9s %9s %7s  %s\n' round mode saved_MiB alloc_MiB rss_MiB step_ms cpu_s weights; }
for ((r = 1; r <= rounds; r++)); do
  for m in "${modes[@]}"; do
    out=$("$bin" --batch "$batch" --threads 2 --steps 2 --warmup 1 --memory-report --dump-steps \
      --checkpoint-activations "$m" 2>/dev/null) || {
      echo "$out"; echo "checkpoint_modes: bench_train_step --checkpoint-activations $m failed"; exit 1; }
    [ "$r" -eq 1 ] && [ "$m" = none ] && echo "$out" | grep '^kernels' && header
    line=$(echo "$out" | grep '^contra train_step')
    act[$m]=$(echo "$out" | grep 'saved activations:' | field 'peak over the step')
    alloc[$m]=$(echo "$out" | grep '^  peaks:' | field 'whole step' | head -1)
    rss[$m]=$(echo "$line" | field peak_rss_mb)
    wall[$m]=$(echo "$line" | field step_ms)
    cpu[$m]=$(echo "$line" | field cpu_s_per_step)
    hash=$(echo "$out" | grep '^step ' | tail -1 | awk '{print $NF}')
    printf '%-6s %-6s %10s %10s %9s %9s %7s  %s\n' "$r" "$m" "${act[$m]}" "${alloc[$m]}" "${rss[$m]}" \
      "${wall[$m]}" "${cpu[$m]}" "$hash"
  done
  for m in "${modes[@]}"; do
    ratios_act[$m]+="$(ratio "${act[$m]}" "${act[none]}") "
    ratios_rss[$m]+="$(ratio "${rss[$m]}" "${rss[none]}") "
    ratios_wall[$m]+="$(ratio "${wall[$m]}" "${wall[none]}") "
    ratios_cpu[$m]+="$(ratio "${cpu[$m]}" "${cpu[none]}") "
  done
done
for m in stages blocks; do
  echo "batch $batch, $rounds rounds, $m against none (medians of the per-round ratios):" \
    "saved activations $(median_of "${ratios_act[$m]}"), peak RSS $(median_of "${ratios_rss[$m]}")," \
    "step time $(median_of "${ratios_wall[$m]}") (pairwise ${ratios_wall[$m]}), CPU time $(median_of "${ratios_cpu[$m]}")"
done
