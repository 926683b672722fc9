"""The protocol every pseudo-pattern source follows.

A generator makes pseudo-inputs and labels them with the *storage* network (NET2 in the dual
network): ``sample(n) -> PseudoBatch``. The strategy keeps the generator's ``network`` pointing at
its storage network; a generator that learns from data (a GAN) also implements ``update``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Protocol, Sequence, runtime_checkable

import torch
from torch import Tensor, nn

__all__ = ["PseudoBatch", "PseudoGenerator", "label_with"]


@dataclass
class PseudoBatch:
    """A batch of pseudo-patterns and their targets.

    Attributes:
        x: pseudo-inputs, (N, T, F) sequences, or (N, F) items of static pseudo-patterns.
        logits: the storage network's class logits for them, (N, C); soft targets.
        context: (N, S) context of static pseudo-patterns (None for sequences).
        next_context: (N, S) the storage network's next state (hidden-state target), or None.
        recon: the storage network's auto output, (N, F + S) static or (N, T, F), or None.
        features: (N, T, H) the storage network's top-layer outputs, or None.
        classes: (N,) the class each pattern was steered toward, or None.
    """
    x: Tensor
    logits: Tensor
    context: Optional[Tensor] = None
    next_context: Optional[Tensor] = None
    recon: Optional[Tensor] = None
    features: Optional[Tensor] = None
    classes: Optional[Tensor] = None

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def static(self) -> bool:
        return self.x.dim() == 2

    def to(self, device) -> "PseudoBatch":
        kw = {k: (v.to(device) if isinstance(v, Tensor) else v) for k, v in self.__dict__.items()}
        return PseudoBatch(**kw)


@runtime_checkable
class PseudoGenerator(Protocol):
    """Anything with ``network`` and ``sample(n) -> PseudoBatch`` is a pseudo-pattern source.

    ``update(dataset, network)`` (optional) is called after each experience with that
    experience's training data, so that a learned generator (GAN, VAE) can learn it.
    """
    network: Optional[nn.Module]

    def sample(self, n: int) -> PseudoBatch:
        ...


@torch.no_grad()
def label_with(network: nn.Module, x: Tensor, classes: Optional[Tensor] = None,
               with_features: bool = True) -> PseudoBatch:
    """Label pseudo-sequences x (N, T, F) with a storage network: logits, auto output, features.

    Works with any classifier; for an :class:`~selfrefresh.models.AutoHeteroRNN` it also fills
    ``recon`` and ``features``.
    """
    was_training = network.training
    network.eval()
    try:
        if hasattr(network, "run"):
            out = network.run(x, with_context=False)
            return PseudoBatch(x=x, logits=out.logits, recon=out.recon,
                               features=out.features if with_features else None, classes=classes)
        return PseudoBatch(x=x, logits=network(x), classes=classes)
    finally:
        network.train(was_training)
