"""Every stream by name: where its function lives and its size presets.

A stream is registered by one :class:`StreamSpec` line in :data:`STREAMS`: its command-line name,
the module and function that build it (imported lazily: audio and video dependencies load only
when used), and its presets (keyword arguments of the function by size: ``"full"`` is the
function's own defaults, ``"small"`` a reduced size for tests, the demo and the CPU benchmarks;
keys a function does not take are ignored by :func:`selfrefresh.experiment.stream_kwargs_for`).

Names are accepted with ``-`` or ``_`` (``japanese-vowels`` or ``japanese_vowels``).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable, Dict

__all__ = ["StreamSpec", "STREAMS", "STREAM_NAMES", "STREAM_PRESETS", "PRESET_NAMES", "stream_spec", "get_stream",
           "stream_preset", "canonical_stream_name"]

#: The sizes every stream has (a stream without its own "small" preset uses its defaults).
PRESET_NAMES = ("full", "small")


@dataclass(frozen=True)
class StreamSpec:
    """One registered stream.

    Attributes:
        name: the command-line name (words joined by ``-``).
        module: the module of :mod:`selfrefresh.streams` holding the function.
        function: the function's name; it returns an Avalanche benchmark.
        presets: keyword arguments by preset name (``"full"``, ``"small"``).
    """
    name: str
    module: str
    function: str
    presets: Dict[str, dict] = field(default_factory=dict)

    def builder(self) -> Callable:
        """The stream function (imports its module)."""
        return getattr(importlib.import_module(f"{__package__}.{self.module}"), self.function)

    def preset(self, size: str) -> dict:
        """The keyword arguments of preset ``size`` (a copy)."""
        if size not in PRESET_NAMES and size not in self.presets:
            names = " or ".join(repr(p) for p in (*PRESET_NAMES, *(p for p in self.presets if p not in PRESET_NAMES)))
            raise ValueError(f"size must be {names}, got {size!r}")
        return dict(self.presets.get(size, {}))


_SPECS = (
    StreamSpec("speech", "audio", "synthetic_speech_commands",
               {"small": {"words": ("yes", "no", "up", "down", "left", "right"), "n_voices": 24, "test_voices": 4,
                          "speeds": (130, 175, 220), "n_experiences": 3}}),
    StreamSpec("fsdd", "audio", "fsdd", {"small": {"max_takes": 10, "digits": (0, 1, 2, 3, 4, 5), "n_experiences": 3}}),
    StreamSpec("speech-commands", "audio", "speech_commands"),
    StreamSpec("japanese-vowels", "uea", "japanese_vowels", {"small": {}}),
    StreamSpec("basic-motions", "uea", "basic_motions", {"small": {}}),
    StreamSpec("moving-actions", "video", "moving_actions",
               {"small": {"n_classes": 6, "n_train_per_class": 40, "n_test_per_class": 20, "n_experiences": 3}}),
    StreamSpec("video-folder", "video", "video_folder"),
    StreamSpec("symbolic", "symbolic", "symbolic_sequences"),
    StreamSpec("dynamical", "dynamical", "dynamical_systems"),
)

#: name -> spec, in the order of the command line's help.
STREAMS: Dict[str, StreamSpec] = {s.name: s for s in _SPECS}
STREAM_NAMES = tuple(STREAMS)
#: The "small" presets by name (the streams that have one), as ``selfrefresh.experiment`` exported them.
STREAM_PRESETS = {s.name: dict(s.presets["small"]) for s in _SPECS if "small" in s.presets}


def canonical_stream_name(name: str) -> str:
    """``name`` with ``_`` read as ``-``; raises ``ValueError`` for an unknown stream."""
    key = str(name).strip().lower().replace("_", "-")
    if key not in STREAMS:
        raise ValueError(f"unknown stream {name!r}; choose one of {', '.join(STREAM_NAMES)}")
    return key


def stream_spec(name: str) -> StreamSpec:
    """The :class:`StreamSpec` registered under ``name`` (``-`` or ``_`` spelling)."""
    return STREAMS[canonical_stream_name(name)]


def get_stream(name: str) -> Callable:
    """The stream function registered under a command-line name (e.g. ``"japanese-vowels"``)."""
    return stream_spec(name).builder()


def stream_preset(name: str, size: str = "full") -> dict:
    """The keyword arguments of stream ``name`` at ``size`` (``"full"``: none, ``"small"``)."""
    return stream_spec(name).preset(size)
