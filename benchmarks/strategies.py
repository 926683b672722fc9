"""Strategies x streams x seeds: final accuracy, forgetting, BWT, memory and time of every strategy.

    .venv/bin/python benchmarks/strategies.py                    # CPU defaults (2 cores, about an hour)
    .venv/bin/python benchmarks/strategies.py --workers 2        # two local processes
    .venv/bin/python benchmarks/strategies.py --full --device cuda   # the GPU sizes
    .venv/bin/python benchmarks/strategies.py --ray auto         # on a Ray cluster (pip install -e ".[ray]")

Writes ``<out>/<stream>.json`` (every run's summary, the aggregated table, the command) and
``<out>/<stream>.md`` (markdown table: mean ± std over seeds of the final accuracy averaged over
experiences, average forgetting, BWT, stored real samples, wall time and its ratio to Naive in
the same invocation). Runs go to ``<out>/runs/`` (``--resume`` continues them, ``--overwrite`` replaces
them; without either a rerun reports the runs already there as failed). With several
workers the runs share the cores: wall-time ratios are comparable only within one invocation.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_STREAMS = ("speech", "japanese-vowels")
# selfrefresh-gan trains a recurrent GAN after every experience (about 40 s per experience even on a
# 16-sequence stream on CPU): it is in the --full grid, or ask for it with --strategies.
DEFAULT_STRATEGIES = ("naive", "cumulative", "joint", "ewc", "si", "lwf", "replay", "gem", "agem",
                      "generative-replay", "selfrefresh")
FULL_STRATEGIES = DEFAULT_STRATEGIES + ("selfrefresh-gan",)
# CPU defaults (size "small" streams) and the GPU sizes (--full: the streams' own defaults).
SIZES = {"cpu": {"size": "small", "epochs": 25, "hidden_size": 64},
         "full": {"size": "full", "epochs": 50, "hidden_size": 128}}


def _execute(cells, workers: int, ray_address):
    from selfrefresh.runs import run_cell  # importable by worker processes
    if ray_address:
        try:
            import ray
        except ImportError:
            raise SystemExit("--ray needs Ray: pip install -e '.[ray]'") from None
        ray.init(address=None if ray_address == "local" else ray_address,
                 num_cpus=workers if ray_address == "local" else None, ignore_reinit_error=True,
                 runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}},
                 log_to_driver=False)
        remote = ray.remote(num_cpus=1)(run_cell)
        refs = [remote.remote(c) for c in cells]
        return [ray.get(r) for r in refs]
    if workers <= 1:
        return [run_cell(c) for c in cells]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        return list(pool.map(run_cell, cells))


def main(argv=None) -> dict:
    from selfrefresh.cli import _key_value
    from selfrefresh.runs import aggregate, markdown_table
    from selfrefresh.runs.io import write_json, write_text
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--streams", nargs="+", default=list(DEFAULT_STREAMS))
    p.add_argument("--strategies", nargs="+", default=None,
                   help="default: all but selfrefresh-gan on CPU sizes, all with --full")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--full", action="store_true", help="the streams' full sizes and GPU-sized training")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--hidden", type=int, default=None)
    p.add_argument("--cell", default="gru")
    p.add_argument("--device", default="cpu")
    p.add_argument("--stream-arg", type=_key_value, action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--workers", type=int, default=1, help="local processes (default 1)")
    p.add_argument("--ray", default=None, metavar="ADDRESS", help="Ray cluster address ('local': start one)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the runs under <out>/runs")
    again.add_argument("--overwrite", action="store_true", help="replace the runs under <out>/runs")
    p.add_argument("--threads", type=int, default=None, help="torch threads per run (default: the library's, 1)")
    args = p.parse_args(argv)
    size = SIZES["full" if args.full else "cpu"]
    if args.strategies is None:
        args.strategies = list(FULL_STRATEGIES if args.full else DEFAULT_STRATEGIES)
    epochs = args.epochs or size["epochs"]
    hidden = args.hidden or size["hidden_size"]
    out = Path(args.out)
    cells = [{"config": dict(stream=stream, strategy=strategy, seed=seed, cell=args.cell, hidden_size=hidden,
                             epochs=epochs, device=args.device, size=size["size"],
                             stream_kwargs=dict(args.stream_arg), progress=False),
              "out": str(out / "runs"), "resume": args.resume, "overwrite": args.overwrite,
              "threads": args.threads}
             for stream in args.streams for strategy in args.strategies for seed in args.seeds]
    command = "python benchmarks/strategies.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    print(f"{len(cells)} runs ({len(args.streams)} streams x {len(args.strategies)} strategies x "
          f"{len(args.seeds)} seeds), {args.workers if not args.ray else 'ray'} worker(s)", flush=True)
    t0 = time.perf_counter()
    results = _execute(cells, args.workers, args.ray)
    elapsed = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=True)
    report = {}
    for stream in args.streams:
        runs = [r["summary"] for r in results if r["ok"] and r["summary"]["stream"] == stream]
        failed = [r for r in results if not r["ok"] and r["stream"] == stream]
        rows = aggregate(runs) if runs else []
        table = markdown_table(rows) if rows else "(no finished runs)"
        data = {"stream": stream, "command": command, "settings": {"epochs": epochs, "hidden_size": hidden,
                "cell": args.cell, "size": size["size"], "device": args.device, "workers": args.workers,
                "threads": args.threads,
                "seeds": args.seeds}, "elapsed_s": elapsed, "table": rows, "runs": runs, "failed": failed}
        write_json(out / f"{stream}.json", data)
        md = [f"# {stream}", "", "```", command, "```", "", table]
        md += [f"\nfailed: {f['strategy']} seed {f['seed']}: {f['error']}" for f in failed]
        write_text(out / f"{stream}.md", "\n".join(md) + "\n")
        print(f"\n## {stream}\n{table}")
        for f in failed:
            print(f"failed: {f['strategy']} seed {f['seed']}: {f['error']}")
        report[stream] = data
    print(f"\n{elapsed:.0f} s; results in {out}/<stream>.json and .md")
    return report


if __name__ == "__main__":
    os.environ.setdefault("MPLBACKEND", "Agg")
    main()
