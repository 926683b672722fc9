"""Wall time of the CLI's commands with 1 thread vs all cores, side by side.

    .venv/bin/python benchmarks/threads.py                 # the demo and a small run, 1 and all cores
    .venv/bin/python benchmarks/threads.py --threads 1 2 4 --skip-demo
    .venv/bin/python benchmarks/threads.py --threads 1 --skip-demo --epochs 1 --out /tmp/t.md   # a pipeline check

Each command runs in a fresh interpreter (``--threads N``; OMP/MKL variables removed so that only
``--threads`` decides) into a temporary folder. Writes ``benchmarks/results/threads.md`` with the
date, cores, torch version, load average and the commands. The default thread count lives in
``selfrefresh/runs/threads.py``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _provenance import command as _command, header  # noqa: E402

COMMANDS = {
    "demo": ["demo", "--quiet"],
    "small run": ["run", "--stream", "japanese-vowels", "--strategy", "naive", "selfrefresh", "--epochs", "5",
                  "--quiet"],
}


def _time(argv, threads: int, limit: float) -> float:
    """Seconds the command took (``inf`` past ``limit``)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "selfrefresh.cli", *argv, "--threads", str(threads), "--out", out]
        t0 = time.perf_counter()
        try:
            subprocess.run(cmd, cwd=ROOT, env=env, check=True, timeout=limit, stdout=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return float("inf")
        return time.perf_counter() - t0


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, nargs="+", default=sorted({1, os.cpu_count() or 1}))
    p.add_argument("--skip-demo", action="store_true")
    p.add_argument("--epochs", type=int, default=5, help="epochs per experience of the small run (default 5)")
    p.add_argument("--limit", type=float, default=900, help="seconds before a command counts as '> limit'")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "threads.md"))
    args = p.parse_args(argv)
    from selfrefresh.runs.io import write_text
    if args.epochs < 1:
        p.error("--epochs must be >= 1")
    commands = dict(COMMANDS)
    small = commands["small run"]
    commands["small run"] = small[:small.index("--epochs") + 1] + [str(args.epochs)] + small[small.index("--epochs") + 2:]
    names = [n for n in commands if not (args.skip_demo and n == "demo")]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    times = {}
    for name in names:
        for n in args.threads:
            times[name, n] = _time(commands[name], n, args.limit)
            print(f"{name}, {n} thread(s): {times[name, n]:.1f} s", flush=True)
    fmt = lambda s: f"> {args.limit:.0f}" if s == float("inf") else f"{s:.1f}"  # noqa: E731
    lines = ["# Threads: wall time (s) of the CLI's commands", "",
             header(_command("benchmarks/threads.py", argv),
                    extra=f"1-minute load average {load:.1f} at the start (other processes share the cores)"),
             "| command | " + " | ".join(f"{n} thread{'s' * (n > 1)}" for n in args.threads) + " |",
             "|---|" + "---|" * len(args.threads)]
    for name in names:
        cmd = "selfrefresh " + " ".join(commands[name]) + " --threads N --out TMP"
        lines.append(f"| `{cmd}` | " + " | ".join(fmt(times[name, n]) for n in args.threads) + " |")
    write_text(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))
    return times


if __name__ == "__main__":
    main()
