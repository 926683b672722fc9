"""The dual self-refreshing memory as a plugin for any Avalanche supervised strategy."""
from __future__ import annotations

from typing import Optional

import torch
from avalanche.core import SupervisedPlugin

from .checks import grow_head
from .config import SelfRefreshConfig
from .method import DualMemory

__all__ = ["SelfRefreshPlugin", "experience_sample"]

_SAMPLE = 512  # real sequences of the current experience used as seeds / for calibration


def experience_sample(dataset, n: int, seed: int):
    """Up to n sequences of an Avalanche dataset, drawn without replacement: x (n, T, F), y (n,).

    Uses its own random generator (the global one is left as it is)."""
    gen = torch.Generator().manual_seed(int(seed))
    idx = torch.randperm(len(dataset), generator=gen)[:n].tolist()
    items = [dataset[i] for i in idx]
    x = torch.stack([torch.as_tensor(it[0], dtype=torch.float32) for it in items])
    y = torch.as_tensor([int(it[1]) for it in items], dtype=torch.long)
    return x, y


class SelfRefreshPlugin(SupervisedPlugin):
    """Dual-network self-refreshing memory for any Avalanche supervised strategy on an
    :class:`~selfrefresh.models.AutoHeteroRNN` (e.g. ``Naive(..., plugins=[SelfRefreshPlugin()])``).

    The host strategy's criterion gives the cross-entropy on real data; the plugin adds what
    :class:`~selfrefresh.strategies.SelfRefresh` adds (auto loss on real data, pseudo-patterns of
    NET2, the optional LwF term; with ``real_loss="current"`` a separated softmax replaces the
    host's cross-entropy), so both train the same thing. Takes a :class:`SelfRefreshConfig` or its
    fields as keywords.
    """

    def __init__(self, config: Optional[SelfRefreshConfig] = None, **options):
        super().__init__()
        if config is not None and options:
            raise TypeError("pass a SelfRefreshConfig or keyword options, not both")
        self.config = config if config is not None else SelfRefreshConfig(**options)
        self.method = DualMemory(self.config)
        self._real = None  # (x, y) sample of the current experience, when the config uses one

    # what users and checkpoints read
    @property
    def generator(self):
        return self.method.generator

    @property
    def storage(self):
        """NET2, the storage network (None before the first experience ends)."""
        return self.method.storage

    @property
    def known(self):
        return self.method.known

    @known.setter
    def known(self, value):
        self.method.known = value

    @property
    def seen(self):
        return self.method.seen

    # -- Avalanche callbacks ------------------------------------------------------------------
    def before_train_dataset_adaptation(self, strategy, **kwargs):
        exp = strategy.experience
        if len(exp.dataset) == 0:
            raise ValueError(f"SelfRefresh: experience {exp.current_experience} has no training data")
        grow_head(strategy.model, sorted(int(c) for c in exp.classes_in_this_experience))

    def before_training_exp(self, strategy, **kwargs):
        exp, cfg = strategy.experience, self.config
        needs_real = cfg.seeds == "current" or cfg.calibrate_steps > 0 or cfg.warmup_steps > 0
        self._real = (experience_sample(exp.dataset, _SAMPLE, cfg.seed + exp.current_experience)
                      if needs_real else None)
        self.method.begin_experience(strategy.model, [int(c) for c in exp.classes_in_this_experience],
                                     len(exp.dataset), strategy.train_mb_size, strategy.train_epochs,
                                     real_x=None if self._real is None else self._real[0],
                                     real_y=None if self._real is None else self._real[1])

    def before_training_epoch(self, strategy, **kwargs):
        self.method.begin_epoch()

    def before_forward(self, strategy, **kwargs):
        self.method.observe(strategy.model, strategy.mb_x, strategy.mb_y,
                            first_epoch=strategy.clock.train_exp_epochs == 0)

    def before_backward(self, strategy, **kwargs):
        if not hasattr(strategy.model, "run") and not self.method.active():
            return
        if not hasattr(strategy.model, "run"):  # a plain classifier: distillation on pseudo-patterns only
            batch = self.method.next_pseudo(len(strategy.mb_y), strategy.device)
            strategy.loss = strategy.loss + self.method.pseudo_loss(strategy.model, batch)
            return
        strategy.loss = strategy.loss + self.method.training_loss(strategy.model, strategy.mb_x, strategy.mb_y,
                                                                  with_class_loss=False)

    def before_update(self, strategy, **kwargs):
        self.method.before_update(strategy.model)

    def after_update(self, strategy, **kwargs):
        self.method.after_update(strategy.model)

    def after_training_exp(self, strategy, **kwargs):
        exp = strategy.experience
        real_x, real_y = self._real if self._real is not None else (None, None)
        self.method.end_experience(strategy.model, [int(c) for c in exp.classes_in_this_experience],
                                   strategy.train_mb_size, strategy.device, real_x=real_x, real_y=real_y,
                                   dataset=exp.dataset)
        self._real = None

    # -- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return self.method.state_dict()

    def load_state_dict(self, state: dict, model) -> None:
        self.method.load_state_dict(state, model)
