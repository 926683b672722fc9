"""Corrupt files are named in one line and never answered with a hint to unpickle (issue 14)."""
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from selfrefresh._files import CorruptFileError, load_json, load_npz, load_torch_file, read_audio
from selfrefresh.models import AutoHeteroRNN

FSDD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fsdd" / "recordings"
UNSAFE = ("weights_only", "allow_pickle", "pickle", "trust the source")


def _assert_safe(err, *fragments):
    text = str(err.value)
    assert "\n" not in text
    for f in fragments:
        assert f in text, (f, text)
    for hint in UNSAFE:
        assert hint not in text.lower(), text


class Opaque:  # an object torch.load(weights_only=True) must not rebuild
    pass


def _checkpoint(path):
    m = AutoHeteroRNN(2, 3, 2, cell="gru")
    cfg = dict(input_size=2, hidden_size=3, num_classes=2, cell="gru")
    torch.save({"model_config": cfg, "model_state": m.state_dict()}, path)
    return path


@pytest.mark.parametrize("damage", ["random", "truncated", "empty", "text", "object"])
def test_checkpoint_loaders_name_a_damaged_file(tmp_path, damage):
    from selfrefresh.analysis import analyse_command, load_checkpoint
    run = tmp_path / "run"
    run.mkdir()
    path = _checkpoint(run / "model.pt")
    if damage == "random":
        path.write_bytes(np.random.RandomState(0).bytes(300))
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "text":
        path.write_text("not a checkpoint\n")
    else:
        torch.save({"model_config": Opaque(), "model_state": {}}, path)
    for call in (lambda: load_checkpoint(path), lambda: analyse_command(run, progress=False),
                 lambda: load_torch_file(path)):
        with pytest.raises(CorruptFileError) as err:
            call()
        _assert_safe(err, "not a valid selfrefresh checkpoint: ", str(path))
    assert not (run / "analysis").exists()


def test_checkpoint_of_the_wrong_schema(tmp_path):
    from selfrefresh.analysis import load_checkpoint
    path = tmp_path / "c.pt"
    torch.save([1, 2], path)
    with pytest.raises(CorruptFileError, match="expected a dict with 'model_config' and 'model_state', got list"):
        load_checkpoint(path)
    torch.save({"model_config": {"input_size": 2, "hidden_size": 3, "num_classes": 2}, "model_state": {"x": 1}}, path)
    with pytest.raises(CorruptFileError, match="model_state does not match model_config"):
        load_checkpoint(path)
    torch.save({"model_config": {"input_size": -2}, "model_state": {}}, path)
    with pytest.raises(CorruptFileError, match="model_config does not fit AutoHeteroRNN"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        load_checkpoint(tmp_path / "none.pt")


def test_cli_analyse_on_a_corrupt_model_is_one_line(tmp_path, capsys):
    from selfrefresh.cli import main
    path = tmp_path / "model.pt"
    path.write_bytes(b"\x80\x02}q\x00garbage" * 10)
    assert main(["analyse", str(path), "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a valid selfrefresh checkpoint" in err and str(path) in err
    assert "weights_only" not in err


@pytest.mark.parametrize("damage", ["random", "truncated", "object", "npy"])
def test_uea_stream_names_a_damaged_npz(tmp_path, damage):
    from selfrefresh.streams.uea import japanese_vowels, load_uea
    path = tmp_path / "JapaneseVowels.npz"
    if damage == "random":
        path.write_bytes(np.random.RandomState(1).bytes(500))
    elif damage == "truncated":
        np.savez(path, X_train=np.zeros((4, 2, 3)), y_train=np.array(["a"] * 4))
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "object":
        arrays = {k: np.zeros(1) for k in ("y_train", "len_train", "X_test", "y_test", "len_test")}
        np.savez(path, X_train=np.array([{"a": 1}], dtype=object), **arrays)
    else:
        with open(path, "wb") as f:
            np.save(f, np.zeros(3))
    for call in (lambda: load_uea("JapaneseVowels", tmp_path), lambda: japanese_vowels(root=tmp_path)):
        with pytest.raises(CorruptFileError) as err:
            call()
        _assert_safe(err, f"{path} is not a valid .npz archive")


def test_npz_missing_arrays_are_listed(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, a=np.zeros(2))
    with pytest.raises(CorruptFileError, match=r"lacks arrays \['b'\]"):
        load_npz(path, ["a", "b"])
    assert list(load_npz(path)) == ["a"]


@pytest.mark.skipif(not FSDD.is_dir(), reason="FSDD data not present")
@pytest.mark.parametrize("damage", ["random", "empty", "text", "truncated", "data-cut"])
def test_fsdd_names_a_corrupt_wav(tmp_path, damage):
    from selfrefresh.streams.audio import fsdd
    folder = tmp_path / "recordings"
    folder.mkdir()
    for d in (0, 1):
        for take in (0, 5):
            shutil.copy(FSDD / f"{d}_george_{take}.wav", folder)
    bad = folder / "1_george_6.wav"
    if damage == "random":
        bad.write_bytes(np.random.RandomState(2).bytes(800))
    elif damage == "empty":
        bad.write_bytes(b"")
    elif damage == "text":
        bad.write_text("RIFF? no, just text\n")
    elif damage == "truncated":
        bad.write_bytes((FSDD / "1_george_7.wav").read_bytes()[:30])
    else:  # libsndfile would read this as a shorter clip: the declared data size tells it apart
        bad.write_bytes((FSDD / "1_george_7.wav").read_bytes()[:1000])
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(CorruptFileError) as err:
        fsdd(folder, n_experiences=1)
    _assert_safe(err, f"{bad} is not a readable audio file")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_read_audio_refuses_silence_free_but_empty_and_nan_wavs(tmp_path):
    import soundfile as sf
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 8000)
    with pytest.raises(CorruptFileError, match="no samples"):
        read_audio(empty)
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.array([0.0, np.nan, 0.1], np.float32), 8000, subtype="FLOAT")
    with pytest.raises(CorruptFileError, match="NaN or inf samples"):
        read_audio(nan)
    with pytest.raises(FileNotFoundError, match="audio file not found"):
        read_audio(tmp_path / "none.wav")


def test_load_json_names_a_truncated_summary(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text('{"runs": [1, 2')
    with pytest.raises(CorruptFileError, match=rf"not a valid run summary: {path} \(line 1 column"):
        load_json(path, "run summary")
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(CorruptFileError, match="not a valid run summary"):
        load_json(path, "run summary")


def test_damaged_caches_are_rebuilt(tmp_path, monkeypatch):
    """A damaged speech cache is a cache miss, not an error."""
    from selfrefresh.streams import audio
    calls = []

    class FakeTTS:
        sample_rate = 16000

        def synthesize(self, *a, **k):
            calls.append(a)
            return (np.sin(np.arange(1600)) * 8000).astype(np.int16)

        def close(self):
            pass

    import selfrefresh.streams.speech_synth as synth
    monkeypatch.setattr(synth, "load_espeak", lambda *a, **k: FakeTTS())
    clips, _ = audio._synthesize_clips(["yes"], ["en"], [175], [50], tmp_path, "auto", False)
    (cache,) = tmp_path.glob("speech-*.npz")
    cache.write_bytes(b"garbage")
    clips2, _ = audio._synthesize_clips(["yes"], ["en"], [175], [50], tmp_path, "auto", False)
    assert len(calls) == 2 and np.array_equal(clips[0], clips2[0])
    assert load_npz(cache)["audio"].size > 0  # replaced by a valid one


def test_run_checkpoint_loader_gives_no_unsafe_hint(tmp_path):
    from selfrefresh.experiment import load_checkpoint
    path = tmp_path / "checkpoint.pt"
    torch.save({"state": Opaque()}, path)
    with pytest.raises(Exception) as err:  # ExperimentError (an Exception) or CorruptFileError
        load_checkpoint(path)
    _assert_safe(err, str(path))
