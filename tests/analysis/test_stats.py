#!/usr/bin/python3
"""Tests of analysis/stats.py and of the breakdowns of analysis/uncertainty.py.

    /usr/bin/python3 tests/analysis/test_stats.py SOURCE_DIR

Against closed forms and hand-computed cases:
  - auc_weights reproduces hpresults.auc_x100 (unsorted grids, a single ratio);
  - bootstrap of a mean: the replicates' sd equals the closed form sd / sqrt(N) of the plug-in
    estimate; the 95 % percentile interval covers the true mean about 95 % of the time;
  - paired bootstrap of an AUC difference: its sd equals the closed form of the paired mean; a
    true difference is found (p tiny, interval holds the truth); an absent one is rejected at
    about the nominal 5 % over many seeds; the tail-count p of a hand example;
  - exact McNemar against exact binomial sums (math.comb) and its null rejection rate <= 5 %;
  - Holm against a hand example; Kendall's tau-b and Spearman's rho against hand-computed tiny
    cases with and without ties; split-half stability high for a stable and ~0 for a noise ranking;
  - the report's answer-type table and random-repeat table against a hand-counted tiny file;
  - the faithfulness ranking (AUC gap negative - positive) of synthetic methods with known gaps:
    order, gaps against a recount, paired interval width ~ 1.96 sd / sqrt(N) and narrower than an
    unpaired one, narrowing as 1 / sqrt(N).
Exit 0 when all hold; 1 with FAIL lines otherwise.
"""

import math
import os
import re
import subprocess
import sys
import tempfile

import h5py
import numpy as np

SRC = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "analysis"))
sys.path.insert(0, os.path.join(SRC, "tests", "analysis"))
import hpresults  # noqa: E402
import make_results  # noqa: E402
import stats  # noqa: E402

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
    return cond


def close(a, b, tol):
    return abs(a - b) <= tol


def test_auc_weights():
    rng = np.random.default_rng(1)
    for r in ([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], [0.5, 0, 0.25, 0.75], [0.3], [0.2, 0.2]):
        a = rng.random(len(r)) * 100
        w = stats.auc_weights(r)
        check(close(float(w @ a), hpresults.auc_x100(np.array(r, float), a), 1e-12),
              f"auc_weights {r}: {w @ a} != {hpresults.auc_x100(np.array(r, float), a)}")
    # Hand: grid 0, 0.5, 1 -> weights 1/4, 1/2, 1/4.
    check(np.allclose(stats.auc_weights([0, 0.5, 1]), [0.25, 0.5, 0.25]), "auc_weights of 0, 0.5, 1")


def test_bootstrap_mean():
    rng = np.random.default_rng(2)
    x = rng.choice([0.0, 0.3, 0.6, 0.9, 1.0], size=(500, 1))
    reps = stats.bootstrap_means(x, 4000, np.random.default_rng(3))
    se_closed = x[:, 0].std() / np.sqrt(x.shape[0])  # plug-in: population sd of the sample
    se_boot = reps[:, 0].std(ddof=1)
    # The sd estimate from B replicates has relative sd ~ 1/sqrt(2B) = 1.1 %; allow 5 %.
    check(close(se_boot, se_closed, 0.05 * se_closed), f"bootstrap sd {se_boot} vs closed form {se_closed}")
    check(close(reps.mean(), x.mean(), 4 * se_closed / np.sqrt(4000)), "bootstrap replicates not centred")
    # Same draws for every column: a column and its copy have identical replicates (pairing).
    xx = np.concatenate([x, x, 2 * x], axis=1)
    r2 = stats.bootstrap_means(xx, 300, np.random.default_rng(4), chunk=70)
    check(np.array_equal(r2[:, 0], r2[:, 1]) and np.allclose(r2[:, 2], 2 * r2[:, 0]), "columns not resampled jointly")
    # Coverage of the 95 % percentile interval of a mean, normal data, true mean 1.
    cover, trials = 0, 300
    g = np.random.default_rng(5)
    for _ in range(trials):
        y = g.normal(1.0, 2.0, size=(120, 1))
        lo, hi = stats.percentile_ci(stats.bootstrap_means(y, 400, g), 0.95)
        cover += int(lo[0] <= 1.0 <= hi[0])
    # Binomial sd at 0.95 over 300 trials: 1.3 %; the percentile interval undercovers a little at N = 120.
    check(0.90 <= cover / trials <= 0.99, f"percentile interval coverage {cover / trials}")


def paired_curves(rng, n, s, shift):
    """Two curves' label scores [N, S] on the same samples: a shared per-sample difficulty (the
    pairing), independent noise, and curve a raised by `shift` (probability of a correct answer)."""
    base = rng.random((n, 1)) * 0.6 + 0.2
    pa = np.clip(base + shift + rng.normal(0, 0.05, (n, s)), 0, 1)
    pb = np.clip(base + rng.normal(0, 0.05, (n, s)), 0, 1)
    return (rng.random((n, s)) < pa).astype(float), (rng.random((n, s)) < pb).astype(float)


def paired_test(a, b, ratios, B, rng):
    """(ΔAUC, lo, hi, p, replicate sd) the way uncertainty.py computes it."""
    w = stats.auc_weights(ratios) * 100
    reps = stats.bootstrap_means(np.concatenate([a, b], axis=1), B, rng)
    s = a.shape[1]
    d = reps[:, :s] @ w - reps[:, s:] @ w
    est = float((a.mean(axis=0) - b.mean(axis=0)) @ w)
    lo, hi = stats.percentile_ci(d)
    return est, float(lo), float(hi), stats.paired_p_value(est, d), float(d.std(ddof=1))


def test_paired():
    ratios = [0, 0.25, 0.5, 0.75]
    w = stats.auc_weights(ratios) * 100
    rng = np.random.default_rng(6)
    # A true difference of 5 points of probability -> ΔAUC ~ 5 (every ratio raised alike).
    a, b = paired_curves(rng, 2000, 4, 0.05)
    est, lo, hi, p, sd = paired_test(a, b, ratios, 2000, np.random.default_rng(7))
    per = (a - b) @ w  # per-sample AUC differences: the estimate is their mean
    se_closed = per.std() / np.sqrt(per.size)
    check(close(est, per.mean(), 1e-9), "paired estimate is not the mean per-sample difference")
    check(close(sd, se_closed, 0.06 * se_closed), f"paired bootstrap sd {sd} vs closed form {se_closed}")
    check(p < 1e-6 and lo > 0 and lo <= 5.0 <= hi + 1.0, f"true difference: p {p}, interval [{lo}, {hi}]")
    # No difference: rejection rate at 0.05 over many seeds ~ 5 % (400 seeds: binomial sd 1.1 %).
    rejected, trials = 0, 400
    g = np.random.default_rng(8)
    for _ in range(trials):
        a, b = paired_curves(g, 150, 4, 0.0)
        _, _, _, p, _ = paired_test(a, b, ratios, 300, g)
        rejected += int(p < 0.05)
    check(0.02 <= rejected / trials <= 0.09, f"paired bootstrap null rejection rate {rejected / trials}")
    # Tail-count p, hand example: replicates -1, 1, 2, 3 -> #<=0: 1, #>=0: 3 -> 2 * (1+1) / 5.
    check(close(float(stats.percentile_p_value(np.array([-1.0, 1, 2, 3]))), 0.8, 1e-12), "percentile p hand case")
    check(float(stats.percentile_p_value(np.zeros(10))) == 1.0, "percentile p of identical curves")
    check(stats.paired_p_value(0.0, np.zeros(10)) == 1.0, "p of identical curves")
    # Normal tail: estimate 1.96 sd -> p = 0.05.
    d = np.random.default_rng(9).normal(0, 1, 100000)
    check(close(stats.paired_p_value(1.96 * d.std(ddof=1), d), 0.05, 1e-3), "normal-tail p at z = 1.96")


def test_mcnemar():
    # Hand: b = 1, c = 7: p = 2 (C(8,0) + C(8,1)) / 2^8 = 18 / 256.
    a = np.array([1] * 1 + [0] * 7 + [1] * 5 + [0] * 3, bool)
    b = np.array([0] * 1 + [1] * 7 + [1] * 5 + [0] * 3, bool)
    bb, cc, p = stats.mcnemar_exact(a, b)
    check((bb, cc) == (1, 7) and close(p, 18 / 256, 1e-15), f"McNemar hand case: {bb}, {cc}, {p}")
    check(stats.mcnemar_exact(a, a)[2] == 1.0, "McNemar of identical outcomes")
    for n in (1, 2, 5, 30, 200, 1001):
        for k in sorted({0, 1, n // 3, n // 2, n - 1}):
            exact = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
            got = stats.binom_half_cdf(k, n)
            check(close(got, exact, 1e-10 * max(exact, 1e-300) + 1e-300), f"Bin({n}, 1/2) cdf at {k}: {got} != {exact}")
    # Null: exact McNemar is conservative, rejection rate <= 5 % (plus sampling noise).
    g = np.random.default_rng(10)
    rej, trials = 0, 2000
    for _ in range(trials):
        base = g.random(200) < 0.5
        flip_a, flip_b = g.random(200) < 0.1, g.random(200) < 0.1
        rej += int(stats.mcnemar_exact(base ^ flip_a, base ^ flip_b)[2] < 0.05)
    check(rej / trials <= 0.065, f"McNemar null rejection rate {rej / trials}")
    # A real difference: b much more often right.
    a = g.random(500) < 0.5
    b = a | (g.random(500) < 0.2)
    check(stats.mcnemar_exact(a, b)[2] < 1e-6, "McNemar misses a true difference")


def test_holm():
    # Hand: sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.06.
    got = stats.holm([0.01, 0.04, 0.03, 0.005])
    check(np.allclose(got, [0.03, 0.06, 0.06, 0.02]), f"Holm hand case: {got}")
    got = stats.holm([0.5, float("nan"), 0.2])
    check(np.allclose(got[[0, 2]], [0.5, 0.4]) and np.isnan(got[1]), f"Holm with NaN: {got}")
    # 0.8 x 2 = 1.6 -> capped at 1; 0.9 x 1 = 0.9 -> raised to the running max 1.
    check(np.allclose(stats.holm([0.9, 0.8]), [1.0, 1.0]), "Holm caps and keeps monotone")


def test_rank_correlations():
    check(np.array_equal(stats.rankdata([3, 1, 3, 2]), [3.5, 1, 3.5, 2]), "rankdata ties")
    # No ties: one discordant pair of 6 -> tau = 4/6; sum d^2 = 2 -> rho = 1 - 6*2/(4*15) = 0.8.
    check(close(stats.kendall_tau_b([1, 2, 3, 4], [1, 3, 2, 4]), 2 / 3, 1e-12), "tau without ties")
    check(close(stats.spearman_rho([1, 2, 3, 4], [1, 3, 2, 4]), 0.8, 1e-12), "rho without ties")
    # Ties: concordant 4, tied 2 (one in x, one in y) of 6 pairs -> tau-b = 4 / sqrt(5 * 5) = 0.8;
    # average ranks (1, 2.5, 2.5, 4) and (1, 2, 3.5, 3.5) -> rho = 3.75 / 4.5.
    check(close(stats.kendall_tau_b([1, 2, 2, 3], [1, 2, 3, 3]), 0.8, 1e-12), "tau-b with ties")
    check(close(stats.spearman_rho([1, 2, 2, 3], [1, 2, 3, 3]), 3.75 / 4.5, 1e-12), "rho with ties")
    check(close(stats.kendall_tau_b([1, 2, 3], [3, 2, 1]), -1.0, 1e-12), "tau reversed")
    check(np.isnan(stats.spearman_rho([1, 1, 1], [1, 2, 3])), "rho of a constant")
    g = np.random.default_rng(11)
    stable = g.normal(0, 1, (400, 30)) + np.linspace(0, 3, 30)  # strong unit effect
    rho, tau = stats.split_half(stable, 10, np.random.default_rng(12))
    check(rho.size == 10 and rho.min() > 0.9 and tau.min() > 0.7, f"split-half of a stable ranking {rho.min()}")
    # Pure noise: one split each of 30 independent data sets; rho ~ 0 with sd 1/sqrt(29) each.
    noise = [stats.split_half(g.normal(0, 1, (400, 30)), 1, g)[0][0] for _ in range(30)]
    check(abs(np.mean(noise)) < 0.12, f"split-half of noise {np.mean(noise)}")
    r1, _ = stats.split_half(stable, 5, np.random.default_rng(12))
    r2, _ = stats.split_half(stable, 5, np.random.default_rng(12))
    check(np.array_equal(r1, r2), "split-half not deterministic")


def test_breakdowns(tmp):
    """A 6-sample file: answer types and three random repeats, counted by hand."""
    path = os.path.join(tmp, "tiny.h5")
    with h5py.File(path, "w") as f:
        f.attrs.create("format", "headprune-results", dtype=make_results.STR)
        f.attrs["format_version"] = np.int64(1)
        make_results.write_experiment(f, "tiny", "lxmert", *make_results.LXMERT_MODULES, 2, [0, 1], 6,
                                      ["ours", "random"], ["head"], ["positive"], ["per_sample"], seed=3)
        e = f["experiments/tiny"]
        make_results.strings(e["samples"], "answer_type", ["yes/no", "yes/no", "number", "other", "other", "other"])
        ours = np.array([[1, 1], [1, 0], [0.3, 0.3], [1, 0], [0.6, 0], [0, 0]], float)
        c = e["curves/per_sample/ours/head/positive"]
        del c["label_score"], c["accuracy_x100"]
        c["label_score"] = ours
        c["accuracy_x100"] = ours.mean(axis=0) * 100
        rep = np.zeros((3, 6, 2))
        rep[0, :, 0], rep[1, :, 0], rep[2, :, 0] = 1, 0.5, 0  # ratio 0: 100, 50, 0; ratio 1: 0, 0, 0
        rep[0, 0, 1] = 0.6  # repeat 0 at ratio 1: 0.6 / 6 = 10 %
        c = e["curves/per_sample/random/head/positive"]
        del c["label_score"], c["accuracy_x100"]
        c["label_score"] = rep
        c["accuracy_x100"] = rep.mean(axis=(0, 1)) * 100
    out = os.path.join(tmp, "tiny_report")
    r = subprocess.run([sys.executable, os.path.join(SRC, "analysis", "report.py"), path, "--out", out, "--no-plots",
                        "--bootstrap", "200", "--split-halves", "3"], capture_output=True, text=True)
    if not check(r.returncode == 0, f"tiny report: exit {r.returncode}: {r.stderr}"):
        return
    md = open(os.path.join(out, "report.md"), encoding="utf-8").read()
    # ours by type, AUC over [0, 1] = mean of the two points:
    #   yes/no (2): ratio 0 100, ratio 1 50 -> 75.00 (100.00); number (1): 30, 30 -> 30.00 (30.00);
    #   other (3): (1 + 0.6 + 0) / 3 = 53.33, 0 -> 26.67 (53.33).
    want = ("| tiny | per_sample | ours | head | positive | 75.00 (100.00) | 30.00 (30.00) | 26.67 (53.33) |")
    check("| Experiment | Protocol | Method | Granularity | Sign | yes/no (n = 2) | number (n = 1) | other (n = 3) |"
          in md, "answer-type header missing")
    check(want in md, "answer-type row for ours wrong:\n" + "\n".join(ln for ln in md.splitlines() if "| ours |" in ln))
    # Random repeats: AUCs (100 + 10) / 2 = 55, (50 + 0) / 2 = 25, 0 -> mean 26.67, sd 27.54, min 0, max 55.
    sd = float(np.std([55, 25, 0], ddof=1))
    want = f"| tiny | per_sample | head | positive | 3 | 26.67 | {sd:.2f} | 0.00 | 55.00 |"
    check(want in md, "random-repeat row wrong:\n" + "\n".join(ln for ln in md.splitlines() if "| 3 |" in ln))
    # Without the optional datasets the sections are skipped silently.
    with h5py.File(path, "a") as f:
        del f["experiments/tiny/samples/answer_type"]
    r = subprocess.run([sys.executable, os.path.join(SRC, "analysis", "report.py"), path, "--out", out + "2",
                        "--no-plots", "--bootstrap", "200"], capture_output=True, text=True)
    md2 = open(os.path.join(out + "2", "report.md"), encoding="utf-8").read() if r.returncode == 0 else ""
    check(r.returncode == 0 and "Accuracy by answer type" not in md2, "answer-type section without answer_type")


def test_modality_and_held_out(tmp):
    """A 6-sample LXMERT file with a global curve: the share of each module kind a keep_mask prunes,
    and the in-sample / held-out AUCs of a prune.global_fit: half run, counted by hand."""
    path = os.path.join(tmp, "kinds.h5")
    text, image = make_results.LXMERT_MODULES
    # text: l0 l1 x0.visual_attention(cross) x0.lang_self x1.visual_attention(cross) x1.lang_self;
    # image: r0 r1 x0.visual_attention_copy(cross) x0.visn_self -> 4 text, 3 image, 3 cross modules
    kinds = ["text", "text", "cross", "text", "cross", "text", "image", "image", "cross", "image"]
    with h5py.File(path, "w") as f:
        f.attrs.create("format", "headprune-results", dtype=make_results.STR)
        f.attrs["format_version"] = np.int64(1)
        make_results.write_experiment(f, "kinds", "lxmert", text, image, 2, [0, 0.5], 6, ["ours"], ["head"],
                                      ["positive"], ["global"], seed=5)
        e = f["experiments/kinds"]
        make_results.strings(e["meta"], "module_kind", kinds)
        e["samples"].create_dataset("global_fit", data=np.array([1, 1, 1, 0, 0, 0], np.uint8))
        c = e["curves/global/ours/head/positive"]
        km = np.ones((2, 10, 2), np.uint8)
        km[1, [2, 4, 8], :] = 0  # every cross head
        km[1, 0, :] = 0          # the 2 heads of one of the 4 text modules: 25 % of text
        del c["keep_mask"], c["label_score"], c["accuracy_x100"]
        c["keep_mask"] = km
        ls = np.array([[1, 1], [1, 0], [1, 1], [1, 0], [0, 0], [1, 0]], float)
        c["label_score"] = ls
        c["accuracy_x100"] = ls[3:].mean(axis=0) * 100
    out = os.path.join(tmp, "kinds_report")
    r = subprocess.run([sys.executable, os.path.join(SRC, "analysis", "report.py"), path, "--out", out, "--no-plots",
                        "--bootstrap", "200"], capture_output=True, text=True)
    if not check(r.returncode == 0, f"kinds report: exit {r.returncode}: {r.stderr}"):
        return
    md = open(os.path.join(out, "report.md"), encoding="utf-8").read()
    for kind, cells in [("text self", "0 % | 25 %"), ("image self", "0 % | 0 %"), ("cross", "0 % | 100 %")]:
        want = f"| head | positive | ours | {kind} | {cells} |"
        check(want in md, f"module-kind row {want!r} missing:\n"
              + "\n".join(ln for ln in md.splitlines() if "| ours |" in ln))
    # In-sample rows 0-2: (100 + 66.67) / 2 = 83.33; held out rows 3-5: (66.67 + 0) / 2 = 33.33.
    row = next((ln for ln in md.splitlines() if ln.startswith("| kinds | head | positive | ours | 3 / 3 |")), "")
    check("| 83.33 | 33.33 (" in row and row.endswith("| +50.00 |"), f"held-out row wrong: {row!r}")


def faithfulness_file(path, n, seed):
    """Per-sample head curves over ratios 0, 0.5, 1 whose gaps AUC(negative) - AUC(positive) are
    ordered by construction: ours (about 40) > lrp (about 20) > three random draws (about 0) >
    michel (about -15, its ranking reversed); the test recounts them exactly. Positive and
    negative share each sample's uniform draw (u < p), so they are strongly paired, as pruning the
    same question twice is. Returns {method: (positive [N, S] or [K, N, S], negative)}."""
    ratios = [0, 0.5, 1.0]
    g = np.random.default_rng(seed)
    drop = {"ours": (0.6, 0.0), "lrp": (0.45, 0.15), "michel": (0.2, 0.4)}  # accuracy lost at ratio 1: pos, neg
    curves = {}
    with h5py.File(path, "w") as f:
        f.attrs.create("format", "headprune-results", dtype=make_results.STR)
        f.attrs["format_version"] = np.int64(1)
        make_results.write_experiment(f, "faith", "lxmert", *make_results.LXMERT_MODULES, 2, ratios, n,
                                      ["ours", "lrp", "michel", "random"], ["head"], ["positive", "negative"],
                                      ["per_sample"], seed=seed)
        e = f["experiments/faith"]

        def labels(lost, u):
            p = 0.8 - lost * np.asarray(ratios)  # p at ratios 0, 0.5, 1
            return (u < p).astype(np.float64)

        for m, (lp, ln) in drop.items():
            u = g.random((n, 1)) * 0.7 + g.random((n, 3)) * 0.3  # mostly the sample's own difficulty
            curves[m] = (labels(lp, u), labels(ln, u))
        rp, rn = [], []
        for lp, ln in [(0.3, 0.32), (0.35, 0.3), (0.28, 0.31)]:  # three draws, gaps about -1, +2.5, -1.5
            u = g.random((n, 1)) * 0.7 + g.random((n, 3)) * 0.3
            rp.append(labels(lp, u))
            rn.append(labels(ln, u))
        curves["random"] = (np.stack(rp), np.stack(rn))
        for m, (lp, ln) in curves.items():
            for sign, ls in (("positive", lp), ("negative", ln)):
                c = e[f"curves/per_sample/{m}/head/{sign}"]
                del c["label_score"], c["accuracy_x100"]
                c["label_score"] = ls
                c["accuracy_x100"] = ls.reshape(-1, n, 3).mean(axis=(0, 1)) * 100
    return ratios, curves


def test_faithfulness(tmp):
    """The report's faithfulness ranking against a recount: order by the gap, the gap itself (random:
    the mean of its draws' gaps), the interval around it, the width of a paired (not an unpaired)
    interval, and its narrowing as 1 / sqrt(N)."""
    import csv
    widths = {}
    for n in (100, 1600):
        path = os.path.join(tmp, f"faith{n}.h5")
        ratios, curves = faithfulness_file(path, n, seed=20 + n)
        out = os.path.join(tmp, f"faith{n}_report")
        r = subprocess.run([sys.executable, os.path.join(SRC, "analysis", "report.py"), path, "--out", out,
                            "--no-plots", "--bootstrap", "2000", "--split-halves", "0"], capture_output=True, text=True)
        if not check(r.returncode == 0, f"faithfulness report: exit {r.returncode}: {r.stderr}"):
            return
        w = stats.auc_weights(ratios) * 100
        gap = {}  # recount: the per-sample gaps [N] (random: each draw's, then their mean)
        for m, (lp, ln) in curves.items():
            per = (ln - lp) @ w
            gap[m] = per.mean(axis=0) if per.ndim == 2 else per
        want_order = sorted(gap, key=lambda m: -gap[m].mean())
        check(want_order == ["ours", "lrp", "random", "michel"], f"N {n}: the file's gaps {want_order}")
        rows = list(csv.DictReader(open(os.path.join(out, "faithfulness.csv"), encoding="utf-8")))
        check([x["method"] for x in rows] == want_order, f"N {n}: faithfulness.csv order {[x['method'] for x in rows]}")
        md = open(os.path.join(out, "report.md"), encoding="utf-8").read()
        sec = md.split("### Faithfulness ranking of the methods", 1)[-1].split("###", 1)[0]
        got = [ln.split("|")[2].strip() for ln in sec.splitlines() if re.match(r"^\| [0-9]+ \|", ln)]
        check(got == want_order, f"N {n}: report.md order {got}")
        for x in rows:
            m, est, lo, hi = x["method"], float(x["gap"]), float(x["ci_low"]), float(x["ci_high"])
            check(close(est, float(gap[m].mean()), 1e-9), f"N {n} {m}: gap {est} != recount {gap[m].mean()}")
            check(lo < est < hi, f"N {n} {m}: interval [{lo}, {hi}] misses the estimate {est}")
            # Paired: the percentile interval's half-width ~ 1.96 sd(per-sample gap) / sqrt(N).
            paired = 1.96 * gap[m].std() / np.sqrt(n)
            check(close((hi - lo) / 2, paired, 0.12 * paired), f"N {n} {m}: half-width {(hi - lo) / 2} vs {paired}")
            widths[(n, m)] = hi - lo
            if m != "random":
                lp, ln = curves[m]
                unpaired = 1.96 * np.sqrt(((lp @ w).var() + (ln @ w).var()) / n)
                check((hi - lo) / 2 < 0.8 * unpaired, f"N {n} {m}: interval as wide as unpaired ({unpaired})")
                d = float(x["gap_minus_random"])
                check(close(d, float(gap[m].mean() - gap["random"].mean()), 1e-9), f"N {n} {m}: vs random {d}")
                check(float(x["vs_random_ci_low"]) < d < float(x["vs_random_ci_high"]), f"N {n} {m}: vs random CI")
        row = next((ln for ln in sec.splitlines() if ln.startswith("| 1 | ours |")), "")
        check(f"| {gap['ours'].mean():.2f} | [" in row, f"N {n}: ours row {row!r}")
    for m in ("ours", "lrp", "michel", "random"):
        ratio = widths.get((1600, m), 1) / widths.get((100, m), 1)
        check(0.18 < ratio < 0.33, f"{m}: interval width ratio N 1600 / 100 = {ratio} (1 / sqrt(16) = 0.25)")


def main():
    test_auc_weights()
    test_bootstrap_mean()
    test_paired()
    test_mcnemar()
    test_holm()
    test_rank_correlations()
    with tempfile.TemporaryDirectory() as tmp:
        test_breakdowns(tmp)
        test_modality_and_held_out(tmp)
        test_faithfulness(tmp)
    for msg in failures:
        print("FAIL:", msg)
    if failures:
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
