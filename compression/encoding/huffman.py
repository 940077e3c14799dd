"""Canonical Huffman coding of integer symbol streams (Deep Compression's last stage).

A stream of symbols 0..A-1 (codebook codes, relative-index gaps) becomes one uint8 blob: the
code length of every symbol of the alphabet as 4-bit nibbles (ceil(A/2) bytes: the whole table,
as in DEFLATE; lengths are limited to 15 bits), then the canonical codes' bit stream. Canonical
codes follow from the lengths alone (shorter first, then by symbol), so no tree is stored.
Encoding and decoding are vectorised with numpy; decoding reads every bit position's next symbol
from a 2^L lookup table and then follows the chain of code lengths (one cheap step per symbol).

Checked before writing this: `dahuffman` (PyPI, pure Python) builds a non-canonical code whose
table is a pickled dict (unpickling is refused in this project) and loops in Python per symbol;
`canonical-huffman-compression` (PyPI) compresses byte strings to files, not integer streams with
a table we can embed. Neither is in our dependency set; ~100 lines of numpy are.
"""

from __future__ import annotations

import heapq

import numpy as np

MAX_LEN = 15  # fits a nibble; the lookup table has 2^15 entries


def code_lengths(counts: np.ndarray, max_len: int = MAX_LEN) -> np.ndarray:
    """Huffman code lengths for symbol counts (0 for unused symbols), limited to `max_len` bits.

    One used symbol gets length 1. Past the limit the counts are halved (rounding up) and the
    tree rebuilt, the zlib-style fix: still a prefix code, rarely more than a fraction of a bit off.
    """
    counts = np.asarray(counts, dtype=np.int64)
    lengths = np.zeros(counts.size, dtype=np.int64)
    used = np.flatnonzero(counts > 0)
    if used.size == 1:
        lengths[used] = 1
    if used.size <= 1:
        return lengths
    c = counts.copy()
    while True:
        heap: list[tuple[int, int, list[int]]] = [(int(c[s]), int(s), [int(s)]) for s in used]
        heapq.heapify(heap)
        depth = np.zeros(counts.size, dtype=np.int64)
        while len(heap) > 1:
            c1, k1, s1 = heapq.heappop(heap)
            c2, k2, s2 = heapq.heappop(heap)
            merged = s1 + s2
            depth[merged] += 1
            heapq.heappush(heap, (c1 + c2, min(k1, k2), merged))
        if depth.max() <= max_len:
            return depth
        c[used] = (c[used] + 1) // 2


def canonical_codes(lengths: np.ndarray) -> np.ndarray:
    """The canonical code of every symbol (by increasing length, then symbol), as integers."""
    lengths = np.asarray(lengths, dtype=np.int64)
    codes = np.zeros(lengths.size, dtype=np.int64)
    code = 0
    prev = 0
    for s in sorted(np.flatnonzero(lengths > 0), key=lambda s: (lengths[s], s)):
        code <<= int(lengths[s]) - prev
        codes[s] = code
        prev = int(lengths[s])
        code += 1
    return codes


def _pack_table(lengths: np.ndarray) -> np.ndarray:
    nib = np.zeros(2 * ((lengths.size + 1) // 2), dtype=np.uint8)
    nib[: lengths.size] = lengths
    return (nib[0::2] << 4 | nib[1::2]).astype(np.uint8)


def _unpack_table(blob: np.ndarray, alphabet: int) -> np.ndarray:
    head = blob[: (alphabet + 1) // 2]
    return np.stack([head >> 4, head & 15], axis=1).reshape(-1)[:alphabet].astype(np.int64)


def table_bytes(alphabet: int) -> int:
    return (alphabet + 1) // 2


def encode(symbols: np.ndarray, alphabet: int) -> np.ndarray:
    """Symbols 0..alphabet-1 -> uint8 blob (length table, then the canonical bit stream)."""
    symbols = np.asarray(symbols, dtype=np.int64).reshape(-1)
    if symbols.size and (symbols.min() < 0 or symbols.max() >= alphabet):
        raise ValueError(f"symbols must lie in 0..{alphabet - 1}")
    lengths = code_lengths(np.bincount(symbols, minlength=alphabet))
    table = _pack_table(lengths)
    if symbols.size == 0:
        return table
    codes = canonical_codes(lengths)
    width = int(lengths.max())
    shifts = np.arange(width - 1, -1, -1)
    # each symbol's code left-aligned in `width` bits, and which of those bits belong to it
    bits = (codes[:, None] << (width - lengths)[:, None] >> shifts[None, :]) & 1
    valid = np.arange(width)[None, :] < lengths[:, None]
    stream = bits[symbols][valid[symbols]]
    return np.concatenate([table, np.packbits(stream.astype(np.uint8))])


def decode(blob: np.ndarray, alphabet: int, count: int) -> np.ndarray:
    """The `count` symbols that `encode` wrote into `blob` (exact)."""
    blob = np.asarray(blob, dtype=np.uint8)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    lengths = _unpack_table(blob, alphabet)
    codes = canonical_codes(lengths)
    width = int(lengths.max())
    bits = np.unpackbits(blob[table_bytes(alphabet) :]).astype(np.int64)
    # lookup: every width-bit window that starts with a code maps to its symbol
    lookup_sym = np.zeros(1 << width, dtype=np.int64)
    lookup_len = np.zeros(1 << width, dtype=np.int64)
    for s in np.flatnonzero(lengths > 0):
        lo = int(codes[s]) << (width - int(lengths[s]))
        hi = lo + (1 << (width - int(lengths[s])))
        lookup_sym[lo:hi] = s
        lookup_len[lo:hi] = lengths[s]
    padded = np.concatenate([bits, np.zeros(width, dtype=np.int64)])
    n = bits.size
    window = np.zeros(n, dtype=np.int64)
    for j in range(width):  # the width-bit window starting at every bit position
        window = (window << 1) | padded[j : j + n]
    step = lookup_len[window].tolist()
    starts = np.empty(count, dtype=np.int64)
    p = 0
    for k in range(count):
        starts[k] = p
        p += step[p]
    return lookup_sym[window[starts]]
