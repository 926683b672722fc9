"""The ablation and speed scripts of ``benchmarks/`` in a tiny size, so that they cannot rot."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import torch
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


def test_ablation_rows_on_fewer_seeds_pair_over_the_seeds_they_ran():
    mod = _script("selfrefresh_ablation")
    rows = {"naive": {"seeds": [0, 1, 2], "acc": [0.2, 0.3, 0.4], "wall": [1.0, 1.0, 1.0]},
            "selfrefresh (default)": {"seeds": [0, 1, 2], "acc": [0.5, 0.7, 0.6], "wall": [2.0, 2.0, 2.0]},
            "slow": {"seeds": [2], "acc": [0.1], "wall": [40.0]}}
    text = mod.table(rows, [0, 1, 2])
    assert "| slow [seeds 2] | 0.100 +- 0.000 | -0.500 | 40 | 40.0 |" in text
    assert "| naive | 0.300 +- 0.082 | -0.300 +- 0.058 | 1 | 1.0 |" in text
    assert set(mod.SLOW) <= set(mod.VARIANTS) and set(mod.VARIANTS).isdisjoint(mod.MORE_VARIANTS)


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


def test_speed_stream_copies_repeat_every_training_sequence_and_keep_the_experiences():
    """--copies K: K jittered copies of each training sequence, the same classes per experience in
    the same order, the test set untouched."""
    from selfrefresh.streams.base import experience_tensors
    mod = _script("speed")
    one, mb = mod._stream("japanese-vowels")
    three, mb3 = mod._stream("japanese-vowels", copies=3)
    assert mb3 == mb
    for a, b in zip(one.train_stream, three.train_stream):
        assert sorted(a.classes_in_this_experience) == sorted(b.classes_in_this_experience)
        (xa, ya), (xb, yb) = experience_tensors(a), experience_tensors(b)
        assert len(xb) == 3 * len(xa) and sorted(yb.tolist()) == sorted(ya.tolist() * 3)
        for c in ya.unique():  # copies jittered by noise of std 0.05: each class's mean sequence stays
            gap = (xb[yb == c].mean(0) - xa[ya == c].mean(0)).abs().max()
            assert gap < 0.1, (int(c), float(gap))
        assert not any(torch.equal(xb[i], xb[j]) for i in range(3) for j in range(i + 1, len(xb)))  # jittered
    for a, b in zip(one.test_stream, three.test_stream):
        assert torch.equal(experience_tensors(a)[0], experience_tensors(b)[0])



def test_speed_batch_part_times_every_batch_size_and_pool(capsys):
    """--parts batch: a time per minibatch size and, per pool size, the chunked and the whole-batch
    steering (the same sequences: the generator test checks that), each printed on its own row."""
    mod = _script("speed")
    by_batch, by_pool = mod.bench_batch("cpu", hidden=8, steps=5, features=3, batches=(2, 4), pools=(8, 70))
    assert [b for b, _ in by_batch] == [2, 4] and all(t > 0 for _, t in by_batch)
    assert [n for n, *_ in by_pool] == [8, 70] and all(a > 0 and b > 0 for _, a, b in by_pool)
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.split()[:1] != []]
    assert [r for r in rows if r.isdigit()] == ["2", "4", "8", "70"]

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


def test_mutation_script_reads_mutmut_results_into_the_table():
    """The pure parts of benchmarks/mutation.py (mutmut is not run)."""
    mod = _script("mutation")
    assert mod.tests_for("selfrefresh/metrics/generative.py") == ["tests/test_generative_metrics.py"]
    with pytest.raises(KeyError, match="no tests mapped"):
        mod.tests_for("selfrefresh/cli.py")
    names = [f"m.x_f__mutmut_{i}" for i in range(1, 11)]
    assert mod.sample(names, 4, seed=1) == mod.sample(list(reversed(names)), 4, seed=1)  # seeded, order-free
    assert len(mod.sample(names, 4)) == 4 and mod.sample(names, None) == sorted(names)
    meta = {"exit_code_by_key": {"a": 1, "b": 0, "c": 36, "d": 33, "e": None, "f": 3, "g": -11}}
    verdicts = mod.read_meta(meta, ["a", "b", "c", "d", "f", "g", "zz"])
    assert verdicts == {"a": "killed", "b": "survived", "c": "timeout", "d": "no tests", "f": "killed",
                        "g": "segfault", "zz": "not checked"}
    c = mod.count(verdicts)
    assert (c["killed"], c["survived"], c["timeout"], c["no tests"], c["other"], c["run"]) == (2, 1, 1, 1, 2, 7)
    assert c["score"] == pytest.approx(3 / 5)
    diff = ("--- a.py\n+++ a.py\n@@ -1,4 +1,4 @@\n def f(x):\n     y = 1\n-    return x + y\n"
            "+    return x - y\n")
    assert mod.diff_summary(diff) == (2, "return x + y -> return x - y")
    src = "class P:\n    @property\n    def take(self):\n        return 1\n\ndef g():\n    pass\n"
    assert mod.function_start(src, "m.xǁPǁtake__mutmut_3") == 2
    assert mod.function_start(src, "m.x_g__mutmut_1") == 6
    assert "[tool.mutmut]" in mod.mutmut_config("a/b.py", ["tests/t.py", "-k", "not slow"])
    rows = [{"path": "a/b.py", "tests": ["tests/t.py"], "generated": 20, "counts": c}]
    text = mod.markdown(rows, [{"name": "m.x_f__mutmut_2", "where": "a/b.py:3", "change": "x -> y",
                                "status": "survived"}], "HEAD\n", 60.0, sampled=True)
    assert "| `a/b.py` | `tests/t.py` | 20 | 7 | 2 | 1 | 1 | 1 | 2 | 60 % |" in text
    assert "**60 %** (3/5)" in text and "not the whole set" in text
    assert "- `a/b.py:3` survived: `x -> y` (m.x_f__mutmut_2)" in text


def test_mutation_script_estimates_the_population_score_from_per_file_samples():
    mod = _script("mutation")
    lo, hi = mod.wilson(0.5, 100)
    assert (lo, hi) == (pytest.approx(0.4038, abs=1e-4), pytest.approx(0.5962, abs=1e-4))  # textbook value
    assert mod.wilson(1.0, 20)[1] == 1.0 and mod.wilson(1.0, 20)[0] == pytest.approx(0.8389, abs=1e-4)
    row = lambda path, gen, killed, survived: {"path": path, "generated": gen, "counts": {  # noqa: E731
        "killed": killed, "survived": survived, "timeout": 0, "no tests": 0}}
    # a small file fully run (no sampling error) and a big one sampled: weights 100 / 1000 and 900 / 1000
    est = mod.stratified([row("p/a/x.py", 100, 100, 0), row("p/b/y.py", 900, 15, 5)])
    assert est["score"] == pytest.approx(0.1 * 1.0 + 0.9 * 0.75)
    var = 0.9 ** 2 * (1 - 20 / 900) * 0.75 * 0.25 / 19
    assert est["n_eff"] == pytest.approx(est["score"] * (1 - est["score"]) / var)
    assert est["low"] < est["score"] < est["high"] and (est["low"], est["high"]) == mod.wilson(est["score"], est["n_eff"])
    assert mod.stratified([row("p/a/x.py", 10, 0, 0)]) is None
    assert mod.package_of("selfrefresh/strategies/self_refresh/pool.py") == "selfrefresh/strategies"


def test_real_audio_draws_the_class_order_from_the_seed_and_keeps_orders_apart():
    mod = _script("real_audio")
    orders = [mod.class_order("fsdd", s, "seed") for s in range(5)]
    assert all(sorted(o) == list(range(10)) for o in orders)
    assert len({tuple(o) for o in orders}) == 5                # each seed its own order
    assert orders[0] == mod.class_order("fsdd", 0, "seed")      # reproducible
    assert mod.class_order("fsdd", 0, "fixed") is None          # the stream's own 0..C-1
    with pytest.raises(ValueError, match="order"):
        mod.class_order("fsdd", 0, "random")
    cell = {"stream": "fsdd", "cell_type": "lstm", "hidden": 8, "epochs": 1, "seed": 0, "wall": 1.0}
    results = [{**cell, "row": "naive", "acc": 0.2, "order": "seed"},
               {**cell, "row": "naive", "acc": 0.4},             # an earlier part: no "order", fixed
               {**cell, "row": "replay", "acc": 0.5, "order": "seed"}]
    text = mod.tables(results, ["naive", "replay"])
    seeded, fixed = text.split("### ")[1:]
    assert seeded.startswith("fsdd, LSTM 8, 1 epochs per experience, class order drawn by the seed")
    assert "| naive | 0.200 +- 0.000 | -0.300 |" in seeded
    assert fixed.startswith("fsdd, LSTM 8, 1 epochs per experience, fixed class order 0..C-1")
    assert "| naive | 0.400 +- 0.000 |" in fixed and "replay" not in fixed.split("\n", 3)[3]


def test_real_audio_combined_time_ratio_uses_naive_of_the_same_part_even_when_a_later_part_replaces_it():
    """Combined parts: a row's "time x Naive" divides by Naive of the invocation that ran the row,
    also where a later part's Naive cell of the same seed is the one the accuracy columns show."""
    mod = _script("real_audio")
    cell = {"stream": "fsdd", "cell_type": "lstm", "hidden": 8, "epochs": 1, "order": "seed"}
    results = [{**cell, "row": "naive", "acc": 0.2, "seed": s, "wall": 2.0, "part": 0} for s in (0, 1)]
    results += [{**cell, "row": "lwf", "acc": 0.3, "seed": s, "wall": 3.0, "part": 0} for s in (0, 1)]
    results += [{**cell, "row": "naive", "acc": 0.25, "seed": s, "wall": 1.0, "part": 1} for s in (0, 1)]
    results += [{**cell, "row": "selfrefresh", "acc": 0.4, "seed": s, "wall": 4.0, "part": 1} for s in (0, 1)]
    text = mod.tables(results, ["naive", "lwf", "selfrefresh"])
    rows = {line.split(" | ")[0][2:]: line for line in text.splitlines() if line.startswith("| ") and "---" not in line}
    assert rows["lwf"].endswith("| 1.50 |")             # 3.0 / 2.0: its own part's Naive
    assert rows["selfrefresh"].endswith("| 4.00 |")     # 4.0 / 1.0
    assert "| naive | 0.250 +- 0.000 |" in text         # the later part's Naive for the accuracy


def test_real_audio_matrix_is_the_mean_over_seeds_of_each_rows_accuracy_matrix():
    """--matrix: line i of a row's table is the accuracy on experiences 1..i after training on
    experience i, averaged over the seeds; the last column repeats the diagonal."""
    mod = _script("real_audio")
    cell = {"stream": "fsdd", "cell_type": "lstm", "hidden": 8, "epochs": 1, "order": "seed", "row": "naive",
            "wall": 1.0}
    m0 = [[0.8, 0.0], [0.2, 0.9]]
    m1 = [[0.6, 0.0], [0.4, 0.7]]
    results = [{**cell, "seed": s, "matrix": m, "acc": float(np.mean(m[-1]))} for s, m in ((0, m0), (1, m1))]
    text = mod.tables(results, ["naive"])
    assert "| 1 | 0.70 |  | 0.70 |" in text
    assert "| 2 | 0.30 | 0.80 | 0.80 |" in text
    assert "mean over 2 seeds" in text
    plain = [{k: v for k, v in r.items() if k != "matrix"} for r in results]
    assert "just learned" not in mod.tables(plain, ["naive"])  # no matrix without --matrix


def test_real_audio_keeps_the_two_readouts_in_separate_tables():
    """Runs with the mean readout (--readout mean) never share a table with the last step's."""
    mod = _script("real_audio")
    cell = {"stream": "fsdd", "cell_type": "lstm", "hidden": 8, "epochs": 1, "order": "seed", "row": "naive",
            "wall": 1.0, "seed": 0}
    # a cell without "readout" ran before the option: the last step
    text = mod.tables([{**cell, "acc": 0.2}, {**cell, "acc": 0.6, "readout": "mean"}], ["naive"])
    heads = [line for line in text.splitlines() if line.startswith("### ")]
    assert len(heads) == 2 and "readout mean" in heads[0] and "readout last" in heads[1]
    assert text.index("| naive | 0.600") < text.index(heads[1]) < text.index("| naive | 0.200")


def test_task_aware_accuracy_takes_the_argmax_within_each_experience():
    mod = _script("feature_diagnosis")
    head = torch.nn.Linear(4, 4, bias=False)
    with torch.no_grad():
        head.weight.copy_(torch.eye(4))
    # class 0 looks most like class 2 (another experience) but more like 0 than like 1 (its own)
    feats = torch.tensor([[0.5, 0.1, 0.9, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.2, 0.8], [0.0, 0.0, 0.0, 1.0]])
    labels = torch.tensor([0, 1, 2, 3])
    assert mod.task_aware_accuracy(head, feats, labels, [[0, 1], [2, 3]]) == pytest.approx(0.75)
    assert (head(feats).argmax(1) == labels).float().mean().item() == pytest.approx(0.5)


def test_pooled_gaussian_scan_writes_one_cell_per_setting(tmp_path):
    mod = _script("pooled_gaussian_scan")
    out = tmp_path / "scan"
    runs = mod.main(["--streams", "japanese-vowels", "--seeds", "0", "--ranks", "0", "4", "--shrinkages", "0.1",
                     "--out", str(out)])
    assert [(r["rank"], r["shrinkage"]) for r in runs] == [(0, 0.1), (4, 0.1)]
    assert all(0.5 < r["acc"] <= 1 for r in runs)   # JapaneseVowels: about 0.95 at any setting
    text = out.with_suffix(".md").read_text()
    assert f"| japanese-vowels | 4 | {runs[1]['acc']:.3f} |" in text and json.loads(out.with_suffix(".json").read_text())
