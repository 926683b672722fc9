"""Strategy state <-> values a tensors-only checkpoint holds (``torch.load(weights_only=True)``).

:func:`encode_state` turns nested containers of tensors, Avalanche ``ParamData``, sets and tuples
into dicts, lists, tensors and plain values; :func:`decode_state` turns them back, moving tensors
to a device. No pickle: a checkpoint cannot run code when it is read.
"""
from __future__ import annotations

import torch

__all__ = ["encode_state", "decode_state"]


def encode_state(obj):
    """Nested containers of tensors/ParamData/sets/tuples -> weights_only-loadable values (tensors on the CPU)."""
    from avalanche.training.utils import ParamData
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, ParamData):
        return {"__paramdata__": obj.name, "data": obj.data.detach().cpu().clone()}
    if isinstance(obj, (set, frozenset)):
        return {"__set__": sorted(obj)}
    if isinstance(obj, tuple):
        return {"__tuple__": [encode_state(v) for v in obj]}
    if isinstance(obj, list):
        return [encode_state(v) for v in obj]
    if isinstance(obj, dict):
        return {k: encode_state(v) for k, v in obj.items()}
    if obj is None or isinstance(obj, (int, float, str, bool)):
        return obj
    raise TypeError(f"cannot write {type(obj).__name__} to a tensors-only checkpoint")


def decode_state(obj, device):
    """The inverse of :func:`encode_state`; tensors go to ``device``."""
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
            return tuple(decode_state(v, device) for v in obj["__tuple__"])
        return {k: decode_state(v, device) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode_state(v, device) for v in obj]
    return obj
