#!/usr/bin/env bash
# Palisade's test command: installs what the suite needs (idempotently), then runs the checks
# and the whole test suite. CI runs exactly this (see .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests use: Chromium and its WebDriver for the web UI's end-to-end test;
# pamtester for the PAM integration test (crates/palisade/tests/pam.rs).
apt_packages=(chromium chromium-driver pamtester)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
# The real CrowdSec firewall bouncer (and nftables, ip netns) for crates/palisade/tests/bouncer.rs.
# Without --no-install-recommends apt pulls the whole crowdsec daemon, whose postinst fails
# without systemd.
bouncer_packages=(crowdsec-firewall-bouncer nftables iproute2)
missing=()
for p in "${bouncer_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Postfix (and its smtp-sink) for crates/palisade/tests/milter_postfix.rs, which runs a private
# instance from a temporary directory; the system's own Postfix is never started.
mta_packages=(postfix)
missing=()
for p in "${mta_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  # "No configuration": the system's own Postfix stays unconfigured and is never started.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Public data sets the tests read (../shared/data); in CI they must be there.
if [ ! -d ../shared/data/sigma ] && [ "${CI:-}" = "true" ]; then
  echo "error: ../shared/data is missing; the conformance tests need it" >&2
  exit 1
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast --success-output final --failure-output final
else
  cargo test --workspace --locked --no-fail-fast
fi
cargo test --workspace --doc --locked
