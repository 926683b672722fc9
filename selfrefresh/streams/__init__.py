"""Class-incremental sequence streams as Avalanche benchmarks.

Every stream function returns an Avalanche benchmark with ``train_stream`` and ``test_stream``
whose experiences yield ``(x, y, t)``: x float32 (T, F), y int64, task label 0. They share the
parameters ``n_experiences``, ``class_order`` and ``seed``.

:mod:`selfrefresh.streams.registry` maps the command-line names to the functions and their size
presets (``STREAMS``; imported lazily: audio and video dependencies load only when used).
"""
from __future__ import annotations

from .base import class_incremental_stream, resolve_class_order
from .registry import STREAM_NAMES, STREAMS, StreamSpec, get_stream, stream_preset, stream_spec

__all__ = ["class_incremental_stream", "resolve_class_order", "get_stream", "stream_spec", "stream_preset",
           "StreamSpec", "STREAMS", "STREAM_NAMES"] + [s.function for s in STREAMS.values()]


def __getattr__(attr):
    for spec in STREAMS.values():
        if spec.function == attr:
            return spec.builder()
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
