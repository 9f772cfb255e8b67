#!/usr/bin/env bash
# Reproduces the IOC-matching figures in BENCHMARKS.md: `palisade bench intel` (hunt throughput
# without and with 50,000 synthetic indicators, alternating the two in one process) over
#   1. evtx-attack-samples with every Windows SigmaHQ rule, and
#   2. the Stratosphere Zeek logs with the SigmaHQ Zeek rules,
# each repeated RUNS times (the machine is shared: read the medians). Results in target/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${DATA:-../shared/data}
runs=${RUNS:-5}
passes=${PASSES:-5}
reps=${REPS:-5}
iocs=${IOCS:-50000}
out=target/bench
mkdir -p "$out"

cargo build --release -p palisade
bin=target/release/palisade

run() { # name logs rules
  local name=$1 logs=$2 rules=$3
  for i in $(seq "$runs"); do
    echo "== bench intel $name, run $i of $runs (load: $(cut -d' ' -f1-3 /proc/loadavg))"
    "$bin" bench intel "$logs" --rules "$rules" --iocs "$iocs" --passes "$passes" --reps "$reps" \
      --json "$out/intel-$name-$i.json"
  done
  python3 - "$out" "$name" "$runs" <<'PY'
import json, statistics, sys
out, name, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
rs = [json.load(open(f"{out}/intel-{name}-{i}.json")) for i in range(1, runs + 1)]
def med(f):
    v = sorted(f(r) for r in rs)
    return statistics.median(v), v[0], v[-1]
for label, f in [
    ("hunt without IOC, events/s", lambda r: r["hunt_without_ioc"]["events_per_second"]),
    ("hunt with IOC, events/s", lambda r: r["hunt_with_ioc"]["events_per_second"]),
    ("cost, % of hunt throughput", lambda r: r["throughput_cost_percent"]),
    ("paired time overhead, %", lambda r: r["paired_time_overhead_percent_median"]),
    ("IOC matching alone, events/s", lambda r: r["ioc_match_alone_events_per_second"]),
    ("indicator compile, s", lambda r: r["compile_seconds"]),
]:
    m, lo, hi = med(f)
    print(f"{name}: {label}: median {m:,.3f} (min {lo:,.3f}, max {hi:,.3f})")
r = rs[0]
print(f"{name}: {r['events_per_pass']} events/pass, {r['rules']} rules, {r['indicators']} indicators, "
      f"IOC hits/pass {r['hunt_with_ioc']['ioc_hits_per_pass']}, Sigma detections/pass "
      f"{r['hunt_without_ioc']['sigma_detections_per_pass']}, threads {r['threads']}")
PY
}

run evtx "$data/evtx-attack-samples" "$data/sigma/rules/windows"
run zeek "$data/stratosphere-zeek" "$data/sigma/rules/network/zeek"
