"""Unit activity: traces of hidden units and the input windows that drive each unit most (motifs).

In the spirit of Karpathy, Johnson & Fei-Fei (2015), "Visualizing and understanding recurrent
networks": a unit's *motif* is the set of input sub-sequences (windows ending at the step where the
unit peaks, since the network is causal) on which it is most active.

Shapes: ``B`` sequences, ``T`` steps, ``F`` features, ``H`` units, ``W`` window length, ``k`` windows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ._common import check_lengths, check_sequences, length_mask, recurrent_layer, step_trace

__all__ = ["Motif", "unit_activations", "select_units", "top_windows", "unit_motifs"]


@dataclass
class Motif:
    """The top windows of one unit.

    unit: unit index; windows (k, W, F) input windows, best first; scores (k,) the unit's
    activation at each window's last step; where (k, 2) (sequence index, last step) of each window.
    """
    unit: int
    windows: np.ndarray
    scores: np.ndarray
    where: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        """(W, F) average of the top windows: the unit's prototype motif."""
        return self.windows.mean(0)

    @property
    def window(self) -> int:
        return self.windows.shape[1]


@torch.no_grad()
def unit_activations(model: nn.Module, x: Tensor, layer: int = -1, state: str = "h") -> Tensor:
    """Activity of every unit of one layer at every step: x (B, T, F) -> (B, T, H).

    ``model`` is an :class:`~selfrefresh.models.AutoHeteroRNN` or a selfrefresh recurrent layer;
    ``layer`` indexes the stacked layers (-1: top); ``state`` is ``"h"`` (hidden output) or ``"c"``
    (LSTM cell state).
    """
    rnn = recurrent_layer(model)
    x = check_sequences(x, input_size=rnn.input_size)
    if state not in ("h", "c"):
        raise ValueError(f"state must be 'h' or 'c', got {state!r}")
    if state == "c" and not rnn.is_lstm:
        raise ValueError(f"state='c' needs an LSTM, got {type(rnn).__name__}")
    if not -rnn.num_layers <= layer < rnn.num_layers:
        raise IndexError(f"layer {layer} out of range for {rnn.num_layers} layer(s)")
    layer %= rnn.num_layers
    if state == "h" and layer == rnn.num_layers - 1:
        return rnn(x)[0]
    tr = step_trace(rnn, x)[layer]
    return tr.h if state == "h" else tr.c


def select_units(acts: Tensor, n: int, lengths=None, by: str = "variance") -> List[int]:
    """The ``n`` most interesting units of acts (B, T, H): highest variance (``"variance"``) or
    highest peak activation (``"max"``) over the valid steps."""
    if acts.dim() != 3:
        raise ValueError(f"acts: expected (batch, time, units), got {tuple(acts.shape)}")
    b, t, h = acts.shape
    mask = length_mask(check_lengths(lengths, b, t), b, t, acts.device)
    vals = acts[mask]  # (N, H)
    if by == "variance":
        score = vals.var(0) if vals.shape[0] > 1 else vals.abs().mean(0)
    elif by == "max":
        score = vals.max(0).values
    else:
        raise ValueError(f"by must be 'variance' or 'max', got {by!r}")
    order = torch.argsort(score, descending=True)
    return [int(u) for u in order[: max(0, min(n, h))]]


def top_windows(acts: Tensor, x: Tensor, unit: int, window: int = 5, k: int = 8, lengths=None,
                sign: float = 1.0) -> Motif:
    """The ``k`` input windows of length ``window`` that end where ``unit`` is most active.

    acts (B, T, H) unit activity (or (B, T) for one unit, then ``unit`` is ignored); x (B, T, F).
    Only full windows inside each sequence's true length are used, and windows chosen in the same
    sequence do not overlap. ``sign=-1`` finds the windows that drive the unit most negative.
    """
    x = check_sequences(x)
    if acts.dim() == 2:
        acts = acts[..., None]
        unit = 0
    if acts.shape[:2] != x.shape[:2]:
        raise ValueError(f"acts {tuple(acts.shape)} and x {tuple(x.shape)} disagree on (batch, time)")
    if not 0 <= unit < acts.shape[-1]:
        raise IndexError(f"unit {unit} out of range for {acts.shape[-1]} units")
    b, t, _ = x.shape
    if not 1 <= window <= t:
        raise ValueError(f"window must lie in 1..{t} (the sequence length), got {window}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    valid = length_mask(check_lengths(lengths, b, t), b, t, acts.device)
    valid[:, : window - 1] = False
    score = (sign * acts[..., unit].detach()).double().contiguous().clone()
    score[~valid] = -np.inf
    picks, vals = [], []
    for _ in range(k):
        flat = int(torch.argmax(score))
        best = float(score.reshape(-1)[flat])
        if not np.isfinite(best):
            break
        i, j = divmod(flat, t)
        picks.append((i, j))
        vals.append(sign * best)
        score[i, max(0, j - window + 1): j + window] = -np.inf  # no overlapping windows
    if not picks:
        raise ValueError(f"no full window of length {window} fits in the sequences")
    xs = x.detach().cpu().numpy()
    windows = np.stack([xs[i, j - window + 1: j + 1] for i, j in picks])
    return Motif(unit=int(unit), windows=windows, scores=np.asarray(vals), where=np.asarray(picks))


def unit_motifs(model: nn.Module, x: Tensor, units: Optional[Sequence[int]] = None, n_units: int = 8,
                window: int = 5, k: int = 8, lengths=None, layer: int = -1) -> List[Motif]:
    """Motifs of several units of a model on data x (B, T, F).

    ``units`` defaults to the ``n_units`` units with the highest variance over the data.
    """
    acts = unit_activations(model, x, layer=layer)
    if units is None:
        units = select_units(acts, n_units, lengths)
    return [top_windows(acts, x, u, window=window, k=k, lengths=lengths) for u in units]
