"""Where a results file came from: commit, date, machine and command, in one place.

Every script that writes to ``benchmarks/results/`` heads its file with :func:`header` (and puts
:func:`machine` into its JSON), so that each figure of the README names the commit, the date, the
machine (cores, device, torch version) and the command that made it.
"""
from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]


def commit() -> Optional[str]:
    """The short commit (``+dirty`` when code differs from it: results and docs aside), else None."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        # the results and the pages they are spliced into change while the figures are regenerated
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":!benchmarks/results", ":!README.md", ":!docs"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (sha + ("+dirty" if dirty else "")) if sha else None


def machine(device: str = "cpu") -> dict:
    """Commit, UTC date, cores, platform, Python and torch versions, and the device used."""
    import torch
    dev = str(device)
    if dev.startswith("cuda") and torch.cuda.is_available():
        dev = f"{dev} ({torch.cuda.get_device_name(torch.device(dev))})"
    return {"commit": commit(), "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "torch": torch.__version__, "device": dev}


def command(script: str, argv: Optional[Sequence[str]] = None, prefix: str = "") -> str:
    """The command line that ran ``script`` (``argv``: its arguments; None: ``sys.argv[1:]``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    return (prefix + " " if prefix else "") + "python " + script + "".join(" " + shlex.quote(a) for a in args)


def header(cmd: str, device: str = "cpu", extra: str = "", m: Optional[dict] = None) -> str:
    """Two markdown lines: the command, then commit, date, cores, device, torch (and ``extra``)."""
    m = m or machine(device)
    line = (f"commit {m['commit']}, {m['date']}, {m['cores']} cores ({platform.machine()}), device {m['device']}, "
            f"torch {m['torch']}, Python {m['python']}")
    return f"Command: `{cmd}`  \n{line}{'; ' + extra if extra else ''}\n"


def write_results(out, markdown: str, payload: dict) -> None:
    """Write ``<out>.md`` (``markdown``) and ``<out>.json`` (``payload``, indented), making the folder."""
    import json
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(markdown)
    out.with_suffix(".json").write_text(json.dumps(payload, indent=1))
