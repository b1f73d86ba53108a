"""Dataset sample files: fast streaming line counts and lazy line ranges (gm-lc-protocol §7).

Counting follows upstream: **every line is a sample**, blank lines included, and a last line without a trailing
newline counts too (so the count is ``wc -l`` plus one when the file does not end in a newline). We keep
upstream's rule rather than skipping blank lines because the count is what users see in
``status.numberOfSamples`` and what train-trigger thresholds and the consumed-samples counter
(``sedna.io/number-of-samples``) are measured in; a different rule would shift every job's sample windows.
It is also the rule that can be computed at memory-bandwidth speed (a vectorised newline count).

For csv the first line is the header and the samples are the remaining lines; an empty csv is an error.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

CHUNK = 128 * 1024   # fits in L2 cache: read, compare and count all touch cached memory
FORMATS = ("txt", "csv")
_NEWLINE = ord("\n")


class SampleFileError(ValueError):
    pass


def count_lines(path: str) -> int:
    """Number of lines, at ``wc -l`` speed with bounded memory whatever the file size.

    One buffer (and one mask) is reused for the whole file: ``readinto`` fills it without allocating, and
    numpy compares and counts the newlines with SIMD — ``bytes.count`` on a fresh chunk per read ran at half
    ``wc -l``'s speed (issue 16)."""
    buf = bytearray(CHUNK)
    data = np.frombuffer(buf, dtype=np.uint8)
    mask = np.empty(CHUNK, dtype=bool)
    lines = 0
    last = _NEWLINE
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            np.equal(data[:n], _NEWLINE, out=mask[:n])
            lines += int(np.count_nonzero(mask[:n]))
            last = buf[n - 1]
    if last != _NEWLINE:
        lines += 1
    return lines


def normalize_format(fmt: str) -> str:
    f = (fmt or "").strip().lower()
    if f not in FORMATS:
        raise SampleFileError(f"format {fmt!r} is not supported (txt or csv)")
    return f


def count_samples(path: str, fmt: str) -> int:
    f = normalize_format(fmt)
    lines = count_lines(path)
    if f == "csv":
        if lines == 0:
            raise SampleFileError("csv file is empty (no header)")
        return lines - 1
    return lines


def read_header(path: str) -> str:
    with open(path, "rb") as f:
        return f.readline().decode("utf-8", errors="replace").rstrip("\r\n")


def iter_samples(path: str, fmt: str, ranges: list[tuple[int, int]]) -> Iterator[str]:
    """Yield the sample lines whose indexes fall in ``ranges`` (sorted, half-open), in file order.

    Streams the file once; only the selected lines are decoded.
    """
    if not ranges:
        return
    skip = 1 if normalize_format(fmt) == "csv" else 0
    ranges = sorted(r for r in ranges if r[1] > r[0])
    ri = 0
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f):
            idx = lineno - skip
            if idx < 0:
                continue
            while ri < len(ranges) and idx >= ranges[ri][1]:
                ri += 1
            if ri >= len(ranges):
                return
            if idx >= ranges[ri][0]:
                yield raw.decode("utf-8", errors="replace").rstrip("\r\n")
