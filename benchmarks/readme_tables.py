"""Regenerate every figure of the README (and of the docs pages that include results), then splice them in.

    .venv/bin/python benchmarks/readme_tables.py            # run every script below, then --insert (hours)
    .venv/bin/python benchmarks/readme_tables.py --insert   # only splice the current results files in
    .venv/bin/python benchmarks/readme_tables.py --quick    # each script at a tiny size into a temporary
                                                            # folder: checks the pipeline (~2 min), no file changed
    .venv/bin/python benchmarks/readme_tables.py --only threads speed   # some scripts, then --insert
    .venv/bin/python benchmarks/readme_tables.py --list     # the commands, in order

``make results`` runs the first, ``make results-quick`` the third. Each script writes its results
file to ``benchmarks/results/`` headed by the command, commit, date and machine (cores, device,
torch version; ``benchmarks/_provenance.py``). Splicing replaces what lies between
``<!-- table: NAME -->`` and ``<!-- /table -->`` in ``README.md`` and ``docs/*.md`` with the part
of the results file that NAME selects (see :data:`BLOCKS`); a results file not made yet leaves the
word "pending" and the command that makes it. ``tests/test_readme.py`` checks that every number
between the markers and in the README's tables appears in a results file.
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MARKER = re.compile(r"(<!-- table: ([\w-]+) -->\n)(.*?)(<!-- /table -->)", re.S)


@dataclass(frozen=True)
class Script:
    """One script that makes a results file: its arguments at full size and at a tiny (--quick) size.

    ``{out}`` in ``quick`` is the results file's path without its suffix, in a temporary folder.
    """
    name: str
    script: str
    full: Sequence[str]
    quick: Sequence[str]
    result: str  # file name in benchmarks/results/
    threads: int = 1  # OMP_NUM_THREADS of the full-size run (tiny runs use 1)
    minutes: str = ""  # rough full-size wall time, for --list


#: the default of the morning of 2026-12-03 (one pseudo-sequence per real one, the pseudo losses at weight 1,
#: the separated softmax on real data), as a speed row
ONE_PSEUDO_PER_REAL = ('selfrefresh-one-per-real=selfrefresh:{"real_loss": "current", "pseudo_ratio": 1.0, '
                       '"distill_weight": 1.0, "auto_weight": 1.0, "feature_weight": 1.0}')
# In the order they run.
SCRIPTS: List[Script] = [
    Script("real_audio", "benchmarks/real_audio.py", [],
           ["--streams", "japanese-vowels", "--models", "gru:8", "--epochs", "2", "--rows", "naive", "selfrefresh",
            "--seeds", "0", "--workers", "1", "--out", "{out}"],
           "real_audio.md", minutes="about 60 on 2 cores"),
    Script("demo", "benchmarks/demo_table.py", [], ["--out", "{out}.md"], "demo.md", threads=1, minutes="2"),
    Script("fuzz_api", "benchmarks/fuzz_report.py", [], ["--scale", "0.03", "--out", "{out}.md"], "fuzz_api.md",
           minutes="1"),
    Script("fuzz_cli", "benchmarks/fuzz_cli.py", ["--examples", "1000"], ["--examples", "15", "--out", "{out}.md"],
           "fuzz_cli.md", minutes="2"),
    Script("threads", "benchmarks/threads.py", ["--limit", "600"],
           ["--threads", "1", "--skip-demo", "--epochs", "1", "--out", "{out}.md"], "threads.md", minutes="10"),
    Script("speed", "benchmarks/speed.py",
           ["--parts", "train", "--stream", "fsdd", "--cell", "lstm", "--hidden", "128", "--epochs", "8", "25",
            "--strategies", "naive", "replay", "selfrefresh",
            "--variant", ONE_PSEUDO_PER_REAL,
            "--variant", 'selfrefresh-whole-inversion=selfrefresh:{"invert_tail": 1.0}',
            "--variant", 'selfrefresh-no-inversion=selfrefresh:{"invert_steps": 0}',
            "--variant", 'selfrefresh-no-warmup=selfrefresh:{"warmup_steps": 0}',
            "--variant", 'selfrefresh-whole-gradient=selfrefresh:{"pseudo_grad_tail": 1.0}'],
           ["--parts", "train", "layers", "generate", "--stream", "japanese-vowels", "--strategies", "naive",
            "selfrefresh", "--epochs", "1", "--repeat", "1", "--hidden", "8", "--out", "{out}.md"],
           "speed.md", threads=1, minutes="8"),
    # the same at the size of the whole FSDD corpus (5 jittered copies of each recording, minibatch 64)
    Script("speed_full_size", "benchmarks/speed.py",
           ["--parts", "train", "--stream", "fsdd", "--copies", "5", "--mb", "64", "--cell", "lstm", "--hidden", "128",
            "--epochs", "8", "25", "--strategies", "naive", "replay", "selfrefresh",
            "--variant", ONE_PSEUDO_PER_REAL,
            "--variant", 'selfrefresh-whole-gradient=selfrefresh:{"pseudo_grad_tail": 1.0}',
            "--variant", 'selfrefresh-unchunked=selfrefresh:{"generator_kwargs": {"steer_chunk": null}}',
            "--out", "benchmarks/results/speed_full_size.md"],
           ["--parts", "train", "--stream", "japanese-vowels", "--copies", "2", "--mb", "64", "--strategies", "naive",
            "selfrefresh", "--epochs", "1", "--repeat", "1", "--hidden", "8", "--out", "{out}.md"],
           "speed_full_size.md", threads=1, minutes="15"),
    # an LSTM backward by minibatch size, and the pool's steering by chunks of 64 against all at once
    Script("speed_batch", "benchmarks/speed.py", ["--parts", "batch", "--out", "benchmarks/results/speed_batch.md"],
           ["--parts", "batch", "--out", "{out}.md"], "speed_batch.md", threads=1, minutes="1"),
]
SCRIPT_BY_NAME: Dict[str, Script] = {s.name: s for s in SCRIPTS}


# ----------------------------------------------------------------------------- what each marker takes
def _provenance_lines(text: str) -> List[str]:
    """The 'Command: ...' line and the commit/date/machine line under it."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Command: `"):
            return [line, lines[i + 1]] if i + 1 < len(lines) else [line]
    return []


def _sections(text: str) -> List[str]:
    """The '### heading' + table sections of a results file, in order."""
    parts = re.split(r"(?m)^(?=### )", text)
    return [p.strip() for p in parts if p.startswith("### ")]


def _first_section(text: str) -> str:
    sections = _sections(text)
    if not sections:
        raise ValueError("no '### ' table section")
    head = _provenance_lines(text)
    return "\n".join(head) + "\n\n" + sections[0] if head else sections[0]


def _all_sections(text: str) -> str:
    head = _provenance_lines(text)
    return ("\n".join(head) + "\n\n" if head else "") + "\n\n".join(_sections(text))


def _bold_line(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("**"):
            return line
    raise ValueError("no bold summary line")


def _first_table(text: str) -> str:
    tables = markdown_tables(text)
    if not tables:
        raise ValueError("no markdown table")
    return "\n".join(tables[0])


def _code_block(text: str) -> str:
    m = re.search(r"(?ms)^```\n.*?^```$", text)
    if not m:
        raise ValueError("no code block")
    head = _provenance_lines(text)
    return ("\n".join(head) + "\n\n" if head else "") + m.group(0)


@dataclass(frozen=True)
class Block:
    """A marker's content: which results file, and the part of it that goes between the markers."""
    result: str
    select: Callable[[str], str]
    script: str  # the Script that makes the file


BLOCKS: Dict[str, Block] = {
    "real_audio": Block("real_audio.md", _first_section, "real_audio"),
    "real_audio_all": Block("real_audio.md", _all_sections, "real_audio"),
    "demo": Block("demo.md", _all_sections, "demo"),
    "fuzz_api": Block("fuzz_api.md", _bold_line, "fuzz_api"),
    "fuzz_cli": Block("fuzz_cli.md", _bold_line, "fuzz_cli"),
    "threads": Block("threads.md", _first_table, "threads"),
    "speed": Block("speed.md", _code_block, "speed"),
    "speed_full_size": Block("speed_full_size.md", _code_block, "speed_full_size"),
    "speed_batch": Block("speed_batch.md", _code_block, "speed_batch"),
}


def markdown_tables(text: str) -> List[List[str]]:
    """Every markdown table of ``text`` (outside code blocks), as lists of its lines."""
    tables, current, in_code = [], [], False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if not in_code and line.lstrip().startswith("|"):
            current.append(line.strip())
            continue
        if current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return [t for t in tables if len(t) >= 2 and re.fullmatch(r"\|[\s:|-]+\|", t[1])]


def block_text(name: str, results: Path = RESULTS) -> str:
    """What goes between ``<!-- table: name -->`` and ``<!-- /table -->``."""
    block = BLOCKS[name]
    path = results / block.result
    script = SCRIPT_BY_NAME[block.script]
    if not path.is_file():
        return (f"*Pending: `benchmarks/results/{block.result}` has not been made yet "
                f"(`{command_line(script)}`).*")
    return block.select(path.read_text(encoding="utf-8")).strip()


def splice(text: str, results: Path = RESULTS) -> str:
    """``text`` with every known marker's content replaced (unknown marker names: ValueError)."""
    def repl(m):
        name = m.group(2)
        if name not in BLOCKS:
            raise ValueError(f"unknown table marker {name!r}; known: {', '.join(BLOCKS)}")
        return m.group(1) + block_text(name, results) + "\n" + m.group(4)
    return MARKER.sub(repl, text)


def pages(root: Path = ROOT) -> List[Path]:
    return [root / "README.md"] + sorted((root / "docs").glob("*.md"))


def insert(root: Path = ROOT, results: Path = RESULTS) -> List[Path]:
    """Splice into README.md and docs/*.md; the files that changed."""
    from selfrefresh._files import write_text
    changed = []
    for page in pages(root):
        if not page.is_file():
            continue
        old = page.read_text(encoding="utf-8")
        new = splice(old, results)
        if new != old:
            write_text(page, new)
            changed.append(page)
    return changed


# ----------------------------------------------------------------------------- running the scripts
def _threads(s: Script, quick_out: Optional[str]) -> int:
    return 1 if quick_out is not None else s.threads


def command_line(s: Script, quick_out: Optional[str] = None) -> str:
    args = [a.replace("{out}", quick_out) for a in s.quick] if quick_out is not None else list(s.full)
    return f"OMP_NUM_THREADS={_threads(s, quick_out)} python {s.script}" + "".join(" " + shlex.quote(a) for a in args)


def run(s: Script, quick_out: Optional[str] = None, timeout: Optional[float] = None) -> tuple:
    """(exit status, wall seconds) of one script, full size or tiny into ``quick_out``."""
    args = [a.replace("{out}", quick_out) for a in s.quick] if quick_out is not None else list(s.full)
    env = dict(os.environ, OMP_NUM_THREADS=str(_threads(s, quick_out)), MPLBACKEND="Agg")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    print(f"$ {command_line(s, quick_out)}", flush=True)
    t0 = time.perf_counter()
    kw = {"stdout": subprocess.DEVNULL} if quick_out is not None else {}
    try:
        rc = subprocess.run([sys.executable, s.script, *args], cwd=ROOT, env=env, timeout=timeout, **kw).returncode
    except subprocess.TimeoutExpired:
        rc = 124
    return rc, time.perf_counter() - t0


def quick(timeout: float = 300) -> int:
    """Every script at a tiny size into a temporary folder, then the splice into copies of the pages."""
    problems = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="readme_tables_") as tmp:
        results = Path(tmp) / "results"
        results.mkdir()
        for s in SCRIPTS:
            rc, wall = run(s, str(results / Path(s.result).stem), timeout)
            path = results / s.result
            text = path.read_text(encoding="utf-8") if path.is_file() else ""
            ok = rc == 0 and "Command: `" in text and "commit " in text and " cores" in text and "torch " in text
            print(f"  {s.name}: exit {rc}, {wall:.0f} s, {s.result} "
                  + ("written with its provenance header" if ok else "MISSING or without its header"), flush=True)
            if not ok:
                problems.append(s.name)
        copy = Path(tmp) / "pages"
        (copy / "docs").mkdir(parents=True)
        for page in pages():
            if page.is_file():
                shutil.copy(page, copy / page.relative_to(ROOT))
        try:
            insert(copy, results)
            for page in pages(copy):
                for name, body in ((m.group(2), m.group(3)) for m in MARKER.finditer(page.read_text())):
                    if "Pending:" in body:
                        problems.append(f"splice {name} into {page.name}")
        except ValueError as err:
            problems.append(f"splice: {err}")
    print(f"quick check: {time.perf_counter() - start:.0f} s, "
          + ("every script wrote its file and every marker was filled" if not problems
             else "problems: " + ", ".join(problems)))
    return 1 if problems else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--insert", action="store_true", help="only splice the current results files in")
    mode.add_argument("--quick", action="store_true", help="tiny runs into a temporary folder; nothing changed")
    mode.add_argument("--list", action="store_true", help="print the commands, in order")
    mode.add_argument("--only", nargs="+", choices=list(SCRIPT_BY_NAME), help="run these scripts, then splice")
    p.add_argument("--timeout", type=float, default=300, help="seconds per script in --quick (default 300)")
    a = p.parse_args(argv)
    if a.list:
        for s in SCRIPTS:
            print(f"{command_line(s)}    # -> benchmarks/results/{s.result}, {s.minutes} min")
        return 0
    if a.quick:
        return quick(a.timeout)
    failed = []
    if not a.insert:
        for s in SCRIPTS:
            if a.only and s.name not in a.only:
                continue
            rc, wall = run(s)
            print(f"  {s.name}: exit {rc}, {wall:.0f} s", flush=True)
            if rc:
                failed.append(s.name)
    changed = insert()
    print("spliced into: " + (", ".join(str(c.relative_to(ROOT)) for c in changed) or "nothing changed"))
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
