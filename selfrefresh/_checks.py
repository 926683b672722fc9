"""Argument checks shared by the public API: one clear line naming the argument.

Type mistakes raise ``TypeError``, bad values ``ValueError``; both name the function (``who``)
and the argument. Only metadata is inspected, except :func:`check_finite` (one
``torch.isfinite(x).all()``).
"""
from __future__ import annotations

import numbers
from typing import Iterable, Optional

import torch
from torch import Tensor

__all__ = ["check_int", "require_model", "check_tensor", "check_finite", "describe"]


def describe(value) -> str:
    """A short description of a value for messages: its type, and its repr when short."""
    text = repr(value)
    return f"{type(value).__name__} {text}" if len(text) <= 40 else type(value).__name__


def check_int(value, name: str, who: str, minimum: Optional[int] = None) -> int:
    """``value`` as an int; TypeError for a non-integer (bools, floats and strings included),
    ValueError below ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, Tensor) and value.dim() == 0 and not value.is_floating_point() \
                and value.dtype != torch.bool:
            value = int(value)
        else:
            raise TypeError(f"{who}: {name} must be an int, got {describe(value)}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{who}: {name} must be >= {minimum}, got {value}")
    return value


def require_model(model, who: str, attrs: Iterable[str] = ("input_size", "run")) -> None:
    """TypeError unless ``model`` has every attribute in ``attrs`` (an AutoHeteroRNN has them all)."""
    attrs = tuple(attrs)
    if model is None or any(not hasattr(model, a) for a in attrs):
        raise TypeError(f"{who} needs an AutoHeteroRNN-like model with {'/'.join('.' + a for a in attrs)}; "
                        f"got {type(model).__name__}")


def check_tensor(x, name: str, who: str, dim: Optional[int] = None, shape_text: str = "",
                 dtype: Optional[torch.dtype] = None) -> Tensor:
    """A float tensor of ``dim`` dimensions (and ``dtype`` when given): TypeError for a non-tensor or
    a non-float / other float dtype, ValueError for the number of dimensions."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{who}: {name} must be a torch.Tensor, got {type(x).__name__}")
    if dim is not None and x.dim() != dim:
        raise ValueError(f"{who}: {name} must have shape {shape_text or f'{dim}-D'}, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{who}: {name} must be a floating-point tensor, got dtype {x.dtype}")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"{who}: {name} has dtype {x.dtype} but the model's parameters are {dtype}; "
                        f"convert with {name}.to({dtype})")
    return x


def check_finite(x: Tensor, name: str, who: str) -> Tensor:
    """ValueError if ``x`` holds NaN or inf."""
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{who}: {name} contains NaN or inf values")
    return x
