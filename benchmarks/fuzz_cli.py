"""Malformed command lines thrown at ``selfrefresh``: how many distinct ones, of which classes.

    .venv/bin/python benchmarks/fuzz_cli.py                # 1000 examples (about 2 minutes)
    .venv/bin/python benchmarks/fuzz_cli.py --examples 200

Runs the property of ``tests/test_cli_fuzz.py`` (exit status 2 or 1, one line on stderr, no
traceback, no earlier result changed) and writes ``benchmarks/results/fuzz_cli.md``.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _provenance import command as _command, header  # noqa: E402


def _property_module():
    spec = importlib.util.spec_from_file_location("test_cli_fuzz", ROOT / "tests" / "test_cli_fuzz.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", type=int, default=1000)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "fuzz_cli.md"))
    args = p.parse_args(argv)
    from hypothesis import HealthCheck, given, settings

    from selfrefresh.runs import set_threads
    from selfrefresh.runs.io import write_text
    set_threads()
    mod = _property_module()
    failures = []

    @settings(max_examples=args.examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(mod._cases())
    def run(case):
        try:
            mod.check(case)
        except AssertionError as err:
            failures.append(str(err)[:300])
            raise

    t0 = time.perf_counter()
    run()
    elapsed = time.perf_counter() - t0
    counts = mod.counts()
    lines = ["# Malformed command lines", "",
             header(_command("benchmarks/fuzz_cli.py", argv), extra=f"{elapsed:.0f} s"),
             "Property (`tests/test_cli_fuzz.py`): exit status 2 (or 1), exactly one line on stderr starting "
             "`selfrefresh: error:`, no traceback, an earlier `summary.json` and an existing file unchanged.", "",
             f"**{sum(counts.values())} distinct malformed command lines, {len(failures)} failures.**", "",
             "| class of input | distinct command lines |", "|---|---|"]
    lines += [f"| {kind} | {n} |" for kind, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    write_text(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))
    return {"counts": dict(counts), "failures": failures}


if __name__ == "__main__":
    os.environ.setdefault("MPLBACKEND", "Agg")
    main()
