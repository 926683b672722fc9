"""Common machinery of the learned, class-conditional sequence generators (GAN, AR-RNN, VAE).

:class:`LearnedSequenceGenerator` holds what they share:

* input standardisation (fitted on the first data seen, kept afterwards);
* ``fit(x, y, epochs)``: a monitored training loop (losses every epoch, a quality metric every
  ``eval_every`` epochs, tqdm) that keeps the best generator *by the quality metric* and stops
  cleanly with a :class:`DivergenceWarning` when a loss or a parameter becomes NaN/inf or a loss
  exceeds ``max_loss``, restoring the last good state;
* ``generate(n, classes=None) -> (x, y)``;
* the pseudo-generator protocol of :mod:`selfrefresh.generators.base`: ``network``,
  ``configure(network, classes=None, moments=None)``, ``sample(n) -> PseudoBatch`` (old-class
  sequences labelled by the storage network) and ``update(dataset, network=None)`` (continual
  training on the new experience plus its own replay of the classes seen before, as Deep
  Generative Replay / MeRGAN); ``state_dict()`` is ``nn.Module``'s.

Subclasses implement ``_start_fit``, ``_train_epoch`` and ``_generate_normalized``.
"""
from __future__ import annotations

import copy
import math
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from .base import PseudoBatch, label_with

__all__ = ["LearnedSequenceGenerator", "DivergenceWarning", "collect_dataset", "minibatches"]


class DivergenceWarning(RuntimeWarning):
    """Training of a generator was stopped because it diverged (the last good state was restored)."""


def collect_dataset(dataset, batch_size: int = 512) -> Tuple[Tensor, Tensor]:
    """All (x, y) of a torch Dataset yielding (x, y, ...) as tensors (N, T, F), (N,)."""
    if len(dataset) == 0:
        raise ValueError("the dataset is empty")
    if hasattr(dataset, "tensors") and len(dataset.tensors) >= 2:
        return dataset.tensors[0].float(), dataset.tensors[1].long()
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                         collate_fn=getattr(dataset, "collate_fn", None))
    xs, ys = [], []
    for batch in loader:
        xs.append(torch.as_tensor(batch[0]).float())
        ys.append(torch.as_tensor(batch[1]).long())
    return torch.cat(xs), torch.cat(ys)


def minibatches(n: int, batch_size: int, device):
    """Shuffled index minibatches (of ``batch_size``, the last one smaller) covering 0..n-1."""
    perm = torch.randperm(n, device=device)
    for i in range(0, n, batch_size):
        yield perm[i:i + batch_size]


class LearnedSequenceGenerator(nn.Module):
    """Base class: a class-conditional generator of sequences (T, F) learned from data.

    Args:
        seq_len: T.  n_features: F.  num_classes: C, all classes the stream will ever have.
        device: where the networks live.
        update_epochs: epochs of each ``update`` (continual training after an experience).
        replay_per_class: old-class sequences replayed per old class in ``update``
            (default: as many as the mean count of a new class).
    """

    def __init__(self, seq_len: int, n_features: int, num_classes: int, device="cpu",
                 update_epochs: int = 50, replay_per_class: Optional[int] = None):
        super().__init__()
        for name, v in (("seq_len", seq_len), ("n_features", n_features), ("num_classes", num_classes)):
            if int(v) < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")
        self.seq_len, self.n_features, self.num_classes = int(seq_len), int(n_features), int(num_classes)
        self.device = torch.device(device)
        self.update_epochs, self.replay_per_class = update_epochs, replay_per_class
        self.register_buffer("x_mean", torch.zeros(n_features))
        self.register_buffer("x_std", torch.ones(n_features))
        self.register_buffer("seen", torch.zeros(num_classes, dtype=torch.bool))
        self.normalized = False
        self.network: Optional[nn.Module] = None
        self.history: List[Dict[str, float]] = []
        self.diverged: Optional[str] = None

    def __setattr__(self, name, value):
        if name == "network":
            # the storage network labels the samples but is not part of the generator: kept out of
            # its modules, so it is not in parameters(), state_dict() (checkpoints) or .to()
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    # ------------------------------------------------------------------ data
    @property
    def seen_classes(self) -> List[int]:
        return torch.nonzero(self.seen).flatten().tolist()

    def _check_data(self, x, y) -> Tuple[Tensor, Tensor]:
        x, y = torch.as_tensor(x).float(), torch.as_tensor(y).long()
        if x.dim() != 3 or x.shape[1:] != (self.seq_len, self.n_features):
            raise ValueError(f"{type(self).__name__}: expected sequences (N, {self.seq_len}, {self.n_features}), "
                             f"got shape {tuple(x.shape)}")
        if x.shape[0] == 0:
            raise ValueError(f"{type(self).__name__}: no training sequences")
        if y.shape != (x.shape[0],):
            raise ValueError(f"{type(self).__name__}: {x.shape[0]} sequences but labels of shape {tuple(y.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError(f"{type(self).__name__}: training sequences contain NaN or inf")
        if y.min() < 0 or y.max() >= self.num_classes:
            raise ValueError(f"{type(self).__name__}: labels must be in 0..{self.num_classes - 1}, "
                             f"got {sorted(torch.unique(y).tolist())}")
        return x, y

    def normalize(self, x: Tensor) -> Tensor:
        return (x - self.x_mean) / self.x_std

    def denormalize(self, x: Tensor) -> Tensor:
        return x * self.x_std + self.x_mean

    # ------------------------------------------------------------------ generation
    def _resolve_classes(self, n: int, classes) -> Tensor:
        if classes is None:
            pool = self.seen_classes or list(range(self.num_classes))
            pool_t = torch.tensor(pool)
            return pool_t[torch.randint(len(pool), (n,))]
        if isinstance(classes, int):
            classes = torch.full((n,), classes, dtype=torch.long)
        c = torch.as_tensor(classes).long().flatten()
        if c.numel() != n:
            raise ValueError(f"classes: expected {n} labels (or one int), got {c.numel()}")
        if n and (c.min() < 0 or c.max() >= self.num_classes):
            raise ValueError(f"unknown class in {sorted(torch.unique(c).tolist())}: "
                             f"the generator has classes 0..{self.num_classes - 1}")
        return c

    @torch.no_grad()
    def generate(self, n: int, classes: Union[None, int, Sequence[int], Tensor] = None,
                 chunk: int = 1024) -> Tuple[Tensor, Tensor]:
        """n sequences (n, T, F) in data units and their classes (n,).

        ``classes``: (n,) labels, one int for all, or None (uniform over the classes seen in training).
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        y = self._resolve_classes(n, classes)
        was = self.training
        self.eval()
        try:
            xs = [self._generate_normalized(y[i:i + chunk].to(self.device)) for i in range(0, n, chunk)]
        finally:
            self.train(was)
        x = torch.cat(xs) if xs else torch.zeros(0, self.seq_len, self.n_features, device=self.device)
        return self.denormalize(x), y.to(self.device)

    # ------------------------------------------------------------------ protocol
    def configure(self, network: Optional[nn.Module], classes: Optional[Sequence[int]] = None,
                  moments: Optional[Tuple[Tensor, Tensor]] = None) -> "LearnedSequenceGenerator":
        """Point the generator at the storage network that labels its samples.

        ``classes`` and ``moments`` are accepted for the protocol and not used: a learned generator
        samples the classes it has learned, in the units of its own standardisation.
        """
        self.network = network
        return self

    def sample(self, n: int) -> PseudoBatch:
        """n pseudo-sequences of the classes learned so far, labelled by the storage network."""
        if self.network is None:
            raise RuntimeError(f"{type(self).__name__}.sample: set .network (the storage network) first")
        if not self.seen.any():
            raise RuntimeError(f"{type(self).__name__}.sample: the generator has not learned any class yet")
        x, y = self.generate(n)
        dev = next(self.network.parameters()).device
        return label_with(self.network, x.to(dev), classes=y.to(dev))

    def update(self, dataset, network: Optional[nn.Module] = None, epochs: Optional[int] = None,
               progress: bool = False) -> Dict[str, float]:
        """Continual step: learn the new experience's data plus own replay of the old classes.

        Args:
            dataset: torch Dataset yielding (x, y, ...) of the new experience.
            network: the storage network (sets ``self.network``).
        """
        if network is not None:
            self.network = network
        x, y = collect_dataset(dataset)
        x, y = self._check_data(x, y)
        new = torch.unique(y)
        old = [c for c in self.seen_classes if c not in set(new.tolist())]
        if old:
            per = self.replay_per_class or int(math.ceil(len(y) / len(new)))
            xr, yr = self.generate(per * len(old), classes=torch.tensor(old).repeat_interleave(per))
            x, y = torch.cat([x, xr.cpu()]), torch.cat([y, yr.cpu()])
        return self.fit(x, y, epochs=epochs or self.update_epochs, progress=progress)

    # ------------------------------------------------------------------ training
    @torch.no_grad()
    def quality(self, x: Tensor, y: Tensor, max_per_class: int = 128, seed: int = 0) -> float:
        """Quality metric used for model selection: mean over classes of unbiased RBF-MMD^2
        (median bandwidth) between real and generated sequences, in standardised units. Lower is better."""
        from ..metrics.generative import mmd2_rbf

        scores, weights = [], []
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(seed)
            for c in torch.unique(y).tolist():
                xc = x[y == c][:max_per_class]
                if len(xc) < 2:
                    continue
                g, _ = self.generate(len(xc), classes=c)
                if not torch.isfinite(g).all():
                    return float("inf")
                scores.append(mmd2_rbf(self.normalize(xc.to(self.device)).cpu(), self.normalize(g).cpu()))
                weights.append(len(xc))
        if not scores:
            return float("nan")
        return float(sum(s * w for s, w in zip(scores, weights)) / sum(weights))

    def _start_fit(self, xn: Tensor, y: Tensor) -> None:
        """Create optimizers etc. before a fit (xn standardised, on device)."""
        raise NotImplementedError

    def _train_epoch(self, xn: Tensor, y: Tensor, epoch: int, epochs: int, batch_size: int) -> Dict[str, float]:
        """One epoch; returns mean losses."""
        raise NotImplementedError

    def _generate_normalized(self, classes: Tensor) -> Tensor:
        raise NotImplementedError

    def _finite_params(self) -> bool:
        return all(torch.isfinite(p).all() for p in self.parameters())

    def fit(self, x, y, epochs: int = 100, batch_size: int = 64, eval_every: int = 5,
            max_loss: float = 1e4, seed: Optional[int] = None, progress: bool = True) -> Dict[str, float]:
        """Train on sequences x (N, T, F) with labels y (N,).

        Every epoch the losses are recorded in ``history``; every ``eval_every`` epochs (and at
        the end) :meth:`quality` is computed on the training data and the best state so far is
        kept. On divergence (NaN/inf loss or parameter, |loss| > max_loss) training stops with a
        :class:`DivergenceWarning`, ``self.diverged`` holds the message, and the best state seen
        (or the state before ``fit``) is restored. Returns the last history entry.
        """
        from tqdm.auto import tqdm

        x, y = self._check_data(x, y)
        if seed is not None:
            torch.manual_seed(seed)
        if not self.normalized:
            self.x_mean.copy_(x.mean(dim=(0, 1)).to(self.device))
            self.x_std.copy_(x.std(dim=(0, 1)).clamp_min(1e-6).to(self.device))
            self.normalized = True
        self.seen[torch.unique(y).to(self.seen.device)] = True
        xn, yd = self.normalize(x.to(self.device)), y.to(self.device)
        self.diverged = None
        self.train()
        self._start_fit(xn, yd)
        best_state, best_score = copy.deepcopy(self.state_dict()), float("inf")
        bar = tqdm(range(epochs), desc=type(self).__name__, disable=not progress, leave=False)
        entry: Dict[str, float] = {}
        for epoch in bar:
            losses = self._train_epoch(xn, yd, epoch, epochs, batch_size)
            entry = {"epoch": epoch + 1, **losses}
            bad = [k for k, v in losses.items() if not math.isfinite(v) or abs(v) > max_loss]
            if bad or not self._finite_params():
                what = ", ".join(f"{k}={losses[k]:.3g}" for k in bad) or "non-finite parameters"
                self.diverged = (f"{type(self).__name__} diverged at epoch {epoch + 1} ({what}); "
                                 f"stopped and restored the best generator (quality {best_score:.4g})")
                entry["diverged"] = 1.0
                self.history.append(entry)
                warnings.warn(self.diverged, DivergenceWarning, stacklevel=2)
                break
            if (epoch + 1) % eval_every == 0 or epoch + 1 == epochs:
                q = self.quality(x, y)
                entry["quality"] = q
                if math.isfinite(q) and q < best_score:
                    best_score, best_state = q, copy.deepcopy(self.state_dict())
                    entry["best"] = 1.0
            self.history.append(entry)
            bar.set_postfix({k: round(v, 4) for k, v in entry.items() if k != "epoch"})
        self.load_state_dict(best_state)
        self.best_quality = best_score
        return entry
