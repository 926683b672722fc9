"""The README stays short, opens with its two commands, and every figure in it comes from a results file.

The figures are spliced in by ``benchmarks/readme_tables.py`` (``make results``) between
``<!-- table: NAME -->`` markers; these tests read files only (no training), in well under a second.
"""
import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RESULTS = ROOT / "benchmarks" / "results"
NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?![\w])")


def _tables_module():
    spec = importlib.util.spec_from_file_location("readme_tables", ROOT / "benchmarks" / "readme_tables.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def numbers(text: str) -> set:
    """Numeric tokens of ``text`` ("+0.011" and "0.011" are the same; "-0.011" is not)."""
    return {n.lstrip("+") for n in NUMBER.findall(text)}


def _results_numbers() -> set:
    found = set()
    for path in RESULTS.glob("*"):
        if path.suffix in (".md", ".json"):
            found |= numbers(path.read_text(encoding="utf-8"))
    return found


def test_readme_is_short_and_opens_with_the_two_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) < 250
    first_block = re.search(r"```(\w*)\n(.*?)```", text, re.S)
    assert first_block and first_block.group(1) == "bash"
    assert text.index("```") < text.index("\n## ")  # before any section
    commands = [line.split("#")[0].strip() for line in first_block.group(2).splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]


def test_numbers_parse_as_tokens():
    assert numbers("| 0.534 +- 0.144 | +0.011 +- 0.028 | commit e04ec44, 2026-11-30 |") == {
        "0.534", "0.144", "0.011", "0.028", "2026", "11", "30"}
    assert "04" not in numbers("e04ec44") and "-0.209" in numbers("x -0.209")


def test_every_number_in_a_readme_table_is_in_a_results_file():
    mod = _tables_module()
    text = README.read_text(encoding="utf-8")
    shown = [line for table in mod.markdown_tables(text) for line in table]
    shown += [m.group(3) for m in mod.MARKER.finditer(text)]
    known = _results_numbers()
    missing = sorted({n for chunk in shown for n in numbers(chunk)} - known)
    assert not missing, f"README numbers in no file of benchmarks/results/: {missing}"


def test_readme_blocks_are_the_current_results():
    """What lies between the markers is what the results files hold now (else: readme_tables.py --insert)."""
    mod = _tables_module()
    text = README.read_text(encoding="utf-8")
    names = [m.group(2) for m in mod.MARKER.finditer(text)]
    assert {"real_audio", "fuzz_api", "fuzz_cli", "threads"} <= set(names)
    assert mod.splice(text) == text, "README is behind benchmarks/results/: run benchmarks/readme_tables.py --insert"


def test_splice_fills_markers_and_leaves_the_rest(tmp_path):
    mod = _tables_module()
    (tmp_path / "threads.md").write_text("# T\n\nCommand: `x`  \ncommit abc, 2026-01-01\n\n| a | b |\n|---|---|\n"
                                         "| c | 1.5 |\n\nafter\n")
    page = "intro\n<!-- table: threads -->\nold\n<!-- /table -->\nend 7\n"
    assert mod.splice(page, tmp_path) == "intro\n<!-- table: threads -->\n| a | b |\n|---|---|\n| c | 1.5 |\n" \
                                         "<!-- /table -->\nend 7\n"
    pending = mod.splice("<!-- table: speed -->\n<!-- /table -->\n", tmp_path)
    assert "Pending" in pending and "benchmarks/speed.py" in pending
    with pytest.raises(ValueError, match="unknown table marker"):
        mod.splice("<!-- table: nope -->\n<!-- /table -->\n", tmp_path)


def test_readme_links_to_docs_pages_that_exist():
    text = README.read_text(encoding="utf-8")
    links = set(re.findall(r"\]\((docs/[\w./-]+?)(?:#[\w-]+)?\)", text))
    assert links, "the README links no docs page"
    assert all((ROOT / link).is_file() for link in links), sorted(l for l in links if not (ROOT / l).is_file())
