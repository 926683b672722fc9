"""Class-incremental sequence streams as Avalanche benchmarks.

Every stream function returns an Avalanche benchmark with ``train_stream`` and ``test_stream``
whose experiences yield ``(x, y, t)``: x float32 (T, F), y int64, task label 0. They share the
parameters ``n_experiences``, ``class_order`` and ``seed``.

``STREAMS`` maps the command-line names to the functions (imported lazily: audio and video
dependencies load only when used).
"""
from __future__ import annotations

import importlib

from .base import class_incremental_stream, resolve_class_order

# name on the command line -> (module, function)
_STREAM_FUNCTIONS = {
    "speech": ("audio", "synthetic_speech_commands"),
    "fsdd": ("audio", "fsdd"),
    "speech-commands": ("audio", "speech_commands"),
    "japanese-vowels": ("uea", "japanese_vowels"),
    "basic-motions": ("uea", "basic_motions"),
    "moving-actions": ("video", "moving_actions"),
    "video-folder": ("video", "video_folder"),
    "symbolic": ("symbolic", "symbolic_sequences"),
    "dynamical": ("dynamical", "dynamical_systems"),
}

__all__ = ["class_incremental_stream", "resolve_class_order", "get_stream", "STREAM_NAMES"] + \
    [fn for _, fn in _STREAM_FUNCTIONS.values()]

STREAM_NAMES = tuple(_STREAM_FUNCTIONS)


def get_stream(name: str):
    """The stream function registered under a command-line name (e.g. ``"japanese-vowels"``)."""
    try:
        module, fn = _STREAM_FUNCTIONS[name]
    except KeyError:
        raise ValueError(f"unknown stream {name!r}; choose one of {', '.join(STREAM_NAMES)}") from None
    return getattr(importlib.import_module(f"{__name__}.{module}"), fn)


def __getattr__(attr):
    for module, fn in _STREAM_FUNCTIONS.values():
        if fn == attr:
            return getattr(importlib.import_module(f"{__name__}.{module}"), fn)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
