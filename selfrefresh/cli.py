"""The ``selfrefresh`` command: run, demo, compare, analyse.

    selfrefresh run --stream japanese-vowels --strategy selfrefresh naive --seeds 0 1 2
    selfrefresh demo --out results/demo
    selfrefresh compare results/a results/b --out results/ab
    selfrefresh analyse results/demo/speech/selfrefresh/seed0

Problems a user can fix (wrong names, missing data, impossible settings) end with one line on
stderr and exit status 2; ``SELFREFRESH_DEBUG=1`` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

__all__ = ["main", "build_parser", "DEMO"]

# The demo: SelfRefresh vs Naive vs Cumulative on a small synthetic speech stream
# (about 3 minutes on 2 CPU cores; see docs/readme/cli.md).
DEMO = {"stream": "speech", "size": "small", "strategies": ("naive", "selfrefresh", "cumulative"),
        "seeds": (0,), "epochs": 25, "cell": "gru", "hidden_size": 64, "lr": 2e-3, "fallback_stream": "japanese-vowels"}


def _key_value(text: str):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def build_parser() -> argparse.ArgumentParser:
    from .benchmarks import STREAM_NAMES
    from .strategies.baselines import STRATEGY_NAMES
    p = argparse.ArgumentParser(prog="selfrefresh", description="Continual learning of sequences with "
                                "dual self-refreshing recurrent networks (Avalanche strategies).")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="train strategies on a stream, experience by experience")
    run.add_argument("--stream", required=True, metavar="NAME", help="one of: " + ", ".join(STREAM_NAMES))
    run.add_argument("--strategy", required=True, nargs="+", metavar="NAME",
                     help="one or more of: " + ", ".join(STRATEGY_NAMES))
    run.add_argument("--cell", default="gru", help="lstm, gru, rnn or srn (default gru)")
    run.add_argument("--seeds", type=int, nargs="+", default=[0])
    run.add_argument("--epochs", type=_positive_int, default=30, help="epochs per experience (default 30)")
    run.add_argument("--hidden", type=_positive_int, default=64, help="recurrent units (default 64)")
    run.add_argument("--batch-size", type=_positive_int, default=32)
    run.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate (default 2e-3)")
    run.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    run.add_argument("--size", choices=("full", "small"), default="full",
                     help="stream size: the stream's defaults, or a reduced one for quick checks")
    run.add_argument("--stream-arg", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                     help="argument of the stream function (JSON value), e.g. n_experiences=5")
    run.add_argument("--option", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                     help="strategy hyper-parameter (JSON value), e.g. mem_size=500")
    run.add_argument("--out", default="results", help="output folder (default results)")
    run.add_argument("--resume", action="store_true", help="continue from the last finished experience")
    run.add_argument("--quiet", action="store_true", help="no progress bars")

    demo = sub.add_parser("demo", help="SelfRefresh vs Naive vs Cumulative on a small synthetic speech stream")
    demo.add_argument("--out", default="results/demo")
    demo.add_argument("--device", default="auto")
    demo.add_argument("--resume", action="store_true")
    demo.add_argument("--quiet", action="store_true")

    cmp_ = sub.add_parser("compare", help="merge results into one table and one plot per stream")
    cmp_.add_argument("results", nargs="+", help="run folders or result JSON files")
    cmp_.add_argument("--out", default="results/compare")

    an = sub.add_parser("analyse", help="what a trained network learned (units, gates, memory)")
    an.add_argument("path", help="a run folder (with model.pt) or a checkpoint")
    an.add_argument("--out", default=None, help="output folder (default: next to the input)")
    return p


def _run_many(stream, strategies, seeds, *, out, resume, cell="gru", epochs=30, hidden=64, batch_size=32,
              lr=2e-3, device="auto", size="full", stream_kwargs=None, options=None, quiet=False,
              command=None):
    from .runs import RunConfig, collect_summaries, load_stream, markdown_table, aggregate, write_report
    from .runs import run_experiment
    from .strategies.baselines import STRATEGY_NAMES
    from .runs import ExperimentError, resolve_device
    for s in strategies:
        if s not in STRATEGY_NAMES:
            raise ExperimentError(f"unknown strategy {s!r}; choose one of: {', '.join(STRATEGY_NAMES)}")
    resolve_device(device)  # fail early on impossible settings
    load_stream(stream, size, stream_kwargs, progress=not quiet)
    summaries = []
    for strategy in strategies:
        for seed in seeds:
            cfg = RunConfig(stream=stream, strategy=strategy, seed=seed, cell=cell, hidden_size=hidden,
                            epochs=epochs, batch_size=batch_size, lr=lr, device=device, size=size,
                            stream_kwargs=dict(stream_kwargs or {}), strategy_options=dict(options or {}),
                            progress=not quiet)
            t0 = time.perf_counter()
            s = run_experiment(cfg, out, resume=resume)
            summaries.append(s)
            print(f"{stream} {strategy} seed {seed}: final avg acc {s['final_average_accuracy']:.3f}"
                  f" ({time.perf_counter() - t0:.0f} s)", flush=True)
    print()
    print(markdown_table(aggregate(summaries)))
    report = write_report(collect_summaries([out]), out, command=command)
    print(f"\nresults: {out}/report.md (table), {out}/forgetting_*.png, {out}/average_*.png; "
          f"{len(report['runs'])} runs under {out}")
    return summaries


def _cmd_run(args):
    return _run_many(args.stream, args.strategy, args.seeds, out=args.out, resume=args.resume, cell=args.cell,
                     epochs=args.epochs, hidden=args.hidden, batch_size=args.batch_size, lr=args.lr,
                     device=args.device, size=args.size, stream_kwargs=dict(args.stream_arg),
                     options=dict(args.option), quiet=args.quiet,
                     command="selfrefresh " + " ".join(shlex.quote(a) for a in args.argv))


def _cmd_demo(args):
    from .runs import ExperimentError, load_stream
    stream = DEMO["stream"]
    try:
        load_stream(stream, DEMO["size"], progress=not args.quiet)
    except ExperimentError as err:
        stream = DEMO["fallback_stream"]
        print(f"note: the synthetic speech stream is not available ({err}); using {stream} instead")
    return _run_many(stream, DEMO["strategies"], DEMO["seeds"], out=args.out, resume=args.resume,
                     epochs=DEMO["epochs"], cell=DEMO["cell"], hidden=DEMO["hidden_size"], lr=DEMO["lr"], device=args.device,
                     size=DEMO["size"], quiet=args.quiet, command=f"selfrefresh demo --out {args.out}")


def _cmd_compare(args):
    from .runs import aggregate, collect_summaries, markdown_table, write_report
    runs = collect_summaries(args.results)
    write_report(runs, args.out, title="selfrefresh comparison",
                 command="selfrefresh compare " + " ".join(shlex.quote(r) for r in args.results))
    print(markdown_table(aggregate(runs)))
    print(f"\nmerged {len(runs)} runs into {args.out}/report.md and {args.out}/*.png")
    return runs


def _cmd_analyse(args):
    from .runs import ExperimentError
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
    result = analyse_command(str(path), out)
    print(f"analysis written to {out}")
    return result


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``selfrefresh`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from .runs import ExperimentError
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    commands = {"run": _cmd_run, "demo": _cmd_demo, "compare": _cmd_compare, "analyse": _cmd_analyse}
    try:
        commands[args.command](args)
    except KeyboardInterrupt:
        print("\nselfrefresh: interrupted; rerun the same command with --resume to continue", file=sys.stderr)
        return 130
    except (ExperimentError, FileNotFoundError, ValueError, RuntimeError, ImportError) as err:
        if os.environ.get("SELFREFRESH_DEBUG"):
            raise
        msg = " ".join(str(err).split()) or type(err).__name__
        print(f"selfrefresh: error: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
