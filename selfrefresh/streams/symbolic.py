"""Symbolic sequences of discrete items (the setting of Ans, Rousset, French & Musca 2002/2004).

A *sequence set* is K sequences of L items drawn from an alphabet of ``n_items``; the sequences
share items, so the next item depends on which sequence is running (the context), not only on
the current item. Two uses:

* next-item prediction, as in the papers: :func:`make_sequences` and :func:`next_item_pairs`
  give the raw sequences and the (item_t, item_(t+1)) pairs a replication script trains an SRN on;
* classification of fragments, for class-incremental streams: :func:`symbolic_sequences`, whose
  class is the sequence a fragment (a window of ``fragment_length`` items, optionally with
  substituted items) comes from.

Items are coded one-hot (default) or by random distinct binary vectors (``coding="binary"``).
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import numpy as np

from .base import class_incremental_stream

__all__ = ["make_sequences", "item_codes", "encode_items", "next_item_pairs", "NextItemData",
           "sample_fragments", "symbolic_sequences"]


def make_sequences(n_sequences: int = 10, length: int = 12, n_items: int = 16, seed: int = 0,
                   repeats: bool = False) -> np.ndarray:
    """K distinct random sequences over ``n_items`` items: int64 (K, L).

    Without ``repeats`` an item occurs at most once in a sequence (needs ``length <= n_items``);
    items are shared across sequences. With ``repeats`` items may recur but never twice in a row.
    """
    if n_sequences < 1 or length < 2 or n_items < 2:
        raise ValueError(f"need n_sequences >= 1, length >= 2, n_items >= 2; got {n_sequences}, {length}, {n_items}")
    if not repeats and length > n_items:
        raise ValueError(f"length {length} > n_items {n_items}: items would repeat; pass repeats=True")
    rng = np.random.RandomState(seed)
    out, seen = [], set()
    for _ in range(1000 * n_sequences):
        if repeats:
            s = [int(rng.randint(n_items))]
            while len(s) < length:
                s.append(int((s[-1] + 1 + rng.randint(n_items - 1)) % n_items))
        else:
            s = [int(v) for v in rng.permutation(n_items)[:length]]
        if tuple(s) not in seen:
            seen.add(tuple(s))
            out.append(s)
            if len(out) == n_sequences:
                return np.asarray(out, dtype=np.int64)
    raise ValueError(f"could not draw {n_sequences} distinct sequences of {length} items from {n_items}")


def item_codes(n_items: int, coding: str = "one-hot", code_bits: Optional[int] = None, seed: int = 0) -> np.ndarray:
    """The code of each item, float32 (n_items, F): identity rows, or distinct random binary
    vectors of ``code_bits`` bits (default ``max(8, 2 * ceil(log2 n_items))``) with half the bits on."""
    if coding == "one-hot":
        return np.eye(n_items, dtype=np.float32)
    if coding == "binary":
        bits = code_bits or max(8, 2 * int(np.ceil(np.log2(n_items))))
        rng = np.random.RandomState(seed + 7919)
        codes = set()
        for _ in range(1000 * n_items):
            codes.add(tuple(int(b) for b in rng.permutation(bits) < bits // 2))
            if len(codes) == n_items:
                return np.asarray(sorted(codes), dtype=np.float32)[rng.permutation(n_items)]
        raise ValueError(f"{bits} bits cannot code {n_items} distinct items")
    raise ValueError(f"unknown coding {coding!r}; use 'one-hot' or 'binary'")


def encode_items(items: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Item indices (...) -> codes (..., F) float32."""
    items = np.asarray(items)
    if items.size and (items.min() < 0 or items.max() >= len(codes)):
        raise ValueError(f"item indices must lie in 0..{len(codes) - 1}, got {items.min()}..{items.max()}")
    return codes[items]


class NextItemData(NamedTuple):
    """Next-item prediction pairs of a sequence set.

    inputs (K, L-1, F) codes of items 0..L-2; targets (K, L-1) int64 indices of items 1..L-1;
    target_codes (K, L-1, F) their codes; sequences (K, L) the items; codes (n_items, F).
    """
    inputs: np.ndarray
    targets: np.ndarray
    target_codes: np.ndarray
    sequences: np.ndarray
    codes: np.ndarray


def next_item_pairs(sequences: np.ndarray, n_items: Optional[int] = None, coding: str = "one-hot",
                    code_bits: Optional[int] = None, seed: int = 0) -> NextItemData:
    """(item_t -> item_(t+1)) training pairs for every sequence, coded."""
    seqs = np.asarray(sequences, dtype=np.int64)
    if seqs.ndim != 2 or seqs.shape[1] < 2:
        raise ValueError(f"sequences must be (K, L) with L >= 2, got shape {seqs.shape}")
    codes = item_codes(int(n_items or seqs.max() + 1), coding, code_bits, seed)
    return NextItemData(encode_items(seqs[:, :-1], codes), seqs[:, 1:].copy(),
                        encode_items(seqs[:, 1:], codes), seqs, codes)


def sample_fragments(sequences: np.ndarray, n_per_sequence: int, fragment_length: int, n_items: int,
                     noise: float = 0.0, seed: int = 0):
    """Random windows of each sequence: (fragments (K * n, f) int64, labels (K * n,) int64).

    Each item of a fragment is replaced, with probability ``noise``, by a different random item.
    """
    seqs = np.asarray(sequences, dtype=np.int64)
    k, length = seqs.shape
    if not 1 <= fragment_length <= length:
        raise ValueError(f"fragment_length must be in 1..{length}, got {fragment_length}")
    if not 0.0 <= noise < 1.0:
        raise ValueError(f"noise must be in [0, 1), got {noise}")
    rng = np.random.RandomState(seed)
    labels = np.repeat(np.arange(k), n_per_sequence)
    starts = rng.randint(0, length - fragment_length + 1, size=len(labels))
    frags = seqs[labels[:, None], starts[:, None] + np.arange(fragment_length)]
    flip = rng.rand(*frags.shape) < noise
    frags = np.where(flip, (frags + 1 + rng.randint(n_items - 1, size=frags.shape)) % n_items, frags)
    return frags, labels


def symbolic_sequences(n_sequences: int = 10, length: int = 12, n_items: int = 16, *, fragment_length: int = 6,
                       n_train_per_class: int = 50, n_test_per_class: int = 20, noise: float = 0.1,
                       coding: str = "one-hot", code_bits: Optional[int] = None, repeats: bool = False,
                       n_experiences: int = 5, class_order: Optional[Sequence[int]] = None, seed: int = 0):
    """Class-incremental stream: which of ``n_sequences`` sequences does a fragment come from?

    Args:
        n_sequences, length, n_items: the sequence set (see :func:`make_sequences`); one class each.
        fragment_length: items per example (the sequence length T of the stream).
        n_train_per_class, n_test_per_class: fragments per sequence (test drawn independently).
        noise: probability of substituting each item of a fragment (train and test).
        coding, code_bits: item codes (see :func:`item_codes`).

    Returns:
        An Avalanche benchmark with items ``(x, y, t)``, x (fragment_length, F); attributes
        ``input_size``, ``seq_len``, ``num_classes``, ``class_order``, ``class_names``,
        ``sequences`` (K, L) and ``codes`` (n_items, F).
    """
    seqs = make_sequences(n_sequences, length, n_items, seed, repeats)
    codes = item_codes(n_items, coding, code_bits, seed)
    tr, ty = sample_fragments(seqs, n_train_per_class, fragment_length, n_items, noise, seed=2 * seed + 1)
    te, ey = sample_fragments(seqs, n_test_per_class, fragment_length, n_items, noise, seed=2 * seed + 2)
    bm = class_incremental_stream(encode_items(tr, codes), ty, encode_items(te, codes), ey,
                                  n_experiences=n_experiences, class_order=class_order, seed=seed,
                                  class_names=[f"sequence-{k}" for k in range(n_sequences)])
    bm.sequences, bm.codes = seqs, codes
    return bm
