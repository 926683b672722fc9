"""Per-step features for sequence streams: audio front ends, fixed lengths, standardisation.

Small composable pieces, used by the audio and UEA streams:

* :class:`LogMel` and :class:`MFCC`: waveform (..., L) at 16 kHz -> frames (..., T, F), 25 ms windows
  every 10 ms (1 s of audio -> T = 101 frames);
* :func:`audio_features`: the front end named by a string (``"logmel"`` or ``"mfcc"``);
* :func:`fix_length`: pad or crop the last dimension to a fixed length;
* :func:`pad_sequences`: (N, T, F) with NaN past each end -> fixed length, zero or edge padded;
* :class:`Standardizer`: per-feature mean and standard deviation, fitted on some sequences
  (the streams fit it on the first experience's training data only).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["SAMPLE_RATE", "LogMel", "MFCC", "audio_features", "fix_length", "pad_sequences",
           "resample", "waveforms_to_features", "Standardizer"]

SAMPLE_RATE = 16000


class LogMel(nn.Module):
    """Log mel spectrogram: waveform (..., L) -> (..., T, n_mels), T = 1 + L // hop_length.

    Args:
        sample_rate: of the input waveform.
        n_mels: number of mel bands (the feature size F).
        n_fft, hop_length: window and hop in samples (25 ms and 10 ms at 16 kHz).
        eps: added before the log.
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, n_mels: int = 40, n_fft: int = 400,
                 hop_length: int = 160, eps: float = 1e-6):
        super().__init__()
        import torchaudio
        self.mel = torchaudio.transforms.MelSpectrogram(sample_rate=sample_rate, n_fft=n_fft,
                                                        hop_length=hop_length, n_mels=n_mels)
        self.eps = eps
        self.num_features = n_mels

    def forward(self, waveform: Tensor) -> Tensor:
        return torch.log(self.mel(waveform) + self.eps).transpose(-1, -2)


class MFCC(nn.Module):
    """Mel-frequency cepstral coefficients: waveform (..., L) -> (..., T, n_mfcc).

    Args:
        sample_rate: of the input waveform.
        n_mfcc: number of coefficients (the feature size F).
        n_mels, n_fft, hop_length: of the underlying mel spectrogram.
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, n_mfcc: int = 13, n_mels: int = 40,
                 n_fft: int = 400, hop_length: int = 160):
        super().__init__()
        import torchaudio
        if n_mfcc > n_mels:
            raise ValueError(f"n_mfcc ({n_mfcc}) cannot exceed n_mels ({n_mels})")
        self.mfcc = torchaudio.transforms.MFCC(
            sample_rate=sample_rate, n_mfcc=n_mfcc,
            melkwargs={"n_fft": n_fft, "hop_length": hop_length, "n_mels": n_mels})
        self.num_features = n_mfcc

    def forward(self, waveform: Tensor) -> Tensor:
        return self.mfcc(waveform).transpose(-1, -2)


def audio_features(kind: str = "logmel", n_mels: int = 40, n_mfcc: int = 13,
                   sample_rate: int = SAMPLE_RATE) -> nn.Module:
    """The front end ``"logmel"`` (F = n_mels) or ``"mfcc"`` (F = n_mfcc)."""
    if kind == "logmel":
        return LogMel(sample_rate, n_mels=n_mels)
    if kind == "mfcc":
        return MFCC(sample_rate, n_mfcc=n_mfcc, n_mels=n_mels)
    raise ValueError(f"unknown features {kind!r}; choose 'logmel' or 'mfcc'")


def resample(waveform: np.ndarray, orig_rate: int, new_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Resample a float waveform (L,) by a polyphase filter (scipy; per clip it is faster than torch)."""
    from math import gcd
    from scipy.signal import resample_poly
    x = np.asarray(waveform, dtype=np.float32)
    if orig_rate == new_rate:
        return x
    g = gcd(int(orig_rate), int(new_rate))
    return resample_poly(x, int(new_rate) // g, int(orig_rate) // g).astype(np.float32)


def fix_length(waveform: np.ndarray, length: int, align: str = "center", offset: int = 0) -> np.ndarray:
    """Pad with zeros or crop the last dimension to ``length``.

    Args:
        waveform: (..., L).
        align: ``"center"`` (keep the middle) or ``"start"`` (keep the beginning).
        offset: extra shift in samples (positive = later), after alignment; what falls outside
            the window is cut.
    """
    x = np.asarray(waveform)
    n = x.shape[-1]
    if align == "center":
        start = (length - n) // 2 + int(offset)
    elif align == "start":
        start = int(offset)
    else:
        raise ValueError(f"unknown align {align!r}; choose 'center' or 'start'")
    out = np.zeros(x.shape[:-1] + (length,), dtype=x.dtype)
    lo, hi = max(start, 0), min(start + n, length)
    if hi > lo:
        out[..., lo:hi] = x[..., lo - start:hi - start]
    return out


def waveforms_to_features(waveforms: np.ndarray, front_end: nn.Module, batch_size: int = 256) -> np.ndarray:
    """(N, L) float waveforms -> (N, T, F) float32 features, computed in batches."""
    out = []
    with torch.no_grad():
        for i in range(0, len(waveforms), batch_size):
            out.append(front_end(torch.as_tensor(waveforms[i:i + batch_size], dtype=torch.float32)).numpy())
    if not out:
        raise ValueError("no waveforms to turn into features")
    return np.concatenate(out).astype(np.float32)


def pad_sequences(x: np.ndarray, lengths: np.ndarray, seq_len: int, pad: str = "zero") -> np.ndarray:
    """Sequences (N, T, F) valid up to ``lengths`` -> (N, seq_len, F).

    Longer sequences are cut at ``seq_len``; shorter ones are filled with zeros (``pad="zero"``)
    or with their last valid step (``pad="edge"``).
    """
    if pad not in ("zero", "edge"):
        raise ValueError(f"unknown pad {pad!r}; choose 'zero' or 'edge'")
    x = np.asarray(x, dtype=np.float32)
    lengths = np.asarray(lengths, dtype=np.int64)
    if x.ndim != 3 or lengths.shape != (x.shape[0],):
        raise ValueError(f"need x (N, T, F) and lengths (N,), got {x.shape} and {lengths.shape}")
    if (lengths < 1).any():
        raise ValueError("every sequence needs at least one step")
    out = np.zeros((x.shape[0], seq_len, x.shape[2]), dtype=np.float32)
    for i, n in enumerate(np.minimum(lengths, min(seq_len, x.shape[1]))):
        out[i, :n] = x[i, :n]
        if pad == "edge":
            out[i, n:] = x[i, n - 1]
    return out


class Standardizer:
    """Per-feature standardisation of sequences (N, T, F): (x - mean) / std.

    ``fit`` ignores NaN (padding). Constant features get std 1.
    """

    def __init__(self, mean: Optional[np.ndarray] = None, std: Optional[np.ndarray] = None):
        self.mean = mean
        self.std = std

    def fit(self, x: np.ndarray) -> "Standardizer":
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 3 or x.shape[0] == 0:
            raise ValueError(f"fit needs sequences (N, T, F) with N > 0, got shape {x.shape}")
        flat = x.reshape(-1, x.shape[-1])
        if np.isnan(flat).all(axis=0).any():
            raise ValueError("a feature has no finite value to fit on")
        self.mean = np.nanmean(flat, axis=0).astype(np.float32)
        std = np.nanstd(flat, axis=0)
        self.std = np.where(std > 1e-8, std, 1.0).astype(np.float32)
        return self

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.mean is None:
            raise RuntimeError("Standardizer used before fit")
        return ((np.asarray(x, dtype=np.float32) - self.mean) / self.std).astype(np.float32)

    def __repr__(self) -> str:
        f = None if self.mean is None else len(self.mean)
        return f"Standardizer(features={f})"
