#!/usr/bin/python3
"""Paper tables, plots and a short report from one headprune results file.

    analysis/report.py RESULTS.h5 --out DIR

writes into DIR:
    tables.md      accuracy x100 at each prune ratio, AUC ± 95 % CI, the gap to 'random' and
                   significance marks (Markdown)
    tables.tex     the same tables for LaTeX (booktabs)
    curves.csv     the same numbers at full precision, one line per curve point, with intervals
                   and the numbers the seed prints
    comparisons.csv  every paired test (AUC bootstrap, McNemar per ratio) with raw and Holm p
    faithfulness.csv the methods ranked by the AUC gap negative - positive, with its interval
    stability.csv  rank correlations between methods and split-half stability
    plots/*.png, plots/*.pdf
                   accuracy vs prune ratio (with bands), head-importance heatmaps, score
                   distributions, ranking-stability heatmaps
    report.md      a short report embedding the tables, the statistics and the PNGs (with links
                   to the PDFs), and
                   with --pictures PICTURES, the relevance pictures of `headprune visualize`
                   (PICTURES/<name>/index.html and each question's strip.png; the Slurm merge job
                   draws them into DIR/pictures)

    --bootstrap B (default 2000; 0 = no statistics), --seed S, --split-halves K (default 20)

Needs Debian's python3-h5py, python3-numpy and python3-matplotlib (run with /usr/bin/python3).
The output depends only on the results file: no dates, fixed orders, fixed colours.
Exit codes: 0 done, 2 unreadable input or not a results file.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import breakdowns  # noqa: E402
import hpresults  # noqa: E402
import stats  # noqa: E402
import tables  # noqa: E402
import uncertainty  # noqa: E402


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


def _statistics(groups, tabs, args) -> dict:
    """Intervals, paired tests, breakdowns and ranking stability (uncertainty.py); attaches the
    marks to the table rows and returns the report sections and the per-group results."""
    res = {"groups": [], "by_label": {}, "stability": [], "markdown": []}
    if args.bootstrap > 0:
        res["groups"] = [uncertainty.group_statistics(g, args.results, args.bootstrap, args.seed) for g in groups]
        res["by_label"] = {gs.group.label: gs for gs in res["groups"]}
        uncertainty.attach_to_tables(tabs, res["by_label"])
    if args.split_halves > 0 or args.bootstrap > 0:
        for g in groups:
            res["stability"] += uncertainty.ranking_stability(g, args.results, args.split_halves, args.seed)
    md = []
    md += uncertainty.convention_section(res["groups"])
    md += uncertainty.claims_section(res["groups"])
    res["faithfulness"] = uncertainty.faithfulness(groups, res["by_label"])
    md += uncertainty.faithfulness_section(res["faithfulness"])
    md += uncertainty.comparisons_section(res["groups"])
    md += uncertainty.random_band_section(res["groups"])
    md += uncertainty.answer_type_section(res["groups"])
    md += breakdowns.modality_section(groups, args.results)
    md += breakdowns.held_out_section(res["groups"], args.results)
    md += uncertainty.stability_section(res["stability"], args.split_halves)
    if md:
        links = [f"[{n}]({n})" for n in ("comparisons.csv", "faithfulness.csv", "stability.csv")
                 if (n == "comparisons.csv" and res["groups"]) or (n == "stability.csv" and res["stability"])
                 or (n == "faithfulness.csv" and res["faithfulness"])]
        md = ["## Statistics", "", "Definitions: docs/statistics.md. Seed " + str(args.seed) + ", B = "
              + str(args.bootstrap) + " bootstrap resamples" + (("; all tests at full precision: " + ", ".join(links))
                                                                if links else "") + ".", ""] + md
    res["markdown"] = md
    return res


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
    ap.add_argument("--bootstrap", type=int, default=stats.DEFAULT_B, metavar="B",
                    help=f"bootstrap resamples for intervals and paired tests (default {stats.DEFAULT_B}; "
                         "0: no statistics)")
    ap.add_argument("--seed", type=int, default=stats.DEFAULT_SEED,
                    help=f"seed of the bootstrap and of the split halves (default {stats.DEFAULT_SEED})")
    ap.add_argument("--split-halves", type=int, default=20, metavar="K",
                    help="random splits for the split-half stability of the rankings (default 20; 0: none)")
    ap.add_argument("--pictures", help="folder of `headprune visualize` outputs (one subfolder per model "
                    "config) to link from report.md")
    args = ap.parse_args(argv)
    if args.bootstrap < 0 or args.split_halves < 0 or args.seed < 0:
        ap.error("--bootstrap, --split-halves and --seed must be >= 0")

    try:
        experiments = hpresults.read_results(args.results)
    except (OSError, KeyError, hpresults.ResultsError) as err:
        print(f"report.py: {args.results}: {err}", file=sys.stderr)
        return 2

    out = args.out
    os.makedirs(os.path.join(out, "plots"), exist_ok=True)
    groups = hpresults.group_experiments(experiments)
    tabs = tables.build_tables(groups)
    st = _statistics(groups, tabs, args)
    md_tables = tables.markdown(tabs)

    def write(name, text):
        with open(os.path.join(out, name), "w", encoding="utf-8", newline="\n") as f:
            f.write(text)

    write("tables.md", "# Accuracy tables\n\n" + md_tables)
    write("tables.tex", tables.latex(tabs))
    write("curves.csv", tables.csv(tabs))
    if st["groups"]:
        write("comparisons.csv", uncertainty.comparisons_csv(st["groups"]))
    if st["faithfulness"]:
        write("faithfulness.csv", uncertainty.faithfulness_csv(st["faithfulness"]))
    if st["stability"]:
        write("stability.csv", uncertainty.stability_csv(st["stability"]))

    figures = []  # (section, caption, [png, pdf])
    if not args.no_plots:
        import plots  # matplotlib only when plotting
        for g in groups:
            for cap, paths in plots.curve_figures(g, out, st["by_label"].get(g.label)):
                figures.append(("Accuracy vs prune ratio", cap, paths))
        for g in groups:
            for cap, paths in plots.heatmap_figures(g, out):
                figures.append(("Head importance", cap, paths))
        for g in groups:
            for cap, paths in plots.score_figure(g, args.results, out):
                figures.append(("Score distributions", cap, paths))
        for cap, paths in plots.stability_figures(st["stability"], out):
            figures.append(("Ranking stability", cap, paths))

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
    md += st["markdown"]
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
