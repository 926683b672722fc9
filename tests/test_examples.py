"""The examples run end to end in their reduced size (SELFREFRESH_EXAMPLE_SMALL=1)."""
import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def small(monkeypatch, tmp_path):
    monkeypatch.setenv("SELFREFRESH_EXAMPLE_SMALL", "1")
    monkeypatch.setenv("SELFREFRESH_EXAMPLE_OUT", str(tmp_path))
    return tmp_path


def test_import_cells(small, capsys):
    runpy.run_path(str(EXAMPLES / "import_cells.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "cell matches layer: True" in out
    assert "generated: [0, " in out


def test_plugin_in_avalanche(small, capsys):
    runpy.run_path(str(EXAMPLES / "plugin_in_avalanche.py"), run_name="__main__")
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "final accuracy per experience" in ln]
    assert len(lines) == 2 and lines[1].startswith("naive + SelfRefreshPlugin")
    accs = [float(a) for a in lines[-1].split()[-2:]]
    assert all(0.0 <= a <= 1.0 for a in accs)


def test_forgetting_curves(small, capsys):
    runpy.run_path(str(EXAMPLES / "forgetting_curves.py"), run_name="__main__")
    out = capsys.readouterr().out
    for name in ("naive", "selfrefresh", "cumulative"):
        assert f"{name} " in out
    assert (small / "forgetting.png").stat().st_size > 1000
    assert (small / "average.png").stat().st_size > 1000


def test_forgetting_curves_is_short():
    assert len((EXAMPLES / "forgetting_curves.py").read_text().splitlines()) < 60
