"""Adaptive temporal upsampling without learned weights.

Frame-rate video under-samples fast motion: a pixel that an edge sweeps in one frame sees one
big log step instead of a ramp. Between two frames we insert just enough intermediate frames
that every step moves the image by at most ``max_motion_px`` and changes log intensity, by the
simulator's log curve, by at most ``max_log_change`` (robust maxima: the 99.9th percentile over
pixels), up to ``max_upsample_factor`` steps per interval.

- ``linear``: intermediate frames blend the two frames linearly in intensity; the step count
  follows the log change only.
- ``flow``: dense optical flow from OpenCV (DIS, or Farneback) both ways; intermediate frames
  warp both frames along the flow and blend them by time. Pixels whose forward and backward
  flows disagree (occlusions) and intervals where warping explains the change worse than a plain
  blend fall back to the linear blend, as do scene cuts: intervals where, after the flow's motion
  and a global brightness change are taken out, most of the frame still differs (see
  ``_CUT_RESIDUAL_LOG``).

Frames are luma, uint8 or float DN; synthesised frames are float64 DN.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import cv2
import numpy as np

from eventsim.errors import ParameterError
from eventsim.options import FLOW_METHODS, UPSAMPLE_MODES, FlowMethod, UpsampleMode
from eventsim.simulator.core import log_curve_np
from eventsim.simulator.params import DVSParams

_PERCENTILE = 99.9
_FB_TOLERANCE_PX = 1.5  # forward-backward flow mismatch above this marks an occlusion
_FLOW_MAX_SIDE = 640  # larger frames are downscaled for the flow estimate
# Scene cuts. Between two unrelated shots the flow still matches something, and warping along it
# sends invented content across the pixels: 12-18 % more events in the cut's interval between
# two textures than any monotonic change of each pixel from the old shot to the new one gives,
# which is what a DVS watching the cut sees (and `linear` gives). An interval is a cut when,
# once the flow's motion and the median log residual (a global brightness change such as
# auto-exposure) are taken out, more than half the pixels still differ by over 0.15 log units
# (16 %). It is then blended as `linear` blends it: the same event count, spread over the
# interval. A single step would put every event of the frame into one microsecond (where a
# refractory period drops all but one per pixel), at a time the frames do not tell; v2e's
# SuperSloMo has no cut detection and morphs one shot into the next, and ESIM samples a scene
# that has no cuts. Measured fractions at 240x180, DIS and Farneback: translations of 0.3-15 px,
# zooms of 1-10 % and a 3 deg rotation of photos and smooth textures 0.21 at most (0.29 dark and
# noisy), the moving-shapes clip 0.06; cuts between unrelated photos and textures 0.53-0.90
# (0.66 and up for nine in ten). Motion the flow cannot follow counts as a cut too (0.64-0.77:
# 10 px a frame at 160x120 with Farneback, 14 px with DIS): the warp gave 3-29 % more events
# than the blend there, a fine sampling of the true motion 2.4-3.5x more; neither follows it.
_CUT_RESIDUAL_LOG = 0.15
_CUT_FRACTION = 0.5
# OpenCV's DIS flow crashes the process (segfault) or raises on frames with a side under about
# 16 px (12x40, 8x100, 640x13 after the downscale): such frames are padded to this first
_DIS_MIN_SIDE = 16


def check_mode(mode: str) -> UpsampleMode:
    """``mode`` as an `UpsampleMode`, or `ParameterError` naming the modes."""
    for choice in UPSAMPLE_MODES:
        if mode == choice:
            return choice
    raise ParameterError(
        f"upsample mode {mode!r} is unknown; expected one of {', '.join(UPSAMPLE_MODES)}"
    )


def _to_u8(frame: np.ndarray) -> np.ndarray:
    if frame.dtype == np.uint8:
        return frame
    return np.clip(frame + 0.5, 0, 255).astype(np.uint8)


def estimate_flow(a: np.ndarray, b: np.ndarray, method: FlowMethod = "dis") -> np.ndarray:
    """Dense flow from grey frame ``a`` to ``b`` (HxWx2 float32, pixels): a(x) ~ b(x + F(x))."""
    if method not in FLOW_METHODS:
        raise ParameterError(
            f"flow method {method!r} is unknown; expected one of {', '.join(FLOW_METHODS)}"
        )
    a8, b8 = np.ascontiguousarray(_to_u8(a)), np.ascontiguousarray(_to_u8(b))
    h, w = a8.shape
    scale = min(1.0, _FLOW_MAX_SIDE / max(h, w))
    if scale < 1.0:
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        a8 = cv2.resize(a8, size, interpolation=cv2.INTER_AREA)
        b8 = cv2.resize(b8, size, interpolation=cv2.INTER_AREA)
    # opencv's stubs type the output flow array as required; None asks opencv to allocate it
    if method == "dis":
        rows, cols = a8.shape
        pad_y, pad_x = max(0, _DIS_MIN_SIDE - rows), max(0, _DIS_MIN_SIDE - cols)
        if pad_y or pad_x:
            a8 = cv2.copyMakeBorder(a8, 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE)
            b8 = cv2.copyMakeBorder(b8, 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE)
        dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        flow = np.ascontiguousarray(dis.calc(a8, b8, None)[:rows, :cols])  # type: ignore[call-overload]
    else:
        flow = cv2.calcOpticalFlowFarneback(a8, b8, None, 0.5, 5, 21, 5, 7, 1.5, 0)  # type: ignore[call-overload]
    if scale < 1.0:
        sx, sy = w / flow.shape[1], h / flow.shape[0]
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= sx
        flow[..., 1] *= sy
    return flow.astype(np.float32)


def _warp(
    img: np.ndarray,
    grid: tuple[np.ndarray, np.ndarray],
    flow: tuple[np.ndarray, np.ndarray],
    s: float,
    maps: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Sample ``img`` at x + s*flow(x); ``flow`` as its x and y planes (contiguous: the maps
    are built in two passes each, not from a strided HxWx2 array), the maps built in
    ``maps`` when given (float32 buffers of the frame's shape, reused across calls)."""
    gx, gy = grid
    fx, fy = flow
    map_x, map_y = maps if maps is not None else (None, None)
    map_x = np.multiply(fx, np.float32(s), out=map_x)
    map_x += gx
    map_y = np.multiply(fy, np.float32(s), out=map_y)
    map_y += gy
    return cv2.remap(
        img, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def _planes(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.ascontiguousarray(flow[..., 0]), np.ascontiguousarray(flow[..., 1])


def _robust_max(values: np.ndarray) -> float:
    if values.size == 0:
        return 0.0
    return float(np.percentile(values, _PERCENTILE))


def _is_cut(diff: np.ndarray) -> bool:
    """Whether the log residual ``diff`` after warping leaves most of the frame unexplained."""
    unexplained = np.abs(diff - np.median(diff)) > _CUT_RESIDUAL_LOG
    return int(np.count_nonzero(unexplained)) > _CUT_FRACTION * diff.size


def _steps(change: float, per_step: float, most: int) -> int:
    """Steps of at most ``per_step`` that cover ``change``, 1..``most``. Compared before
    rounding up: a tiny ``per_step`` (``max_motion_px=1e-320``) made the ratio infinite, which
    ``math.ceil`` refused with an OverflowError."""
    ratio = change / per_step
    return most if ratio >= most else max(1, math.ceil(ratio))


class Upsampler:
    """Yields the intermediate frames between consecutive frames (the second one excluded)."""

    def __init__(
        self, mode: UpsampleMode, params: DVSParams, *, flow_method: FlowMethod = "dis"
    ) -> None:
        self.mode = check_mode(mode)
        if flow_method not in FLOW_METHODS:
            raise ParameterError(
                f"flow method {flow_method!r} is unknown; expected one of {', '.join(FLOW_METHODS)}"
            )
        self.params = params
        self.flow_method = flow_method
        self._grid: tuple[np.ndarray, np.ndarray] | None = None
        self.inserted = 0
        self.intervals = 0
        self.fallbacks = 0

    def _log(self, frame: np.ndarray) -> np.ndarray:
        """Log intensity by the simulator's curve: v2e's lin-log is steeper than ln(I/255 +
        1e-3) between about 6 and 20 DN (3x at 20 DN), so counting steps by ln left dark
        pixels with changes of about 3x ``max_log_change`` per step."""
        if self.params.log_curve == "ln":
            return np.log(frame.astype(np.float32) / 255.0 + self.params.log_eps)
        return log_curve_np(frame, self.params).astype(np.float32)

    def steps_for(self, a: np.ndarray, b: np.ndarray) -> tuple[int, dict]:
        """Number of steps for the interval a -> b, and what the flow mode needs to synthesise."""
        p = self.params
        la, lb = self._log(a), self._log(b)
        most = p.max_upsample_factor
        if self.mode == "linear":
            return _steps(_robust_max(np.abs(lb - la)), p.max_log_change, most), {}
        f01 = estimate_flow(a, b, self.flow_method)
        f10 = estimate_flow(b, a, self.flow_method)
        h, w = a.shape
        if self._grid is None or self._grid[0].shape != (h, w):
            gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            self._grid = (gx, gy)
        f01_xy, f10_xy = _planes(f01), _planes(f10)
        motion = _robust_max(np.hypot(*f01_xy))
        # residual log change once motion is accounted for
        diff = _warp(lb, self._grid, f01_xy, 1.0) - la
        resid = np.abs(diff)
        plain = np.abs(lb - la)
        use_flow = float(resid.mean()) <= float(plain.mean()) and not _is_cut(diff)
        fb = _warp(f10, self._grid, f01_xy, 1.0) + f01
        occluded = np.hypot(fb[..., 0], fb[..., 1]) > _FB_TOLERANCE_PX
        n_motion = _steps(motion, p.max_motion_px, most) if use_flow else 1
        n = max(n_motion, _steps(_robust_max(resid if use_flow else plain), p.max_log_change, most))
        return n, {
            "f01": f01_xy,
            "f10": f10_xy,
            "grid": self._grid,
            "occluded": np.flatnonzero(occluded),
            "use_flow": use_flow,
        }

    def between(
        self, a: np.ndarray, b: np.ndarray, t0: int, t1: int
    ) -> Iterator[tuple[np.ndarray, int]]:
        """Intermediate frames (float64 DN) strictly between times t0 and t1."""
        self.intervals += 1
        if self.mode == "none" or t1 - t0 < 2:
            return
        n, aux = self.steps_for(a, b)
        n = min(n, t1 - t0)  # never two frames in the same microsecond
        if n <= 1:
            return
        af, bf = a.astype(np.float32), b.astype(np.float32)
        use_flow = aux.get("use_flow", False)
        if self.mode == "flow" and not use_flow:
            self.fallbacks += 1
        if use_flow:
            occluded = aux["occluded"]
            af_occ, bf_occ = af.ravel()[occluded], bf.ravel()[occluded]
            maps = (np.empty_like(af), np.empty_like(af))
        # float32 throughout, in place where it changes no value: (1 - s) * A + s * B, warped
        # or not, and the plain blend only where the flows disagree
        for i in range(1, n):
            s = i / n
            wa, wb = np.float32(1 - s), np.float32(s)
            if use_flow:
                frame = _warp(af, aux["grid"], aux["f10"], s, maps)
                frame *= wa
                w1 = _warp(bf, aux["grid"], aux["f01"], 1 - s, maps)
                w1 *= wb
                frame += w1
                frame.ravel()[occluded] = wa * af_occ + wb * bf_occ
            else:
                frame = np.multiply(af, wa)
                frame += np.multiply(bf, wb)
            np.maximum(frame, 0, out=frame)
            self.inserted += 1
            yield frame.astype(np.float64), t0 + round(s * (t1 - t0))
