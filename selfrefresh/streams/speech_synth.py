"""Offline speech synthesis with espeak-ng.

Two engines with one interface, ``synthesize(text, voice, rate, pitch) -> int16 (L,)`` at
``engine.sample_rate``:

* :class:`EspeakLibrary`: libespeak-ng from the pip wheel ``espeakng-loader`` (bundles the library
  and its voices), driven through ctypes; hundreds of clips a second.
* :class:`EspeakBinary`: the ``espeak-ng`` program (Debian ``espeak-ng``), one process per clip.

:func:`load_espeak` returns the first available. A voice is ``"<dialect>+<variant>"``, e.g.
``"en-us+m3"``; :func:`voice_variants` and :data:`ENGLISH_DIALECTS` list the parts.

libespeak-ng keeps state in static variables that carry from one clip to the next (and that
``espeak_Initialize`` does not reset), so a clip depends on what was spoken before it. For
reproducible data sets, ``EspeakLibrary(fresh=True)`` loads a private copy of the library (its own
state, closed with ``close()`` or a ``with`` block) and every clip reseeds espeak-ng's random
generator: the same sequence of calls then gives the same samples. ``EspeakLibrary.instance()``
is a shared engine for casual use.
"""
from __future__ import annotations

import ctypes
import io
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import List

import numpy as np

__all__ = ["ENGLISH_DIALECTS", "EspeakLibrary", "EspeakBinary", "load_espeak", "list_variants", "voice_variants"]

# espeak-ng English dialects (lang/gmw/en*, without the Shavian-script "en-shaw").
ENGLISH_DIALECTS = ("en", "en-029", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
                    "en-gb-x-rp", "en-us", "en-us-nyc")

# espeak_PARAMETER and espeak_AUDIO_OUTPUT values from speak_lib.h
_RATE, _PITCH = 1, 3
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


def voice_variants(data_path) -> List[str]:
    """Names of the voice variants (files under ``voices/!v``) in an espeak-ng data folder, sorted."""
    folder = Path(data_path) / "voices" / "!v"
    if not folder.is_dir():
        raise FileNotFoundError(f"no espeak-ng voice variants folder at {folder}")
    return sorted(p.name for p in folder.iterdir() if p.is_file() and re.fullmatch(r"[A-Za-z0-9_]+", p.name))


def _check_args(text: str, rate: int, pitch: int) -> None:
    if not text.strip():
        raise ValueError("nothing to synthesise: empty text")
    if not 80 <= rate <= 450:
        raise ValueError(f"rate must be 80-450 words per minute, got {rate}")
    if not 0 <= pitch <= 99:
        raise ValueError(f"pitch must be 0-99, got {pitch}")


class EspeakLibrary:
    """libespeak-ng from ``espeakng-loader`` through ctypes (synchronous mode).

    Args:
        fresh: load a private copy of the shared library, so that its state starts clean
            (see the module docstring); release it with :meth:`close`.
    """

    _instance = None
    _shared_lock = threading.Lock()

    def __init__(self, fresh: bool = False):
        try:
            import espeakng_loader
        except ImportError as e:
            raise ImportError("speech synthesis needs the pip package 'espeakng-loader' "
                              "(pip install espeakng-loader) or the espeak-ng program") from e
        self.data_path = espeakng_loader.get_data_path()
        self._lock = threading.Lock()
        path = espeakng_loader.get_library_path()
        if fresh:  # a copy under another name is loaded as a separate library with its own statics
            folder = tempfile.mkdtemp(prefix="selfrefresh-espeak-")
            copy = os.path.join(folder, "libespeak-ng-private.so")
            shutil.copyfile(path, copy)
            try:
                lib = ctypes.CDLL(copy)
            finally:
                try:
                    os.remove(copy)
                    os.rmdir(folder)
                except OSError:
                    pass
        else:
            lib = ctypes.CDLL(path)
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._reseed = getattr(lib, "espeak_ng_SetRandSeed", None)  # espeak-ng >= 1.52
        if self._reseed is not None:
            self._reseed.argtypes = [ctypes.c_long]
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self.data_path.encode(), 0)
        if rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed (data at {self.data_path})")
        self.sample_rate = int(rate)
        self._chunks: list = []

        def collect(wav, n, events):
            if n > 0 and wav:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0

        self._callback = _CALLBACK(collect)  # keep a reference: the library calls it
        lib.espeak_SetSynthCallback(self._callback)
        self._lib = lib
        self._fresh = fresh

    def close(self) -> None:
        """Release a private (``fresh``) library; the shared one stays loaded."""
        if self._fresh and self._lib is not None:
            with self._lock:
                self._lib.espeak_Terminate()
                import _ctypes
                _ctypes.dlclose(self._lib._handle)
                self._lib = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @classmethod
    def instance(cls) -> "EspeakLibrary":
        """The process-wide engine (libespeak-ng can be initialised once per process)."""
        with cls._shared_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def variants(self) -> List[str]:
        return voice_variants(self.data_path)

    def synthesize(self, text: str, voice: str = "en", rate: int = 175, pitch: int = 50) -> np.ndarray:
        """Speak ``text``: int16 waveform (L,) at ``self.sample_rate``."""
        _check_args(text, rate, pitch)
        with self._lock:
            if self._lib is None:
                raise RuntimeError("this espeak-ng engine was closed")
            if self._reseed is not None:
                self._reseed(0)
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"espeak-ng has no voice {voice!r}")
            self._lib.espeak_SetParameter(_RATE, int(rate), 0)
            self._lib.espeak_SetParameter(_PITCH, int(pitch), 0)
            self._chunks.clear()
            data = text.encode() + b"\0"
            err = self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            self._lib.espeak_Synchronize()
            if err != 0:
                raise RuntimeError(f"espeak_Synth failed with code {err} for {text!r} ({voice})")
            out = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
            self._chunks.clear()
        return out.astype(np.int16)


class EspeakBinary:
    """The ``espeak-ng`` program, one process per clip (``--stdout`` WAV)."""

    def __init__(self, program: str = "espeak-ng"):
        path = shutil.which(program)
        if path is None:
            raise FileNotFoundError(f"no {program!r} program on PATH")
        self.program = path
        version = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
        match = re.search(r"Data at:\s*(\S+)", version)
        self.data_path = match.group(1) if match else None
        self.sample_rate = int(self._run("a", "en", 175, 50)[1])

    def _run(self, text, voice, rate, pitch):
        import soundfile as sf
        wav = subprocess.run([self.program, "--stdout", "-v", voice, "-s", str(rate), "-p", str(pitch), text],
                             capture_output=True, check=True).stdout
        data, sr = sf.read(io.BytesIO(wav), dtype="int16")
        return data, sr

    def variants(self) -> List[str]:
        if self.data_path is None:
            raise RuntimeError("could not find the espeak-ng data folder from 'espeak-ng --version'")
        return voice_variants(self.data_path)

    def close(self) -> None:
        pass

    def synthesize(self, text: str, voice: str = "en", rate: int = 175, pitch: int = 50) -> np.ndarray:
        """Speak ``text``: int16 waveform (L,) at ``self.sample_rate``."""
        _check_args(text, rate, pitch)
        return np.asarray(self._run(text, voice, rate, pitch)[0], dtype=np.int16).reshape(-1)


def load_espeak(engine: str = "auto", fresh: bool = False):
    """An espeak-ng engine: ``"library"`` (espeakng-loader), ``"binary"`` (espeak-ng program),
    or ``"auto"`` (the library, else the program). ``fresh``: a private library with clean state
    (close it after use), else the shared one."""
    if engine not in ("auto", "library", "binary"):
        raise ValueError(f"unknown engine {engine!r}; choose 'auto', 'library' or 'binary'")
    if engine == "binary":
        return EspeakBinary()
    try:
        return EspeakLibrary(fresh=True) if fresh else EspeakLibrary.instance()
    except (ImportError, OSError) as lib_error:
        if engine == "library":
            raise
        try:
            return EspeakBinary()
        except FileNotFoundError:
            raise ImportError("speech synthesis needs espeak-ng: pip install espeakng-loader, "
                              f"or install the espeak-ng program ({lib_error})") from lib_error


def list_variants(engine: str = "auto") -> List[str]:
    """The voice variants available to ``engine``, without loading the library."""
    if engine in ("auto", "library"):
        try:
            import espeakng_loader
            return voice_variants(espeakng_loader.get_data_path())
        except ImportError:
            if engine == "library":
                raise ImportError("the 'library' engine needs the pip package 'espeakng-loader'") from None
    return load_espeak("binary").variants()
