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
from pathlib import Path

from .._files import atomic_file, write_json, write_text  # noqa: F401  (the write side lives with the readers)
from .errors import ExperimentError, one_line

__all__ = ["atomic_file", "write_text", "write_json", "read_json", "writable_folder"]

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
