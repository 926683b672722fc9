"""Names to objects: a device, a stream (an Avalanche benchmark), its sizes, and the model."""
from __future__ import annotations

import inspect
import json
import os
from typing import Optional

import torch

from ..streams.registry import STREAM_PRESETS  # reduced sizes (size="small"), beside each stream
from .config import canonical_stream
from .errors import ExperimentError, one_line

__all__ = ["CELLS", "check_model_settings", "STREAM_PRESETS", "resolve_device", "stream_kwargs_for", "load_stream", "stream_info", "build_model"]

def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` (cuda when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ExperimentError(f"unknown device {device!r}; use auto, cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ExperimentError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto")
    if dev.type not in ("cpu", "cuda"):
        raise ExperimentError(f"unsupported device {device!r}; use auto, cpu or cuda")
    return dev


_STREAM_CACHE: dict = {}


def stream_kwargs_for(name: str, size: str = "full", extra: Optional[dict] = None, progress: bool = True) -> dict:
    """The keyword arguments given to stream ``name``'s function."""
    from ..streams.registry import STREAM_NAMES, stream_spec
    try:
        spec = stream_spec(name)
    except ValueError:
        raise ExperimentError(f"unknown stream {name!r}; choose one of: {', '.join(STREAM_NAMES)}") from None
    name = spec.name
    try:
        kw = spec.preset(size)
    except ValueError as err:
        raise ExperimentError(str(err)) from None
    try:
        fn = spec.builder()
    except (ImportError, AttributeError) as err:
        raise ExperimentError(f"stream {name!r} is not available in this installation ({err})") from None
    params = inspect.signature(fn).parameters
    kw = {k: v for k, v in kw.items() if k in params}
    if "progress" in params:
        kw["progress"] = progress
    for k, v in (extra or {}).items():
        if k not in params and not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            raise ExperimentError(f"stream {name!r} takes no argument {k!r}; it takes: "
                                  f"{', '.join(p for p in params if p != 'progress')}")
        kw[k] = v
    missing = [p.name for p in params.values()
               if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in kw]
    if missing:
        raise ExperimentError(f"stream {name!r} needs {', '.join(missing)}: pass --stream-arg "
                              + " --stream-arg ".join(f"{m}=VALUE" for m in missing))
    return kw


def load_stream(name: str, size: str = "full", extra: Optional[dict] = None, progress: bool = True):
    """The Avalanche benchmark of stream ``name`` (cached per process, per arguments and data root)."""
    from ..streams.registry import get_stream
    name = canonical_stream(name)
    kw = stream_kwargs_for(name, size, extra, progress)
    key = (name, json.dumps({k: v for k, v in kw.items() if k != "progress"}, sort_keys=True, default=list),
           os.environ.get("SELFREFRESH_DATA"))  # the data root the stream reads when not given root=
    if key not in _STREAM_CACHE:
        try:
            _STREAM_CACHE[key] = get_stream(name)(**kw)
        except FileNotFoundError as err:
            raise ExperimentError(f"stream {name!r}: data not found ({one_line(err)}); put the data in place, "
                                  "set SELFREFRESH_DATA, or pass --stream-arg root=PATH") from None
        except (ValueError, TypeError, KeyError, IndexError) as err:
            raise ExperimentError(f"stream {name!r}: {one_line(err)}") from None
    return _STREAM_CACHE[key]


def stream_info(benchmark) -> dict:
    """``input_size``, ``num_classes``, ``seq_len`` and ``n_experiences`` of a benchmark
    (taken from its attributes, else from the data)."""
    first = benchmark.train_stream[0].dataset
    x0 = first[0][0]
    input_size = getattr(benchmark, "input_size", None) or int(x0.shape[-1])
    seq_len = getattr(benchmark, "seq_len", None) or int(x0.shape[0])
    num_classes = getattr(benchmark, "num_classes", None)
    if num_classes is None:
        classes = set()
        for exp in benchmark.train_stream:
            classes.update(int(c) for c in exp.classes_in_this_experience)
        num_classes = max(classes) + 1
    return {"input_size": int(input_size), "seq_len": int(seq_len), "num_classes": int(num_classes),
            "n_experiences": len(benchmark.train_stream)}


CELLS = ("lstm", "gru", "rnn", "srn")


def check_model_settings(cell: str, hidden_size: int) -> None:
    """One-line errors for a cell name or hidden size :func:`build_model` cannot use."""
    if cell not in CELLS:
        raise ExperimentError(f"unknown cell {cell!r}; choose {', '.join(CELLS[:-1])} or {CELLS[-1]}")
    if not isinstance(hidden_size, int) or isinstance(hidden_size, bool) or hidden_size < 1:
        raise ExperimentError(f"hidden size must be a positive integer, got {hidden_size!r}")


def build_model(info: dict, cell: str = "lstm", hidden_size: int = 64, readout: str = "mean"):
    """An :class:`~selfrefresh.models.AutoHeteroRNN` sized for the stream, and its kwargs
    (``readout``: what its class head reads, the ``"mean"`` over steps or the ``"last"`` step;
    always recorded, so that a checkpoint says which)."""
    from ..models import AutoHeteroRNN
    check_model_settings(cell, hidden_size)
    config = {"input_size": info["input_size"], "hidden_size": hidden_size,
              "num_classes": info["num_classes"], "cell": cell, "readout": readout}
    return AutoHeteroRNN(**config), config
