"""The dual self-refreshing network as an Avalanche strategy: the plugin, with one fused pass."""
from __future__ import annotations

import dataclasses
import inspect
from typing import Optional

import torch
from avalanche.training.templates import SupervisedTemplate
from torch import nn

from ..losses import PaddedCrossEntropyLoss
from .config import SelfRefreshConfig
from .plugin import SelfRefreshPlugin

__all__ = ["SelfRefresh"]

_TEMPLATE_ARGS = ("train_mb_size", "train_epochs", "eval_mb_size", "device", "plugins", "evaluator",
                  "eval_every")


class _FusedRefresh(SelfRefreshPlugin):
    """The plugin whose loss the strategy's criterion already computes."""

    def before_backward(self, strategy, **kwargs):
        pass


class SelfRefresh(SupervisedTemplate):
    """Dual self-refreshing network as an Avalanche strategy.

    ``model`` is NET1, an :class:`~selfrefresh.models.AutoHeteroRNN`. Each minibatch runs real
    and pseudo sequences through one fused pass; the loss is the real-data class loss (+ auto
    loss) plus the pseudo-pattern loss. Keyword-only arguments, as in Avalanche's strategies:
    ``model``, ``optimizer``, ``criterion`` (default cross-entropy that also evaluates a head not yet grown to the test
    labels; used in evaluation), a
    ``config`` (:class:`SelfRefreshConfig`) and/or its fields as keywords (e.g.
    ``generator="gan", pseudo_ratio=2``), and those of Avalanche's ``SupervisedTemplate``
    (``train_mb_size`` 32, ``train_epochs`` 1, ``eval_mb_size`` 256, ``device``, ``plugins``,
    ``evaluator``, ``eval_every``).
    """

    def __init__(self, *, model: nn.Module, optimizer: torch.optim.Optimizer, criterion=None,
                 config: Optional[SelfRefreshConfig] = None, train_mb_size: int = 32, train_epochs: int = 1,
                 eval_mb_size: int = 256, device="cpu", plugins=None, evaluator=None, eval_every: int = -1,
                 **options):
        if not hasattr(model, "run"):
            raise TypeError(f"SelfRefresh needs an AutoHeteroRNN-like model (with .run and an auto head); "
                            f"got {type(model).__name__}. Use SelfRefreshPlugin(generator='noise') in another "
                            "strategy for a plain classifier")
        for name, v in (("train_mb_size", train_mb_size), ("train_epochs", train_epochs),
                        ("eval_mb_size", eval_mb_size)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"{name} must be an int >= 1, got {type(v).__name__} {v!r}")
            if v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        unknown = set(options) - set(SelfRefreshConfig.names())
        if unknown:
            raise TypeError(f"SelfRefresh got unknown options {sorted(unknown)}; it takes those of "
                            f"SelfRefreshConfig ({', '.join(SelfRefreshConfig.names())}) and {', '.join(_TEMPLATE_ARGS)}")
        if config is not None and options:
            config = SelfRefreshConfig(**{**config.as_dict(), **options})
        self.refresh = _FusedRefresh(config if config is not None else SelfRefreshConfig(**options))
        kw = {} if evaluator is None else {"evaluator": evaluator}
        super().__init__(model=model, optimizer=optimizer,
                         criterion=criterion if criterion is not None else PaddedCrossEntropyLoss(),
                         train_mb_size=train_mb_size, train_epochs=train_epochs, eval_mb_size=eval_mb_size,
                         device=device, plugins=[self.refresh] + list(plugins or []), eval_every=eval_every, **kw)

    @property
    def config(self) -> SelfRefreshConfig:
        return self.refresh.config

    @property
    def generator(self):
        return self.refresh.generator

    @property
    def storage(self):
        """NET2, the storage network (None before the first experience ends)."""
        return self.refresh.storage

    def forward(self):
        if not self.is_training:
            return super().forward()
        return self.refresh.method.forward_train(self.model, self.mb_x)

    def criterion(self):
        if not self.is_training:
            return super().criterion()
        return self.refresh.method.training_loss(self.model, self.mb_x, self.mb_y)


def _signature_with_config_fields(init) -> inspect.Signature:
    """``init``'s signature with ``**options`` spelled out as the config's fields (keyword-only,
    with their defaults): what ``help(SelfRefresh)`` shows and what Avalanche's check of
    misspelled keyword arguments reads."""
    sig = inspect.signature(init)
    params = [p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
    for f in dataclasses.fields(SelfRefreshConfig):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default))
    return sig.replace(parameters=params)


SelfRefresh.__init__.__signature__ = _signature_with_config_fields(SelfRefresh.__init__)
