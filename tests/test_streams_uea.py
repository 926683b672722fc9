"""UEA streams (JapaneseVowels, BasicMotions) and the shared stream helpers in benchmarks.base."""
import numpy as np
import pytest
import torch

from selfrefresh.streams import base, get_stream
from selfrefresh.streams.features import Standardizer, pad_sequences
from selfrefresh.streams.uea import basic_motions, japanese_vowels, load_uea

try:
    UEA = base.default_data_root() / "uea"
except FileNotFoundError:
    UEA = None
needs_uea = pytest.mark.skipif(UEA is None or not (UEA / "JapaneseVowels.npz").is_file(),
                               reason="no UEA data folder")


def stack(stream):
    pairs = [base.experience_tensors(exp) for exp in stream]
    return [p[0] for p in pairs], [p[1] for p in pairs]


# ----------------------------------------------------------------- base helpers

def test_benchmark_carries_sizes_and_names():
    g = torch.Generator().manual_seed(0)
    b = base.class_incremental_stream(torch.randn(12, 5, 3, generator=g), torch.arange(12) % 4,
                                      torch.randn(8, 5, 3, generator=g), torch.arange(8) % 4,
                                      n_experiences=2, class_order=[3, 2, 1, 0], class_names="abcd")
    assert (b.input_size, b.seq_len, b.num_classes) == (3, 5, 4)
    assert b.class_order == [3, 2, 1, 0] and b.class_names == ["a", "b", "c", "d"]
    assert b.train_stream[0].classes_in_this_experience == [2, 3] or \
        set(b.train_stream[0].classes_in_this_experience) == {2, 3}


def test_base_errors():
    x, y = torch.zeros(4, 5, 3), torch.arange(4)
    with pytest.raises(ValueError, match="class names"):
        base.class_incremental_stream(x, y, x, y, n_experiences=2, class_names=["a"])
    with pytest.raises(ValueError, match="test sequences"):
        base.class_incremental_stream(x, y, torch.zeros(4, 6, 3), y, n_experiences=2)
    with pytest.raises(ValueError, match="split evenly"):
        base.first_experience_classes(9, 2)
    assert base.first_experience_classes(9, 3, [8, 7, 6, 5, 4, 3, 2, 1, 0]) == [8, 7, 6]


def test_default_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("SELFREFRESH_DATA", str(tmp_path))
    assert base.default_data_root() == tmp_path
    with pytest.raises(FileNotFoundError, match="UEA data file not found: .*JapaneseVowels.npz"):
        load_uea("JapaneseVowels", tmp_path)
    with pytest.raises(FileNotFoundError, match="nope"):
        japanese_vowels(root=tmp_path / "nope")


def test_pad_sequences_and_standardizer():
    x = np.arange(2 * 4 * 1, dtype=np.float32).reshape(2, 4, 1)
    x[0, 2:] = np.nan
    z = pad_sequences(x, np.array([2, 4]), 5, pad="zero")
    np.testing.assert_array_equal(z[:, :, 0], [[0, 1, 0, 0, 0], [4, 5, 6, 7, 0]])
    e = pad_sequences(x, np.array([2, 4]), 3, pad="edge")
    np.testing.assert_array_equal(e[:, :, 0], [[0, 1, 1], [4, 5, 6]])
    s = Standardizer().fit(x)  # NaN ignored: values 0, 1, 4, 5, 6, 7
    assert s.mean[0] == pytest.approx(23 / 6, abs=1e-5)
    with pytest.raises(ValueError, match="pad"):
        pad_sequences(x, np.array([2, 4]), 3, pad="mirror")


# ----------------------------------------------------------------- UEA

@needs_uea
def test_japanese_vowels_shapes_and_standardisation():
    b = get_stream("japanese-vowels")()
    assert (b.input_size, b.seq_len, b.num_classes) == (12, 29, 9)
    assert b.class_names == [str(i) for i in range(1, 10)]
    assert len(b.train_stream) == 3
    xs, ys = stack(b.train_stream)
    assert [set(y.tolist()) for y in ys] == [{0, 1, 2}, {3, 4, 5}, {6, 7, 8}]
    assert sum(len(y) for y in ys) == 270
    assert sum(len(e.dataset) for e in b.test_stream) == 370
    # the first experience's valid steps are standardised (zero padding adds nothing to the sums);
    # later experiences are not re-fitted
    labels = np.array(_labels_in_dataset_order())
    n_valid = int(b.train_lengths[labels < 3].sum())
    mean = xs[0].sum((0, 1)) / n_valid
    var = xs[0].pow(2).sum((0, 1)) / n_valid - mean ** 2
    assert mean.abs().max() < 1e-4
    assert (var - 1).abs().max() < 1e-3
    assert (xs[2].sum((0, 1)) / int(b.train_lengths[labels >= 6].sum())).abs().max() > 0.05
    zero_frames = int((xs[0] == 0).all(-1).sum())
    assert zero_frames == int((29 - b.train_lengths[labels < 3]).sum())


def _labels_in_dataset_order():
    data = load_uea("JapaneseVowels", UEA)
    return [int(c) - 1 for c in data["y_train"].tolist()]


@needs_uea
def test_japanese_vowels_padding_crop_order_determinism():
    edge = japanese_vowels(pad="edge", seq_len=32, class_order=[8, 7, 6, 5, 4, 3, 2, 1, 0])
    assert edge.seq_len == 32
    xs, ys = stack(edge.train_stream)
    assert set(ys[0].tolist()) == {8, 7, 6}
    # every series is at most 29 long: frames 29..31 repeat the last valid frame
    assert torch.equal(xs[0][:, 29:], xs[0][:, 28:29].expand(-1, 3, -1))
    assert not (xs[0] == 0).all(-1).any()
    crop = japanese_vowels(seq_len=10)
    assert crop.seq_len == 10 and crop.train_lengths.max() == 10
    again = japanese_vowels(pad="edge", seq_len=32, class_order=[8, 7, 6, 5, 4, 3, 2, 1, 0])
    assert torch.equal(stack(again.train_stream)[0][1], xs[1])


@needs_uea
def test_basic_motions():
    b = basic_motions()
    assert (b.input_size, b.seq_len, b.num_classes, len(b.train_stream)) == (6, 100, 4, 2)
    assert b.class_names == ["Badminton", "Running", "Standing", "Walking"]
    assert [len(e.dataset) for e in b.train_stream] == [20, 20]
    assert [len(e.dataset) for e in b.test_stream] == [20, 20]
    x, y, t = b.test_stream[1].dataset[0]
    assert x.shape == (100, 6) and x.dtype == torch.float32 and int(y) in (2, 3) and t == 0
    with pytest.raises(ValueError, match="split evenly"):
        basic_motions(n_experiences=3)
