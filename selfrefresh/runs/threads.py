"""How many CPU threads a run uses: one place to choose it.

The models are small recurrent networks: their matmuls are too small for several threads to pay
back the synchronisation, and on a shared machine torch's default (all cores) spins against the
other processes. ``benchmarks/threads.py`` measures it (figures in ``benchmarks/results/threads.md``).
"""
from __future__ import annotations

from typing import Optional

__all__ = ["DEFAULT_THREADS", "set_threads"]

DEFAULT_THREADS = 1


def set_threads(n: Optional[int] = None) -> int:
    """Set torch's intra-op threads to ``n`` (``None``: :data:`DEFAULT_THREADS`); returns it."""
    import torch
    n = DEFAULT_THREADS if n is None else int(n)
    if n < 1:
        raise ValueError(f"threads must be a positive integer, got {n}")
    torch.set_num_threads(n)
    return n
