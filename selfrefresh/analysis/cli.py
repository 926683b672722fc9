"""``analyse_command``: the analysis of a saved model (``selfrefresh analyse <path>``).

Checkpoint schema (a ``torch.save``d dict, read with ``torch.load(..., weights_only=True)``):

===================  =========  ===============================================================
key                  required   meaning
===================  =========  ===============================================================
``model_config``     yes        keyword arguments of :class:`~selfrefresh.models.AutoHeteroRNN`
                                (``input_size``, ``hidden_size``, ``num_classes``, ``cell``, ...;
                                without ``readout``, ``"last"``: files written before the
                                readout was recorded were read at the final step)
``model_state``      yes        the model's ``state_dict()`` (a grown class head is fine: the
                                head is grown to the saved size before loading)
``stream``           no         a stream name for :func:`selfrefresh.streams.get_stream`;
                                its training sequences are the probes and the real items
``stream_kwargs``    no         keyword arguments of that stream function
``seq_len``          no         probe length for random probes (default 20)
``class_names``      no         list of class names, written into the report
``name``             no         a title for the report
===================  =========  ===============================================================

``path`` is such a file, or a run directory holding ``model.pt``; checkpoints of earlier
experiences in the same schema, ``model_exp*.pt`` or ``checkpoints/*.pt`` (sorted by name), are
analysed too: the reverberation attractors across experiences. Without a usable stream (none
named, the stream module absent, its data missing) the probes are random N(0, 1) sequences.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import List, Optional, Tuple

import torch

from .._files import CorruptFileError, load_torch_file, short_reason
from .._files import write_text
from .report import analyse

__all__ = ["load_checkpoint", "analyse_command", "stream_probes"]


def load_checkpoint(path, map_location="cpu") -> Tuple[torch.nn.Module, dict]:
    """Build the :class:`~selfrefresh.models.AutoHeteroRNN` of a checkpoint file: (model, checkpoint dict).

    A missing file raises ``FileNotFoundError``; a damaged or foreign one
    :class:`~selfrefresh._files.CorruptFileError` (a ``ValueError``) ``"not a valid selfrefresh
    checkpoint: <path> (<reason>)"``. Nothing is unpickled beyond tensors and plain values.
    """
    from ..models import AutoHeteroRNN

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    ckpt = load_torch_file(path, map_location)
    if not isinstance(ckpt, dict) or "model_config" not in ckpt or "model_state" not in ckpt:
        keys = sorted(map(str, ckpt)) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CorruptFileError(f"not a valid selfrefresh checkpoint: {path} (expected a dict with "
                               f"'model_config' and 'model_state', got {keys})", path)
    config, state = ckpt["model_config"], ckpt["model_state"]
    if not isinstance(config, dict) or not isinstance(state, dict):
        raise CorruptFileError(f"not a valid selfrefresh checkpoint: {path} (model_config and model_state "
                               "must be dicts)", path)
    config = {"readout": "last", **config}  # older checkpoints: the final step, the default then
    try:
        model = AutoHeteroRNN(**config)
    except (TypeError, ValueError) as e:
        raise CorruptFileError(f"not a valid selfrefresh checkpoint: {path} (model_config does not fit "
                               f"AutoHeteroRNN: {short_reason(e)})", path) from None
    head = state.get("classifier.weight")
    if isinstance(head, torch.Tensor) and head.dim() == 2 and head.shape[0] > model.num_classes:
        model.grow(int(head.shape[0]))
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, ValueError, KeyError, AttributeError) as e:
        raise CorruptFileError(f"not a valid selfrefresh checkpoint: {path} (model_state does not match "
                               f"model_config: {short_reason(e)})", path) from None
    return model.eval(), ckpt


def stream_probes(name: str, n: int, seed: int = 0, **stream_kwargs):
    """Up to ``n`` training sequences (n, T, F) and labels (n,) of a registered stream, spread
    evenly over its experiences."""
    from ..streams import get_stream

    bench = get_stream(name)(seed=seed, **stream_kwargs)
    exps = list(bench.train_stream)
    per = max(1, -(-n // len(exps)))
    xs, ys = [], []
    for exp in exps:
        ds = exp.dataset
        step = max(1, len(ds) // per)
        for i in range(0, len(ds), step)[:per]:
            x, y = ds[i][0], ds[i][1]
            xs.append(torch.as_tensor(x, dtype=torch.float32))
            ys.append(int(y))
    if not xs:
        raise ValueError(f"stream {name!r} has no training sequences")
    return torch.stack(xs)[:n], torch.tensor(ys)[:n]


def _earlier_checkpoints(run_dir: Path) -> List[Path]:
    found = sorted(run_dir.glob("model_exp*.pt")) + sorted((run_dir / "checkpoints").glob("*.pt"))
    return [p for p in found if p.name != "model.pt"]


def analyse_command(path, out_dir=None, *, stream: Optional[str] = None, n_probes: int = 64,
                    seq_len: Optional[int] = None, data=None, labels=None, lengths=None, seed: int = 0,
                    device: str = "cpu", progress: bool = True, **analyse_kwargs) -> dict:
    """Analyse a checkpoint or run directory (schema in the module docstring).

    Args:
        path: checkpoint file, or run directory with ``model.pt``.
        out_dir: where figures and ``report.md`` go (default ``<run dir>/analysis`` or
            ``<file stem>_analysis`` next to the file).
        stream: overrides the checkpoint's ``stream``.
        n_probes: probe sequences (from the stream, else random).
        seq_len: length of random probes (default the checkpoint's ``seq_len``, else 20).
        data, labels, lengths: probe sequences (B, T, F) to use instead of the stream's, with
            their labels and true lengths (optional).
        analyse_kwargs: passed to :func:`selfrefresh.analysis.analyse` (``n_seeds``, ``reinjections``...).

    Returns:
        The report's numbers (see :func:`~selfrefresh.analysis.analyse`), with ``"out_dir"`` and ``"probes"``.
    """
    path = Path(path)
    if path.is_dir():
        run_dir, file = path, path / "model.pt"
        if not file.is_file():
            raise FileNotFoundError(f"run directory {path} has no model.pt")
        default_out = path / "analysis"
    elif path.is_file():
        run_dir, file = None, path
        default_out = path.with_name(f"{path.stem}_analysis")
    else:
        raise FileNotFoundError(f"no checkpoint or run directory at {path}")
    model, ckpt = load_checkpoint(file, device)
    stream = stream or ckpt.get("stream")
    x, probes = data, "given data"
    if x is None and stream:
        try:
            x, labels = stream_probes(stream, n_probes, seed, **dict(ckpt.get("stream_kwargs") or {}))
            lengths = None
            if x.shape[-1] != model.input_size:
                raise ValueError(f"stream has {x.shape[-1]} features, the model {model.input_size}")
            probes = f"stream {stream}"
        except (ImportError, AttributeError, ValueError, FileNotFoundError, OSError, RuntimeError) as e:
            warnings.warn(f"analyse: stream {stream!r} unusable ({type(e).__name__}: {e}); using random probes")
            x = labels = None
    if x is None:
        probes, labels, lengths = "random", None, None
        t = int(seq_len or ckpt.get("seq_len") or 20)
        x = torch.randn(n_probes, t, model.input_size, generator=torch.Generator().manual_seed(seed))
    checkpoints, names = [], []
    if run_dir is not None:
        for p in _earlier_checkpoints(run_dir):
            checkpoints.append(load_checkpoint(p, device)[0])
            names.append(p.stem)
        if checkpoints:
            checkpoints.append(model)
            names.append("final")
    title = ckpt.get("name") or f"What {file.name} learned"
    res = analyse(model, torch.as_tensor(x, dtype=torch.float32).to(device), out_dir or default_out, labels,
                  lengths, checkpoints=checkpoints or None,
                  checkpoint_names=names or None, seed=seed, title=str(title), progress=progress,
                  **analyse_kwargs)
    class_names = ckpt.get("class_names")
    if class_names:
        report = Path(out_dir or default_out) / "report.md"
        write_text(report, report.read_text() + "\nClasses: " +
                   ", ".join(f"{i} = {c}" for i, c in enumerate(class_names)) + "\n")
    res["out_dir"] = str(out_dir or default_out)
    res["probes"] = probes
    return res
