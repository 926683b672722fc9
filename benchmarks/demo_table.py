"""The README's demo table: runs ``selfrefresh demo`` (SelfRefresh vs Naive vs Cumulative on the
small synthetic speech stream, GRU 64, seed 0) into a folder and copies its report's table, with
the command, commit, date and machine, to ``benchmarks/results/demo.md``.

    python benchmarks/demo_table.py                        # about 2 min on one thread
    python benchmarks/demo_table.py --out /tmp/demo.md --workdir /tmp/demo_run
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _provenance import command as _command, header  # noqa: E402


def main(argv=None) -> Path:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "demo.md"))
    p.add_argument("--workdir", default=None, help="where the demo's run folders go (default: a temporary folder)")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    from selfrefresh.cli import main as cli
    from selfrefresh.cli import DEMO
    work = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix="selfrefresh_demo_"))
    t = time.perf_counter()
    rc = cli(["demo", "--out", str(work), "--overwrite", "--quiet", "--threads", str(a.threads)])
    if rc:
        raise SystemExit(f"selfrefresh demo failed (exit {rc})")
    report = (work / "report.md").read_text(encoding="utf-8")
    table = [line for line in report.splitlines() if line.startswith("|")]
    if not table:
        raise SystemExit(f"no table in {work / 'report.md'}")
    text = (header(_command("benchmarks/demo_table.py", argv),
                   extra=f"{a.threads} thread(s), {time.perf_counter() - t:.0f} s") + "\n\n"
            + f"### `selfrefresh demo`: {DEMO['stream']} ({DEMO['size']}), {DEMO['cell'].upper()} "
              f"{DEMO['hidden_size']}, {DEMO['epochs']} epochs per experience, seeds {DEMO['seeds']}\n\n"
            + "\n".join(table) + "\n")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    from selfrefresh._files import write_text
    write_text(out, text)
    if not a.workdir:
        shutil.rmtree(work, ignore_errors=True)
    print(text)
    return out


if __name__ == "__main__":
    main()
