"""Audio streams: features, espeak-ng synthesis, synthetic speech commands, FSDD, Speech Commands."""
import numpy as np
import pytest
import torch

from selfrefresh.streams import base, get_stream
from selfrefresh.streams import audio
from selfrefresh.streams.features import LogMel, MFCC, audio_features, fix_length, resample

from conftest import FSDD, needs_fsdd

SMALL = dict(words=("yes", "no", "up"), n_voices=5, test_voices=2, speeds=(150, 200), n_experiences=3,
             progress=False)


def stack(stream):
    pairs = [base.experience_tensors(exp) for exp in stream]
    return [p[0] for p in pairs], [p[1] for p in pairs]


# ----------------------------------------------------------------- features

def test_front_ends_shapes():
    wave = torch.randn(2, 16000, generator=torch.Generator().manual_seed(0))
    assert LogMel(n_mels=40)(wave).shape == (2, 101, 40)
    assert MFCC(n_mfcc=13)(wave).shape == (2, 101, 13)
    assert audio_features("mfcc", n_mfcc=20).num_features == 20
    with pytest.raises(ValueError, match="unknown features"):
        audio_features("wavelet")


def test_fix_length_and_resample():
    x = np.arange(1, 5, dtype=np.float32)
    np.testing.assert_array_equal(fix_length(x, 8), [0, 0, 1, 2, 3, 4, 0, 0])
    np.testing.assert_array_equal(fix_length(x, 8, align="start", offset=5), [0, 0, 0, 0, 0, 1, 2, 3])
    np.testing.assert_array_equal(fix_length(x, 2), [2, 3])
    tone = np.sin(2 * np.pi * 440 * np.arange(8000) / 8000).astype(np.float32)
    up = resample(tone, 8000, 16000)
    assert up.shape == (16000,)
    spectrum = np.abs(np.fft.rfft(up))
    assert abs(np.argmax(spectrum) - 440) <= 1  # 1 Hz bins over 1 s


# ----------------------------------------------------------------- espeak-ng

def test_espeak_library_and_voices():
    from selfrefresh.streams.speech_synth import EspeakLibrary, load_espeak
    tts = load_espeak("library")
    assert tts is EspeakLibrary.instance() and tts.sample_rate == 22050
    a = tts.synthesize("yes", "en+m3", rate=175, pitch=50)
    b = tts.synthesize("yes", "en-us+f2", rate=175, pitch=50)
    slow = tts.synthesize("yes", "en+m3", rate=100, pitch=50)
    assert a.dtype == np.int16 and 0.15 < len(a) / tts.sample_rate < 1.5
    assert len(slow) > 1.2 * len(a)
    assert not np.array_equal(a[:len(b)], b[:len(a)])
    # libespeak-ng carries state between clips: private (fresh) engines replay the same sequence exactly
    runs = []
    for _ in range(2):
        with load_espeak("library", fresh=True) as private:
            runs.append([private.synthesize(w, "en-us+f2", rate=r) for w in ("no", "go") for r in (130, 200)])
    for x, y in zip(*runs):
        np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match="rate"):
        tts.synthesize("yes", rate=10)
    with pytest.raises(ValueError, match="no voice"):
        tts.synthesize("yes", "zz-nonexistent")
    assert len(tts.variants()) > 90


def test_select_voices_disjoint_and_seeded():
    variants = [f"v{i}" for i in range(20)]
    train, test = audio.select_voices(variants, 12, 3, seed=1)
    assert len(train) == 9 and len(test) == 3
    train_variants = {v.split("+")[1] for v in train}
    assert len(train_variants) == 9 and not train_variants & {v.split("+")[1] for v in test}
    assert audio.select_voices(variants, 12, 3, seed=1) == (train, test)
    assert audio.select_voices(variants, 12, 3, seed=2) != (train, test)
    with pytest.raises(ValueError, match="n_voices"):
        audio.select_voices(variants, 21, 3)


# ----------------------------------------------------------------- synthetic speech commands

def test_synthetic_speech_small_stream(tmp_path, monkeypatch):
    b = get_stream("speech")(cache_dir=tmp_path, **SMALL)
    assert (b.input_size, b.seq_len, b.num_classes) == (40, 101, 3)
    assert b.class_names == ["yes", "no", "up"]
    assert len(b.train_voices) == 3 and len(b.test_voices) == 2
    assert not set(b.train_voices) & set(b.test_voices)
    xs, ys = stack(b.train_stream)
    assert [y.tolist() for y in ys] == [[0] * 6, [1] * 6, [2] * 6]  # 3 voices x 2 speeds
    assert [len(e.dataset) for e in b.test_stream] == [4, 4, 4]  # 2 voices x 2 speeds
    # standardised on the first experience only
    assert xs[0].mean((0, 1)).abs().max() < 1e-4
    assert (xs[0].std((0, 1)) - 1).abs().max() < 0.05
    assert len(list(tmp_path.glob("speech-*.npz"))) == 1

    # the second build reads the cache (no synthesis) and is identical
    from selfrefresh.streams.speech_synth import EspeakLibrary

    def fail(*args, **kwargs):
        raise AssertionError("synthesised although cached")
    monkeypatch.setattr(EspeakLibrary, "synthesize", fail)
    again = get_stream("speech")(cache_dir=tmp_path, **SMALL)
    assert torch.equal(stack(again.train_stream)[0][2], xs[2])
    assert torch.equal(stack(again.test_stream)[0][0], stack(b.test_stream)[0][0])
    monkeypatch.undo()
    # without a cache, synthesis gives the same samples again
    uncached = get_stream("speech")(cache_dir=False, **SMALL)
    assert torch.equal(stack(uncached.train_stream)[0][1], xs[1])


def test_synthetic_speech_options(tmp_path):
    clean = audio.synthetic_speech_commands(cache_dir=tmp_path, **SMALL)
    aug = audio.synthetic_speech_commands(cache_dir=tmp_path, augment=True, **SMALL)
    aug2 = audio.synthetic_speech_commands(cache_dir=tmp_path, augment=True, **SMALL)
    x_clean, x_aug = stack(clean.train_stream)[0][1], stack(aug.train_stream)[0][1]
    assert (x_clean - x_aug).abs().mean() > 0.1
    assert torch.equal(x_aug, stack(aug2.train_stream)[0][1])
    mfcc = audio.synthetic_speech_commands(cache_dir=tmp_path, features="mfcc", class_order=[2, 0, 1], **SMALL)
    assert mfcc.input_size == 13 and mfcc.class_order == [2, 0, 1]
    assert stack(mfcc.train_stream)[1][0].unique().tolist() == [2]
    with pytest.raises(ValueError, match="duplicate"):
        audio.synthetic_speech_commands(cache_dir=tmp_path, **{**SMALL, "words": ("yes", "yes", "no")})
    with pytest.raises(ValueError, match="split evenly"):
        audio.synthetic_speech_commands(cache_dir=tmp_path, **{**SMALL, "n_experiences": 2})


def test_synthetic_speech_is_learnable_on_held_out_voices(tmp_path):
    from sklearn.linear_model import LogisticRegression
    b = audio.synthetic_speech_commands(words=("yes", "no", "up"), n_voices=12, test_voices=4, speeds=(150, 200),
                                        n_experiences=3, cache_dir=tmp_path, progress=False)

    def pooled(stream):
        xs, ys = stack(stream)
        x = torch.cat(xs)
        return torch.cat([x.mean(1), x.std(1)], 1).numpy(), torch.cat(ys).numpy()
    clf = LogisticRegression(max_iter=2000).fit(*pooled(b.train_stream))
    acc = clf.score(*pooled(b.test_stream))
    assert acc > 0.6, acc  # chance 0.33; test voices are unseen


# ----------------------------------------------------------------- FSDD

@needs_fsdd
def test_fsdd_takes_and_speaker_splits():
    b = get_stream("fsdd")(FSDD, digits=(3, 7), speakers=("george", "jackson"), n_experiences=2)
    assert (b.input_size, b.seq_len, b.num_classes) == (40, 101, 2) and b.class_names == ["3", "7"]
    assert [len(e.dataset) for e in b.train_stream] == [10, 10]  # 2 speakers x takes 5-9
    assert [len(e.dataset) for e in b.test_stream] == [10, 10]  # takes 0-4
    s = audio.fsdd(FSDD, split="speaker", test_speakers=["george"], digits=(0, 1, 2), max_takes=4,
                   n_experiences=3, features="mfcc")
    assert s.test_speakers == ["george"] and s.input_size == 13
    assert sum(len(e.dataset) for e in s.test_stream) == 3 * 4  # george only
    assert sum(len(e.dataset) for e in s.train_stream) == 3 * 4 * 5  # the 5 other speakers
    default = audio.fsdd(split="speaker", digits=(0, 1), max_takes=2, n_experiences=1, seed=3)
    assert len(default.test_speakers) == 1
    with pytest.raises(ValueError, match="unknown FSDD speakers"):
        audio.fsdd(FSDD, speakers=("nobody",))


def test_fsdd_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="FSDD folder not found: .*missing"):
        audio.fsdd(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no .* files"):
        audio.fsdd(tmp_path)


# ----------------------------------------------------------------- Google Speech Commands

def make_speech_commands(folder, words=("yes", "no", "up"), n=6, seed=0):
    """Tiny v0.02 layout: n clips per word, clip 0 in testing_list, clip 1 in validation_list."""
    import soundfile as sf
    rng = np.random.RandomState(seed)
    test, val = [], []
    for k, word in enumerate(words):
        (folder / word).mkdir(parents=True)
        for i in range(n):
            t = np.arange(int(16000 * rng.uniform(0.5, 1.0))) / 16000
            wave = 0.3 * np.sin(2 * np.pi * (300 + 400 * k) * t) + 0.01 * rng.randn(len(t))
            name = f"{word}/spk{i:02d}ab_nohash_0.wav"
            sf.write(folder / name, wave.astype(np.float32), 16000, subtype="PCM_16")
            (test if i == 0 else val if i == 1 else []).append(name)
    (folder / "_background_noise_").mkdir()
    sf.write(folder / "_background_noise_" / "white_noise.wav", rng.randn(16000).astype(np.float32) * 0.1, 16000)
    (folder / "testing_list.txt").write_text("\n".join(test) + "\n")
    (folder / "validation_list.txt").write_text("\n".join(val) + "\n")


def test_speech_commands_tiny_folder(tmp_path):
    import torchaudio
    folder = tmp_path / "SpeechCommands" / "speech_commands_v0.02"
    make_speech_commands(folder)
    b = get_stream("speech-commands")(tmp_path, words=("yes", "no", "up"), n_experiences=3)
    assert (b.input_size, b.seq_len, b.num_classes) == (40, 101, 3)
    assert [len(e.dataset) for e in b.train_stream] == [4, 4, 4]  # 6 - 1 test - 1 validation
    assert [len(e.dataset) for e in b.test_stream] == [1, 1, 1]
    # same split as torchaudio's SPEECHCOMMANDS
    ta_train = torchaudio.datasets.SPEECHCOMMANDS(tmp_path, download=False, subset="training")
    assert len(ta_train) == 12
    # the extracted folder itself works too; word subset and per-class cap
    small = audio.speech_commands(folder, words=("up", "yes"), max_per_class=2, n_experiences=2)
    assert [len(e.dataset) for e in small.train_stream] == [2, 2] and small.class_names == ["up", "yes"]
    # classes are separable tones: nearest class mean on the test set is perfect
    xs, _ = stack(b.train_stream)
    means = torch.stack([x.amax(1).mean(0) for x in xs])  # per-band peak over time, class mean
    test_x, test_y = stack(b.test_stream)
    pred = ((torch.cat(test_x).amax(1)[:, None] - means[None]) ** 2).sum(2).argmin(1)
    assert torch.equal(pred, torch.cat(test_y))


def test_speech_commands_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no Speech Commands folder"):
        audio.speech_commands(tmp_path)
    make_speech_commands(tmp_path, words=("yes", "no"))
    with pytest.raises(FileNotFoundError, match="word folder missing: .*stop"):
        audio.speech_commands(tmp_path, words=("yes", "stop"), n_experiences=1)
    (tmp_path / "validation_list.txt").unlink()
    with pytest.raises(FileNotFoundError, match="validation_list.txt"):
        audio.speech_commands(tmp_path, words=("yes", "no"), n_experiences=1)
