#!/usr/bin/python3
"""Paper tables, plots and a short report from one headprune results file.

    analysis/report.py RESULTS.h5 --out DIR

writes into DIR:
    tables.md      accuracy x100 at each prune ratio, AUC and the gap to 'random' (Markdown)
    tables.tex     the same tables for LaTeX (booktabs)
    curves.csv     the same numbers at full precision, one line per curve point
    plots/*.png, plots/*.pdf
                   accuracy vs prune ratio, head-importance heatmaps, score distributions
    report.md      a short report embedding the tables and the PNGs (with links to the PDFs), and
                   with --pictures PICTURES, the relevance pictures of `headprune visualize`
                   (PICTURES/<name>/index.html and each question's strip.png; the Slurm merge job
                   draws them into DIR/pictures)

Needs Debian's python3-h5py, python3-numpy and python3-matplotlib (run with /usr/bin/python3).
The output depends only on the results file: no dates, fixed orders, fixed colours.
Exit codes: 0 done, 2 unreadable input or not a results file.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import hpresults  # noqa: E402
import tables  # noqa: E402


def _summary(experiments) -> str:
    lines = ["| Experiment | Model | Samples | Ratios | Protocols | Methods | Granularities | Signs | Ranks |",
             "|---|---|---:|---|---|---|---|---|---:|"]
    for e in experiments:
        def uniq(attr, key):
            return ", ".join(sorted({getattr(c, attr) for c in e.curves}, key=key)) or "-"
        ratios = ", ".join(tables.fmt_ratio(r) for r in e.ratios)
        ranks = e.meta.get("ranks", "-")
        lines.append(f"| {e.name} | {e.model_label} | {e.num_samples} | {ratios} | "
                     f"{uniq('protocol', hpresults.protocol_key)} | {uniq('method', hpresults.method_key)} | "
                     f"{uniq('granularity', hpresults.granularity_key)} | {uniq('sign', hpresults.sign_key)} | "
                     f"{ranks} |")
    return "\n".join(lines)


def _pictures(folder, out) -> list:
    """report.md lines linking each picture set in `folder` (subfolders holding index.html) and
    embedding the strip of every question drawn (sorted: the output depends only on the files)."""
    if not folder or not os.path.isdir(folder):
        return []
    sets = sorted(d for d in os.listdir(folder) if os.path.isfile(os.path.join(folder, d, "index.html")))
    if not sets:
        return []
    md = ["## Relevance pictures", "",
          "What the model looks at (image regions, question tokens) as heads are pruned, drawn by "
          "`headprune visualize` (the seed's pictures).", ""]
    for name in sets:
        rel = os.path.relpath(os.path.join(folder, name), out)
        md += [f"### {name}", "", f"All questions: [{rel}/index.html]({rel}/index.html)", ""]
        for q in sorted(os.listdir(os.path.join(folder, name))):
            if os.path.isfile(os.path.join(folder, name, q, "strip.png")):
                md += [f"![question {q}]({rel}/{q}/strip.png)", "", f"*question {q}*", ""]
    return md


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Tables, plots and report.md from a headprune results file.")
    ap.add_argument("results", help="the results HDF5 file (headprune run or headprune merge)")
    ap.add_argument("--out", required=True, help="output folder (created; existing files are replaced)")
    ap.add_argument("--no-plots", action="store_true", help="tables and report only")
    ap.add_argument("--pictures", help="folder of `headprune visualize` outputs (one subfolder per model "
                    "config) to link from report.md")
    args = ap.parse_args(argv)

    try:
        experiments = hpresults.read_results(args.results)
    except (OSError, KeyError, hpresults.ResultsError) as err:
        print(f"report.py: {args.results}: {err}", file=sys.stderr)
        return 2

    out = args.out
    os.makedirs(os.path.join(out, "plots"), exist_ok=True)
    groups = hpresults.group_experiments(experiments)
    tabs = tables.build_tables(groups)
    md_tables = tables.markdown(tabs)

    def write(name, text):
        with open(os.path.join(out, name), "w", encoding="utf-8", newline="\n") as f:
            f.write(text)

    write("tables.md", "# Accuracy tables\n\n" + md_tables)
    write("tables.tex", tables.latex(tabs))
    write("curves.csv", tables.csv(tabs))

    figures = []  # (section, caption, [png, pdf])
    if not args.no_plots:
        import plots  # matplotlib only when plotting
        for g in groups:
            for cap, paths in plots.curve_figures(g, out):
                figures.append(("Accuracy vs prune ratio", cap, paths))
        for g in groups:
            for cap, paths in plots.heatmap_figures(g, out):
                figures.append(("Head importance", cap, paths))
        for g in groups:
            for cap, paths in plots.score_figure(g, args.results, out):
                figures.append(("Score distributions", cap, paths))

    src = os.path.basename(args.results)
    md = [f"# headprune report: {src}", ""]
    e0 = experiments[0]
    tool = e0.meta.get("tool_version")
    commit = e0.meta.get("git_commit")
    if tool or commit:
        md += [f"Written by headprune {tool or '?'} (commit {commit or '?'}); "
               f"{len(experiments)} experiment(s) in {len(groups)} model group(s).", ""]
    md += ["## Experiments", "", _summary(experiments), "",
           "A *model group* is the set of experiments on the same model and data (same model family, weights, "
           "question file, feature index, samples and ratio grid); in a merged Slurm grid, the cells of one "
           "config. Curves are compared only within a group.", "",
           "## Tables", "", "LaTeX: [tables.tex](tables.tex); all numbers at full precision: "
           "[curves.csv](curves.csv).", "", md_tables]
    section = None
    for sec, cap, paths in figures:
        if sec != section:
            md += [f"## {sec}", ""]
            section = sec
        png, pdf = paths
        md += [f"![{cap}]({png})", "", f"*{cap}* ([PDF]({pdf}))", ""]
    md += _pictures(args.pictures, out)
    write("report.md", "\n".join(md).rstrip("\n") + "\n")
    print(f"report.py: wrote {len(tabs)} table(s), {len(figures)} figure(s) and report.md to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
