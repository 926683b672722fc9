"""Avalanche strategies and plugins: the dual self-refreshing network, GAN replay, baselines.

Every strategy is registered by name in :mod:`selfrefresh.strategies.registry` (``STRATEGIES``,
``make_strategy``).

Imported lazily: Avalanche (and what it pulls in) loads on first use, not at ``import selfrefresh``.
"""
import importlib

_NAMES = {
    "SelfRefresh": "self_refresh", "SelfRefreshPlugin": "self_refresh", "make_generator": "self_refresh",
    "SelfRefreshConfig": "self_refresh", "DualMemory": "self_refresh",
    "align_class_weights": "self_refresh", "GANReplayPlugin": "gan_replay", "make_strategy": "registry",
    "STRATEGIES": "registry", "StrategySpec": "spec", "avalanche_generative_replay": "generative_replay",
    "PaddedCrossEntropyLoss": "losses",
}

__all__ = list(_NAMES)


def __getattr__(name):
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
