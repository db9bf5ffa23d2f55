#!/usr/bin/env python3
"""Reference scores of the 'attention' and 'rollout' scoring methods (tests/data/scorers/).

Computed here, independently of headprune, with numpy from the attention maps that the seed's
golden fixtures store (tests/data/{lxmert,visualbert}/reference.h5, modules/mJJ/attn, float64):

- attention: per module and head, the mean over the queries of sum_k a_qk^2 (every query and key
  of a fixture sample is real: batch size 1, no padding).
- rollout: the seed's relevance rules (the fixtures' READMEs, "Relevance maps") with the head
  mean of the raw attention in place of the gradient-weighted maps; f = sum of the explained
  token's row without its own entry (LXMERT: R_t_t[0] with [0,0] = 0 plus R_t_i[0]; VisualBERT:
  R[T-2] with [T-2] = 0); head score = (sum A_h * df/dA_h) / f, the derivative taken along
  A_h -> A_h (1 + i eps) by the complex step (Im f / eps, eps = 1e-30: no cancellation, exact to
  float64 rounding). No autograd is involved.

Layer scores are the means over heads. Not run by CI:

    python3 tools/make_scorer_refs.py            # writes tests/data/scorers/reference.h5
"""
import argparse
import os

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPS = 1e-30


def attention_scores(maps):
    """maps: per module [H,Q,K] -> [M,H]."""
    return np.stack([(a * a).sum(-1).mean(-1) for a in maps])


def visualbert_f(cams, cls):
    n = cams[0].shape[0]
    R = np.eye(n, dtype=cams[0].dtype)
    for c in cams:
        R = R + c @ R
    row = R[cls].copy()
    row[cls] = 0
    return row.sum()


def lxmert_f(cams, n_l, n_r, n_x):
    """The seed's GeneratorOurs rules (LXMERT README, 'Relevance maps') on head-mean maps `cams`
    in the joint module order: text modules (language layers, then per cross layer: cross,
    self), then image modules (relation layers, then per cross layer but the last: cross, self)."""
    n_text = n_l + 2 * n_x
    T = cams[0].shape[0]
    R_img = cams[n_text].shape[0]
    dt = cams[0].dtype
    eye_t, eye_i = np.eye(T, dtype=dt), np.eye(R_img, dtype=dt)
    R_tt, R_ii = eye_t.copy(), eye_i.copy()
    R_ti, R_it = np.zeros((T, R_img), dt), np.zeros((R_img, T), dt)

    def clean(x):
        return np.where(np.isnan(x), 0, x)

    def norm(X, eye):  # handle_residual
        s = X - eye
        return s / s.sum(-1, keepdims=True) + eye

    def self_rule(R_ss, R_sq, c):
        return R_ss + clean(c @ R_ss), R_sq + clean(c @ R_sq)

    def cross(R_ss, R_qq, R_qs, c, eye_s, eye_q):  # -> (R_sq addition, R_ss addition)
        return clean(norm(R_ss, eye_s).T @ (c @ norm(R_qq, eye_q))), clean(c @ R_qs)

    mt, mi = 0, n_text
    for _ in range(n_l):
        R_tt, R_ti = self_rule(R_tt, R_ti, cams[mt]); mt += 1
    for _ in range(n_r):
        R_ii, R_it = self_rule(R_ii, R_it, cams[mi]); mi += 1
    for x in range(n_x):
        add_ti, add_tt = cross(R_tt, R_ii, R_it, cams[mt], eye_t, eye_i); mt += 1
        if x + 1 == n_x:
            R_ti, R_tt = R_ti + add_ti, R_tt + add_tt
            R_tt, R_ti = self_rule(R_tt, R_ti, cams[mt]); mt += 1
            break
        add_it, add_ii = cross(R_ii, R_tt, R_ti, cams[mi], eye_i, eye_t); mi += 1
        R_ti, R_tt, R_it, R_ii = R_ti + add_ti, R_tt + add_tt, R_it + add_it, R_ii + add_ii
        R_tt, R_ti = self_rule(R_tt, R_ti, cams[mt]); mt += 1
        R_ii, R_it = self_rule(R_ii, R_it, cams[mi]); mi += 1
    R_tt = R_tt.copy()
    R_tt[0, 0] = 0
    return R_tt[0].sum() + R_ti[0].sum()


def rollout_scores(maps, f_of_cams):
    """Head shares sum(A_h df/dA_h) / f by the complex step on each head in turn."""
    f = f_of_cams([a.mean(0) for a in maps]).real
    out = np.zeros((len(maps), maps[0].shape[0]))
    for m, a in enumerate(maps):
        for h in range(a.shape[0]):
            pert = [x.astype(np.complex128) for x in maps]
            pert[m][h] = pert[m][h] * (1 + 1j * EPS)
            out[m, h] = f_of_cams([x.mean(0) for x in pert]).imag / EPS / f
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "tests/data/scorers/reference.h5"))
    args = ap.parse_args()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with h5py.File(args.out, "w", libver="earliest", track_order=True) as out:
        out.attrs["generator"] = "tools/make_scorer_refs.py"
        out.attrs["methods"] = "attention\nrollout"
        for family in ("lxmert", "visualbert"):
            ref = h5py.File(os.path.join(ROOT, "tests/data", family, "reference.h5"), "r")
            cfg = __import__("json").loads(ref.attrs["config_json"])
            n = int(ref.attrs["n_samples"])
            for i in range(n):
                s = ref["sample_%03d" % i]
                mods = sorted(s["modules"].keys())
                maps = [s["modules"][k]["attn"][()] for k in mods]
                if family == "lxmert":
                    f_of = lambda c: lxmert_f(c, cfg["l_layers"], cfg["r_layers"], cfg["x_layers"])
                else:
                    cls = int(s.attrs["n_text_tokens"]) - 2
                    f_of = lambda c, cls=cls: visualbert_f(c, cls)
                g = out.create_group("%s/sample_%03d" % (family, i))
                for name, head in (("attention", attention_scores(maps)), ("rollout", rollout_scores(maps, f_of))):
                    g.create_dataset(name + "_head", data=head.astype(np.float64), track_times=False)
                    g.create_dataset(name + "_layer", data=head.mean(1).astype(np.float64), track_times=False)
            out[family].attrs["n_samples"] = n
            out[family].attrs["source"] = "tests/data/%s/reference.h5" % family


if __name__ == "__main__":
    main()
