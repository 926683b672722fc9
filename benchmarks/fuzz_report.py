"""Run the fuzz suite (tests/test_fuzz.py) and write its counts to benchmarks/results/fuzz_api.md.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fuzz_report.py [--out benchmarks/results/fuzz_api.md]
    .venv/bin/python benchmarks/fuzz_report.py --scale 0.05 --out /tmp/fuzz_api.md   # a pipeline check

Every distinct malformed input the suite tried is counted per class of input, with what the library
did: the expected clear error (ValueError / TypeError / FileNotFoundError / CorruptFileError with a
one-line message naming the problem, never a hint to unpickle), an unexpected exception type, a vague
message, an accepted malformed input, or a NaN result. Extreme but legal inputs (huge finite values)
are counted apart: they must give a finite result or a clear error. Exit status 1 unless every
malformed input got the clear error, none leaked NaN, and there were at least 300 of them (300 x
``--scale``, which scales every class's examples).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _provenance import command as _command, header  # noqa: E402

LEGAL = "(legal;"  # marks the categories of extreme but legal inputs
TARGET = 300


def run_suite(log: Path, scale: float = 1.0) -> tuple:
    """(pytest exit status, its last output line, wall seconds)."""
    env = dict(os.environ, SELFREFRESH_FUZZ_LOG=str(log), SELFREFRESH_FUZZ_SCALE=str(scale))
    env.setdefault("OMP_NUM_THREADS", "1")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_fuzz.py"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
    return proc.returncode, (lines[-1] if lines else proc.stderr.strip()[-200:]), wall


def summarise(log: dict) -> dict:
    rows, malformed, clear, finite, bad, nan = [], 0, 0, 0, 0, 0
    for category in sorted(log):
        outcomes = Counter(log[category].values())
        legal = LEGAL in category
        n = sum(outcomes.values())
        ok = outcomes["clear error"] + (outcomes["finite result"] if legal else 0)
        nan += outcomes["NaN result"]
        if legal:
            finite += n
        else:
            malformed += n
            clear += outcomes["clear error"]
        bad += n - ok
        rows.append((category, n, dict(outcomes)))
    return {"rows": rows, "malformed": malformed, "clear": clear, "legal": finite, "bad": bad, "nan": nan}


def markdown(s: dict, status: str, wall: float, command: str) -> str:
    out = [
        "# Fuzzing the Python API with malformed input",
        "",
        header(command, extra=f"pytest: {status}, {wall:.0f} s wall on one thread; examples are derandomised, "
               "so the counts repeat").rstrip("\n"),
        "",
        f"**{s['malformed']} distinct malformed inputs, {s['clear']} of them ({s['clear'] / max(s['malformed'], 1):.0%}) "
        f"answered with the expected clear exception; {s['bad']} unexpected exception types, vague messages or "
        f"accepted inputs; {s['nan']} NaN results.** Plus {s['legal']} extreme but legal inputs (huge finite values), "
        "each giving a finite result or a clear error.",
        "",
        "A clear exception is a ValueError, TypeError, FileNotFoundError or CorruptFileError (a ValueError) whose "
        "one-line message names the problem (the argument, the file), never suggests an unsafe load, and leaves "
        "the files already in the folder unchanged (checked by hashing them before and after).",
        "",
        "| class of input | distinct inputs | outcomes |",
        "|---|---|---|",
    ]
    for category, n, outcomes in s["rows"]:
        text = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
        out.append(f"| {category} | {n} | {text} |")
    out += ["", "What each class throws:", "",
            "* tensors (AutoHeteroRNN forward/run/reconstruct/features/step, selfrefresh.nn layers and cells): "
            "wrong rank, wrong feature count, zero time steps, integer/bool/complex/float64/float16/bfloat16 "
            "dtypes, NaN/+inf/-inf at a random position, lists, arrays, strings, None; malformed recurrent "
            "states and contexts; `grow` with floats, strings, None, bools, lists, ints < 1 or shrinking;",
            "* generators: `sample(n)` with floats, NaN, strings, None, bools, ints <= 0; seed buffers of the wrong "
            "rank or feature count, empty, NaN/inf, strings, dicts, ragged lists;",
            "* losses: temperatures <= 0, NaN, inf or strings; NaN/inf logits; logits of the wrong rank; float, "
            "negative, 2-D labels; labels outside the current classes; a teacher mask with no known class; soft "
            "targets of the wrong shape; labels beyond the class head in training;",
            "* streams: `class_incremental_stream` with NaN/inf in train or test data, wrong rank, label count "
            "mismatch, float/negative/non-contiguous/string labels, unknown test labels, ragged sequences, "
            "uneven splits; a UEA `.npz` of random bytes, truncated, empty, with object arrays, a missing array, "
            "a bare `.npy`, bad lengths, NaN inside valid steps, wrong rank, unknown test labels; an FSDD folder "
            "with one corrupt WAV (random bytes, zeros, text, header or data truncated, RIFF/WAVE header over "
            "garbage, empty);",
            "* files: `model.pt` of random bytes, truncated or empty through `load_checkpoint`, `analyse_command` "
            "and `load_torch_file`; `summary.json` of random bytes, truncated or empty through `load_json`; random "
            "bytes to the `.npz` and audio readers.",
            ""]
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "fuzz_api.md"))
    ap.add_argument("--scale", type=float, default=1.0,
                    help="fraction of each class's examples (default 1; < 1 only checks the pipeline)")
    args = ap.parse_args(argv)
    if not 0 < args.scale <= 1:
        ap.error("--scale must be in (0, 1]")
    with tempfile.TemporaryDirectory() as d:
        log_path = Path(d) / "fuzz.json"
        rc, status, wall = run_suite(log_path, args.scale)
        if not log_path.is_file():
            print(f"the fuzz suite wrote no log (pytest: {status})", file=sys.stderr)
            return 1
        s = summarise(json.loads(log_path.read_text()))
    command = _command("benchmarks/fuzz_report.py", argv, prefix="OMP_NUM_THREADS=1")
    text = markdown(s, status, wall, command)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, out)
    print(text)
    good = rc == 0 and s["bad"] == 0 and s["nan"] == 0 and s["malformed"] >= TARGET * args.scale
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
