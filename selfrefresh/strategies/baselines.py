"""Every strategy of the benchmark by name, and their between-experience state for checkpoints.

``make_strategy(name, model, optimizer, **common)`` builds an Avalanche strategy: the lower bound
(``naive``), the upper bounds (``cumulative``, ``joint``), regularisation (``ewc``, ``si``,
``lwf``), rehearsal (``replay``, ``gem``, ``agem``), Avalanche's ``generative-replay`` with a
sequence VAE, and the dual self-refreshing network (``selfrefresh``: reverberation,
``selfrefresh-fast``: half as many pseudo-sequences per minibatch, each weighing twice,
``selfrefresh-gan``: recurrent GAN generator). ``common`` holds the keyword arguments of
Avalanche's ``SupervisedTemplate`` (``train_mb_size``, ``train_epochs``, ``eval_mb_size``,
``device``, ``plugins``, ``evaluator``, ``eval_every``); ``options`` overrides a strategy's own
hyper-parameters (e.g. ``{"mem_size": 500}`` for replay).

``strategy_state`` / ``load_strategy_state`` turn what a strategy carries from one experience to
the next into tensors and plain values (for ``torch.load(weights_only=True)``); strategies whose
state cannot be written that way are listed in :data:`NOT_RESUMABLE`.
"""
from __future__ import annotations

import copy
from collections import defaultdict
from typing import Optional

import torch
from torch import nn

from .._checks import require_model
from .losses import PaddedCrossEntropyLoss

__all__ = ["STRATEGY_NAMES", "DEFAULT_OPTIONS", "NOT_RESUMABLE", "make_strategy", "stored_real_samples",
           "strategy_state", "load_strategy_state"]

STRATEGY_NAMES = ("naive", "cumulative", "joint", "ewc", "si", "lwf", "replay", "gem", "agem",
                  "generative-replay", "selfrefresh", "selfrefresh-fast", "selfrefresh-gan")
SELFREFRESH_NAMES = ("selfrefresh", "selfrefresh-fast", "selfrefresh-gan")

# Each strategy's own hyper-parameters (overridable with ``options``).
DEFAULT_OPTIONS = {
    "ewc": {"ewc_lambda": 100.0, "mode": "separate"},
    "si": {"si_lambda": 1.0},
    "lwf": {"alpha": 1.0, "temperature": 2.0},
    "replay": {"mem_size": 200},
    "gem": {"patterns_per_exp": 64, "memory_strength": 0.5},
    "agem": {"patterns_per_exp": 64, "sample_size": 64},
    "generative-replay": {},
    "selfrefresh": {},
    # Half the pseudo-sequences per minibatch (and in the pool), each weighing twice: the same
    # weight of pseudo-patterns per epoch for less compute. Within 0.03 of "selfrefresh" on
    # JapaneseVowels (10 seeds) and speech (9 seeds), paired by seed (README, Speed).
    "selfrefresh-fast": {"pseudo_ratio": 0.5, "distill_weight": 2.0, "auto_weight": 2.0},
    "selfrefresh-gan": {"generator": "gan", "generator_kwargs": {"update_epochs": 200}},
}

# Strategies whose between-experience state (a buffer of Avalanche datasets, a generator
# strategy) is not written to checkpoints: ``--resume`` restarts them from the first experience.
NOT_RESUMABLE = ("replay", "agem", "generative-replay")


def _ewc_plugin_class():
    from avalanche.training.plugins import EWCPlugin

    class RNNSafeEWCPlugin(EWCPlugin):
        """EWC whose importance pass keeps cuDNN RNNs in train mode on CUDA.

        Avalanche 0.6.0 compares ``device == "cuda"`` with a ``torch.device``, so its guard never
        fires and the backward pass through a cuDNN RNN in eval mode fails.
        """

        def compute_importances(self, model, criterion, optimizer, dataset, device, batch_size,
                                num_workers=0):
            if torch.device(device).type == "cuda":
                device = "cuda"  # the string the guard expects (it then sets RNNBase modules to train)
            return super().compute_importances(model, criterion, optimizer, dataset, device, batch_size,
                                               num_workers=num_workers)

    return RNNSafeEWCPlugin


def make_strategy(name: str, model: nn.Module, optimizer: torch.optim.Optimizer, *,
                  criterion: Optional[nn.Module] = None, options: Optional[dict] = None,
                  seq_len: Optional[int] = None, **common):
    """An Avalanche strategy by name (see :data:`STRATEGY_NAMES`).

    Args:
        name: strategy name.
        model: the classifier (an :class:`~selfrefresh.models.AutoHeteroRNN` for selfrefresh*
            and generative-replay).
        optimizer: its optimizer.
        criterion: loss (default cross-entropy, :class:`~selfrefresh.strategies.losses.PaddedCrossEntropyLoss`:
            evaluating a head smaller than the test labels counts the missing classes as errors).
        options: the strategy's own hyper-parameters, on top of :data:`DEFAULT_OPTIONS`.
        seq_len: sequence length T (the generators of generative-replay and selfrefresh-gan need it;
            the number of features and classes come from ``model.input_size`` / ``num_classes``).
        **common: ``SupervisedTemplate`` keyword arguments.
    """
    if name not in STRATEGY_NAMES:
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGY_NAMES)}")
    opts = dict(DEFAULT_OPTIONS.get(name, {}))
    opts.update(options or {})
    # cross-entropy that also evaluates a head not yet grown to the test stream's classes
    crit = criterion if criterion is not None else PaddedCrossEntropyLoss()
    common = {k: v for k, v in common.items() if not (k == "evaluator" and v is None)}
    from avalanche.training.supervised import (AGEM, GEM, Cumulative, JointTraining, LwF, Naive, Replay,
                                               SynapticIntelligence)
    from avalanche.training.templates import SupervisedTemplate

    if name == "naive":
        return Naive(model=model, optimizer=optimizer, criterion=crit, **common)
    if name == "cumulative":
        return Cumulative(model=model, optimizer=optimizer, criterion=crit, **common)
    if name == "joint":
        return JointTraining(model=model, optimizer=optimizer, criterion=crit, **common)
    if name == "ewc":
        plugin = _ewc_plugin_class()(**opts)
        plugins = [plugin] + list(common.pop("plugins", None) or [])
        return SupervisedTemplate(model=model, optimizer=optimizer, criterion=crit, plugins=plugins, **common)
    if name == "si":
        return SynapticIntelligence(model=model, optimizer=optimizer, criterion=crit, **opts, **common)
    if name == "lwf":
        return LwF(model=model, optimizer=optimizer, criterion=crit, **opts, **common)
    if name == "replay":
        return Replay(model=model, optimizer=optimizer, criterion=crit, **opts, **common)
    if name == "gem":
        return GEM(model=model, optimizer=optimizer, criterion=crit, **opts, **common)
    if name == "agem":
        return AGEM(model=model, optimizer=optimizer, criterion=crit, **opts, **common)
    if name == "generative-replay":
        try:
            from ..generators.baselines import avalanche_generative_replay
        except ImportError as err:
            raise RuntimeError("the generative-replay strategy needs selfrefresh.generators.baselines."
                               f"avalanche_generative_replay, which is not available ({err})") from None
        opts.setdefault("seq_len", _need_seq_len(name, seq_len))
        opts.setdefault("n_features", _model_size(model, "input_size", name))
        return avalanche_generative_replay(model=model, optimizer=optimizer, criterion=crit, **opts, **common)
    # selfrefresh, selfrefresh-fast, selfrefresh-gan
    from .self_refresh import SelfRefresh
    gen = opts.get("generator", "reverberation")
    if isinstance(gen, str):
        # what the named generator will use of the model (a generator instance brings its own checks)
        needs = {"noise": ("input_size",), "gan": ("input_size", "num_classes")}.get(gen, ("input_size", "run"))
        require_model(model, f"the {name} strategy", needs)
    if seq_len is not None and opts.get("generator", "reverberation") in ("reverberation", "static", "noise"):
        # known from the start (else set at the first minibatch, which a resumed run lacks
        # before its first pool of pseudo-patterns)
        opts["generator_kwargs"] = {"seq_len": int(seq_len), **(opts.get("generator_kwargs") or {})}
    if opts.get("generator") == "gan":
        try:
            from ..generators import gan  # noqa: F401
            getattr(gan, "RecurrentGAN")
        except (ImportError, AttributeError) as err:
            raise RuntimeError("the selfrefresh-gan strategy needs selfrefresh.generators.gan.RecurrentGAN, "
                               f"which is not available ({err}); use --strategy selfrefresh") from None
        gkw = dict(opts.get("generator_kwargs") or {})
        gkw.setdefault("seq_len", _need_seq_len(name, seq_len))
        gkw.setdefault("n_features", _model_size(model, "input_size", name))
        gkw.setdefault("num_classes", _model_size(model, "num_classes", name))
        gkw.setdefault("device", common.get("device", "cpu"))
        opts["generator_kwargs"] = gkw
    return SelfRefresh(model=model, optimizer=optimizer, criterion=crit, **opts, **common)


def _need_seq_len(name: str, seq_len: Optional[int]) -> int:
    if seq_len is None:
        raise ValueError(f"the {name} strategy needs the sequence length: pass seq_len=")
    return int(seq_len)


def _model_size(model: nn.Module, attr: str, name: str) -> int:
    require_model(model, f"the {name} strategy", (attr,))
    return int(getattr(model, attr))


def _plugin(strategy, cls_name: str):
    for p in strategy.plugins:
        if type(p).__name__ == cls_name or any(c.__name__ == cls_name for c in type(p).__mro__):
            return p
    return None


def stored_real_samples(strategy, name: str) -> int:
    """How many real training sequences the strategy keeps after training (0 for data-free ones)."""
    if name in ("cumulative", "joint"):
        ds = getattr(strategy, "dataset", None) or getattr(strategy, "adapted_dataset", None)
        return 0 if ds is None else len(ds)
    if name == "replay":
        p = _plugin(strategy, "ReplayPlugin")
        return len(p.storage_policy.buffer) if p is not None else 0
    if name == "gem":
        p = _plugin(strategy, "GEMPlugin")
        return sum(len(v) for v in p.memory_x.values()) if p is not None else 0
    if name == "agem":
        p = _plugin(strategy, "AGEMPlugin")
        return sum(len(b) for b in p.buffers) if p is not None else 0
    return 0


# --------------------------------------------------------------------------- state <-> tensors

def _encode(obj):
    """Nested containers of tensors/ParamData/sets -> weights_only-loadable values."""
    from avalanche.training.utils import ParamData
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, ParamData):
        return {"__paramdata__": obj.name, "data": obj.data.detach().cpu().clone()}
    if isinstance(obj, (set, frozenset)):
        return {"__set__": sorted(obj)}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _encode(v) for k, v in obj.items()}
    if obj is None or isinstance(obj, (int, float, str, bool)):
        return obj
    raise TypeError(f"cannot write {type(obj).__name__} to a tensors-only checkpoint")


def _decode(obj, device):
    from avalanche.training.utils import ParamData
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        if "__paramdata__" in obj:
            data = obj["data"]
            return ParamData(obj["__paramdata__"], shape=data.shape, init_tensor=data.to(device), device=device)
        if "__set__" in obj:
            return set(obj["__set__"])
        if "__tuple__" in obj:
            return tuple(_decode(v, device) for v in obj["__tuple__"])
        return {k: _decode(v, device) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, device) for v in obj]
    return obj


def strategy_state(strategy, name: str) -> dict:
    """What ``strategy`` carries between experiences, as tensors and plain values."""
    if name in NOT_RESUMABLE:
        return {}
    if name in SELFREFRESH_NAMES:
        state = {"refresh": strategy.refresh.state_dict()}
        gen = strategy.refresh.generator
        if isinstance(gen, nn.Module):
            state["generator"] = gen.state_dict()
        elif hasattr(gen, "state_dict") and callable(gen.state_dict):
            try:
                state["generator"] = _encode(gen.state_dict())
            except TypeError:
                pass
        return state
    if name == "ewc":
        p = _plugin(strategy, "EWCPlugin")
        return {"saved_params": _encode(p.saved_params), "importances": _encode(p.importances)}
    if name == "si":
        p = _plugin(strategy, "SynapticIntelligencePlugin")
        return {"ewc_data": _encode(p.ewc_data), "syn_data": _encode(p.syn_data)}
    if name == "lwf":
        lwf = _plugin(strategy, "LwFPlugin").lwf
        return {"prev_model": None if lwf.prev_model is None else lwf.prev_model.state_dict(),
                "expcount": int(lwf.expcount),
                "prev_classes_by_task": {int(k): sorted(v) for k, v in lwf.prev_classes_by_task.items()}}
    if name == "gem":
        p = _plugin(strategy, "GEMPlugin")
        return {"memory_x": _encode(p.memory_x), "memory_y": _encode(p.memory_y),
                "memory_tid": _encode(p.memory_tid)}
    return {}


def load_strategy_state(strategy, name: str, state: dict, *, finished_experiences=()) -> None:
    """Restore :func:`strategy_state`; ``finished_experiences`` are the training experiences
    already learned (cumulative rebuilds its dataset from them)."""
    device = strategy.device
    if name in SELFREFRESH_NAMES:
        strategy.refresh.load_state_dict(state["refresh"], strategy.model)
        if strategy.refresh.storage is not None:
            strategy.refresh.storage.to(device)
        if strategy.refresh.known is not None:
            strategy.refresh.known = strategy.refresh.known.cpu()
        if "generator" in state:
            gen = strategy.refresh.generator
            gen.load_state_dict(state["generator"] if isinstance(gen, nn.Module)
                                else _decode(state["generator"], device))
    elif name == "ewc":
        p = _plugin(strategy, "EWCPlugin")
        p.saved_params = defaultdict(dict, _decode(state["saved_params"], device))
        p.importances = defaultdict(dict, _decode(state["importances"], device))
    elif name == "si":
        p = _plugin(strategy, "SynapticIntelligencePlugin")
        p.ewc_data = _decode(state["ewc_data"], device)
        p.syn_data = _decode(state["syn_data"], device)
    elif name == "lwf":
        lwf = _plugin(strategy, "LwFPlugin").lwf
        if state["prev_model"] is not None:
            prev = copy.deepcopy(strategy.model)
            prev.load_state_dict(state["prev_model"])
            lwf.prev_model = prev.to(device)
        lwf.expcount = state["expcount"]
        lwf.prev_classes_by_task = defaultdict(set, {k: set(v) for k, v in state["prev_classes_by_task"].items()})
    elif name == "gem":
        p = _plugin(strategy, "GEMPlugin")
        p.memory_x = _decode(state["memory_x"], "cpu")
        p.memory_y = _decode(state["memory_y"], "cpu")
        p.memory_tid = _decode(state["memory_tid"], "cpu")
    elif name == "cumulative" and finished_experiences:
        from avalanche.benchmarks.utils import concat_datasets
        strategy.dataset = concat_datasets([e.dataset for e in finished_experiences])
