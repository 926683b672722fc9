"""One continual-learning run, from names to numbers: stream + model + strategy, trained
experience by experience under Avalanche's ``EvaluationPlugin``.

:func:`run_experiment` writes, in ``<out>/<stream>/<strategy>/seed<k>/``:

* ``accuracy_matrix.csv``: ``A[i, j]`` = accuracy on experience ``j``'s test set after training
  experience ``i`` (Avalanche's per-experience accuracy);
* ``summary.json``: the matrix, the final accuracy averaged over experiences (not pooled over
  samples), the average forgetting, BWT, stored real samples, wall time;
* ``avalanche_logs/from_exp<k>/``: Avalanche's CSV logs (accuracy, forgetting, BWT);
* ``checkpoint.pt`` after each finished experience (``resume=True`` continues from it), and
  ``model.pt`` (``model_config``, ``model_state``, ``stream``) for ``selfrefresh analyse``.

Definitions on the matrix ``A`` (T experiences): final average accuracy = mean_j A[T-1, j];
forgetting of experience j < T-1 = max_{i<T-1} A[i, j] - A[T-1, j] (Chaudhry et al. 2018),
averaged over j; BWT = mean_{j<T-1} (A[T-1, j] - A[j, j]) (Lopez-Paz & Ranzato 2017).
"""
from __future__ import annotations

import csv
import inspect
import json
import math
import os
import random
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np
import torch

from .streams.registry import STREAM_PRESETS  # reduced sizes (size="small"), kept in the streams' registry

__all__ = ["RunConfig", "ExperimentError", "STREAM_PRESETS", "resolve_device", "load_stream", "stream_info",
           "build_model", "run_experiment", "run_dir", "matrix_metrics", "aggregate", "markdown_table",
           "collect_summaries", "write_report", "run_cell"]

CHECKPOINT_VERSION = 1

class ExperimentError(Exception):
    """A user-facing problem (bad name, missing data, impossible setting): one line, what to do."""


@dataclass
class RunConfig:
    """Everything that defines one run (one stream, one strategy, one seed)."""
    stream: str
    strategy: str
    seed: int = 0
    cell: str = "gru"
    hidden_size: int = 64
    epochs: int = 30
    batch_size: int = 32
    lr: float = 2e-3
    device: str = "auto"
    size: str = "full"                      # "full" (the stream's defaults) or "small" (STREAM_PRESETS)
    stream_kwargs: dict = field(default_factory=dict)
    strategy_options: dict = field(default_factory=dict)
    progress: bool = True

    def identity(self) -> dict:
        """The settings a checkpoint must match to be resumed (not device, not progress)."""
        d = asdict(self)
        d.pop("progress")
        d.pop("device")
        return json.loads(json.dumps(d, default=list))


# --------------------------------------------------------------------------- names -> objects

def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` (cuda when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ExperimentError(f"unknown device {device!r}; use auto, cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ExperimentError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto")
    if dev.type not in ("cpu", "cuda"):
        raise ExperimentError(f"unsupported device {device!r}; use auto, cpu or cuda")
    return dev


_STREAM_CACHE: dict = {}


def stream_kwargs_for(name: str, size: str = "full", extra: Optional[dict] = None, progress: bool = True) -> dict:
    """The keyword arguments given to stream ``name``'s function."""
    from .streams.registry import STREAM_NAMES, stream_spec
    try:
        spec = stream_spec(name)
    except ValueError:
        raise ExperimentError(f"unknown stream {name!r}; choose one of: {', '.join(STREAM_NAMES)}") from None
    try:
        kw = spec.preset(size)
    except ValueError as err:
        raise ExperimentError(str(err)) from None
    try:
        fn = spec.builder()
    except (ImportError, AttributeError) as err:
        raise ExperimentError(f"stream {name!r} is not available in this installation ({err})") from None
    params = inspect.signature(fn).parameters
    kw = {k: v for k, v in kw.items() if k in params}
    if "progress" in params:
        kw["progress"] = progress
    for k, v in (extra or {}).items():
        if k not in params and not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            raise ExperimentError(f"stream {name!r} takes no argument {k!r}; it takes: "
                                  f"{', '.join(p for p in params if p != 'progress')}")
        kw[k] = v
    missing = [p.name for p in params.values()
               if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in kw]
    if missing:
        raise ExperimentError(f"stream {name!r} needs {', '.join(missing)}: pass --stream-arg "
                              + " --stream-arg ".join(f"{m}=VALUE" for m in missing))
    return kw


def load_stream(name: str, size: str = "full", extra: Optional[dict] = None, progress: bool = True):
    """The Avalanche benchmark of stream ``name`` (cached per process)."""
    from .streams.registry import canonical_stream_name, get_stream
    kw = stream_kwargs_for(name, size, extra, progress)
    key = (canonical_stream_name(name),
           json.dumps({k: v for k, v in kw.items() if k != "progress"}, sort_keys=True, default=list))
    if key not in _STREAM_CACHE:
        try:
            _STREAM_CACHE[key] = get_stream(name)(**kw)
        except FileNotFoundError as err:
            raise ExperimentError(f"stream {name!r}: data not found ({_one_line(err)}); put the data in place, "
                                  "set SELFREFRESH_DATA, or pass --stream-arg root=PATH") from None
        except (ValueError, TypeError) as err:
            raise ExperimentError(f"stream {name!r}: {_one_line(err)}") from None
    return _STREAM_CACHE[key]


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def stream_info(benchmark) -> dict:
    """``input_size``, ``num_classes``, ``seq_len`` and ``n_experiences`` of a benchmark
    (taken from its attributes, else from the data)."""
    first = benchmark.train_stream[0].dataset
    x0 = first[0][0]
    input_size = getattr(benchmark, "input_size", None) or int(x0.shape[-1])
    seq_len = getattr(benchmark, "seq_len", None) or int(x0.shape[0])
    num_classes = getattr(benchmark, "num_classes", None)
    if num_classes is None:
        classes = set()
        for exp in benchmark.train_stream:
            classes.update(int(c) for c in exp.classes_in_this_experience)
        num_classes = max(classes) + 1
    return {"input_size": int(input_size), "seq_len": int(seq_len), "num_classes": int(num_classes),
            "n_experiences": len(benchmark.train_stream)}


def build_model(info: dict, cell: str = "lstm", hidden_size: int = 64):
    """An :class:`~selfrefresh.models.AutoHeteroRNN` sized for the stream, and its kwargs."""
    from .models import AutoHeteroRNN
    if cell not in ("lstm", "gru", "rnn", "srn"):
        raise ExperimentError(f"unknown cell {cell!r}; choose lstm, gru, rnn or srn")
    if not isinstance(hidden_size, int) or hidden_size < 1:
        raise ExperimentError(f"hidden size must be a positive integer, got {hidden_size!r}")
    config = {"input_size": info["input_size"], "hidden_size": hidden_size,
              "num_classes": info["num_classes"], "cell": cell}
    return AutoHeteroRNN(**config), config


# --------------------------------------------------------------------------- metrics on A

def matrix_metrics(acc) -> dict:
    """Final average accuracy, average forgetting and BWT of an accuracy matrix (see module doc)."""
    a = np.asarray(acc, dtype=float)
    final = a[-1]
    out = {"final_average_accuracy": float(final.mean()), "average_forgetting": None, "bwt": None}
    if a.shape[0] == a.shape[1] and a.shape[0] > 1:
        t = a.shape[0]
        out["average_forgetting"] = float(np.mean([a[:t - 1, j].max() - final[j] for j in range(t - 1)]))
        out["bwt"] = float(np.mean([final[j] - a[j, j] for j in range(t - 1)]))
    return out


# --------------------------------------------------------------------------- Avalanche glue

def _evaluator(log_dir: Path):
    from avalanche.evaluation.metrics import accuracy_metrics, bwt_metrics, forgetting_metrics
    from avalanche.logging import CSVLogger
    from avalanche.training.plugins import EvaluationPlugin
    log_dir.mkdir(parents=True, exist_ok=True)
    return EvaluationPlugin(accuracy_metrics(experience=True, stream=True),
                            forgetting_metrics(experience=True, stream=True),
                            bwt_metrics(experience=True, stream=True),
                            loggers=[CSVLogger(log_folder=str(log_dir))])


def _progress_plugin(total: int, desc: str, enabled: bool):
    from avalanche.core import SupervisedPlugin
    from tqdm.auto import tqdm

    class ProgressBar(SupervisedPlugin):
        """A tqdm bar over all training minibatches of the run."""

        def __init__(self):
            super().__init__()
            self.bar = tqdm(total=total, desc=desc, disable=not enabled, leave=False, dynamic_ncols=True)

        def after_training_iteration(self, strategy, **kwargs):
            self.bar.update(1)
            if strategy.loss is not None and self.bar.n % 10 == 0:
                self.bar.set_postfix(exp=strategy.experience.current_experience, loss=f"{float(strategy.loss):.3f}")

        def close(self):
            self.bar.close()

    return ProgressBar()


def _exp_accuracy(metrics: dict, j: int) -> float:
    for key, value in metrics.items():
        if key.startswith("Top1_Acc_Exp/eval_phase/test_stream/") and key.endswith(f"/Exp{j:03d}"):
            return float(value)
    raise RuntimeError(f"Avalanche reported no accuracy for test experience {j}")


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


def _silence_warnings() -> None:
    # Avalanche's deprecation decorator forces "always": drop the display itself (restored on exit
    # of the enclosing catch_warnings)
    warnings.simplefilter("ignore")
    warnings.showwarning = lambda *args, **kwargs: None


def _seed_everything(seed: int) -> None:
    from avalanche.training.determinism.rng_manager import RNGManager
    RNGManager.set_random_seeds(seed)


def _save(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def run_dir(out: os.PathLike, config: RunConfig) -> Path:
    """``<out>/<stream>/<strategy>/seed<k>``."""
    return Path(out) / config.stream / config.strategy / f"seed{config.seed}"


def load_checkpoint(path: os.PathLike) -> dict:
    """A run checkpoint, loaded without unpickling arbitrary objects."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any corruption is reported the same way
        raise ExperimentError(f"cannot read checkpoint {path} ({_one_line(err)}); delete it or run without "
                              "--resume") from None


# --------------------------------------------------------------------------- one run

def run_experiment(config: RunConfig, out: os.PathLike, resume: bool = False,
                   stop_after: Optional[int] = None, benchmark=None) -> dict:
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
    """
    from .strategies.registry import (NOT_RESUMABLE, STRATEGY_NAMES, load_strategy_state, make_strategy,
                                       stored_real_samples, strategy_state)
    if config.strategy not in STRATEGY_NAMES:
        raise ExperimentError(f"unknown strategy {config.strategy!r}; choose one of: {', '.join(STRATEGY_NAMES)}")
    for name in ("epochs", "batch_size"):
        v = getattr(config, name)
        if not isinstance(v, int) or v < 1:
            raise ExperimentError(f"{name.replace('_', ' ')} must be a positive integer, got {v!r}")
    if not (config.lr > 0 and math.isfinite(config.lr)):
        raise ExperimentError(f"learning rate must be positive, got {config.lr}")
    device = resolve_device(config.device)
    folder = run_dir(out, config)
    folder.mkdir(parents=True, exist_ok=True)
    ckpt_path = folder / "checkpoint.pt"

    bench = benchmark if benchmark is not None else \
        load_stream(config.stream, config.size, config.stream_kwargs, config.progress)
    info = stream_info(bench)
    joint = config.strategy == "joint"
    n_rows = 1 if joint else info["n_experiences"]

    checkpoint = None
    if resume and ckpt_path.exists():
        checkpoint = load_checkpoint(ckpt_path)
        if checkpoint.get("identity") != config.identity():
            raise ExperimentError(f"the checkpoint in {folder} was made with other settings; use another --out "
                                  "or run without --resume")
        if checkpoint["finished"] > 0 and config.strategy in NOT_RESUMABLE and checkpoint["finished"] < n_rows:
            print(f"note: {config.strategy} does not checkpoint its memory; seed {config.seed} restarts from "
                  "the first experience")
            checkpoint = None
        elif checkpoint["finished"] >= n_rows and (folder / "summary.json").exists():
            return json.loads((folder / "summary.json").read_text())

    _seed_everything(config.seed)
    model, model_config = build_model(info, config.cell, config.hidden_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    start = 0 if checkpoint is None else int(checkpoint["finished"])
    n_batches = sum(math.ceil(len(e.dataset) / config.batch_size) for e in bench.train_stream)
    bar = _progress_plugin(n_batches * config.epochs, f"{config.stream}/{config.strategy}/seed{config.seed}",
                           config.progress)
    with warnings.catch_warnings():
        _silence_warnings()
        evaluator = _evaluator(folder / "avalanche_logs" / f"from_exp{start}")
        try:
            strategy = make_strategy(config.strategy, model, optimizer, options=config.strategy_options,
                                     seq_len=info["seq_len"],
                                     train_mb_size=config.batch_size, train_epochs=config.epochs,
                                     eval_mb_size=256, device=device, plugins=[bar], evaluator=evaluator)
        except (ValueError, TypeError, RuntimeError) as err:
            raise ExperimentError(f"strategy {config.strategy!r}: {_one_line(err)}") from None

    acc, wall = [], 0.0
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model_state"])
        model.to(device)
        strategy.optimized_param_id = dict(model.named_parameters())  # keep Adam's state (no reset)
        optimizer.load_state_dict(checkpoint["optimizer_state"])
        load_strategy_state(strategy, config.strategy, checkpoint["strategy_state"],
                            finished_experiences=list(bench.train_stream)[:start])
        acc = [list(r) for r in checkpoint["accuracy_matrix"]]
        wall = float(checkpoint["wall_time_s"])
        for k, v in checkpoint.get("clock", {}).items():  # EWC/SI read the experience counter
            setattr(strategy.clock, k, v)
        _set_rng_state(checkpoint["rng"])

    stop = n_rows if stop_after is None else min(n_rows, start + max(0, stop_after - start))
    try:
        for i in range(start, stop):
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                _silence_warnings()
                strategy.train(bench.train_stream if joint else bench.train_stream[i])
                metrics = strategy.eval(bench.test_stream)
            wall += time.perf_counter() - t0
            acc.append([_exp_accuracy(metrics, j) for j in range(info["n_experiences"])])
            _save({"version": CHECKPOINT_VERSION, "identity": config.identity(), "finished": i + 1,
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
               "lr": config.lr, "size": config.size, "device": str(device), "finished": finished,
               "n_experiences": info["n_experiences"], "accuracy_matrix": acc, **matrix_metrics(acc),
               "pooled_final_accuracy": _pooled(metrics) if stop > start else None,
               "stored_real_samples": stored_real_samples(strategy, config.strategy),
               "wall_time_s": wall, "resumed_from": start}
    _write_matrix(folder / "accuracy_matrix.csv", acc)
    _save({"model_config": model_config, "model_state": {k: v.cpu() for k, v in model.state_dict().items()},
           "stream": config.stream, "stream_kwargs": stream_kwargs, "seed": config.seed},
          folder / "model.pt")
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def run_cell(cell: dict) -> dict:
    """One run for a worker process: ``cell`` = {"config": RunConfig fields, "out", "resume",
    "threads"}. Returns {"ok": True, "summary": ...} or {"ok": False, "error": ...} (one line)."""
    if cell.get("threads"):
        torch.set_num_threads(cell["threads"])
    cfg = RunConfig(**cell["config"])
    try:
        return {"ok": True, "summary": run_experiment(cfg, cell["out"], resume=cell.get("resume", False))}
    except (ExperimentError, RuntimeError, ValueError, ImportError) as err:
        return {"ok": False, "stream": cfg.stream, "strategy": cfg.strategy, "seed": cfg.seed,
                "error": _one_line(err)}


def _pooled(metrics: dict) -> Optional[float]:
    for key, value in metrics.items():
        if key.startswith("Top1_Acc_Stream/eval_phase/test_stream"):
            return float(value)
    return None


def _write_matrix(path: Path, acc) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["after_training_exp"] + [f"test_exp{j}" for j in range(len(acc[0]) if acc else 0)])
        for i, row in enumerate(acc):
            w.writerow([i] + [f"{v:.4f}" for v in row])


# --------------------------------------------------------------------------- many runs

def collect_summaries(paths: Iterable[os.PathLike]) -> list:
    """Run summaries from run folders (searched recursively for ``summary.json``), summary files, or
    report/benchmark JSON files holding a ``"runs"`` list."""
    runs = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise ExperimentError(f"{p} does not exist; give run folders or result JSON files")
        files = sorted(p.rglob("summary.json")) if p.is_dir() else [p]
        if p.is_dir() and not files:
            files = sorted(p.glob("*.json"))
        for f in files:
            try:
                data = json.loads(Path(f).read_text())
            except (OSError, json.JSONDecodeError) as err:
                raise ExperimentError(f"cannot read results file {f} ({_one_line(err)})") from None
            if isinstance(data, dict) and "accuracy_matrix" in data:
                runs.append(data)
            elif isinstance(data, dict) and isinstance(data.get("runs"), list):
                runs.extend(data["runs"])
    if not runs:
        raise ExperimentError("no results found in " + ", ".join(str(p) for p in paths)
                              + "; give run folders (with summary.json) or result JSON files")
    return runs


_FIELDS = ("final_average_accuracy", "average_forgetting", "bwt", "stored_real_samples", "wall_time_s")


def aggregate(runs: Sequence[dict]) -> list:
    """One row per (stream, strategy): mean and std over seeds of the summary fields, and the wall
    time's ratio to Naive's on the same stream (``None`` without a naive run)."""
    groups: dict = {}
    for r in runs:
        groups.setdefault((r["stream"], r["strategy"]), []).append(r)
    rows = []
    for (stream, strategy), rs in groups.items():
        row = {"stream": stream, "strategy": strategy, "seeds": sorted(r["seed"] for r in rs),
               "n_experiences": rs[0].get("n_experiences")}
        for f in _FIELDS:
            vals = [r[f] for r in rs if r.get(f) is not None]
            row[f] = float(np.mean(vals)) if vals else None
            row[f + "_std"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else (0.0 if vals else None)
        rows.append(row)
    for row in rows:
        naive = [r for r in rows if r["stream"] == row["stream"] and r["strategy"] == "naive"]
        row["wall_time_ratio_to_naive"] = (row["wall_time_s"] / naive[0]["wall_time_s"]
                                           if naive and naive[0]["wall_time_s"] else None)
    order = {"naive": 0, "cumulative": 99, "joint": 100}
    rows.sort(key=lambda r: (r["stream"], order.get(r["strategy"], 50), r["strategy"]))
    return rows


def _pm(mean, std, fmt="{:.3f}") -> str:
    if mean is None:
        return "-"
    return fmt.format(mean) + (" ± " + fmt.format(std) if std else "")


def markdown_table(rows: Sequence[dict]) -> str:
    """The rows of :func:`aggregate` as a markdown table."""
    lines = ["| stream | strategy | seeds | final avg acc | avg forgetting | BWT | stored real | wall s | "
             "x Naive |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = "-" if r["wall_time_ratio_to_naive"] is None else f"{r['wall_time_ratio_to_naive']:.2f}"
        lines.append(f"| {r['stream']} | {r['strategy']} | {len(r['seeds'])} | "
                     f"{_pm(r['final_average_accuracy'], r['final_average_accuracy_std'])} | "
                     f"{_pm(r['average_forgetting'], r['average_forgetting_std'])} | "
                     f"{_pm(r['bwt'], r['bwt_std'])} | "
                     f"{_pm(r['stored_real_samples'], r['stored_real_samples_std'], '{:.0f}')} | "
                     f"{_pm(r['wall_time_s'], r['wall_time_s_std'], '{:.1f}')} | {ratio} |")
    return "\n".join(lines)


def write_report(runs: Sequence[dict], out: os.PathLike, title: str = "selfrefresh results",
                 command: Optional[str] = None) -> dict:
    """``report.json``, ``report.md`` and the forgetting-curve PNGs of ``runs`` in ``out``."""
    from .plots import plot_forgetting_curves, plot_stream_average
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = aggregate(runs)
    table = markdown_table(rows)
    figures = []
    for stream in sorted({r["stream"] for r in runs}):
        rs = [r for r in runs if r["stream"] == stream]
        figures.append(plot_forgetting_curves(rs, out / f"forgetting_{stream}.png"))
        figures.append(plot_stream_average(rs, out / f"average_{stream}.png"))
    md = [f"# {title}", ""]
    if command:
        md += ["Made with:", "", "```", command, "```", ""]
    md += [table, "", "Final avg acc: accuracy on each experience's test set after the last experience, "
           "averaged over experiences (not pooled). Forgetting: max earlier accuracy minus final, averaged "
           "over all but the last experience. BWT: final minus just-learned accuracy, same average.", ""]
    md += [f"![{Path(f).stem}]({Path(f).name})" for f in figures]
    (out / "report.md").write_text("\n".join(md) + "\n")
    report = {"title": title, "command": command, "table": rows, "runs": list(runs)}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return report
