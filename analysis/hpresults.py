"""Reading a headprune results file (docs/results-format.md) into plain Python objects.

Only h5py and numpy. Everything here is deterministic: experiments are visited in name order and
curves in a fixed order (protocol, granularity, sign, method), so tables and plots never depend
on the order HDF5 happens to list groups in.

Terms used by the report:
  curve        one /experiments/<e>/curves/<protocol>/<method>/<granularity>/<sign>
  model group  the experiments run on the same model and data: same meta model_family,
               weights_sha256, questions_sha256, features_sha256, the same samples (question ids)
               and the same ratio grid. A single-config run file is one group of one experiment;
               a merged Slurm grid (one experiment per grid cell) gives one group per config.
               Curves are compared (plots, the gap to 'random') only inside a group.
  AUC          trapezoid area under accuracy_x100 over the ratio grid, divided by the span of the
               grid (max ratio - min ratio): the mean accuracy (x100) over the pruned range, on the
               same 0..100 scale as the accuracies. With a single ratio it is that accuracy.
"""

import hashlib
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import h5py
import numpy as np

FORMAT = "headprune-results"
METHOD_ORDER = ["ours", "lrp", "michel", "confidence", "random", "gradient", "attention", "rollout", "attattr", "attnlrp"]
PROTOCOL_ORDER = ["per_sample", "global"]
GRANULARITY_ORDER = ["head", "layer"]
SIGN_ORDER = ["positive", "negative"]
MODEL_LABELS = {"lxmert": "LXMERT", "visualbert": "VisualBERT", "vilt": "ViLT"}
NAME_SEPARATORS = "._-+"


def _order_key(value: str, order: List[str]) -> Tuple[int, str]:
    """Known values in their documented order, unknown ones after them, alphabetically."""
    return (order.index(value), "") if value in order else (len(order), value)


def method_key(m: str):
    return _order_key(m, METHOD_ORDER)


def protocol_key(p: str):
    return _order_key(p, PROTOCOL_ORDER)


def granularity_key(g: str):
    return _order_key(g, GRANULARITY_ORDER)


def sign_key(s: str):
    return _order_key(s, SIGN_ORDER)


def auc_x100(ratios: np.ndarray, accuracy_x100: np.ndarray) -> float:
    """Normalised area under the curve: trapezoid over `ratios` divided by their span.

    The ratios are sorted first (with their accuracies), so the grid order does not matter.
    """
    r = np.asarray(ratios, dtype=np.float64)
    a = np.asarray(accuracy_x100, dtype=np.float64)
    if r.size == 0:
        return float("nan")
    if r.size == 1:
        return float(a[0])
    order = np.argsort(r, kind="stable")
    r, a = r[order], a[order]
    span = float(r[-1] - r[0])
    if span == 0.0:
        return float(np.mean(a))
    area = float(np.sum((r[1:] - r[:-1]) * (a[1:] + a[:-1]) / 2.0))
    return area / span


def _str_list(ds) -> List[str]:
    """A 1-d vlen-string dataset as a list of str (h5py gives bytes otherwise)."""
    return [str(s) for s in ds.asstr()[()]]


def _attr(attrs, key, default=None):
    if key not in attrs:
        return default
    v = attrs[key]
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.ndarray) and v.shape == ():
        return v.item()
    if isinstance(v, np.generic):
        return v.item()
    return v


@dataclass
class Curve:
    experiment: str
    protocol: str
    method: str
    granularity: str
    sign: str
    ratios: np.ndarray
    accuracy_x100: np.ndarray
    path: str = ""  # HDF5 path of the curve group (its label_score is read on demand)

    @property
    def auc(self) -> float:
        return auc_x100(self.ratios, self.accuracy_x100)

    @property
    def ratio_grid(self) -> Tuple[float, ...]:
        return tuple(float(r) for r in self.ratios)

    def sort_key(self):
        return (protocol_key(self.protocol), granularity_key(self.granularity), sign_key(self.sign),
                method_key(self.method), self.experiment)


@dataclass
class Experiment:
    name: str
    path: str  # HDF5 path of the experiment group
    meta: Dict[str, object]
    module_names: List[str]
    module_modality: List[str]
    ratios: np.ndarray
    num_samples: int
    samples_digest: str
    curves: List[Curve] = field(default_factory=list)
    head_rankings: Dict[str, np.ndarray] = field(default_factory=dict)  # method -> mean [M, H]
    score_datasets: Dict[Tuple[str, str], str] = field(default_factory=dict)  # (method, gran) -> path

    @property
    def model_family(self) -> str:
        return str(self.meta.get("model_family") or "unknown")

    @property
    def model_label(self) -> str:
        return MODEL_LABELS.get(self.model_family, self.model_family)

    def group_key(self):
        m = self.meta
        return (self.model_family, m.get("weights_sha256"), m.get("questions_sha256"), m.get("features_sha256"),
                self.samples_digest, tuple(float(r) for r in self.ratios))


@dataclass
class ModelGroup:
    label: str  # unique, file-name safe
    experiments: List[Experiment]

    @property
    def model_label(self) -> str:
        return self.experiments[0].model_label

    @property
    def curves(self) -> List[Curve]:
        cs = [c for e in self.experiments for c in e.curves]
        return sorted(cs, key=Curve.sort_key)

    def experiment(self, name: str) -> Experiment:
        return next(e for e in self.experiments if e.name == name)


class ResultsError(Exception):
    pass


def _read_experiment(f: h5py.File, name: str) -> Experiment:
    base = f"/experiments/{name}"
    g = f[base]
    if "meta" not in g:
        raise ResultsError(f"{base}: no meta group")
    meta_g = g["meta"]
    meta = {k: _attr(meta_g.attrs, k) for k in sorted(meta_g.attrs.keys())}
    module_names = _str_list(meta_g["module_names"]) if "module_names" in meta_g else []
    module_modality = _str_list(meta_g["module_modality"]) if "module_modality" in meta_g else []
    ratios = np.asarray(meta_g["ratios"][()], dtype=np.float64) if "ratios" in meta_g else np.zeros(0)
    qids: List[str] = []
    if "samples" in g and "question_id" in g["samples"]:
        qids = _str_list(g["samples/question_id"])
    digest = hashlib.sha256("\n".join(qids).encode("utf-8")).hexdigest()
    exp = Experiment(name=name, path=base, meta=meta, module_names=module_names,
                     module_modality=module_modality, ratios=ratios, num_samples=len(qids),
                     samples_digest=digest)
    if "curves" in g:
        for protocol in sorted(g["curves"].keys()):
            for method in sorted(g[f"curves/{protocol}"].keys()):
                for gran in sorted(g[f"curves/{protocol}/{method}"].keys()):
                    for sign in sorted(g[f"curves/{protocol}/{method}/{gran}"].keys()):
                        cg = g[f"curves/{protocol}/{method}/{gran}/{sign}"]
                        acc = np.asarray(cg["accuracy_x100"][()], dtype=np.float64)
                        r = np.asarray(cg["ratios"][()], dtype=np.float64) if "ratios" in cg else ratios
                        if r.shape != acc.shape:
                            raise ResultsError(f"{cg.name}: ratios {r.shape} and accuracy_x100 {acc.shape} differ")
                        exp.curves.append(Curve(name, protocol, method, gran, sign, r, acc, cg.name))
    exp.curves.sort(key=Curve.sort_key)
    if "ranking" in g:
        for method in sorted(g["ranking"].keys()):
            rg = g[f"ranking/{method}"]
            if "head" in rg and "mean" in rg["head"]:
                exp.head_rankings[method] = np.asarray(rg["head/mean"][()], dtype=np.float64)
    if "scores" in g:
        for method in sorted(g["scores"].keys()):
            for gran in sorted(g[f"scores/{method}"].keys()):
                exp.score_datasets[(method, gran)] = f"{base}/scores/{method}/{gran}"
    return exp


def read_results(path: str) -> List[Experiment]:
    """All experiments of a results file, in name order."""
    with h5py.File(path, "r") as f:
        fmt = _attr(f.attrs, "format")
        if fmt != FORMAT:
            raise ResultsError(f"{path}: not a headprune results file (format attribute {fmt!r}, "
                               f"expected {FORMAT!r})")
        if "experiments" not in f:
            raise ResultsError(f"{path}: no /experiments group")
        names = sorted(f["experiments"].keys())
        if not names:
            raise ResultsError(f"{path}: /experiments is empty")
        return [_read_experiment(f, n) for n in names]


def read_scores(path: str, dataset: str) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return np.asarray(f[dataset][()], dtype=np.float64)


def read_optional(path: str, dataset: str) -> Optional[np.ndarray]:
    """A dataset as a numpy array (strings as str), or None when the file does not hold it."""
    with h5py.File(path, "r") as f:
        if dataset not in f:
            return None
        ds = f[dataset]
        if h5py.check_string_dtype(ds.dtype) is not None:
            return np.array([str(s) for s in ds.asstr()[()]], dtype=object)
        return np.asarray(ds[()])


def _common_prefix(names: List[str]) -> str:
    p = names[0]
    for n in names[1:]:
        i = 0
        while i < min(len(p), len(n)) and p[i] == n[i]:
            i += 1
        p = p[:i]
    # Cut back to a separator boundary so "lxmert_vqa.ours..." and "lxmert_vqa.lrp..." give
    # "lxmert_vqa", not "lxmert_vqa." or a half word.
    if all(len(n) == len(p) or n[len(p)] in NAME_SEPARATORS for n in names):
        return p.rstrip(NAME_SEPARATORS)
    cut = max(p.rfind(c) for c in NAME_SEPARATORS)
    return p[:cut].rstrip(NAME_SEPARATORS) if cut > 0 else ""


def group_experiments(experiments: List[Experiment]) -> List[ModelGroup]:
    """Model groups (see the module doc), ordered by their first experiment's name."""
    by_key: Dict[object, List[Experiment]] = {}
    for e in experiments:
        by_key.setdefault(e.group_key(), []).append(e)
    groups = sorted(by_key.values(), key=lambda es: es[0].name)
    out: List[ModelGroup] = []
    used = set()
    for es in groups:
        if len(es) == 1:
            label = es[0].name
        else:
            label = _common_prefix([e.name for e in es]) or es[0].model_family
        base, k = label, 2
        while label in used:
            label = f"{base}-{k}"
            k += 1
        used.add(label)
        out.append(ModelGroup(label=label, experiments=es))
    return out


def random_baseline(group: ModelGroup, curve: Curve) -> Optional[Curve]:
    """The 'random' curve to compare `curve` with: same group, protocol, granularity, sign and
    ratio grid; from the same experiment when it has one, else the first in table order."""
    if curve.method == "random":
        return None
    cands = [c for c in group.curves
             if c.method == "random" and c.protocol == curve.protocol and c.granularity == curve.granularity
             and c.sign == curve.sign and c.ratio_grid == curve.ratio_grid]
    if not cands:
        return None
    same = [c for c in cands if c.experiment == curve.experiment]
    return (same or cands)[0]
