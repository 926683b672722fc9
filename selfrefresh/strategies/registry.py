"""Every strategy of the benchmark by name: :data:`STRATEGIES`, :func:`make_strategy`, checkpoint state.

``make_strategy(name, model, optimizer, **common)`` builds an Avalanche strategy: the lower bound
(``naive``), the upper bounds (``cumulative``, ``joint``), regularisation (``ewc``, ``si``,
``lwf``), rehearsal (``replay``, ``gem``, ``agem``), Avalanche's ``generative-replay`` with a
sequence VAE, and the dual self-refreshing network (``selfrefresh``: reverberation,
``selfrefresh-papers``: the papers' transfer, ``selfrefresh-plain``: the 2025 default,
``selfrefresh-gan``: recurrent GAN generator). ``common`` holds the keyword arguments of
Avalanche's ``SupervisedTemplate`` (``train_mb_size``, ``train_epochs``, ``eval_mb_size``,
``device``, ``plugins``, ``evaluator``, ``eval_every``); ``options`` overrides a strategy's own
hyper-parameters (e.g. ``{"mem_size": 500}`` for replay).

``strategy_state`` / ``load_strategy_state`` turn what a strategy carries from one experience to
the next into tensors and plain values (for ``torch.load(weights_only=True)``); strategies whose
state cannot be written that way are listed in :data:`NOT_RESUMABLE`.

Adding a strategy: write its :class:`~selfrefresh.strategies.spec.StrategySpec` beside its code
and add it to ``_SPECS`` below. Names are accepted with ``-`` or ``_``.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
from torch import nn

from .baselines import AVALANCHE_BASELINES
from .generative_replay import GENERATIVE_REPLAY
from .pooled_gaussian import POOLED_GAUSSIAN
from .selfrefresh_specs import SELFREFRESH, SELFREFRESH_SPECS
from .losses import PaddedCrossEntropyLoss
from .spec import BuildArgs, StrategySpec

__all__ = ["STRATEGIES", "STRATEGY_NAMES", "DEFAULT_OPTIONS", "NOT_RESUMABLE", "SELFREFRESH_NAMES", "RETIRED",
           "unregistered", "StrategySpec",
           "strategy_spec", "make_strategy", "stored_real_samples", "strategy_state", "load_strategy_state"]

_SPECS = (*AVALANCHE_BASELINES, GENERATIVE_REPLAY, POOLED_GAUSSIAN, *SELFREFRESH_SPECS)

#: name -> spec, in the order of the command line's help.
STRATEGIES: Dict[str, StrategySpec] = {s.name: s for s in _SPECS}
STRATEGY_NAMES = tuple(STRATEGIES)
#: Each strategy's own hyper-parameters (overridable with ``options``).
DEFAULT_OPTIONS = {s.name: s.defaults for s in _SPECS}
#: Strategies whose between-experience state (a buffer of Avalanche datasets, a generator
#: strategy) is not written to checkpoints: ``--resume`` restarts them from the first experience.
NOT_RESUMABLE = tuple(s.name for s in _SPECS if not s.resumable)
SELFREFRESH_NAMES = tuple(s.name for s in _SPECS if s.build is SELFREFRESH.build)
#: Names no longer registered -> what became of them (named in the error).
RETIRED = {"selfrefresh-fast": "its settings (half the pseudo-sequences per minibatch, each weighing twice) "
                               "are selfrefresh's defaults since 2026-12-03: use selfrefresh"}


def unregistered(name: str) -> Optional[str]:
    """None when ``name`` is a registered strategy as spelled, else what is wrong with it."""
    if name in STRATEGIES:
        return None
    key = str(name).strip().lower().replace("_", "-")
    if key in RETIRED:
        return f"strategy {name!r} was retired: {RETIRED[key]}"
    return f"unknown strategy {name!r}; choose one of: {', '.join(STRATEGY_NAMES)}"


def strategy_spec(name: str) -> StrategySpec:
    """The spec registered under ``name`` (``-`` or ``_`` spelling); ``ValueError`` if none."""
    key = str(name).strip().lower().replace("_", "-")
    if key not in STRATEGIES:
        raise ValueError(unregistered(name))
    return STRATEGIES[key]


def make_strategy(name: str, model: nn.Module, optimizer: torch.optim.Optimizer, *,
                  criterion: Optional[nn.Module] = None, options: Optional[dict] = None,
                  seq_len: Optional[int] = None, **common):
    """An Avalanche strategy by name (see :data:`STRATEGY_NAMES`).

    Args:
        name: strategy name.
        model: the classifier (an :class:`~selfrefresh.models.AutoHeteroRNN` for selfrefresh*
            and generative-replay).
        optimizer: its optimizer.
        criterion: loss (default cross-entropy).
        options: the strategy's own hyper-parameters, on top of :data:`DEFAULT_OPTIONS`.
        seq_len: sequence length T (the generators of generative-replay and selfrefresh-gan need it;
            the number of features and classes come from ``model.input_size`` / ``num_classes``).
        **common: ``SupervisedTemplate`` keyword arguments.
    """
    spec = strategy_spec(name)
    common = {k: v for k, v in common.items() if not (k == "evaluator" and v is None)}
    return spec.build(BuildArgs(name=spec.name, model=model, optimizer=optimizer,
                                criterion=criterion if criterion is not None else PaddedCrossEntropyLoss(),
                                options=spec.options(options), seq_len=seq_len, common=common))


def stored_real_samples(strategy, name: str) -> int:
    """How many real training sequences the strategy keeps after training (0 for data-free ones)."""
    return int(strategy_spec(name).stored_real_samples(strategy))


def strategy_state(strategy, name: str) -> dict:
    """What ``strategy`` carries between experiences, as tensors and plain values ({} when not resumable)."""
    spec = strategy_spec(name)
    return spec.state(strategy) if spec.resumable else {}


def load_strategy_state(strategy, name: str, state: dict, *, finished_experiences=()) -> None:
    """Restore :func:`strategy_state`; ``finished_experiences`` are the training experiences
    already learned (cumulative rebuilds its dataset from them)."""
    spec = strategy_spec(name)
    if spec.load_state is not None:
        spec.load_state(strategy, state, finished_experiences=finished_experiences)
