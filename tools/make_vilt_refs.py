#!/usr/bin/env python3
"""Golden reference data for the ViLT port (tests/data/vilt/).

A tiny random-weight `ViltForQuestionAnswering` (Hugging Face transformers) and its
`ViltImageProcessor`, transcribed into plain torch / numpy / Pillow (transformers itself is not
installed here; the files and commits transcribed are listed in TRANSCRIBED_FROM and in the
README). Writes config.json, preprocessor_config.json, vocab.txt, model.safetensors, images/ and
reference.h5: processor outputs, the forward's intermediates, attention maps and their gradients,
the head scores, a relevance map and pruned forwards, all float64. Everything is computed twice
more to size the tolerances (a float32 run from the same random numbers, and a float64 run with
the patches embedded by matmul and fed in a shuffled order, as HF itself does). Not run by CI:

    python3 tools/make_vilt_refs.py            # writes tests/data/vilt/
"""
import argparse
import collections
import json
import math
import os
import platform
import shutil
import unicodedata

import h5py
import numpy as np
import PIL
import PIL.features
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from vilt_processor import preprocess  # tools/, beside this script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests/data/vilt")

TRANSCRIBED_FROM = [
    "huggingface/transformers@0096ba4f66d4f5f7b1d4e162f8a75d0894b40ea8:src/transformers/models/vilt/modeling_vilt.py",
    "huggingface/transformers@06053b84c14d72e9789fbf27844a75aa89b3ded7:src/transformers/models/vilt/image_processing_vilt.py",
    "huggingface/transformers@000593ad84f26043f62917c541c57c4b71b9bc94:src/transformers/image_transforms.py",
    "huggingface/transformers@0c654085fb6ab4312e84c904035190a4277596a1:src/transformers/models/vilt/processing_vilt.py",
    "python-pillow/Pillow@01f132fb086af790cbd67cfb0ad9aaac607ef567:src/libImaging/Resample.c",
]

# 12 real VQA answers (the VisualBERT fixture's list).
ANSWERS = ["yes", "no", "2", "1", "white", "3", "red", "blue", "0", "black", "green", "cat"]

CONFIG = collections.OrderedDict([
    ("architectures", ["ViltForQuestionAnswering"]),
    ("attention_probs_dropout_prob", 0.0),
    ("hidden_act", "gelu"),
    ("hidden_dropout_prob", 0.0),
    ("hidden_size", 32),
    ("id2label", {str(i): a for i, a in enumerate(ANSWERS)}),
    ("image_size", 32),
    ("initializer_range", 0.02),
    ("intermediate_size", 64),
    ("label2id", {a: i for i, a in enumerate(ANSWERS)}),
    ("layer_norm_eps", 1e-12),
    ("max_image_length", -1),
    ("max_position_embeddings", 24),
    ("modality_type_vocab_size", 2),
    ("model_type", "vilt"),
    ("num_attention_heads", 4),
    ("num_channels", 3),
    ("num_hidden_layers", 3),
    ("num_images", -1),
    ("patch_size", 8),
    ("qkv_bias", True),
    ("tie_word_embeddings", False),
    ("torch_dtype", "float64"),
    ("type_vocab_size", 2),
    ("vocab_size", None),  # = lines of vocab.txt
])

# dandelin/vilt-b32-finetuned-vqa has shortest_edge 384 = image_size, size_divisor 32 = patch_size;
# here both are scaled down by the same factor 12 / 4 (image_size 32, patch 8).
PREPROCESSOR = collections.OrderedDict([
    ("do_normalize", True),
    ("do_pad", True),
    ("do_rescale", True),
    ("do_resize", True),
    ("image_mean", [0.5, 0.5, 0.5]),
    ("image_processor_type", "ViltImageProcessor"),
    ("image_std", [0.5, 0.5, 0.5]),
    ("processor_class", "ViltProcessor"),
    ("resample", 3),
    ("rescale_factor", 0.00392156862745098),
    ("size", {"shortest_edge": 32}),
    ("size_divisor", 8),
])

# (COCO id, width, height, PIL mode); sizes chosen so that the processor downscales with the
# longer-edge cap (42 landscape, 73 tall) and upscales a grayscale image (1001).
IMAGES = [(42, 100, 60, "RGB"), (73, 41, 130, "RGB"), (1001, 24, 30, "L")]
JPEG = (99, 40, 28, 90)  # id, width, height, quality
SAMPLES = [
    ("What color is the bus?", 42),
    ("How many giraffes are there in this picture?", 73),
    ("Is the woman sitting near the tall fence?", 1001),
    ("Which HAND is holding the pizza: left or right?", 73),
]
SEED = 20261204
EPS_CS = 1e-30  # complex-step size (float64 only)


def coco_name(img_id, ext):
    return "COCO_val2014_%012d.%s" % (img_id, ext)


# ---- images -----------------------------------------------------------------------------------
def make_image(w, h, mode, rng):
    """Smooth gradients + noise + a few shapes, uint8."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    chans = []
    for c in range(3):
        a, b, ph = rng.uniform(-1, 1, 3)
        g = 128 + 70 * np.sin(a * x / 9 + b * y / 7 + 3 * ph) + rng.normal(0, 12, (h, w))
        chans.append(g)
    arr = np.clip(np.stack(chans, -1), 0, 255).astype(np.uint8)
    img = Image.fromarray(arr, "RGB")
    d = ImageDraw.Draw(img)
    for _ in range(3):
        x0, y0 = int(rng.integers(0, w - 4)), int(rng.integers(0, h - 4))
        x1, y1 = x0 + int(rng.integers(3, max(4, w // 2))), y0 + int(rng.integers(3, max(4, h // 2)))
        col = tuple(int(v) for v in rng.integers(0, 256, 3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)([x0, y0, x1, y1], fill=col)
    return img.convert(mode)


# ---- ViltImageProcessor: tools/vilt_processor.py (shared with tests/support/make_image_golden.py)


def pillow_bicubic(src, out_h, out_w):
    """Pillow's 8-bit BICUBIC resample (Resample.c) in numpy: separable, horizontal pass first,
    normalised double weights quantised to 22-bit integers, each pass rounded and clipped to uint8.
    A second computation of `resized`, for the README's description of it."""
    PB = 22

    def coeffs(in_size, out_size):
        scale = in_size / out_size
        fscale = max(scale, 1.0)
        support = 2.0 * fscale
        rows = []
        for xx in range(out_size):
            center = (xx + 0.5) * scale
            xmin = max(int(center - support + 0.5), 0)
            xmax = min(int(center + support + 0.5), in_size)
            t = np.abs((np.arange(xmin, xmax) - center + 0.5) / fscale)
            a = -0.5
            w = np.where(t < 1, ((a + 2) * t - (a + 3)) * t * t + 1,
                         np.where(t < 2, (((t - 5) * t + 8) * t - 4) * a, 0.0))
            w = w / w.sum() if w.sum() != 0 else w
            k = np.where(w < 0, np.trunc(-0.5 + w * (1 << PB)), np.trunc(0.5 + w * (1 << PB))).astype(np.int64)
            rows.append((xmin, k))
        return rows

    def apply(img, rows, axis):
        img = np.moveaxis(img.astype(np.int64), axis, 0)
        out = np.empty((len(rows),) + img.shape[1:], np.int64)
        for i, (lo, k) in enumerate(rows):
            acc = (1 << (PB - 1)) + np.tensordot(k, img[lo:lo + len(k)], axes=(0, 0))
            out[i] = np.clip(acc >> PB, 0, 255)
        return np.moveaxis(out, 0, axis)

    x = src
    if out_w != src.shape[1]:
        x = apply(x, coeffs(src.shape[1], out_w), 1)
    if out_h != src.shape[0]:
        x = apply(x, coeffs(src.shape[0], out_h), 0)
    return x.astype(np.uint8)


def cut_patches(pv, p):
    """[3, H, W] -> [P, 3 p p]: patch k = i * grid_w + j, each flattened (channel, y, x)."""
    c, H, W = pv.shape
    gh, gw = H // p, W // p
    return pv.reshape(c, gh, p, gw, p).transpose(1, 3, 0, 2, 4).reshape(gh * gw, c * p * p)


def patch_boxes(H, W, p):
    f = np.float32
    gh, gw = H // p, W // p
    out = np.zeros((gh * gw, 4), np.float32)
    for i in range(gh):
        for j in range(gw):
            out[i * gw + j] = [f(j * p) / f(W), f(i * p) / f(H), f((j + 1) * p) / f(W), f((i + 1) * p) / f(H)]
    return out.astype(np.float64)


# ---- BERT uncased WordPiece (BertTokenizer, do_lower_case=True) --------------------------------
def is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def tokenize(text, vocab):
    words = []
    for w in text.split():
        w = "".join(c for c in unicodedata.normalize("NFD", w.lower()) if unicodedata.category(c) != "Mn")
        cur = ""
        for c in w:
            if is_punct(c):
                words += [cur] if cur else []
                words.append(c)
                cur = ""
            else:
                cur += c
        words += [cur] if cur else []
    tokens = []
    for w in words:
        start, pieces = 0, []
        while start < len(w):
            end = len(w)
            while end > start:
                piece = ("##" if start else "") + w[start:end]
                if piece in vocab:
                    break
                end -= 1
            if end == start:
                pieces = ["[UNK]"]
                break
            pieces.append(piece)
            start = end
        tokens += pieces
    return ["[CLS]"] + tokens + ["[SEP]"]


# ---- weights ----------------------------------------------------------------------------------
def make_weights(cfg):
    """HF state_dict names and shapes; float32 draws stored as float64 (float32-representable)."""
    g = torch.Generator().manual_seed(SEED)
    d, I, L = cfg["hidden_size"], cfg["intermediate_size"], len(ANSWERS)
    p, c = cfg["patch_size"], cfg["num_channels"]
    n_pos = (cfg["image_size"] // p) ** 2 + 1
    P = collections.OrderedDict()

    def randn(shape, std, mean=0.0):
        return (torch.randn(*shape, generator=g, dtype=torch.float32) * std + mean).double()

    def linear(name, n_out, n_in):
        P[name + ".weight"] = randn((n_out, n_in), 0.30)
        P[name + ".bias"] = randn((n_out,), 0.05)

    def layer_norm(name, n):
        P[name + ".weight"] = randn((n,), 0.05, 1.0)
        P[name + ".bias"] = randn((n,), 0.05)

    e = "vilt.embeddings."
    P[e + "cls_token"] = randn((1, 1, d), 1.0)
    P[e + "position_embeddings"] = randn((1, n_pos, d), 0.5)
    P[e + "text_embeddings.word_embeddings.weight"] = randn((cfg["vocab_size"], d), 1.0)
    P[e + "text_embeddings.position_embeddings.weight"] = randn((cfg["max_position_embeddings"], d), 1.0)
    P[e + "text_embeddings.token_type_embeddings.weight"] = randn((cfg["type_vocab_size"], d), 1.0)
    layer_norm(e + "text_embeddings.LayerNorm", d)
    P[e + "patch_embeddings.projection.weight"] = randn((d, c, p, p), 0.10)
    P[e + "patch_embeddings.projection.bias"] = randn((d,), 0.05)
    P[e + "token_type_embeddings.weight"] = randn((cfg["modality_type_vocab_size"], d), 1.0)
    for i in range(cfg["num_hidden_layers"]):
        b = "vilt.encoder.layer.%d." % i
        for n in ("query", "key", "value"):
            linear(b + "attention.attention." + n, d, d)
        linear(b + "attention.output.dense", d, d)
        linear(b + "intermediate.dense", I, d)
        linear(b + "output.dense", d, I)
        layer_norm(b + "layernorm_before", d)
        layer_norm(b + "layernorm_after", d)
    layer_norm("vilt.layernorm", d)
    linear("vilt.pooler.dense", d, d)
    linear("classifier.0", 2 * d, d)
    layer_norm("classifier.1", 2 * d)
    linear("classifier.3", L, 2 * d)
    return P


def write_safetensors(path, tensors, metadata):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = tensors[name].detach().cpu().numpy().astype("<f8")
        header[name] = {"dtype": "F64", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))


def read_safetensors(path):
    data = open(path, "rb").read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name != "__metadata__":
            a, b = info["data_offsets"]
            out[name] = np.frombuffer(data[8 + n + a:8 + n + b], dtype="<f8").reshape(info["shape"])
    return out


# ---- ViltForQuestionAnswering.forward (eval mode, max_image_length = -1, batch of one) ---------
def layer_norm(x, P, name, eps):
    return F.layer_norm(x, x.shape[-1:], P[name + ".weight"], P[name + ".bias"], eps)


def linear(x, P, name):
    return F.linear(x, P[name + ".weight"], P[name + ".bias"])


def vilt_forward(P, cfg, ids, pixel_values, keep=None, perm=None, embed="conv"):
    """ids [T] int64, pixel_values [3, H, W] (the weights' dtype). keep: [layers, heads] multiplies
    each head's probabilities right after the softmax. perm: the order in which the patches are fed
    (HF: a random permutation, see README); the outputs then come in that order, and out["inv"]
    indexes them back to row-major order (unpermute).
    embed: 'conv' (HF's Conv2d) or 'matmul' (the flattened patches times the reshaped kernel)."""
    d, H = cfg["hidden_size"], cfg["num_attention_heads"]
    p, eps = cfg["patch_size"], cfg["layer_norm_eps"]
    dt = P["vilt.layernorm.weight"].dtype
    e = "vilt.embeddings."
    T = ids.shape[0]
    # Text: BERT embeddings (word + segment type + position, LayerNorm), then the modality type 0.
    tt = torch.zeros_like(ids)
    text = P[e + "text_embeddings.word_embeddings.weight"][ids] + \
        P[e + "text_embeddings.token_type_embeddings.weight"][tt]
    text = text + P[e + "text_embeddings.position_embeddings.weight"][torch.arange(T)]
    text = layer_norm(text, P, e + "text_embeddings.LayerNorm", eps)
    text = text + P[e + "token_type_embeddings.weight"][0]
    # Image: patch embedding, position table interpolated to the grid, [CLS] first, modality type 1.
    W = P[e + "patch_embeddings.projection.weight"]
    bias = P[e + "patch_embeddings.projection.bias"]
    gh, gw = pixel_values.shape[1] // p, pixel_values.shape[2] // p
    if embed == "conv":
        x = F.conv2d(pixel_values[None], W, bias, stride=p)[0]  # [d, gh, gw]
        x = x.flatten(1).t()
    else:
        patches = torch.from_numpy(cut_patches(pixel_values.detach().numpy(), p)).to(dt)
        x = patches @ W.reshape(d, -1).t() + bias
    n = cfg["image_size"] // p
    table = P[e + "position_embeddings"][0]  # [1 + n*n, d]
    grid = table[1:].t().reshape(1, d, n, n)
    pos = F.interpolate(grid, size=(gh, gw), mode="bilinear", align_corners=True)[0].flatten(1).t()
    order = torch.arange(gh * gw) if perm is None else torch.as_tensor(perm)
    img = torch.cat([P[e + "cls_token"][0], x[order]]) + torch.cat([table[:1], pos[order]])
    img = img + P[e + "token_type_embeddings.weight"][1]
    h = torch.cat([text, img])  # [N, d]
    N = h.shape[0]
    # Every token is real (batch of one, no padding): the additive mask is zero.
    mask = torch.zeros(N, dtype=dt)
    out = {"embedding_output": h, "attn": [], "layer_outputs": []}
    dh = d // H
    for i in range(cfg["num_hidden_layers"]):
        b = "vilt.encoder.layer.%d." % i
        a_in = layer_norm(h, P, b + "layernorm_before", eps)
        heads = lambda t: t.reshape(N, H, dh).transpose(0, 1)  # noqa: E731
        q = heads(linear(a_in, P, b + "attention.attention.query"))
        k = heads(linear(a_in, P, b + "attention.attention.key"))
        v = heads(linear(a_in, P, b + "attention.attention.value"))
        scores = q @ k.transpose(1, 2) / math.sqrt(dh) + mask
        probs = torch.softmax(scores, -1)
        if probs.requires_grad:
            probs.retain_grad()
        out["attn"].append(probs)
        if keep is not None:
            probs = probs * keep[i][:, None, None]
        ctx = (probs @ v).transpose(0, 1).reshape(N, d)
        h = h + linear(ctx, P, b + "attention.output.dense")
        m = F.gelu(linear(layer_norm(h, P, b + "layernorm_after", eps), P, b + "intermediate.dense"))
        h = h + linear(m, P, b + "output.dense")
        out["layer_outputs"].append(h)
    seq = layer_norm(h, P, "vilt.layernorm", eps)
    pooled = torch.tanh(linear(seq[0], P, "vilt.pooler.dense"))  # the text [CLS], token 0
    z = linear(pooled, P, "classifier.0")
    z = F.layer_norm(z, z.shape, P["classifier.1.weight"], P["classifier.1.bias"], 1e-5)  # nn.LayerNorm default eps
    z = F.gelu(z)
    out.update(last_hidden_state=seq, pooled_output=pooled, logits=linear(z, P, "classifier.3"))
    if perm is not None:  # back to row-major patch order
        idx = torch.cat([torch.arange(T + 1), T + 1 + torch.as_tensor(perm)])
        inv = torch.empty_like(idx)
        inv[idx] = torch.arange(N)
        out["inv"] = inv
    return out


def unpermute(out, key_seq, key_maps):
    """Token axis back to row-major patch order: [..., N, d] tensors and [H, N, N] maps."""
    inv = out["inv"]
    for k in key_seq:
        out[k] = out[k][..., inv, :]
    for k in key_maps:
        out[k] = [a[:, inv][:, :, inv] for a in out[k]]


# ---- scores -----------------------------------------------------------------------------------
def rollout_f(cams):
    n = cams[0].shape[0]
    R = np.eye(n, dtype=cams[0].dtype)
    for c in cams:
        R = R + c @ R
    return R[0].sum() - R[0, 0]


def rollout_complex_step(maps):
    f = rollout_f([a.mean(0) for a in maps]).real
    out = np.zeros((len(maps), maps[0].shape[0]))
    for m in range(len(maps)):
        for h in range(maps[0].shape[0]):
            pert = [x.astype(np.complex128) for x in maps]
            pert[m][h] = pert[m][h] * (1 + 1j * EPS_CS)
            out[m, h] = rollout_f([x.mean(0) for x in pert]).imag / EPS_CS / f
    return out


def rollout_autograd(maps):
    A = [torch.tensor(a, requires_grad=True) for a in maps]
    n = maps[0].shape[1]
    R = torch.eye(n, dtype=A[0].dtype)
    for a in A:
        R = R + a.mean(0) @ R
    f = R[0].sum() - R[0, 0]
    f.backward()
    return np.stack([(a.grad * a.detach()).sum((1, 2)).numpy() for a in A]) / f.item()


def explain(P, cfg, ids, pv, pred, perm=None, embed="conv", rollout="autograd"):
    """Unpruned forward + backward of logits[pred]: everything the fixture stores per sample."""
    # Weights that require grad make autograd track the whole graph (attention maps are not leaves).
    P = {k: v.detach().clone().requires_grad_(True) for k, v in P.items()}
    out = vilt_forward(P, cfg, ids, pv, perm=perm, embed=embed)
    out["logits"][pred].backward()
    r = {k: out[k].detach() for k in ("embedding_output", "last_hidden_state", "pooled_output", "logits")}
    r["layer_outputs"] = torch.stack([t.detach() for t in out["layer_outputs"]])
    r["attn"] = [a.detach() for a in out["attn"]]
    r["attn_grad"] = [a.grad.detach() for a in out["attn"]]
    if perm is not None:
        r["inv"] = out["inv"]
        unpermute(r, ("embedding_output", "last_hidden_state", "layer_outputs"), ("attn", "attn_grad"))
    attn = [a.numpy() for a in r["attn"]]
    grad = [g.numpy() for g in r["attn_grad"]]
    s = {}
    s["ours_head"] = np.stack([(g * a).mean((1, 2)) for a, g in zip(attn, grad)])
    s["ours_layer"] = np.array([(g * a).mean() for a, g in zip(attn, grad)])
    s["attention_head"] = np.stack([(a * a).sum(-1).mean(-1) for a in attn])
    s["attention_layer"] = s["attention_head"].mean(1)
    s["rollout_head"] = rollout_complex_step(attn) if rollout == "complex_step" else rollout_autograd(attn)
    s["rollout_layer"] = s["rollout_head"].mean(1)
    n = attn[0].shape[1]
    R = np.eye(n, dtype=attn[0].dtype)
    for a, g in zip(attn, grad):
        R = R + np.clip(g * a, 0, None).mean(0) @ R
    rel = R[0].copy()
    rel[0] = 0
    r["scores"], r["relevance"] = s, rel
    return r


def pruned_logits(P, cfg, ids, pv, keep, perm=None, embed="conv"):
    with torch.no_grad():
        return vilt_forward(P, cfg, ids, pv, keep=torch.as_tensor(keep, dtype=pv.dtype), perm=perm,
                            embed=embed)["logits"]


# ---- comparison bookkeeping -------------------------------------------------------------------
GROUPS = ["logits", "forward", "attn", "attn_grad", "scores_ours", "scores_attention", "scores_rollout",
          "relevance", "patch_embedding"]


class Diff:
    """Largest elementwise |a - b| and normwise ||a - b|| / ||b|| per quantity group."""

    def __init__(self):
        self.abs = dict.fromkeys(GROUPS, 0.0)
        self.norm = dict.fromkeys(GROUPS, 0.0)

    def add(self, group, a, b):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        self.abs[group] = max(self.abs[group], float(np.abs(a - b).max()))
        nb = np.linalg.norm(b)
        self.norm[group] = max(self.norm[group], float(np.linalg.norm(a - b) / nb) if nb > 0 else 0.0)

    def add_explained(self, a, b):
        for k in ("embedding_output", "layer_outputs", "last_hidden_state", "pooled_output"):
            self.add("forward", a[k], b[k])
        self.add("logits", a["logits"], b["logits"])
        for x, y in zip(a["attn"], b["attn"]):
            self.add("attn", x, y)
        for x, y in zip(a["attn_grad"], b["attn_grad"]):
            self.add("attn_grad", x, y)
        for k in ("ours_head", "ours_layer"):
            self.add("scores_ours", a["scores"][k], b["scores"][k])
        for k in ("attention_head", "attention_layer"):
            self.add("scores_attention", a["scores"][k], b["scores"][k])
        for k in ("rollout_head", "rollout_layer"):
            self.add("scores_rollout", a["scores"][k], b["scores"][k])
        self.add("relevance", a["relevance"], b["relevance"])


def round_up_125(x):
    if x <= 0:
        return 0.0
    e = math.floor(math.log10(x))
    for m in (1, 2, 5, 10):
        if m * 10 ** e >= x * (1 - 1e-12):
            return float("%.0e" % (m * 10 ** e))
    return float("%.0e" % (10 ** (e + 1)))


# ---- h5 helpers -------------------------------------------------------------------------------
def create_h5(path):
    """HDF5 1.8 object format, attributes in creation order, no timestamps (byte-reproducible)."""
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    order = h5py.h5p.CRT_ORDER_TRACKED | h5py.h5p.CRT_ORDER_INDEXED
    fcpl.set_link_creation_order(order)
    fcpl.set_attr_creation_order(order)
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_EARLIEST, h5py.h5f.LIBVER_LATEST)
    return h5py.h5f.create(path.encode(), h5py.h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl)


def put(g, name, data):
    g.create_dataset(name, data=data, track_times=False)


def put_strings(g, name, strings):
    put(g, name, np.array(strings, dtype=h5py.string_dtype("utf-8")))
    put(g, name + "_utf8", np.frombuffer("\n".join(strings).encode(), dtype=np.uint8))


# ---- main -------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    torch.set_num_threads(1)
    out_dir = args.out
    os.makedirs(os.path.join(out_dir, "images"), exist_ok=True)
    checks = collections.OrderedDict()

    # vocab, config, preprocessor config
    vocab_src = os.path.join(ROOT, "tests/data/visualbert/vocab.txt")
    if os.path.abspath(vocab_src) != os.path.abspath(os.path.join(out_dir, "vocab.txt")):
        shutil.copyfile(vocab_src, os.path.join(out_dir, "vocab.txt"))
    vocab_list = open(os.path.join(out_dir, "vocab.txt"), encoding="utf-8").read().split("\n")
    vocab_list = vocab_list[:-1] if vocab_list[-1] == "" else vocab_list
    vocab = {t: i for i, t in enumerate(vocab_list)}
    cfg = dict(CONFIG)
    cfg["vocab_size"] = len(vocab_list)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    pp = dict(PREPROCESSOR)
    with open(os.path.join(out_dir, "preprocessor_config.json"), "w") as f:
        json.dump(pp, f, indent=2)
        f.write("\n")

    # images
    rng = np.random.default_rng(SEED)
    image_files = {}
    for img_id, w, h, mode in IMAGES:
        name = coco_name(img_id, "png")
        make_image(w, h, mode, rng).save(os.path.join(out_dir, "images", name), optimize=True)
        image_files[img_id] = name
    jid, jw, jh, jq = JPEG
    jname = coco_name(jid, "jpg")
    make_image(jw, jh, "RGB", rng).save(os.path.join(out_dir, "images", jname), quality=jq)

    # weights
    P64 = make_weights(cfg)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), P64,
                      {"format": "pt", "note": "random float32 draws stored as float64; tools/make_vilt_refs.py"})
    back = read_safetensors(os.path.join(out_dir, "model.safetensors"))
    assert all(np.array_equal(back[k], P64[k].numpy()) for k in P64) and len(back) == len(P64)
    checks["weights_float32_representable"] = all(
        torch.equal(v.float().double(), v) for v in P64.values())
    P32 = {k: v.float() for k, v in P64.items()}

    n_layers, n_heads = cfg["num_hidden_layers"], cfg["num_attention_heads"]
    p = cfg["patch_size"]
    module_names = ["vilt.encoder.layer.%d.attention.attention" % i for i in range(n_layers)]
    d64, d32 = Diff(), Diff()  # float64 second computation / float32 run, vs the stored float64
    gaps, worst_rows, worst_rollout_cs_vs_ag, pil_match = [], 0.0, 0.0, True
    prng = np.random.default_rng(SEED + 1)

    path = os.path.join(out_dir, "reference.h5")
    with h5py.File(create_h5(path)) as out:
        out.attrs["kind"] = "vilt"
        out.attrs["format_version"] = 1
        out.attrs["dtype"] = "float64"
        out.attrs["generator"] = "tools/make_vilt_refs.py"
        out.attrs["torch_version"] = str(torch.__version__)
        out.attrs["python_version"] = platform.python_version()
        out.attrs["numpy_version"] = np.__version__
        out.attrs["pillow_version"] = PIL.__version__
        out.attrs["libjpeg_version"] = "libjpeg-turbo %s (libjpeg %s API)" % (
            PIL.features.version("libjpeg_turbo"), PIL.features.version("jpg"))
        out.attrs["n_samples"] = len(SAMPLES)
        out.attrs["n_layers"] = n_layers
        out.attrs["n_heads"] = n_heads
        out.attrs["patch_size"] = p
        out.attrs["transcribed_from"] = "\n".join(TRANSCRIBED_FROM)
        out.attrs["config_json"] = json.dumps(cfg, sort_keys=True)
        out.attrs["preprocessor_json"] = json.dumps(pp, sort_keys=True)
        meta = out.create_group("meta")
        put_strings(meta, "answers", ANSWERS)
        put_strings(meta, "module_names", module_names)
        # The processor's pixel value is a function of the uint8 level alone: the whole table.
        table_u8 = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, -1)
        table = ((table_u8.astype(np.float64) * pp["rescale_factor"]).astype(np.float32) - np.float32(0.5)) / \
            np.float32(0.5)
        put(meta, "pixel_value_of_level", table[..., 0].reshape(256))
        lv, f32 = np.arange(256, dtype=np.float32), np.float32
        alt = {"(u8 / 255.0f - 0.5f) / 0.5f": (lv / f32(255) - f32(0.5)) / f32(0.5),
               "float(u8 / 127.5 - 1.0)": (np.arange(256) / 127.5 - 1.0).astype(np.float32),
               "u8 * (2.0f / 255.0f) - 1.0f": lv * f32(2.0 / 255.0) - f32(1)}
        checks["pixel_value_alternative_formulas_levels_differing"] = {
            k: int((v != table[..., 0].reshape(256)).sum()) for k, v in alt.items()}

        for si, (question, img_id) in enumerate(SAMPLES):
            fname = image_files[img_id]
            img = Image.open(os.path.join(out_dir, "images", fname)).convert("RGB")
            resized, pv = preprocess(img, pp)
            pil_match &= bool(np.array_equal(pillow_bicubic(np.array(img), *resized.shape[:2]), resized))
            rh, rw = resized.shape[:2]
            gh, gw = rh // p, rw // p
            tokens = tokenize(question, vocab)
            assert "[UNK]" not in tokens or si == 3, (question, tokens)
            assert len(tokens) <= cfg["max_position_embeddings"]
            ids = torch.tensor([vocab[t] for t in tokens], dtype=torch.long)
            T, Pn = len(tokens), gh * gw
            pv64, pv32 = torch.from_numpy(pv).double(), torch.from_numpy(pv)

            with torch.no_grad():
                pred = int(torch.argmax(vilt_forward(P64, cfg, ids, pv64)["logits"]))
            ref = explain(P64, cfg, ids, pv64, pred, rollout="complex_step")
            ref_ag = explain(P64, cfg, ids, pv64, pred, rollout="autograd")
            worst_rollout_cs_vs_ag = max(worst_rollout_cs_vs_ag, float(np.abs(
                ref["scores"]["rollout_head"] - ref_ag["scores"]["rollout_head"]).max()))
            perm = prng.permutation(Pn)
            alt = explain(P64, cfg, ids, pv64, pred, perm=perm, embed="matmul", rollout="complex_step")
            f32 = explain(P32, cfg, ids, pv32, pred, rollout="autograd")
            d64.add_explained(alt, ref)
            d32.add_explained(f32, ref)
            lg = np.sort(ref["logits"].numpy())
            gaps.append(float(lg[-1] - lg[-2]))
            assert int(torch.argmax(alt["logits"])) == pred and int(torch.argmax(f32["logits"])) == pred
            for a in ref["attn"]:
                worst_rows = max(worst_rows, float((a.sum(-1) - 1).abs().max()))

            # patch embedding: conv vs matmul on the stored patches
            patches = cut_patches(pv, p).astype(np.float64)
            Wc = P64["vilt.embeddings.patch_embeddings.projection.weight"]
            bc = P64["vilt.embeddings.patch_embeddings.projection.bias"]
            conv = F.conv2d(pv64[None], Wc, bc, stride=p)[0].flatten(1).t().numpy()
            mm = patches @ Wc.reshape(Wc.shape[0], -1).numpy().T + bc.numpy()
            d64.add("patch_embedding", mm, conv)
            conv32 = F.conv2d(pv32[None], Wc.float(), bc.float(), stride=p)[0].flatten(1).t().numpy()
            d32.add("patch_embedding", conv32, conv)

            g = out.create_group("sample_%03d" % si)
            g.attrs.update(dict(question=question, image=fname, img_id=fname.rsplit(".", 1)[0],
                                n_text_tokens=T, grid_h=gh, grid_w=gw, n_patches=Pn, image_h=img.height,
                                image_w=img.width, resized_h=rh, resized_w=rw, pred_index=pred,
                                pred_answer=ANSWERS[pred]))
            gi = g.create_group("inputs")
            put(gi, "input_ids", ids.numpy()[None])
            put(gi, "token_type_ids", np.zeros((1, T), np.int64))
            put(gi, "attention_mask", np.ones((1, T), np.int64))
            put_strings(gi, "tokens", tokens)
            put(gi, "resized", resized)
            put(gi, "pixel_values", pv)
            put(gi, "patches", patches[None])
            put(gi, "patch_boxes", patch_boxes(rh, rw, p)[None])
            put(g, "logits", ref["logits"].numpy()[None])
            gf = g.create_group("forward")
            put(gf, "embedding_output", ref["embedding_output"].numpy()[None])
            put(gf, "layer_outputs", ref["layer_outputs"].numpy()[:, None])
            put(gf, "last_hidden_state", ref["last_hidden_state"].numpy()[None])
            put(gf, "pooled_output", ref["pooled_output"].numpy()[None])
            for m in range(n_layers):
                gm = g.create_group("modules/m%02d" % m)
                gm.attrs["name"] = module_names[m]
                put(gm, "attn", ref["attn"][m].numpy())
                put(gm, "attn_grad", ref["attn_grad"][m].numpy())
            gs = g.create_group("scores")
            for k, v in ref["scores"].items():
                put(gs, k, v)
            put(g, "relevance", ref["relevance"])

            # prune masks: a random half, layer 1 removed, 10 of 12 heads removed
            masks = [(prng.random((n_layers, n_heads)) < 0.5).astype(np.float64),
                     np.ones((n_layers, n_heads)), np.zeros(n_layers * n_heads)]
            masks[1][1] = 0
            masks[2][prng.choice(n_layers * n_heads, 2, replace=False)] = 1
            masks[2] = masks[2].reshape(n_layers, n_heads)
            for k, keep in enumerate(masks):
                lg64 = pruned_logits(P64, cfg, ids, pv64, keep).numpy()
                d64.add("logits", pruned_logits(P64, cfg, ids, pv64, keep, perm=perm, embed="matmul"), lg64)
                d32.add("logits", pruned_logits(P32, cfg, ids, pv32, keep), lg64)
                s = np.sort(lg64)
                gaps.append(float(s[-1] - s[-2]))
                gk = g.create_group("prune/mask_%d" % k)
                put(gk, "keep", keep)
                put(gk, "logits", lg64)
            print("  tokens: %s" % " ".join(tokens))
            print("sample %d: %r T=%d grid %dx%d (resized %dx%d from %dx%d) pred %d '%s' logit gap %.3g"
                  % (si, question, T, gh, gw, rh, rw, img.height, img.width, pred, ANSWERS[pred], gaps[-4]))

        # JPEG: Pillow's decode (libjpeg), to measure another decoder against
        jimg = Image.open(os.path.join(out_dir, "images", jname))
        dec = np.array(jimg.convert("RGB"))
        jr, jpv = preprocess(jimg.convert("RGB"), pp)
        gj = out.create_group("jpeg")
        decoder = "Pillow %s, libjpeg-turbo %s (libjpeg %s API)" % (
            PIL.__version__, PIL.features.version("libjpeg_turbo"), PIL.features.version("jpg"))
        gj.attrs.update(dict(file=jname, width=jimg.width, height=jimg.height, quality=jq,
                             subsampling="4:2:0 (Pillow's default)", decoder=decoder))
        put(gj, "decoded", dec)
        put(gj, "resized", jr)
        put(gj, "pixel_values", jpv)

        # sanity checks and the measured differences behind the README's tolerances
        checks["pillow_bicubic_transcription_matches_pil"] = pil_match
        checks["attention_rows_sum_to_one_max_error"] = worst_rows
        checks["rollout_complex_step_vs_autograd_max_abs"] = worst_rollout_cs_vs_ag
        checks["pred_index_same_in_float32_and_shuffled_float64"] = True
        checks["min_top1_top2_logit_gap"] = min(gaps)
        for name, dd in (("float64_second_computation", d64), ("float32_run", d32)):
            checks[name + "_abs"] = dd.abs
            checks[name + "_norm"] = dd.norm
        tol = collections.OrderedDict()
        for grp in GROUPS:
            tol[grp] = [round_up_125(100 * d64.abs[grp]), round_up_125(100 * d64.norm[grp]),
                        round_up_125(10 * d32.abs[grp]), round_up_125(10 * d32.norm[grp])]
        checks["tolerances_f64abs_f64norm_f32abs_f32norm"] = tol
        gc = out.create_group("checks")
        for k, v in checks.items():
            gc.attrs[k] = json.dumps(v) if isinstance(v, dict) else v

    assert checks["weights_float32_representable"]
    assert worst_rows < 1e-14, worst_rows
    assert worst_rollout_cs_vs_ag < 1e-12, worst_rollout_cs_vs_ag
    assert d64.abs["patch_embedding"] < 1e-12
    for k, v in checks.items():
        print("%s: %s" % (k, json.dumps(v)))
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(out_dir) for f in fs)
    print("fixture bytes: %d" % total)


if __name__ == "__main__":
    main()
