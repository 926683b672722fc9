"""``analyse``: run every analysis on a model and data, write the figures and a markdown report."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .._files import write_text
from ._common import check_lengths, check_sequences, recurrent_layer
from .attractors import attractor_evolution, find_attractors, random_seeds, reverberation_memory
from .gates import GATE_NAMES, gate_saturation
from .memory import MemoryCurve, compare_generators, gradient_memory, perturbation_memory
from .plots import (plot_attractor_evolution, plot_attractors, plot_gates, plot_memory_curves, plot_motifs,
                    plot_unit_traces, save_figure)
from .units import select_units, top_windows, unit_activations

__all__ = ["analyse"]


def _curve_json(c: MemoryCurve) -> dict:
    return {"horizon": c.horizon, "censored": c.censored, "peak_lag": c.peak_lag,
            "normalised": [None if not np.isfinite(v) else round(float(v), 6) for v in c.normalised]}


def _fmt_h(c: MemoryCurve) -> str:
    return f"≥ {c.horizon}" if c.censored else str(c.horizon)


def analyse(model: nn.Module, data, out_dir, labels=None, lengths=None, *, kind: str = "auto",
            frame_shape=None, train_data=None, train_labels=None,
            checkpoints: Optional[Sequence[nn.Module]] = None, checkpoint_names: Optional[Sequence[str]] = None,
            compare: Optional[Mapping[str, object]] = None, gan=None, n_units: int = 6, window: Optional[int] = None,
            top_k: int = 6, max_sequences: int = 64, max_lag: Optional[int] = None, n_anchors: int = 6,
            n_seeds: int = 128, reinjections: int = 20, seed: int = 0, title: str = "",
            progress: bool = True) -> dict:
    """Analyse what a recurrent model learned; write figures, ``report.md`` and ``report.json``.

    Args:
        model: an :class:`~selfrefresh.models.AutoHeteroRNN` (or a selfrefresh recurrent layer: then
            only units, gates and memory are analysed).
        data: sequences (B, T, F) to probe with (real data, or random probes); ``labels`` (B,) and
            ``lengths`` (B,) true lengths (padding must be finite, e.g. the last frame repeated).
        out_dir: folder for the outputs (created).
        kind, frame_shape: how input windows are drawn (see :mod:`.plots`).
        train_data, train_labels: real training items for the attractors' distances (default: data).
        checkpoints, checkpoint_names: earlier models (e.g. NET2 after each experience) for the
            attractor evolution, reverberated from the same seeds.
        compare: extra name -> model or sequence map ``(B, T, F) -> (B, T, O)`` for the memory
            comparison, or name -> (map, probe batch) when the map needs other inputs (a generator's noise).
        gan: a trained :class:`~selfrefresh.generators.RecurrentGAN`: its generator's memory (on its
            per-step noise) is compared with the reverberation auto map's (:func:`compare_generators`).
        n_units, window, top_k: units shown, motif window (default T // 4, 3..10), windows per unit.
        max_sequences, max_lag, n_anchors: data used for the memory curves and their extent.
        n_seeds, reinjections: reverberation seeds and re-injections R.

    Returns:
        The numbers of the report (also in ``report.json``), with ``"figures"``: name -> path.
    """
    r = _open_report(model, data, out_dir, labels, lengths, window, title)
    has_auto = hasattr(model, "reconstruct")
    stages = ["units", "gates", "memory"] + (["attractors"] if has_auto else [])
    bar = tqdm(stages, desc="analyse", disable=not progress)
    was_training = model.training
    model.eval()
    try:
        for stage in bar:
            bar.set_postfix_str(stage)
            if stage == "units":
                _units(r, n_units, top_k, kind, frame_shape)
            elif stage == "gates":
                _gates(r)
            elif stage == "memory":
                xm, lm = _memory(r, compare, max_sequences, max_lag, n_anchors, seed)
                if has_auto or gan is not None:
                    _generator_memory(r, gan, xm, lm, max_sequences, n_anchors, seed)
            elif stage == "attractors":
                real, real_labels, seeds = _attractors(r, train_data, train_labels, n_seeds, reinjections, seed,
                                                       kind, frame_shape)
                if checkpoints:
                    _attractor_evolution(r, checkpoints, checkpoint_names, seeds, reinjections, real, real_labels)
    finally:
        model.train(was_training)
    return _write_report(r)


@dataclass
class _Report:
    """What the stages share: the model, the probe data, and the report being written."""
    model: nn.Module
    rnn: nn.Module
    data: Tensor
    labels: Optional[Tensor]
    lengths: Optional[Tensor]
    window: int
    out: Path
    device: torch.device
    res: dict
    md: List[str]
    figs: Dict[str, str] = field(default_factory=dict)

    def fig(self, name, figure) -> str:
        """Save ``figure`` as ``<name>.png``; its markdown link."""
        self.figs[name] = str(save_figure(figure, self.out / f"{name}.png"))
        return f"![{name}]({name}.png)"


def _open_report(model, data, out_dir, labels, lengths, window, title) -> _Report:
    """Checked inputs, the output folder, and the report's header."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rnn = recurrent_layer(model)
    data = check_sequences(data, "data", rnn.input_size)
    device = next(model.parameters()).device
    data = data.to(device)
    b, t, f = data.shape
    lengths = check_lengths(lengths, b, t)
    if labels is not None:
        labels = torch.as_tensor(labels).reshape(-1)
        if labels.numel() != b:
            raise ValueError(f"labels: expected {b} values, got {labels.numel()}")
    window = window or int(min(10, max(3, t // 4)))
    window = min(window, t)
    res: dict = {"model": type(model).__name__, "cell": type(rnn).__name__, "hidden_size": rnn.hidden_size,
                 "num_layers": rnn.num_layers, "data_shape": [b, t, f]}
    md = [f"# {title or 'What the recurrent network learned'}", "",
          f"Model: {type(model).__name__} with a {rnn.num_layers}-layer {type(rnn).__name__} of "
          f"{rnn.hidden_size} units; probed with {b} sequences of {t} steps x {f} features.", ""]
    return _Report(model, rnn, data, labels, lengths, window, out, device, res, md)


def _units(r: _Report, n_units: int, top_k: int, kind: str, frame_shape) -> None:
    """The most variable units, their traces and the input windows that drive them most."""
    data, lengths, labels, window = r.data, r.lengths, r.labels, r.window
    acts = unit_activations(r.model, data)
    units = select_units(acts, n_units, lengths)
    motifs = [top_windows(acts, data, u, window=window, k=top_k, lengths=lengths) for u in units]
    seq = 0
    L = int(lengths[seq]) if lengths is not None else data.shape[1]
    r.md += ["## Units and motifs", "",
             f"The {len(units)} most variable units (of {r.rnn.hidden_size}): {units}. For each, the "
             f"{top_k} input windows of {window} steps ending where it is most active.", "",
             r.fig("unit_traces", plot_unit_traces(data.cpu().numpy(), acts.cpu().numpy(), units, seq,
                                                   L, kind, frame_shape)),
             r.fig("motifs", plot_motifs(motifs, kind, frame_shape, top_k)), ""]
    r.res["units"] = {"selected": units, "window": window, "motifs": [
        {"unit": m.unit, "scores": [round(float(s), 4) for s in m.scores],
         "where": m.where.tolist(),
         "classes": (labels[m.where[:, 0]].tolist() if labels is not None else None)}
        for m in motifs]}
    if labels is not None:
        r.md += ["| unit | top activation | classes of its top windows |", "|---|---|---|"]
        r.md += [f"| {m.unit} | {m.scores[0]:.3f} | {labels[m.where[:, 0]].tolist()} |" for m in motifs]
        r.md.append("")


def _gates(r: _Report) -> None:
    """How often each gate is saturated, per layer (nothing but a line for a cell without gates)."""
    rnn = r.rnn
    if type(rnn).__name__.lower() not in GATE_NAMES:
        r.md += ["## Gates", "", f"{type(rnn).__name__} has no gates.", ""]
        return
    r.md += ["## Gate saturation", "",
             "Fraction of steps with a gate below 0.1 (left) or above 0.9 (right), mean over units.", "",
             "| layer | gate | left | right | units saturated > 50 % of steps |", "|---|---|---|---|---|"]
    r.res["gates"] = {}
    for layer in range(rnn.num_layers):
        sat = gate_saturation(r.data, r.lengths, model=r.model, layer=layer)
        r.res["gates"][layer] = sat.summary()
        for g, v in sat.summary().items():
            r.md.append(f"| {layer} | {g} | {v['left']:.3f} | {v['right']:.3f} | "
                        f"{v['units_mostly_saturated']:.3f} |")
        r.fig(f"gates_layer{layer}", plot_gates(sat, f"gate saturation, layer {layer}"))
    r.md += [""] + [f"![gates_layer{i}](gates_layer{i}.png)" for i in range(rnn.num_layers)] + [""]


def _memory(r: _Report, compare, max_sequences: int, max_lag, n_anchors: int, seed: int):
    """The memory horizon of the model's outputs (and of the ``compare`` maps); returns the probe
    sequences and lengths used."""
    model = r.model
    xm = r.data[:max_sequences]
    lm = r.lengths[:max_sequences] if r.lengths is not None else None
    kw = dict(max_lag=max_lag, n_anchors=n_anchors, lengths=lm)
    name = type(r.rnn).__name__
    outs = ["logits", "features"] if hasattr(model, "classifier") else [None]
    grad, pert = {}, {}
    for o in outs:
        label = name if o is None else f"{name} {o}"
        okw = {} if o is None else {"output": o}
        grad[label] = gradient_memory(model, xm, **kw, **okw)
        pert[label] = perturbation_memory(model, xm, seed=seed, **kw, **okw)
    for cname, other in (compare or {}).items():
        m, xc = (other if isinstance(other, tuple) else (other, xm))
        ckw = kw if xc is xm else dict(max_lag=None, n_anchors=n_anchors)
        grad[cname] = gradient_memory(m, xc, **ckw)
        pert[cname] = perturbation_memory(m, xc, seed=seed, **ckw)
    r.md += ["## Memory horizon", "",
             "Sensitivity of the output at step t to the input at step t-k, averaged over sequences "
             "and anchor steps; the horizon is the lag from which it stays under 1 % of its peak "
             "(≥: never within the measured lags).", "",
             "| output | horizon (gradient) | horizon (perturbation) | peak lag |", "|---|---|---|---|"]
    r.md += [f"| {k} | {_fmt_h(grad[k])} | {_fmt_h(pert[k])} | {grad[k].peak_lag} |" for k in grad]
    r.md += ["", r.fig("memory", plot_memory_curves({"gradient": grad, "perturbation": pert})), ""]
    r.res["memory"] = {k: {"gradient": _curve_json(grad[k]), "perturbation": _curve_json(pert[k])} for k in grad}
    return xm, lm


def _generator_memory(r: _Report, gan, xm, lm, max_sequences: int, n_anchors: int, seed: int) -> None:
    """The memory of the GAN generator (per-step noise) vs reverberation through the auto map."""
    gkw = dict(max_lag=None, n_anchors=n_anchors, lengths=lm, n=min(max_sequences, r.data.shape[0]), seed=seed)
    mg = r.model if hasattr(r.model, "reconstruct") else None
    ggrad = compare_generators(gan, mg, xm, "gradient", **gkw)
    gpert = compare_generators(gan, mg, xm, "perturbation", **gkw)
    r.md += ["## Memory of the generators", "",
             "How far back a generated step depends on the generator's input: the GAN generator "
             "on its per-step noise (class and latent held fixed), reverberation through the auto "
             "map on the probe data (one re-injection).", "",
             "| generator | horizon (gradient) | horizon (perturbation) | peak lag |",
             "|---|---|---|---|"]
    r.md += [f"| {k} | {_fmt_h(ggrad[k])} | {_fmt_h(gpert[k])} | {ggrad[k].peak_lag} |" for k in ggrad]
    r.md += ["", r.fig("memory_generators", plot_memory_curves(
        {"gradient": ggrad, "perturbation": gpert},
        "memory of the generators: GAN (per-step noise) vs reverberation (auto map)")), ""]
    r.res["generator_memory"] = {k: {"gradient": _curve_json(ggrad[k]),
                                     "perturbation": _curve_json(gpert[k])} for k in ggrad}


def _attractors(r: _Report, train_data, train_labels, n_seeds: int, reinjections: int, seed: int, kind: str,
                frame_shape):
    """Where reverberation from random seeds ends; returns the real items, their labels and the seeds."""
    model, device, data = r.model, r.device, r.data
    f = data.shape[2]
    real = check_sequences(train_data, "train_data", f).to(device) if train_data is not None else data
    real_labels = train_labels if train_data is not None else r.labels
    dist = "uniform" if getattr(model, "auto_activation", None) == "sigmoid" else "normal"
    seeds = random_seeds(n_seeds, real.shape[1], f, real if dist == "normal" else None, dist, seed)
    s = find_attractors(model, seeds=seeds.to(device), reinjections=reinjections, data=real,
                        data_labels=real_labels, name="final model")
    rev = reverberation_memory(model, seeds[: min(32, n_seeds)].to(device), reinjections=reinjections, seed=seed)
    summ = s.summary()
    r.res["attractors"] = summ
    r.res["reverberation_memory"] = _curve_json(rev)
    md = r.md
    md += ["## Reverberation attractors", "",
           f"{n_seeds} random seeds ({dist}), R = {reinjections} re-injections through the auto head.",
           "", f"- distinct end points (tolerance {s.tol:.3g} RMS): **{s.n_attractors}**; "
           f"largest basin {100 * summ['largest_basin_fraction']:.0f} % of the seeds; "
           f"{100 * summ['converged_fraction']:.0f} % converged (last step under tol / 10; "
           f"{summ['n_converged_attractors']} distinct converged end points)",
           f"- classes reached (hetero head): {summ['classes_reached']}; share of seeds per class: "
           f"{summ['class_coverage']}"]
    if "mean_distance_to_data" in summ:
        md.append(f"- mean RMS distance of the attractors to the nearest real item: "
                  f"{summ['mean_distance_to_data']:.3g} (median spacing between real items: "
                  f"{summ['data_spacing']:.3g})")
        if "class_agrees_with_nearest_item" in summ:
            md.append(f"- attractor class = class of its nearest real item for "
                      f"{100 * summ['class_agrees_with_nearest_item']:.0f} % of the seeds")
    if summ["converged_fraction"] < 0.5:
        md.append(f"- most seeds were still moving after R = {reinjections}: the end points are "
                  f"points of slow drift, not fixed points (more re-injections, or an auto map "
                  f"without point attractors), so the count above overstates the attractors")
    md.append(f"- the seed is forgotten (perturbation decays under 1 %) after {_fmt_h(rev)} re-injections")
    md += ["", r.fig("attractors", plot_attractors(s, real.cpu().numpy(), real_labels, kind, frame_shape)), ""]
    return real, real_labels, seeds


def _attractor_evolution(r: _Report, checkpoints, checkpoint_names, seeds, reinjections: int, real,
                         real_labels) -> None:
    """The attractors of earlier models, reverberated from the same seeds."""
    names = list(checkpoint_names or [f"checkpoint {i}" for i in range(len(checkpoints))])
    for c in checkpoints:
        c.eval()
    evo = attractor_evolution(list(checkpoints), names, seeds=seeds.to(r.device),
                              reinjections=reinjections, data=real, data_labels=real_labels)
    ncls = getattr(r.model, "num_classes", None)
    r.res["attractor_evolution"] = {e.name: e.summary() for e in evo}
    r.md += ["### Across checkpoints (same seeds)", "",
             "| checkpoint | attractors | classes reached | mean distance to data |", "|---|---|---|---|"]
    r.md += [f"| {e.name} | {e.n_attractors} | {e.summary()['classes_reached']} | "
             f"{e.summary().get('mean_distance_to_data', float('nan')):.3g} |" for e in evo]
    r.md += ["", r.fig("attractor_evolution", plot_attractor_evolution(evo, ncls)), ""]


def _write_report(r: _Report) -> dict:
    """``report.md`` and ``report.json``; the numbers, with the figures' paths."""
    r.res["figures"] = r.figs
    write_text(r.out / "report.md", "\n".join(r.md) + "\n")
    write_text(r.out / "report.json", json.dumps(r.res, indent=1, default=_jsonable))
    return r.res


def _jsonable(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.ndarray, Tensor)):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
