#!/usr/bin/env bash
# Reproduces the "palisade serve: sustained ingest" figures in BENCHMARKS.md: builds the release
# binary and runs `palisade bench serve` with its defaults (offered loads 10k–100k events/s, 20 s
# each, 500 events per request over 4 keep-alive connections, examples/rules and every detector,
# write-ahead log fsync on), then syslog UDP at the highest rate that held. The service runs as a
# child process on a fresh data directory; all traffic stays on 127.0.0.1.
# Extra arguments go to `palisade bench serve` (e.g. --no-fsync, --rates 5000,10000,15000).
# Results: the table on stdout, JSON in target/bench/serve-<time>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/bench
mkdir -p "$out"

cargo build --release -p palisade
echo "== bench serve (load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores)"
target/release/palisade bench serve --udp --json "$out/serve-$(date +%Y%m%d-%H%M%S).json" "$@"
