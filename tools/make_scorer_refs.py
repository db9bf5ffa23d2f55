#!/usr/bin/env python3
"""Reference scores of the 'attention', 'rollout' and 'attnlrp' scoring methods (tests/data/scorers/).

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

- attnlrp: AttnLRP (Achtibat et al. 2024) from the fixture models' weights (model.safetensors)
  and the samples' inputs: a numpy forward, then the paper's rules applied module by module as
  explicit sums over contributions (see the 'attnlrp' section below), checked against the
  complex step of the modified forward. Head score = mean relevance of the head's attention
  probabilities.

Layer scores are the means over heads. Not run by CI:

    python3 tools/make_scorer_refs.py            # writes tests/data/scorers/reference.h5
"""
import argparse
import json
import math
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


# ---- attnlrp -------------------------------------------------------------------------------
# AttnLRP (Achtibat et al. 2024) on the fixture models, in numpy, two ways:
#  1. explicit relevance propagation, module by module, with the paper's rules written as sums
#     over the contributions z_ij of each input to each output (attnlrp_explicit);
#  2. the complex step through the "modified" forward whose derivative is the rules' relevance
#     divided by the activation (attnlrp_complex_step): the standard deviations of LayerNorm and
#     the ratios f(x)/x of the nonlinearities are taken from the real part (a constant of the
#     derivative), each product of two activations P becomes P/2 + Re(P)/2, and head h of module
#     m gets A_h -> A_h (1 + i eps), so Im logit / eps = sum of A_h * dlogit/dA_h = the head's
#     relevance summed.
# The generator checks that both agree and writes (1).


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    types = {"F64": np.float64, "F32": np.float32, "I64": np.int64}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + a:8 + n + b], dtype=types[info["dtype"]]).reshape(info["shape"])
    return out


_erf = np.vectorize(math.erf)


def gelu_real(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def sdiv(a, b):
    """a / b, 0 where b = 0 (the explicit rules' stabiliser, eps -> 0)."""
    return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))


class Run:
    """One forward of a fixture model. cs = None: real, recording what the explicit rules read.
    cs = (module, head): complex step on that head's probabilities."""

    def __init__(self, P, eps, cs=None):
        self.P, self.eps, self.cs = P, eps, cs
        self.module = 0  # the next scored module (the caller sets it before each scored attention)

    # -- building blocks (x: [T, d]) --
    def linear(self, x, name):
        W, b = self.P[name + ".weight"], self.P[name + ".bias"]
        return x @ W.T + b, {"x": x, "W": W, "b": b}

    def layer_norm(self, x, name):
        w, b = self.P[name + ".weight"], self.P[name + ".bias"]
        xc = x - x.mean(-1, keepdims=True)
        sd = np.sqrt((np.real(xc) ** 2).mean(-1, keepdims=True) + self.eps)  # a constant of the rules
        y = xc / sd * w + b
        return y, {"x": x, "w": w, "b": b, "sd": sd, "y": y}

    def nonlinearity(self, x, f):
        r = np.real(x)
        ratio = sdiv(f(r), r)  # identity rule: f(x)/x a constant
        return x * ratio if self.cs else f(x)

    def product(self, p):
        return 0.5 * p + 0.5 * np.real(p) if self.cs else p  # uniform rule

    def attention(self, xq, xkv, prefix, mask_add, scored):
        H = self.P["heads"]
        q, cq = self.linear(xq, prefix + ".query")
        k, ck = self.linear(xkv, prefix + ".key")
        v, cv = self.linear(xkv, prefix + ".value")
        split = lambda t: t.reshape(t.shape[0], H, -1).transpose(1, 0, 2)  # [H, T, dh]
        qh, kh, vh = split(q), split(k), split(v)
        dh = qh.shape[-1]
        S = self.product(qh @ kh.transpose(0, 2, 1))
        scores = S / math.sqrt(dh)
        x = scores + mask_add
        e = np.exp(x - np.real(x).max(-1, keepdims=True))
        A = e / e.sum(-1, keepdims=True)
        if self.cs and scored and self.cs[0] == self.module:
            A = A.astype(np.complex128)
            A[self.cs[1]] = A[self.cs[1]] * (1 + 1j * EPS)
        O = self.product(A @ vh)
        ctx = O.transpose(1, 0, 2).reshape(xq.shape[0], -1)
        cache = {"cq": cq, "ck": ck, "cv": cv, "q": qh, "k": kh, "v": vh, "S": S, "scores": scores, "x": x,
                 "A": A, "O": O, "module": self.module if scored else None, "mask_add": mask_add}
        if scored:
            self.module += 1
        return ctx, cache

    def residual(self, x, res, prefix):  # LN(dense(x) + res)
        z, cd = self.linear(x, prefix + ".dense")
        s = z + res
        y, cn = self.layer_norm(s, prefix + ".LayerNorm")
        return y, {"cd": cd, "z": z, "res": res, "cn": cn}

    def ffn(self, x, inter, out):
        i, ci = self.linear(x, inter + ".dense")
        g = self.nonlinearity(i, gelu_real)
        y, cr = self.residual(g, x, out)
        return y, {"ci": ci, "cr": cr}

    def self_att(self, x, prefix, mask_add, att="self"):
        ctx, ca = self.attention(x, x, prefix + "." + att, mask_add, True)
        y, cr = self.residual(ctx, x, prefix + ".output")
        return y, {"ca": ca, "cr": cr}


# -- the explicit rules (relevance R of an output -> relevance of the inputs) --
def rp_contributions(R_y, z, y):
    """Epsilon rule (eps -> 0) over contributions z[..., i, j] of input i to output j (the bias,
    if any, is in y and absorbs its share): R_i = sum_j z_ij / y_j R_j."""
    return (z * sdiv(R_y, y)[..., None, :]).sum(-1)


def rp_linear(R_y, c):
    z = c["x"][:, :, None] * c["W"].T[None, :, :]  # [T, in, out]
    return rp_contributions(R_y, z, z.sum(1) + c["b"])


def rp_layer_norm(R_y, c):
    # Identity rule on the normalisation: y = A x + b with A = diag(w) (I - 1/D) / sd, sd constant.
    D = c["x"].shape[-1]
    A = c["w"][None, :, None] * (np.eye(D) - 1.0 / D)[None] / c["sd"][:, :, None]  # [T, out, in]
    z = c["x"][:, :, None] * A.transpose(0, 2, 1)  # [T, in, out]
    return rp_contributions(R_y, z, c["y"])


def rp_sum(R, a, b):
    s = a + b
    return a * sdiv(R, s), b * sdiv(R, s)


def rp_attention(R_ctx, c, relevance_of_modules):
    H = c["A"].shape[0]
    R_O = R_ctx.reshape(R_ctx.shape[0], H, -1).transpose(1, 0, 2)  # [H, Q, dh]
    # O[h,q,d] = sum_k A[h,q,k] V[h,k,d]: epsilon rule over the k terms, uniform rule on each product.
    z = c["A"][:, :, :, None] * c["v"][:, None, :, :]  # [H, Q, K, dh]
    R_z = z * sdiv(R_O, c["O"])[:, :, None, :]
    R_A, R_V = 0.5 * R_z.sum(-1), 0.5 * R_z.sum(1)
    if c["module"] is not None:
        relevance_of_modules[c["module"]] = R_A
    # Softmax: the linearisation rule (Proposition 3.1).
    A = c["A"]
    R_x = c["x"] * (R_A - A * R_A.sum(-1, keepdims=True))
    R_scores = c["scores"] * sdiv(R_x, c["x"])  # the additive mask keeps the rest
    R_S = R_scores  # scaling by 1/sqrt(dh): linear, no bias
    # S[h,q,k] = sum_d q[h,q,d] k[h,k,d]: epsilon rule over d, uniform rule on each product.
    z = c["q"][:, :, None, :] * c["k"][:, None, :, :]  # [H, Q, K, dh]
    R_z = z * sdiv(R_S, c["S"])[..., None]
    R_q, R_k = 0.5 * R_z.sum(2), 0.5 * R_z.sum(1)
    merge = lambda t: t.transpose(1, 0, 2).reshape(t.shape[1], -1)
    R_xq = rp_linear(merge(R_q), c["cq"])
    R_xkv = rp_linear(merge(R_k), c["ck"]) + rp_linear(merge(R_V), c["cv"])
    return R_xq, R_xkv


def rp_residual(R_y, c):  # -> (R of dense input, R of residual)
    R_s = rp_layer_norm(R_y, c["cn"])
    R_z, R_res = rp_sum(R_s, c["z"], c["res"])
    return rp_linear(R_z, c["cd"]), R_res


def rp_ffn(R_y, c):
    R_g, R_res = rp_residual(R_y, c["cr"])
    R_i = R_g  # GELU: identity rule
    return rp_linear(R_i, c["ci"]) + R_res


def rp_self_att(R_y, c, rel):
    R_ctx, R_res = rp_residual(R_y, c["cr"])
    R_q, R_kv = rp_attention(R_ctx, c["ca"], rel)
    return R_q + R_kv + R_res


def additive_mask(mask01):
    return ((1.0 - mask01.astype(np.float64)) * -10000.0)[None, None, :]


def lxmert_forward(P, cfg, s, cs=None):
    run = Run(P, cfg["layer_norm_eps"], cs)
    ids, tt = s["inputs/input_ids"][()][0], s["inputs/token_type_ids"][()][0]
    mask = s["inputs/attention_mask"][()][0]
    feats, boxes = s["inputs/visual_feats"][()][0], s["inputs/visual_pos"][()][0]
    e = "lxmert.embeddings."
    emb = P[e + "word_embeddings.weight"][ids] + P[e + "position_embeddings.weight"][np.arange(len(ids))] + \
        P[e + "token_type_embeddings.weight"][tt]
    lang, _ = run.layer_norm(emb, e + "LayerNorm")
    v = "lxmert.encoder.visn_fc."
    visn = (run.layer_norm(run.linear(feats, v + "visn_fc")[0], v + "visn_layer_norm")[0] +
            run.layer_norm(run.linear(boxes, v + "box_fc")[0], v + "box_layer_norm")[0]) / 2
    inputs = (lang, visn)
    lang_mask, visn_mask = additive_mask(mask), 0.0
    n_l, n_x, n_r = cfg["l_layers"], cfg["x_layers"], cfg["r_layers"]
    n_text = n_l + 2 * n_x
    caches = {"lang": [], "rel": [], "x": []}
    run.module = 0
    for i in range(n_l):
        p = "lxmert.encoder.layer.%d" % i
        lang, ca = run.self_att(lang, p + ".attention", lang_mask)
        lang, cf = run.ffn(lang, p + ".intermediate", p + ".output")
        caches["lang"].append((ca, cf))
    text_modules_after_l = run.module
    run.module = n_text
    for i in range(n_r):
        p = "lxmert.encoder.r_layers.%d" % i
        visn, ca = run.self_att(visn, p + ".attention", visn_mask)
        visn, cf = run.ffn(visn, p + ".intermediate", p + ".output")
        caches["rel"].append((ca, cf))
    mt, mi = text_modules_after_l, run.module
    for i in range(n_x):
        p = "lxmert.encoder.x_layers.%d" % i
        last = i + 1 == n_x
        c = {}
        run.module = mt
        lang_ctx, c["lang_cross"] = run.attention(lang, visn, p + ".visual_attention.att", visn_mask, True)
        lang_att, c["lang_cross_out"] = run.residual(lang_ctx, lang, p + ".visual_attention.output")
        mt += 1
        if not last:  # the last layer's vision stream never reaches the answer
            run.module = mi
            visn_ctx, c["visn_cross"] = run.attention(visn, lang, p + ".visual_attention.att", lang_mask, True)
            visn_att, c["visn_cross_out"] = run.residual(visn_ctx, visn, p + ".visual_attention.output")
            mi += 1
        run.module = mt
        lang, c["lang_self"] = run.self_att(lang_att, p + ".lang_self_att", lang_mask)
        mt += 1
        lang, c["lang_ffn"] = run.ffn(lang, p + ".lang_inter", p + ".lang_output")
        if not last:
            run.module = mi
            visn, c["visn_self"] = run.self_att(visn_att, p + ".visn_self_att", visn_mask)
            mi += 1
            visn, c["visn_ffn"] = run.ffn(visn, p + ".visn_inter", p + ".visn_output")
        caches["x"].append(c)
    first = lang[0:1]
    pre, c_pool = run.linear(first, "lxmert.pooler.dense")
    pooled = run.nonlinearity(pre, np.tanh)
    h0, c_fc0 = run.linear(pooled, "answer_head.logit_fc.0")
    h1 = run.nonlinearity(h0, gelu_real)
    h2, c_norm = run.layer_norm(h1, "answer_head.logit_fc.2")
    logits, c_fc3 = run.linear(h2, "answer_head.logit_fc.3")
    caches.update(pool=c_pool, fc0=c_fc0, norm=c_norm, fc3=c_fc3, n_tokens=len(ids))
    return logits[0], caches, inputs


def lxmert_relprop(caches, target, n_modules, R_logit):
    rel = [None] * n_modules
    R = np.zeros((1, caches["fc3"]["W"].shape[0]))
    R[0, target] = R_logit
    R = rp_linear(R, caches["fc3"])
    R = rp_layer_norm(R, caches["norm"])
    R = rp_linear(R, caches["fc0"])  # GELU: identity
    R = rp_linear(R, caches["pool"])  # tanh: identity
    R_lang = np.zeros((caches["n_tokens"], R.shape[1]))
    R_lang[0] = R[0]
    R_visn = 0.0
    for i in reversed(range(len(caches["x"]))):
        c = caches["x"][i]
        R_lang = rp_ffn(R_lang, c["lang_ffn"])
        R_lang_att = rp_self_att(R_lang, c["lang_self"], rel)
        R_ctx, R_lang_in = rp_residual(R_lang_att, c["lang_cross_out"])
        R_q, R_kv = rp_attention(R_ctx, c["lang_cross"], rel)
        R_lang_in = R_lang_in + R_q
        R_visn_in = R_kv
        if "visn_ffn" in c:
            R_visn = rp_ffn(R_visn, c["visn_ffn"])
            R_visn_att = rp_self_att(R_visn, c["visn_self"], rel)
            R_ctx, R_res = rp_residual(R_visn_att, c["visn_cross_out"])
            R_q, R_kv = rp_attention(R_ctx, c["visn_cross"], rel)
            R_visn_in = R_visn_in + R_res + R_q
            R_lang_in = R_lang_in + R_kv
        R_lang, R_visn = R_lang_in, R_visn_in
    for ca, cf in reversed(caches["rel"]):
        R_visn = rp_self_att(rp_ffn(R_visn, cf), ca, rel)
    for ca, cf in reversed(caches["lang"]):
        R_lang = rp_self_att(rp_ffn(R_lang, cf), ca, rel)
    return rel, (R_lang, R_visn)


def visualbert_forward(P, cfg, s, cs=None):
    run = Run(P, cfg["layer_norm_eps"], cs)
    mi = "model_inputs/"
    ids, tt = s[mi + "input_ids"][()][0], s[mi + "token_type_ids"][()][0]
    tmask, rmask = s[mi + "input_mask"][()][0], s[mi + "image_mask"][()][0]
    feats = s[mi + "visual_embeddings"][()][0]
    e = "model.bert.embeddings."
    text = P[e + "word_embeddings.weight"][ids] + P[e + "position_embeddings.weight"][np.arange(len(ids))] + \
        P[e + "token_type_embeddings.weight"][tt]
    visual = run.linear(feats, e + "projection")[0] + P[e + "position_embeddings_visual.weight"][0] + \
        P[e + "token_type_embeddings_visual.weight"][0]
    h, _ = run.layer_norm(np.concatenate([text, visual]), e + "LayerNorm")
    inputs = (h,)
    mask = additive_mask(np.concatenate([tmask, rmask]))
    caches = {"layers": []}
    for i in range(cfg["num_hidden_layers"]):
        p = "model.bert.encoder.layer.%d" % i
        ctx, ca = run.attention(h, h, p + ".attention.self", mask, True)
        a, cr = run.residual(ctx, h, p + ".attention.output")
        h, cf = run.ffn(a, p + ".intermediate", p + ".output")
        caches["layers"].append(({"ca": ca, "cr": cr}, cf))
    index = int(tmask.sum()) - 2  # the last question token before [SEP]
    pooled = h[index:index + 1]
    d, c_dense = run.linear(pooled, "model.classifier.0.dense")
    g = run.nonlinearity(d, gelu_real)
    t, c_norm = run.layer_norm(g, "model.classifier.0.LayerNorm")
    logits, c_cls = run.linear(t, "model.classifier.1")
    caches.update(dense=c_dense, norm=c_norm, cls=c_cls, index=index, n=h.shape[0])
    return logits[0], caches, inputs


def visualbert_relprop(caches, target, n_modules, R_logit):
    rel = [None] * n_modules
    R = np.zeros((1, caches["cls"]["W"].shape[0]))
    R[0, target] = R_logit
    R = rp_linear(R, caches["cls"])
    R = rp_layer_norm(R, caches["norm"])
    R = rp_linear(R, caches["dense"])  # GELU: identity
    R_h = np.zeros((caches["n"], R.shape[1]))
    R_h[caches["index"]] = R[0]
    for c_att, cf in reversed(caches["layers"]):
        R_h = rp_self_att(rp_ffn(R_h, cf), c_att, rel)
    return rel, (R_h,)


def attnlrp_sample(family, P, cfg, s, n_modules):
    """-> head [M, H], layer [M], logit, sum of the encoder inputs' relevance, max |explicit - complex step|."""
    fwd, rp = (lxmert_forward, lxmert_relprop) if family == "lxmert" else (visualbert_forward, visualbert_relprop)
    logits, caches, inputs = fwd(P, cfg, s)
    stored = s["logits_nolrp" if family == "lxmert" else "logits"][()][0]  # the seed's forward
    assert np.abs(logits - stored).max() < 1e-10 * max(1.0, np.abs(stored).max()), (family, "forward differs")
    target = int(np.argmax(logits))
    assert target == int(s.attrs["pred_index"]), (family, "explained answer")
    # The relevance starts as the explained logit itself (R = logit at the target, 0 elsewhere).
    rel, R_in = rp(caches, target, n_modules, logits[target])
    head = np.stack([r.mean((1, 2)) for r in rel])
    layer = np.array([r.mean() for r in rel])
    worst = 0.0
    for m in range(n_modules):
        for h in range(P["heads"]):
            f = fwd(P, cfg, s, cs=(m, h))[0][target]
            cs_sum = f.imag / EPS  # sum over (q, k) of A * dF/dA for head h (the modified derivative)
            scale = max(np.abs(rel[m][h]).sum(), 1e-300)
            worst = max(worst, abs(cs_sum - rel[m][h].sum()) / scale)
    return head, layer, logits[target], sum(r.sum() for r in R_in), worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "tests/data/scorers/reference.h5"))
    args = ap.parse_args()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with h5py.File(args.out, "w", libver="earliest", track_order=True) as out:
        out.attrs["generator"] = "tools/make_scorer_refs.py"
        out.attrs["methods"] = "attention\nrollout\nattnlrp"
        for family in ("lxmert", "visualbert"):
            ref = h5py.File(os.path.join(ROOT, "tests/data", family, "reference.h5"), "r")
            cfg = json.loads(ref.attrs["config_json"])
            model_dir = os.path.join(ROOT, "tests/data", family)
            P = read_safetensors(os.path.join(model_dir, "model.safetensors"))
            model_cfg = json.load(open(os.path.join(model_dir, "config.json")))
            P["heads"] = model_cfg["num_attention_heads"]
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
                head, layer, logit, input_sum, worst = attnlrp_sample(family, P, model_cfg, s, len(mods))
                assert worst < 1e-9, ("attnlrp: explicit rules and complex step disagree", family, i, worst)
                assert np.allclose(head.mean(1), layer, rtol=1e-12, atol=0)  # every pair of a module is real
                g.create_dataset("attnlrp_head", data=head, track_times=False)
                g.create_dataset("attnlrp_layer", data=layer, track_times=False)
                # What reaches the encoder's inputs (the rest stays in biases and the softmax's bias term).
                g.create_dataset("attnlrp_logit", data=np.float64(logit), track_times=False)
                g.create_dataset("attnlrp_input_relevance", data=np.float64(input_sum), track_times=False)
                print("%s sample %d: logit %.6g, input relevance %.6g, explicit vs complex step %.2g"
                      % (family, i, logit, input_sum, worst))
            out[family].attrs["n_samples"] = n
            out[family].attrs["source"] = "tests/data/%s/reference.h5" % family


if __name__ == "__main__":
    main()
