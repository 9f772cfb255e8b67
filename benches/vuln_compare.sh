#!/usr/bin/env bash
# Side by side with cargo-audit, on the same local RustSec database, offline:
#   - this repository's Cargo.lock and crates/vuln/tests/fixtures/lockfiles/rust/Cargo.lock;
#   - lockfiles assembled from every crates.io advisory range (benches/vuln_lockfiles.py:
#     introduced versions, versions just below and at each fix, last_affected ± 1).
# cargo-audit reads the RustSec database in its own TOML/Markdown form
# (../shared/data/rustsec-advisory-db/toml), Palisade the same database's OSV export
# (../shared/data/rustsec-advisory-db/osv). Yanked-crate checks (which need crates.io) are off.
#
#   bash benches/vuln_compare.sh            # needs `cargo install cargo-audit`
# Prints the totals and every difference; results in $OUT (default target/vuln-compare).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${PALISADE_DATA:-../shared/data}
[ -d "$DATA/rustsec-advisory-db" ] || DATA=/work/shared/data
OSV=$DATA/rustsec-advisory-db/osv
TOML=$DATA/rustsec-advisory-db/toml
OUT=${OUT:-${CARGO_TARGET_DIR:-target}/vuln-compare}
PALISADE=${PALISADE:-${CARGO_TARGET_DIR:-target}/release/palisade}
command -v cargo-audit >/dev/null || { echo "cargo-audit is not installed (cargo install cargo-audit)" >&2; exit 2; }
[ -x "$PALISADE" ] || cargo build --release -p palisade

rm -rf "$OUT" && mkdir -p "$OUT/locks/repo" "$OUT/locks/fixture" "$OUT/palisade" "$OUT/cargo-audit"
cp Cargo.lock "$OUT/locks/repo/Cargo.lock"
cp crates/vuln/tests/fixtures/lockfiles/rust/Cargo.lock "$OUT/locks/fixture/Cargo.lock"
python3 benches/vuln_lockfiles.py "$OSV" "$OUT/locks/assembled"

n=0
start=$(date +%s.%N)
for lock in $(find "$OUT/locks" -name Cargo.lock | sort); do
  name=$(echo "${lock#"$OUT/locks/"}" | tr / _).json
  "$PALISADE" vuln scan "$lock" --db "$OSV" --format json > "$OUT/palisade/$name" 2>/dev/null || true
  n=$((n + 1))
done
mid=$(date +%s.%N)
for lock in $(find "$OUT/locks" -name Cargo.lock | sort); do
  name=$(echo "${lock#"$OUT/locks/"}" | tr / _).json
  cargo audit --db "$TOML" --no-fetch --no-yanked --stale --file "$lock" --json \
    > "$OUT/cargo-audit/$name" 2>/dev/null || true
done
end=$(date +%s.%N)
echo "lockfiles: $n; palisade $(echo "$mid - $start" | bc) s, cargo-audit $(echo "$end - $mid" | bc) s (one process per lockfile each)"
python3 benches/vuln_compare.py "$OUT/palisade" "$OUT/cargo-audit" | tee "$OUT/differences.txt"
