"""The ablation and speed scripts of ``benchmarks/`` in a tiny size, so that they cannot rot."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_ablation_table_pairs_variants_with_the_default_by_seed(tmp_path):
    mod = _script("selfrefresh_ablation")
    out = tmp_path / "abl"
    mod.main(["--seeds", "0", "1", "--epochs", "1", "--hidden", "8", "--variants", "naive",
              "selfrefresh (default)", "--out", str(out)])
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert set(rows) == {"naive", "selfrefresh (default)"}
    assert all(len(r["acc"]) == 2 and all(0 <= a <= 1 for a in r["acc"]) for r in rows.values())
    d = np.asarray(rows["naive"]["acc"]) - np.asarray(rows["selfrefresh (default)"]["acc"])
    table = out.with_suffix(".md").read_text()
    assert table.startswith("japanese-vowels, GRU 8, 1 epochs")
    assert f"| naive | {np.mean(rows['naive']['acc']):.3f} +- {np.std(rows['naive']['acc']):.3f} | " \
           f"{d.mean():+.3f} +- {d.std(ddof=1) / np.sqrt(2):.3f} |" in table
    assert "| selfrefresh (default) |" in table and "| - |" in table
    with pytest.raises(SystemExit):
        mod.main(["--variants", "no such variant"])


def test_speed_training_ratios_per_experience(capsys):
    mod = _script("speed")
    rows = mod.bench_training(["naive", "selfrefresh"], "japanese-vowels", epochs=1, hidden=8, device="cpu",
                              repeat=1)
    assert [r[0] for r in rows] == ["naive", "selfrefresh"]
    for name, rate, total, per_exp in rows:
        assert rate > 0 and len(per_exp) == 3 and total == pytest.approx(sum(per_exp))
    text = capsys.readouterr().out
    naive_line = next(line for line in text.splitlines() if line.strip().startswith("naive"))
    assert naive_line.split()[3:] == ["1.00", "1.00", "1.00", "1.00"]


def test_fuzz_report_counts_every_outcome_and_fails_short_of_the_target():
    mod = _script("fuzz_report")
    log = {"tensors": {"a": "clear error", "b": "clear error", "c": "unexpected IndexError"},
           "files": {"x": "clear error", "y": "NaN result"},
           "huge values (legal; finite result or clear error)": {"h": "finite result"}}
    s = mod.summarise(log)
    assert (s["malformed"], s["clear"], s["bad"], s["nan"], s["legal"]) == (5, 3, 2, 1, 1)
    text = mod.markdown(s, "14 passed", 12.0, "cmd")
    assert "**5 distinct malformed inputs, 3 of them (60%)" in text
    assert "| tensors | 3 | clear error 2, unexpected IndexError 1 |" in text
