"""Statistics of the report, numpy only (docs/statistics.md explains each one).

Everything is a pure function of its inputs and of an explicit numpy Generator, so a report is
byte-identical on a rerun. Shapes: N samples, S prune ratios, P columns (curve points stacked).

  auc_weights          the AUC as a linear form: AUC = w . accuracy (trapezoid / span)
  bootstrap_means      percentile-bootstrap replicates of column means, one resampling of the
                       samples shared by all columns (so differences of columns are paired)
  percentile_ci        the percentile interval of replicates
  paired_p_value       two-sided p-value of a bootstrap difference: normal tail with the bootstrap
                       standard error (no 1/B floor, so Holm over many tests can still reject)
  percentile_p_value   the same from the replicates' tail counts (inverts the percentile interval)
  mcnemar_exact        exact (binomial) McNemar test of paired correct/incorrect outcomes
  holm                 Holm step-down adjusted p-values
  rankdata, spearman_rho, kendall_tau_b
                       rank correlations with ties (tau-b, average ranks)
  split_half           stability of a mean-score ranking between random halves of the samples
"""

from typing import Iterable, Optional, Tuple

import numpy as np

DEFAULT_B = 2000
DEFAULT_SEED = 19  # the issue that asked for these statistics; any fixed value would do
ALPHA = 0.05


def auc_weights(ratios) -> np.ndarray:
    """w with w . a == hpresults.auc_x100(ratios, a) for every accuracy vector a (in the given
    ratio order): trapezoid weights over the sorted grid divided by the span; a single ratio (or a
    zero span) gives the plain mean."""
    r = np.asarray(ratios, dtype=np.float64)
    w = np.zeros(r.size)
    if r.size == 0:
        return w
    order = np.argsort(r, kind="stable")
    rs = r[order]
    span = float(rs[-1] - rs[0])
    if r.size == 1 or span == 0.0:
        return np.full(r.size, 1.0 / r.size)
    d = (rs[1:] - rs[:-1]) / 2.0
    ws = np.zeros(r.size)
    ws[:-1] += d
    ws[1:] += d
    w[order] = ws / span
    return w


def bootstrap_means(x: np.ndarray, b: int, rng: np.random.Generator, chunk: int = 250) -> np.ndarray:
    """[B, P] bootstrap replicates of the column means of x [N, P].

    Replicate k resamples the N rows with replacement; it is computed as counts_k . x / N, with
    counts_k the multiplicity of each row (a bincount of N uniform draws). All columns share the
    same resamples, so the replicate of a difference of two columns is the difference of their
    replicates: the paired bootstrap. Chunks of `chunk` replicates bound memory at chunk x N.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    out = np.empty((b, x.shape[1]))
    if n == 0:
        out.fill(np.nan)
        return out
    for k0 in range(0, b, chunk):
        bc = min(chunk, b - k0)
        idx = rng.integers(0, n, size=(bc, n))
        idx += (np.arange(bc) * n)[:, None]
        counts = np.bincount(idx.ravel(), minlength=bc * n).reshape(bc, n).astype(np.float64)
        out[k0:k0 + bc] = counts @ x / n
    return out


def percentile_ci(reps: np.ndarray, level: float = 0.95) -> Tuple[np.ndarray, np.ndarray]:
    """(low, high) percentile interval over axis 0 (numpy's linear interpolation)."""
    a = (1.0 - level) / 2.0
    lo, hi = np.percentile(reps, [100 * a, 100 * (1 - a)], axis=0)
    return lo, hi


def paired_p_value(estimate: float, diff_reps: np.ndarray) -> float:
    """Two-sided p-value of 'the difference is 0' from the estimate and its bootstrap replicates:
    z = estimate / sd(replicates), p = erfc(|z| / sqrt 2) = P(|Z| >= |z|), Z standard normal.

    The AUC difference is a mean of per-sample differences, so its sampling distribution is close
    to normal (central limit theorem) and the bootstrap sd estimates its standard error. Unlike a
    tail count of the replicates, this p is not floored at ~2/B: with B = 2000 a count can give no
    p below 0.001, which Holm over 50 or more comparisons would never let through.
    A zero standard error gives p = 1 for a zero estimate and p = 0 otherwise.
    """
    import math
    se = float(np.std(np.asarray(diff_reps, dtype=np.float64), ddof=1)) if np.size(diff_reps) > 1 else 0.0
    if se == 0.0 or not np.isfinite(se):
        return 1.0 if estimate == 0 else 0.0
    return float(math.erfc(abs(estimate) / se / math.sqrt(2.0)))


def percentile_p_value(diff_reps: np.ndarray) -> np.ndarray:
    """Two-sided bootstrap p-value of 'the difference is 0', per column of diff_reps [B, ...].

    p = 2 min(#(d* <= 0) + 1, #(d* >= 0) + 1) / (B + 1), capped at 1: the smallest alpha at which
    the equal-tailed percentile interval excludes 0 (so p < 0.05 exactly when the 95 % interval
    lies on one side of 0, up to the +1 that keeps p > 0). Replicates all equal to 0 give p = 1.
    """
    d = np.asarray(diff_reps, dtype=np.float64)
    b = d.shape[0]
    le = (d <= 0).sum(axis=0) + 1
    ge = (d >= 0).sum(axis=0) + 1
    return np.minimum(1.0, 2.0 * np.minimum(le, ge) / (b + 1))


_LOGFACT = np.zeros(1)


def _log_factorials(n: int) -> np.ndarray:
    global _LOGFACT
    if _LOGFACT.size <= n:
        _LOGFACT = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1, dtype=np.float64)))])
    return _LOGFACT


def binom_half_cdf(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2), summed in log space (exact to ~1e-12 relative)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    lf = _log_factorials(n)
    i = np.arange(k + 1)
    logpmf = lf[n] - lf[i] - lf[n - i] - n * np.log(2.0)
    m = float(logpmf.max())
    return float(min(1.0, np.exp(m) * np.exp(logpmf - m).sum()))


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> Tuple[int, int, float]:
    """Exact McNemar test on paired booleans [N]: (b, c, p) with b = #(a right, b wrong),
    c = #(a wrong, b right) and the two-sided p = min(1, 2 P(X <= min(b, c))), X ~ Bin(b + c, 1/2).
    Concordant pairs carry no information; b + c = 0 gives p = 1."""
    a = np.asarray(correct_a, dtype=bool)
    bb = np.asarray(correct_b, dtype=bool)
    b = int(np.count_nonzero(a & ~bb))
    c = int(np.count_nonzero(~a & bb))
    n = b + c
    if n == 0:
        return b, c, 1.0
    return b, c, min(1.0, 2.0 * binom_half_cdf(min(b, c), n))


def holm(p: Iterable[float]) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values, in the input order; NaN entries stay NaN and are
    not counted in the family. Sorted ascending p_(1..m): adj_(i) = max_{j<=i} min(1, (m-j+1) p_(j))."""
    p = np.asarray(list(p), dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(adj)
    return out


def rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of a 1-d array, ties get their average rank (scipy's 'average')."""
    x = np.asarray(x, dtype=np.float64).ravel()
    order = np.argsort(x, kind="stable")
    xs = x[order]
    # start index of each run of equal values
    new = np.concatenate([[True], xs[1:] != xs[:-1]])
    starts = np.flatnonzero(new)
    ends = np.concatenate([starts[1:], [x.size]])
    avg = (starts + ends + 1) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(x.size)
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def spearman_rho(x, y) -> float:
    """Pearson correlation of the average ranks; NaN when either side is constant."""
    rx, ry = rankdata(x), rankdata(y)
    rx -= rx.mean()
    ry -= ry.mean()
    den = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    return float((rx * ry).sum() / den) if den > 0 else float("nan")


def kendall_tau_b(x, y) -> float:
    """Kendall's tau-b = (C - D) / sqrt((n0 - n1)(n0 - n2)) over all pairs (O(n^2) memory: fine for
    the few hundred heads of a model); NaN when either side is constant."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    n = x.size
    if n < 2:
        return float("nan")
    iu = np.triu_indices(n, 1)
    sx = np.sign(x[:, None] - x[None, :])[iu]
    sy = np.sign(y[:, None] - y[None, :])[iu]
    n0 = sx.size
    n1 = int(np.count_nonzero(sx == 0))
    n2 = int(np.count_nonzero(sy == 0))
    den = np.sqrt(float(n0 - n1) * float(n0 - n2))
    return float((sx * sy).sum() / den) if den > 0 else float("nan")


def split_half(scores: np.ndarray, k: int, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """Split-half stability of the global ranking of scores [N, U] (per-sample unit scores):
    k times, split the samples at random into two halves (sizes floor(N/2), ceil(N/2)), rank the
    units by their mean score in each half, and correlate the two rankings.
    Returns (spearman [k], kendall [k]); empty arrays when N < 2."""
    s = np.asarray(scores, dtype=np.float64).reshape(scores.shape[0], -1)
    n = s.shape[0]
    if n < 2 or k <= 0:
        return np.zeros(0), np.zeros(0)
    rho, tau = np.empty(k), np.empty(k)
    for i in range(k):
        perm = rng.permutation(n)
        a = s[perm[: n // 2]].mean(axis=0)
        b = s[perm[n // 2:]].mean(axis=0)
        rho[i] = spearman_rho(a, b)
        tau[i] = kendall_tau_b(a, b)
    return rho, tau


def group_rng(seed: int, key: str, purpose: str) -> np.random.Generator:
    """A generator that depends only on the report seed, a stable key (e.g. a model group's sample
    digest) and the purpose, so adding a table or a figure never changes another one's draws."""
    import hashlib
    h = hashlib.sha256(f"{key}\n{purpose}".encode("utf-8")).digest()
    return np.random.default_rng(np.random.SeedSequence([int(seed), int.from_bytes(h[:8], "little")]))


def format_ratio_set(ratios, selected) -> str:
    """'0.3, 0.5-0.9' style list of the selected ratios (runs of consecutive grid points joined)."""
    r = [float(x) for x in ratios]
    sel = [bool(s) for s in selected]
    parts, i = [], 0

    def f(v: float) -> str:
        return np.format_float_positional(v, trim="-")

    while i < len(r):
        if not sel[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(r) and sel[j + 1]:
            j += 1
        parts.append(f(r[i]) if j == i else (f"{f(r[i])}, {f(r[j])}" if j == i + 1 else f"{f(r[i])}–{f(r[j])}"))
        i = j + 1
    return ", ".join(parts) if parts else "none"


def optional_ci_text(lo: Optional[float], hi: Optional[float]) -> str:
    if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return "-"
    return f"[{lo:.2f}, {hi:.2f}]"
