"""Peer for tests/bench/sql.bench.ts: CPython's sqlite3 running the 207 Spider gold pairs.

For each pair it runs the reference (gold_sql_spider_original) and the prediction (gold_sql) on a connection
reused per database, fetches all rows and compares them as Spider's exec_eval.py does (multiset of rows,
in order when the reference has ORDER BY; the column-permutation search is skipped when the columns already
line up, as it is for every pair here). Prints one JSON line: {"pairs": N, "seconds": S, "pairs_per_s": R}.

Usage: python3 tests/bench/sql_peer.py <corpora/sql dir> [rounds]
"""
import json
import sqlite3
import sys
import time
from collections import Counter


def result_eq(ref, pred, order_matters):
    if not ref and not pred:
        return True
    if len(ref) != len(pred) or len(ref[0]) != len(pred[0]):
        return False
    if order_matters:
        return ref == pred
    return Counter(ref) == Counter(pred)


def main():
    corpus = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with open(f"{corpus}/spider_gold_pairs.json") as f:
        pairs = json.load(f)
    conns = {}
    for p in pairs:
        if p["db_id"] not in conns:
            c = sqlite3.connect(f"file:{corpus}/{p['db_id']}.sqlite?mode=ro", uri=True)
            c.text_factory = lambda b: b.decode(errors="ignore")
            conns[p["db_id"]] = c
    best = None
    matched = 0
    for _ in range(rounds):
        matched = 0
        t0 = time.perf_counter()
        for p in pairs:
            c = conns[p["db_id"]]
            ref = c.execute(p["gold_sql_spider_original"]).fetchall()
            pred = c.execute(p["gold_sql"]).fetchall()
            matched += result_eq(ref, pred, "order by" in p["gold_sql_spider_original"].lower())
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    print(json.dumps({"pairs": len(pairs), "matched": matched, "seconds": best, "pairs_per_s": len(pairs) / best}))


if __name__ == "__main__":
    main()
