"""One continual-learning run, from names to numbers: stream + model + strategy, trained
experience by experience under Avalanche's ``EvaluationPlugin``.

:func:`run_experiment` writes, in ``<out>/<stream>/<strategy>/seed<k>/``:

* ``settings.json``: the run's :meth:`RunConfig.identity` -- a folder holds one run; another run
  with the same settings is refused without ``resume`` or ``overwrite``, one with other settings
  without ``overwrite``;
* ``accuracy_matrix.csv``: ``A[i, j]`` = accuracy on experience ``j``'s test set after training
  experience ``i`` (Avalanche's per-experience accuracy);
* ``summary.json``: the matrix, the settings, the final accuracy averaged over experiences (not
  pooled over samples), the average forgetting, BWT, stored real samples, wall time;
* ``avalanche_logs/from_exp<k>/``: Avalanche's CSV logs (accuracy, forgetting, BWT);
* ``checkpoint.pt`` after each finished experience (``resume=True`` continues from it), and
  ``model.pt`` (``model_config``, ``model_state``, ``stream``) for ``selfrefresh analyse``.

Every file is written atomically (:mod:`selfrefresh.runs.io`).
"""
from __future__ import annotations

import csv
import itertools
import json
import math
import os
import random
import shutil
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from .build import build_model, check_model_settings, load_stream, resolve_device, stream_info, stream_kwargs_for
from .config import RunConfig, identity_of_older_version
from .errors import ExperimentError, one_line
from .io import atomic_file, read_json, write_json
from .loop import quiet_warnings, train_steps
from .report import matrix_metrics
from .threads import set_threads

__all__ = ["run_experiment", "run_dir", "check_run_dir", "load_checkpoint", "run_cell", "SETTINGS_FILE"]

CHECKPOINT_VERSION = 1
SETTINGS_FILE = "settings.json"
# what a run folder holds besides its settings (removed by ``overwrite``)
_RESULTS = ("summary.json", "checkpoint.pt", "model.pt", "accuracy_matrix.csv", "avalanche_logs")


def run_dir(out: os.PathLike, config: RunConfig) -> Path:
    """``<out>/<stream>/<strategy>/seed<k>``."""
    return Path(out) / config.stream / config.strategy / f"seed{config.seed}"


def _validate(config: RunConfig) -> None:
    from ..strategies.registry import unregistered
    if problem := unregistered(config.strategy):
        raise ExperimentError(problem)
    if not isinstance(config.seed, int) or isinstance(config.seed, bool) or config.seed < 0:
        raise ExperimentError(f"seed must be a non-negative integer, got {config.seed!r}")
    check_model_settings(config.cell, config.hidden_size)
    for name in ("epochs", "batch_size"):
        v = getattr(config, name)
        if not isinstance(v, int) or v < 1:
            raise ExperimentError(f"{name.replace('_', ' ')} must be a positive integer, got {v!r}")
    if not (config.lr > 0 and math.isfinite(config.lr)):
        raise ExperimentError(f"learning rate must be positive, got {config.lr}")


def check_run_dir(out: os.PathLike, config: RunConfig, resume: bool = False, overwrite: bool = False) -> Path:
    """The run's folder, after checking that running ``config`` there loses and mixes nothing.

    Refused (one-line :class:`ExperimentError`): results of a run with other settings (unless
    ``overwrite``), results of this very run without ``resume`` or ``overwrite``, a damaged
    settings file. Writes nothing."""
    folder = run_dir(out, config)
    held = [name for name in _RESULTS if (folder / name).exists()]
    if overwrite or not held:
        return folder
    recorded, wanted = _recorded_identity(folder / SETTINGS_FILE), config.identity()
    if recorded is not None and recorded != wanted:
        diff = [k for k in wanted if wanted[k] != recorded.get(k)]
        what = ", ".join(f"{k} {recorded.get(k)!r} there, {wanted[k]!r} here" for k in diff)
        raise ExperimentError(f"{folder} holds a run with other settings ({what}); use another --out, "
                              "or --overwrite to replace it")
    if not resume:
        raise ExperimentError(f"{folder} already holds this run; use --resume to continue it or "
                              "--overwrite to replace it")
    return folder


def _recorded_identity(path: Path) -> Optional[dict]:
    """The identity a settings file records (``None`` without the file: a folder of an older version)."""
    if not path.exists():
        return None
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("identity"), dict):
        raise ExperimentError(f"{path} is damaged: no settings recorded; delete it or use --overwrite")
    return identity_of_older_version(data["identity"])


def _claim(folder: Path, config: RunConfig, overwrite: bool) -> None:
    """Record ``config``'s settings in ``folder`` (after removing old results on ``overwrite``)."""
    folder.mkdir(parents=True, exist_ok=True)
    if overwrite:
        for name in _RESULTS:
            path = folder / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    write_json(folder / SETTINGS_FILE, {"identity": config.identity()})


def _training_sizes(strategy: str, bench) -> list:
    """How many sequences each training call sees: Joint trains once on all, Cumulative on all so far."""
    sizes = [len(e.dataset) for e in bench.train_stream]
    if strategy == "joint":
        return [sum(sizes)]
    return list(itertools.accumulate(sizes)) if strategy == "cumulative" else sizes


def load_checkpoint(path: os.PathLike) -> dict:
    """A run checkpoint, loaded without unpickling arbitrary objects."""
    from .._files import CorruptFileError, load_torch_file, short_reason
    try:
        return load_torch_file(path, what="run checkpoint")
    except CorruptFileError as err:  # its message never suggests an unsafe load
        raise ExperimentError(f"{path} is damaged ({short_reason(err)}); delete it or use --overwrite") from None


def _save(obj, path: Path) -> None:
    with atomic_file(path, "wb") as f:
        torch.save(obj, f)


def _write_matrix(path: Path, acc) -> None:
    with atomic_file(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["after_training_exp"] + [f"test_exp{j}" for j in range(len(acc[0]) if acc else 0)])
        for i, row in enumerate(acc):
            w.writerow([i] + [f"{v:.4f}" for v in row])


# --------------------------------------------------------------------------- RNG state

def _rng_state() -> dict:
    np_state = np.random.get_state()
    py_state = random.getstate()
    state = {"torch": torch.get_rng_state(),
             "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                       "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
             "python": {"version": py_state[0], "state": list(py_state[1]), "gauss": py_state[2]}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _seed_everything(seed: int) -> None:
    from avalanche.training.determinism.rng_manager import RNGManager
    RNGManager.set_random_seeds(seed)


# --------------------------------------------------------------------------- one run

def run_experiment(config: RunConfig, out: os.PathLike, resume: bool = False,
                   stop_after: Optional[int] = None, benchmark=None, overwrite: bool = False) -> dict:
    """Train ``config.strategy`` on ``config.stream`` experience by experience; returns the summary.

    Args:
        config: the run.
        out: root output folder (the run writes to :func:`run_dir`).
        resume: continue from ``checkpoint.pt`` when present (a finished run is returned as is).
        stop_after: stop after this many training experiences (to test resuming; the summary
            then covers the partial matrix and has ``"finished": False``).
        benchmark: an Avalanche benchmark to use instead of loading ``config.stream`` (which
            then only names the run), e.g. one built with
            :func:`~selfrefresh.streams.class_incremental_stream` from your own tensors.
        overwrite: replace the results a run folder already holds (see :func:`check_run_dir`).
    """
    from ..strategies.registry import (NOT_RESUMABLE, load_strategy_state, make_strategy, stored_real_samples,
                                        strategy_state)
    from .evaluation import ProgressBar, check_loggers, experience_accuracies, pooled_accuracy, run_evaluator
    _validate(config)
    check_loggers(config.log)
    device = resolve_device(config.device)
    bench = benchmark if benchmark is not None else \
        load_stream(config.stream, config.size, config.stream_kwargs, config.progress)
    info = stream_info(bench)
    joint = config.strategy == "joint"
    n_rows = 1 if joint else info["n_experiences"]
    folder = check_run_dir(out, config, resume=resume, overwrite=overwrite)
    ckpt_path = folder / "checkpoint.pt"

    checkpoint = None
    if resume and not overwrite and ckpt_path.exists():
        checkpoint = load_checkpoint(ckpt_path)
        if identity_of_older_version(checkpoint.get("identity")) != config.identity():
            raise ExperimentError(f"the checkpoint in {folder} was made with other settings; use another --out "
                                  "or run without --resume")
        if checkpoint["finished"] > 0 and config.strategy in NOT_RESUMABLE and checkpoint["finished"] < n_rows:
            print(f"note: {config.strategy} does not checkpoint its memory; seed {config.seed} restarts from "
                  "the first experience")
            checkpoint = None
        elif checkpoint["finished"] >= n_rows and (folder / "summary.json").exists():
            return read_json(folder / "summary.json")
    _claim(folder, config, overwrite)

    _seed_everything(config.seed)
    model, model_config = build_model(info, config.cell, config.hidden_size, readout=config.readout)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    start = 0 if checkpoint is None else int(checkpoint["finished"])
    name = f"{config.stream}/{config.strategy}/seed{config.seed}"
    planned = [math.ceil(n / config.batch_size) * config.epochs
               for n in _training_sizes(config.strategy, bench)[start:]]
    bar = ProgressBar(name, planned, config.progress)
    with quiet_warnings():
        evaluator = run_evaluator(folder / "avalanche_logs" / f"from_exp{start}", config.log,
                                  log_root=Path(out), name=name, config=config.identity())
        try:
            strategy = make_strategy(config.strategy, model, optimizer, options=config.strategy_options,
                                     seq_len=info["seq_len"],
                                     train_mb_size=config.batch_size, train_epochs=config.epochs,
                                     eval_mb_size=256, device=device, plugins=[bar], evaluator=evaluator)
        except (ValueError, TypeError, RuntimeError) as err:
            raise ExperimentError(f"strategy {config.strategy!r}: {one_line(err)}") from None

    acc, wall = [], 0.0
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model_state"])
        model.to(device)
        strategy.optimized_param_id = dict(model.named_parameters())  # keep Adam's state (no reset)
        optimizer.load_state_dict(checkpoint["optimizer_state"])
        try:
            load_strategy_state(strategy, config.strategy, checkpoint["strategy_state"],
                                finished_experiences=list(bench.train_stream)[:start])
        except ValueError as err:
            raise ExperimentError(f"cannot resume {folder}: {one_line(err)}") from None
        acc = [list(r) for r in checkpoint["accuracy_matrix"]]
        wall = float(checkpoint["wall_time_s"])
        for k, v in checkpoint.get("clock", {}).items():  # EWC/SI read the experience counter
            setattr(strategy.clock, k, v)
        _set_rng_state(checkpoint["rng"])

    stop = n_rows if stop_after is None else min(n_rows, start + max(0, stop_after - start))
    metrics = None
    try:
        for step in train_steps(strategy, bench, start=start, stop=stop):
            wall += step.train_s + step.eval_s
            metrics = step.metrics
            acc.append(experience_accuracies(metrics)[:info["n_experiences"]])
            _save({"version": CHECKPOINT_VERSION, "identity": config.identity(), "finished": step.index + 1,
                   "accuracy_matrix": acc, "wall_time_s": wall,
                   "model_state": model.state_dict(), "optimizer_state": optimizer.state_dict(),
                   "strategy_state": strategy_state(strategy, config.strategy), "rng": _rng_state(),
                   "clock": {k: v for k, v in vars(strategy.clock).items() if type(v) in (int, float)}},
                  ckpt_path)
    finally:
        bar.close()
        for logger in evaluator.loggers:
            if hasattr(logger, "close"):
                logger.close()

    finished = len(acc) >= n_rows
    stream_kwargs = {} if benchmark is not None else json.loads(json.dumps(
        {k: v for k, v in stream_kwargs_for(config.stream, config.size, config.stream_kwargs).items()
         if k != "progress"}, default=list))
    summary = {"stream": config.stream, "strategy": config.strategy, "seed": config.seed, "cell": config.cell,
               "hidden_size": config.hidden_size, "epochs": config.epochs, "batch_size": config.batch_size,
               "lr": config.lr, "size": config.size, "settings": config.identity(), "device": str(device),
               "finished": finished, "n_experiences": info["n_experiences"], "accuracy_matrix": acc,
               **matrix_metrics(acc), "pooled_final_accuracy": pooled_accuracy(metrics) if metrics is not None else None,
               "stored_real_samples": stored_real_samples(strategy, config.strategy),
               "wall_time_s": wall, "resumed_from": start}
    _write_matrix(folder / "accuracy_matrix.csv", acc)
    _save({"model_config": model_config, "model_state": {k: v.cpu() for k, v in model.state_dict().items()},
           "stream": config.stream, "stream_kwargs": stream_kwargs, "seed": config.seed},
          folder / "model.pt")
    write_json(folder / "summary.json", summary)
    return summary


def run_cell(cell: dict) -> dict:
    """One run for a worker process: ``cell`` = {"config": RunConfig fields, "out", "resume",
    "overwrite", "threads"}. Returns {"ok": True, "summary": ...} or {"ok": False, "error": ...}
    (one line)."""
    set_threads(cell.get("threads"))
    cfg = RunConfig(**cell["config"])
    try:
        return {"ok": True, "summary": run_experiment(cfg, cell["out"], resume=cell.get("resume", False),
                                                      overwrite=cell.get("overwrite", False))}
    except (ExperimentError, RuntimeError, ValueError, ImportError, OSError) as err:
        return {"ok": False, "stream": cfg.stream, "strategy": cfg.strategy, "seed": cfg.seed,
                "error": one_line(err)}
