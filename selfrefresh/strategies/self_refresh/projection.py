"""Gradient projection memory for a recurrent layer (GPM, Saha et al. 2021), data-free.

After each experience, the inputs the recurrent layer's two linear maps read on the experience's
real sequences (``x_t`` for ``W_ih``, ``h_{t-1}`` for ``W_hh``, each with a constant 1 for its
bias) are summarised by orthonormal bases of the subspaces holding a ``threshold`` share of their
energy (no sequence is kept: (F + 1) x k and (H + 1) x k numbers). Later steps of those weights
are projected off the bases, so that on the old inputs every gate, and so the whole trajectory,
stays (nearly) as it was; the steps keep their freedom in the directions old data never used.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
from torch import Tensor, nn

__all__ = ["RecurrentProjection"]


def _extend_basis(basis: Optional[Tensor], rows: Tensor, threshold: float) -> Optional[Tensor]:
    """The basis (d, k) extended by the directions of ``rows`` (n, d) it lacks, until it holds
    ``threshold`` of their energy (GPM's criterion)."""
    a = rows.double().T                                   # (d, n)
    total = float((a * a).sum())
    if total <= 0:
        return basis
    resid = a if basis is None else a - basis @ (basis.T @ a)
    kept = total - float((resid * resid).sum())
    if kept / total >= threshold:
        return basis
    u, s, _ = torch.linalg.svd(resid, full_matrices=False)
    share = (kept + torch.cumsum(s * s, 0)) / total
    k = min(int((share < threshold).sum()) + 1, len(s))
    new = u[:, :k]
    if basis is not None:
        new = torch.linalg.qr(torch.cat([basis, new], 1))[0]
    return new[:, : a.shape[0]]


class RecurrentProjection:
    """Bases of a one-layer ``nn.LSTM``/``nn.GRU``/``nn.RNN``'s inputs, and the projection of its steps.

    Args:
        threshold: the share of each experience's input energy the bases keep (0 < t <= 1).
    """

    def __init__(self, threshold: float):
        self.threshold = float(threshold)
        self.bases: Dict[str, Tensor] = {}

    @staticmethod
    def _check(rnn: nn.Module) -> None:
        if not isinstance(rnn, nn.RNNBase) or rnn.num_layers != 1 or rnn.bidirectional or not rnn.batch_first:
            raise ValueError("RecurrentProjection: needs a one-layer, one-direction, batch_first torch RNN "
                             f"(LSTM, GRU, RNN), got {type(rnn).__name__}")

    @torch.no_grad()
    def record(self, rnn: nn.Module, x: Tensor) -> None:
        """Add the experience's input directions: x (N, T, F) real sequences."""
        self._check(rnn)
        out, _ = rnn(x)                                   # (N, T, H)
        n, t, _ = x.shape
        ones = x.new_ones(n * t, 1)
        prev = torch.cat([out.new_zeros(n, 1, out.shape[2]), out[:, :-1]], 1)
        for key, rows in (("ih", torch.cat([x.reshape(n * t, -1), ones], 1)),
                          ("hh", torch.cat([prev.reshape(n * t, -1), ones], 1))):
            basis = _extend_basis(self.bases.get(key), rows.cpu(), self.threshold)
            if basis is not None:
                self.bases[key] = basis

    def params(self, rnn: nn.Module):
        """[(key, weight, bias)] of the maps with a basis."""
        return [(k, getattr(rnn, f"weight_{k}_l0"), getattr(rnn, f"bias_{k}_l0", None))
                for k in ("ih", "hh") if k in self.bases]

    @torch.no_grad()
    def project(self, rnn: nn.Module, before: Dict[str, tuple]) -> None:
        """Project the step each map took since ``before`` ({key: (weight, bias) copies}) off its basis."""
        for key, w, b in self.params(rnn):
            w0, b0 = before[key]
            step = torch.cat([w - w0, (b - b0)[:, None] if b is not None else w.new_zeros(len(w), 1)], 1)
            u = self.bases[key].to(step)
            step = step - (step @ u) @ u.T
            w.copy_(w0 + step[:, :-1])
            if b is not None:
                b.copy_(b0 + step[:, -1])

    def state_dict(self) -> dict:
        return {"threshold": self.threshold, "bases": dict(self.bases)}

    def load_state_dict(self, state: dict) -> None:
        self.threshold = float(state["threshold"])
        self.bases = dict(state["bases"])
