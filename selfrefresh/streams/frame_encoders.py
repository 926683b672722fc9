"""Frame encoders: stacks of grey frames (N, H, W) -> per-frame feature vectors (N, F).

A video stream turns each clip (T, H, W) into a sequence (T, F) by encoding its frames. Any
callable or ``nn.Module`` mapping a float tensor (N, H, W) in [0, 1] to (N, F) can serve; it must
treat frames independently (frames of several clips are encoded in one call).
"""
from __future__ import annotations

from typing import Callable, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["DownsamplePixels", "resolve_frame_encoder", "encode_frames"]

FrameEncoder = Union[Callable[[Tensor], Tensor], nn.Module]


class DownsamplePixels(nn.Module):
    """Average-pool each frame by ``factor`` and flatten: (N, H, W) -> (N, (H/f) * (W/f)).

    Args:
        factor: pooling window and stride; ``H`` and ``W`` must be divisible by it.
    """

    def __init__(self, factor: int = 4):
        super().__init__()
        if not isinstance(factor, int) or factor < 1:
            raise ValueError(f"DownsamplePixels: factor must be a positive int, got {factor!r}")
        self.factor = factor

    def forward(self, frames: Tensor) -> Tensor:
        if frames.dim() != 3:
            raise ValueError(f"DownsamplePixels: expected frames (N, H, W), got shape {tuple(frames.shape)}")
        n, h, w = frames.shape
        if h % self.factor or w % self.factor:
            raise ValueError(f"DownsamplePixels: frame size {h}x{w} is not divisible by factor {self.factor}")
        if self.factor == 1:
            return frames.reshape(n, h * w)
        return F.avg_pool2d(frames.unsqueeze(1), self.factor).reshape(n, -1)

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


def resolve_frame_encoder(encoder: Optional[FrameEncoder], size: int) -> FrameEncoder:
    """``None`` or ``"pixels"`` -> :class:`DownsamplePixels` down to 8x8 (factor ``size // 8``,
    at least 1); ``"raw"`` -> the full-resolution pixels; any callable is returned unchanged."""
    if encoder is None or encoder == "pixels":
        return DownsamplePixels(max(1, size // 8) if size % 8 == 0 else 1)
    if encoder == "raw":
        return DownsamplePixels(1)
    if isinstance(encoder, str):
        raise ValueError(f"unknown frame encoder {encoder!r}; use 'pixels', 'raw', or a callable (N, H, W) -> (N, F)")
    if not callable(encoder):
        raise TypeError(f"frame encoder must be callable, got {type(encoder).__name__}")
    return encoder


@torch.no_grad()
def encode_frames(encoder: FrameEncoder, frames: Tensor) -> Tensor:
    """Apply ``encoder`` to frames (..., H, W) -> (..., F) float32, checking its output."""
    lead = frames.shape[:-2]
    flat = frames.reshape(-1, *frames.shape[-2:])
    out = encoder(flat)
    if not isinstance(out, Tensor):
        out = torch.as_tensor(out)
    if out.dim() != 2 or out.shape[0] != flat.shape[0]:
        raise ValueError(f"frame encoder must map (N, H, W) -> (N, F); for N={flat.shape[0]} it returned "
                         f"shape {tuple(out.shape)}")
    out = out.to(torch.float32)
    if not torch.isfinite(out).all():
        raise ValueError("frame encoder returned NaN or inf")
    return out.reshape(*lead, out.shape[-1])
