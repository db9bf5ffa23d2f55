"""Plots the pruned-model latency table of `headprune bench --latency --csv FILE` (docs/export.md).

  /usr/bin/python3 analysis/plot_latency.py latency.csv --out plots/

Writes, per model in the CSV, latency_<model>.{png,pdf}: left, the pruned forward's speed-up over
the dense one (dense ms / pruned ms) against the share of heads removed, one line per batch size;
right, milliseconds per sample against batch size, dense and at each ratio. Also prints the table
as Markdown. Deterministic output (no dates in the files). Needs only the standard library and
matplotlib.
"""

import argparse
import csv
import os
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLUMNS = ["model", "ratio", "heads_kept", "heads_total", "removed_modules", "batch", "dense_ms", "pruned_ms"]


def read_rows(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != COLUMNS:
            sys.exit(f"plot_latency: error: {path}: header {reader.fieldnames} (expected {COLUMNS})")
        rows = []
        for n, r in enumerate(reader, start=2):
            try:
                rows.append({"model": r["model"], "ratio": float(r["ratio"]), "heads_kept": int(r["heads_kept"]),
                             "heads_total": int(r["heads_total"]), "removed_modules": int(r["removed_modules"]),
                             "batch": int(r["batch"]), "dense_ms": float(r["dense_ms"]),
                             "pruned_ms": float(r["pruned_ms"])})
            except (TypeError, ValueError) as e:
                sys.exit(f"plot_latency: error: {path}: line {n}: {e}")
    if not rows:
        sys.exit(f"plot_latency: error: {path}: no rows")
    return rows


def markdown(rows):
    lines = ["| model | heads removed | kept | batch | dense ms | pruned ms | speed-up |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {100 * r['ratio']:.0f} % | {r['heads_kept']}/{r['heads_total']} | {r['batch']} | "
                     f"{r['dense_ms']:.1f} | {r['pruned_ms']:.1f} | {r['dense_ms'] / r['pruned_ms']:.2f}x |")
    return "\n".join(lines)


def plot(model, rows, out_dir):
    by_batch = defaultdict(list)
    for r in rows:
        by_batch[r["batch"]].append(r)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for batch in sorted(by_batch):
        pts = sorted(by_batch[batch], key=lambda r: r["ratio"])
        a.plot([100 * r["ratio"] for r in pts], [r["dense_ms"] / r["pruned_ms"] for r in pts], marker="o",
               label=f"batch {batch}")
    a.axhline(1.0, color="grey", linewidth=0.8)
    a.set_xlabel("heads removed (%)")
    a.set_ylabel("speed-up (dense / pruned forward)")
    a.legend()
    batches = sorted(by_batch)
    # Every row times the dense model again beside the pruned one: their median per batch size.
    dense = [statistics.median(r["dense_ms"] for r in by_batch[bs]) / bs for bs in batches]
    b.plot(batches, dense, marker="s", color="black", label="dense")
    for ratio in sorted({r["ratio"] for r in rows}):
        pts = sorted((r for r in rows if r["ratio"] == ratio), key=lambda r: r["batch"])
        b.plot([r["batch"] for r in pts], [r["pruned_ms"] / r["batch"] for r in pts], marker=".",
               label=f"{100 * ratio:.0f} % removed")
    b.set_xscale("log", base=2)
    b.set_xlabel("batch size")
    b.set_ylabel("ms per sample")
    b.legend(fontsize="small")
    fig.suptitle(f"{model}: forward latency, dense vs physically pruned")
    fig.tight_layout()
    os.makedirs(out_dir, exist_ok=True)
    for ext, meta in (("png", {"Software": None}), ("pdf", {"CreationDate": None, "Producer": None})):
        fig.savefig(os.path.join(out_dir, f"latency_{model.replace('/', '_')}.{ext}"), format=ext, metadata=meta,
                    dpi=150 if ext == "png" else None)
    plt.close(fig)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("csv", help="CSV of headprune bench --latency --csv")
    p.add_argument("--out", default=".", help="folder for latency_<model>.{png,pdf}")
    a = p.parse_args()
    rows = read_rows(a.csv)
    print(markdown(rows))
    by_model = defaultdict(list)
    for r in rows:
        by_model[r["model"]].append(r)
    for model, model_rows in sorted(by_model.items()):
        plot(model, model_rows, a.out)


if __name__ == "__main__":
    main()
