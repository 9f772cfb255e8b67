#!/usr/bin/env python3
"""Compares `palisade vuln scan --format json` with `cargo audit --json` per lockfile.

    python3 benches/vuln_compare.py PALISADE_JSON_DIR CARGO_AUDIT_JSON_DIR

Each directory holds one JSON report per lockfile, same file names. Vulnerabilities are
compared as (advisory id, crate, version); RustSec's informational advisories (unmaintained,
unsound, notice: cargo-audit's "warnings") separately. A cargo-audit finding whose id we report
as an alias of a merged finding counts as "merged" (one finding per vulnerability is by
design); every other difference is printed.
"""
import json
import os
import sys


def ours(path):
    """(id, crate, version) sets, and per (crate, version) every id and alias we reported."""
    doc = json.load(open(path))
    vulns, infos, names = set(), set(), {}
    for f in doc["findings"]:
        key = (f["id"], f["package"], f["installed"])
        (infos if f.get("informational") else vulns).add(key)
        names.setdefault((f["package"], f["installed"]), set()).update([f["id"], *f["aliases"]])
    return vulns, infos, names


def theirs(path):
    doc = json.load(open(path))
    vulns = {(v["advisory"]["id"], v["package"]["name"], v["package"]["version"])
             for v in doc["vulnerabilities"]["list"]}
    infos = set()
    for kind, items in doc.get("warnings", {}).items():
        for w in items:
            if w.get("advisory"):
                infos.add((w["advisory"]["id"], w["package"]["name"], w["package"]["version"]))
    return vulns, infos


def main():
    pal_dir, ca_dir = sys.argv[1], sys.argv[2]
    totals = {"files": 0, "vulns_both": 0, "vulns_merged": 0, "vulns_only_palisade": 0,
              "vulns_only_cargo_audit": 0, "info_both": 0, "info_merged": 0,
              "info_only_palisade": 0, "info_only_cargo_audit": 0}
    diffs = []
    for name in sorted(os.listdir(ca_dir)):
        if not name.endswith(".json"):
            continue
        totals["files"] += 1
        pv, pi, names = ours(os.path.join(pal_dir, name))
        cv, ci = theirs(os.path.join(ca_dir, name))
        theirs_by_pkg = {}
        for (i, p, v) in cv | ci:
            theirs_by_pkg.setdefault((p, v), set()).add(i)
        for kind, mine, other in (("vulns", pv, cv), ("info", pi, ci)):
            label = "vulnerability" if kind == "vulns" else "informational"
            totals[f"{kind}_both"] += len(mine & other)
            for k in sorted(other - mine):
                # Reported by us under another id of the same vulnerability (merged aliases)?
                if k[0] in names.get((k[1], k[2]), set()):
                    totals[f"{kind}_merged"] += 1
                    diffs.append(("merged", label, name, k))
                else:
                    totals[f"{kind}_only_cargo_audit"] += 1
                    diffs.append(("only cargo-audit", label, name, k))
            for k in sorted(mine - other):
                if names.get((k[1], k[2]), set()) & theirs_by_pkg.get((k[1], k[2]), set()):
                    continue  # the same vulnerability, reported by cargo-audit under an alias
                totals[f"{kind}_only_palisade"] += 1
                diffs.append(("only palisade", label, name, k))
    print(json.dumps(totals, indent=2))
    for d in diffs:
        print(f"{d[0]:17} {d[1]:14} {d[2]:18} {d[3][0]} {d[3][1]} {d[3][2]}")


if __name__ == "__main__":
    main()
