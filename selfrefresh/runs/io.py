"""Result files written whole or not at all, and read back with the file named on damage.

Every result file (summaries, settings, CSVs, reports, checkpoints, plots) goes through
:func:`atomic_file`: the data go to a temporary file in the same folder, are flushed and synced,
and replace the target with ``os.replace`` -- an interrupted run leaves the old file or the new
one, never half of one.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from .errors import ExperimentError, one_line

__all__ = ["atomic_file", "write_text", "write_json", "read_json", "writable_folder"]

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


def read_json(path: os.PathLike):
    """The JSON in ``path``; a file that cannot be read or parsed is named in an :class:`ExperimentError`."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ExperimentError(f"cannot read {path}: {err.strerror or one_line(err)}") from None
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ExperimentError(f"{path} is damaged: {one_line(err)}; delete it or use --overwrite") from None


def writable_folder(path: os.PathLike, option: str = "--out") -> Path:
    """``path`` as a folder this process can write in (created when missing), else one-line error."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ExperimentError(f"{option} {path} is a file, not a folder; give a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise ExperimentError(f"cannot write to {option} {path}: {err.strerror or one_line(err)}") from None
    return path
