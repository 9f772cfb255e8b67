#!/usr/bin/env bash
# Side by side: Palisade's anomaly models against scikit-learn IsolationForest (100 trees) and
# River HalfSpaceTrees (25 trees, height 15, window 250) on the same splits and the same
# features (Palisade dumps the scaled matrices it used; the peers read them).
#
#   benches/anomaly_compare.sh            # all data sets, markdown table on stdout
#
# Needs ../shared/data (NSL-KDD, UNSW-NB15, Stratosphere Zeek). Creates a venv in
# target/bench-venv with scikit-learn and river (network needed once, for pip).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
VENV=${VENV:-target/bench-venv}
OUT=${OUT:-target/anomaly-compare}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q scikit-learn river numpy
cargo build --release -q -p palisade
BIN=target/release/palisade
mkdir -p "$OUT"

run() { # name, palisade eval args...
  local name=$1; shift
  echo "== $name" >&2
  "$BIN" eval anomaly "$@" --format json --dump-features "$OUT/$name" > "$OUT/$name/ours.json"
  "$VENV/bin/python" benches/anomaly_peers.py "$OUT/$name" > "$OUT/$name/peers.ndjson"
}

mkdir -p "$OUT/nsl-kdd" "$OUT/unsw-nb15"
run nsl-kdd --dataset nsl-kdd --train "$DATA/nsl-kdd/KDDTrain+_20Percent.txt" \
  --test "$DATA/nsl-kdd/KDDTest+.txt"
UNSW=$(ls "$DATA"/unsw-nb15/*.csv | head -1)
run unsw-nb15 --dataset unsw-nb15 --train "$UNSW"
Z1="$DATA/stratosphere-zeek/001-zeek-scenario-malicious/labeled-conn.log"
Z8="$DATA/stratosphere-zeek/008-zeek-mixed/data/conn.log.labeled"
mkdir -p "$OUT/zeek-001" "$OUT/zeek-008"
run zeek-001 --dataset zeek --train "$Z1" --test "$Z1"
run zeek-008 --dataset zeek --train "$Z8" --test "$Z8"

"$VENV/bin/python" benches/anomaly_table.py "$OUT" nsl-kdd unsw-nb15 zeek-001 zeek-008

# Seed spread on the small sets (a few hundred benign training rows): every model, ours and
# the peers', with seeds 0..SEEDS-1 on the same split; mean ± sd of the frozen ROC-AUC.
SEEDS=${SEEDS:-5}
echo
echo "Frozen ROC-AUC over seeds 0..$((SEEDS - 1)) (split fixed, seed 0):"
for name in unsw-nb15 zeek-001 zeek-008; do
  case $name in
    unsw-nb15) args=(--dataset unsw-nb15 --train "$UNSW") ;;
    zeek-001) args=(--dataset zeek --train "$Z1" --test "$Z1") ;;
    zeek-008) args=(--dataset zeek --train "$Z8" --test "$Z8") ;;
  esac
  : > "$OUT/$name/seeds.ndjson"
  for seed in $(seq 0 $((SEEDS - 1))); do
    "$BIN" eval anomaly "${args[@]}" --model-seed "$seed" --no-online --format json \
      | "$VENV/bin/python" -c 'import json,sys; r=json.load(sys.stdin); [print(json.dumps({"model":"palisade "+m["model"],"roc_auc":m["frozen"]["roc_auc"]})) for m in r["models"]]' \
      >> "$OUT/$name/seeds.ndjson"
    "$VENV/bin/python" benches/anomaly_peers.py "$OUT/$name" "$seed" \
      | "$VENV/bin/python" -c 'import json,sys; [print(json.dumps({"model":d["model"],"roc_auc":d["roc_auc"]})) for d in map(json.loads, sys.stdin) if d["file"]=="all" and "online" not in d["model"]]' \
      >> "$OUT/$name/seeds.ndjson"
  done
  "$VENV/bin/python" - "$OUT/$name/seeds.ndjson" "$name" <<'PY'
import collections, json, statistics, sys
by = collections.defaultdict(list)
for line in open(sys.argv[1]):
    d = json.loads(line)
    by[d["model"]].append(d["roc_auc"])
print("| " + sys.argv[2] + " | " + " | ".join(
    f"{m} {statistics.mean(v):.3f} ± {statistics.stdev(v) if len(v) > 1 else 0:.3f}" for m, v in sorted(by.items())) + " |")
PY
done
