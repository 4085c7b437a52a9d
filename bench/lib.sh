# bench/lib.sh — helpers shared by the bench/*.sh scripts (sourced, not run).

# median of the numbers on stdin, one per line
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
# median of the space-separated numbers in $1
median_of() { echo $1 | tr ' ' '\n' | median; }
# a / b
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {print a / b}'; }
# the number after "NAME " in stdin (bench_train_step's "key value" lines)
field() { grep -oE "$1 [0-9.]+" | awk '{print $NF}'; }
# train_step_args SCRIPT [BUILD_DIR] [ROUNDS] [BATCH]: the scripts' common arguments (defaults
# build 3 128) into build, rounds, batch, and bin (bench_train_step, which must be built)
train_step_args() {
  build=${2:-build} rounds=${3:-3} batch=${4:-128}
  bin="$build/bench/bench_train_step"
  [ -x "$bin" ] || { echo "$1: $bin not built (meson compile -C $build)"; exit 1; }
}
