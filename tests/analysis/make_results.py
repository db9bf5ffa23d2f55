"""Synthetic headprune results files, written with h5py exactly as docs/results-format.md lays them out.

    make_results.py OUT.h5 [--grid]

Default: two experiments (LXMERT-shaped 'lxmert_vqa' and VisualBERT-shaped 'visualbert_vqa', with
different ratio grids), methods ours + random, granularities head + layer, signs positive +
negative, protocols per_sample + global.
--grid: what `headprune merge` makes of a Slurm array: one experiment per grid cell of one config
('lxmert_vqa.<method>.<granularity>.<signs>'), same model, data and samples in every cell, so the
'random' baseline of a cell lives in another cell.
"""

import argparse
import hashlib

import h5py
import numpy as np

STR = h5py.string_dtype(encoding="utf-8")

LXMERT_MODULES = (["lxmert.encoder.layer.0.attention.self", "lxmert.encoder.layer.1.attention.self",
                   "lxmert.encoder.x_layers.0.visual_attention.att", "lxmert.encoder.x_layers.0.lang_self_att.self",
                   "lxmert.encoder.x_layers.1.visual_attention.att", "lxmert.encoder.x_layers.1.lang_self_att.self"],
                  ["lxmert.encoder.r_layers.0.attention.self", "lxmert.encoder.r_layers.1.attention.self",
                   "lxmert.encoder.x_layers.0.visual_attention_copy.att", "lxmert.encoder.x_layers.0.visn_self_att.self"])
ANSWERS = ["yes", "no", "2", "1", "white", "3", "red", "blue", "0", "black", "green", "dog"]


def sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def strings(g, name, values):
    g.create_dataset(name, data=np.array(values, dtype=object), dtype=STR)


def write_experiment(f, name, family, text_modules, image_modules, heads, ratios, n, methods, grans, signs,
                     protocols, seed):
    rng = np.random.default_rng(seed)
    e = f.create_group(f"experiments/{name}")
    modules = text_modules + image_modules
    M, H, S, L = len(modules), heads, len(ratios), len(ANSWERS)
    meta = e.create_group("meta")
    a = meta.attrs
    cfg = (f"name: {name}\nmodel:\n  family: {family}\n  path: /data/models/{family}\n"
           f"scoring:\n  methods: [{', '.join(methods)}]\n")
    for k, v in [("config_yaml", cfg), ("tool_version", "0.1.0"), ("git_commit", "0123456789abcdef"),
                 ("library_versions", "libtorch 2.1; hdf5 1.10.8; open-mpi 4.1.4"), ("model_family", family),
                 ("weights_sha256", sha(family + "weights")), ("questions_sha256", sha(family + "questions")),
                 ("features_sha256", sha(family + "features")), ("hosts", "node1\nnode1"), ("device", "cpu"),
                 ("start_time", "2024-01-01T00:00:00Z"), ("end_time", "2024-01-01T00:01:00Z")]:
        a.create(k, v, dtype=STR)
    for k, v in [("ranks", 2), ("threads_per_rank", 1), ("questions_available", 3 * n), ("excluded_images", 0),
                 ("selected", n), ("skipped_missing", 0), ("samples", n)]:
        a[k] = np.int64(v)
    strings(meta, "module_names", modules)
    strings(meta, "module_modality", ["text"] * len(text_modules) + ["image"] * len(image_modules))
    strings(meta, "answers", ANSWERS)
    meta.create_dataset("ratios", data=np.array(ratios, dtype=np.float64))

    smp = e.create_group("samples")
    strings(smp, "question_id", [str(1000 + 7 * i) for i in range(n)])  # same ids for a seed: same samples
    strings(smp, "img_id", [f"COCO_val2014_{100 + i:012d}" for i in range(n)])
    smp.create_dataset("selection_index", data=np.arange(n, dtype=np.int64) * 3)
    target = rng.integers(0, L, n).astype(np.int64)
    smp.create_dataset("target", data=target)
    smp.create_dataset("unpruned_pred", data=target)
    smp.create_dataset("unpruned_score", data=rng.choice([0.0, 0.3, 0.6, 0.9, 1.0], n).astype(np.float64))

    for m in methods:
        for g in grans:
            shape = (n, M, H) if g == "head" else (n, M)
            if m == "random":
                sc = rng.random(shape)
            else:  # signed, heavy-ish tails, one clearly important module
                sc = rng.normal(0.0, 1e-3, shape)
                sc[:, 2] += 3e-3
            ds = e.create_dataset(f"scores/{m}/{g}", data=sc.astype(np.float64))
            ds.attrs.create("units", "module names", dtype=STR)
            rk = e.create_group(f"ranking/{m}/{g}")
            mean = sc.mean(axis=0)
            rk.create_dataset("mean", data=mean)
            rk.create_dataset("std", data=sc.std(axis=0))
            rk.create_dataset("order", data=np.argsort(-mean.ravel(), kind="stable").astype(np.int64))

    for p in protocols:
        for m in methods:
            for g in grans:
                units = M * H if g == "head" else M
                for s in signs:
                    cg = e.create_group(f"curves/{p}/{m}/{g}/{s}")
                    cg.create_dataset("ratios", data=np.array(ratios, dtype=np.float64))
                    # accuracy falls with the ratio; 'ours' positive falls fastest, negative slowest.
                    base = 70.0 * (1 - np.asarray(ratios)) ** (2.5 if s == "positive" else 0.7)
                    if m == "random":
                        base = 70.0 * (1 - np.asarray(ratios)) ** 1.3
                    probs = np.clip(base / 100 + rng.normal(0, 0.05, S), 0, 1)
                    ls = (rng.random((n, S)) < probs).astype(np.float64) * rng.choice([0.3, 0.6, 0.9, 1.0], (n, S))
                    ls[:, 0] = np.where(ls[:, 0] > 0, ls[:, 0], rng.choice([0.0, 1.0], n))
                    cg.create_dataset("label_score", data=ls)
                    cg.create_dataset("accuracy_x100", data=ls.mean(axis=0) * 100.0)
                    cg.create_dataset("pred_index", data=rng.integers(0, L, (n, S)).astype(np.int64))
                    if p == "global":
                        shape = (S, M, H) if g == "head" else (S, M)
                        km = np.ones(shape, dtype=np.uint8).reshape(S, -1)
                        for i, r in enumerate(ratios):
                            km[i, : int(r * units)] = 0
                        cg.create_dataset("keep_mask", data=km.reshape(shape))


def write_file(path, grid=False):
    with h5py.File(path, "w") as f:
        f.attrs.create("format", "headprune-results", dtype=STR)
        f.attrs["format_version"] = np.int64(1)
        if not grid:
            write_experiment(f, "lxmert_vqa", "lxmert", *LXMERT_MODULES, 4,
                             [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], 40,
                             ["ours", "random"], ["head", "layer"], ["positive", "negative"],
                             ["per_sample", "global"], seed=1)
            vb = [f"visual_bert.bert.encoder.layer.{i}.attention.self" for i in range(6)]
            write_experiment(f, "visualbert_vqa", "visualbert", vb[:4], vb[4:], 6, [0, 0.25, 0.5, 0.75], 24,
                             ["ours", "random"], ["head", "layer"], ["positive", "negative"],
                             ["per_sample", "global"], seed=2)
        else:
            k = 10
            for m in ["ours", "random"]:
                for g in ["head", "layer"]:
                    write_experiment(f, f"lxmert_vqa.{m}.{g}.positive+negative", "lxmert", *LXMERT_MODULES, 4,
                                     [0, 0.3, 0.6, 0.9], 16, [m], [g], ["positive", "negative"], ["per_sample"],
                                     seed=k)
                    k += 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--grid", action="store_true")
    a = ap.parse_args()
    write_file(a.out, a.grid)
