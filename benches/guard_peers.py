"""Peers of `palisade eval guard` on the same splits: a scikit-learn TF-IDF (word 1-2 + char
3-5 grams) + logistic-regression baseline for prompts and mail, and SpamAssassin (Debian
package, shipped rules, local tests only: `spamd -L` queried with `spamc -c`) for mail.

    python guard_peers.py DATA SPLITS.json BENIGN_PROMPTS.{txt,jsonl} [--no-spamassassin]

Prints one JSON document. Thresholds: 0.5 for the baseline (its default), SpamAssassin's own
required score (5.0) for its verdicts; ROC-AUC from the scores.
"""
import email
import email.policy
import json
import re
import subprocess
import sys
import time

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.pipeline import make_pipeline, make_union


def baseline():
    return make_pipeline(
        make_union(
            TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True),
        ),
        LogisticRegression(max_iter=2000, class_weight="balanced"),
    )


def jsonl(path):
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r["text"] for r in rows], np.array([r["label"] for r in rows])


def r4(x):
    return round(float(x), 4)


def prompts(data, benign_path):
    xtr, ytr = jsonl(f"{data}/deepset-prompt-injections/train.jsonl")
    xte, yte = jsonl(f"{data}/deepset-prompt-injections/test.jsonl")
    m = baseline().fit(xtr, ytr)
    p = m.predict_proba(xte)[:, 1]
    flag = p >= 0.5
    with open(benign_path, encoding="utf-8") as f:
        if benign_path.endswith(".jsonl"):
            benign = [json.loads(l)["text"] for l in f if l.strip()]
        else:
            benign = [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]
    bflag = m.predict_proba(benign)[:, 1] >= 0.5
    return {
        "model": "tfidf+lr",
        "deepset_test": {
            "roc_auc": r4(roc_auc_score(yte, p)),
            "f1": r4(f1_score(yte, flag)),
            "recall": r4(flag[yte == 1].mean()),
            "false_alarm_rate": r4(flag[yte == 0].mean()),
        },
        "benign_instructions": {"prompts": len(benign), "false_alarm_rate": r4(bflag.mean())},
    }


def mail_text(path):
    with open(path, "rb") as f:
        msg = email.message_from_binary_file(f, policy=email.policy.compat32)
    parts = [str(msg.get("Subject", ""))]
    for part in msg.walk():
        if part.get_content_maintype() != "text":
            continue
        try:
            payload = part.get_payload(decode=True) or b""
            text = payload.decode(part.get_content_charset() or "utf-8", "replace")
        except Exception:
            continue
        if part.get_content_subtype() == "html":
            text = re.sub(r"<[^>]*>", " ", text)
        parts.append(text)
    return "\n".join(parts)[:200000]


def mail_baseline(splits):
    rows = splits["cross_validation"]
    texts = [mail_text(r["file"]) for r in rows]
    bad = np.array([r["class"] in ("spam", "phish") for r in rows])
    phish = np.array([r["class"] == "phish" for r in rows])
    folds = np.array([r["fold"] for r in rows])
    oof = np.zeros(len(rows))
    for k in sorted(set(folds)):
        tr = folds != k
        m = baseline().fit([t for t, keep in zip(texts, tr) if keep], bad[tr])
        oof[~tr] = m.predict_proba([t for t, keep in zip(texts, ~tr) if keep])[:, 1]
    ham = ~bad
    t1 = np.sort(oof[ham])[int(np.floor(ham.sum() * 0.99))]
    full = baseline().fit(texts, bad)
    held = full.predict_proba([mail_text(f) for f in splits["held_back_phish"]])[:, 1]
    com = full.predict_proba([mail_text(f) for f in splits["commercial"]])[:, 1]
    return {
        "model": "tfidf+lr",
        "cross_validation": {
            "roc_auc": r4(roc_auc_score(bad, oof)),
            "recall_phish_at_1pct_false_alarms": r4((oof[phish] > t1).mean()),
            "ham_flagged": r4((oof[ham] >= 0.5).mean()),
            "phish_caught": r4((oof[phish] >= 0.5).mean()),
        },
        "held_back_phishing_pot": {
            "caught": r4((held >= 0.5).mean()),
            "roc_auc_vs_commercial": r4(
                roc_auc_score([1] * len(held) + [0] * len(com), np.concatenate([held, com]))
            ),
        },
        "commercial_mail": {"flagged": r4((com >= 0.5).mean())},
    }


SPAMD_PORT = 17830


def start_spamd():
    """spamd with the shipped rules and local tests only (-L), on 127.0.0.1: the rules are
    loaded once instead of once per message as `spamassassin -L -t` does (same scores)."""
    proc = subprocess.Popen(
        ["spamd", "-L", "--listen", f"127.0.0.1:{SPAMD_PORT}", "--max-children", "2",
         "--allowed-ips", "127.0.0.1", "--nouser-config", "--syslog", "stderr"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(120):
        r = subprocess.run(["spamc", "-d", "127.0.0.1", "-p", str(SPAMD_PORT), "-K"],
                           capture_output=True)
        if r.returncode == 0:
            return proc
        time.sleep(1)
    proc.kill()
    raise SystemExit("spamd did not start")


def spamassassin_score(path):
    with open(path, "rb") as f:
        out = subprocess.run(
            ["spamc", "-d", "127.0.0.1", "-p", str(SPAMD_PORT), "-c"],
            stdin=f, capture_output=True, timeout=120,
        ).stdout
    m = re.match(rb"(-?[0-9.]+)/(-?[0-9.]+)", out)
    if not m:
        return (0.0, False)
    score, required = float(m.group(1)), float(m.group(2))
    return (score, score >= required)


def mail_spamassassin(splits):
    rows = splits["cross_validation"]
    spamd = start_spamd()
    t = time.time()
    res = [spamassassin_score(r["file"]) for r in rows]
    held = [spamassassin_score(f) for f in splits["held_back_phish"]]
    com = [spamassassin_score(f) for f in splits["commercial"]]
    secs = time.time() - t
    spamd.terminate()
    spamd.wait()
    score = np.array([s for s, _ in res])
    flag = np.array([y for _, y in res])
    bad = np.array([r["class"] in ("spam", "phish") for r in rows])
    cls = np.array([r["class"] for r in rows])
    return {
        "model": "spamassassin 4 via spamd -L / spamc (shipped rules, local tests)",
        "all_training_side_messages": {
            "roc_auc": r4(roc_auc_score(bad, score)),
            "ham_flagged": r4(flag[(cls == "ham") | (cls == "commercial_ham")].mean()),
            "spam_caught": r4(flag[cls == "spam"].mean()),
            "phish_caught": r4(flag[cls == "phish"].mean()),
        },
        "held_back_phishing_pot": {"caught": r4(np.mean([y for _, y in held]))},
        "commercial_mail": {"flagged": r4(np.mean([y for _, y in com]))},
        "messages_per_s": r4((len(rows) + len(held) + len(com)) / secs),
    }


def main():
    data, splits_path, benign = sys.argv[1:4]
    with open(splits_path) as f:
        splits = json.load(f)
    out = {"prompt": prompts(data, benign), "mail": [mail_baseline(splits)]}
    if "--no-spamassassin" not in sys.argv:
        out["mail"].append(mail_spamassassin(splits))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
