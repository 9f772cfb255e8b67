#!/usr/bin/env python3
"""Markdown table from benches/anomaly_compare.sh results: ours.json + peers.ndjson per data set."""
import json
import os
import sys


def fmt(v, digits=3):
    return "–" if v is None else f"{v:.{digits}f}"


def short(path):
    parts = path.replace("\\", "/").split("/")
    for p in parts:
        if p[:3].isdigit():
            return p[:3]
    return parts[-1]


def main(out, names):
    print("| data set | test rows | model | mode | ROC-AUC | PR-AUC | recall @1% FPR | test FPR | rows/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        d = os.path.join(out, name)
        ours = json.load(open(os.path.join(d, "ours.json")))
        rows = []
        for m in ours["models"]:
            modes = [("frozen", m["frozen"]), ("score+learn", m.get("online")),
                     ("score+learn guarded", m.get("online_guarded"))]
            for mode, f in modes:
                if f:
                    rows.append(("all", f"palisade {m['model']}", mode, f))
            for file, f in m.get("per_file", []):
                rows.append((short(file), f"palisade {m['model']}", "frozen", f))
        for line in open(os.path.join(d, "peers.ndjson")):
            p = json.loads(line)
            model, _, mode = p["model"].partition("-hst-")
            if mode:
                model, mode = "river hst", {"frozen": "frozen", "online": "score+learn"}[mode]
            else:
                model, mode = "sklearn iforest", "frozen"
            rows.append(("all" if p["file"] == "all" else short(p["file"]), model, mode, p))
        rows.sort(key=lambda r: (r[0] != "all", r[0]))
        for scope, model, mode, f in rows:
            label = name if scope == "all" else f"{name} {scope}"
            print(f"| {label} | {f['n']} | {model} | {mode} | {fmt(f['roc_auc'])} | {fmt(f['pr_auc'])} "
                  f"| {fmt(f['recall_at_1pct_fpr'])} | {fmt(f['test_fpr'])} | {f['rows_per_s']:,.0f} |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
