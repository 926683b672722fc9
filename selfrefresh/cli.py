"""The ``selfrefresh`` command: run, demo, compare, analyse.

    selfrefresh run --stream japanese-vowels --strategy selfrefresh naive --seeds 0 1 2
    selfrefresh demo --out results/demo
    selfrefresh compare results/a results/b --out results/ab
    selfrefresh analyse results/demo/speech/selfrefresh/seed0

Problems a user can fix (wrong names or values, missing data, an output folder that cannot be
written or already holds the run) end with one line on stderr and exit status 2;
``SELFREFRESH_DEBUG=1`` shows the traceback instead. Runs use one CPU thread unless ``--threads``
says otherwise (see :mod:`selfrefresh.runs.threads`).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

__all__ = ["main", "build_parser", "DEMO"]

# The demo: SelfRefresh vs Naive vs Cumulative on a small synthetic speech stream
# (its wall time: benchmarks/results/threads.md; what it writes: docs/cli.md).
DEMO = {"stream": "speech", "size": "small", "strategies": ("naive", "selfrefresh", "cumulative"),
        "seeds": (0,), "epochs": 25, "cell": "gru", "hidden_size": 64, "lr": 2e-3, "fallback_stream": "japanese-vowels"}


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (``selfrefresh: error: ...``, exit status 2)."""

    def error(self, message):
        self.exit(2, f"selfrefresh: error: {' '.join(message.split())}\n")


def _key_value(text: str):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    if not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _int_at_least(low: int, what: str):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {v}")
        return v
    return parse


_positive_int = _int_at_least(1, "a positive integer")
_seed = _int_at_least(0, "a non-negative integer")


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (v > 0 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return v


def _run_options(p: argparse.ArgumentParser, out: str) -> None:
    """The options shared by ``run`` and ``demo``: where results go and how the runs are shown."""
    from .runs.config import LOGGERS
    p.add_argument("--out", default=out, help=f"output folder (default {out})")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue runs from their last finished experience")
    again.add_argument("--overwrite", action="store_true", help="replace runs the output folder already holds")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--threads", type=_positive_int, default=None,
                   help="CPU threads for torch (default 1: faster for these small recurrent models)")
    p.add_argument("--log", nargs="+", choices=LOGGERS, default=[], metavar="LOGGER",
                   help="also log to Avalanche's " + " or ".join(LOGGERS) + " logger (in <out>/tb, <out>/wandb)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    from .streams import STREAM_NAMES
    from .models import READOUTS
    from .runs.build import CELLS
    from .strategies.registry import STRATEGY_NAMES
    p = _Parser(prog="selfrefresh", description="Continual learning of sequences with "
                "dual self-refreshing recurrent networks (Avalanche strategies).")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="train strategies on a stream, experience by experience")
    run.add_argument("--stream", required=True, metavar="NAME",
                     help="one of: " + ", ".join(STREAM_NAMES) + " (- or _)")
    run.add_argument("--strategy", required=True, nargs="+", metavar="NAME",
                     help="one or more of: " + ", ".join(STRATEGY_NAMES))
    run.add_argument("--cell", default="gru", choices=CELLS, help="recurrent cell (default gru)")
    run.add_argument("--seeds", type=_seed, nargs="+", default=[0])
    run.add_argument("--epochs", type=_positive_int, default=30, help="epochs per experience (default 30)")
    run.add_argument("--hidden", type=_positive_int, default=64, help="recurrent units (default 64)")
    run.add_argument("--readout", choices=READOUTS, default="mean",
                     help="what the class head reads: the mean of the outputs over the steps (default) or the "
                          "last step (the papers')")
    run.add_argument("--batch-size", type=_positive_int, default=32)
    run.add_argument("--lr", type=_positive_float, default=2e-3, help="Adam learning rate (default 2e-3)")
    run.add_argument("--size", choices=("full", "small"), default="full",
                     help="stream size: the stream's defaults, or a reduced one for quick checks")
    run.add_argument("--stream-arg", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                     help="argument of the stream function (JSON value), e.g. n_experiences=5")
    run.add_argument("--option", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                     help="strategy hyper-parameter (JSON value), e.g. mem_size=500")
    _run_options(run, "results")

    demo = sub.add_parser("demo", help="SelfRefresh vs Naive vs Cumulative on a small synthetic speech stream")
    _run_options(demo, "results/demo")

    cmp_ = sub.add_parser("compare", help="merge results into one table and one plot per stream")
    cmp_.add_argument("results", nargs="+", help="run folders or result JSON files")
    cmp_.add_argument("--out", default="results/compare")

    an = sub.add_parser("analyse", help="what a trained network learned (units, gates, memory)")
    an.add_argument("path", help="a run folder (with model.pt) or a checkpoint")
    an.add_argument("--out", default=None, help="output folder (default: next to the input)")
    an.add_argument("--threads", type=_positive_int, default=None, help="CPU threads for torch (default 1)")
    return p


def _unique(values: Sequence, option: str) -> list:
    """``values`` without repeats (a note names what was given twice: each run is trained once)."""
    kept = list(dict.fromkeys(values))
    if len(kept) < len(values):
        twice = sorted({str(v) for v in values if values.count(v) > 1})
        print(f"note: {option} {' '.join(twice)} given more than once; each run is trained once")
    return kept


def _run_many(stream, strategies, seeds, *, out, resume=False, overwrite=False, cell="gru", epochs=30,
              hidden=64, readout="mean", batch_size=32, lr=2e-3, device="auto", size="full", stream_kwargs=None,
              options=None, log=(), quiet=False, command=None):
    from .runs import (ExperimentError, RunConfig, aggregate, canonical_stream, check_run_dir, collect_summaries,
                       load_stream, markdown_table, options_for, resolve_device, run_experiment, write_report)
    from .runs.io import writable_folder
    from .strategies.registry import unregistered
    strategies, seeds = _unique(strategies, "--strategy"), _unique(seeds, "--seeds")
    for s in strategies:
        if problem := unregistered(s):
            raise ExperimentError(problem)
    own_options = options_for(strategies, dict(options or {}))
    if log:
        from .runs.evaluation import check_loggers
        check_loggers(log)
    resolve_device(device)  # fail early on impossible settings
    stream = canonical_stream(stream)
    load_stream(stream, size, stream_kwargs, progress=not quiet)
    writable_folder(out)
    configs = [RunConfig(stream=stream, strategy=strategy, seed=seed, cell=cell, hidden_size=hidden,
                         readout=readout, epochs=epochs, batch_size=batch_size, lr=lr, device=device, size=size,
                         stream_kwargs=dict(stream_kwargs or {}), strategy_options=own_options[strategy],
                         progress=not quiet, log=tuple(log))
               for strategy in strategies for seed in seeds]
    for cfg in configs:  # refuse before training anything
        check_run_dir(out, cfg, resume=resume, overwrite=overwrite)
    summaries = []
    for cfg in configs:
        t0 = time.perf_counter()
        s = run_experiment(cfg, out, resume=resume, overwrite=overwrite)
        summaries.append(s)
        print(f"{stream} {cfg.strategy} seed {cfg.seed}: final avg acc {s['final_average_accuracy']:.3f}"
              f" ({time.perf_counter() - t0:.0f} s)", flush=True)
    print()
    print(markdown_table(aggregate(summaries)))
    report = write_report(collect_summaries([out]), out, command=command)
    print(f"\nresults: {out}/report.md (table), {out}/forgetting_*.png, {out}/average_*.png; "
          f"{len(report['runs'])} runs under {out}")
    return summaries


def _command_line(args) -> str:
    return "selfrefresh " + " ".join(shlex.quote(a) for a in args.argv)


def _cmd_run(args):
    return _run_many(args.stream, args.strategy, args.seeds, out=args.out, resume=args.resume,
                     overwrite=args.overwrite, cell=args.cell, epochs=args.epochs, hidden=args.hidden,
                     readout=args.readout, batch_size=args.batch_size, lr=args.lr, device=args.device, size=args.size,
                     stream_kwargs=dict(args.stream_arg), options=dict(args.option), log=args.log,
                     quiet=args.quiet, command=_command_line(args))


def _cmd_demo(args):
    from .runs import ExperimentError, load_stream
    stream = DEMO["stream"]
    try:
        load_stream(stream, DEMO["size"], progress=not args.quiet)
    except ExperimentError as err:
        stream = DEMO["fallback_stream"]
        print(f"note: the synthetic speech stream is not available ({err}); using {stream} instead")
    return _run_many(stream, DEMO["strategies"], DEMO["seeds"], out=args.out, resume=args.resume,
                     overwrite=args.overwrite, epochs=DEMO["epochs"], cell=DEMO["cell"], hidden=DEMO["hidden_size"],
                     lr=DEMO["lr"], device=args.device, size=DEMO["size"], log=args.log, quiet=args.quiet,
                     command=_command_line(args))


def _cmd_compare(args):
    from .runs import aggregate, collect_summaries, markdown_table, write_report
    from .runs.io import writable_folder
    runs = collect_summaries(args.results)
    writable_folder(args.out)
    write_report(runs, args.out, title="selfrefresh comparison", command=_command_line(args))
    print(markdown_table(aggregate(runs)))
    print(f"\nmerged {len(runs)} runs into {args.out}/report.md and {args.out}/*.png")
    return runs


def _cmd_analyse(args):
    from .runs import ExperimentError
    from .runs.io import writable_folder
    path = Path(args.path)
    if not path.exists():
        raise ExperimentError(f"{path} does not exist; give a run folder (with model.pt) or a checkpoint")
    if path.is_dir() and not (path / "model.pt").exists():
        found = sorted(path.rglob("model.pt"))
        hint = f" (found {len(found)} below it, e.g. {found[0].parent})" if found else ""
        raise ExperimentError(f"{path} holds no model.pt{hint}; give one run folder")
    try:
        from .analysis.cli import analyse_command
    except ImportError as err:
        raise ExperimentError(f"the analysis tools are not available in this installation ({err})") from None
    out = args.out or str((path if path.is_dir() else path.parent) / "analysis")
    writable_folder(out)
    result = analyse_command(str(path), out)
    print(f"analysis written to {out}")
    return result


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``selfrefresh`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from .runs import ExperimentError, set_threads
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    commands = {"run": _cmd_run, "demo": _cmd_demo, "compare": _cmd_compare, "analyse": _cmd_analyse}
    try:
        set_threads(getattr(args, "threads", None))
        commands[args.command](args)
    except KeyboardInterrupt:
        print("\nselfrefresh: interrupted; rerun the same command with --resume to continue", file=sys.stderr)
        return 130
    except (ExperimentError, OSError, ValueError, RuntimeError, ImportError) as err:
        if os.environ.get("SELFREFRESH_DEBUG"):
            raise
        msg = " ".join(str(err).split()) or type(err).__name__
        print(f"selfrefresh: error: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
