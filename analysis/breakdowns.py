"""Where the pruning falls and how well a global ranking carries over, for the report.

  - modality_section: the share of each module kind's heads (text self-attention, image
    self-attention, cross attention, joint) that each method's global ranking prunes at each
    ratio, from the curves' keep_mask and meta/module_kind; the curves that prune one kind only
    (prune.modalities: granularity "head.cross" etc.) are ordinary table blocks of the report.
  - held_out_section: with prune.global_fit: half, each global curve's AUC on the half its
    ranking was fitted on (in-sample) beside the held-out half it is reported on.
Definitions: docs/statistics.md.
"""

from typing import Dict, List, Optional

import numpy as np

import tables
import uncertainty
from hpresults import ModelGroup, auc_x100, read_optional

KIND_ORDER = ["text", "image", "cross", "joint"]
KIND_LABEL = {"text": "text self", "image": "image self", "cross": "cross", "joint": "joint"}


def pruned_share(keep_mask: np.ndarray, kinds: List[str], heads: bool) -> Dict[str, np.ndarray]:
    """Per module kind: the fraction [S] of its units that a keep_mask prunes: [S, M, H] (heads) or
    [S, M] (layers), or a repeated method's [K, S, ...] (the mean over its draws)."""
    m = np.asarray(keep_mask, dtype=np.float64)
    if heads:
        m = m.mean(axis=-1)  # each module's kept share of heads
    if m.ndim == 3:
        m = m.mean(axis=0)  # draws
    k = np.array(kinds)
    return {kind: 1.0 - m[:, k == kind].mean(axis=1)
            for kind in [x for x in KIND_ORDER if x in kinds] + sorted(set(kinds) - set(KIND_ORDER))}


def modality_section(groups: List[ModelGroup], results_path: str) -> List[str]:
    """Share of each module kind pruned by the global rankings (empty when no global curve with a
    keep_mask or no meta/module_kind is in the file)."""
    md: List[str] = []
    for g in groups:
        rows = []
        for e in g.experiments:
            kinds = read_optional(results_path, e.path + "/meta/module_kind")
            if kinds is None:
                continue
            kinds = [str(x) for x in kinds]
            if len(set(kinds)) < 2:  # one kind (a single-stream model): nothing to break down
                continue
            for c in sorted(e.curves, key=lambda x: x.sort_key()):
                if c.protocol != "global" or "." in c.granularity:
                    continue
                km = read_optional(results_path, c.path + "/keep_mask")
                if km is None:
                    continue
                share = pruned_share(km, kinds, c.granularity == "head")
                order = np.argsort(c.ratios, kind="stable")
                for kind, s in share.items():
                    rows.append((c, kind, s[order], c.ratios[order]))
        if not rows:
            continue
        ratios = rows[0][3]
        if not md:
            md = ["### Where the pruning falls: module kinds", "",
                  "Share of each module kind's heads that the global ranking prunes at each ratio "
                  "(`keep_mask` with `meta/module_kind`; random: the mean over its draws). A method that "
                  "prunes one kind far ahead of the others at low ratios ranks that kind least (negative) or "
                  "most (positive) important. Curves that prune only one kind are the table blocks "
                  "`head.text`, `head.image`, `head.cross` (prune.modalities).", ""]
        md += [f"**{g.model_label} {g.label}** (module kinds: "
               + ", ".join(f"{KIND_LABEL.get(k, k)} = {sum(1 for x in kinds if x == k)} modules"
                           for k in KIND_ORDER if k in kinds) + ")", "",
               "| Granularity | Sign | Method | Kind | " + " | ".join(tables.fmt_ratio(r) for r in ratios) + " |",
               "|---|---|---|---|" + "---:|" * len(ratios)]
        for c, kind, s, r in rows:
            if len(r) != len(ratios) or not np.allclose(r, ratios):
                continue
            md.append(f"| {c.granularity} | {c.sign} | {c.method} | {KIND_LABEL.get(kind, kind)} | "
                      + " | ".join(f"{100 * v:.0f} %" for v in s) + " |")
        md.append("")
    return md


def held_out_section(gstats, results_path: str) -> List[str]:
    """In-sample vs held-out AUC of each global curve of a prune.global_fit: half run."""
    md: List[str] = []
    for gs in gstats:
        for cs in sorted(gs.per_curve.values(), key=lambda x: x.curve.sort_key()):
            if cs.rows == "all":
                continue
            c = cs.curve
            ls = np.asarray(read_optional(results_path, c.path + "/label_score"), dtype=np.float64)
            if ls.ndim == 3:
                ls = ls.mean(axis=0)
            fit = ~uncertainty.held_out_rows(results_path, c)
            in_sample = auc_x100(c.ratios, ls[fit].mean(axis=0) * 100.0)
            if not md:
                md = ["### Held-out global protocol", "",
                      "`prune.global_fit: half`: each global ranking is fitted on a fixed random half of the "
                      "samples (`samples/global_fit`) and its curve is measured on the other half (the AUC "
                      "and interval of the tables). In-sample = the same masks measured on the half they were "
                      "fitted on; a large gap means the ranking fits its own samples' noise.", "",
                      "| Group | Granularity | Sign | Method | n fit / held out | AUC in-sample | AUC held out "
                      "(95 % CI) | gap |", "|---|---|---|---|---|---:|---:|---:|"]
            md.append(f"| {gs.group.label} | {c.granularity} | {c.sign} | {c.method} | {int(fit.sum())} / "
                      f"{cs.label_score.shape[0]} | {in_sample:.2f} | {cs.auc:.2f} ({cs.auc_lo:.2f}–{cs.auc_hi:.2f}) | "
                      f"{in_sample - cs.auc:+.2f} |")
    return md + [""] if md else []
