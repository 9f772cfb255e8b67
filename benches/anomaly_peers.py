#!/usr/bin/env python3
"""Peers for `palisade eval anomaly`, on exactly the rows and features Palisade used.

Reads the feature matrices `palisade eval anomaly --dump-features DIR` wrote (train.csv: the
benign training rows in training order; test.csv: the test rows in stream order; both already
one-hot encoded and min-max scaled on the training rows) and runs:

* scikit-learn IsolationForest (100 trees, random_state 0), fitted on train, scoring test;
* River HalfSpaceTrees (25 trees, height 15, window 250, seed 0): frozen (learn train, then
  only score test) and score-then-learn (keep learning over the test stream).

Prints one JSON object per model and test file with the same keys as `palisade eval`.
Never imported by Palisade; run by benches/anomaly_compare.sh inside its own venv.
"""
import csv
import json
import sys
import time

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, roc_auc_score


def load(path):
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r)
        nfeat = header.index("label")
        xs, ys, files = [], [], []
        for row in r:
            xs.append([float(v) for v in row[:nfeat]])
            ys.append(int(row[nfeat]))
            files.append(row[nfeat + 1])
    return np.array(xs, dtype=np.float64), np.array(ys), np.array(files)


def threshold_at_fpr(benign_scores, fpr):
    s = np.sort(benign_scores)
    k = int(np.floor(fpr * len(s)))  # at most k benign rows strictly above
    return s[len(s) - 1 - k] if len(s) else 0.0


def metrics(name, scores, y, train_scores, rows_per_s, file):
    t = threshold_at_fpr(train_scores, 0.01)
    alert = scores > t
    pos = y == 1
    neg = ~pos
    both = pos.any() and neg.any()
    return {
        "model": name,
        "file": file,
        "roc_auc": float(roc_auc_score(y, scores)) if both else None,
        "pr_auc": float(average_precision_score(y, scores)) if both else None,
        "recall_at_1pct_fpr": float(alert[pos].mean()) if pos.any() else None,
        "test_fpr": float(alert[neg].mean()) if neg.any() else None,
        "rows_per_s": rows_per_s,
        "n": int(len(y)),
    }


def per_file(name, scores, y, files, train_scores, rows_per_s):
    out = [metrics(name, scores, y, train_scores, rows_per_s, "all")]
    names = sorted(set(files))
    if len(names) > 1:
        for f in names:
            m = files == f
            out.append(metrics(name, scores[m], y[m], train_scores, rows_per_s, f))
    return out


def main(d, seed=0):
    xtr, _, _ = load(f"{d}/train.csv")
    xte, yte, fte = load(f"{d}/test.csv")
    results = []

    forest = IsolationForest(n_estimators=100, random_state=seed).fit(xtr)
    t0 = time.perf_counter()
    s = -forest.score_samples(xte)
    rps = len(xte) / (time.perf_counter() - t0)
    results += per_file("sklearn-iforest", s, yte, fte, -forest.score_samples(xtr), rps)

    try:
        from river import anomaly
    except ImportError:
        anomaly = None
    if anomaly is not None:
        cols = [str(i) for i in range(xtr.shape[1])]
        hst = anomaly.HalfSpaceTrees(n_trees=25, height=15, window_size=250, seed=seed)
        # River's HST scores nothing until one full window has been learned; with fewer
        # training rows than a window (UNSW-NB15: 122), cycle through them until it is full
        # (Palisade closes the short window instead: HalfSpaceTrees::end_window).
        n_learn = max(len(xtr), 250)
        for i in range(n_learn):
            hst.learn_one(dict(zip(cols, xtr[i % len(xtr)])))
        tr_scores = np.array([hst.score_one(dict(zip(cols, row))) for row in xtr[:5000]])
        t0 = time.perf_counter()
        frozen = np.array([hst.score_one(dict(zip(cols, row))) for row in xte])
        rps = len(xte) / (time.perf_counter() - t0)
        results += per_file("river-hst-frozen", frozen, yte, fte, tr_scores, rps)
        t0 = time.perf_counter()
        online = []
        for row in xte:
            x = dict(zip(cols, row))
            online.append(hst.score_one(x))
            hst.learn_one(x)
        rps = len(xte) / (time.perf_counter() - t0)
        results += per_file("river-hst-online", np.array(online), yte, fte, tr_scores, rps)

    for r in results:
        print(json.dumps(r))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0)
