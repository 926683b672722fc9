"""Generative replay for any Avalanche strategy from a learned conditional sequence generator.

``strategy = Naive(..., plugins=[GANReplayPlugin(RecurrentGAN(T, F, C), mem_ratio=1.0)])``
"""
from __future__ import annotations

import copy
from typing import Optional

import torch
from avalanche.core import SupervisedPlugin

from ..generators.learned import LearnedSequenceGenerator

__all__ = ["GANReplayPlugin"]


class GANReplayPlugin(SupervisedPlugin):
    """Avalanche plugin: generative replay from a learned conditional generator.

    After each training experience the generator is updated (``generator.update``) on that
    experience's data plus its own replay of older classes. During training of the following
    experiences, each minibatch is extended with ``round(mem_ratio * B)`` generated sequences of
    the classes seen so far, labelled by the generator's class (``labels="generator"``) or by the
    argmax of a frozen copy of the model taken before the experience (``labels="model"``).

    Args:
        generator: a :class:`LearnedSequenceGenerator` (RecurrentGAN, ARGenerativeRNN, SequenceVAE).
        mem_ratio: generated sequences per real one in a minibatch.
        labels: ``"generator" | "model"``.
        update_epochs: epochs of each generator update (default: the generator's own).
    """

    def __init__(self, generator: LearnedSequenceGenerator, mem_ratio: float = 1.0, labels: str = "generator",
                 update_epochs: Optional[int] = None):
        super().__init__()
        if labels not in ("generator", "model"):
            raise ValueError(f"labels must be 'generator' or 'model', got {labels!r}")
        if mem_ratio <= 0:
            raise ValueError(f"mem_ratio must be > 0, got {mem_ratio}")
        self.generator, self.mem_ratio, self.labels = generator, mem_ratio, labels
        self.update_epochs = update_epochs
        self.old_model = None

    def before_training_exp(self, strategy, *args, **kwargs):
        if self.labels == "model" and self.generator.seen.any():
            self.old_model = copy.deepcopy(strategy.model).eval()

    def before_training_iteration(self, strategy, *args, **kwargs):
        if not self.generator.seen.any():
            return
        mb = strategy.mbatch
        n = max(1, int(round(self.mem_ratio * len(mb[0]))))
        x, y = self.generator.generate(n)
        x, y = x.to(strategy.device), y.to(strategy.device)
        if self.labels == "model" and self.old_model is not None:
            with torch.no_grad():
                y = self.old_model(x).argmax(-1)
        mb[0] = torch.cat([mb[0], x.to(mb[0].dtype)])
        mb[1] = torch.cat([mb[1], y.to(mb[1].dtype)])
        if len(mb) > 2:
            mb[-1] = torch.cat([mb[-1], mb[-1][:1].expand(n)])

    def after_training_exp(self, strategy, *args, **kwargs):
        self.generator.update(strategy.experience.dataset, network=None, epochs=self.update_epochs)
