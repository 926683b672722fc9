"""A pool of pseudo-patterns reused over an experience (or an epoch)."""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import Tensor

from ...generators.base import PseudoBatch

__all__ = ["PseudoPool", "index_batch", "cat_batches"]


def index_batch(b: PseudoBatch, idx: Tensor) -> PseudoBatch:
    """Rows ``idx`` of every tensor of a batch."""
    kw = {k: (v[idx.to(v.device)] if isinstance(v, Tensor) else v) for k, v in b.__dict__.items()}
    return PseudoBatch(**kw)


def cat_batches(chunks) -> PseudoBatch:
    """Concatenate batches of the same kind along the first dimension."""
    first = chunks[0]
    kw = {k: (torch.cat([getattr(c, k) for c in chunks]) if isinstance(v, Tensor) else v)
          for k, v in first.__dict__.items()}
    return PseudoBatch(**kw)


class PseudoPool:
    """Pseudo-patterns drawn without replacement, reshuffled when used up.

    ``fill(n, sample)`` makes n patterns by ``sample(k)`` in chunks of at most 512;
    ``take(n)`` returns the next n (with replacement when the pool is smaller than n).

    Args:
        generator: the random generator of the draws and reshuffles (a CPU ``torch.Generator``;
            None: torch's global one).
    """

    def __init__(self, generator: Optional[torch.Generator] = None):
        self.batch: Optional[PseudoBatch] = None
        self._pos = 0
        self.generator = generator

    def __len__(self) -> int:
        return 0 if self.batch is None else len(self.batch)

    def clear(self) -> None:
        self.batch, self._pos = None, 0

    def fill(self, n: int, sample: Callable[[int], PseudoBatch]) -> None:
        self.batch = cat_batches([sample(min(512, n - i)) for i in range(0, n, 512)])
        self._pos = 0

    def take(self, n: int) -> PseudoBatch:
        pool = self.batch
        if n >= len(pool):  # smaller than one minibatch's share: draw with replacement
            return index_batch(pool, torch.randint(len(pool), (n,), generator=self.generator))
        if self._pos + n > len(pool):
            self.batch = pool = index_batch(pool, torch.randperm(len(pool), generator=self.generator))
            self._pos = 0
        idx = torch.arange(self._pos, self._pos + n, device=pool.x.device)
        self._pos += n
        return index_batch(pool, idx)
