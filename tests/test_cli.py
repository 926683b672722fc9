"""The ``selfrefresh`` command: run, compare, analyse, and one-line errors."""
import json
import subprocess
import sys

import pytest
import torch

from selfrefresh import cli

# A tiny synthetic speech stream: 4 words, 2 training voices, 2 test voices, one speed.
TINY = ["--stream", "speech", "--stream-arg", 'words=["yes","no","up","down"]', "--stream-arg", "n_voices=4",
        "--stream-arg", "test_voices=2", "--stream-arg", "speeds=[175]", "--stream-arg", "n_experiences=2",
        "--epochs", "1", "--hidden", "8", "--quiet"]


def _error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("selfrefresh: error: ")
    return err[0]


@pytest.mark.parametrize("argv, expected", [
    (["run", "--stream", "nope", "--strategy", "naive"], "unknown stream 'nope'; choose one of: speech"),
    (["run", "--stream", "speech", "--strategy", "nope"], "unknown strategy 'nope'"),
    (["run", "--stream", "speech-commands", "--strategy", "naive"], "needs root: pass --stream-arg root="),
    (["run", "--stream", "fsdd", "--strategy", "naive", "--stream-arg", "root=/no/such/folder"],
     "data not found"),
    (["run", "--stream", "speech", "--strategy", "naive", "--stream-arg", "colour=1"], "takes no argument 'colour'"),
    (["run", "--stream", "speech", "--strategy", "naive", "--device", "tpu"], "unknown device"),
    (["compare", "/no/such/results"], "does not exist"),
    (["analyse", "/no/such/run"], "does not exist"),
])
def test_wrong_input_is_one_line_error(argv, expected, capsys):
    assert cli.main(argv) == 2
    assert expected in _error_line(capsys)


def test_unknown_readout_is_a_one_line_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["run", "--stream", "speech", "--strategy", "naive", "--readout", "max"])
    assert e.value.code == 2
    line = _error_line(capsys)  # argparse quotes the choices in some Python versions, not in others
    assert "argument --readout: invalid choice" in line and "max" in line and "mean" in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible")
def test_cuda_without_gpu_is_one_line_error(capsys):
    assert cli.main(["run", "--stream", "speech", "--strategy", "naive", "--device", "cuda"]) == 2
    assert "no CUDA GPU" in _error_line(capsys)


@pytest.mark.slow  # a fresh interpreter imports torch and Avalanche (10-20 s here)
def test_console_script_error_has_no_traceback():
    p = subprocess.run([sys.executable, "-c", "import sys; from selfrefresh.cli import main; sys.exit(main())",
                        "run", "--stream", "nope", "--strategy", "naive"], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr and p.stderr.count("\n") == 1


def test_run_resume_compare_and_analyse(tmp_path, capsys, monkeypatch):
    out = tmp_path / "a"
    assert cli.main(["run", *TINY, "--strategy", "naive", "cumulative", "--seeds", "0", "1",
                     "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| speech | naive | 2 |" in printed and "| speech | cumulative | 2 |" in printed
    for f in ("report.md", "report.json", "forgetting_speech.png", "average_speech.png"):
        assert (out / f).is_file(), f
    summary = json.loads((out / "speech" / "cumulative" / "seed1" / "summary.json").read_text())
    assert len(summary["accuracy_matrix"]) == 2 and summary["stored_real_samples"] == 8
    model = torch.load(out / "speech" / "naive" / "seed0" / "model.pt", weights_only=True)
    assert model["stream"] == "speech" and model["stream_kwargs"]["n_voices"] == 4
    assert set(model["model_config"]) >= {"input_size", "hidden_size", "num_classes", "cell"}
    assert model["model_config"]["readout"] == "mean"  # the default, recorded

    # --resume of finished runs: same numbers, nothing retrained
    assert cli.main(["run", *TINY, "--strategy", "cumulative", "--seeds", "1", "--out", str(out),
                     "--resume"]) == 0
    assert json.loads((out / "speech" / "cumulative" / "seed1" / "summary.json").read_text()) == summary

    assert cli.main(["compare", str(out), "--out", str(tmp_path / "cmp")]) == 0
    assert len(json.loads((tmp_path / "cmp" / "report.json").read_text())["runs"]) == 4
    assert (tmp_path / "cmp" / "forgetting_speech.png").stat().st_size > 1000

    seen = {}
    import selfrefresh.analysis.cli as analysis_cli
    monkeypatch.setattr(analysis_cli, "analyse_command", lambda path, out_dir: seen.update(path=path, out=out_dir))
    run = out / "speech" / "naive" / "seed0"
    assert cli.main(["analyse", str(run), "--out", str(tmp_path / "an")]) == 0
    assert seen == {"path": str(run), "out": str(tmp_path / "an")}
    assert cli.main(["analyse", str(out)]) == 2  # several runs below: asks for one
    assert "holds no model.pt" in _error_line(capsys)


def test_demo_uses_speech_selfrefresh_naive_cumulative():
    assert cli.DEMO["stream"] == "speech"
    assert set(cli.DEMO["strategies"]) == {"selfrefresh", "naive", "cumulative"}


@pytest.mark.slow
def test_demo_runs(tmp_path):
    assert cli.main(["demo", "--out", str(tmp_path), "--quiet"]) == 0
    rows = {r["strategy"]: r for r in json.loads((tmp_path / "report.json").read_text())["table"]}
    assert rows["cumulative"]["final_average_accuracy"] > 0.8
    assert rows["naive"]["average_forgetting"] > 0.5


# --------------------------------------------------------------------------- output folders

def _unwritable(monkeypatch):
    """Make every folder read-only for writable_folder's probe (root ignores chmod)."""
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)


def _command_with_out(command, tmp_path, out):
    """argv of ``command`` with ``--out out``, its inputs made in ``tmp_path``."""
    if command == "run":
        return ["run", *TINY, "--strategy", "naive", "--out", str(out)]
    if command == "demo":
        return ["demo", "--quiet", "--out", str(out)]
    if command == "compare":
        summary = tmp_path / "in" / "summary.json"
        summary.parent.mkdir(exist_ok=True)
        summary.write_text(json.dumps({"stream": "s", "strategy": "naive", "seed": 0, "accuracy_matrix": [[1.0]],
                                       "final_average_accuracy": 1.0}))
        return ["compare", str(summary.parent), "--out", str(out)]
    (tmp_path / "model.pt").write_bytes(b"")  # analyse checks the output before reading the model
    return ["analyse", str(tmp_path / "model.pt"), "--out", str(out)]


@pytest.mark.parametrize("command", ["run", "demo", "compare", "analyse"])
@pytest.mark.parametrize("problem", ["file", "read-only"])
def test_unwritable_out_is_one_line_error(command, problem, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    if problem == "file":
        out.write_text("not a folder")
    argv = _command_with_out(command, tmp_path, out)
    if problem == "read-only":
        _unwritable(monkeypatch)
    assert cli.main(argv) == 2
    line = _error_line(capsys)
    assert ("is a file, not a folder" if problem == "file" else f"cannot write to --out {out}: Permission denied") \
        in line
    if problem == "file":
        assert out.read_text() == "not a folder"


# --------------------------------------------------------------------------- arguments

def test_negative_seed_names_the_option_and_creates_nothing(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", *TINY, "--strategy", "naive", "--seeds", "-1", "--out", str(tmp_path / "o")])
    assert exit_.value.code == 2
    assert "argument --seeds: expected a non-negative integer, got -1" in _error_line(capsys)
    assert not (tmp_path / "o").exists()


def test_repeated_strategies_and_seeds_train_once(tmp_path, capsys):
    out = tmp_path / "o"
    assert cli.main(["run", *TINY, "--strategy", "naive", "naive", "--seeds", "0", "0", "--out", str(out),
                     "--log", "tensorboard"]) == 0
    printed = capsys.readouterr().out
    assert "note: --strategy naive given more than once" in printed and "note: --seeds 0 given" in printed
    assert printed.count("speech naive seed 0: final avg acc") == 1
    assert "| speech | naive | 1 |" in printed
    assert len(json.loads((out / "report.json").read_text())["runs"]) == 1
    assert list((out / "tb" / "speech" / "naive" / "seed0").glob("events.out.tfevents.*"))


def test_option_no_chosen_strategy_takes_is_refused(tmp_path, capsys):
    assert cli.main(["run", *TINY, "--strategy", "naive", "--option", "mem_size=5", "--out", str(tmp_path)]) == 2
    assert "--option mem_size: not taken by naive; it is an option of replay" in _error_line(capsys)


def test_missing_data_variable_is_named(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SELFREFRESH_DATA", str(tmp_path / "nonexistent"))
    assert cli.main(["run", "--stream", "japanese-vowels", "--strategy", "naive", "--out", str(tmp_path)]) == 2
    assert f"SELFREFRESH_DATA={tmp_path / 'nonexistent'} is not a folder" in _error_line(capsys)


def test_stream_name_with_underscores(tmp_path, capsys):
    out = tmp_path / "o"
    assert cli.main(["run", "--stream", "japanese_vowels", "--strategy", "naive", "--epochs", "1", "--hidden", "4",
                     "--quiet", "--out", str(out)]) == 0
    assert (out / "japanese-vowels" / "naive" / "seed0" / "summary.json").is_file()
    assert "| japanese-vowels | naive | 1 |" in capsys.readouterr().out


def test_missing_wandb_is_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)
    assert cli.main(["run", *TINY, "--strategy", "naive", "--log", "wandb", "--out", str(tmp_path)]) == 2
    assert "--log wandb needs the wandb package: pip install wandb" in _error_line(capsys)


def test_threads_option_sets_torch_threads(capsys):
    before = torch.get_num_threads()
    try:
        assert cli.main(["run", "--stream", "speech", "--strategy", "nope", "--threads", "2"]) == 2
        assert torch.get_num_threads() == 2
        assert cli.main(["run", "--stream", "speech", "--strategy", "nope"]) == 2
        assert torch.get_num_threads() == 1  # the default
    finally:
        torch.set_num_threads(before)


# --------------------------------------------------------------------------- never lose or mix results

def test_reruns_never_lose_or_mix_results(tmp_path, capsys):
    out = tmp_path / "o"
    base = ["run", *TINY, "--strategy", "naive", "--out", str(out)]
    assert cli.main(base) == 0
    printed = capsys.readouterr().out
    assert len(printed) < 1500 and "Top1_Acc" not in printed  # a short summary, not Avalanche's text log
    summary = out / "speech" / "naive" / "seed0" / "summary.json"
    first = summary.read_bytes()

    assert cli.main(base) == 2  # the same run again, without --resume
    assert "already holds this run; use --resume to continue it or --overwrite" in _error_line(capsys)
    assert cli.main(base + ["--epochs", "2"]) == 2  # other settings in the same folder
    assert "holds a run with other settings (epochs 1 there, 2 here)" in _error_line(capsys)
    assert summary.read_bytes() == first

    assert cli.main(base + ["--epochs", "2", "--seeds", "1"]) == 0  # other settings, another folder
    report = (out / "report.md").read_text()
    assert "| speech | naive (epochs 1) | 1 |" in report and "| speech | naive (epochs 2) | 1 |" in report

    assert cli.main(base + ["--overwrite"]) == 0
    assert json.loads(summary.read_text())["accuracy_matrix"] == json.loads(first)["accuracy_matrix"]

    summary.write_bytes(first[:50])  # truncated, as by a crash of an older version
    capsys.readouterr()
    assert cli.main(base + ["--resume"]) == 2
    assert f"{summary} is damaged: " in _error_line(capsys)
    assert cli.main(["compare", str(out), "--out", str(tmp_path / "cmp")]) == 2
    assert f"{summary} is damaged: " in _error_line(capsys)
