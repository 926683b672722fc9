"""The dual self-refreshing network's registered strategies: ``selfrefresh`` and its presets.

* ``selfrefresh``: :class:`~selfrefresh.strategies.self_refresh.SelfRefresh` with its defaults
  (steered reverberation);
* ``selfrefresh-papers``: NET2 learns NET1's pseudo-patterns instead of copying its weights;
* ``selfrefresh-plain``: without the class-incremental additions (the 2025 default);
* ``selfrefresh-gan``: a recurrent GAN as the generator.

The presets live beside the method (:data:`~selfrefresh.strategies.self_refresh.config.PRESETS`).

The build fills in what a generator needs from the data: ``seq_len`` for reverberation, static and
noise generators (when known), the data's shape and the device for learned ones (GAN).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .._checks import require_model
from ..generators.registry import GeneratorSpec, generator_spec
from .spec import BuildArgs, StrategySpec, model_size, need_seq_len
from .self_refresh.config import PRESETS
from .state_codec import decode_state, encode_state

__all__ = ["SELFREFRESH", "SELFREFRESH_PAPERS", "SELFREFRESH_PLAIN", "SELFREFRESH_GAN",
           "SELFREFRESH_SPECS"]


def _named_generator(generator) -> Optional[GeneratorSpec]:
    """The registered spec of a generator given by name (None for an instance or an unknown name,
    which SelfRefresh itself reports)."""
    if not isinstance(generator, str):
        return None
    try:
        return generator_spec(generator)
    except ValueError:
        return None


def _build(a: BuildArgs):
    from .self_refresh import SelfRefresh
    opts = a.options
    gen = _named_generator(opts.get("generator", "reverberation"))
    if isinstance(opts.get("generator", "reverberation"), str):
        # what the named generator will use of the model (an instance brings its own checks)
        require_model(a.model, f"the {a.name} strategy",
                      ("input_size", "num_classes") if gen is not None and gen.learned else ("input_size", "run"))
    if gen is not None and not gen.learned and a.seq_len is not None:
        # known from the start (else set at the first minibatch, which a resumed run lacks
        # before its first pool of pseudo-patterns)
        opts["generator_kwargs"] = {"seq_len": int(a.seq_len), **(opts.get("generator_kwargs") or {})}
    if gen is not None and gen.learned:
        gkw = dict(opts.get("generator_kwargs") or {})
        gkw.setdefault("seq_len", need_seq_len(a.name, a.seq_len))
        gkw.setdefault("n_features", model_size(a.model, "input_size", a.name))
        gkw.setdefault("num_classes", model_size(a.model, "num_classes", a.name))
        gkw.setdefault("device", a.common.get("device", "cpu"))
        opts["generator_kwargs"] = gkw
    return SelfRefresh(model=a.model, optimizer=a.optimizer, criterion=a.criterion, **opts, **a.common)


def _selfrefresh_class():
    from .self_refresh import SelfRefresh
    return SelfRefresh


def _plain(value):
    """``value`` as plain values (for ``torch.load(weights_only=True)``); other objects by their type."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return f"<{type(value).__name__}>"


def _settings(config) -> dict:
    """The method's settings that shape its training (the generator's device is where it runs, not one)."""
    settings = _plain(config.as_dict())
    if isinstance(settings.get("generator_kwargs"), dict):
        settings["generator_kwargs"] = {k: v for k, v in settings["generator_kwargs"].items() if k != "device"}
    return settings


def _check_settings(recorded: dict, config) -> None:
    """ValueError naming each setting that differs between a checkpoint and this strategy."""
    now = _settings(config)
    differ = sorted(k for k in set(recorded) | set(now) if recorded.get(k) != now.get(k))
    if differ:
        raise ValueError("the checkpoint was written with other SelfRefresh settings (the library's defaults may "
                         "have changed since): " + ", ".join(f"{k} {recorded.get(k)!r} there, {now.get(k)!r} here"
                                                             for k in differ)
                         + "; resume with those values as options, or start the run again")


def _state(strategy) -> dict:
    state = {"refresh": strategy.refresh.state_dict(), "settings": _settings(strategy.refresh.config)}
    gen = strategy.refresh.generator
    if isinstance(gen, nn.Module):
        state["generator"] = gen.state_dict()
    elif hasattr(gen, "state_dict") and callable(gen.state_dict):
        try:
            state["generator"] = encode_state(gen.state_dict())
        except TypeError:
            pass
    return state


def _load_state(strategy, state: dict, finished_experiences=()) -> None:
    if "settings" in state:           # checkpoints written before 2026-12-03 did not record them
        _check_settings(state["settings"], strategy.refresh.config)
    device = strategy.device
    strategy.refresh.load_state_dict(state["refresh"], strategy.model)
    if strategy.refresh.storage is not None:
        strategy.refresh.storage.to(device)
    if strategy.refresh.known is not None:
        strategy.refresh.known = strategy.refresh.known.cpu()
    if "generator" in state:
        gen = strategy.refresh.generator
        gen.load_state_dict(state["generator"] if isinstance(gen, nn.Module) else decode_state(state["generator"], device))


def _stored_real_samples(strategy) -> int:
    """The real sequences kept as reverberation seeds (a generator's ``buffer``/``seeds`` tensor), else 0."""
    gen = strategy.refresh.generator
    for attr in ("buffer", "seeds"):
        seeds = getattr(gen, attr, None)
        if isinstance(seeds, torch.Tensor):
            return int(seeds.shape[0])
    return 0


SELFREFRESH = StrategySpec("selfrefresh", _build, PRESETS["selfrefresh"], _state, _load_state, _stored_real_samples,
                           summary="dual self-refreshing network, steered reverberation",
                           option_target=_selfrefresh_class)
SELFREFRESH_PAPERS = SELFREFRESH.preset("selfrefresh-papers", PRESETS["selfrefresh-papers"],
                                        "selfrefresh where NET2 learns NET1's pseudo-patterns (the papers' transfer)")
SELFREFRESH_PLAIN = SELFREFRESH.preset("selfrefresh-plain", PRESETS["selfrefresh-plain"],
                                       "selfrefresh without the class-incremental additions (the 2025 default)")
SELFREFRESH_GAN = SELFREFRESH.preset("selfrefresh-gan", PRESETS["selfrefresh-gan"],
                                     "selfrefresh with a recurrent GAN generator")

SELFREFRESH_SPECS = (SELFREFRESH, SELFREFRESH_PAPERS, SELFREFRESH_PLAIN, SELFREFRESH_GAN)
