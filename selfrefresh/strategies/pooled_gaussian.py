"""A network-free class-incremental baseline: one Gaussian per class of each sequence's time-pooled
statistics.

Each sequence x (T, F) is summarised by the mean and the standard deviation of every feature over
time, (2F,) (:func:`pooled_statistics`); each class keeps the mean of its summaries and their
covariance as ``rank`` principal directions plus a residual variance per coordinate (statistics,
no sequence: ``(rank + 2) * 2F`` numbers per class, 1,440 for 40 log-mel bands at rank 16, fewer
than one 40 x 48 sequence). A sequence goes to the class of highest Gaussian log-density, each
covariance shrunk toward a multiple of the identity. Classes are learned independently, in one
pass over their experience, and never change after it: what the accuracy on an old experience
loses later is only the competition of the new classes.

It is the quadratic discriminant of classical speech recognition on utterance-level statistics,
here to measure what a class-incremental stream asks of a network: on the real-audio streams of
``benchmarks/real_audio.py`` (FSDD, JapaneseVowels) it is above every continual network method and,
on JapaneseVowels and with an unseen FSDD speaker, above Cumulative training too; on the synthetic
speech stream it is below Replay (``docs/results.md``).
"""
from __future__ import annotations

import functools
from typing import Dict, List, Optional

import torch
from torch import Tensor, nn

from .spec import BuildArgs, StrategySpec, model_size

__all__ = ["pooled_statistics", "PooledGaussianClassifier", "PooledGaussian", "POOLED_GAUSSIAN"]


def pooled_statistics(x: Tensor) -> Tensor:
    """The mean and the standard deviation over time of each feature: x (N, T, F) -> (N, 2F)."""
    if x.dim() != 3:
        raise ValueError(f"pooled_statistics: expected sequences (batch, time, features), got shape {tuple(x.shape)}")
    if x.shape[1] < 1:
        raise ValueError("pooled_statistics: sequences of length 0")
    return torch.cat([x.mean(1), x.std(1, unbiased=False)], 1)


class PooledGaussianClassifier(nn.Module):
    """Per-class Gaussians of :func:`pooled_statistics`, learned class by class.

    Args:
        num_classes: C.
        input_size: features per step F (the Gaussians live in 2F dimensions).
        rank: principal directions kept per class (the rest of its covariance is diagonal).
        shrinkage: ``a`` in [0, 1): each covariance S is used as ``(1 - a) S + a (tr S / 2F) I``.

    Shape:
        ``forward(x)``: x (N, T, F) -> scores (N, C): each class's Gaussian log-density of the
        summary (up to a constant shared by the classes); classes never learned score ``-1e30``.

    Learning: :meth:`accumulate` (x, y) minibatches, then :meth:`finish` turns what was accumulated
    into each class's statistics (a class seen again is merged with what it kept).
    """

    def __init__(self, num_classes: int, input_size: int, rank: int = 16, shrinkage: float = 0.1):
        super().__init__()
        if int(num_classes) < 1 or int(input_size) < 1:
            raise ValueError(f"num_classes and input_size must be >= 1, got {num_classes}, {input_size}")
        if int(rank) < 0:
            raise ValueError(f"rank must be >= 0, got {rank}")
        if not 0.0 <= float(shrinkage) < 1.0:
            raise ValueError(f"shrinkage must be in [0, 1), got {shrinkage}")
        self.num_classes, self.input_size = int(num_classes), int(input_size)
        self.rank, self.shrinkage = int(rank), float(shrinkage)
        d = 2 * self.input_size
        self.register_buffer("count", torch.zeros(self.num_classes))
        self.register_buffer("mean", torch.zeros(self.num_classes, d))
        self.register_buffer("var", torch.zeros(self.num_classes, d))
        self.register_buffer("basis", torch.zeros(self.num_classes, self.rank, d))
        self._sums: Dict[int, List[Tensor]] = {}   # class -> [n, sum (D,), sum of outer products (D, D)]
        self._factors: Optional[Tensor] = None      # (C, D, D) Cholesky factors, rebuilt after finish()

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._factors = None

    @property
    def learned(self) -> Tensor:
        """(C,) bool: the classes with statistics."""
        return self.count > 0

    @torch.no_grad()
    def accumulate(self, x: Tensor, y: Tensor) -> None:
        """Add sequences x (N, T, F) of classes y (N,) to the sums of this experience."""
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"PooledGaussianClassifier: expected x of shape (batch, time, {self.input_size}), "
                             f"got {tuple(x.shape)}")
        if y.dim() != 1 or len(y) != len(x):
            raise ValueError(f"PooledGaussianClassifier: expected {len(x)} labels, got shape {tuple(y.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError("PooledGaussianClassifier: x holds NaN or infinite values")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
            raise ValueError(f"PooledGaussianClassifier: labels must be in [0, {self.num_classes}), "
                             f"got {int(y.min())}..{int(y.max())}")
        s = pooled_statistics(x.double().cpu())
        y = y.cpu()
        for c in y.unique().tolist():
            f = s[y == c]
            acc = self._sums.setdefault(int(c), [0, torch.zeros(s.shape[1], dtype=torch.float64),
                                                 torch.zeros(s.shape[1], s.shape[1], dtype=torch.float64)])
            acc[0] += len(f)
            acc[1] += f.sum(0)
            acc[2] += f.T @ f

    @torch.no_grad()
    def finish(self) -> None:
        """Set the statistics of every class accumulated since the last call."""
        for c, (n, total, outer) in self._sums.items():
            mean = total / n
            second = outer / n
            n_old = float(self.count[c])
            if n_old > 0:  # a class seen before: merge with the covariance it kept
                m_old = self.mean[c].double()
                b = self.basis[c].double()
                cov_old = b.T @ b + torch.diag(self.var[c].double())
                second = (n * second + n_old * (cov_old + torch.outer(m_old, m_old))) / (n + n_old)
                mean = (n * mean + n_old * m_old) / (n + n_old)
                n = n + n_old
            cov = second - torch.outer(mean, mean)
            cov = (cov + cov.T) / 2
            k = min(self.rank, int(n) - 1, len(mean))
            basis = torch.zeros(self.rank, len(mean), dtype=torch.float64)
            var = cov.diagonal().clamp_min(0)
            if k > 0:
                ev, vec = torch.linalg.eigh(cov)
                top = vec[:, -k:] * ev[-k:].clamp_min(0).sqrt()   # (D, k)
                basis[:k] = top.T
                var = (cov.diagonal() - (top * top).sum(1)).clamp_min(0)
            self.count[c] = n
            self.mean[c] = mean.to(self.mean.dtype)
            self.var[c] = var.to(self.var.dtype)
            self.basis[c] = basis.to(self.basis.dtype)
        self._sums = {}
        self._factors = None

    def _cholesky(self) -> Tensor:
        if self._factors is None:
            b = self.basis.double()
            cov = b.transpose(1, 2) @ b + torch.diag_embed(self.var.double())       # (C, D, D)
            d = cov.shape[-1]
            scale = cov.diagonal(dim1=1, dim2=2).mean(1).clamp_min(1e-12)        # (C,)
            eye = torch.eye(d, dtype=cov.dtype, device=cov.device)
            shrunk = (1 - self.shrinkage) * cov + (self.shrinkage * scale + 1e-9)[:, None, None] * eye
            self._factors = torch.linalg.cholesky(shrunk)
        return self._factors

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"PooledGaussianClassifier: expected x of shape (batch, time, {self.input_size}), "
                             f"got {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError("PooledGaussianClassifier: x holds NaN or infinite values")
        s = pooled_statistics(x).double()
        scores = torch.full((len(s), self.num_classes), -1e30, dtype=torch.float64, device=s.device)
        learned = torch.nonzero(self.learned).flatten().tolist()
        if learned:
            factors = self._cholesky().to(s.device)
            for c in learned:
                diff = (s - self.mean[c].double().to(s.device)).T                   # (D, N)
                z = torch.linalg.solve_triangular(factors[c], diff, upper=False)
                scores[:, c] = -0.5 * (z * z).sum(0) - torch.log(factors[c].diagonal()).sum()
        return scores.to(x.dtype if x.is_floating_point() else torch.float32)

    def numel_per_class(self) -> int:
        """Numbers kept per class: mean, residual variance and principal directions."""
        return (self.rank + 2) * 2 * self.input_size + 1


@functools.lru_cache(maxsize=None)
def _strategy_class():
    from avalanche.training.templates import SupervisedTemplate

    class PooledGaussian(SupervisedTemplate):
        """Avalanche strategy of a :class:`PooledGaussianClassifier`: each training experience is
        read once (no gradient step, ``train_epochs`` is ignored); evaluation as any strategy."""

        def check_model_and_optimizer(self, **kwargs):
            self.model = self.model.to(self.device)

        def _train_exp(self, experience, eval_streams=None, **kwargs):
            n = 0
            for self.mbatch in self.dataloader:
                self._unpack_minibatch()
                self.model.accumulate(self.mb_x, self.mb_y)
                n += len(self.mb_y)
            if n == 0:
                raise ValueError("PooledGaussian: the training experience is empty")
            self.model.finish()

    return PooledGaussian


def __getattr__(name):
    if name == "PooledGaussian":
        return _strategy_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _build(a: BuildArgs):
    classifier = PooledGaussianClassifier(model_size(a.model, "num_classes", a.name),
                                          model_size(a.model, "input_size", a.name), **a.options)
    common = dict(a.common)
    common.pop("train_epochs", None)
    return _strategy_class()(model=classifier, optimizer=a.optimizer, criterion=a.criterion, train_epochs=1,
                             **common)


def _state(strategy) -> dict:
    return {k: v.detach().cpu() for k, v in strategy.model.state_dict().items()}


def _load_state(strategy, state, finished_experiences=()):
    strategy.model.load_state_dict(state)


POOLED_GAUSSIAN = StrategySpec(
    "pooled-gaussian", _build, {"rank": 16, "shrinkage": 0.1}, _state, _load_state,
    summary="no network: a Gaussian per class of each sequence's time-pooled mean and spread (a baseline)",
    option_target=lambda: PooledGaussianClassifier)
