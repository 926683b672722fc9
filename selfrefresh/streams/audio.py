"""Class-incremental spoken-word streams: synthetic speech commands, FSDD, Google Speech Commands.

Every stream turns 16 kHz clips of fixed length (``clip_duration``, 1 s by default, zero-padded or
cropped around the centre) into log-mel (``features="logmel"``, F = ``n_mels`` = 40) or MFCC
(``features="mfcc"``, F = ``n_mfcc`` = 13) frames every 10 ms: x is (T, F) with
T = 1 + 100 * clip_duration (101 for 1 s). Features are standardised per feature with the mean and
standard deviation of the FIRST experience's training data only (no peeking at later classes); the
fitted :class:`~selfrefresh.streams.features.Standardizer` is ``benchmark.standardizer``.

The benchmarks also carry ``input_size`` (F), ``seq_len`` (T), ``num_classes``, ``class_names``,
``class_order`` and ``sample_rate``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .._files import CorruptFileError, load_npz, read_audio
from .base import class_incremental_stream, default_data_root, first_experience_classes
from .features import SAMPLE_RATE, Standardizer, audio_features, fix_length, resample, waveforms_to_features

__all__ = ["SPEECH_COMMANDS_WORDS", "DEFAULT_WORDS", "synthetic_speech_commands", "fsdd", "speech_commands",
           "select_voices", "default_cache_dir", "load_wav"]

# The 35 words of Google Speech Commands v0.02.
SPEECH_COMMANDS_WORDS = (
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward", "four", "go",
    "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one", "right", "seven",
    "sheila", "six", "stop", "three", "tree", "two", "up", "visual", "wow", "yes", "zero")
DEFAULT_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")

_CACHE_VERSION = 1


# --------------------------------------------------------------------------- shared pieces

def default_cache_dir() -> Path:
    """``$SELFREFRESH_CACHE``, else ``~/.cache/selfrefresh``."""
    return Path(os.environ.get("SELFREFRESH_CACHE") or Path.home() / ".cache" / "selfrefresh").expanduser()


def load_wav(path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read a WAV/FLAC file with soundfile (no FFmpeg): float32 mono (L,) resampled to ``sample_rate``.

    An empty, corrupt or non-audio file raises :class:`~selfrefresh._files.CorruptFileError`
    (a ``ValueError``) naming it.
    """
    data, rate = read_audio(path, dtype="float32")
    return resample(data.mean(axis=1), rate, sample_rate)


def _check_words(words: Sequence[str]) -> list:
    words = [str(w) for w in words]
    if not words:
        raise ValueError("no words given")
    if len(set(words)) != len(words):
        raise ValueError(f"duplicate words in {words}")
    return words


def _audio_benchmark(train_wave, train_y, test_wave, test_y, *, class_names, features, n_mels, n_mfcc,
                     n_experiences, class_order, seed):
    """(N, L) 16 kHz waveforms -> standardised features -> class-incremental benchmark."""
    front_end = audio_features(features, n_mels=n_mels, n_mfcc=n_mfcc)
    train_y, test_y = np.asarray(train_y, np.int64), np.asarray(test_y, np.int64)
    first = first_experience_classes(len(class_names), n_experiences, class_order, seed)
    train_x = waveforms_to_features(train_wave, front_end)
    test_x = waveforms_to_features(test_wave, front_end)
    fit_on = np.isin(train_y, first)
    if not fit_on.any():
        raise ValueError(f"no training clips of the first experience's classes {first}")
    standardizer = Standardizer().fit(train_x[fit_on])
    benchmark = class_incremental_stream(standardizer(train_x), train_y, standardizer(test_x), test_y,
                                         n_experiences=n_experiences, class_order=class_order, seed=seed,
                                         class_names=class_names)
    benchmark.standardizer = standardizer
    benchmark.sample_rate = SAMPLE_RATE
    return benchmark


# --------------------------------------------------------------------------- synthetic speech

def select_voices(variants: Sequence[str], n_voices: int, n_test: int, seed: int = 0):
    """Pick ``n_voices`` espeak-ng voices ``"<dialect>+<variant>"``, each with its own variant.

    Returns ``(train_voices, test_voices)``; the last ``n_test`` picked are the test voices, so a
    test voice's variant (its timbre) is never heard in training.
    """
    from .speech_synth import ENGLISH_DIALECTS
    variants = sorted(variants)
    if not 1 <= n_voices <= len(variants):
        raise ValueError(f"n_voices must be 1..{len(variants)} (one voice per espeak-ng variant), got {n_voices}")
    if not 1 <= n_test < n_voices:
        raise ValueError(f"need at least one training and one test voice, got {n_voices} voices, {n_test} for test")
    rng = np.random.RandomState(seed)
    chosen = [variants[i] for i in rng.permutation(len(variants))[:n_voices]]
    dialects = rng.choice(len(ENGLISH_DIALECTS), size=n_voices)
    voices = [f"{ENGLISH_DIALECTS[d]}+{v}" for d, v in zip(dialects, chosen)]
    return voices[:n_voices - n_test], voices[n_voices - n_test:]


def _trim(clip: np.ndarray, sample_rate: int, threshold: float = 0.02, margin: float = 0.01) -> np.ndarray:
    """Cut leading and trailing silence (below ``threshold`` x peak), keeping ``margin`` seconds."""
    loud = np.flatnonzero(np.abs(clip) > threshold * max(np.abs(clip).max(), 1e-9))
    if loud.size == 0:
        return clip
    pad = int(margin * sample_rate)
    return clip[max(loud[0] - pad, 0):loud[-1] + pad + 1]


def _synthesize_clips(words, voices, speeds, pitches, cache_dir, engine, progress):
    """Clean 16 kHz int16 clips for every (voice, word, speed, pitch), cached on disk.

    Returns (list of int16 arrays, meta int64 (N, 4) of voice, word, speed and pitch indices).
    """
    key = json.dumps({"v": _CACHE_VERSION, "words": list(words), "voices": list(voices),
                      "speeds": [int(s) for s in speeds], "pitches": [int(p) for p in pitches],
                      "rate": SAMPLE_RATE, "engine": engine}, sort_keys=True)
    path = None
    if cache_dir is not False:
        folder = default_cache_dir() if cache_dir is None else Path(cache_dir).expanduser()
        path = folder / f"speech-{hashlib.sha1(key.encode()).hexdigest()[:16]}.npz"
        if path.is_file():
            try:
                data = load_npz(path, ("key", "audio", "offsets", "meta"), what="speech cache")
            except CorruptFileError:
                data = None  # a damaged cache file is a cache miss: synthesised again and replaced
            if data is not None and str(data["key"]) == key:
                audio, bounds = data["audio"], data["offsets"]
                return [audio[a:b] for a, b in zip(bounds[:-1], bounds[1:])], data["meta"]

    from tqdm.auto import tqdm
    from .speech_synth import load_espeak
    jobs = [(v, w, s, p) for v in range(len(voices)) for w in range(len(words))
            for s in range(len(speeds)) for p in range(len(pitches))]
    clips = []
    tts = load_espeak(engine, fresh=True)  # clean library state: the same jobs give the same samples
    try:
        for v, w, s, p in tqdm(jobs, desc="espeak-ng", unit="clip", disable=not progress):
            raw = tts.synthesize(words[w], voices[v], rate=int(speeds[s]), pitch=int(pitches[p]))
            wave = _trim(raw.astype(np.float32) / 32768.0, tts.sample_rate)
            wave = resample(wave, tts.sample_rate, SAMPLE_RATE)
            clips.append(np.clip(np.round(wave * 32767.0), -32768, 32767).astype(np.int16))
    finally:
        tts.close()
    meta = np.asarray(jobs, dtype=np.int64)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        offsets = np.concatenate([[0], np.cumsum([len(c) for c in clips])])
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
        np.savez(tmp, key=np.asarray(key), audio=np.concatenate(clips), offsets=offsets, meta=meta)
        os.replace(tmp, path)
    return clips, meta


def _pink_noise(rng: np.random.RandomState, length: int) -> np.ndarray:
    """Unit-variance 1/f noise (L,)."""
    spectrum = np.fft.rfft(rng.standard_normal(length))
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1.0))
    noise = np.fft.irfft(spectrum, n=length)
    return (noise / (noise.std() + 1e-12)).astype(np.float32)


def _place_clips(clips, length, augment, rng, noise_snr_db, max_shift, gain_db):
    """int16 clips -> float (N, length), centred; with ``augment``: gain, time shift, pink noise."""
    out = np.zeros((len(clips), length), dtype=np.float32)
    for i, clip in enumerate(clips):
        wave = clip.astype(np.float32) / 32768.0
        offset = 0
        if augment:
            wave = wave * 10.0 ** (rng.uniform(*gain_db) / 20.0)
            shift = int(max_shift * SAMPLE_RATE)
            offset = rng.randint(-shift, shift + 1) if shift else 0
        power = max(float(np.mean(wave ** 2)), 1e-10)  # of the speech, before placing it
        wave = fix_length(wave, length, align="center", offset=offset)
        if augment:
            snr = rng.uniform(*noise_snr_db)
            wave = wave + _pink_noise(rng, length) * np.float32(np.sqrt(power / 10.0 ** (snr / 10.0)))
        out[i] = wave
    return out


def synthetic_speech_commands(words: Sequence[str] = DEFAULT_WORDS, n_voices: int = 40,
                              speeds: Sequence[int] = (130, 175, 220), pitches: Sequence[int] = (50,),
                              test_voices: int = 10, augment: bool = False,
                              noise_snr_db=(10.0, 30.0), max_shift: float = 0.1, gain_db=(-6.0, 6.0),
                              features: str = "logmel", n_mels: int = 40, n_mfcc: int = 13,
                              clip_duration: float = 1.0, n_experiences: int = 5,
                              class_order: Optional[Sequence[int]] = None, seed: int = 0,
                              cache_dir=None, engine: str = "auto", progress: bool = True):
    """Spoken keywords synthesised offline with espeak-ng, one class per word.

    Every voice says every word at every speed (words per minute) and pitch (0-99). Voices are
    ``"<dialect>+<variant>"`` with a distinct espeak-ng variant each (:func:`select_voices`, seeded);
    ``test_voices`` of them make the test set only: test voices are never training voices. The
    clean clips are synthesised once and cached under ``cache_dir`` (default
    :func:`default_cache_dir`; ``False`` for no cache), keyed by words, voices, speeds and pitches.

    With ``augment`` every clip (train and test) gets a random gain in ``gain_db``, a time shift of
    up to ``max_shift`` seconds and pink background noise at an SNR in ``noise_snr_db``, drawn from
    ``seed``.

    Default sizes: 10 words x 40 voices x 3 speeds = 1200 clips, 900 train (30 voices) and 300 test
    (10 voices), 5 experiences of 2 words.

    Returns:
        An Avalanche benchmark; x is (T, F) = (101, 40) by default (see the module docstring),
        also carrying ``train_voices`` and ``test_voices``.
    """
    words = _check_words(words)
    speeds, pitches = [int(s) for s in speeds], [int(p) for p in pitches]
    if not speeds or not pitches:
        raise ValueError("need at least one speed and one pitch")
    if clip_duration <= 0:
        raise ValueError(f"clip_duration must be positive, got {clip_duration}")
    from .speech_synth import list_variants
    train_voices, test_voice_names = select_voices(list_variants(engine), n_voices, test_voices, seed)
    voices = train_voices + test_voice_names
    clips, meta = _synthesize_clips(words, voices, speeds, pitches, cache_dir, engine, progress)
    rng = np.random.RandomState(seed)
    waves = _place_clips(clips, int(round(clip_duration * SAMPLE_RATE)), augment, rng,
                         noise_snr_db, max_shift, gain_db)
    labels = meta[:, 1]
    is_test = meta[:, 0] >= len(train_voices)
    benchmark = _audio_benchmark(waves[~is_test], labels[~is_test], waves[is_test], labels[is_test],
                                 class_names=words, features=features, n_mels=n_mels, n_mfcc=n_mfcc,
                                 n_experiences=n_experiences, class_order=class_order, seed=seed)
    benchmark.train_voices = train_voices
    benchmark.test_voices = test_voice_names
    return benchmark


# --------------------------------------------------------------------------- FSDD

_FSDD_NAME = re.compile(r"(\d)_([A-Za-z]+)_(\d+)\.wav")


def _fsdd_folder(root) -> Path:
    if root is None:
        root = default_data_root() / "fsdd" / "recordings"
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"FSDD folder not found: {root}")
    if not any(_FSDD_NAME.fullmatch(p.name) for p in root.iterdir()) and (root / "recordings").is_dir():
        root = root / "recordings"
    return root


def fsdd(root=None, split: str = "takes", test_speakers: Optional[Sequence[str]] = None,
         speakers: Optional[Sequence[str]] = None, digits: Optional[Sequence[int]] = None,
         max_takes: Optional[int] = None, features: str = "logmel", n_mels: int = 40, n_mfcc: int = 13,
         clip_duration: float = 1.0, n_experiences: int = 5, class_order: Optional[Sequence[int]] = None,
         seed: int = 0):
    """The Free Spoken Digit Dataset from a folder of ``{digit}_{speaker}_{take}.wav`` (8 kHz, resampled).

    Args:
        root: the ``recordings`` folder (or its parent); default ``<data root>/fsdd/recordings``
            (see :func:`~selfrefresh.streams.base.default_data_root`).
        split: ``"takes"`` (upstream: takes 0-4 test, the rest train) or ``"speaker"`` (the
            ``test_speakers`` are held out; default one speaker drawn from ``seed``).
        speakers: keep only these speakers; digits: keep only these digits (labels are the
            position in ``sorted(digits)``); max_takes: keep takes below this number.

    Returns:
        An Avalanche benchmark; x is (T, F) = (101, 40) by default, class names ``"0"``..``"9"``.
    """
    folder = _fsdd_folder(root)
    files = []
    for p in sorted(folder.iterdir()):
        m = _FSDD_NAME.fullmatch(p.name)
        if m:
            files.append((p, int(m.group(1)), m.group(2), int(m.group(3))))
    if not files:
        raise FileNotFoundError(f"no {{digit}}_{{speaker}}_{{take}}.wav files in {folder}")
    all_speakers = sorted({f[2] for f in files})
    if speakers is not None:
        unknown = set(speakers) - set(all_speakers)
        if unknown:
            raise ValueError(f"unknown FSDD speakers {sorted(unknown)}; found {all_speakers}")
        files = [f for f in files if f[2] in set(speakers)]
    digits = sorted({f[1] for f in files}) if digits is None else sorted(int(d) for d in digits)
    files = [f for f in files if f[1] in digits and (max_takes is None or f[3] < max_takes)]
    if split == "takes":
        is_test = np.array([f[3] < 5 for f in files])
    elif split == "speaker":
        present = sorted({f[2] for f in files})
        if test_speakers is None:
            test_speakers = [present[np.random.RandomState(seed).randint(len(present))]]
        unknown = set(test_speakers) - set(present)
        if unknown:
            raise ValueError(f"unknown test speakers {sorted(unknown)}; found {present}")
        is_test = np.array([f[2] in set(test_speakers) for f in files])
    else:
        raise ValueError(f"unknown split {split!r}; choose 'takes' or 'speaker'")
    if is_test.all() or not is_test.any():
        raise ValueError(f"split {split!r} leaves an empty train or test set in {folder}")
    labels = np.array([digits.index(f[1]) for f in files])
    missing = set(range(len(digits))) - set(labels[~is_test].tolist())
    if missing:
        raise ValueError(f"no training recordings of digits {sorted(digits[i] for i in missing)} in {folder}")
    length = int(round(clip_duration * SAMPLE_RATE))
    waves = np.stack([fix_length(load_wav(f[0]), length) for f in files])
    benchmark = _audio_benchmark(waves[~is_test], labels[~is_test], waves[is_test], labels[is_test],
                                 class_names=[str(d) for d in digits], features=features, n_mels=n_mels,
                                 n_mfcc=n_mfcc, n_experiences=n_experiences, class_order=class_order, seed=seed)
    benchmark.test_speakers = sorted({f[2] for f, t in zip(files, is_test) if t}) if split == "speaker" else None
    return benchmark


# --------------------------------------------------------------------------- Google Speech Commands

def _speech_commands_folder(root) -> Path:
    root = Path(root).expanduser()
    for folder in (root, root / "SpeechCommands" / "speech_commands_v0.02"):
        if (folder / "testing_list.txt").is_file():
            return folder
    raise FileNotFoundError(f"no Speech Commands folder at {root}: expected testing_list.txt and "
                            f"validation_list.txt in it or in {root / 'SpeechCommands' / 'speech_commands_v0.02'}")


def _read_list(folder: Path, name: str) -> set:
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(f"Speech Commands list file missing: {path}")
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def speech_commands(root, words: Sequence[str] = DEFAULT_WORDS, max_per_class: Optional[int] = None,
                    features: str = "logmel", n_mels: int = 40, n_mfcc: int = 13, clip_duration: float = 1.0,
                    n_experiences: int = 5, class_order: Optional[Sequence[int]] = None, seed: int = 0):
    """Google Speech Commands (v0.02 layout), one class per word; nothing is downloaded.

    ``root`` is the extracted folder (word folders, ``validation_list.txt``, ``testing_list.txt``),
    or torchaudio's ``SPEECHCOMMANDS`` root holding ``SpeechCommands/speech_commands_v0.02``.
    Splits follow torchaudio's ``SPEECHCOMMANDS``: test = ``testing_list.txt``, train = every clip
    in neither list (the validation clips are not used). WAVs are read with soundfile.
    ``max_per_class`` keeps a seeded random subset of each word in each split.

    Returns:
        An Avalanche benchmark; x is (T, F) = (101, 40) by default, class names = ``words``.
    """
    words = _check_words(words)
    folder = _speech_commands_folder(root)
    held_out = _read_list(folder, "validation_list.txt") | _read_list(folder, "testing_list.txt")
    testing = _read_list(folder, "testing_list.txt")
    rng = np.random.RandomState(seed)
    split_files = {"train": ([], []), "test": ([], [])}
    for label, word in enumerate(words):
        word_dir = folder / word
        if not word_dir.is_dir():
            raise FileNotFoundError(f"Speech Commands word folder missing: {word_dir}")
        names = sorted(f"{word}/{p.name}" for p in word_dir.glob("*.wav") if "_nohash_" in p.name)
        for split, chosen in (("train", [n for n in names if n not in held_out]),
                              ("test", [n for n in names if n in testing])):
            if not chosen:
                raise ValueError(f"no {split} clips of {word!r} in {folder}")
            if max_per_class is not None and len(chosen) > max_per_class:
                chosen = [chosen[i] for i in sorted(rng.choice(len(chosen), max_per_class, replace=False))]
            split_files[split][0].extend(chosen)
            split_files[split][1].extend([label] * len(chosen))
    length = int(round(clip_duration * SAMPLE_RATE))
    waves = {s: np.stack([fix_length(load_wav(folder / n), length) for n in split_files[s][0]])
             for s in split_files}
    return _audio_benchmark(waves["train"], split_files["train"][1], waves["test"], split_files["test"][1],
                            class_names=words, features=features, n_mels=n_mels, n_mfcc=n_mfcc,
                            n_experiences=n_experiences, class_order=class_order, seed=seed)
