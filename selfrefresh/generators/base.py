"""The protocol every pseudo-pattern source follows.

A generator makes pseudo-inputs and labels them with the *storage* network (NET2 in the dual
network): ``sample(n) -> PseudoBatch``. A strategy sets it up only through
``configure(network, classes, moments)`` (the storage network, the classes to stand for, the
data's per-feature moments); a generator that learns from data (a GAN) also implements
``update``, and one with a random state writes it with ``state_dict()`` / ``load_state_dict()``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Protocol, Sequence, Tuple, runtime_checkable

import torch
from torch import Tensor, nn

from .._checks import require_model

__all__ = ["PseudoBatch", "PseudoGenerator", "configure_generator", "label_with", "label_transitions"]


@dataclass
class PseudoBatch:
    """A batch of pseudo-patterns and their targets.

    Attributes:
        x: pseudo-inputs, (N, T, F) sequences, or (N, F) items of static pseudo-patterns.
        logits: the storage network's class logits for them, (N, C); soft targets.
        context: (N, S) context of static pseudo-patterns; for sequences labelled with
            :func:`label_transitions`, (N, T, S) the storage network's state before each step.
        next_context: the storage network's next state (hidden-state target): (N, S) static,
            (N, T, S) with transitions, or None.
        recon: the storage network's auto output: (N, F + S) static, (N, T, F) sequences,
            (N, T, F + S) with transitions, or None.
        features: (N, T, H) the storage network's top-layer outputs, or None.
        classes: (N,) the class each pattern was steered toward, or None.
        step_logits: (N, T, C) the storage network's logits after every step (transitions), or None.
    """
    x: Tensor
    logits: Tensor
    context: Optional[Tensor] = None
    next_context: Optional[Tensor] = None
    recon: Optional[Tensor] = None
    features: Optional[Tensor] = None
    classes: Optional[Tensor] = None
    step_logits: Optional[Tensor] = None

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def static(self) -> bool:
        return self.x.dim() == 2

    @property
    def transitions(self) -> bool:
        """Sequences that carry the storage network's per-step states (:func:`label_transitions`)."""
        return self.x.dim() == 3 and self.context is not None and self.step_logits is not None

    def to(self, device) -> "PseudoBatch":
        kw = {k: (v.to(device) if isinstance(v, Tensor) else v) for k, v in self.__dict__.items()}
        return PseudoBatch(**kw)


@runtime_checkable
class PseudoGenerator(Protocol):
    """Anything with ``network``, ``configure`` and ``sample(n) -> PseudoBatch`` is a pseudo-pattern source.

    Optional methods:

    * ``update(dataset, network)``: called after each experience with that experience's training
      data, so that a learned generator (GAN, VAE) can learn it;
    * ``state_dict() -> dict`` and ``load_state_dict(state)``: what a checkpoint must keep (a
      random state; tensors and plain values only);
    * ``manual_seed(seed)``: seed the generator's own random numbers.

    A generator without ``configure`` still works with :func:`configure_generator`, which then
    sets its ``network`` (and nothing else).
    """
    network: Optional[nn.Module]

    def configure(self, network: Optional[nn.Module], classes: Optional[Sequence[int]] = None,
                  moments: Optional[Tuple[Tensor, Tensor]] = None) -> "PseudoGenerator":
        """Set the storage network that labels the samples; ``classes``: the classes the samples
        should stand for (None: any); ``moments``: (mean (F,), std (F,)) of the real data seen so
        far, or None. A generator uses what applies to it and ignores the rest."""
        ...

    def sample(self, n: int) -> PseudoBatch:
        ...


def configure_generator(generator, network: Optional[nn.Module], classes: Optional[Sequence[int]] = None,
                        moments: Optional[Tuple[Tensor, Tensor]] = None):
    """``generator.configure(network, classes, moments)``; for a user's generator without
    ``configure``, sets its ``network`` only. Returns the generator."""
    if hasattr(generator, "configure"):
        generator.configure(network, classes=classes, moments=moments)
    else:
        generator.network = network
    return generator


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


@torch.no_grad()
def label_transitions(network: nn.Module, batch: PseudoBatch) -> PseudoBatch:
    """Add the storage network's step-by-step transitions to pseudo-sequences.

    For every step t of x (N, T, F): the context before it, ``context`` (N, T, S); the state
    after it, ``next_context`` (N, T, S); the logits after it, ``step_logits`` (N, T, C); and
    the auto output ``recon`` (N, T, F + S). These are Ans et al.'s (2004) (item, context) ->
    (class, item, context, next context) pseudo-patterns, taken along the network's own
    reverberated trajectories instead of from random contexts, so a student can learn all T
    of them in one parallel step (``AutoHeteroRNN.step`` on N * T rows) instead of unrolling.
    Needs an :class:`~selfrefresh.models.AutoHeteroRNN`-like network (``run`` with contexts).
    """
    if batch.static:
        raise ValueError("label_transitions needs pseudo-sequences (N, T, F), got static patterns")
    require_model(network, "label_transitions", ("run", "rnn"))
    was_training = network.training
    network.eval()
    try:
        out = network.run(batch.x, with_context=True)
    finally:
        network.train(was_training)
    f = batch.x.shape[-1]
    contexts = out.recon_target[..., f:]
    final = network.rnn.flatten_state(out.final_state).unsqueeze(1)
    kw = dict(batch.__dict__)
    kw.update(logits=out.logits, context=contexts, next_context=torch.cat([contexts[:, 1:], final], dim=1),
              recon=out.recon, step_logits=out.step_logits)
    return PseudoBatch(**kw)
