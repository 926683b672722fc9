"""Which ``--option KEY=VALUE`` a strategy takes, read from the signature its options reach.

``make_strategy`` (``selfrefresh/strategies/registry.py``) passes a strategy's options to one
callable: the Avalanche strategy class, EWC's plugin, the generative-replay factory or
:class:`~selfrefresh.strategies.SelfRefresh`; Naive, Cumulative and Joint take none. The names a
strategy takes are that callable's keyword parameters, less the ``SupervisedTemplate`` ones.
Each spec names that callable (``StrategySpec.option_target``).
"""
from __future__ import annotations

import inspect
from typing import Dict, Sequence

from .errors import ExperimentError

__all__ = ["option_names", "options_for"]


def _option_target(strategy: str):
    """The callable ``make_strategy`` hands ``strategy``'s options to (``None``: it takes none),
    as its registered spec says."""
    from ..strategies.registry import strategy_spec
    target = strategy_spec(strategy).option_target
    return None if target is None else target()


def option_names(strategy: str) -> frozenset:
    """The option names ``strategy`` takes (its target's named keyword parameters; a ``**kwargs``
    there collects ``SupervisedTemplate`` arguments, not options)."""
    from avalanche.training.templates import SupervisedTemplate
    target = _option_target(strategy)
    if target is None:
        return frozenset()
    template = set(inspect.signature(SupervisedTemplate.__init__).parameters)
    params = inspect.signature(target).parameters.values()
    return frozenset(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                     and p.name not in template and p.name not in ("self", "model", "optimizer", "criterion"))


def options_for(strategies: Sequence[str], options: Dict[str, object]) -> Dict[str, dict]:
    """``options`` split per strategy: each strategy gets the options it takes. An option that
    none of ``strategies`` takes is refused, naming the strategies that do."""
    from ..strategies.registry import STRATEGY_NAMES
    names = {s: option_names(s) for s in STRATEGY_NAMES}
    for key in options:
        if not any(key in names[s] for s in strategies):
            takers = [s for s in STRATEGY_NAMES if key in names[s]]
            where = f"it is an option of {', '.join(takers)}" if takers else "no strategy takes it"
            raise ExperimentError(f"--option {key}: not taken by {', '.join(strategies)}; {where}")
    return {s: {k: v for k, v in options.items() if k in names[s]} for s in strategies}
