#!/usr/bin/python3
"""Test of analysis/report.py on synthetic results files (tests/analysis/make_results.py).

    /usr/bin/python3 tests/analysis/test_report.py SOURCE_DIR

Checks, for a two-experiment file (ours + random, head + layer, positive + negative,
per_sample + global) and for a merged-grid file (one experiment per cell):
  - every number in tables.md equals the HDF5 data, read here independently with h5py:
    ratio headers (exact float64), accuracy x100 per ratio, AUC (trapezoid / ratio span) and
    the gap to 'random' (same model group, protocol, granularity, sign; '-' where none), all
    as 2-decimal strings; every curve of the file is a row exactly once, no extra rows;
  - tables.tex carries the same numbers row by row; curves.csv has one line per curve point;
  - PNG and PDF files exist, are non-empty and are what their extension says, with the
    expected set of figures; report.md embeds every PNG and links every PDF, and everything it
    references exists;
  - a second run gives byte-identical output (no timestamps).
Exit 0 when all hold; 1 with FAIL lines otherwise.
"""

import csv
import hashlib
import math
import os
import re
import subprocess
import sys
import tempfile

import h5py
import numpy as np

SRC = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "analysis"))
import make_results  # noqa: E402

REPORT = os.path.join(SRC, "analysis", "report.py")
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
    return cond


def f2(x):
    s = f"{x:.2f}"
    return "0.00" if s == "-0.00" else s


def auc(r, a):
    """Independent AUC: numpy's trapezoid over the sorted grid, divided by the span."""
    o = np.argsort(r)
    r, a = np.asarray(r)[o], np.asarray(a)[o]
    if len(r) == 1:
        return float(a[0])
    trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy 2 renamed it
    return float(trapezoid(a, r) / (r[-1] - r[0]))


def read_label_scores(path):
    """{(exp, protocol, method, gran, sign): label_score [N, S]} straight from the file."""
    out = {}
    with h5py.File(path, "r") as f:
        for e in f["experiments"]:
            cg = f[f"experiments/{e}/curves"]
            for p in cg:
                for m in cg[p]:
                    for g in cg[f"{p}/{m}"]:
                        for s in cg[f"{p}/{m}/{g}"]:
                            out[(e, p, m, g, s)] = cg[f"{p}/{m}/{g}/{s}/label_score"][()]
    return out


def holm_by_hand(ps):
    """Holm's step-down procedure written out: the i-th smallest p times (m - i), running max, cap 1."""
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    adj, run = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        run = max(run, min(1.0, (m - rank) * ps[i]))
        adj[i] = run
    return adj


def mcnemar_by_hand(b, c):
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)


def read_truth(path):
    """{(exp, protocol, method, gran, sign): (ratios, acc)} straight from the file."""
    truth = {}
    with h5py.File(path, "r") as f:
        for e in f["experiments"]:
            cg = f[f"experiments/{e}/curves"]
            for p in cg:
                for m in cg[p]:
                    for g in cg[f"{p}/{m}"]:
                        for s in cg[f"{p}/{m}/{g}"]:
                            d = cg[f"{p}/{m}/{g}/{s}"]
                            truth[(e, p, m, g, s)] = (d["ratios"][()], d["accuracy_x100"][()])
    return truth


def parse_markdown_tables(text):
    """[(header cells, [row cells])] for every pipe table in the text."""
    tables, cur = [], None
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cur is None:
                cur = (cells, [])
                tables.append(cur)
            elif all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                continue
            else:
                cur[1].append(cells)
        else:
            cur = None
    return tables


def run_report(h5, out):
    r = subprocess.run([sys.executable, REPORT, h5, "--out", out], capture_output=True, text=True)
    check(r.returncode == 0, f"report.py {h5} exited {r.returncode}: {r.stderr}")
    return r


def tree_digest(d):
    out = {}
    for root, _, files in os.walk(d):
        for fn in files:
            p = os.path.join(root, fn)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, d)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def check_comparisons(label, out, truth, scores, seen, random_of):
    """comparisons.csv against a recount, and the table's marks against comparisons.csv."""
    with open(os.path.join(out, "comparisons.csv"), encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    check(rows, f"{label}: comparisons.csv is empty")
    auc_rows = [r for r in rows if r["test"] == "auc_bootstrap"]
    mc_rows = [r for r in rows if r["test"] == "mcnemar_exact"]
    # Holm, recomputed per table (group x ratio grid: every grid is its own table here).
    for test, rs in (("auc", auc_rows), ("mcnemar", mc_rows)):
        fams = {}
        for r in rs:
            k = (r["group"], truth[(r["experiment_a"], r["protocol"], r["method_a"], r["granularity"],
                                    r["sign"])][0].tobytes())
            fams.setdefault(k, []).append(r)
        for fam in fams.values():
            want = holm_by_hand([float(r["p"]) for r in fam])
            for r, w in zip(fam, want):
                check(abs(float(r["p_holm"]) - w) <= 1e-12, f"{label}: {test} Holm {r['p_holm']} != {w}")
    for r in mc_rows:
        ka = (r["experiment_a"], r["protocol"], r["method_a"], r["granularity"], r["sign"])
        kb = (r["experiment_b"], r["protocol"], r["method_b"], r["granularity"], r["sign"])
        j = list(truth[ka][0]).index(float(r["ratio"]))
        ca, cb = scores[ka][:, j] > 0, scores[kb][:, j] > 0
        b, c = int(np.sum(ca & ~cb)), int(np.sum(~ca & cb))
        check((int(r["b"]), int(r["c"])) == (b, c), f"{label}: McNemar counts {r['b']},{r['c']} != {b},{c}")
        check(abs(float(r["p"]) - mcnemar_by_hand(b, c)) <= 1e-9, f"{label}: McNemar p {r['p']} for {b},{c}")
    for r in auc_rows:
        ka = (r["experiment_a"], r["protocol"], r["method_a"], r["granularity"], r["sign"])
        kb = (r["experiment_b"], r["protocol"], r["method_b"], r["granularity"], r["sign"])
        d = auc(*truth[ka]) - auc(*truth[kb])
        check(abs(float(r["estimate"]) - d) <= 1e-9, f"{label}: ΔAUC {r['estimate']} != {d}")
        check(float(r["ci_low"]) <= d <= float(r["ci_high"]), f"{label}: ΔAUC {d} outside its interval")
        sig = float(r["p_holm"]) < 0.05
        for k1, k2 in ((ka, kb), (kb, ka)):
            cells = seen[k1]
            differs = [x.strip() for x in cells[-1].split(",")] if cells[-1] != "-" else []
            check((k2[2] in differs) == sig, f"{label}: {k1} 'Differs from' {differs} vs Holm p {r['p_holm']} "
                                             f"against {k2[2]}")
            if random_of(k1) == k2:
                check(cells[-2].endswith("*") == sig, f"{label}: {k1}: gap {cells[-2]} vs Holm p {r['p_holm']}")
    # The claims table: 'positive < random' is **yes** exactly when the Holm-significant ΔAUC is < 0.
    rep = open(os.path.join(out, "report.md"), encoding="utf-8").read()
    claims = [t for t in parse_markdown_tables(rep) if t[0][:4] == ["Protocol", "Granularity", "Method",
                                                                   "positive < random"]]
    n_claims = 0
    for _, rows_ in claims:
        for cells in rows_:
            p, g, m = cells[:3]
            for col, sign, lower in ((3, "positive", True), (4, "negative", False)):
                # Several groups may have this block: the cell's ΔAUC says which comparison it is.
                hit = [r for r in auc_rows if (r["protocol"], r["granularity"], r["sign"], r["method_a"],
                                               r["method_b"]) == (p, g, sign, m, "random")
                       and f"({'+' if float(r['estimate']) > 0 else ''}{f2(float(r['estimate']))}," in cells[col]]
                if len(hit) != 1:
                    continue
                d, ph = float(hit[0]["estimate"]), float(hit[0]["p_holm"])
                want = "**yes**" if ph < 0.05 and (d < 0) == lower else ("opposite" if ph < 0.05 else "n.s.")
                check(cells[col].startswith(want), f"{label}: claim {p} {g} {m} {sign}: {cells[col]!r}, want {want}")
                n_claims += 1
    check(n_claims > 0, f"{label}: no claims checked")
    print(f"{label}: {len(auc_rows)} paired AUC tests, {len(mc_rows)} McNemar tests, {n_claims} claims checked")


def check_case(tmp, label, grid, random_of):
    """random_of(key) -> key of the random curve the gap must use (or None)."""
    h5 = os.path.join(tmp, f"{label}.h5")
    make_results.write_file(h5, grid=grid)
    out = os.path.join(tmp, f"{label}_report")
    run_report(h5, out)
    truth = read_truth(h5)
    md = open(os.path.join(out, "tables.md"), encoding="utf-8").read()
    tabs = [t for t in parse_markdown_tables(md) if t[0][:5] == ["Experiment", "Protocol", "Method", "Granularity",
                                                                 "Sign"]]
    check(len(tabs) >= 1, f"{label}: no accuracy table in tables.md")
    seen = {}
    numbers_checked = 0
    scores = read_label_scores(h5)
    for header, rows in tabs:
        check(header[-3:] == ["AUC ± 95% CI", "ΔAUC vs random", "Differs from"], f"{label}: last columns {header[-3:]}")
        ratio_cells = header[5:-3]
        for cells in rows:
            key = tuple(cells[:5])
            if not check(key in truth, f"{label}: row {key} is not a curve of the file"):
                continue
            check(key not in seen, f"{label}: curve {key} listed twice")
            seen[key] = cells
            ratios, acc = truth[key]
            check(len(cells) == len(header), f"{label}: {key}: {len(cells)} cells for {len(header)} columns")
            check(len(ratio_cells) == len(ratios) and all(float(h) == r for h, r in zip(ratio_cells, ratios)),
                  f"{label}: {key}: ratio header {ratio_cells} != file ratios {list(ratios)}")
            for j, a in enumerate(acc):
                check(cells[5 + j] == f2(a), f"{label}: {key} at ratio {ratios[j]}: table {cells[5 + j]} != data {a!r}")
                numbers_checked += 1
            a_auc = auc(ratios, acc)
            auc_cell, gap_cell = cells[-3], cells[-2]
            mm = re.fullmatch(r"(-?\d+\.\d\d) ± (\d+\.\d\d)", auc_cell)
            if check(mm, f"{label}: {key}: AUC cell {auc_cell!r} is not 'AUC ± half-width'"):
                check(mm.group(1) == f2(a_auc), f"{label}: {key} AUC: table {mm.group(1)} != {a_auc!r}")
                # Closed form: the AUC is the mean of per-sample AUCs, its 95 % half-width ~ 1.96 sd / sqrt(N).
                per = np.array([auc(ratios, row * 100.0) for row in scores[key]])
                se = per.std() / np.sqrt(per.size)
                hw = float(mm.group(2))
                check(abs(hw - 1.96 * se) <= 0.25 * 1.96 * se,
                      f"{label}: {key}: half-width {hw} vs closed form {1.96 * se:.3f}")
            rk = random_of(key)
            if rk is None:
                check(gap_cell == "-", f"{label}: {key}: gap {gap_cell!r} where no random applies")
            else:
                gap = a_auc - auc(*truth[rk])
                check(gap_cell.rstrip("*") == f2(gap), f"{label}: {key} gap to random: table {gap_cell} != {gap!r}")
            numbers_checked += 2
            # Every number cell is a number or '-', and all were compared above.
            for c in cells[5:-3]:
                check(c == "-" or re.fullmatch(r"-?\d+\.\d\d", c), f"{label}: {key}: odd cell {c!r}")
    missing = sorted(set(truth) - set(seen))
    check(not missing, f"{label}: curves missing from tables.md: {missing}")
    print(f"{label}: {len(seen)} rows, {numbers_checked} numbers equal to the HDF5 data")
    check_comparisons(label, out, truth, scores, seen, random_of)

    # LaTeX: the same numbers, row by row.
    tex = open(os.path.join(out, "tables.tex"), encoding="utf-8").read()
    tex_rows = [ln for ln in tex.splitlines() if ln.endswith(r"\\") and "&" in ln]
    def tex(c):
        if c == "-":
            return "--"
        star = c.endswith("*")
        parts = [("$-$" + p[1:]) if p.startswith("-") else p for p in c.rstrip("*").split(" ± ")]
        return r" $\pm$ ".join(parts) + ("$^{*}$" if star else "")

    for key, cells in seen.items():
        want = [tex(c) for c in cells[5:-1]] + [cells[-1] if cells[-1] != "-" else "-"]
        name = key[0].replace("_", r"\_")
        hits = [ln for ln in tex_rows if [x.strip() for x in ln[:-2].split("&")] ==
                [name, key[1].replace("_", r"\_"), key[2], key[3], key[4]] + want]
        check(len(hits) == 1, f"{label}: {key}: {len(hits)} matching rows in tables.tex")
    csv_lines = open(os.path.join(out, "curves.csv"), encoding="utf-8").read().splitlines()
    check(len(csv_lines) == 1 + sum(len(v[0]) for v in truth.values()), f"{label}: curves.csv has {len(csv_lines)} lines")

    # Figures.
    plots = os.path.join(out, "plots")
    files = sorted(os.listdir(plots)) if os.path.isdir(plots) else []
    exps = sorted({k[0] for k in truth})
    for stem in sorted({os.path.splitext(fn)[0] for fn in files}):
        for ext, magic in (("png", b"\x89PNG\r\n\x1a\n"), ("pdf", b"%PDF-")):
            p = os.path.join(plots, f"{stem}.{ext}")
            if check(os.path.isfile(p), f"{label}: {stem}.{ext} missing"):
                with open(p, "rb") as fh:
                    head = fh.read(8)
                check(os.path.getsize(p) > 1000 and head.startswith(magic),
                      f"{label}: {p} empty or not a {ext.upper()}")
    groups = ["lxmert_vqa"] if grid else exps
    want = set()
    for g in groups:
        keys = {(k[1], k[3]) for k in truth if k[0] == g or k[0].startswith(g + ".")}
        want |= {f"curves_{g}_{p}_{gr}" for p, gr in keys}
        want |= {f"heatmap_{g}_{m}" for m in ("ours", "random")}
        want.add(f"scores_{g}")
        want |= {f"stability_{g}_{gr}" for gr in ("head", "layer")}
    got = {os.path.splitext(fn)[0] for fn in files}
    check(want == got, f"{label}: figures {sorted(got)} != expected {sorted(want)}")

    # report.md embeds every PNG, links every PDF, and all it references exists.
    rep = open(os.path.join(out, "report.md"), encoding="utf-8").read()
    for stem in sorted(got):
        check(f"![" in rep and f"](plots/{stem}.png)" in rep, f"{label}: report.md does not embed {stem}.png")
        check(f"(plots/{stem}.pdf)" in rep, f"{label}: report.md does not link {stem}.pdf")
    for ref in re.findall(r"\]\(([^)]+)\)", rep):
        check(os.path.isfile(os.path.join(out, ref)), f"{label}: report.md references missing {ref}")
    for cells in seen.values():
        check("| " + " | ".join(cells) + " |" in rep, f"{label}: report.md lacks table row {cells[:5]}")

    # Deterministic: a second run writes the same bytes.
    out2 = os.path.join(tmp, f"{label}_report2")
    run_report(h5, out2)
    d1, d2 = tree_digest(out), tree_digest(out2)
    diff = sorted(k for k in set(d1) | set(d2) if d1.get(k) != d2.get(k))
    check(not diff, f"{label}: a second run differs in {diff}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        # Two experiments: random is in the same experiment.
        check_case(tmp, "two_experiments", False,
                   lambda k: None if k[2] == "random" else (k[0], k[1], "random", k[3], k[4]))
        # Merged grid: random lives in the cell lxmert_vqa.random.<gran>.positive+negative.
        check_case(tmp, "merged_grid", True,
                   lambda k: None if k[2] == "random" else
                   (f"lxmert_vqa.random.{k[3]}.positive+negative", k[1], "random", k[3], k[4]))
        # Not a results file: exit 2 with a message.
        bad = os.path.join(tmp, "bad.h5")
        with h5py.File(bad, "w") as f:
            f.attrs["format"] = "something-else"
        r = subprocess.run([sys.executable, REPORT, bad, "--out", os.path.join(tmp, "bad")],
                           capture_output=True, text=True)
        check(r.returncode == 2 and "not a headprune results file" in r.stderr,
              f"bad input: exit {r.returncode}, stderr {r.stderr!r}")
    for msg in failures:
        print("FAIL:", msg)
    if failures:
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
