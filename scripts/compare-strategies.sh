#!/usr/bin/env bash
# PPO, random search and regularized evolution at an equal budget, several
# seeds each, on the built-in data with a small child; then `nasctl compare`
# (mean and 95% t interval over seeds of the best and top-5 unique rewards).
# The paper's comparison (section 4.4, Figure 6) is the same experiment at
# 20,000 children.
#
#   scripts/compare-strategies.sh [options]
#     --budget N        children per search (default 150)
#     --seeds N         seeds per strategy, 1..N (default 2)
#     --filters N       F0 of a child (default 4)
#     --cells N         N of a child (default 1)
#     --epochs N        epochs per child (default 1)
#     --train-limit N   training images per child (default 384)
#     --batch N         batch size of a child (default 8)
#     --val-limit N     validation images for the reward (default 300)
#     --workers N       worker processes per search (default 2)
#     --data SPEC       mnist | synthetic | cifar10:PATH (default mnist)
#     --strategies "S"  (default "ppo random evolution")
#     --out DIR         (default runs/compare)
#
# The defaults fit the whole comparison (3 strategies x 2 seeds x 150 = 900
# children) in about an hour on 2 cores. Such a child (F0 4, N 1, 384 MNIST
# digits in batches of 8 = 48 steps, 300 digits for the reward; wasm backend)
# measured here (December 2026, 2 cores shared with other jobs): about 6 s of
# CPU per child through nasctl (10 children on 2 workers: 74 s of CPU,
# including ~7 s to start each worker), 5-7 s of wall time on a quiet core;
# so 900 x 6 s / 2 workers = 45 min plus start-up and PPO updates. Its
# validation accuracy spreads over 0.22-0.53 between architectures: enough
# to tell them apart, if noisily (the reward's standard error on 300 images
# is about 0.03).
# Every search runs with --top-k 0: the comparison is about the search phase.
# Each search is its own folder (DIR/<strategy>-<seed>); one that already has
# a results.json with outcome "succeeded" is kept, so an interrupted
# comparison continues where it stopped.
set -euo pipefail

budget=150 seeds=2 filters=4 cells=1 epochs=1 train_limit=384 batch=8 val_limit=300 workers=2 data=mnist
strategies="ppo random evolution" out=runs/compare
while [ $# -gt 0 ]; do
  case "$1" in
    --budget) budget=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --filters) filters=$2; shift 2 ;;
    --cells) cells=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --train-limit) train_limit=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --val-limit) val_limit=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --strategies) strategies=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set /p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare-strategies: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for v in "$budget" "$seeds" "$filters" "$cells" "$epochs" "$train_limit" "$batch" "$val_limit" "$workers"; do
  case "$v" in ''|*[!0-9]*) echo "compare-strategies: '$v' is not a non-negative integer" >&2; exit 2 ;; esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
# The repository's Node (npm scripts put node_modules/.bin first on PATH).
node_bin="$root/node_modules/.bin/node"
[ -x "$node_bin" ] || node_bin=node
nasctl=("$node_bin" "$root/services/nasctl/bin/nasctl.mjs")
mkdir -p "$out"
log="$out/commands.txt"
: > "$log"

started=$(date +%s)
runs=()
# Seed-major order: after each round every strategy has the same number of seeds.
for seed in $(seq 1 "$seeds"); do
  for strategy in $strategies; do
    dir="$out/$strategy-$seed"
    runs+=(--run "$strategy=$dir")
    cmd=("${nasctl[@]}" search --local --strategy "$strategy" --seed "$seed" --budget "$budget" --workers "$workers" \
      --data "$data" --filters "$filters" --cells "$cells" --epochs "$epochs" --train-limit "$train_limit" --batch "$batch" --val-limit "$val_limit" \
      --top-k 0 --out "$dir" --json)
    echo "nasctl ${cmd[*]:2}" >> "$log"
    if [ -f "$dir/results.json" ] && grep -q '"outcome": "succeeded"' "$dir/results.json"; then
      echo "== $strategy seed $seed: kept (already finished in $dir)"
      continue
    fi
    echo "== $strategy seed $seed -> $dir ($(date -u +%H:%M:%S))"
    t0=$(date +%s)
    "${cmd[@]}" > "$out/$strategy-$seed.log" 2> "$out/$strategy-$seed.err" || { echo "search failed, see $out/$strategy-$seed.err" >&2; exit 1; }
    echo "   done in $(( $(date +%s) - t0 )) s: $(tail -1 "$out/$strategy-$seed.log" | cut -c1-160)"
  done
done

compare=("${nasctl[@]}" compare "${runs[@]}" --out "$out/compare.svg" --json)
echo "nasctl ${compare[*]:2}" >> "$log"
"${compare[@]}" | tee "$out/compare.txt"
echo "total $(( $(date +%s) - started )) s; commands in $log, table in $out/compare.txt, chart $out/compare.svg"
