"""Windowing: how a recording is cut into the pieces the model sees (in the style of audinterface, the windowing
is a constructor argument of the predictor).

A signal of N samples is cut into windows of `window` samples that start every `hop` samples (0, hop, 2 hop,
...). A window starts only if it begins before the end of the signal and the previous window did not already
reach the end, so with hop <= window the windows cover the whole signal and the last one may be shorter than
`window`: 1 + ceil(max(N - window, 0) / hop) windows (60 s, window 3 s, hop 3 s: 20; hop 1.5 s: 39; 61 s: 21
and 40, the last one 1 s / 2.5 s long). A signal shorter than the window is one window. Results report the real
start and end of each window, never padding.
"""

import math
from collections.abc import Iterator

from ..errors import UsageError


def window_bounds(num_samples: int, window: int, hop: int) -> Iterator[tuple[int, int]]:
    """(start, end) sample positions of the windows of a signal of `num_samples` samples (see the module
    docstring); at least one window, the last one possibly shorter than `window`."""
    if window < 1 or hop < 1:
        raise UsageError(f"window and hop must be at least one sample, got {window} and {hop}")
    start = 0
    while True:
        end = min(start + window, num_samples)
        yield start, end
        start += hop
        if end >= num_samples or start >= num_samples:
            return


def window_count(num_samples: int, window: int, hop: int) -> int:
    """How many windows `window_bounds` gives, without listing them."""
    if hop > window:  # gaps between windows: one starts at every multiple of hop before the end
        return max(1, math.ceil(num_samples / hop))
    return 1 + max(0, math.ceil((num_samples - window) / hop))


def seconds_to_samples(seconds: float, sampling_rate: int, name: str) -> int:
    """A positive, finite duration in seconds as a whole number of samples (at least one); `UsageError` naming
    the argument otherwise (nan, inf, 1e400, zero and negative values included)."""
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be a number of seconds, got {seconds!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"{name} must be a positive, finite number of seconds, got {seconds!r}")
    samples = round(value * sampling_rate)
    if samples > 2**40:
        raise UsageError(f"{name}={seconds!r} seconds is too long to be a window")
    return max(1, samples)


__all__ = ["seconds_to_samples", "window_bounds", "window_count"]
