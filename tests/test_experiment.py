"""selfrefresh.runs: runs, metrics on the accuracy matrix, checkpoints and resume, reports."""
import json

import numpy as np
import pytest
import torch

from selfrefresh.runs import (ExperimentError, RunConfig, aggregate, collect_summaries, markdown_table,
                                    matrix_metrics, run_dir, run_experiment, write_report)
from selfrefresh.strategies.registry import STRATEGY_NAMES, make_strategy


def toy_sequences(n_per_class, n_classes=4, t=10, f=3, seed=0):
    """Class c: a sinusoid of its own frequency, random phase, noise. (N, T, F), (N,)."""
    rng = np.random.RandomState(seed)
    steps = np.arange(t)
    xs, ys = [], []
    for c in range(n_classes):
        for _ in range(n_per_class):
            wave = np.sin((0.3 + 0.45 * c) * steps + rng.uniform(0, 2 * np.pi))
            xs.append(wave[:, None] * (1 + 0.3 * np.arange(f))[None] + 0.2 * rng.randn(t, f))
            ys.append(c)
    return np.asarray(xs, np.float32), np.asarray(ys, np.int64)


def _toy(n_experiences=2):
    from selfrefresh.streams.base import class_incremental_stream
    tx, ty = toy_sequences(16, seed=0)
    ex, ey = toy_sequences(8, seed=1)
    return class_incremental_stream(tx, ty, ex, ey, n_experiences=n_experiences, seed=0)


@pytest.fixture(scope="module")
def toy():
    return _toy()


def _cfg(strategy, **kw):
    base = dict(stream="toy", strategy=strategy, epochs=2, hidden_size=8, batch_size=16, device="cpu",
                progress=False)
    base.update(kw)
    return RunConfig(**base)


def test_matrix_metrics_hand_computed():
    a = [[0.9, 0.0, 0.0],
         [0.5, 0.8, 0.0],
         [0.3, 0.6, 0.7]]
    m = matrix_metrics(a)
    assert m["final_average_accuracy"] == pytest.approx((0.3 + 0.6 + 0.7) / 3)
    # forgetting: max earlier - final, over the first two experiences
    assert m["average_forgetting"] == pytest.approx(((0.9 - 0.3) + (0.8 - 0.6)) / 2)
    assert m["bwt"] == pytest.approx(((0.3 - 0.9) + (0.6 - 0.8)) / 2)
    one = matrix_metrics([[0.5, 0.7]])  # joint training: one row
    assert one["final_average_accuracy"] == pytest.approx(0.6) and one["bwt"] is None


def test_run_writes_matrix_summary_model_and_logs(tmp_path, toy):
    s = run_experiment(_cfg("naive"), tmp_path, benchmark=toy)
    folder = run_dir(tmp_path, _cfg("naive"))
    acc = np.asarray(s["accuracy_matrix"])
    assert acc.shape == (2, 2) and ((acc >= 0) & (acc <= 1)).all()
    # averaged over experiences, not pooled over samples
    assert s["final_average_accuracy"] == pytest.approx(acc[-1].mean())
    assert s["stored_real_samples"] == 0 and s["finished"] and s["wall_time_s"] > 0
    assert json.loads((folder / "summary.json").read_text())["accuracy_matrix"] == s["accuracy_matrix"]
    assert (folder / "accuracy_matrix.csv").read_text().count("\n") == 3
    logs = list((folder / "avalanche_logs" / "from_exp0").glob("*.csv"))
    assert {p.name for p in logs} == {"eval_results.csv", "training_results.csv"}
    # model.pt: what `selfrefresh analyse` needs, tensors only
    saved = torch.load(folder / "model.pt", weights_only=True)
    from selfrefresh.models import AutoHeteroRNN
    model = AutoHeteroRNN(**saved["model_config"])
    model.load_state_dict(saved["model_state"])
    assert saved["stream"] == "toy" and saved["model_config"]["input_size"] == 3
    torch.load(folder / "checkpoint.pt", weights_only=True)


def test_cumulative_counts_stored_samples_and_learns(tmp_path, toy):
    s = run_experiment(_cfg("cumulative", epochs=25, hidden_size=16, lr=1e-2), tmp_path, benchmark=toy)
    assert s["stored_real_samples"] == 64  # 4 classes x 16 training sequences
    assert s["final_average_accuracy"] > 0.7, s["accuracy_matrix"]


@pytest.mark.parametrize("strategy", ["naive", "selfrefresh", "selfrefresh-plain", "ewc", "si", "lwf", "gem",
                                      "cumulative"])
def test_resume_gives_the_same_numbers(tmp_path, toy, strategy):
    bench = _toy(n_experiences=2)
    full = run_experiment(_cfg(strategy), tmp_path / "full", benchmark=bench)
    part = run_experiment(_cfg(strategy), tmp_path / "cut", benchmark=bench, stop_after=1)
    assert not part["finished"] and len(part["accuracy_matrix"]) == 1
    resumed = run_experiment(_cfg(strategy), tmp_path / "cut", benchmark=bench, resume=True)
    assert resumed["resumed_from"] == 1
    assert resumed["accuracy_matrix"] == full["accuracy_matrix"]
    a = torch.load(run_dir(tmp_path / "full", _cfg(strategy)) / "model.pt", weights_only=True)["model_state"]
    b = torch.load(run_dir(tmp_path / "cut", _cfg(strategy)) / "model.pt", weights_only=True)["model_state"]
    for k in a:  # bit-identical: same machine, same thread count, same shapes in both runs
        assert torch.equal(a[k], b[k]), k


def test_resume_refuses_other_settings(tmp_path, toy):
    run_experiment(_cfg("naive"), tmp_path, benchmark=toy, stop_after=1)
    with pytest.raises(ExperimentError, match="other settings"):
        run_experiment(_cfg("naive", epochs=3), tmp_path, benchmark=toy, resume=True)


def test_a_run_recorded_before_the_readout_setting_read_the_last_step(tmp_path, toy):
    """Folders and checkpoints written before ``readout`` was a setting (the model's class head then
    read the final step) resume as readout "last" and refuse the new default."""
    folder = run_dir(tmp_path, _cfg("naive", readout="last"))
    run_experiment(_cfg("naive", readout="last"), tmp_path, benchmark=toy, stop_after=1)
    settings = json.loads((folder / "settings.json").read_text())
    assert settings["identity"].pop("readout") == "last"
    (folder / "settings.json").write_text(json.dumps(settings))
    ckpt = torch.load(folder / "checkpoint.pt", weights_only=True)
    del ckpt["identity"]["readout"]
    torch.save(ckpt, folder / "checkpoint.pt")
    with pytest.raises(ExperimentError, match="readout 'last' there, 'mean' here"):
        run_experiment(_cfg("naive"), tmp_path, benchmark=toy, resume=True)
    resumed = run_experiment(_cfg("naive", readout="last"), tmp_path, benchmark=toy, resume=True)
    assert resumed["resumed_from"] == 1 and resumed["finished"]
    assert torch.load(folder / "model.pt", weights_only=True)["model_config"]["readout"] == "last"
    with pytest.raises(ExperimentError, match="unknown readout 'max'; choose mean or last"):
        _cfg("naive", readout="max")


def test_a_selfrefresh_checkpoint_resumes_only_under_the_settings_it_was_written_with(tmp_path, toy):
    """The checkpoint records SelfRefresh's resolved settings (defaults included): after a change of
    the library's defaults, a resume names each setting that differs instead of mixing two methods;
    checkpoints written before the settings were recorded resume as they did."""
    folder = run_dir(tmp_path, _cfg("selfrefresh"))
    run_experiment(_cfg("selfrefresh"), tmp_path, benchmark=toy, stop_after=1)
    ckpt = torch.load(folder / "checkpoint.pt", weights_only=True)
    recorded = ckpt["strategy_state"]["settings"]
    assert (recorded["pseudo_ratio"], recorded["distill_weight"], recorded["seeds"]) == (0.5, 2.0, "current")
    ckpt["strategy_state"]["settings"].update(pseudo_ratio=1.0, distill_weight=1.0)   # the defaults before
    torch.save(ckpt, folder / "checkpoint.pt")
    with pytest.raises(ExperimentError, match=r"cannot resume .*: the checkpoint was written with other SelfRefresh "
                                              r"settings .*distill_weight 1.0 there, 2.0 here, pseudo_ratio 1.0 "
                                              r"there, 0.5 here; resume with those values as options"):
        run_experiment(_cfg("selfrefresh"), tmp_path, benchmark=toy, resume=True)
    del ckpt["strategy_state"]["settings"]                                             # an older checkpoint
    torch.save(ckpt, folder / "checkpoint.pt")
    resumed = run_experiment(_cfg("selfrefresh"), tmp_path, benchmark=toy, resume=True)
    assert resumed["resumed_from"] == 1 and resumed["finished"]


def test_resume_of_a_finished_run_returns_it(tmp_path, toy):
    first = run_experiment(_cfg("naive"), tmp_path, benchmark=toy)
    again = run_experiment(_cfg("naive"), tmp_path, benchmark=toy, resume=True)
    assert again == first


def test_bad_settings_are_one_line_errors(tmp_path, toy):
    with pytest.raises(ExperimentError, match="unknown strategy 'nope'"):
        run_experiment(_cfg("nope"), tmp_path, benchmark=toy)
    with pytest.raises(ExperimentError, match="'selfrefresh-fast' was retired: .* use selfrefresh$"):
        run_experiment(_cfg("selfrefresh-fast"), tmp_path, benchmark=toy)
    with pytest.raises(ExperimentError, match="unknown cell"):
        run_experiment(_cfg("naive", cell="transformer"), tmp_path, benchmark=toy)
    with pytest.raises(ExperimentError, match="epochs"):
        run_experiment(_cfg("naive", epochs=0), tmp_path, benchmark=toy)
    with pytest.raises(ExperimentError, match="unknown stream"):
        run_experiment(RunConfig("nope", "naive"), tmp_path)


def test_make_strategy_names():
    from selfrefresh.models import AutoHeteroRNN
    with pytest.raises(ValueError, match="unknown strategy"):
        make_strategy("nope", None, None)
    for name in ("naive", "ewc", "si", "lwf", "replay", "gem", "agem", "cumulative", "joint", "selfrefresh",
                 "selfrefresh-plain"):
        m = AutoHeteroRNN(3, 4, 4)
        s = make_strategy(name, m, torch.optim.Adam(m.parameters()), train_mb_size=4, eval_mb_size=4)
        assert s.model is m
    assert len(STRATEGY_NAMES) == 15
    # the default: half the pseudo-sequences per minibatch, each weighing twice; the papers' and the
    # plain presets keep one per real sequence at weight 1 (what they were measured with)
    m = AutoHeteroRNN(3, 4, 4)
    half = make_strategy("selfrefresh", m, torch.optim.Adam(m.parameters()), train_mb_size=32).refresh
    one = make_strategy("selfrefresh-papers", m, torch.optim.Adam(m.parameters()), train_mb_size=32).refresh
    assert (half.method.per_batch(32), one.method.per_batch(32)) == (16, 32)
    f, g = one.config, half.config
    for w in ("distill_weight", "auto_weight", "feature_weight"):
        assert g.pseudo_ratio * getattr(g, w) == f.pseudo_ratio * getattr(f, w) == 1.0, w
    plain = make_strategy("selfrefresh-plain", m, torch.optim.Adam(m.parameters())).config
    assert (plain.pseudo_ratio, plain.distill_weight, plain.feature_weight) == (1.0, 1.0, 0.0)
    # options still override a preset
    over = make_strategy("selfrefresh-papers", m, torch.optim.Adam(m.parameters()), options={"pseudo_ratio": 0.5})
    assert over.config.pseudo_ratio == 0.5 and over.config.distill_weight == 1.0
    # the retired preset's name says what became of it, in the library and on the command line
    with pytest.raises(ValueError, match="'selfrefresh-fast' was retired: .* selfrefresh's defaults since"):
        make_strategy("selfrefresh-fast", m, torch.optim.Adam(m.parameters()))


def test_aggregate_table_and_report(tmp_path):
    def run(strategy, seed, acc, wall):
        return {"stream": "s", "strategy": strategy, "seed": seed, "n_experiences": 2,
                "accuracy_matrix": acc, **matrix_metrics(acc), "stored_real_samples": 0, "wall_time_s": wall}
    runs = [run("naive", 0, [[1, 0], [0, 1]], 2.0), run("naive", 1, [[1, 0], [0.2, 1]], 4.0),
            run("selfrefresh", 0, [[1, 0], [0.5, 0.9]], 6.0)]
    rows = {r["strategy"]: r for r in aggregate(runs)}
    assert rows["naive"]["final_average_accuracy"] == pytest.approx(0.55)
    assert rows["naive"]["final_average_accuracy_std"] == pytest.approx(np.std([0.5, 0.6], ddof=1))
    assert rows["naive"]["wall_time_ratio_to_naive"] == pytest.approx(1.0)
    assert rows["selfrefresh"]["wall_time_ratio_to_naive"] == pytest.approx(2.0)
    table = markdown_table(aggregate(runs))
    assert "| s | selfrefresh | 1 | 0.700 |" in table
    write_report(runs, tmp_path)
    assert (tmp_path / "forgetting_s.png").stat().st_size > 1000
    assert (tmp_path / "average_s.png").stat().st_size > 1000
    assert len(collect_summaries([tmp_path / "report.json"])) == 3


# --------------------------------------------------------------------------- benchmarks/strategies.py

TINY_SPEECH = ["--stream-arg", 'words=["yes","no","up","down"]', "--stream-arg", "n_voices=4",
               "--stream-arg", "test_voices=2", "--stream-arg", "speeds=[175]", "--stream-arg", "n_experiences=2"]


def _strategies_script():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "strategies.py"
    spec = importlib.util.spec_from_file_location("bench_strategies", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _check_grid(report, out, strategies, seeds):
    data = json.loads((out / "speech.json").read_text())
    assert data == json.loads(json.dumps(report["speech"]))
    assert sorted((r["strategy"], r["seed"]) for r in data["runs"]) == \
        sorted((s, k) for s in strategies for k in seeds)
    rows = {r["strategy"]: r for r in data["table"]}
    assert rows["naive"]["wall_time_ratio_to_naive"] == pytest.approx(1.0)
    assert "| speech | selfrefresh | 2 |" in (out / "speech.md").read_text()


def test_strategy_benchmark_grid_in_process(tmp_path):
    mod = _strategies_script()
    report = mod.main(["--streams", "speech", "--strategies", "naive", "selfrefresh", "--seeds", "0", "1",
                       "--epochs", "1", "--hidden", "8", *TINY_SPEECH, "--out", str(tmp_path)])
    _check_grid(report, tmp_path, ["naive", "selfrefresh"], [0, 1])
    # a strategy that cannot run is reported, the others still finish
    report = mod.main(["--streams", "nope", "--strategies", "naive", "--seeds", "0", "--epochs", "1",
                       "--out", str(tmp_path / "bad")])
    assert report["nope"]["failed"][0]["error"].startswith("unknown stream")


@pytest.mark.slow
def test_strategy_benchmark_two_local_workers(tmp_path):
    mod = _strategies_script()
    report = mod.main(["--streams", "speech", "--strategies", "naive", "selfrefresh", "--seeds", "0", "1",
                       "--epochs", "1", "--hidden", "8", *TINY_SPEECH, "--workers", "2", "--out", str(tmp_path)])
    _check_grid(report, tmp_path, ["naive", "selfrefresh"], [0, 1])


@pytest.mark.slow
def test_strategy_benchmark_on_local_ray(tmp_path):
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install -e '.[ray]'")
    mod = _strategies_script()
    report = mod.main(["--streams", "speech", "--strategies", "naive", "selfrefresh", "--seeds", "0", "1",
                       "--epochs", "1", "--hidden", "8", *TINY_SPEECH, "--workers", "2", "--ray", "local",
                       "--out", str(tmp_path)])
    _check_grid(report, tmp_path, ["naive", "selfrefresh"], [0, 1])
