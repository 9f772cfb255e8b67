#!/usr/bin/env python3
"""Assembles Cargo.lock files with known-vulnerable crate versions from a RustSec OSV directory.

For every crates.io advisory range it takes the versions an auditor must get right: the
`introduced` version itself, the version just below each `fixed`, the `fixed` version (must NOT
be reported) and, for `last_affected`, that version and the next patch. They are spread over
lockfiles of at most 60 packages (one name@version once per file), deterministically.

    python3 benches/vuln_lockfiles.py ../shared/data/rustsec-advisory-db/osv OUT_DIR
"""
import json
import os
import sys


def parse(v):
    core = v.split("+")[0]
    pre = ""
    if "-" in core:
        core, pre = core.split("-", 1)
    parts = [int(x) for x in core.split(".")]
    while len(parts) < 3:
        parts.append(0)
    return parts[:3], pre


def below(v):
    (a, b, c), pre = parse(v)
    if pre:
        return None
    if c > 0:
        return f"{a}.{b}.{c - 1}"
    if b > 0:
        return f"{a}.{b - 1}.99"
    if a > 0:
        return f"{a - 1}.99.99"
    return None


def main():
    src, out = sys.argv[1], sys.argv[2]
    wanted = set()
    for root, _, files in os.walk(src):
        for f in sorted(files):
            if not f.endswith(".json"):
                continue
            doc = json.load(open(os.path.join(root, f)))
            for aff in doc.get("affected", []):
                if aff.get("package", {}).get("ecosystem") != "crates.io":
                    continue
                name = aff["package"]["name"]
                for r in aff.get("ranges", []):
                    for e in r.get("events", []):
                        try:
                            if "introduced" in e and e["introduced"] not in ("0", "0.0.0-0"):
                                if not parse(e["introduced"])[1]:
                                    wanted.add((name, e["introduced"]))
                            if "fixed" in e:
                                if not parse(e["fixed"])[1]:
                                    wanted.add((name, e["fixed"]))
                                b = below(e["fixed"])
                                if b:
                                    wanted.add((name, b))
                            if "last_affected" in e:
                                (a, b2, c), pre = parse(e["last_affected"])
                                if not pre:
                                    wanted.add((name, e["last_affected"]))
                                    wanted.add((name, f"{a}.{b2}.{c + 1}"))
                        except ValueError:
                            continue
    pkgs = sorted(wanted)
    os.makedirs(out, exist_ok=True)
    files = []
    current = []
    for p in pkgs:
        if len(current) >= 60 or any(q == p for q in current):
            files.append(current)
            current = []
        current.append(p)
    if current:
        files.append(current)
    for i, group in enumerate(files):
        d = os.path.join(out, f"set{i:03d}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "Cargo.lock"), "w") as fh:
            fh.write("version = 3\n")
            for name, ver in group:
                fh.write(f'\n[[package]]\nname = "{name}"\nversion = "{ver}"\n'
                         'source = "registry+https://github.com/rust-lang/crates.io-index"\n')
    print(f"{len(pkgs)} crate versions in {len(files)} lockfiles", file=sys.stderr)


if __name__ == "__main__":
    main()
