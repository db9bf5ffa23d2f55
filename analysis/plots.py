"""Figures of the report (matplotlib, Agg backend), each written as PNG and PDF.

  curves_<group>_<protocol>_<granularity>   accuracy x100 vs prune ratio, methods overlaid
                                            (positive: solid, circles; negative: dashed, squares)
  heatmap_<group>_<method>                  mean head score per module (rows) and head (columns),
                                            text-side and image-side modules in separate panels
  scores_<group>                            histograms of the per-sample head scores, one panel per
                                            method, text- and image-side modules overlaid

Output is deterministic: no dates in the files (PDF CreationDate removed), fixed colours per method.
"""

import os
from typing import Dict, List, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from hpresults import (METHOD_ORDER, Experiment, ModelGroup, granularity_key, method_key,  # noqa: E402
                       protocol_key, read_scores)

COLORS = {"ours": "#d62728", "lrp": "#1f77b4", "michel": "#2ca02c", "confidence": "#9467bd", "random": "#7f7f7f",
          "gradient": "#ff7f0e", "attention": "#8c564b", "rollout": "#e377c2", "attattr": "#17becf",
          "attnlrp": "#bcbd22"}
EXTRA_COLORS = ["#ff7f0e", "#8c564b", "#e377c2", "#bcbd22", "#17becf"]
SIGN_STYLE = {"positive": ("-", "o"), "negative": ("--", "s")}
MODALITY_COLORS = {"text": "#1f77b4", "image": "#ff7f0e"}

plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "figure.dpi": 100,
                     "svg.hashsalt": "headprune", "pdf.compression": 6})


def method_color(method: str) -> str:
    if method in COLORS:
        return COLORS[method]
    return EXTRA_COLORS[sum(map(ord, method)) % len(EXTRA_COLORS)]


def safe(s: str) -> str:
    return "".join(ch if (ch.isalnum() or ch in "._-+") else "_" for ch in s)


def save(fig, out_dir: str, stem: str) -> List[str]:
    """Writes stem.png and stem.pdf; returns their paths relative to the report folder."""
    paths = []
    for ext, meta in (("png", {"Software": None}), ("pdf", {"CreationDate": None, "Producer": None,
                                                             "Creator": None})):
        rel = f"plots/{stem}.{ext}"
        fig.savefig(os.path.join(out_dir, rel), format=ext, metadata=meta, dpi=150 if ext == "png" else None)
        paths.append(rel)
    plt.close(fig)
    return paths


def curve_figures(group: ModelGroup, out_dir: str, gstats=None) -> List[Tuple[str, List[str]]]:
    """One figure per protocol x granularity; returns (caption, [png, pdf]) pairs. With gstats
    (uncertainty.GroupStats) each curve gets its 95 % bootstrap band and, where the file has
    several random repeats, their min-max range is drawn as a hatched grey band."""
    out = []
    curves = group.curves
    keys = sorted({(c.protocol, c.granularity) for c in curves},
                  key=lambda k: (protocol_key(k[0]), granularity_key(k[1])))
    for protocol, gran in keys:
        sel = [c for c in curves if c.protocol == protocol and c.granularity == gran]
        fig, ax = plt.subplots(figsize=(5.2, 3.6))
        seen = set()
        for c in sel:
            k = (c.method, c.sign)
            if k in seen:  # the same curve from two experiments of the group: plot the first
                continue
            seen.add(k)
            ls, marker = SIGN_STYLE.get(c.sign, (":", "^"))
            order = np.argsort(c.ratios, kind="stable")
            ax.plot(c.ratios[order], c.accuracy_x100[order], linestyle=ls, marker=marker, markersize=3.5,
                    color=method_color(c.method), label=f"{c.method} ({c.sign})", linewidth=1.4)
            cs = gstats.of(c) if gstats is not None else None
            if cs is not None:
                ax.fill_between(c.ratios[order], cs.acc_lo[order], cs.acc_hi[order], color=method_color(c.method),
                                alpha=0.15, linewidth=0)
            if gstats is not None and c.method == "random":
                import uncertainty
                block = [x for x in sel if x.sign == c.sign and x.ratio_grid == c.ratio_grid]
                band = uncertainty.random_band(gstats, block)
                if band is not None:
                    ax.fill_between(c.ratios[order], band.min(axis=0)[order], band.max(axis=0)[order],
                                    facecolor="none", edgecolor="#7f7f7f", hatch="///", linewidth=0,
                                    label=f"random repeats ({c.sign}, {band.shape[0]}): min-max")
        ax.set_xlabel("prune ratio")
        ax.set_ylabel("VQA accuracy ×100")
        ax.set_title(f"{group.model_label} {group.label}: {protocol}, {gran} pruning")
        ax.grid(True, alpha=0.3)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7, ncol=2, loc="best")
        fig.tight_layout()
        stem = safe(f"curves_{group.label}_{protocol}_{gran}")
        caption = (f"{group.model_label} ({group.label}), {protocol} protocol, {gran} pruning: accuracy vs prune "
                   "ratio (solid: positive = most important first, dashed: negative = least important first)")
        if gstats is not None and any(gstats.of(c) is not None for c in sel):
            caption += f"; shaded: 95 % bootstrap interval of each point (B = {gstats.b})"
        out.append((caption, save(fig, out_dir, stem)))
    return out


def _short_names(names: List[str]) -> List[str]:
    """Module names without their common dotted prefix (lxmert.encoder.)."""
    if len(names) < 2:
        return names
    parts = [n.split(".") for n in names]
    k = 0
    while all(len(p) > k + 1 for p in parts) and len({p[k] for p in parts}) == 1:
        k += 1
    if k > 0 and all(p[k].isdigit() for p in parts):  # keep "layer" in "layer.0.attention.self"
        k -= 1
    return [".".join(p[k:]) for p in parts]


def heatmap_figures(group: ModelGroup, out_dir: str) -> List[Tuple[str, List[str]]]:
    """One figure per method with a head ranking (the first experiment of the group that has it)."""
    out = []
    methods: Dict[str, Experiment] = {}
    for e in group.experiments:
        for m in e.head_rankings:
            methods.setdefault(m, e)
    for method in sorted(methods, key=method_key):
        e = methods[method]
        mean = e.head_rankings[method]
        if mean.ndim != 2:
            continue
        names = _short_names(e.module_names) if e.module_names else [f"m{i}" for i in range(mean.shape[0])]
        modality = e.module_modality if len(e.module_modality) == mean.shape[0] else ["all"] * mean.shape[0]
        panels = [(mod, [i for i, x in enumerate(modality) if x == mod])
                  for mod in ("text", "image", "all") if mod in modality]
        others = sorted({x for x in modality} - {"text", "image", "all"})
        panels += [(mod, [i for i, x in enumerate(modality) if x == mod]) for mod in others]
        vmax = float(np.max(np.abs(mean))) if mean.size else 1.0
        vmax = vmax if vmax > 0 else 1.0
        vmin = -vmax if np.min(mean) < 0 else 0.0
        cmap = "RdBu_r" if vmin < 0 else "viridis"
        heights = [max(len(rows), 1) for _, rows in panels]
        fig_h = 1.2 + 0.28 * sum(heights) + 0.4 * len(panels)
        fig, axes = plt.subplots(len(panels), 1, figsize=(1.8 + 0.45 * mean.shape[1] + 2.6, fig_h),
                                 gridspec_kw={"height_ratios": heights}, squeeze=False, layout="constrained")
        im = None
        for ax, (mod, rows) in zip(axes[:, 0], panels):
            im = ax.imshow(mean[rows, :], aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            ax.set_yticks(range(len(rows)))
            ax.set_yticklabels([names[i] for i in rows], fontsize=6.5)
            ax.set_xticks(range(mean.shape[1]))
            ax.set_xticklabels([str(h) for h in range(mean.shape[1])], fontsize=7)
            ax.set_title(f"{mod}-side modules (queries: {mod})" if mod in ("text", "image") else f"{mod} modules",
                         fontsize=8)
        axes[-1, 0].set_xlabel("head")
        fig.suptitle(f"{group.model_label} {group.label}: mean '{method}' head score", fontsize=9)
        fig.colorbar(im, ax=axes[:, 0].tolist(), shrink=0.9, pad=0.02)
        stem = safe(f"heatmap_{group.label}_{method}")
        caption = (f"{group.model_label} ({group.label}): mean per-sample '{method}' head score "
                   f"(ranking/{method}/head/mean of experiment {e.name}), modules × heads, text- and image-side "
                   "modules separately")
        out.append((caption, save(fig, out_dir, stem)))
    return out


def score_figure(group: ModelGroup, results_path: str, out_dir: str) -> List[Tuple[str, List[str]]]:
    """Histograms of the per-sample scores per method (head scores; layer scores if no head ones)."""
    picks = {}
    for gran in ("head", "layer"):
        for e in group.experiments:
            for (m, g), ds in e.score_datasets.items():
                if g == gran and m not in picks:
                    picks[m] = (e, g, ds)
    if not picks:
        return []
    methods = sorted(picks, key=method_key)
    n = len(methods)
    ncol = min(n, 3)
    nrow = (n + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.4 * ncol, 2.6 * nrow), squeeze=False)
    for k, method in enumerate(methods):
        ax = axes[k // ncol, k % ncol]
        e, gran, ds = picks[method]
        s = read_scores(results_path, ds)  # [N, M, H] or [N, M]
        modality = e.module_modality if len(e.module_modality) == s.shape[1] else ["all"] * s.shape[1]
        finite = s[np.isfinite(s)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        bins = np.linspace(lo, hi, 41)
        for mod in [x for x in ("text", "image", "all") if x in modality]:
            idx = [i for i, x in enumerate(modality) if x == mod]
            v = s[:, idx].ravel()
            v = v[np.isfinite(v)]
            ax.hist(v, bins=bins, alpha=0.55, color=MODALITY_COLORS.get(mod, "#555555"),
                    label=f"{mod} ({v.size})")
        ax.set_title(f"{method} ({gran} scores)", fontsize=9)
        ax.set_xlabel("per-sample score")
        ax.set_ylabel("count")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 3))
        ax.legend(fontsize=7)
    for k in range(n, nrow * ncol):
        axes[k // ncol, k % ncol].axis("off")
    fig.suptitle(f"{group.model_label} {group.label}: per-sample score distributions", fontsize=10)
    fig.tight_layout()
    stem = safe(f"scores_{group.label}")
    caption = (f"{group.model_label} ({group.label}): histogram of the per-sample scores "
               "(scores/<method>/head, all samples × modules × heads), text- and image-side modules overlaid")
    return [(caption, save(fig, out_dir, stem))]


def stability_figures(stabs, out_dir: str) -> List[Tuple[str, List[str]]]:
    """Per group and granularity: Kendall tau-b and Spearman rho between the methods' global
    rankings, the diagonal holding each method's mean split-half value (uncertainty.Stability)."""
    out = []
    for st in stabs:
        k = len(st.methods)
        fig, axes = plt.subplots(1, 2, figsize=(2.2 + 1.2 * k, 1.6 + 0.55 * k), layout="constrained")
        im = None
        for ax, (name, mat, half) in zip(axes, (("Kendall τ-b", st.tau, st.half_tau), ("Spearman ρ", st.rho,
                                                                                         st.half_rho))):
            m = mat.copy()
            for i, meth in enumerate(st.methods):
                m[i, i] = float(np.nanmean(half[meth])) if half[meth].size else np.nan
            im = ax.imshow(m, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
            for i in range(k):
                for j in range(k):
                    if np.isfinite(m[i, j]):
                        ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7,
                                fontweight="bold" if i == j else "normal",
                                color="white" if abs(m[i, j]) > 0.6 else "black")
            ax.set_xticks(range(k))
            ax.set_xticklabels(st.methods, rotation=45, ha="right", fontsize=7)
            ax.set_yticks(range(k))
            ax.set_yticklabels(st.methods, fontsize=7)
            ax.set_title(name, fontsize=9)
        fig.colorbar(im, ax=list(axes), shrink=0.8)
        fig.suptitle(f"{st.group.model_label} {st.group.label}: {st.granularity} rankings", fontsize=9)
        stem = safe(f"stability_{st.group.label}_{st.granularity}")
        caption = (f"{st.group.model_label} ({st.group.label}), {st.granularity} scores: rank correlation of the "
                   "methods' global rankings (off the diagonal) and each method's mean split-half correlation "
                   f"(diagonal, bold; {st.samples} samples split in halves)")
        out.append((caption, save(fig, out_dir, stem)))
    return out


__all__ = ["curve_figures", "heatmap_figures", "score_figure", "stability_figures", "METHOD_ORDER"]
