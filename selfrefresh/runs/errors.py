"""The one exception of a run that a user can fix, and its one-line text."""
from __future__ import annotations

__all__ = ["ExperimentError", "one_line"]


class ExperimentError(Exception):
    """A user-facing problem (bad name, missing data, impossible setting): one line, what to do."""


def one_line(err: BaseException) -> str:
    """``err``'s message on one line (its type's name when it has none)."""
    return " ".join(str(err).split()) or type(err).__name__
