"""Pseudo-pattern sources by name (temporary home until the generator registry lands)."""
from __future__ import annotations

from typing import Union

from ...generators.reverberation import Noise, Reverberation

__all__ = ["make_generator", "STRATEGY_REVERBERATION_DEFAULTS"]

# Steering the seeds toward NET2's classes before reverberating: see docs (ablation).
STRATEGY_REVERBERATION_DEFAULTS = {"reverberations": 5, "steer_steps": 10}


def make_generator(generator: Union[str, object, None], **kwargs):
    """A generator from a name (``"reverberation"``, ``"static"``, ``"noise"``, ``"gan"``) or as is."""
    if generator is None or generator == "reverberation":
        return Reverberation(**{**STRATEGY_REVERBERATION_DEFAULTS, **kwargs})
    if generator == "static":
        return Reverberation(mode="static", **kwargs)
    if generator == "noise":
        return Noise(**{k: v for k, v in kwargs.items() if k in ("seq_len", "noise_std", "seeds")})
    if generator == "gan":
        from ...generators.gan import RecurrentGAN  # optional heavy import
        return RecurrentGAN(**kwargs)
    if isinstance(generator, str):
        raise ValueError(f"unknown generator {generator!r}; choose 'reverberation', 'static', 'noise', "
                         "'gan' or pass an instance with .network and .sample(n)")
    if not hasattr(generator, "sample"):
        raise TypeError(f"a generator needs a sample(n) method; got {type(generator).__name__}")
    return generator
