"""After an experience: NET1's class head calibrated on class-balanced features.

The newest classes swallow the old ones in class-incremental learning (their head rows and biases
grow on real data the old classes lack). :func:`calibrate_head` retrains the head alone on frozen
features, every class weighing the same: real sequences stand for the new classes; NET2's
pseudo-sequences and :class:`ClassFeatureStats` (hidden-state replay: each old class's feature
mean and variance, kept as statistics and moved with the features' drift) for the old ones.
"""
from __future__ import annotations

from typing import Iterable, Sequence, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["ClassFeatureStats", "calibrate_head", "features_of", "teacher_labels", "align_class_weights"]


def features_of(model: nn.Module, x: Tensor) -> Tensor:
    """The class head's input for x (N, T, F) -> (N, H), in eval mode, without a graph."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return torch.cat([model.features(c) for c in x.split(512)])
    finally:
        model.train(was_training)


def teacher_labels(logits: Tensor, known: Tensor) -> Tensor:
    """The teacher's argmax over the classes it knows: logits (N, C), known (C,) bool -> (N,)."""
    known = known.to(logits.device)[: logits.shape[1]]
    return logits.masked_fill(~known, float("-inf")).argmax(1)


class ClassFeatureStats:
    """Per-class mean and variance of hidden features (H,) each: statistics, not data."""

    def __init__(self):
        self.stats: dict = {}  # class -> (mean (H,), var (H,))

    def __len__(self) -> int:
        return len(self.stats)

    def record(self, feats: Tensor, y: Tensor) -> None:
        """Set the statistics of every class in y from feats (N, H)."""
        for c in y.unique().tolist():
            f = feats[y == c]
            var = f.var(0, unbiased=False) if len(f) > 1 else torch.zeros_like(f[0])
            self.stats[int(c)] = (f.mean(0).cpu(), var.cpu())

    def move(self, drift: Tensor) -> None:
        """Shift every mean by the mean drift (N, H) the features show between the network the
        statistics were recorded with and the current one (semantic drift compensation, Yu et al. 2020)."""
        d = drift.mean(0).cpu()
        self.stats = {c: (m + d, v) for c, (m, v) in self.stats.items()}

    def sample(self, classes: Iterable[int], n: int, device) -> Tuple[Tensor, Tensor]:
        """n features per known class in ``classes`` from N(mean, diag(var)): (K * n, H), (K * n,)."""
        feats, labels = [], []
        for c in classes:
            if c in self.stats:
                mean, var = (t.to(device) for t in self.stats[c])
                feats.append(mean + torch.randn(n, len(mean), device=device) * var.sqrt())
                labels.append(torch.full((n,), int(c), dtype=torch.long))
        if not feats:
            return torch.zeros(0, 0, device=device), torch.zeros(0, dtype=torch.long)
        return torch.cat(feats), torch.cat(labels)

    def state_dict(self) -> dict:
        return {str(c): [m, v] for c, (m, v) in self.stats.items()}

    def load_state_dict(self, state: dict) -> None:
        self.stats = {int(c): (m, v) for c, (m, v) in state.items()}


def calibrate_head(head: nn.Linear, feats: Tensor, labels: Tensor, steps: int, lr: float) -> None:
    """Train ``head`` alone for ``steps`` full-batch Adam steps on feats (N, H), labels (N,), every
    class weighing the same whatever its count."""
    counts = torch.bincount(labels, minlength=head.out_features).float()
    weights = (1.0 / counts.clamp_min(1))[labels]
    weights = weights / weights.sum()
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        (F.cross_entropy(head(feats), labels, reduction="none") * weights).sum().backward()
        opt.step()


@torch.no_grad()
def align_class_weights(model: nn.Module, old: Sequence[int], new: Sequence[int]) -> None:
    """Weight aligning: scale the new classes' head rows (weights and biases) so that their mean
    weight norm equals the old classes' (Zhao et al., CVPR 2020)."""
    head = getattr(model, "classifier", None)
    if not isinstance(head, nn.Linear) or not old or not new:
        return
    norms = head.weight.norm(dim=1)
    gamma = norms[list(old)].mean() / norms[list(new)].mean().clamp_min(1e-12)
    head.weight[list(new)] *= gamma
    if head.bias is not None:
        head.bias[list(new)] *= gamma
