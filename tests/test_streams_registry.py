"""The streams' registry: names in both spellings, presets, and the deprecated selfrefresh.benchmarks alias."""
import importlib
import sys
import warnings

import pytest

from selfrefresh.experiment import ExperimentError, STREAM_PRESETS, stream_kwargs_for
from selfrefresh.streams import registry
from selfrefresh.streams.registry import STREAM_NAMES, STREAMS, get_stream, stream_preset, stream_spec


@pytest.mark.parametrize("name", STREAM_NAMES)
def test_every_stream_resolves_in_both_spellings(name):
    spec = stream_spec(name)
    assert stream_spec(name.replace("-", "_")) is spec and stream_spec(name.upper()) is spec
    assert callable(get_stream(name.replace("-", "_"))) and get_stream(name).__name__ == spec.function
    assert stream_preset(name, "full") == {}
    assert isinstance(stream_preset(name, "small"), dict)


def test_presets_and_errors():
    assert stream_preset("fsdd", "small")["n_experiences"] == 3
    assert STREAM_PRESETS["moving-actions"] == STREAMS["moving-actions"].presets["small"]
    p = stream_preset("speech", "small")
    p["n_voices"] = 1  # a copy: the registry is not changed
    assert stream_preset("speech", "small")["n_voices"] == 24
    with pytest.raises(ValueError, match="unknown stream 'nope'"):
        stream_spec("nope")
    with pytest.raises(ValueError, match="size must be 'full' or 'small'"):
        stream_preset("fsdd", "huge")
    with pytest.raises(ExperimentError, match="size must be 'full' or 'small'"):
        stream_kwargs_for("fsdd", "huge")
    assert stream_kwargs_for("japanese_vowels", "small", progress=False) == \
        stream_kwargs_for("japanese-vowels", "small", progress=False)


def test_registry_module_is_light():
    # the registry names functions by module: it imports none of the stream modules itself
    src = open(registry.__file__).read()
    assert "from ." not in src and "import audio" not in src


def test_benchmarks_alias_warns_and_shares_modules():
    for mod in [m for m in sys.modules if m == "selfrefresh.benchmarks" or m.startswith("selfrefresh.benchmarks.")]:
        del sys.modules[mod]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = importlib.import_module("selfrefresh.benchmarks")
    assert any(issubclass(w.category, DeprecationWarning) and "selfrefresh.streams" in str(w.message) for w in caught)
    import selfrefresh.streams as streams
    import selfrefresh.streams.uea as uea
    from selfrefresh.benchmarks.uea import japanese_vowels
    assert japanese_vowels is uea.japanese_vowels
    assert sys.modules["selfrefresh.benchmarks.uea"] is uea and uea.__spec__.name == "selfrefresh.streams.uea"
    assert old.get_stream is streams.get_stream and old.STREAM_NAMES == streams.STREAM_NAMES
    assert old.class_incremental_stream is streams.class_incremental_stream
