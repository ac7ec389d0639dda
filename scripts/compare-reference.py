#!/usr/bin/env python3
"""Writes tests/fixtures/compare/*.json: reference values for Student's t and the paired comparison, from SciPy.

    apt-get install -y python3-scipy python3-numpy
    python3 scripts/compare-reference.py

The node test (tests/node/compare.test.ts) checks functions/lib/stats.ts against these files; npm test does not
need SciPy. Unclustered cases use scipy.stats.ttest_1samp / sem / pearsonr directly; clustered ones the CR1
formula in numpy with SciPy's t distribution. Deterministic (fixed seeds).
"""

import json
import os

import numpy as np
import scipy
from scipy import stats

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "compare")


def t_distribution():
    cases = []
    for df in [1, 2, 3, 4, 5, 7, 10, 19, 30, 49, 99, 250, 1000, 100000]:
        for t in [-40.0, -8.5, -3.0, -1.96, -0.5, -1e-6, 0.0, 1e-6, 0.25, 1.0, 1.645, 2.5, 4.0, 9.0, 25.0, 60.0]:
            cases.append({"df": df, "t": t, "cdf": float(stats.t.cdf(t, df)), "sf": float(stats.t.sf(t, df))})
    quantiles = []
    for df in [1, 2, 3, 5, 9, 10, 29, 49, 99, 199, 1000, 100000]:
        for p in [1e-10, 1e-6, 0.001, 0.01, 0.025, 0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.95, 0.975, 0.99, 0.999, 0.999999]:
            quantiles.append({"df": df, "p": p, "q": float(stats.t.ppf(p, df))})
    return {"scipy": scipy.__version__, "cdf": cases, "quantile": quantiles}


def paired(a, b, confidence, margin, clusters=None):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    d = b - a
    n = len(d)
    md = float(d.mean())
    if clusters is None:
        se = float(stats.sem(d))
        df = n - 1
        test = stats.ttest_1samp(d, popmean=margin, alternative="greater")
        t, p = float(test.statistic), float(test.pvalue)
        g = None
    else:
        labels = np.asarray(clusters)
        groups = sorted(set(clusters))
        g = len(groups)
        sums = np.array([(d[labels == k] - md).sum() for k in groups])
        se = float(np.sqrt(g / (g - 1) * (sums**2).sum()) / n)
        df = g - 1
        t = (md - margin) / se
        p = float(stats.t.sf(t, df))
    q = float(stats.t.ppf(confidence, df))
    corr = None
    if a.std() > 0 and b.std() > 0:
        corr = float(stats.pearsonr(a, b).statistic)
    return {
        "a": a.tolist(),
        "b": b.tolist(),
        **({"clusters": list(clusters)} if clusters is not None else {}),
        "confidence": confidence,
        "margin": margin,
        "expected": {
            "n": n,
            "meanA": float(a.mean()),
            "meanB": float(b.mean()),
            "meanDiff": md,
            "se": se,
            "df": df,
            "clusters": g,
            "t": t,
            "pValue": p,
            "ciLow": md - q * se,
            "ciHigh": md + q * se,
            "correlation": corr,
        },
    }


def comparisons():
    rng = np.random.default_rng(20261203)
    cases = []
    # Binary pass/fail scores, as graders give: a better challenger, a tie-ish pair, a worse one.
    for n, pa, pb in [(60, 0.5, 0.7), (200, 0.6, 0.62), (80, 0.7, 0.55), (12, 0.4, 0.6)]:
        a = (rng.random(n) < pa).astype(float)
        b = np.where(rng.random(n) < 0.6, a, (rng.random(n) < pb).astype(float))
        cases.append(paired(a, b, 0.95, 0.0))
    # Continuous scores in [0, 1] with margins and other confidences.
    for n, shift, conf, margin in [(50, 0.05, 0.95, 0.0), (300, 0.02, 0.99, 0.01), (25, -0.1, 0.9, 0.0), (1000, 0.003, 0.95, 0.0)]:
        a = rng.beta(2, 3, n)
        b = np.clip(a + shift + rng.normal(0, 0.1, n), 0, 1)
        cases.append(paired(a, b, conf, margin))
    # Clustered items (several items per conversation / prompt family).
    for n, g in [(60, 12), (200, 8), (90, 30)]:
        labels = [f"c{int(i)}" for i in rng.integers(0, g, n)]
        effect = {k: rng.normal(0.05, 0.1) for k in set(labels)}
        a = rng.beta(2, 2, n)
        b = np.clip(a + np.array([effect[k] for k in labels]) + rng.normal(0, 0.05, n), 0, 1)
        cases.append(paired(a, b, 0.95, 0.0, labels))
    return {"scipy": scipy.__version__, "cases": cases}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in [("t-distribution.json", t_distribution()), ("paired.json", comparisons())]:
        with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
        print(f"wrote {name}")


if __name__ == "__main__":
    main()
