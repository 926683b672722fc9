"""NET2's outputs on the experience's real sequences, kept per sequence while NET2 is frozen.

Within an experience NET2 does not change, and every epoch shows it the same real sequences; the
distillation terms on real data (``real_distill_weight``, ``real_feature_weight``) therefore need
its pass over each sequence once, not once per epoch.
"""
from __future__ import annotations

import hashlib
from typing import Callable, Dict, List, Tuple

import torch
from torch import Tensor

__all__ = ["TeacherCache"]


class TeacherCache:
    """Per-sequence memo of a frozen network's (features, logits) on real sequences.

    Sequences are recognised by their content (a 128-bit BLAKE2 digest of their bytes), so the
    order and the composition of the minibatches do not matter. Rows are kept until
    ``max_mb`` MiB are used; later sequences are computed every time.

    Args:
        max_mb: the most MiB of kept outputs (0: keep nothing, compute every time).

    Attributes:
        hits, misses: sequences served from the memo / computed, since the last :meth:`clear`.
    """

    def __init__(self, max_mb: float):
        self.max_bytes = int(float(max_mb) * 2 ** 20)
        self.owner = None
        self.clear()

    def clear(self, owner=None) -> None:
        """Forget every kept row; ``owner``: the network whose outputs the next rows will be."""
        self._rows: Dict[bytes, Tuple[Tensor, Tensor]] = {}
        self.bytes = self.hits = self.misses = 0
        self.owner = owner

    def __len__(self) -> int:
        return len(self._rows)

    @staticmethod
    def keys(x: Tensor) -> List[bytes]:
        """One digest per sequence of x (N, ...)."""
        flat = x.detach().reshape(len(x), -1).contiguous().cpu()
        raw = flat.view(torch.uint8).numpy()
        return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in raw]

    def __call__(self, owner, x: Tensor, compute: Callable[[Tensor], Tuple[Tensor, Tensor]]) -> Tuple[Tensor, Tensor]:
        """``compute(x)`` -> (features (N, T, H), logits (N, C)), from the memo where it holds them.

        ``owner``: the network ``compute`` runs; the memo is emptied when it changes.
        """
        if self.max_bytes <= 0:
            return compute(x)
        if owner is not self.owner:
            self.clear(owner)
        keys = self.keys(x)
        missing = [i for i, k in enumerate(keys) if k not in self._rows]
        fresh = {}
        if missing:
            feats, logits = compute(x[torch.tensor(missing, device=x.device)])
            for j, i in enumerate(missing):
                row = (feats[j].clone(), logits[j].clone())
                fresh[i] = row
                size = sum(t.numel() * t.element_size() for t in row)
                if keys[i] not in self._rows and self.bytes + size <= self.max_bytes:
                    self._rows[keys[i]] = row
                    self.bytes += size
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        rows = [fresh[i] if i in fresh else self._rows[k] for i, k in enumerate(keys)]
        return torch.stack([r[0] for r in rows]), torch.stack([r[1] for r in rows])
