"""Reverberation attractors of an auto-hetero network.

From ``N`` random seeds ``x(0)`` (B = N sequences (T, F)), re-inject the auto output ``R`` times,
``x(r) = model.reconstruct(x(r-1))``, and look at where the seeds end: how many distinct end points
(clustered with a tolerance), which classes the hetero head gives them, how far they lie from real
training items, and how all this changes from one checkpoint (experience) to the next.

Distances are RMS over all (T, F) entries, so that a tolerance reads in the units of the data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from .._checks import require_model
from ._common import check_sequences
from .memory import MemoryCurve, horizon_from_curve

__all__ = ["AttractorSummary", "random_seeds", "reverberate", "cluster_points", "find_attractors",
           "attractor_evolution", "reverberation_memory"]


def _rms_cdist(a: Tensor, b: Tensor) -> Tensor:
    """RMS distance between the rows of a (N, ...) and b (M, ...): (N, M)."""
    a2, b2 = a.reshape(a.shape[0], -1).double(), b.reshape(b.shape[0], -1).double()
    return torch.cdist(a2, b2) / np.sqrt(max(1, a2.shape[1]))


def random_seeds(n: int, seq_len: int, input_size: int, data: Optional[Tensor] = None,
                 distribution: str = "normal", seed: int = 0) -> Tensor:
    """n random seed sequences (n, T, F).

    ``"normal"``: N(mean, std) per feature of ``data`` (N(0, 1) without data); ``"uniform"``:
    U(0, 1) (binary items, sigmoid auto heads).
    """
    if n < 1 or seq_len < 1 or input_size < 1:
        raise ValueError(f"need n, seq_len, input_size >= 1, got {n}, {seq_len}, {input_size}")
    gen = torch.Generator().manual_seed(seed)
    if distribution == "uniform":
        return torch.rand(n, seq_len, input_size, generator=gen)
    if distribution != "normal":
        raise ValueError(f"distribution must be 'normal' or 'uniform', got {distribution!r}")
    z = torch.randn(n, seq_len, input_size, generator=gen)
    if data is not None:
        data = check_sequences(data, "data", input_size)
        flat = data.reshape(-1, input_size)
        z = z * flat.std(0).clamp_min(1e-6).cpu() + flat.mean(0).cpu()
    return z


def _reinject_fn(model, reinject):
    if reinject is not None:
        return reinject
    if not hasattr(model, "reconstruct"):
        raise TypeError(f"{type(model).__name__} has no auto head (`reconstruct`); pass reinject=")
    return model.reconstruct


@torch.no_grad()
def reverberate(model, seeds: Tensor, reinjections: int = 10, reinject: Optional[Callable] = None,
                return_moves: bool = False):
    """Re-inject seeds (N, T, F) through the auto head ``reinjections`` times.

    Returns the end points (N, T, F), and with ``return_moves`` also (R, N) the RMS step size
    ``||x(r) - x(r-1)||`` of every re-injection (it goes to 0 on a fixed point).
    """
    seeds = check_sequences(seeds, "seeds")
    if reinjections < 0:
        raise ValueError(f"reinjections must be >= 0, got {reinjections}")
    fn = _reinject_fn(model, reinject)
    was = getattr(model, "training", None)
    if isinstance(model, nn.Module):
        model.eval()
        seeds = seeds.to(next(model.parameters()).device)
    try:
        x, moves = seeds, []
        for _ in range(reinjections):
            nx = fn(x)
            if nx.shape != x.shape:
                raise ValueError(f"re-injection changed the shape {tuple(x.shape)} -> {tuple(nx.shape)}")
            moves.append((nx - x).double().pow(2).mean(dim=(1, 2)).sqrt())
            x = nx
    finally:
        if isinstance(model, nn.Module):
            model.train(was)
    if not return_moves:
        return x
    mv = torch.stack(moves) if moves else torch.zeros(0, x.shape[0], dtype=torch.float64)
    return x, mv


def cluster_points(points: Tensor, tol: float) -> Tuple[np.ndarray, Tensor]:
    """Greedy leader clustering: each point joins the nearest existing cluster whose leader lies
    within RMS distance ``tol``, otherwise it founds a new one.

    points (N, ...) -> (labels (N,), centers (K, ...) the mean of each cluster's members).
    """
    if points.shape[0] == 0:
        raise ValueError("cluster_points: no points")
    if tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    d = _rms_cdist(points, points).cpu().numpy()
    leaders: List[int] = []
    labels = np.empty(points.shape[0], dtype=int)
    for i in range(points.shape[0]):
        if leaders:
            dl = d[i, leaders]
            j = int(np.argmin(dl))
            if dl[j] <= tol:
                labels[i] = j
                continue
        leaders.append(i)
        labels[i] = len(leaders) - 1
    centers = torch.stack([points[torch.as_tensor(labels == c)].mean(0) for c in range(len(leaders))])
    return labels, centers


@dataclass
class AttractorSummary:
    """Where the reverberation of N seeds ends.

    end_points (N, T, F); labels (N,) attractor id of each seed; centers (K, T, F); counts (K,)
    seeds per attractor (attractors sorted by count); classes (K,) hetero-head class of each
    center; seed_classes (N,) class of each end point; moves (R,) mean RMS step per re-injection;
    final_move (N,) last step of each seed; converged (N,) final_move <= tol / 10;
    nearest_distance (K,) RMS distance of each center to the closest real item and nearest_class
    its label (None without data); data_spacing the median nearest-neighbour distance among the
    real items (the scale to read nearest_distance against); tol the clustering tolerance;
    num_classes the size of the class head (None: inferred from the classes reached).
    """
    end_points: Tensor
    labels: np.ndarray
    centers: Tensor
    counts: np.ndarray
    classes: np.ndarray
    seed_classes: np.ndarray
    moves: np.ndarray
    final_move: np.ndarray
    converged: np.ndarray
    tol: float
    nearest_distance: Optional[np.ndarray] = None
    nearest_class: Optional[np.ndarray] = None
    data_spacing: Optional[float] = None
    name: str = ""
    num_classes: Optional[int] = None
    extra: dict = field(default_factory=dict)

    @property
    def n_attractors(self) -> int:
        return int(self.centers.shape[0])

    def class_coverage(self, num_classes: Optional[int] = None) -> np.ndarray:
        """(C,) fraction of seeds whose end point the hetero head puts in each class."""
        c = num_classes or self.num_classes or (int(self.seed_classes.max()) + 1 if self.seed_classes.size else 0)
        return np.bincount(self.seed_classes, minlength=c)[:c] / max(1, self.seed_classes.size)

    def summary(self) -> dict:
        out = {"n_seeds": int(self.labels.size), "n_attractors": self.n_attractors,
               "n_converged_attractors": int(np.unique(self.labels[self.converged]).size),
               "tol": float(self.tol), "converged_fraction": float(self.converged.mean()),
               "largest_basin_fraction": float(self.counts.max() / self.labels.size),
               "classes_reached": sorted(int(c) for c in np.unique(self.seed_classes)),
               "class_coverage": [round(float(v), 4) for v in self.class_coverage()]}
        if self.nearest_distance is not None:
            w = self.counts / self.counts.sum()
            out["mean_distance_to_data"] = float((w * self.nearest_distance).sum())
            out["data_spacing"] = float(self.data_spacing) if self.data_spacing is not None else None
            if self.nearest_class is not None:
                out["class_agrees_with_nearest_item"] = float((w * (self.nearest_class == self.classes)).sum())
        return out


def _classify(model, x: Tensor, classify: Optional[Callable]) -> np.ndarray:
    fn = classify if classify is not None else model
    with torch.no_grad():
        logits = fn(x)
    if not isinstance(logits, Tensor) or logits.dim() != 2:
        raise ValueError("the classifier must return logits of shape (batch, classes)")
    return logits.argmax(-1).cpu().numpy()


@torch.no_grad()
def find_attractors(model, seeds: Optional[Tensor] = None, n_seeds: int = 64, reinjections: int = 50,
                    data: Optional[Tensor] = None, data_labels=None, tol: Optional[float] = None,
                    seq_len: Optional[int] = None, seed: int = 0, reinject: Optional[Callable] = None,
                    classify: Optional[Callable] = None, name: str = "") -> AttractorSummary:
    """Reverberate seeds through ``model`` and summarise the end points.

    Args:
        model: an :class:`~selfrefresh.models.AutoHeteroRNN` (``reconstruct`` re-injects, ``forward``
            classifies), or anything with ``reinject=`` / ``classify=`` callables.
        seeds: (N, T, F) seeds; default ``n_seeds`` from :func:`random_seeds` (matched to ``data``'s
            per-feature mean and std, of length ``seq_len`` or ``data``'s T; U(0, 1) for a sigmoid auto head).
        reinjections: R.
        data, data_labels: real training items (M, T, F) and labels (M,), for distances.
        tol: clustering tolerance (RMS); default 5 % of the RMS size of the data (or of the end points).
    """
    if seeds is None:
        require_model(model, "find_attractors with seeds=None (or pass seeds=)", ("input_size",))
        f = model.input_size
        t = seq_len or (data.shape[1] if data is not None else None)
        if t is None:
            raise ValueError("seeds=None needs seq_len= or data=")
        dist = "uniform" if getattr(model, "auto_activation", None) == "sigmoid" else "normal"
        seeds = random_seeds(n_seeds, t, f, data if dist == "normal" else None, dist, seed)
    seeds = check_sequences(seeds, "seeds")
    end, moves = reverberate(model, seeds, reinjections, reinject, return_moves=True)
    if not torch.isfinite(end).all():
        raise ValueError("reverberation diverged (non-finite end points); try fewer re-injections")
    if data is not None:
        data = check_sequences(data, "data").to(end.device)
        if data.shape[1:] != end.shape[1:]:
            raise ValueError(f"data items {tuple(data.shape[1:])} and seeds {tuple(end.shape[1:])} differ "
                             f"in (time, features); pass seeds of the data's length")
    if tol is None:
        ref = data if data is not None else end
        tol = 0.05 * float(ref.double().pow(2).mean().sqrt()) + 1e-12
    labels, centers = cluster_points(end, tol)
    counts = np.bincount(labels)
    order = np.argsort(-counts, kind="stable")
    remap = np.empty_like(order)
    remap[order] = np.arange(order.size)
    labels, centers, counts = remap[labels], centers[torch.as_tensor(order)], counts[order]
    classes = _classify(model, centers, classify)
    seed_classes = _classify(model, end, classify)
    final_move = moves[-1].cpu().numpy() if moves.shape[0] else np.full(end.shape[0], np.nan)
    summary = AttractorSummary(end, labels, centers, counts, classes, seed_classes,
                               moves.mean(1).cpu().numpy(), final_move, final_move <= tol / 10, float(tol),
                               name=name, num_classes=getattr(model, "num_classes", None), extra={"reinjections": reinjections, "n_seeds": int(end.shape[0])})
    if data is not None:
        d = _rms_cdist(centers, data)
        nd, ni = d.min(1)
        summary.nearest_distance = nd.cpu().numpy()
        if data_labels is not None:
            summary.nearest_class = np.asarray(torch.as_tensor(data_labels).cpu())[ni.cpu().numpy()]
        if data.shape[0] > 1:
            dd = _rms_cdist(data, data)
            dd.fill_diagonal_(float("inf"))
            summary.data_spacing = float(dd.min(1).values.median())
    return summary


def attractor_evolution(models: Sequence, names: Optional[Sequence[str]] = None, seeds: Optional[Tensor] = None,
                        **kwargs) -> List[AttractorSummary]:
    """:func:`find_attractors` for several checkpoints (e.g. NET2 after each experience), from the
    *same* seeds, so that the summaries can be compared. kwargs go to :func:`find_attractors`."""
    if not models:
        raise ValueError("models: no checkpoint to analyse")
    names = list(names) if names is not None else [f"checkpoint {i}" for i in range(len(models))]
    if len(names) != len(models):
        raise ValueError(f"{len(models)} models but {len(names)} names")
    if seeds is None:
        m0 = models[0]
        data = kwargs.get("data")
        t = kwargs.pop("seq_len", None) or (data.shape[1] if data is not None else None)
        if t is None:
            raise ValueError("attractor_evolution: pass seeds=, seq_len= or data=")
        require_model(m0, "attractor_evolution with seeds=None", ("input_size",))
        dist = "uniform" if getattr(m0, "auto_activation", None) == "sigmoid" else "normal"
        seeds = random_seeds(kwargs.pop("n_seeds", 64), t, m0.input_size,
                             data if dist == "normal" else None, dist, kwargs.pop("seed", 0))
    return [find_attractors(m, seeds=seeds, name=n, **kwargs) for m, n in zip(models, names)]


@torch.no_grad()
def reverberation_memory(model, seeds: Tensor, reinjections: int = 20, eps: float = 1e-2,
                         reinject: Optional[Callable] = None, threshold: float = 0.01, seed: int = 0) -> MemoryCurve:
    """How long reverberation remembers its seed: perturbation decay along re-injections.

    Seeds (N, T, F) and their copies moved by ``eps * std(seeds)`` in a random direction are both
    re-injected; the curve at "lag" r is ``||x'(r) - x(r)|| / ||x'(0) - x(0)||`` averaged over seeds
    (lag 0 is 1). Its horizon is the number of re-injections after which the end point no longer
    depends on the seed (to 1 %): short on a landscape of strong attractors.
    """
    seeds = check_sequences(seeds, "seeds")
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    gen = torch.Generator().manual_seed(seed)
    d = torch.randn(seeds.shape, generator=gen).to(seeds.device, seeds.dtype)
    d = d / d.flatten(1).norm(dim=1).view(-1, 1, 1) * eps * float(seeds.std().clamp_min(1e-6)) \
        * np.sqrt(seeds[0].numel())
    fn = _reinject_fn(model, reinject)
    x, xp = seeds, seeds + d
    base = (xp - x).double().flatten(1).norm(dim=1)
    vals = [1.0]
    for _ in range(reinjections):
        x, xp = reverberate(model, x, 1, fn), reverberate(model, xp, 1, fn)
        vals.append(float(((xp - x).double().flatten(1).norm(dim=1) / base).mean()))
    v = np.asarray(vals)
    h, c = horizon_from_curve(v, threshold)
    return MemoryCurve(np.arange(v.size), v, np.full(v.size, seeds.shape[0]), h, c, "reverberation",
                       threshold, {"eps": eps})
