"""Event prior and baseline token selectors for EP-VLM (numpy only).

The event prior follows EP-VLM (Qin, Hu, Magno, arXiv 2506.07627): events in a window aligned
with the RGB frame are accumulated into a map E on the sensor, E is stretched over the processed
image (as the processor stretches the frame), cut into the ViT's 14-px patches, and each patch
scores the L1 norm of E inside it (each sensor pixel's |E| by the area it shares with the
patch). Qwen2-VL's merger fuses 2x2 patches into one LLM token, so the decision is made per
28-px block: a block scores the sum of its four patch scores (the L1 norm over the block).

Two keep rules:

- `keep_mask_quantile`: the paper's rule, keep blocks scoring at or above the (1 - keep)
  quantile. Ties at the threshold are all kept, so it can keep more than ``keep`` (event-free
  blocks all score 0; if over 1 - keep of the blocks are event-free, every block is kept).
- `keep_mask_topk`: exactly ``budget(keep)`` blocks, highest scores first; ties are broken by
  distance to the image centre, then by raster index, so equal scores give a stable result.

Baselines share the interface of `select_blocks`: ``edges`` (image only but content-aware: each
block scores the mean Sobel gradient magnitude of the image's luma on the processed pixel grid,
`edge_block_scores`, and blocks are kept by the same rule and tie-breaking as ``event``, so the
two compare at identical token counts; it asks whether events add anything beyond where the RGB
frame itself has detail), ``random`` (seeded), ``center`` (the blocks nearest the centre),
``downsample`` (the whole image resized to the smallest token grid of its
aspect that holds the budget; the few surplus tokens, farthest from the centre, are masked, so it
feeds exactly the budget like every other selector) and ``dense`` (everything).

Empty windows: when the window holds no events (every block scores 0) the ``event`` selector
falls back to ``center`` with the same budget and reports ``fallback="center"`` and why in
``fallback_reason`` (no events, or with ``mode="signed"`` ON and OFF events that cancel at
every pixel). The quantile
rule would keep every block there (no saving) and plain top-k would keep an arbitrary band.
``edges`` needs no events and has no fallback: a flat image (every block 0) keeps the blocks
nearest the centre under ``topk`` through the tie-breaking, and every block under ``quantile``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from epvlm.errors import EventsOutsideImageError, KeepMaskError
from eventsim._text import plural
from eventsim.errors import ArgumentValueError, InvalidEventsError, ParameterError, require
from eventsim.events import (
    EVENT_DTYPE,
    StreamProblem,
    StreamProblemError,
    check_sensor_size,
    slice_time,
)

# the option types of token selection; their choice tuples derive from them (as eventsim.options)
Selector = Literal["event", "edges", "random", "downsample", "center", "dense"]
EventMapMode = Literal["count", "signed"]
KeepRule = Literal["topk", "quantile"]
SELECTORS: tuple[Selector, ...] = get_args(Selector)
EVENT_MAP_MODES: tuple[EventMapMode, ...] = get_args(EventMapMode)
KEEP_RULES: tuple[KeepRule, ...] = get_args(KeepRule)
PATCH_SIZE = 14
MERGE_SIZE = 2

__all__ = [
    "EVENT_MAP_MODES",
    "KEEP_RULES",
    "SELECTORS",
    "EventMapMode",
    "KeepRule",
    "Selection",
    "Selector",
    "block_scores",
    "check_image",
    "check_keep",
    "edge_block_scores",
    "edge_map",
    "event_block_scores",
    "event_map",
    "keep_budget",
    "keep_mask_center",
    "keep_mask_quantile",
    "keep_mask_random",
    "keep_mask_topk",
    "patch_scores",
    "select_blocks",
]


def check_keep(keep: float) -> float:
    """Validate a keep fraction: a number in (0, 1]."""
    if isinstance(keep, (bool, np.bool_, str, bytes)):
        # float(True) is 1.0: a flag passed by mistake kept every token; float("0.5") took a
        # string read from a file or command line as if it were the number
        raise ParameterError(f"keep fraction {keep!r} is not a number in (0, 1]")
    try:
        value = float(keep)
    except (TypeError, ValueError):
        raise ParameterError(f"keep fraction {keep!r} is not a number in (0, 1]") from None
    if not (0.0 < value <= 1.0) or math.isnan(value):
        raise ParameterError(f"keep fraction {keep!r} is outside (0, 1]; e.g. 0.5 keeps half")
    return value


def keep_budget(n_tokens: int, keep: float) -> int:
    """Tokens kept at fraction ``keep`` of ``n_tokens`` (an integer >= 1): round half up, at
    least one."""
    keep = check_keep(keep)
    n = _whole(n_tokens)
    if n is None or n < 1:
        # 0 or fewer tokens gave a budget of 1, more tokens than there were
        raise ParameterError(f"token count {_plain(n_tokens)!r} is not an integer >= 1")
    return max(1, min(n, math.floor(keep * n + 0.5)))


def _whole(value: object) -> int | None:
    """``value`` as an int if it is a whole number (not a bool), else None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def _plain(value: object) -> object:
    # a value as the user would write it: np.float64(3.0) is shown as 3.0
    return value.item() if isinstance(value, np.generic) else value


def check_image(image: Any, *, grey: bool = True) -> np.ndarray:
    """``image`` as an array, refused (`ParameterError`) unless it is an HxWx3 RGB (or, with
    ``grey``, HxW grey) uint8 array; a channels-first 3xHxW array is named as such."""
    arr = np.asarray(image)
    shapes = "an HxWx3 RGB or HxW grey" if grey else "an HxWx3"
    ok_shape = (arr.ndim == 2 and grey) or (arr.ndim == 3 and arr.shape[2] == 3)
    if arr.dtype != np.uint8 or not ok_shape:
        hint = ""
        if arr.ndim == 3 and arr.shape[0] == 3 and arr.shape[2] != 3:
            hint = (
                "; it looks channels-first (3xHxW): pass it channels-last, image.transpose(1, 2, 0)"
            )
        raise ParameterError(
            f"image must be {shapes} uint8 array, got shape {arr.shape} dtype {arr.dtype}{hint}"
        )
    return arr


def event_map(
    events: np.ndarray,
    sensor_size: tuple[int, int],
    *,
    window_us: tuple[int | None, int | None] | None = None,
    mode: EventMapMode = "count",
    out_hw: tuple[int, int] | None = None,
) -> np.ndarray:
    """Accumulate events into a float32 map of shape ``out_hw`` (default: the sensor's (H, W)).

    ``mode="count"`` counts events per pixel; ``"signed"`` adds +1 for ON and -1 for OFF events
    (opposite polarities at one pixel cancel). ``events`` are an `EVENT_DTYPE` array with
    ``p`` in {0, 1} (else `InvalidEventsError`). ``window_us=(t0, t1)`` keeps
    ``t0 <= t < t1`` (absolute microseconds); it needs events sorted by ``t`` and refuses
    others (`eventsim.events.StreamProblemError`, naming the first step down).
    ``out_hw=(H', W')`` resamples the sensor's map onto another pixel grid (the processed
    image, which the sensor's field of view is stretched over as the processor stretches the
    image) by area: each sensor pixel's value is shared among the output pixels it overlaps in
    proportion to the overlap, so the mass is kept and a sum over any output region is the sum
    over the same region of the sensor. A signed map resampled this way nets ON against OFF of
    neighbouring sensor pixels too; `select_blocks` scores the L1 norm per sensor pixel before
    resampling.
    """
    width, height = check_sensor_size(sensor_size)
    out_h, out_w = (height, width) if out_hw is None else _check_hw("out_hw", out_hw)
    sensor_map = _sensor_map(events, width, height, window_us, mode)
    if (out_w, out_h) == (width, height):
        return sensor_map.astype(np.float32)
    return (_resample_area(sensor_map, out_h, out_w) / (out_h * out_w)).astype(np.float32)


def _sensor_map(
    events: np.ndarray,
    width: int,
    height: int,
    window_us: tuple[int | None, int | None] | None,
    mode: EventMapMode,
) -> np.ndarray:
    """Events per sensor pixel (``count``) or ON minus OFF (``signed``) in the window, int64
    (H, W); events off the sensor are refused."""
    _check_mode(mode)
    in_window, start = _events_in_window(events, window_us)
    return _binned(in_window, start, width, height, mode)


def _check_mode(mode: str) -> None:
    if mode not in EVENT_MAP_MODES:
        raise ParameterError(
            f"event map mode {mode!r} is unknown; expected one of {EVENT_MAP_MODES}"
        )


def _binned(
    events: np.ndarray, start: int, width: int, height: int, mode: EventMapMode
) -> np.ndarray:
    """`_sensor_map` of events already checked and windowed (`_events_in_window`), which
    begin at index ``start`` of the array the caller passed: an event off the sensor is named
    by its index there."""
    if events.size == 0:
        return np.zeros((height, width), dtype=np.int64)
    x = events["x"].astype(np.int64)
    y = events["y"].astype(np.int64)
    outside = (x < 0) | (x >= width) | (y < 0) | (y >= height)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        n_out = int(outside.sum())
        raise EventsOutsideImageError(
            f"{n_out} {plural(n_out, 'event lies', 'events lie')} outside the {width}x{height} "
            "image, first at "
            f"index {start + i}: (x={x[i]}, y={y[i]}); events must share the image's pixel grid"
        )
    weights = None if mode == "count" else np.where(events["p"] > 0, 1.0, -1.0)
    flat = np.bincount(y * width + x, weights=weights, minlength=width * height)
    return np.rint(flat).astype(np.int64).reshape(height, width)


# a time window is found by binary search: unsorted events gave another window's events, or
# none (and the event selector's "no events" fallback), without a word
_UNSORTED_WORDS = (
    "events are not sorted by time: t[{index}] = {value} us after t[{other_index}] = "
    "{other_value} us; window_us selects events by binary search over t, which needs them "
    "sorted: sort them first, events[np.argsort(events['t'], kind='stable')]"
)


def _events_in_window(
    events: np.ndarray, window_us: tuple[int | None, int | None] | None
) -> tuple[np.ndarray, int]:
    """The events with ``t0 <= t < t1`` of ``window_us`` (all without one) and the index of
    the first of them in ``events``, after checking their dtype, polarity and, with a window,
    their time order: `InvalidEventsError` (`StreamProblemError`) naming the first event that
    breaks them. O(n), vectorised, as the bincount that follows. eventsim's
    `~eventsim.events.validate_events` is not reused: it refuses negative coordinates in its
    own words, where the prior names every event off the image (`EventsOutsideImageError`)."""
    events = np.asarray(events)
    if events.dtype != EVENT_DTYPE:
        raise InvalidEventsError(f"events have dtype {events.dtype}; expected EVENT_DTYPE")
    if events.ndim != 1:
        raise InvalidEventsError(f"events have shape {events.shape}; expected a 1-D array")
    p = events["p"]
    # any other value was silently an ON event (an OFF one for -1 in signed mode)
    bad = np.flatnonzero((p != 0) & (p != 1))
    if bad.size:
        i = int(bad[0])
        raise StreamProblemError(StreamProblem("polarity", "p", i, int(p[i])))
    if window_us is None:
        return events, 0
    t = events["t"]
    down = np.flatnonzero(t[1:] < t[:-1])
    if down.size:
        i = int(down[0]) + 1
        problem = StreamProblem("unsorted", "t", i, int(t[i]), i - 1, int(t[i - 1]))
        raise StreamProblemError(problem, words=_UNSORTED_WORDS)
    in_window = slice_time(events, window_us[0], window_us[1])
    start = 0 if window_us[0] is None else int(np.searchsorted(t, window_us[0], side="left"))
    return in_window, start


def _overlaps(n_in: int, n_cells: int, cell: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 1-D overlaps of ``n_in`` sensor pixels with ``n_cells`` output cells of ``cell``
    pixels each, the sensor stretched over ``n_out = n_cells * cell`` output pixels, as
    (sensor index, cell index, overlap) with the overlap an integer in units of 1 / n_in
    output pixel, so a sensor pixel's overlaps add up to ``n_out`` exactly; pairs come in
    order of cell index (the mapping is monotonic)."""
    n_out = n_cells * cell
    # sensor pixel i spans [i * n_out, (i + 1) * n_out), cell j [j * cell * n_in, ...) in units
    edges = np.arange(n_in + 1, dtype=np.int64) * n_out
    step = cell * n_in
    first = edges[:-1] // step
    last = (edges[1:] - 1) // step
    span = last - first + 1
    src = np.repeat(np.arange(n_in), span)
    dst = np.repeat(first, span) + (np.arange(span.sum()) - np.repeat(np.cumsum(span) - span, span))
    lo = np.maximum(edges[src], dst * step)
    hi = np.minimum(edges[src + 1], (dst + 1) * step)
    return src, dst, hi - lo


def _resample_area(
    sensor_map: np.ndarray, out_rows: int, out_cols: int, cell: int = 1
) -> np.ndarray:
    """Sum of ``sensor_map`` (int64 (H, W)) over each of the ``out_rows x out_cols`` cells of
    ``cell`` px of the output grid the sensor is stretched over, each sensor pixel weighted by
    the area it shares with the cell: int64, the true sums times the output's pixel count
    ``out_rows * out_cols * cell**2``. Integers keep equal regions exactly equal, so ties
    between blocks stay ties for the keep rules' tie-breaking."""
    height, width = sensor_map.shape
    out = sensor_map
    for axis, (n_in, n_cells) in enumerate(((height, out_rows), (width, out_cols))):
        src, dst, weight = _overlaps(n_in, n_cells, cell)
        moved = np.moveaxis(out, axis, -1)
        weighted = moved[..., src] * weight
        starts = np.flatnonzero(np.diff(dst, prepend=-1))
        out = np.moveaxis(np.add.reduceat(weighted, starts, axis=-1), -1, axis)
    return out


def _check_hw(name: str, hw: Sequence[int]) -> tuple[int, int]:
    try:
        h, w = (_whole(v) for v in hw)
    except (TypeError, ValueError):
        h = w = None
    if h is None or w is None:
        # a bool passed operator.index: (True, True) was a 1x1 grid
        raise ParameterError(f"{name} {hw!r} is not a (height, width) pair of ints")
    if h < 1 or w < 1:
        raise ParameterError(f"{name} {hw!r} must be positive (height, width)")
    return h, w


def patch_scores(emap: np.ndarray, patch_size: int = PATCH_SIZE) -> np.ndarray:
    """L1 norm of the map inside each ``patch_size`` patch, shape (H/p, W/p)."""
    h, w = emap.shape
    if h % patch_size or w % patch_size:
        raise ParameterError(
            f"map of {w}x{h} px does not split into {patch_size}-px patches; "
            "resize it to the processed image size first"
        )
    mag = np.abs(emap.astype(np.float64))
    return mag.reshape(h // patch_size, patch_size, w // patch_size, patch_size).sum(axis=(1, 3))


def block_scores(
    emap: np.ndarray, patch_size: int = PATCH_SIZE, merge_size: int = MERGE_SIZE
) -> np.ndarray:
    """Per-LLM-token score: patch L1 norms summed over each ``merge x merge`` group."""
    ps = patch_scores(emap, patch_size)
    gh, gw = ps.shape
    if gh % merge_size or gw % merge_size:
        raise ParameterError(
            f"patch grid {gh}x{gw} does not split into {merge_size}x{merge_size} merge groups"
        )
    return ps.reshape(gh // merge_size, merge_size, gw // merge_size, merge_size).sum(axis=(1, 3))


def event_block_scores(
    events: np.ndarray,
    sensor_size: tuple[int, int],
    grid: tuple[int, int],
    *,
    window_us: tuple[int | None, int | None] | None = None,
    mode: EventMapMode = "count",
    patch_size: int = PATCH_SIZE,
    merge_size: int = MERGE_SIZE,
) -> np.ndarray:
    """Per-LLM-token score of the ``event`` selector on the (rows, cols) token ``grid``: the
    L1 norm of the event map over each block's region of the sensor, the sensor's field of
    view stretched over the processed image as the processor stretches the image.

    Each sensor pixel's ``|E|`` (events, or ``|ON - OFF|``: opposite polarities cancel at one
    sensor pixel only) counts in proportion to the part of it inside the block, so every block
    of a uniformly active sensor scores the same whatever the two sizes (scaling pixel centres
    gave blocks whole sensor rows and columns: 27, 28 or 29 of them when a 640x480 sensor
    fills 644x476 px). The sums are exact integers until the one final division, so equal
    regions tie exactly and the keep rules' tie-breaking decides between them. Without
    rescaling this is `block_scores` of `event_map`."""
    width, height = check_sensor_size(sensor_size)
    rows, cols = _check_hw("token grid", grid)
    magnitude = np.abs(_sensor_map(events, width, height, window_us, mode))
    return _event_blocks(magnitude, rows, cols, patch_size, merge_size)


def _event_blocks(
    magnitude: np.ndarray, rows: int, cols: int, patch_size: int, merge_size: int
) -> np.ndarray:
    """`event_block_scores` of a sensor map's magnitude (int64 (H, W))."""
    height, width = magnitude.shape
    factor = patch_size * merge_size
    if (cols * factor, rows * factor) == (width, height):
        return block_scores(magnitude, patch_size, merge_size)
    units = _resample_area(magnitude, rows, cols, factor)
    return units / float(rows * factor * cols * factor)


def edge_map(image: np.ndarray, out_hw: tuple[int, int] | None = None) -> np.ndarray:
    """Sobel gradient magnitude (3x3 kernels, border reflected without repeating the edge
    pixel, as OpenCV's default) of the image's luma (ITU-R BT.601 weights) as a float64
    (H', W') map; ``image`` is HxWx3 RGB or HxW grey uint8.

    ``out_hw=(H', W')`` first resizes the image to the processed pixel grid the ViT sees, the
    way Qwen2-VL's image processor does (Pillow, bicubic), so the gradients are those of the
    pixels the model is given. Pillow (the ``vlm`` extra) is needed only for that resize.

    Computed with numpy's element-wise float64 operations rather than ``cv2.Sobel``: OpenCV's
    float32 Sobel gave results differing in the last bits between calls on the same pixels
    (OpenCV 5.0 here, also with one thread), which would break exact ties between
    mirror-image blocks, and ties decide `keep_mask_topk`'s order."""
    arr = check_image(image)
    if out_hw is not None:
        out_h, out_w = _check_hw("out_hw", out_hw)
        if (out_h, out_w) != arr.shape[:2]:
            pil = require("PIL.Image", "vlm", "the edges selector's resize to the processed grid")
            arr = np.asarray(pil.fromarray(arr).resize((out_w, out_h), pil.Resampling.BICUBIC))
    px = arr.astype(np.float64)
    luma = px if px.ndim == 2 else 0.299 * px[..., 0] + 0.587 * px[..., 1] + 0.114 * px[..., 2]
    pad = np.pad(luma, 1, mode="reflect")
    # separable Sobel: smoothing [1, 2, 1] across the derivative [-1, 0, 1]
    smooth_rows = pad[:-2] + 2 * pad[1:-1] + pad[2:]
    smooth_cols = pad[:, :-2] + 2 * pad[:, 1:-1] + pad[:, 2:]
    gx = smooth_rows[:, 2:] - smooth_rows[:, :-2]
    gy = smooth_cols[2:] - smooth_cols[:-2]
    return np.sqrt(gx * gx + gy * gy)


def edge_block_scores(
    image: np.ndarray,
    grid: tuple[int, int],
    patch_size: int = PATCH_SIZE,
    merge_size: int = MERGE_SIZE,
) -> np.ndarray:
    """Per-LLM-token score of the ``edges`` selector: the mean `edge_map` magnitude inside each
    block of the (rows, cols) token ``grid``, computed on the processed pixel grid
    (rows x cols blocks of ``patch_size * merge_size`` px)."""
    rows, cols = _check_hw("token grid", grid)
    factor = patch_size * merge_size
    emap = edge_map(image, (rows * factor, cols * factor))
    return block_scores(emap, patch_size, merge_size) / (factor * factor)


def _center_distance(shape: tuple[int, int]) -> np.ndarray:
    rows, cols = shape
    r = np.arange(rows) + 0.5 - rows / 2
    c = np.arange(cols) + 0.5 - cols / 2
    return np.hypot(r[:, None], c[None, :])


def _check_scores(scores: np.ndarray) -> np.ndarray:
    """Block scores as float64, refused unless they are finite numbers: a NaN ranked as the
    top score in `keep_mask_topk` and made `keep_mask_quantile` keep nothing, silently."""
    arr = np.asarray(scores)
    if arr.dtype.kind not in "biuf":
        raise ParameterError(f"block scores have dtype {arr.dtype}; expected numbers")
    arr = arr.astype(np.float64, copy=False)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        i = int(bad[0])
        where = tuple(int(v) for v in np.unravel_index(i, arr.shape))
        raise ParameterError(
            f"block scores hold {arr.flat[i]} at {where} ({bad.size} of {arr.size} not "
            "finite); expected finite numbers"
        )
    return arr


def keep_mask_quantile(scores: np.ndarray, keep: float) -> np.ndarray:
    """The paper's rule: keep blocks with score >= the (1 - keep) quantile (ties all kept)."""
    keep = check_keep(keep)
    scores = _check_scores(scores)
    threshold = np.quantile(scores, 1.0 - keep)
    return scores >= threshold


def keep_mask_topk(
    scores: np.ndarray, keep: float | None = None, *, k: int | None = None
) -> np.ndarray:
    """Exactly ``k`` blocks (or ``keep_budget(n, keep)``): highest score first, ties broken by
    distance to the centre, then by raster index."""
    scores = _check_scores(scores)
    if scores.ndim != 2:
        # the centre tie-break needs the grid: 1-D scores failed in numpy's unpacking
        raise ParameterError(
            f"block scores have shape {scores.shape}; expected the (rows, cols) token grid "
            "(reshape flat scores to it)"
        )
    n = scores.size
    if k is None:
        if keep is None:
            raise ParameterError("keep_mask_topk needs keep or k")
        k = keep_budget(n, keep)
    k = _check_budget("top-k budget k", k, n)
    order = np.lexsort((np.arange(n), _center_distance(scores.shape).ravel(), -scores.ravel()))
    mask = np.zeros(n, dtype=bool)
    mask[order[:k]] = True
    return mask.reshape(scores.shape)


def keep_mask_center(shape: tuple[int, int], keep: float) -> np.ndarray:
    """The ``keep_budget`` blocks nearest the image centre."""
    return keep_mask_topk(np.zeros(shape), keep)


def keep_mask_random(
    shape: tuple[int, int],
    keep: float,
    seed: int | np.random.Generator = 0,
    *,
    k: int | None = None,
) -> np.ndarray:
    """``k`` (default ``keep_budget``) blocks drawn uniformly without replacement (seeded)."""
    n = int(np.prod(shape))
    k = keep_budget(n, keep) if k is None else _check_budget("random budget k", k, n)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(_seed(seed))
    mask = np.zeros(n, dtype=bool)
    mask[rng.choice(n, size=k, replace=False)] = True
    return mask.reshape(shape)


def _check_mask_shape(
    shape: tuple[int, ...], grid: tuple[int, int], which: str, image: int
) -> None:
    """Refuse keep mask ``which`` of image ``image`` (`KeepMaskError`) when its row-major
    order is not that of the image's (rows, cols) token ``grid``: a (cols, rows) mask has the
    right size and was flattened in the wrong order, without a word. Flat masks and masks that
    differ from the grid only by axes of length 1 ((1, rows * cols), (1, rows, cols)) flatten
    in the grid's order; a wrong size is left to the caller's count."""
    axes = [d for d in shape if d != 1]
    if len(axes) > 1 and axes != [d for d in grid if d != 1]:
        raise KeepMaskError(
            f"{which} has shape {shape} but image {image}'s token grid is {grid} (rows, cols); "
            f"expected a mask of shape {grid} or a flat one"
        )


def _check_budget(name: str, k: object, n: int) -> int:
    """A token budget ``k``, a whole number in 1..n, or `KeepMaskError` naming it (``name``)."""
    whole = _whole(k)
    if whole is None:
        raise KeepMaskError(
            f"{name}={_plain(k)!r} is not an integer; expected 1..{n} for {n} blocks"
        )
    if not 1 <= whole <= n:
        raise KeepMaskError(f"{name}={whole} is outside 1..{n} for {n} blocks")
    return whole


def _seed(seed: object) -> int:
    """A seed for numpy's generator: a whole number >= 0 (numpy's own refusal of -1 or 2.5
    was a bare ValueError or TypeError)."""
    whole = _whole(seed)
    if whole is None or whole < 0:
        raise ArgumentValueError(
            "seed", _plain(seed), " is not an integer >= 0 or a numpy.random.Generator"
        )
    return whole


@dataclass(frozen=True)
class Selection:
    """What a selector decided for one image.

    ``image`` is what enters the processor (resized for ``downsample``); ``mask`` has one
    entry per LLM token of ``image`` on its (rows, cols) token grid; ``total_tokens`` counts
    the tokens of the dense original image (the cost reference); `kept_tokens` counts the
    kept entries of ``mask``, the image tokens the model is fed.

    ``scores`` (``event`` and ``edges`` only, else None) are the block scores the keep rule
    ranked, float64 on the (rows, cols) grid: for ``event`` the L1 event mass per block (events,
    or ``|ON - OFF|`` per sensor pixel under ``mode="signed"``, each sensor pixel counted by
    the share of it inside the block, `event_block_scores`); for ``edges`` the mean Sobel
    gradient magnitude of the luma inside the block (`edge_block_scores`). ``fallback`` is
    ``"center"`` when ``event`` found no event mass and kept the central blocks instead,
    ``fallback_reason`` why, in words.
    """

    selector: Selector
    keep: float
    image: np.ndarray
    mask: np.ndarray
    total_tokens: int
    scores: np.ndarray | None = None
    fallback: str | None = None
    # why the selector fell back, in words for a user (None when it did not)
    fallback_reason: str | None = None

    @property
    def kept_tokens(self) -> int:
        """The image tokens kept (``mask.sum()``): what the model is fed of this image."""
        return int(self.mask.sum())


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    interp = cv2.INTER_AREA if width * height < image.shape[0] * image.shape[1] else cv2.INTER_CUBIC
    return cv2.resize(image, (width, height), interpolation=interp)


# Qwen2-VL's processor never makes an image smaller than its min_pixels (56 x 56 px, 2 x 2
# merged tokens, by default and in the public checkpoints); a smaller downsampled image would
# come back upscaled to another grid. A checkpoint with a larger min_pixels passes its own
# (`select_blocks`' min_tokens).
MIN_DOWNSAMPLE_TOKENS = 4


def downsample_grid(
    grid: tuple[int, int], budget: int, min_tokens: int = MIN_DOWNSAMPLE_TOKENS
) -> tuple[int, int]:
    """Token grid of the resized image for ``downsample``: the smallest grid with at least
    ``budget`` (and ``min_tokens``) tokens whose sides are the original sides scaled by
    sqrt(budget / tokens), each rounded down or up, so the aspect ratio is kept within one
    token row/column. `select_blocks` masks the surplus tokens, so exactly ``budget`` are fed."""
    rows, cols = (int(v) for v in grid)
    total = rows * cols
    if not 1 <= budget <= total:
        raise KeepMaskError(f"downsample budget {budget} is outside 1..{total} for {total} tokens")
    need = max(budget, min(min_tokens, total))
    scale = math.sqrt(need / total)
    cands = {
        (min(rows, max(1, r)), min(cols, max(1, c)))
        for r in (math.floor(rows * scale), math.ceil(rows * scale))
        for c in (math.floor(cols * scale), math.ceil(cols * scale))
    }
    fits = [rc for rc in cands if rc[0] * rc[1] >= need]
    # rows*scale and cols*scale rounded up always hold `need`, so `fits` is never empty
    return min(fits, key=lambda rc: (rc[0] * rc[1], abs(rc[0] - rows * scale), rc))


def select_blocks(
    selector: Selector,
    image: np.ndarray,
    *,
    keep: float,
    grid: tuple[int, int],
    events: np.ndarray | None = None,
    sensor_size: tuple[int, int] | None = None,
    window_us: tuple[int | None, int | None] | None = None,
    rule: KeepRule = "topk",
    mode: EventMapMode = "count",
    seed: int | np.random.Generator = 0,
    patch_size: int = PATCH_SIZE,
    merge_size: int = MERGE_SIZE,
    min_tokens: int = MIN_DOWNSAMPLE_TOKENS,
    budget: int | None = None,
    scores: np.ndarray | None = None,
) -> Selection:
    """Choose the image tokens to keep.

    ``image`` is the RGB frame as the processor will get it: an HxWx3 (or HxW grey) uint8
    array, channels last (`check_image`). ``grid`` is the (rows, cols) LLM token grid the
    processor makes of ``image`` (`epvlm.processing.grid_for_size`). ``events`` (needed by
    ``event``) are an `eventsim.events.EVENT_DTYPE` array (``p`` in {0, 1}) in the pixel grid
    of ``sensor_size`` (default: the image's own (W, H)); ``edges`` ignores them.
    ``window_us=(t0, t1)`` takes the events with ``t0 <= t < t1``, absolute microseconds on
    the events' own clock (half-open; either bound None for open), and needs the events sorted
    by ``t``: unsorted ones are refused, not sorted here (`epvlm.evaluate.event_window` gives
    the window aligned with a dataset sample's frame). ``rule``
    picks the keep rule of ``event`` and ``edges``: ``topk`` (exact budget, comparable with
    the baselines) or ``quantile`` (the paper's). ``min_tokens`` is the smallest token grid
    the processor keeps as it is (`epvlm.processing.min_image_tokens`: its ``min_pixels``);
    ``downsample`` never resizes below it, so the processor does not resize the image back up
    to a grid its mask does not fit. ``budget`` is the number of tokens ``random``, ``center``
    and ``downsample`` keep (default ``keep_budget(tokens, keep)``): an evaluation under
    ``quantile`` gives them the count ``event`` kept, so they compare at equal cost.
    ``scores`` are the block scores of ``event`` or ``edges`` made beforehand for the same
    image, grid and (for ``event``) events, window and mode (`event_block_scores`,
    `edge_block_scores`): they do not depend on ``keep`` or ``rule``, so an evaluation of
    several keeps computes them once per sample; the selection is the one they would give
    made here. Other selectors ignore them.

    Raises `eventsim.errors.ParameterError` for an unknown selector, rule or mode, a keep
    outside (0, 1], an image that is not HxWx3 / HxW uint8, a grid the processor cannot make
    of it, or scores of another shape or not finite; its subclass `epvlm.errors.KeepMaskError`
    for a budget that is not a whole number in 1..tokens; `eventsim.errors.InvalidEventsError` for
    events of another dtype, a polarity other than 0 or 1, or, with a window, events not
    sorted by time (`eventsim.events.StreamProblemError`, naming the first step down);
    `epvlm.errors.EventsOutsideImageError` for events outside ``sensor_size``.
    """
    if selector not in SELECTORS:
        raise ParameterError(f"selector {selector!r} is unknown; expected one of {SELECTORS}")
    if rule not in KEEP_RULES:
        raise ParameterError(f"keep rule {rule!r} is unknown; expected one of {KEEP_RULES}")
    keep = check_keep(keep)
    rows, cols = _check_hw("token grid", grid)
    _check_grid_fits(check_image(image), rows, cols)
    total = rows * cols
    if selector == "dense":
        return Selection("dense", keep, image, np.ones((rows, cols), bool), total)
    budget = keep_budget(total, keep) if budget is None else _check_budget("budget", budget, total)
    if selector == "random":
        mask = keep_mask_random((rows, cols), keep, seed, k=budget)
        return Selection("random", keep, image, mask, total)
    if selector == "center":
        mask = keep_mask_topk(np.zeros((rows, cols)), k=budget)
        return Selection("center", keep, image, mask, total)
    if selector == "downsample":
        r, c = downsample_grid((rows, cols), budget, min_tokens)
        factor = patch_size * merge_size
        small = np.asarray(image)
        if (r, c) != (rows, cols):
            small = _resize(small, c * factor, r * factor)
        mask = keep_mask_topk(np.zeros((r, c)), k=budget)
        return Selection("downsample", keep, small, mask, total)
    if scores is not None and selector in ("event", "edges"):
        scores = np.asarray(scores)
        if scores.shape != (rows, cols):
            raise ParameterError(
                f"{selector} block scores of shape {scores.shape} do not match the "
                f"{rows}x{cols} token grid; expected shape {(rows, cols)}"
            )
    if selector == "edges":
        if scores is None:
            scores = edge_block_scores(image, (rows, cols), patch_size, merge_size)
        return Selection("edges", keep, image, _keep_mask(scores, keep, rule), total, scores)
    if events is None:
        raise ParameterError("the event selector needs events (got None)")
    _check_mode(mode)
    # refuses a reversed window, unsorted events or a bad polarity also when the scores were
    # made beforehand; checked once here, the scoring below takes them as they are
    in_window, start = _events_in_window(events, window_us)
    if scores is None:
        height, width = np.asarray(image).shape[:2]
        sensor_w, sensor_h = check_sensor_size(sensor_size or (width, height))
        try:
            sensor_map = _binned(in_window, start, sensor_w, sensor_h, mode)
            scores = _event_blocks(np.abs(sensor_map), rows, cols, patch_size, merge_size)
        except EventsOutsideImageError as exc:
            if sensor_size is not None:
                raise
            # the usual cause: events of a camera with another resolution than the frame's
            raise EventsOutsideImageError(
                f"{exc}; no sensor_size was given, so the image's own {width}x{height} was "
                "taken: pass sensor_size=(W, H) of the camera the events come from"
            ) from None
    if not scores.any():
        reason = (
            f"the signed event mass is zero everywhere ({len(in_window)} ON and OFF events "
            "cancel at every pixel)"
            if mode == "signed" and len(in_window)
            else "no events in the window"
        )
        center = keep_mask_center((rows, cols), keep)
        return Selection("event", keep, image, center, total, scores, "center", reason)
    return Selection("event", keep, image, _keep_mask(scores, keep, rule), total, scores)


def _check_grid_fits(image: np.ndarray, rows: int, cols: int) -> None:
    """Refuse a token grid the processor cannot make of ``image``. Its resize (Qwen2-VL's
    smart_resize) scales both sides by one factor and rounds each to whole blocks, so
    ``rows`` and ``cols`` are within one block of the image's sides times a common scale;
    the scale itself depends on the processor's pixel budget, which is not known here, and any
    scale is one some budget gives (a 224x224 image is 4x4 tokens under max_pixels 112*112,
    32x32 under min_pixels 896*896), so a grid of the image's aspect is taken at any size."""
    height, width = image.shape[:2]
    if height < 1 or width < 1:
        raise ParameterError(f"image of {width}x{height} px (W x H) is empty")
    # a scale s with |rows - s * height| <= 1 and |cols - s * width| <= 1 exists
    if (rows - 1) * width <= (cols + 1) * height and (cols - 1) * height <= (rows + 1) * width:
        return
    raise ParameterError(
        f"token grid {(rows, cols)!r} (rows, cols) does not fit the image of {width}x{height} "
        "px (W x H): the processor keeps the image's aspect ratio within one block, so its "
        f"grid has about {height / width:.3g} rows per column; expected the grid "
        "epvlm.processing.grid_for_size gives for the image"
    )


def _keep_mask(scores: np.ndarray, keep: float, rule: KeepRule) -> np.ndarray:
    """The keep rule shared by the score-based selectors (``event`` and ``edges``)."""
    return keep_mask_topk(scores, keep) if rule == "topk" else keep_mask_quantile(scores, keep)
