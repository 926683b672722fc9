"""Shared helpers of the analysis modules: input checks, finding the recurrent layer, stepping it.

``step_trace`` replays a selfrefresh recurrent layer step by step with its shared cells
(``layer.cell(i)``) and records, for every layer, what went in and what came out at each step:
the fused kernels expose neither the inputs of deeper layers, nor the LSTM cell state per step,
nor the gates.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["LayerTrace", "recurrent_layer", "step_trace", "check_sequences", "length_mask"]


@dataclass
class LayerTrace:
    """What one recurrent layer saw and produced at every step.

    inputs (B, T, F_in); h_prev, h (B, T, H); c_prev, c (B, T, H) for LSTM, else None.
    """
    inputs: Tensor
    h_prev: Tensor
    h: Tensor
    c_prev: Optional[Tensor] = None
    c: Optional[Tensor] = None


def recurrent_layer(model: nn.Module) -> nn.Module:
    """The selfrefresh recurrent layer of a model: ``model.rnn`` or ``model`` itself."""
    for candidate in (getattr(model, "rnn", None), model):
        if candidate is not None and hasattr(candidate, "cell") and hasattr(candidate, "num_layers") \
                and hasattr(candidate, "flatten_state"):
            return candidate
    raise TypeError(f"expected a selfrefresh recurrent layer (selfrefresh.nn) or a model with one as "
                    f"`.rnn` (AutoHeteroRNN), got {type(model).__name__}")


def check_sequences(x, what: str = "x", input_size: Optional[int] = None) -> Tensor:
    """Validate a batch of sequences (B, T, F): a finite float tensor with B, T > 0."""
    if isinstance(x, np.ndarray):
        x = torch.as_tensor(x, dtype=torch.float32)
    if not isinstance(x, Tensor):
        raise TypeError(f"{what}: expected a torch.Tensor of shape (batch, time, features), "
                        f"got {type(x).__name__}")
    if x.dim() != 3:
        raise ValueError(f"{what}: expected shape (batch, time, features), got {tuple(x.shape)}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{what}: empty data (shape {tuple(x.shape)})")
    if input_size is not None and x.shape[-1] != input_size:
        raise ValueError(f"{what}: the model expects {input_size} features per step, got {x.shape[-1]}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{what} contains NaN or inf; fill the padding of variable-length sequences "
                         f"(e.g. repeat the last frame) and pass `lengths=`")
    return x if x.is_floating_point() else x.float()


def check_lengths(lengths, batch: int, time: int) -> Optional[Tensor]:
    """Validate true sequence lengths (B,) in 1..T, or None."""
    if lengths is None:
        return None
    lengths = torch.as_tensor(lengths, dtype=torch.long).reshape(-1)
    if lengths.numel() != batch:
        raise ValueError(f"lengths: expected {batch} values (one per sequence), got {lengths.numel()}")
    if (lengths < 1).any() or (lengths > time).any():
        raise ValueError(f"lengths must lie in 1..{time}, got min {int(lengths.min())} max {int(lengths.max())}")
    return lengths


def length_mask(lengths: Optional[Tensor], batch: int, time: int, device=None) -> Tensor:
    """(B, T) bool, True on the valid steps."""
    steps = torch.arange(time, device=device)
    if lengths is None:
        return torch.ones(batch, time, dtype=torch.bool, device=device)
    return steps[None, :] < lengths.to(device)[:, None]


@torch.no_grad()
def step_trace(model: nn.Module, x: Tensor, state=None) -> List[LayerTrace]:
    """Replay a recurrent layer step by step; one :class:`LayerTrace` per layer (bottom first).

    x (B, T, F). Runs in the layer's current mode (dropout is not applied: call ``eval()`` first
    for a faithful trace).
    """
    rnn = recurrent_layer(model)
    x = check_sequences(x, input_size=rnn.input_size)
    b, t, _ = x.shape
    if state is None:
        state = rnn.init_state(b, x.device, x.dtype)
    cells = [rnn.cell(i) for i in range(rnn.num_layers)]
    rec = [{"inputs": [], "h_prev": [], "h": [], "c_prev": [], "c": []} for _ in cells]
    h_all = [state[0][i] if rnn.is_lstm else state[i] for i in range(rnn.num_layers)]
    c_all = [state[1][i] for i in range(rnn.num_layers)] if rnn.is_lstm else None
    for step in range(t):
        inp = x[:, step]
        for i, cell in enumerate(cells):
            r = rec[i]
            r["inputs"].append(inp)
            r["h_prev"].append(h_all[i])
            if rnn.is_lstm:
                r["c_prev"].append(c_all[i])
                h_all[i], c_all[i] = cell(inp, (h_all[i], c_all[i]))
                r["c"].append(c_all[i])
            else:
                h_all[i] = cell(inp, h_all[i])
            r["h"].append(h_all[i])
            inp = h_all[i]
    out = []
    for r in rec:
        st = {k: (torch.stack(v, 1) if v else None) for k, v in r.items()}
        out.append(LayerTrace(**st))
    return out
