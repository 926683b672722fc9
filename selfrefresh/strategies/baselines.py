"""Avalanche's baselines as registered strategies, and what each carries between experiences.

The lower bound (``naive``), the upper bounds (``cumulative``, ``joint``), regularisation (``ewc``,
``si``, ``lwf``) and rehearsal (``replay``, ``gem``, ``agem``): one :class:`StrategySpec` each
(build, default hyper-parameters, checkpoint state, stored real sequences). They are listed in
:mod:`selfrefresh.strategies.registry`.

This module also keeps the names it exported when it held the whole registry
(``make_strategy``, ``STRATEGY_NAMES``, ``DEFAULT_OPTIONS``, ``NOT_RESUMABLE``,
``stored_real_samples``, ``strategy_state``, ``load_strategy_state``): they come from the registry.
"""
from __future__ import annotations

import copy
from collections import defaultdict

import torch

from .spec import BuildArgs, StrategySpec, find_plugin
from .state_codec import decode_state, encode_state

__all__ = ["AVALANCHE_BASELINES", "STRATEGY_NAMES", "DEFAULT_OPTIONS", "NOT_RESUMABLE", "make_strategy",
           "stored_real_samples", "strategy_state", "load_strategy_state"]

_REGISTRY_NAMES = ("STRATEGY_NAMES", "DEFAULT_OPTIONS", "NOT_RESUMABLE", "SELFREFRESH_NAMES", "make_strategy",
                   "stored_real_samples", "strategy_state", "load_strategy_state")


def __getattr__(name):  # the registry imports this module: its names are looked up on first use
    if name in _REGISTRY_NAMES:
        from . import registry
        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


def _avalanche(class_name: str, with_options: bool):
    """A build function for ``avalanche.training.supervised.<class_name>``."""
    def build(a: BuildArgs):
        from avalanche.training import supervised
        opts = a.options if with_options else {}
        return getattr(supervised, class_name)(model=a.model, optimizer=a.optimizer, criterion=a.criterion,
                                               **opts, **a.common)
    return build


def _avalanche_class(class_name: str):
    """``option_target`` of a spec built by :func:`_avalanche`: the Avalanche strategy class."""
    def target():
        from avalanche.training import supervised
        return getattr(supervised, class_name)
    return target


def _ewc_target():
    from avalanche.training.plugins import EWCPlugin
    return EWCPlugin


def _build_ewc(a: BuildArgs):
    from avalanche.training.templates import SupervisedTemplate
    plugin = _ewc_plugin_class()(**a.options)
    common = dict(a.common)
    plugins = [plugin] + list(common.pop("plugins", None) or [])
    return SupervisedTemplate(model=a.model, optimizer=a.optimizer, criterion=a.criterion, plugins=plugins, **common)


# -- what each strategy carries between experiences ---------------------------------------------

def _seen_dataset_size(strategy) -> int:
    ds = getattr(strategy, "dataset", None) or getattr(strategy, "adapted_dataset", None)
    return 0 if ds is None else len(ds)


def _load_cumulative(strategy, state, finished_experiences=()):
    if finished_experiences:
        from avalanche.benchmarks.utils import concat_datasets
        strategy.dataset = concat_datasets([e.dataset for e in finished_experiences])


def _ewc_state(strategy):
    p = find_plugin(strategy, "EWCPlugin")
    return {"saved_params": encode_state(p.saved_params), "importances": encode_state(p.importances)}


def _load_ewc(strategy, state, finished_experiences=()):
    p = find_plugin(strategy, "EWCPlugin")
    p.saved_params = defaultdict(dict, decode_state(state["saved_params"], strategy.device))
    p.importances = defaultdict(dict, decode_state(state["importances"], strategy.device))


def _si_state(strategy):
    p = find_plugin(strategy, "SynapticIntelligencePlugin")
    return {"ewc_data": encode_state(p.ewc_data), "syn_data": encode_state(p.syn_data)}


def _load_si(strategy, state, finished_experiences=()):
    p = find_plugin(strategy, "SynapticIntelligencePlugin")
    p.ewc_data = decode_state(state["ewc_data"], strategy.device)
    p.syn_data = decode_state(state["syn_data"], strategy.device)


def _lwf_state(strategy):
    lwf = find_plugin(strategy, "LwFPlugin").lwf
    return {"prev_model": None if lwf.prev_model is None else lwf.prev_model.state_dict(),
            "expcount": int(lwf.expcount),
            "prev_classes_by_task": {int(k): sorted(v) for k, v in lwf.prev_classes_by_task.items()}}


def _load_lwf(strategy, state, finished_experiences=()):
    lwf = find_plugin(strategy, "LwFPlugin").lwf
    if state["prev_model"] is not None:
        prev = copy.deepcopy(strategy.model)
        prev.load_state_dict(state["prev_model"])
        lwf.prev_model = prev.to(strategy.device)
    lwf.expcount = state["expcount"]
    lwf.prev_classes_by_task = defaultdict(set, {k: set(v) for k, v in state["prev_classes_by_task"].items()})


def _replay_stored(strategy) -> int:
    p = find_plugin(strategy, "ReplayPlugin")
    return len(p.storage_policy.buffer) if p is not None else 0


def _gem_state(strategy):
    p = find_plugin(strategy, "GEMPlugin")
    return {"memory_x": encode_state(p.memory_x), "memory_y": encode_state(p.memory_y),
            "memory_tid": encode_state(p.memory_tid)}


def _load_gem(strategy, state, finished_experiences=()):
    p = find_plugin(strategy, "GEMPlugin")
    p.memory_x = decode_state(state["memory_x"], "cpu")
    p.memory_y = decode_state(state["memory_y"], "cpu")
    p.memory_tid = decode_state(state["memory_tid"], "cpu")


def _gem_stored(strategy) -> int:
    p = find_plugin(strategy, "GEMPlugin")
    return sum(len(v) for v in p.memory_x.values()) if p is not None else 0


def _agem_stored(strategy) -> int:
    p = find_plugin(strategy, "AGEMPlugin")
    return sum(len(b) for b in p.buffers) if p is not None else 0


NAIVE = StrategySpec("naive", _avalanche("Naive", False), summary="fine-tuning: the lower bound")
CUMULATIVE = StrategySpec("cumulative", _avalanche("Cumulative", False), load_state=_load_cumulative,
                          stored_real_samples=_seen_dataset_size, summary="all data seen so far: an upper bound")
JOINT = StrategySpec("joint", _avalanche("JointTraining", False), stored_real_samples=_seen_dataset_size,
                     summary="all experiences at once: the upper bound")
EWC = StrategySpec("ewc", _build_ewc, {"ewc_lambda": 100.0, "mode": "separate"}, _ewc_state, _load_ewc,
                   summary="elastic weight consolidation", option_target=_ewc_target)
SI = StrategySpec("si", _avalanche("SynapticIntelligence", True), {"si_lambda": 1.0}, _si_state, _load_si,
                  summary="synaptic intelligence", option_target=_avalanche_class("SynapticIntelligence"))
LWF = StrategySpec("lwf", _avalanche("LwF", True), {"alpha": 1.0, "temperature": 2.0}, _lwf_state, _load_lwf,
                   summary="learning without forgetting", option_target=_avalanche_class("LwF"))
# Replay and A-GEM keep buffers of Avalanche datasets, which a tensors-only checkpoint does not hold.
REPLAY = StrategySpec("replay", _avalanche("Replay", True), {"mem_size": 200}, stored_real_samples=_replay_stored,
                      resumable=False, summary="rehearsal of a class-balanced buffer of real sequences",
                      option_target=_avalanche_class("Replay"))
GEM = StrategySpec("gem", _avalanche("GEM", True), {"patterns_per_exp": 64, "memory_strength": 0.5}, _gem_state,
                   _load_gem, _gem_stored, summary="gradient episodic memory", option_target=_avalanche_class("GEM"))
AGEM = StrategySpec("agem", _avalanche("AGEM", True), {"patterns_per_exp": 64, "sample_size": 64},
                    stored_real_samples=_agem_stored, resumable=False, summary="averaged GEM",
                    option_target=_avalanche_class("AGEM"))

AVALANCHE_BASELINES = (NAIVE, CUMULATIVE, JOINT, EWC, SI, LWF, REPLAY, GEM, AGEM)
