"""Safe readers for the files selfrefresh loads (torch checkpoints, ``.npz`` archives, audio, JSON),
and atomic writers for the files it writes.

Every reader checks that the file exists (``FileNotFoundError`` naming it) and turns any failure to
parse it into :class:`CorruptFileError` (a ``ValueError``) with one line that names the file and a
short reason. Nothing here unpickles arbitrary objects (``torch.load(weights_only=True)``,
``np.load(allow_pickle=False)``), and no message suggests doing so: the libraries' own messages
(which advise ``weights_only=False`` or ``allow_pickle=True``) are replaced by a neutral reason.

This module imports only the standard library and numpy at import time, so that streams, analysis
and the experiment runner can all use it.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterable, Iterator, Optional

import numpy as np

__all__ = ["CorruptFileError", "load_torch_file", "load_checkpoint_dict", "load_npz", "read_audio", "load_json",
           "short_reason", "atomic_file", "write_text", "write_json"]

# Words that would hint at an unsafe load; a reason containing one is replaced by a neutral text.
_UNSAFE_HINTS = ("weights_only", "allow_pickle", "pickle", "unpickl", "trust the source")


class CorruptFileError(ValueError):
    """A file exists but is not a valid file of the expected kind (truncated, corrupt, wrong format)."""

    def __init__(self, message: str, path: Optional[os.PathLike] = None):
        super().__init__(message)
        self.path = None if path is None else Path(path)


def short_reason(err: BaseException, fallback: str = "unreadable content", limit: int = 160) -> str:
    """An exception's message on one line, at most ``limit`` characters, never an unsafe-load hint
    (then ``fallback``)."""
    text = " ".join(str(err).split())
    if not text or any(h in text.lower() for h in _UNSAFE_HINTS):
        return fallback
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _existing_file(path, what: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what}: path must be a str or os.PathLike, got {type(path).__name__}")
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{what} not found: {p}")
    if not p.is_file():
        raise IsADirectoryError(f"{what}: {p} is not a file")
    return p


# --------------------------------------------------------------------------- torch files

def load_torch_file(path, map_location="cpu", what: str = "selfrefresh checkpoint"):
    """``torch.load(path, weights_only=True)``; a damaged or foreign file raises :class:`CorruptFileError`
    ``"not a valid <what>: <path> (<reason>)"``."""
    import pickle

    import torch

    p = _existing_file(path, what)
    if p.stat().st_size == 0:
        raise CorruptFileError(f"not a valid {what}: {p} (empty file)", p)
    try:
        return torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        reason = "holds objects other than tensors and plain values, or is not a torch.save file"
    except (EOFError, zipfile.BadZipFile, zlib.error):
        reason = "truncated or not a torch.save file"
    except (RuntimeError, ValueError, OSError, KeyError, IndexError, TypeError, AttributeError,
            UnicodeDecodeError, MemoryError, OverflowError) as err:
        reason = short_reason(err, "truncated or not a torch.save file")
    raise CorruptFileError(f"not a valid {what}: {p} ({reason})", p)


def load_checkpoint_dict(path, required: Iterable[str] = (), map_location="cpu",
                         what: str = "selfrefresh checkpoint") -> dict:
    """A checkpoint that must be a dict holding ``required`` keys (see :func:`load_torch_file`)."""
    obj = load_torch_file(path, map_location, what)
    required = list(required)
    if not isinstance(obj, dict):
        raise CorruptFileError(f"not a valid {what}: {path} (holds a {type(obj).__name__}, expected a dict)", path)
    missing = [k for k in required if k not in obj]
    if missing:
        raise CorruptFileError(f"not a valid {what}: {path} (missing {', '.join(map(repr, missing))})", path)
    return obj


# --------------------------------------------------------------------------- npz archives

def load_npz(path, keys: Optional[Iterable[str]] = None, what: str = "data file") -> dict:
    """The arrays of a ``.npz`` archive (all, or ``keys``), read with ``allow_pickle=False``.

    A file that is not a readable numpy archive (random bytes, truncated, object arrays) raises
    :class:`CorruptFileError` ``"<path> is not a valid .npz archive (<reason>)"``; missing keys
    raise one ``"<path> lacks arrays [...]"``.
    """
    p = _existing_file(path, what)
    try:
        with np.load(p, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise CorruptFileError(f"{p} is not a valid .npz archive (a single .npy array, not an archive)", p)
            wanted = list(data.files) if keys is None else list(keys)
            missing = [k for k in wanted if k not in data.files]
            if missing:
                raise CorruptFileError(f"{p} lacks arrays {missing}", p)
            return {k: np.asarray(data[k]) for k in wanted}
    except CorruptFileError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError, TypeError,
            UnicodeDecodeError, MemoryError, OverflowError, NotImplementedError, RuntimeError) as err:
        if isinstance(err, ValueError) and "pickle" in str(err).lower():
            reason = "not a numpy archive, or holds object arrays"
        else:
            reason = short_reason(err, "truncated or corrupt")
        raise CorruptFileError(f"{p} is not a valid .npz archive ({reason})", p) from None


# --------------------------------------------------------------------------- audio

def read_audio(path, dtype: str = "float32"):
    """(data (L, channels), sample rate) of a WAV/FLAC file read with soundfile.

    An empty, truncated or non-audio file, one without samples, or float samples that are not
    finite raise :class:`CorruptFileError` naming the file.
    """
    p = _existing_file(path, "audio file")
    try:
        import soundfile as sf
    except ImportError as e:
        raise ImportError("reading audio needs the pip package 'soundfile'") from e
    if p.stat().st_size == 0:
        raise CorruptFileError(f"{p} is not a readable audio file (empty file)", p)
    missing = _wav_missing_bytes(p)
    if missing:
        raise CorruptFileError(f"{p} is not a readable audio file (truncated: {missing} bytes of its data "
                               "chunk are missing)", p)
    try:
        data, rate = sf.read(str(p), dtype=dtype, always_2d=True)
    except (RuntimeError, ValueError, OSError, EOFError, TypeError, MemoryError, OverflowError,
            AssertionError) as err:
        raise CorruptFileError(f"{p} is not a readable audio file ({short_reason(err, 'corrupt')})", p) from None
    if data.shape[0] == 0:
        raise CorruptFileError(f"{p} is not a readable audio file (no samples)", p)
    if rate is None or rate <= 0:
        raise CorruptFileError(f"{p} is not a readable audio file (sample rate {rate})", p)
    if not np.isfinite(data).all():
        raise CorruptFileError(f"{p} is not a readable audio file (NaN or inf samples)", p)
    return data, int(rate)


def _wav_missing_bytes(path: Path) -> int:
    """For a RIFF/WAVE file, how many bytes its ``data`` chunk declares beyond the end of the file
    (libsndfile silently reads a truncated file as a shorter one); 0 for anything else."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        if f.read(4) != b"RIFF":
            return 0
        f.seek(8)
        if f.read(4) != b"WAVE":
            return 0
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            head = f.read(8)
            chunk, length = head[:4], int.from_bytes(head[4:], "little")
            if chunk == b"data":
                if length in (0, 0xFFFFFFFF):  # streamed files leave the size open
                    return 0
                return max(0, length - (size - pos - 8))
            pos += 8 + length + (length & 1)
    return 0


# --------------------------------------------------------------------------- JSON

def load_json(path, what: str = "JSON file"):
    """A JSON file's content; a truncated or non-JSON file raises :class:`CorruptFileError`
    ``"not a valid <what>: <path> (<reason>)"``."""
    p = _existing_file(path, what)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        reason = f"line {err.lineno} column {err.colno}: {err.msg}" if isinstance(err, json.JSONDecodeError) \
            else short_reason(err, "not UTF-8 text")
        raise CorruptFileError(f"not a valid {what}: {p} ({reason})", p) from None


# -- writing: whole files or nothing ------------------------------------------------------------

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_file(path: os.PathLike, mode: str = "w", **open_kwargs) -> Iterator[IO]:
    """Open a temporary file next to ``path``; on a clean exit it becomes ``path`` (flush, fsync,
    ``os.replace``), on an exception it is removed and ``path`` is left as it was."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # the mode a plain open() would give
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_text(path: os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_file(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_json(path: os.PathLike, data) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(data, indent=2))
