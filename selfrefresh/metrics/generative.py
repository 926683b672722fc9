"""Measures of a sequence generator: how close, how diverse, how useful its samples are.

All functions take real and generated data as tensors or arrays. Distance-based measures
(coverage/density, MMD, Frechet distance) work on vectors (N, D): pass sequences (N, T, F)
through an embedding first (:func:`fit_embedding`, the penultimate layer of a classifier trained
on all real classes), or let them be flattened. Classifier-based measures (discriminative score,
TSTR) take sequences (N, T, F) and train a small GRU.

References: Naeem et al. 2020 (coverage, density); Gretton et al. 2012 (unbiased MMD^2);
Heusel et al. 2017 (Frechet distance); Yoon et al. 2019 (discriminative score);
Esteban et al. 2017 (TSTR).
"""
from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "coverage_density", "per_class_coverage_density", "mmd2_rbf", "median_bandwidth",
    "frechet_distance", "SequenceClassifier", "train_classifier", "fit_embedding",
    "discriminative_score", "tstr", "modes_recovered",
]

ArrayLike = Union[Tensor, np.ndarray]


def _as_tensor(x: ArrayLike, name: str, min_rank: int = 2) -> Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x).detach().double().cpu()
    if t.dim() < min_rank:
        raise ValueError(f"{name}: expected at least {min_rank} dimensions, got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{name}: empty")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf")
    return t


def _vectors(x: ArrayLike, name: str) -> Tensor:
    t = _as_tensor(x, name)
    return t.reshape(t.shape[0], -1)


# ----------------------------------------------------------------------------- coverage / density
def coverage_density(real: ArrayLike, fake: ArrayLike, k: int = 5) -> Dict[str, float]:
    """Coverage and density of ``fake`` w.r.t. ``real`` (Naeem et al. 2020).

    Each real point i gets a ball of radius r_i = distance to its k-th nearest real neighbour
    (itself excluded). density = (1 / kM) sum_j #{i : fake_j in ball_i}  (about 1 when the
    distributions match, above 1 when fakes crowd dense regions); coverage = fraction of real
    balls that contain at least one fake (drops when modes are missed).

    Args:
        real: (N, D) or (N, ...) flattened; N > k.
        fake: (M, D).
    """
    r, f = _vectors(real, "real"), _vectors(fake, "fake")
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"real and fake have different dimensions: {r.shape[1]} vs {f.shape[1]}")
    if r.shape[0] <= k:
        raise ValueError(f"coverage_density needs more than k={k} real points, got {r.shape[0]}")
    d_rr = torch.cdist(r, r)
    radii = d_rr.kthvalue(k + 1, dim=1).values          # +1: the point itself is at distance 0
    d_rf = torch.cdist(r, f)                            # (N, M)
    inside = d_rf < radii[:, None]
    density = inside.sum().item() / (k * f.shape[0])
    coverage = (d_rf.min(dim=1).values < radii).double().mean().item()
    return {"coverage": coverage, "density": density}


def per_class_coverage_density(real: ArrayLike, real_y: ArrayLike, fake: ArrayLike, fake_y: ArrayLike,
                               k: int = 5) -> Dict[str, object]:
    """Coverage and density computed class by class, plus their means over classes.

    Returns ``{"coverage": mean, "density": mean, "per_class": {c: {"coverage", "density"}}}``.
    A class with no generated sample gets coverage 0 and density 0.
    """
    r, f = _vectors(real, "real"), _vectors(fake, "fake")
    ry, fy = torch.as_tensor(np.asarray(real_y)).long(), torch.as_tensor(np.asarray(fake_y)).long()
    per = {}
    for c in torch.unique(ry).tolist():
        rc, fc = r[ry == c], f[fy == c]
        if len(fc) == 0:
            per[c] = {"coverage": 0.0, "density": 0.0}
        else:
            per[c] = coverage_density(rc, fc, k=min(k, len(rc) - 1))
    return {"coverage": float(np.mean([v["coverage"] for v in per.values()])),
            "density": float(np.mean([v["density"] for v in per.values()])),
            "per_class": per}


# ----------------------------------------------------------------------------- MMD
def median_bandwidth(x: Tensor, y: Tensor) -> float:
    """Median heuristic: median pairwise distance of the pooled samples (x, y), floored at 1e-8."""
    z = torch.cat([x, y])
    d = torch.pdist(z)
    return max(float(d.median()), 1e-8) if d.numel() else 1.0


def mmd2_rbf(x: ArrayLike, y: ArrayLike, bandwidth: Optional[Union[float, Sequence[float]]] = None) -> float:
    """Unbiased estimate of MMD^2 with an RBF kernel k(a, b) = exp(-|a-b|^2 / (2 s^2)).

    MMD^2_u = mean_{i!=j} k(x_i, x_j) + mean_{i!=j} k(y_i, y_j) - 2 mean_{i,j} k(x_i, y_j).
    Can be slightly negative when the distributions match. ``bandwidth`` s: a number, a list
    (kernel = mean over the list) or None (median heuristic on the pooled samples).

    Args:
        x: (N, D) or (N, ...), N >= 2.  y: (M, D), M >= 2.
    """
    a, b = _vectors(x, "x"), _vectors(y, "y")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and y have different dimensions: {a.shape[1]} vs {b.shape[1]}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("mmd2_rbf needs at least 2 samples on each side")
    if bandwidth is None:
        bandwidth = [median_bandwidth(a, b)]
    elif np.isscalar(bandwidth):
        bandwidth = [float(bandwidth)]

    def k(u, v):
        d2 = torch.cdist(u, v).pow(2)
        return sum(torch.exp(-d2 / (2 * s * s)) for s in bandwidth) / len(bandwidth)

    m, n = len(a), len(b)
    kxx, kyy, kxy = k(a, a), k(b, b), k(a, b)
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return float(sxx + syy - 2 * kxy.mean())


# ----------------------------------------------------------------------------- Frechet
def frechet_distance(x: ArrayLike, y: ArrayLike) -> float:
    """Frechet distance between Gaussians fitted to x and y (FID formula, any features).

    |mu_x - mu_y|^2 + Tr(S_x + S_y - 2 (S_x S_y)^(1/2)).  x: (N, D), y: (M, D), N, M >= 2.
    """
    a, b = _vectors(x, "x").numpy(), _vectors(y, "y").numpy()
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and y have different dimensions: {a.shape[1]} vs {b.shape[1]}")
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    # Tr((S1 S2)^(1/2)) = sum of the square roots of the (real, >= 0) eigenvalues of S1 S2
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvals(s1 @ s2).real, 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


# ----------------------------------------------------------------------------- classifiers
class SequenceClassifier(nn.Module):
    """Small GRU classifier used by the measures: (B, T, F) -> logits (B, C); ``features`` (B, H)."""

    def __init__(self, n_features: int, num_classes: int, hidden_size: int = 32, num_layers: int = 1):
        super().__init__()
        self.rnn = nn.GRU(n_features, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, num_classes)
        self.register_buffer("x_mean", torch.zeros(n_features))   # input standardisation
        self.register_buffer("x_std", torch.ones(n_features))

    def features(self, x: Tensor) -> Tensor:
        out, _ = self.rnn((x - self.x_mean) / self.x_std)
        return out[:, -1]

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def _seq(x: ArrayLike, name: str) -> Tensor:
    t = _as_tensor(x, name, min_rank=3).float()
    if t.dim() != 3:
        raise ValueError(f"{name}: expected sequences (N, T, F), got shape {tuple(t.shape)}")
    return t


def train_classifier(x: ArrayLike, y: ArrayLike, num_classes: Optional[int] = None, hidden_size: int = 32,
                     epochs: int = 30, lr: float = 3e-3, batch_size: int = 64, seed: int = 0,
                     normalize: bool = True) -> SequenceClassifier:
    """Train a :class:`SequenceClassifier` on (x (N, T, F), y (N,)); returns it in eval mode.

    With ``normalize`` the inputs are standardised by the training statistics (kept inside the
    returned model, so it takes raw sequences).
    """
    xs, ys = _seq(x, "x"), torch.as_tensor(np.asarray(y)).long()
    if len(xs) != len(ys):
        raise ValueError(f"{len(xs)} sequences but {len(ys)} labels")
    C = int(num_classes or int(ys.max()) + 1)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = SequenceClassifier(xs.shape[-1], C, hidden_size)
    if normalize:
        model.x_mean.copy_(xs.mean(dim=(0, 1)))
        model.x_std.copy_(xs.std(dim=(0, 1)).clamp_min(1e-6))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xs), generator=g)
        for i in range(0, len(xs), batch_size):
            idx = perm[i:i + batch_size]
            loss = nn.functional.cross_entropy(model(xs[idx]), ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def fit_embedding(x: ArrayLike, y: ArrayLike, **kwargs) -> Callable[[ArrayLike], Tensor]:
    """A fixed embedding: the penultimate layer of a GRU classifier trained on all real classes.

    Returns ``embed(seqs (N, T, F)) -> (N, H)``; kwargs go to :func:`train_classifier`.
    """
    model = train_classifier(x, y, **kwargs)

    @torch.no_grad()
    def embed(seqs: ArrayLike) -> Tensor:
        return model.features(_seq(seqs, "sequences")).double()

    embed.model = model  # type: ignore[attr-defined]
    return embed


@torch.no_grad()
def _accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    return (model(x).argmax(-1) == y).float().mean().item()


def discriminative_score(real: ArrayLike, fake: ArrayLike, hidden_size: int = 32, epochs: int = 30,
                         test_fraction: float = 0.2, seed: int = 0) -> float:
    """|accuracy - 0.5| of a post-hoc GRU trained to tell real from fake (TimeGAN's score).

    Both sets are cut to the same size, split train/test with ``test_fraction``; 0 means
    indistinguishable, 0.5 means perfectly separable.
    """
    r, f = _seq(real, "real"), _seq(fake, "fake")
    if r.shape[1:] != f.shape[1:]:
        raise ValueError(f"real and fake shapes differ: {tuple(r.shape[1:])} vs {tuple(f.shape[1:])}")
    n = min(len(r), len(f))
    g = torch.Generator().manual_seed(seed)
    r, f = r[torch.randperm(len(r), generator=g)[:n]], f[torch.randperm(len(f), generator=g)[:n]]
    n_test = max(1, int(round(test_fraction * n)))
    if n - n_test < 2:
        raise ValueError(f"discriminative_score needs more samples, got {n} per side")
    xtr = torch.cat([r[n_test:], f[n_test:]])
    ytr = torch.cat([torch.ones(n - n_test), torch.zeros(n - n_test)]).long()
    xte = torch.cat([r[:n_test], f[:n_test]])
    yte = torch.cat([torch.ones(n_test), torch.zeros(n_test)]).long()
    model = train_classifier(xtr, ytr, num_classes=2, hidden_size=hidden_size, epochs=epochs, seed=seed)
    return abs(_accuracy(model, xte, yte) - 0.5)


def tstr(fake_x: ArrayLike, fake_y: ArrayLike, real_x: ArrayLike, real_y: ArrayLike,
         num_classes: Optional[int] = None, **kwargs) -> float:
    """Train on synthetic, test on real: accuracy on (real_x, real_y) of a GRU trained on fakes.

    Pass real training data as ``fake_x`` to get the TRTR reference. kwargs go to
    :func:`train_classifier`.
    """
    rx, ry = _seq(real_x, "real_x"), torch.as_tensor(np.asarray(real_y)).long()
    C = num_classes or int(max(int(ry.max()), int(np.asarray(fake_y).max())) + 1)
    model = train_classifier(fake_x, fake_y, num_classes=C, **kwargs)
    return _accuracy(model, rx, ry)


# ----------------------------------------------------------------------------- known modes
def modes_recovered(fake: ArrayLike, centers: ArrayLike, radius: float,
                    min_count: int = 1) -> Dict[str, object]:
    """How many of K known modes a generator hits (the mixture test of Unrolled GAN / VEEGAN).

    Each fake sample is assigned to its nearest center; it is *high quality* if within
    ``radius`` of it. A mode is recovered when at least ``min_count`` high-quality samples
    fall on it.

    Args:
        fake: (M, ...) samples, flattened.  centers: (K, ...) the modes, same trailing shape.

    Returns:
        ``{"recovered": int, "counts": (K,) numpy array of high-quality hits, "high_quality": fraction}``.
    """
    f, c = _vectors(fake, "fake"), _vectors(centers, "centers")
    if f.shape[1] != c.shape[1]:
        raise ValueError(f"fake and centers have different dimensions: {f.shape[1]} vs {c.shape[1]}")
    d = torch.cdist(f, c)
    dist, idx = d.min(dim=1)
    good = dist <= radius
    counts = torch.bincount(idx[good], minlength=len(c)).numpy()
    return {"recovered": int((counts >= min_count).sum()), "counts": counts,
            "high_quality": float(good.double().mean())}
