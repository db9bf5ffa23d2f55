"""Paper tables (Markdown, LaTeX, CSV) from the curves of a results file.

One table per model group and ratio grid. A row is one curve: experiment, protocol, method,
granularity, sign, accuracy x100 at each ratio (2 decimals), AUC (see hpresults.auc_x100) and
ΔAUC = AUC - AUC(random) for the same group, protocol, granularity, sign and ratio grid ('-' for
'random' itself and where no random curve exists).

With statistics (uncertainty.attach_to_tables; rows that have per-sample label scores) the AUC
cell is 'AUC ± half-width of its 95 % bootstrap interval', the ΔAUC cell carries '*' when the
paired test against random is significant after Holm, and a last column lists the curves of the
same block whose AUC differs significantly.
"""

from typing import List, Optional, Tuple

import numpy as np

from hpresults import Curve, ModelGroup, random_baseline

NONE = "-"
DIFFERS = "Differs from"
STATS_NOTE = ("± = half-width of the 95 % percentile-bootstrap interval of the AUC (resampling the samples); "
              "* = the AUC differs from random's, and 'Differs from' lists the curves of the same protocol, "
              "granularity and sign whose AUC differs from this one: paired bootstrap, two-sided, Holm-adjusted "
              "p < 0.05 across the table (docs/statistics.md).")
AUC_NOTE = ("AUC = trapezoid area under accuracy ×100 over the prune-ratio grid, divided by the grid's span "
            "(max - min ratio): the mean accuracy ×100 over the pruned range, on the same 0-100 scale. "
            "ΔAUC vs random = AUC - AUC of the 'random' method for the same model group, protocol, "
            "granularity and sign.")


def fmt_num(x: float) -> str:
    """Two decimals; never '-0.00'; 'nan' for NaN."""
    if x is None or not np.isfinite(x):
        return "nan"
    s = f"{x:.2f}"
    return "0.00" if s == "-0.00" else s


def fmt_ratio(r: float) -> str:
    """Shortest decimal that reads back as the same float64 (0 -> '0', 0.1 -> '0.1')."""
    return np.format_float_positional(float(r), trim="-")


class Row:
    def __init__(self, curve: Curve, baseline: Optional[Curve]):
        self.curve = curve
        self.baseline = baseline
        self.auc = curve.auc
        self.gap = None if baseline is None else self.auc - baseline.auc
        # Set by uncertainty.attach_to_tables (None: no per-sample data, no statistics).
        self.stats = None  # uncertainty.CurveStats
        self.gap_significant = None  # bool: paired bootstrap vs the baseline, Holm p < 0.05
        self.differs_from = None  # [labels] of curves of the same block with Holm p < 0.05


class Table:
    def __init__(self, group: ModelGroup, ratios: Tuple[float, ...], rows: List[Row]):
        self.group = group
        self.ratios = ratios
        self.rows = rows

    @property
    def title(self) -> str:
        t = f"{self.group.model_label} - {self.group.label}"
        return t

    @property
    def has_stats(self) -> bool:
        return any(r.stats is not None for r in self.rows)

    def header(self) -> List[str]:
        h = (["Experiment", "Protocol", "Method", "Granularity", "Sign"] + [fmt_ratio(r) for r in self.ratios]
             + ["AUC", "ΔAUC vs random"])
        if self.has_stats:
            h[-2] = "AUC ± 95% CI"
            h.append(DIFFERS)
        return h

    def cells(self, row: Row) -> List[str]:
        c = row.curve
        auc = fmt_num(row.auc)
        gap = NONE if row.gap is None else fmt_num(row.gap)
        out = [c.experiment, c.protocol, c.method, c.granularity, c.sign] + [fmt_num(a) for a in c.accuracy_x100]
        if not self.has_stats:
            return out + [auc, gap]
        if row.stats is not None:
            auc += " ± " + fmt_num(row.stats.half_width)
        if row.gap_significant:
            gap += "*"
        return out + [auc, gap, ", ".join(row.differs_from) if row.differs_from else NONE]


def build_tables(groups: List[ModelGroup]) -> List[Table]:
    tables = []
    for g in groups:
        curves = g.curves
        grids = []
        for c in curves:
            if c.ratio_grid not in grids:
                grids.append(c.ratio_grid)
        for grid in grids:
            rows = [Row(c, random_baseline(g, c)) for c in curves if c.ratio_grid == grid]
            tables.append(Table(g, grid, rows))
    return tables


def markdown(tables: List[Table]) -> str:
    out = []
    for i, t in enumerate(tables):
        n = t.group.experiments[0].num_samples
        out.append(f"### Table {i + 1}: {t.title}")
        out.append("")
        note = f"VQA accuracy ×100 at each prune ratio ({n} samples); " + AUC_NOTE
        if t.has_stats:
            note += " " + STATS_NOTE
        out.append(note)
        out.append("")
        h = t.header()
        out.append("| " + " | ".join(h) + " |")
        aligns = ["---"] * 5 + ["---:"] * (len(h) - 5)
        if t.has_stats:
            aligns[-1] = "---"
        out.append("|" + "|".join(aligns) + "|")
        for r in t.rows:
            out.append("| " + " | ".join(t.cells(r)) + " |")
        out.append("")
    return "\n".join(out)


_TEX_ESCAPES = {"\\": r"\textbackslash{}", "_": r"\_", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex_escape(s: str) -> str:
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in s)


def tex_num(cell: str) -> str:
    """A number cell of the Markdown table in LaTeX: a real minus sign, '--' for none, '$\\pm$' and a
    superscript star for the statistics marks."""
    if cell == NONE:
        return "--"
    star = cell.endswith("*")
    cell = cell.rstrip("*")
    parts = cell.split(" ± ")
    parts = ["$-$" + p[1:] if p.startswith("-") else p for p in parts]
    return " $\\pm$ ".join(parts) + ("$^{*}$" if star else "")


def latex(tables: List[Table]) -> str:
    out = ["% headprune paper tables. Needs \\usepackage{booktabs} and \\usepackage{graphicx}.",
           "% " + AUC_NOTE, ""]
    for i, t in enumerate(tables):
        h = t.header()
        nr = len(t.ratios)
        label = "tab:" + "".join(ch if ch.isalnum() else "-" for ch in t.group.label) + f"-{i + 1}"
        n = t.group.experiments[0].num_samples
        out.append(r"\begin{table}[t]")
        out.append(r"\centering")
        out.append(r"\caption{" + tex_escape(t.title) + f": VQA accuracy (\\%) at each prune ratio ({n} samples), "
                   r"area under the curve (mean accuracy over the ratio span) and its gap to random.}")
        out.append(r"\label{" + label + "}")
        out.append(r"\resizebox{\linewidth}{!}{%")
        extra = ["Differs from"] if t.has_stats else []
        out.append(r"\begin{tabular}{lllll" + "r" * nr + "rr" + "l" * len(extra) + "}")
        out.append(r"\toprule")
        out.append(" & ".join(["Experiment", "Protocol", "Method", "Gran.", "Sign"]
                              + [f"${x}$" for x in h[5:5 + nr]] + ["AUC", r"$\Delta$AUC"] + extra) + r" \\")
        out.append(r"\midrule")
        prev = None
        for r in t.rows:
            c = r.curve
            block = (c.protocol, c.granularity, c.sign)
            if prev is not None and block != prev:
                out.append(r"\addlinespace")
            prev = block
            cells = t.cells(r)
            nums = cells[5:5 + nr + 2]
            cells = ([tex_escape(x) for x in cells[:5]] + [tex_num(x) for x in nums]
                     + [tex_escape(x) for x in cells[5 + nr + 2:]])
            out.append(" & ".join(cells) + r" \\")
        out.append(r"\bottomrule")
        out.append(r"\end{tabular}}")
        out.append(r"\end{table}")
        out.append("")
    return "\n".join(out)


def csv(tables: List[Table]) -> str:
    """Long format, full precision (repr), for further analysis. The interval and seed columns are
    empty where the report has no statistics for the curve."""
    lines = ["group,experiment,protocol,method,granularity,sign,ratio,accuracy_x100,auc_x100,dauc_vs_random,"
             "accuracy_ci_low,accuracy_ci_high,auc_ci_low,auc_ci_high,seed_printed_x100,seed_auc_x100"]

    def num(v):
        return "" if v is None else repr(float(v))

    for t in tables:
        for r in t.rows:
            c = r.curve
            st = r.stats
            for j, (ratio, acc) in enumerate(zip(c.ratios, c.accuracy_x100)):
                gap = "" if r.gap is None else repr(float(r.gap))
                extra = ["", "", "", "", "", ""]
                if st is not None:
                    seed = st.seed_acc is not None
                    extra = [num(st.acc_lo[j]), num(st.acc_hi[j]), num(st.auc_lo), num(st.auc_hi),
                             num(st.seed_acc[j]) if seed else "", num(st.seed_auc) if seed else ""]
                lines.append(",".join([t.group.label, c.experiment, c.protocol, c.method, c.granularity, c.sign,
                                       repr(float(ratio)), repr(float(acc)), repr(float(r.auc)), gap] + extra))
    return "\n".join(lines) + "\n"
