#!/usr/bin/env bash
# Reproduces the figures in BENCHMARKS.md on this machine:
#   1. the whole `palisade hunt` process over evtx-attack-samples with all Windows SigmaHQ rules
#      (wall time and peak RSS, several runs);
#   2. `palisade bench hunt`: rule compilation, the evtx crate's own parse rate, Palisade's parse
#      rate, matching alone and the repeated hunt, all in one process.
# Run it on an otherwise idle machine; results go to stdout and target/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${DATA:-../shared/data}
runs=${RUNS:-7}
passes=${PASSES:-20}
out=target/bench
mkdir -p "$out"

cargo build --release -p palisade
bin=target/release/palisade
logs="$data/evtx-attack-samples"
rules="$data/sigma/rules/windows"

echo "== whole process: palisade hunt $logs --rules $rules ($runs runs)"
: > "$out/hunt-runs.txt"
for _ in $(seq "$runs"); do
  /usr/bin/time -f "%e %M" -a -o "$out/hunt-runs.txt" \
    "$bin" hunt "$logs" --rules "$rules" --format ndjson --quiet --no-progress > "$out/hunt.ndjson"
done
sort -n "$out/hunt-runs.txt" | awk -v n="$runs" '
  { wall[NR] = $1; if ($2 > maxrss) maxrss = $2 }
  END {
    m = int((n + 1) / 2);
    printf "wall seconds: min %.2f  median %.2f  max %.2f\n", wall[1], wall[m], wall[n];
    printf "peak RSS: %.1f MiB (largest of the runs)\n", maxrss / 1024;
  }'
echo "detections: $(wc -l < "$out/hunt.ndjson")"

# The machine is shared and noisy: repeat the in-process benchmark and read the medians.
reps=${REPS:-3}
for i in $(seq "$reps"); do
  echo "== palisade bench hunt ($passes passes), run $i of $reps"
  "$bin" bench hunt "$logs" --rules "$rules" --passes "$passes" --json "$out/bench-hunt-$i.json"
done
