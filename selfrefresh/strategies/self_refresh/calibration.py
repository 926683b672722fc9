"""After an experience: NET1's class head calibrated on class-balanced features.

The newest classes swallow the old ones in class-incremental learning (their head rows and biases
grow on real data the old classes lack). :func:`calibrate_head` retrains the head alone on frozen
features, every class weighing the same: real sequences stand for the new classes; NET2's
pseudo-sequences and :class:`ClassFeatureStats` (hidden-state replay: each old class's feature
mean and variance, kept as statistics and moved with the features' drift) for the old ones.
"""
from __future__ import annotations

import math

from typing import Iterable, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["ClassFeatureStats", "calibrate_head", "features_of", "head_input", "teacher_labels",
           "align_class_weights"]


def head_input(model: nn.Module, out: Tensor, before: Optional[Tensor] = None) -> Tensor:
    """The class head's input (B, H) from the top layer's outputs ``out`` (B, T, H): the model's
    ``readout_of`` (``before``: the outputs of earlier steps of the same sequences), or the last
    step for a model without one."""
    return model.readout_of(out, before) if hasattr(model, "readout_of") else out[:, -1]


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
    """Per-class Gaussian statistics of hidden features: statistics, not data.

    Each class keeps a mean (H,), the ``rank`` leading principal directions of its feature
    covariance scaled by their standard deviations (rank, H), and the variance left on each
    feature (H,) (the whole diagonal variance when ``rank`` is 0)."""

    def __init__(self, rank: int = 0):
        if rank < 0:
            raise ValueError(f"rank must be >= 0, got {rank}")
        self.rank = int(rank)
        self.stats: dict = {}  # class -> (mean (H,), residual var (H,), basis (k, H))

    def __len__(self) -> int:
        return len(self.stats)

    def record(self, feats: Tensor, y: Tensor) -> None:
        """Set the statistics of every class in y from feats (N, H)."""
        for c in y.unique().tolist():
            f = feats[y == c].detach().float().cpu()
            mean = f.mean(0)
            var = f.var(0, unbiased=False) if len(f) > 1 else torch.zeros_like(mean)
            basis = f.new_zeros(0, len(mean))
            k = min(self.rank, len(f) - 1)
            if k > 0:
                _, sv, vt = torch.linalg.svd(f - mean, full_matrices=False)
                basis = vt[:k] * (sv[:k] / math.sqrt(len(f)))[:, None]
                var = (var - (basis * basis).sum(0)).clamp_min(0.0)
            self.stats[int(c)] = (mean, var, basis)

    def move(self, drift: Tensor) -> None:
        """Shift every mean by the mean drift (N, H) the features show between the network the
        statistics were recorded with and the current one (semantic drift compensation, Yu et al. 2020)."""
        d = drift.mean(0).cpu()
        self.stats = {c: (m + d, v, b) for c, (m, v, b) in self.stats.items()}

    def move_per_class(self, drift: Tensor, labels: Tensor) -> None:
        """Shift each class's mean by the mean drift (N, H) of the samples labelled (N,) with it;
        classes without a sample move by the mean drift of all samples."""
        drift, labels = drift.cpu(), labels.cpu()
        overall = drift.mean(0)
        moved = {}
        for c, (m, v, b) in self.stats.items():
            rows = drift[labels == c]
            moved[c] = (m + (rows.mean(0) if len(rows) else overall), v, b)
        self.stats = moved

    def move_linear(self, old: Tensor, new: Tensor, ridge: float = 0.1) -> None:
        """Map every class through the affine map new ~ old @ W + b fitted by ridge regression on
        paired features (N, H) of the same inputs under the old and the current network (a learned
        drift compensator, Gomez-Villa et al. 2024): means, principal directions and variances move."""
        old, new = old.detach().double().cpu(), new.detach().double().cpu()
        mo, mn = old.mean(0), new.mean(0)
        xo, xn = old - mo, new - mn
        gram = xo.T @ xo
        lam = ridge * gram.diagonal().mean().clamp_min(1e-12)
        w = torch.linalg.solve(gram + lam * torch.eye(len(gram), dtype=gram.dtype), xo.T @ xn)
        b = mn - mo @ w
        moved = {}
        for c, (m, v, basis) in self.stats.items():
            wf = w.to(m.dtype)
            moved[c] = ((m.double() @ w + b).to(m.dtype), ((wf * wf).T @ v).clamp_min(0.0), basis @ wf)
        self.stats = moved

    def sample(self, classes: Iterable[int], n: int, device,
               generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
        """n features per known class in ``classes`` from its Gaussian: (K * n, H), (K * n,).
        ``generator``: a CPU ``torch.Generator`` for the draws (None: torch's global one)."""
        feats, labels = [], []
        for c in classes:
            if c in self.stats:
                mean, var, basis = (t.to(device) for t in self.stats[c])
                noise = torch.randn(n, len(mean) + len(basis), generator=generator).to(device=device, dtype=mean.dtype)
                f = mean + noise[:, :len(mean)] * var.sqrt()
                if len(basis):
                    f = f + noise[:, len(mean):] @ basis
                feats.append(f)
                labels.append(torch.full((n,), int(c), dtype=torch.long))
        if not feats:
            return torch.zeros(0, 0, device=device), torch.zeros(0, dtype=torch.long)
        return torch.cat(feats), torch.cat(labels)

    def numel(self) -> int:
        """Numbers kept over all classes."""
        return sum(m.numel() + v.numel() + b.numel() for m, v, b in self.stats.values())

    def state_dict(self) -> dict:
        return {str(c): [m, v, b] for c, (m, v, b) in self.stats.items()}

    def load_state_dict(self, state: dict) -> None:
        stats = {}
        for c, entry in state.items():
            m, v = entry[0], entry[1]
            b = entry[2] if len(entry) > 2 else m.new_zeros(0, len(m))
            stats[int(c)] = (m, v, b)
        self.stats = stats


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
