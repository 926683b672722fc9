"""What a registered strategy is: :class:`StrategySpec`, and helpers its functions share.

A spec names a strategy and gathers everything the rest of the library asks about it by name:
how to build it, its default hyper-parameters, what it carries between experiences (written to
and read from checkpoints), how many real sequences it stores, and whether it can be resumed.
The specs live beside their strategies (:mod:`~selfrefresh.strategies.baselines`,
:mod:`~selfrefresh.strategies.generative_replay`, :mod:`~selfrefresh.strategies.selfrefresh_specs`);
:mod:`~selfrefresh.strategies.registry` lists them.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Callable, Optional

from torch import nn

from .._checks import require_model

__all__ = ["StrategySpec", "BuildArgs", "find_plugin", "need_seq_len", "model_size", "no_state", "nothing_stored"]


@dataclass
class BuildArgs:
    """What :func:`~selfrefresh.strategies.registry.make_strategy` hands a spec's ``build``.

    Attributes:
        name: the registered name being built.
        model, optimizer, criterion: the classifier, its optimizer and the loss (never None).
        options: the strategy's own hyper-parameters: the spec's defaults updated with the user's.
        seq_len: sequence length T, or None when unknown.
        common: Avalanche ``SupervisedTemplate`` keyword arguments (``train_mb_size``,
            ``train_epochs``, ``eval_mb_size``, ``device``, ``plugins``, ``evaluator``, ``eval_every``).
    """
    name: str
    model: nn.Module
    optimizer: object
    criterion: nn.Module
    options: dict
    seq_len: Optional[int]
    common: dict


def no_state(strategy) -> dict:
    """The state of a strategy that carries nothing between experiences (or cannot write it)."""
    return {}


def nothing_stored(strategy) -> int:
    """The stored real sequences of a data-free strategy."""
    return 0


@dataclass(frozen=True)
class StrategySpec:
    """One registered strategy.

    Attributes:
        name: the command-line name.
        build: ``build(args: BuildArgs)`` -> an Avalanche strategy.
        defaults: its own hyper-parameters (``options`` of ``make_strategy`` override them).
        state: ``state(strategy) -> dict`` of tensors and plain values: what it carries from one
            experience to the next.
        load_state: ``load_state(strategy, state, finished_experiences)`` restores ``state``;
            ``finished_experiences`` are the training experiences already learned.
        stored_real_samples: ``stored_real_samples(strategy) -> int``: real training sequences
            it keeps (0 for data-free strategies).
        resumable: False when ``state`` cannot be written as tensors (a resumed run then
            restarts from the first experience).
        summary: one line for help texts.
        option_target: ``option_target()`` -> the callable its options reach (the Avalanche class,
            a plugin, a factory): its keyword parameters are the options the strategy takes
            (``selfrefresh.runs.options``); None: it takes none.
    """
    name: str
    build: Callable
    defaults: dict = field(default_factory=dict)
    state: Callable = no_state
    load_state: Optional[Callable] = None
    stored_real_samples: Callable = nothing_stored
    resumable: bool = True
    summary: str = ""
    option_target: Optional[Callable] = None

    def options(self, overrides: Optional[dict] = None) -> dict:
        """The defaults (a deep copy) updated with ``overrides``."""
        opts = copy.deepcopy(self.defaults)
        opts.update(overrides or {})
        return opts

    def preset(self, name: str, defaults: dict, summary: str = "") -> "StrategySpec":
        """The same strategy registered under another name with other defaults (on top of these)."""
        return replace(self, name=name, defaults={**copy.deepcopy(self.defaults), **defaults},
                       summary=summary or self.summary)


def find_plugin(strategy, cls_name: str):
    """The strategy's plugin of class ``cls_name`` (or a subclass of it), else None."""
    for p in strategy.plugins:
        if type(p).__name__ == cls_name or any(c.__name__ == cls_name for c in type(p).__mro__):
            return p
    return None


def need_seq_len(name: str, seq_len: Optional[int]) -> int:
    if seq_len is None:
        raise ValueError(f"the {name} strategy needs the sequence length: pass seq_len=")
    return int(seq_len)


def model_size(model: nn.Module, attr: str, name: str) -> int:
    require_model(model, f"the {name} strategy", (attr,))
    return int(getattr(model, attr))
