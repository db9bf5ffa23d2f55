"""Uncertainty and comparisons for the report, from the per-sample data of a results file.

Per model group (hpresults.ModelGroup; all its curves are on the same samples):
  - percentile-bootstrap intervals of every accuracy point and every AUC (one resampling of the
    samples shared by all curves of the group, so every difference of two curves is paired);
  - the numbers the seed itself prints (LXMERT: running mean rounded to 2 decimals; VisualBERT:
    float32 labels summed, / N x 100) and the AUC of those;
  - paired comparisons of every two curves of one table block (same protocol, granularity,
    sign): bootstrap interval and p-value of the AUC difference, exact McNemar test of
    correct (label score > 0) / incorrect at each ratio, Holm-adjusted across the table;
  - the random baseline as a distribution when the file holds several random curves or repeats;
  - accuracy by VQA answer type when the file stores samples/answer_type;
  - the faithfulness ranking: the methods ordered by the AUC gap negative - positive, with the
    paired bootstrap interval of each gap and of its difference to random's gap;
  - ranking stability: Kendall's tau and Spearman's rho between the methods' global rankings
    (mean per-sample score per unit) and split-half stability of each method's ranking.
The definitions are in docs/statistics.md; the statistics themselves in stats.py.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

import stats
from hpresults import Curve, ModelGroup, auc_x100, method_key, read_optional, read_scores

LEVEL = 0.95


@dataclass
class CurveStats:
    curve: Curve
    label_score: np.ndarray  # [N, S] (the mean over repeats when the file holds [K, N, S])
    acc_x100: np.ndarray  # [S] mean label score x 100 (equals accuracy_x100 of the file)
    acc_lo: np.ndarray
    acc_hi: np.ndarray
    auc: float
    auc_lo: float
    auc_hi: float
    boot_auc: np.ndarray  # [B]
    seed_acc: Optional[np.ndarray]  # [S] what the seed prints, None for other model families
    seed_auc: Optional[float]
    repeat_acc: Optional[np.ndarray] = None  # [K, S] accuracy of each random repeat
    rows: str = "all"  # the samples measured: "all", or "held-out:<experiment>" (prune.global_fit: half)

    @property
    def half_width(self) -> float:
        return (self.auc_hi - self.auc_lo) / 2.0


@dataclass
class Comparison:
    a: CurveStats
    b: CurveStats
    diff: float  # AUC(a) - AUC(b)
    lo: float
    hi: float
    p: float  # normal tail with the bootstrap standard error (stats.paired_p_value)
    p_percentile: float  # from the replicates' tail counts (stats.percentile_p_value)
    p_holm: float = float("nan")
    mcnemar: List[Tuple[int, int, float]] = field(default_factory=list)  # (b, c, p) per ratio
    mcnemar_holm: Optional[np.ndarray] = None

    def significant(self, alpha: float = stats.ALPHA) -> bool:
        return bool(np.isfinite(self.p_holm) and self.p_holm < alpha)


@dataclass
class GroupStats:
    group: ModelGroup
    b: int
    per_curve: Dict[str, CurveStats]  # curve.path -> stats
    comparisons: List[Comparison]
    answer_types: Optional[np.ndarray]  # [N] str or None

    def of(self, curve: Curve) -> Optional[CurveStats]:
        return self.per_curve.get(curve.path)

    def comparison(self, c1: Curve, c2: Curve) -> Optional[Tuple[Comparison, int]]:
        """(comparison, +1 when its 'a' is c1 else -1)."""
        for cmp in self.comparisons:
            if cmp.a.curve.path == c1.path and cmp.b.curve.path == c2.path:
                return cmp, 1
            if cmp.a.curve.path == c2.path and cmp.b.curve.path == c1.path:
                return cmp, -1
        return None


def seed_printed(family: str, ls: np.ndarray) -> Optional[np.ndarray]:
    """The accuracy x100 the seed prints after the last sample, from label scores [N, S].

    LXMERT (lxmert/lxmert/perturbation.py): labels are Python floats summed in sample order,
    printed as round(sum / N * 100, 2). VisualBERT (MMF trainer): labels are float32 `.item()`
    values summed in sample order, printed as sum / N * 100 unrounded. np.cumsum adds in order,
    as the seed's loop does; Python's round() on each value is the seed's rounding.
    """
    n = ls.shape[0]
    if n == 0:
        return None
    if family == "lxmert":
        s = np.cumsum(ls, axis=0)[-1]
        return np.array([round(float(v) / n * 100, 2) for v in s])
    if family == "visualbert":
        s = np.cumsum(ls.astype(np.float32).astype(np.float64), axis=0)[-1]
        return np.array([float(v) / n * 100 for v in s])
    return None


def _read_label_scores(results_path: str, curve: Curve, rows: Optional[np.ndarray] = None
                       ) -> Tuple[Optional[np.ndarray], Optional[np.ndarray], int]:
    """(label_score [N, S], repeat accuracies [K, S] or None, N in the file), over the samples of
    `rows` (bool [N]) when given. A 3-d label_score [K, N, S] holds K random repeats: their
    per-sample mean is the curve, each repeat's mean a member of the band."""
    if not curve.path:
        return None, None, 0
    ls = read_optional(results_path, curve.path + "/label_score")
    if ls is None:
        return None, None, 0
    ls = np.asarray(ls, dtype=np.float64)
    n = ls.shape[-2] if ls.ndim >= 2 else 0
    if rows is not None and ls.ndim >= 2 and rows.shape == (n,):
        ls = ls[..., rows, :]
    return _mean_over_repeats(ls, len(curve.ratios)) + (n,)


def _mean_over_repeats(ls: np.ndarray, s: int) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    if ls.ndim == 3 and ls.shape[2] == s and ls.shape[0] >= 1:
        rep = ls.mean(axis=1) * 100.0
        return ls.mean(axis=0), (rep if ls.shape[0] > 1 else None)
    if ls.ndim == 2 and ls.shape[1] == s:
        return ls, None
    return None, None


def held_out_rows(results_path: str, curve: Curve) -> Optional[np.ndarray]:
    """The rows a global curve of a `prune.global_fit: half` run is measured on (the half its
    ranking was not fitted on: samples/global_fit == 0), or None when every row counts."""
    if curve.protocol != "global" or "/curves/" not in curve.path:
        return None
    fit = read_optional(results_path, curve.path.split("/curves/")[0] + "/samples/global_fit")
    return None if fit is None else np.asarray(fit) == 0


def table_blocks(curves: List[Curve]) -> List[List[Curve]]:
    """The curves grouped by (protocol, granularity, sign, ratio grid), in table order."""
    blocks: Dict[tuple, List[Curve]] = {}
    for c in curves:
        blocks.setdefault((c.protocol, c.granularity, c.sign, c.ratio_grid), []).append(c)
    return list(blocks.values())


def curve_label(c: Curve, block: List[Curve]) -> str:
    """The method name, or experiment:method where a block has the method twice."""
    if sum(1 for x in block if x.method == c.method) > 1:
        return f"{c.experiment}:{c.method}"
    return c.method


def group_statistics(group: ModelGroup, results_path: str, b: int, seed: int) -> GroupStats:
    family = group.experiments[0].model_family
    per: Dict[str, CurveStats] = {}
    # Curves measured on the same samples share one resampling (replicate k of every curve uses
    # the same samples, so differences are paired): all rows, or one run's held-out half.
    loaded: Dict[str, list] = {}
    n = None
    for c in group.curves:
        held = held_out_rows(results_path, c)
        ls, rep, in_file = _read_label_scores(results_path, c, held)
        if ls is None or (n is not None and in_file != n) or ls.shape[0] == 0:
            continue
        n = in_file
        rows = "all" if held is None else "held-out:" + c.path.split("/curves/")[0]
        loaded.setdefault(rows, []).append((c, ls, rep))
    for rows, curves in loaded.items():
        x = np.concatenate([ls for _, ls, _ in curves], axis=1)
        key = group.experiments[0].samples_digest + ("" if rows == "all" else "/" + rows)
        rng = stats.group_rng(seed, key, "bootstrap")
        boot = stats.bootstrap_means(x, b, rng) * 100.0  # [B, P]
        lo, hi = stats.percentile_ci(boot, LEVEL)
        mean = x.mean(axis=0) * 100.0
        j = 0
        for c, ls, rep in curves:
            s = ls.shape[1]
            w = stats.auc_weights(c.ratios)
            bauc = boot[:, j:j + s] @ w
            alo, ahi = stats.percentile_ci(bauc, LEVEL)
            sa = seed_printed(family, ls)
            per[c.path] = CurveStats(
                curve=c, label_score=ls, acc_x100=mean[j:j + s], acc_lo=lo[j:j + s], acc_hi=hi[j:j + s],
                auc=auc_x100(c.ratios, mean[j:j + s]), auc_lo=float(alo), auc_hi=float(ahi), boot_auc=bauc,
                seed_acc=sa, seed_auc=None if sa is None else auc_x100(c.ratios, sa), repeat_acc=rep, rows=rows)
            j += s
    comps = _comparisons(group, per)
    at = read_optional(results_path, group.experiments[0].path + "/samples/answer_type")
    if at is not None and (n is None or at.shape != (n,)):
        at = None
    return GroupStats(group=group, b=b, per_curve=per, comparisons=comps, answer_types=at)


def _comparisons(group: ModelGroup, per: Dict[str, CurveStats]) -> List[Comparison]:
    """All pairs inside each block; Holm across each ratio grid's table (one family for the AUC
    tests, one for the McNemar tests of every pair at every ratio)."""
    out: List[Comparison] = []
    by_grid: Dict[tuple, List[Comparison]] = {}
    for block in table_blocks(group.curves):
        cs = [per[c.path] for c in block if c.path in per]
        for i in range(len(cs)):
            for k in range(i + 1, len(cs)):
                a, b = cs[i], cs[k]
                if a.rows != b.rows:  # measured on different samples: not a paired comparison
                    continue
                d = a.boot_auc - b.boot_auc
                lo, hi = stats.percentile_ci(d, LEVEL)
                diff = a.auc - b.auc
                cmp = Comparison(a=a, b=b, diff=diff, lo=float(lo), hi=float(hi), p=stats.paired_p_value(diff, d),
                                 p_percentile=float(stats.percentile_p_value(d)))
                ca, cb = a.label_score > 0, b.label_score > 0
                cmp.mcnemar = [stats.mcnemar_exact(ca[:, s], cb[:, s]) for s in range(ca.shape[1])]
                out.append(cmp)
                by_grid.setdefault(a.curve.ratio_grid, []).append(cmp)
    for comps in by_grid.values():
        for cmp, ph in zip(comps, stats.holm([c.p for c in comps])):
            cmp.p_holm = float(ph)
        flat = stats.holm([m[2] for c in comps for m in c.mcnemar])
        k = 0
        for cmp in comps:
            cmp.mcnemar_holm = flat[k:k + len(cmp.mcnemar)]
            k += len(cmp.mcnemar)
    return out


def attach_to_tables(tabs, gstats: Dict[str, GroupStats]) -> None:
    """Gives each tables.Row its interval, the significance of its gap to random and the curves of
    its block it differs from (Holm-adjusted paired bootstrap of the AUC, p < 0.05)."""
    for t in tabs:
        gs = gstats.get(t.group.label)
        if gs is None:
            continue
        blocks = table_blocks([r.curve for r in t.rows])
        for r in t.rows:
            cs = gs.of(r.curve)
            if cs is None:
                continue
            r.stats = cs
            if r.baseline is not None:
                hit = gs.comparison(r.curve, r.baseline)
                r.gap_significant = None if hit is None else hit[0].significant()
            block = next(bl for bl in blocks if any(x is r.curve for x in bl))
            differs = []
            for other in block:
                if other is r.curve:
                    continue
                hit = gs.comparison(r.curve, other)
                if hit is not None and hit[0].significant():
                    differs.append(curve_label(other, block))
            r.differs_from = differs


# ----------------------------------------------------------------------------------------------
# Markdown sections (each returns a list of lines)

def _f(x) -> str:
    if x is None or not np.isfinite(x):
        return "nan"
    s = f"{x:.2f}"
    return "0.00" if s == "-0.00" else s


def tables_ratio(r: float) -> str:
    return np.format_float_positional(float(r), trim="-")


def _p(p: float) -> str:
    if not np.isfinite(p):
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def convention_section(gstats: List[GroupStats]) -> List[str]:
    md = ["### AUC convention and the seed's printed numbers", "",
          "**AUC** (every table, plot and CSV of this report) = the trapezoid area under accuracy ×100 over the "
          "prune-ratio grid *including its first point* (ratio 0, the unpruned model, when the grid has it), divided "
          "by the grid's span (max − min ratio): the mean accuracy ×100 over the pruned range, on the 0–100 scale of "
          "the accuracies. Accuracy = mean VQA soft score of the prediction over the N samples ×100, at full "
          "precision. The seed prints no AUC; it prints accuracies: LXMERT a running mean rounded to 2 decimals "
          "(`round(sum / (i+1) * 100, 2)`, the last one is the result), VisualBERT `sum / N * 100` unrounded with "
          "float32 labels. *AUC (seed)* below is the same trapezoid over those printed numbers. Both are in "
          "`curves.csv` (`accuracy_x100`, `seed_printed_x100`, `auc_x100`, `seed_auc_x100`).", ""]
    for gs in gstats:
        rows = [cs for cs in gs.per_curve.values() if cs.seed_acc is not None]
        if not rows:
            continue
        rows.sort(key=lambda cs: cs.curve.sort_key())
        title = f"**{gs.group.model_label} {gs.group.label}** ({rows[0].label_score.shape[0]} samples): "
        worst = max(float(np.abs(cs.seed_acc - cs.acc_x100).max()) for cs in rows)
        differ = [cs for cs in rows if _f(cs.seed_auc) != _f(cs.auc)
                  or any(_f(x) != _f(y) for x, y in zip(cs.seed_acc, cs.acc_x100))]
        if not differ:
            md += [title + f"the seed's printed accuracies and their AUC equal these to 2 decimals on all {len(rows)} "
                   f"curves (largest difference of a point {worst:.2e}).", ""]
            continue
        md += [title + f"{len(differ)} of {len(rows)} curves print differently at 2 decimals:", "",
               "| Experiment | Protocol | Method | Granularity | Sign | AUC | AUC (seed) | ratios printed differently |",
               "|---|---|---|---|---|---:|---:|---|"]
        for cs in differ:
            c = cs.curve
            pts = [f"{tables_ratio(r)}: {_f(y)} vs {_f(x)}" for r, x, y in zip(c.ratios, cs.seed_acc, cs.acc_x100)
                   if _f(x) != _f(y)]
            md.append(f"| {c.experiment} | {c.protocol} | {c.method} | {c.granularity} | {c.sign} | "
                      f"{cs.auc:.4f} | {cs.seed_auc:.4f} | {'; '.join(pts) or '-'} |")
        md.append("")
    return md


def comparisons_section(gstats: List[GroupStats]) -> List[str]:
    md = ["### Paired comparisons", "",
          "Every two curves of one block (same model group, protocol, granularity, sign and ratio grid; the same "
          "samples): ΔAUC = AUC(A) − AUC(B) with its 95 % paired percentile-bootstrap interval and two-sided p-value "
          "(normal tail with the bootstrap standard error), "
          "and the exact McNemar test of correct (label score > 0) / incorrect at each ratio. p (Holm) is adjusted "
          "across all AUC comparisons of the table; the McNemar column lists the ratios whose Holm-adjusted p "
          "(family: every pair × ratio of the table) is below 0.05. docs/statistics.md defines each test.", ""]
    any_rows = False
    for gs in gstats:
        if not gs.comparisons:
            continue
        any_rows = True
        md += [f"**{gs.group.model_label} {gs.group.label}** (B = {gs.b} bootstrap resamples)", "",
               "| Protocol | Granularity | Sign | A | B | ΔAUC | 95 % CI | p | p (Holm) | McNemar: ratios with p (Holm) "
               "< 0.05 |", "|---|---|---|---|---|---:|---|---:|---:|---|"]
        blocks = table_blocks(gs.group.curves)
        for cmp in gs.comparisons:
            a, b = cmp.a.curve, cmp.b.curve
            block = next(bl for bl in blocks if any(x is a for x in bl))
            sig = "**" if cmp.significant() else ""
            mc = stats.format_ratio_set(a.ratios, [p < stats.ALPHA for p in cmp.mcnemar_holm])
            md.append(f"| {a.protocol} | {a.granularity} | {a.sign} | {curve_label(a, block)} | "
                      f"{curve_label(b, block)} | {sig}{_f(cmp.diff)}{sig} | [{_f(cmp.lo)}, {_f(cmp.hi)}] | "
                      f"{_p(cmp.p)} | {_p(cmp.p_holm)} | {mc} |")
        md.append("")
    return md if any_rows else []


def _claim_cell(gs: GroupStats, x: Optional[Curve], y: Optional[Curve], want_lower: bool) -> str:
    """'yes' when AUC(x) < AUC(y) (want_lower) or > (otherwise) at Holm p < 0.05, 'opposite' when
    significant the other way, 'n.s.' when not significant, '-' when either curve is missing."""
    if x is None or y is None:
        return "-"
    hit = gs.comparison(x, y)
    if hit is None:
        return "-"
    cmp, sign = hit
    d = sign * cmp.diff
    txt = f"{'+' if d > 0 else ''}{_f(d)}, p {_p(cmp.p_holm)}"
    if not cmp.significant():
        return f"n.s. ({txt})"
    return f"**yes** ({txt})" if (d < 0) == want_lower else f"opposite ({txt})"


def claims_section(gstats: List[GroupStats]) -> List[str]:
    """The paper's claims, per method, protocol and granularity, decided by the Holm-adjusted paired
    AUC tests: pruning the most important heads first (positive) hurts more than random, the least
    important first (negative) less than random, and 'ours' does both better than each other method."""
    md = []
    for gs in gstats:
        rows = []
        curves = gs.group.curves

        def find(p, m, g, s, grid):
            for c in curves:
                if (c.protocol, c.method, c.granularity, c.sign, c.ratio_grid) == (p, m, g, s, grid) \
                        and gs.of(c) is not None:
                    return c
            return None

        keys = []
        for c in curves:
            k = (c.protocol, c.granularity, c.method, c.ratio_grid)
            if c.method != "random" and k not in keys and gs.of(c) is not None:
                keys.append(k)
        for p, g, m, grid in keys:
            cells = [_claim_cell(gs, find(p, m, g, "positive", grid), find(p, "random", g, "positive", grid), True),
                     _claim_cell(gs, find(p, m, g, "negative", grid), find(p, "random", g, "negative", grid), False)]
            if m == "ours":
                cells += ["", ""]
            else:
                cells += [_claim_cell(gs, find(p, "ours", g, "positive", grid), find(p, m, g, "positive", grid), True),
                          _claim_cell(gs, find(p, "ours", g, "negative", grid), find(p, m, g, "negative", grid),
                                      False)]
            rows.append(f"| {p} | {g} | {m} | " + " | ".join(cells) + " |")
        if not rows:
            continue
        if not md:
            md = ["### The paper's claims at 95 % confidence", "",
                  "Decided by the paired AUC tests of the table (Holm-adjusted p < 0.05): **yes** = the claimed "
                  "direction is significant, *opposite* = the other direction is, n.s. = neither. Cells give "
                  "ΔAUC (first curve minus second) and the Holm p.", ""]
        md += [f"**{gs.group.model_label} {gs.group.label}**", "",
               "| Protocol | Granularity | Method | positive < random | negative > random | ours positive < this "
               "positive | ours negative > this negative |", "|---|---|---|---|---|---|---|"] + rows + [""]
    return md


def random_band_section(gstats: List[GroupStats]) -> List[str]:
    """Random baseline as a distribution; empty when no block has more than one random curve."""
    md = []
    for gs in gstats:
        for block in table_blocks(gs.group.curves):
            accs = random_band(gs, block)
            if accs is None:
                continue
            c = next(x for x in block if x.method == "random")
            aucs = np.array([auc_x100(c.ratios, a) for a in accs])
            if not md:
                md = ["### Random baseline over repeats", "",
                      "Each random repeat (a random curve of another experiment of the group, or a repeat stored "
                      "in `label_score [K, N, S]`) is one draw of the random ranking; the spread of their AUCs is "
                      "the run-to-run variation of the baseline (the plots draw their min–max band).", "",
                      "| Group | Protocol | Granularity | Sign | repeats | mean AUC | sd | min | max |",
                      "|---|---|---|---|---:|---:|---:|---:|---:|"]
            md.append(f"| {gs.group.label} | {c.protocol} | {c.granularity} | {c.sign} | {len(aucs)} | "
                      f"{_f(aucs.mean())} | {_f(aucs.std(ddof=1))} | {_f(aucs.min())} | {_f(aucs.max())} |")
    return md + [""] if md else []


def random_band(gs: GroupStats, block: List[Curve]) -> Optional[np.ndarray]:
    """[K, S] accuracies of the random repeats of a block (K > 1), or None."""
    accs = []
    for c in block:
        if c.method != "random":
            continue
        cs = gs.of(c)
        if cs is not None and cs.repeat_acc is not None:
            accs.extend(list(cs.repeat_acc))
        else:
            accs.append(c.accuracy_x100)
    return np.array(accs) if len(accs) > 1 else None


def answer_type_section(gstats: List[GroupStats]) -> List[str]:
    """AUC per VQA answer type; empty when no group stores samples/answer_type."""
    md = []
    for gs in gstats:
        at = gs.answer_types
        if at is None or not gs.per_curve:
            continue
        order = {"yes/no": 0, "number": 1, "other": 2}
        types = sorted({str(t) for t in at}, key=lambda t: (order.get(t, 3), t))
        masks = {t: np.array([str(x) == t for x in at]) for t in types}
        if not md:
            md = ["### Accuracy by answer type", "",
                  "AUC (accuracy ×100 at ratio 0 in parentheses) over the samples of each VQA answer type "
                  "(`samples/answer_type`); n = number of samples of the type.", ""]
        head = " | ".join(f"{t or '(none)'} (n = {int(masks[t].sum())})" for t in types)
        md += [f"**{gs.group.model_label} {gs.group.label}**", "",
               "| Experiment | Protocol | Method | Granularity | Sign | " + head + " |",
               "|---|---|---|---|---|" + "---:|" * len(types)]
        for cs in sorted(gs.per_curve.values(), key=lambda x: x.curve.sort_key()):
            c = cs.curve
            if cs.rows != "all":  # a held-out global curve: its rows are a half of the samples
                continue
            cells = []
            for t in types:
                acc = cs.label_score[masks[t]].mean(axis=0) * 100.0
                first = int(np.argmin(c.ratios))
                cells.append(f"{_f(auc_x100(c.ratios, acc))} ({_f(acc[first])})")
            md.append(f"| {c.experiment} | {c.protocol} | {c.method} | {c.granularity} | {c.sign} | "
                      + " | ".join(cells) + " |")
        md.append("")
    return md


# ----------------------------------------------------------------------------------------------
# Faithfulness ranking of the methods

@dataclass
class Faithfulness:
    """One method's AUC gap negative − positive in one block (group, protocol, granularity, grid)."""
    label: str  # method, or experiment:method where the block has the method twice
    positive: Curve
    negative: Curve
    auc_pos: float
    auc_neg: float
    gap: float  # AUC(negative) - AUC(positive)
    lo: float = float("nan")  # 95 % paired bootstrap interval of the gap (nan without statistics)
    hi: float = float("nan")
    boot: Optional[np.ndarray] = None  # [B] replicates of the gap
    vs_random: Optional[Tuple[float, float, float]] = None  # gap - random's gap, its interval


def faithfulness(groups: List[ModelGroup], gstats: Dict[str, GroupStats]
                 ) -> List[Tuple[ModelGroup, Tuple[str, str, tuple], List[Faithfulness]]]:
    """Per model group and (protocol, granularity, ratio grid): every method with a positive and a
    negative curve, ordered by the gap AUC(negative) − AUC(positive), largest first (ties in
    method order). With statistics (gstats has the group) each gap gets the percentile interval
    of the same bootstrap replicates as the AUCs (paired: positive and negative are measured on
    the same resamples of the samples), and the difference to random's gap its own interval;
    random's curve is already the per-sample mean of its draws. Without statistics, the point
    estimates of the file's accuracies."""
    out = []
    for g in groups:
        gs = gstats.get(g.label)
        blocks: Dict[tuple, Dict[str, List[Curve]]] = {}
        for c in g.curves:
            if c.sign in ("positive", "negative"):
                blocks.setdefault((c.protocol, c.granularity, c.ratio_grid), {}).setdefault(c.sign, []).append(c)
        for key, by_sign in blocks.items():
            rows = []
            for pos in by_sign.get("positive", []):
                negs = [c for c in by_sign.get("negative", []) if c.method == pos.method]
                same = [c for c in negs if c.experiment == pos.experiment]
                if not same and len(negs) != 1:  # the negative curve of this method is ambiguous
                    continue
                neg = (same or negs)[0]
                rows.append(_faithfulness_row(pos, neg, gs))
            for r in rows:
                if sum(1 for x in rows if x.positive.method == r.positive.method) > 1:
                    r.label = f"{r.positive.experiment}:{r.positive.method}"
            if not rows:
                continue
            rows.sort(key=lambda r: (-r.gap, method_key(r.positive.method), r.label))
            rand = [r for r in rows if r.positive.method == "random"]
            if len(rand) == 1 and rand[0].boot is not None:
                for r in rows:
                    if r is not rand[0] and r.boot is not None and r.boot.shape == rand[0].boot.shape:
                        d = r.boot - rand[0].boot
                        lo, hi = stats.percentile_ci(d, LEVEL)
                        r.vs_random = (r.gap - rand[0].gap, float(lo), float(hi))
            out.append((g, key, rows))
    return out


def _faithfulness_row(pos: Curve, neg: Curve, gs: Optional[GroupStats]) -> Faithfulness:
    a, b = (None, None) if gs is None else (gs.of(pos), gs.of(neg))
    if a is None or b is None or a.rows != b.rows:  # no statistics, or not paired: the point estimate
        return Faithfulness(pos.method, pos, neg, pos.auc, neg.auc, neg.auc - pos.auc)
    boot = b.boot_auc - a.boot_auc
    lo, hi = stats.percentile_ci(boot, LEVEL)
    return Faithfulness(pos.method, pos, neg, a.auc, b.auc, b.auc - a.auc, float(lo), float(hi), boot)


def faithfulness_section(ranked) -> List[str]:
    if not ranked:
        return []
    md = ["### Faithfulness ranking of the methods", "",
          "Per model group, protocol and granularity, the methods ordered by the AUC gap = AUC(negative) − "
          "AUC(positive): pruning the heads a method ranks least important first should hurt less than pruning "
          "those it ranks most important first, so a bigger gap = a ranking that separates important from "
          "unimportant heads better (a ranking unrelated to importance has a gap near random's, ~0). "
          "95 % CI: paired percentile bootstrap over the samples (the resamples of the tables' AUCs); "
          "*vs random* = the gap minus random's gap (random: the per-sample mean of its draws), with its "
          "paired interval, bold where the interval excludes 0. docs/statistics.md.", ""]
    last = None
    for g, (protocol, gran, grid), rows in ranked:
        if g is not last:
            md += [f"**{g.model_label} {g.label}**", ""]
            last = g
        md += [f"*{protocol}, {gran}* (ratios {', '.join(tables_ratio(r) for r in grid)})", "",
               "| Rank | Method | AUC negative | AUC positive | gap | 95 % CI | vs random | 95 % CI |",
               "|---:|---|---:|---:|---:|---|---:|---|"]
        for i, r in enumerate(rows, 1):
            ci = "-" if not np.isfinite(r.lo) else f"[{_f(r.lo)}, {_f(r.hi)}]"
            vr, vci = "-", "-"
            if r.vs_random is not None:
                d, lo, hi = r.vs_random
                bold = "**" if lo > 0 or hi < 0 else ""
                vr, vci = f"{bold}{'+' if d > 0 else ''}{_f(d)}{bold}", f"[{_f(lo)}, {_f(hi)}]"
            md.append(f"| {i} | {r.label} | {_f(r.auc_neg)} | {_f(r.auc_pos)} | {_f(r.gap)} | {ci} | {vr} | {vci} |")
        md.append("")
    return md


def faithfulness_csv(ranked) -> str:
    lines = ["group,protocol,granularity,rank,method,experiment_positive,experiment_negative,auc_negative,"
             "auc_positive,gap,ci_low,ci_high,gap_minus_random,vs_random_ci_low,vs_random_ci_high"]
    for g, (protocol, gran, _), rows in ranked:
        for i, r in enumerate(rows, 1):
            vr = ["", "", ""] if r.vs_random is None else [repr(float(x)) for x in r.vs_random]
            ci = ["", ""] if not np.isfinite(r.lo) else [repr(float(r.lo)), repr(float(r.hi))]
            lines.append(",".join([g.label, protocol, gran, str(i), r.positive.method, r.positive.experiment,
                                   r.negative.experiment, repr(float(r.auc_neg)), repr(float(r.auc_pos)),
                                   repr(float(r.gap))] + ci + vr))
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# Ranking stability

@dataclass
class Stability:
    group: ModelGroup
    granularity: str
    methods: List[str]
    tau: np.ndarray  # [K, K] between methods' global rankings
    rho: np.ndarray
    half_rho: Dict[str, np.ndarray]  # method -> [repeats]
    half_tau: Dict[str, np.ndarray]
    units: int
    samples: int


def ranking_stability(group: ModelGroup, results_path: str, repeats: int, seed: int) -> List[Stability]:
    out = []
    for gran in ("head", "layer"):
        picks = {}
        for e in group.experiments:
            for (m, g), ds in sorted(e.score_datasets.items()):
                if g == gran and m not in picks:
                    picks[m] = ds
        methods = sorted(picks, key=method_key)
        if not methods:
            continue
        glob, hr, ht = {}, {}, {}
        n = None
        for m in methods:
            s = read_scores(results_path, picks[m])
            s = s.reshape(s.shape[0], -1)
            if n is not None and s.shape[0] != n:
                continue
            n = s.shape[0]
            glob[m] = s.mean(axis=0)
            rng = stats.group_rng(seed, group.experiments[0].samples_digest, f"split-half {gran} {m}")
            hr[m], ht[m] = stats.split_half(s, repeats, rng)
        methods = [m for m in methods if m in glob]
        k = len(methods)
        tau, rho = np.eye(k), np.eye(k)
        for i in range(k):
            for j in range(i + 1, k):
                tau[i, j] = tau[j, i] = stats.kendall_tau_b(glob[methods[i]], glob[methods[j]])
                rho[i, j] = rho[j, i] = stats.spearman_rho(glob[methods[i]], glob[methods[j]])
        out.append(Stability(group, gran, methods, tau, rho, hr, ht, int(glob[methods[0]].size), int(n or 0)))
    return out


def stability_section(stabs: List[Stability], repeats: int) -> List[str]:
    if not stabs:
        return []
    md = ["### Ranking stability", "",
          "Global ranking of a method = its units (heads or layers) ordered by the mean per-sample score "
          "(`scores/<method>/<granularity>`). *Between methods*: Kendall's τ-b and Spearman's ρ of two methods' mean "
          f"scores over the units. *Split-half*: {repeats} times, the samples are split at random into two halves and "
          "the rankings of the halves are correlated (mean, and the 2.5–97.5 % range over the splits); a ranking "
          "that is mostly noise has a split-half ρ near 0.", ""]
    for st in stabs:
        md += [f"**{st.group.model_label} {st.group.label}, {st.granularity} scores** ({st.units} units, "
               f"{st.samples} samples)", "",
               "| τ-b \\ ρ | " + " | ".join(st.methods) + " |", "|---|" + "---:|" * len(st.methods)]
        for i, m in enumerate(st.methods):
            cells = []
            for j in range(len(st.methods)):
                if i == j:
                    cells.append("—")
                else:
                    cells.append(f"τ {_f(st.tau[i, j])} · ρ {_f(st.rho[i, j])}")
            md.append(f"| {m} | " + " | ".join(cells) + " |")
        md += ["", "| Method | split-half ρ | range | split-half τ-b | range |", "|---|---:|---|---:|---|"]
        for m in st.methods:
            r, t = st.half_rho[m], st.half_tau[m]
            if r.size == 0:
                md.append(f"| {m} | - | - | - | - |")
                continue
            rl, rh = np.percentile(r, [2.5, 97.5])
            tl, th = np.percentile(t, [2.5, 97.5])
            md.append(f"| {m} | {_f(np.nanmean(r))} | [{_f(rl)}, {_f(rh)}] | {_f(np.nanmean(t))} | "
                      f"[{_f(tl)}, {_f(th)}] |")
        md.append("")
    return md


# ----------------------------------------------------------------------------------------------
# CSV

def comparisons_csv(gstats: List[GroupStats]) -> str:
    lines = ["group,protocol,granularity,sign,experiment_a,method_a,experiment_b,method_b,test,ratio,"
             "estimate,ci_low,ci_high,b,c,p,p_holm,p_percentile"]
    for gs in gstats:
        for cmp in gs.comparisons:
            a, b = cmp.a.curve, cmp.b.curve
            head = [gs.group.label, a.protocol, a.granularity, a.sign, a.experiment, a.method, b.experiment, b.method]
            lines.append(",".join(head + ["auc_bootstrap", "", repr(float(cmp.diff)), repr(float(cmp.lo)),
                                          repr(float(cmp.hi)), "", "", repr(float(cmp.p)), repr(float(cmp.p_holm)),
                                          repr(float(cmp.p_percentile))]))
            for r, (nb, nc, p), ph in zip(a.ratios, cmp.mcnemar, cmp.mcnemar_holm):
                lines.append(",".join(head + ["mcnemar_exact", repr(float(r)), "", "", "", str(nb), str(nc),
                                              repr(float(p)), repr(float(ph)), ""]))
    return "\n".join(lines) + "\n"


def stability_csv(stabs: List[Stability]) -> str:
    lines = ["group,granularity,method_a,method_b,kendall_tau_b,spearman_rho,split_half_repeats"]
    for st in stabs:
        for i, a in enumerate(st.methods):
            for j, b in enumerate(st.methods):
                if i == j:
                    r, t = st.half_rho[a], st.half_tau[a]
                    lines.append(",".join([st.group.label, st.granularity, a, b,
                                           repr(float(np.nanmean(t))) if t.size else "",
                                           repr(float(np.nanmean(r))) if r.size else "", str(r.size)]))
                else:
                    lines.append(",".join([st.group.label, st.granularity, a, b, repr(float(st.tau[i, j])),
                                           repr(float(st.rho[i, j])), ""]))
    return "\n".join(lines) + "\n"
