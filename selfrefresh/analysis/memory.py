"""Memory horizon: how far back in its input a recurrent model's output still depends.

Two estimates of the sensitivity ``s(k)`` of the output at step ``t`` to the input at step ``t - k``,
averaged over sequences and over several anchor steps ``t``:

* :func:`gradient_memory`: the Frobenius norm of the Jacobian ``d out_t / d x_(t-k)``;
* :func:`perturbation_memory`: ``||out_t(x + delta e_(t-k)) - out_t(x)|| / ||delta||`` for a small
  random perturbation of one input step (a finite-size version that also sees saturation).

The *horizon* is the lag from which the curve stays below ``threshold`` (1 %) of its peak: a
memoryless map has horizon 1 and a delay line of ``L`` units read at its end has horizon ``L``.

Any sequence map ``fn: (B, T, F) -> (B, T, O)`` can be measured (a GAN generator on noise
sequences, for instance); :func:`sequence_map` builds one from a selfrefresh model.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor, nn

from ._common import check_lengths, check_sequences, recurrent_layer

__all__ = ["MemoryCurve", "horizon_from_curve", "sequence_map", "noise_map", "gradient_memory",
           "perturbation_memory", "compare_memory", "compare_generators"]

SeqMap = Callable[[Tensor], Tensor]


@dataclass
class MemoryCurve:
    """Sensitivity against lag.

    lags (K,) 0..K-1; values (K,) mean sensitivity (NaN where no anchor reaches that lag);
    counts (K,) how many (sequence, anchor) pairs each value averages; horizon: first lag from
    which the curve stays under ``threshold * peak``; censored: True when the curve never falls
    that low within the measured lags (the horizon is then only a lower bound, ``K``).
    """
    lags: np.ndarray
    values: np.ndarray
    counts: np.ndarray
    horizon: int
    censored: bool
    method: str
    threshold: float = 0.01
    extra: dict = field(default_factory=dict)

    @property
    def peak_lag(self) -> int:
        return int(np.nanargmax(self.values))

    @property
    def normalised(self) -> np.ndarray:
        """values / peak."""
        peak = np.nanmax(self.values)
        return self.values / peak if peak > 0 else self.values * 0.0

    def describe(self) -> str:
        h = f">= {self.horizon}" if self.censored else f"{self.horizon}"
        return f"{self.method}: horizon {h} steps (peak at lag {self.peak_lag}, threshold {self.threshold:g})"


def horizon_from_curve(values, threshold: float = 0.01) -> Tuple[int, bool]:
    """(horizon, censored): the first lag from which ``values`` stay below ``threshold * max``.

    NaN entries (unmeasured lags) are ignored. An all-zero curve has horizon 0.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"values: expected a non-empty 1-D curve, got shape {v.shape}")
    if not np.isfinite(v).any():
        raise ValueError("values: no finite entry in the curve")
    peak = np.nanmax(v)
    if peak <= 0:
        return 0, False
    above = np.where(np.nan_to_num(v, nan=0.0) >= threshold * peak)[0]
    h = int(above[-1]) + 1
    return h, h >= v.size


def sequence_map(model, output: str = "logits") -> SeqMap:
    """A function x (B, T, F) -> (B, T, O) for a model.

    * :class:`~selfrefresh.models.AutoHeteroRNN`: ``output`` = ``"logits"`` (class head at every
      step), ``"features"`` (top-layer hidden outputs) or ``"recon"`` (auto head, item part);
    * a selfrefresh recurrent layer: its outputs;
    * any other callable: used as is (a tuple result is reduced to its first element).
    """
    if isinstance(model, nn.Module) and hasattr(model, "classifier") and hasattr(model, "rnn"):
        if output not in ("logits", "features", "recon"):
            raise ValueError(f"output must be 'logits', 'features' or 'recon', got {output!r}")

        def fn(x):
            out = model.rnn(x)[0]
            if output == "logits":
                return model.classifier(out)
            if output == "recon":
                return model._auto(out)[..., : model.input_size]
            return out
        return fn
    try:
        rnn = recurrent_layer(model)
        return lambda x: rnn(x)[0]
    except TypeError:
        pass
    if not callable(model):
        raise TypeError(f"expected a model or a callable (B, T, F) -> (B, T, O), got {type(model).__name__}")

    def call(x):
        y = model(x)
        return y[0] if isinstance(y, tuple) else y
    return call


def _prepare(model, x, lengths, max_lag, output):
    """Checked (x, lengths, max_lag, sequence map, module to put in eval mode or None)."""
    x = check_sequences(x)
    b, t, _ = x.shape
    lengths = check_lengths(lengths, b, t)
    max_lag = t - 1 if max_lag is None else int(max_lag)
    if not 0 <= max_lag < t:
        raise ValueError(f"max_lag must lie in 0..{t - 1}, got {max_lag}")
    fn = sequence_map(model, output)
    return x, lengths, max_lag, fn, (model if isinstance(model, nn.Module) else None)


def _anchors(t: int, n: int, late: bool) -> np.ndarray:
    """Up to n distinct steps spread over 0..T-1 (always including the last one when ``late``,
    the first one otherwise)."""
    a = np.unique(np.round(np.linspace(0, t - 1, max(1, n))).astype(int))
    if late and (t - 1) not in a:
        a = np.append(a, t - 1)
    return a


def _checked_output(y, x: Tensor) -> Tensor:
    if not isinstance(y, Tensor) or y.dim() != 3 or y.shape[:2] != x.shape[:2]:
        shape = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
        raise ValueError(f"the sequence map must return (batch, time, outputs) = "
                         f"({x.shape[0]}, {x.shape[1]}, O), got {shape}")
    return y


class _EvalMode:
    def __init__(self, module):
        self.module = module

    def __enter__(self):
        if self.module is not None:
            self.was = self.module.training
            self.module.eval()

    def __exit__(self, *exc):
        if self.module is not None:
            self.module.train(self.was)


def gradient_memory(model, x: Tensor, max_lag: Optional[int] = None, n_anchors: int = 8, lengths=None,
                    output: str = "logits", threshold: float = 0.01) -> MemoryCurve:
    """Jacobian-norm memory curve of a model (or sequence map) on data x (B, T, F).

    For each anchor step ``t`` (``n_anchors`` spread over the sequence, always the last one) and lag
    ``k <= max_lag`` (default T-1): ``||d out_t / d x_(t-k)||_F`` per sequence, averaged over the
    sequences whose true length (``lengths``) covers ``t``. Costs ``O * n_anchors`` backward
    passes for ``O`` outputs per step.
    """
    x, lengths, max_lag, fn, module = _prepare(model, x, lengths, max_lag, output)
    b, t, _ = x.shape
    sums = np.zeros(max_lag + 1)
    counts = np.zeros(max_lag + 1)
    with _EvalMode(module), torch.enable_grad():
        xg = x.detach().clone().requires_grad_(True)
        y = _checked_output(fn(xg), x)
        for a in _anchors(t, n_anchors, late=True):
            sq = torch.zeros(b, t, dtype=torch.float64, device=x.device)
            for o in range(y.shape[-1]):
                g, = torch.autograd.grad(y[:, a, o].sum(), xg, retain_graph=True, allow_unused=True)
                if g is not None:
                    sq += g.double().pow(2).sum(-1)
            ks = np.arange(0, min(a, max_lag) + 1)
            norms = sq[:, a - ks].sqrt()  # (B, K): lag k -> input step a - k
            ok = torch.ones(b, dtype=torch.bool) if lengths is None else (lengths > a)
            if ok.any():
                sums[ks] += norms[ok.to(norms.device)].sum(0).cpu().numpy()
                counts[ks] += int(ok.sum())
    return _curve(sums, counts, "gradient", threshold)


@torch.no_grad()
def perturbation_memory(model, x: Tensor, eps: float = 1e-2, max_lag: Optional[int] = None,
                        n_anchors: int = 8, lengths=None, output: str = "logits",
                        threshold: float = 0.01, seed: int = 0) -> MemoryCurve:
    """Perturbation-decay memory curve of a model (or sequence map) on data x (B, T, F).

    The input at step ``s`` (``n_anchors`` spread over the sequence, always the first one) is moved
    by ``eps * std(x)`` in a random unit direction; the curve at lag ``k`` is the mean of
    ``||out_(s+k)(x') - out_(s+k)(x)|| / (eps * std(x))`` over sequences whose length covers ``s + k``.
    """
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    x, lengths, max_lag, fn, module = _prepare(model, x, lengths, max_lag, output)
    b, t, f = x.shape
    scale = float(x.std()) if b * t * f > 1 and float(x.std()) > 0 else 1.0
    step = eps * scale
    gen = torch.Generator().manual_seed(seed)
    sums = np.zeros(max_lag + 1)
    counts = np.zeros(max_lag + 1)
    with _EvalMode(module):
        y0 = _checked_output(fn(x), x).double()
        for s in _anchors(t, n_anchors, late=False):
            d = torch.randn(b, f, generator=gen).to(x.device, x.dtype)
            d = d / d.norm(dim=-1, keepdim=True).clamp_min(1e-12) * step
            xp = x.clone()
            xp[:, s] += d
            diff = (fn(xp).double() - y0).norm(dim=-1) / step  # (B, T)
            ks = np.arange(0, min(t - 1 - s, max_lag) + 1)
            vals = diff[:, s + ks]
            valid = torch.ones_like(vals, dtype=torch.bool) if lengths is None else \
                (torch.as_tensor(s + ks)[None, :] < lengths[:, None]).to(vals.device)
            sums[ks] += (vals * valid).sum(0).cpu().numpy()
            counts[ks] += valid.sum(0).cpu().numpy()
    return _curve(sums, counts, "perturbation", threshold, {"eps": eps, "scale": scale})


def _curve(sums, counts, method, threshold, extra=None) -> MemoryCurve:
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    horizon, censored = horizon_from_curve(values, threshold)
    return MemoryCurve(np.arange(values.size), values, counts, horizon, censored, method, threshold,
                       extra or {})


def compare_memory(models: Mapping[str, object], x: Union[Tensor, Mapping[str, Tensor]],
                   method: str = "gradient", **kwargs) -> Dict[str, MemoryCurve]:
    """Memory curves of several models (e.g. ``{"SRN": m1, "LSTM": m2, "GAN generator": g}``).

    ``x`` is one batch for all, or a dict name -> batch (a generator is probed with noise sequences,
    a classifier with data). ``method``: ``"gradient"`` or ``"perturbation"``.
    """
    if method not in ("gradient", "perturbation"):
        raise ValueError(f"method must be 'gradient' or 'perturbation', got {method!r}")
    if not models:
        raise ValueError("models: nothing to compare")
    run = gradient_memory if method == "gradient" else perturbation_memory
    out = {}
    for name, m in models.items():
        xb = x[name] if isinstance(x, Mapping) else x
        out[name] = run(m, xb, **kwargs)
    return out


def noise_map(generator, n: int = 32, classes=None, seed: int = 0) -> Tuple[SeqMap, Tensor]:
    """The per-step-noise map of a recurrent GAN generator and a noise batch to probe it with.

    ``generator``: a :class:`~selfrefresh.generators.RecurrentGAN` (outputs in data units, noise
    scaled by its ``noise_scale``) or a bare ``SequenceGenerator``. The class labels (default
    ``0..n-1`` cycled over the classes) and the per-sequence latent ``z`` are drawn once and held
    fixed, so the map is ``noise (n, T, noise_size) -> sequences (n, T, F)``.
    """
    gan = generator if hasattr(generator, "generator") and hasattr(generator, "denormalize") else None
    g = gan.generator if gan is not None else generator
    if not all(hasattr(g, a) for a in ("latent_size", "noise_size", "seq_len", "num_classes")):
        raise TypeError(f"expected a RecurrentGAN or SequenceGenerator, got {type(generator).__name__}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    gen = torch.Generator().manual_seed(seed)
    dev = next(g.parameters()).device
    if classes is None:
        classes = torch.arange(n) % g.num_classes
    classes = torch.as_tensor(classes).long().reshape(-1)
    if classes.numel() != n or classes.min() < 0 or classes.max() >= g.num_classes:
        raise ValueError(f"classes: expected {n} labels in 0..{g.num_classes - 1}")
    scale = float(getattr(gan, "noise_scale", 1.0)) if gan is not None else 1.0
    z = (torch.randn(n, g.latent_size, generator=gen) * scale).to(dev)
    noise = (torch.randn(n, g.seq_len, g.noise_size, generator=gen) * scale).to(dev)
    classes = classes.to(dev)

    def fn(e):
        y = g(classes[: e.shape[0]], z[: e.shape[0]], e)
        return gan.denormalize(y) if gan is not None else y
    return fn, noise


def compare_generators(gan=None, model=None, data: Optional[Tensor] = None, method: str = "gradient",
                       n: int = 32, seed: int = 0, **kwargs) -> Dict[str, MemoryCurve]:
    """Memory curves of the two pseudo-data generators of the project.

    * ``"GAN generator"``: ``gan`` (:func:`noise_map`) measured on its per-step noise: how far back
      the generated step ``t`` depends on the noise of step ``t - k``;
    * ``"reverberation (auto map)"``: the auto map ``model.reconstruct`` of an auto-hetero network
      on ``data`` (B, T, F): how far back one re-injection's step ``t`` depends on its input at ``t - k``.

    Either may be None (left out). kwargs go to :func:`gradient_memory` / :func:`perturbation_memory`
    (``lengths`` only applies to ``data``).
    """
    if method not in ("gradient", "perturbation"):
        raise ValueError(f"method must be 'gradient' or 'perturbation', got {method!r}")
    maps, probes = {}, {}
    if gan is not None:
        maps["GAN generator"], probes["GAN generator"] = noise_map(gan, n, seed=seed)
    if model is not None:
        if data is None:
            raise ValueError("compare_generators: the reverberation map needs data= (B, T, F)")
        if not hasattr(model, "reconstruct"):
            raise TypeError(f"{type(model).__name__} has no auto head (`reconstruct`)")
        maps["reverberation (auto map)"], probes["reverberation (auto map)"] = model.reconstruct, data[:n]
    if not maps:
        raise ValueError("compare_generators: pass gan= and/or model=")
    lengths = kwargs.pop("lengths", None)
    out = {}
    run = gradient_memory if method == "gradient" else perturbation_memory
    for name, fn in maps.items():
        kw = dict(kwargs)
        if name.startswith("reverberation") and lengths is not None:
            kw["lengths"] = torch.as_tensor(lengths)[:n]
        if method == "perturbation":
            kw.setdefault("seed", seed)
        mods = [m for m in (model if name.startswith("reverberation") else
                            getattr(gan, "generator", gan),) if isinstance(m, nn.Module)]
        was = [m.training for m in mods]
        for m in mods:
            m.eval()
        try:
            out[name] = run(fn, probes[name], **kw)
        finally:
            for m, w in zip(mods, was):
                m.train(w)
    return out
