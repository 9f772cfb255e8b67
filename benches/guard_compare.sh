#!/usr/bin/env bash
# Side by side on the same splits: `palisade eval guard` against a scikit-learn TF-IDF
# (word 1-2 + char 3-5 grams) + logistic-regression baseline (prompts and mail) and
# SpamAssassin (Debian package `spamassassin`, shipped rules, local tests only) for mail.
#
#   benches/guard_compare.sh              # JSON of ours, then JSON of the peers
#   NO_SPAMASSASSIN=1 benches/guard_compare.sh
#
# Needs ../shared/data (deepset-prompt-injections, spamassassin, phishing_pot), the Debian
# spamassassin package (unless NO_SPAMASSASSIN=1), and a venv with scikit-learn
# (created in target/bench-venv; network needed once, for pip).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
VENV=${VENV:-target/bench-venv}
OUT=${OUT:-target/guard-compare}
TARGET=${CARGO_TARGET_DIR:-target}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q scikit-learn numpy
cargo build --release -q -p palisade
BIN=$TARGET/release/palisade
mkdir -p "$OUT"
"$BIN" eval guard --data "$DATA" --format json --dump-splits "$OUT/splits.json" > "$OUT/ours.json"
extra=()
if [ -n "${NO_SPAMASSASSIN:-}" ]; then extra+=(--no-spamassassin); fi
"$VENV/bin/python" benches/guard_peers.py "$DATA" "$OUT/splits.json" \
  crates/guard/tests/fixtures/prompts/benign_r3/benign.jsonl "${extra[@]}" > "$OUT/peers.json"
echo "== palisade"; cat "$OUT/ours.json"
echo "== peers"; cat "$OUT/peers.json"
