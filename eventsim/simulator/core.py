"""The DVS pixel array: frames in, events out, with torch tensor ops (CPU or CUDA), or on CPU
with numba kernels over numpy arrays (the same events; see `EventSimulator`).

Model (see docs of `DVSParams`): per pixel a reference level ``r`` in log intensity. Between two
consecutive frames the (filtered, leak-drifted) log intensity ``X`` is linear in time, and every
level ``r + j*C_on`` crossed upwards (``r - j*C_off`` downwards) emits one event at its own
linearly interpolated crossing time, as ESIM does; ``r`` then moves by whole thresholds.

Choices worth knowing:
- State is float64 and a level reached within 1e-9 of a threshold counts as crossed, so a return
  to an earlier grey level always emits its event (float32 state loses some of these).
- Event times are rounded *up* to the next whole microsecond, so an event never precedes its
  crossing and the events of interval (t_{k-1}, t_k] stay inside it; chunking a video therefore
  cannot reorder events.
- Refractory: an event closer than ``refractory_period_us`` to the previous *emitted* event of its
  pixel is dropped, but it still moves the reference (the pixel resets without reporting, as in
  ESIM).
- Random draws are keyed by (seed, interval index) for shot noise and hot pixels and by
  (seed, pixel, leak period) for leak jitter, never by how the video was chunked, so chunked
  and whole runs give byte-identical events.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from eventsim import _system
from eventsim.errors import ArgumentValueError, InputError, ParameterError
from eventsim.events import EVENT_DTYPE, check_sensor_size, concat_events, empty_events
from eventsim.simulator.params import MIN_THRESHOLD, DVSParams, check_params, params_expression

if TYPE_CHECKING:
    import torch

_MAX_SEED = 2**64 - 1  # output files store the seed as a 64-bit attribute
_TOL = 1e-9  # relative slack on thresholds, far above float64 rounding, far below any signal
_ELEMENTS_PER_BATCH = 4_000_000  # bounds the float64 working set of one batch of frames
# BT.601 luma in 15-bit fixed point, the coefficients OpenCV uses for RGB->GRAY on uint8
_LUMA_Q15 = (9798, 19235, 3735)
_LUMA_F = (0.299, 0.587, 0.114)
#: Use the numba kernels (pixel walk, shot noise, event assembly) on CPU when numba is
#: installed (tests switch them off to check that the pure-torch path gives the same events).
_USE_NUMBA = True
# seconds this process spends on the torch path before it loads the kernels. Their load
# (numba's import and target set-up, ~0.5 s here) is repaid only by a long run: the kernels save
# about half of the torch path's time without noise and 70 % with shot noise, so an event count
# is a poor proxy (ideal breaks even near 20 M events, noisy near 4 M). Waiting until the torch
# path has cost about what the load costs bounds the loss either way (the ski-rental rule). The
# load is once per process, so the time counts over all its simulators: a dataset build runs
# one short simulation per sample.
_KERNEL_AFTER_TORCH_S = 1.0
_torch_path_s = 0.0  # time this process's simulators have spent on the torch path
_NO_NUMBA = False  # set once loading the kernel failed
# the per-recording state and per-pixel constants, numpy arrays or torch tensors together
_STATE = (
    "_c_on",
    "_c_off",
    "_c_on_lo",
    "_c_off_lo",
    "_leak_speed0",
    "_leak_phase",
    "_log_lut",
    "_a_lut",
    "_ref",
    "_x_prev",
    "_lp",
    "_t_last",
    "_t_raw_last",
    "_leak_base",
    "_leak_speed",
    "_leak_anchor",
    "_leak_cycle",
)
_UNPROBED = object()
_ADDCMUL_FUSED: object = _UNPROBED  # see `_addcmul_rounding`


def _torch():
    from eventsim.errors import require

    if "torch" in sys.modules:
        return require("torch", "sim", "the DVS simulator")
    from eventsim.outputs import sigint_deferred

    # the first use can come mid-run (noisy's first step), under `simulate`'s Ctrl-C handler:
    # torch's C++ initialisers call back into Python, and a KeyboardInterrupt raised in there
    # aborts the process (pybind11's std::terminate), so Ctrl-C waits for the import's end
    with sigint_deferred():
        return require("torch", "sim", "the DVS simulator")


def _sel(values, index):
    """1-D gather; index_select is several times faster than advanced indexing on CPU."""
    return values.index_select(0, index)


def _lookup(lut, codes):
    """Table lookup of uint8 codes of any shape (int32 indices convert faster than int64)."""
    torch = _torch()
    return lut.index_select(0, codes.reshape(-1).to(torch.int32)).view(codes.shape)


def _event_offset(off, dt: int):
    """Crossing offsets (µs, float) -> whole µs in [1, dt], rounded up as in `_assemble`."""
    torch = _torch()
    return torch.ceil(off).to(torch.int64).clamp(1, dt)


def log_curve_np(intensity: np.ndarray, params: DVSParams) -> np.ndarray:
    """Log intensity of DN values (float64), by the curve chosen in ``params``."""
    i = np.asarray(intensity, dtype=np.float64)
    if params.log_curve == "ln":
        return np.log(i / 255.0 + params.log_eps)
    lin_slope = math.log(20.0) / 20.0
    return np.where(i <= 20.0, i * lin_slope, np.log(np.maximum(i, 20.0)))


def _log_curve_t(intensity: torch.Tensor, params: DVSParams) -> torch.Tensor:
    # in place after the first operation: the same values, without a batch-sized temporary
    # (and its page faults) per step
    torch = _torch()
    if params.log_curve == "ln":
        return (intensity / 255.0).add_(params.log_eps).log_()
    lin_slope = math.log(20.0) / 20.0
    logs = intensity.clamp_min(20.0).log_()
    return torch.where(intensity <= 20.0, intensity * lin_slope, logs, out=logs)


def _shr(v: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 tensors (torch's >> is arithmetic)."""
    return (v >> s) & ((1 << (64 - s)) - 1)


def _mix64(z: torch.Tensor) -> torch.Tensor:
    """splitmix64 finaliser on int64 tensors (wrapping multiply)."""
    z = (z ^ _shr(z, 30)) * -4658895280553007687  # 0xBF58476D1CE4E5B9 as int64
    z = (z ^ _shr(z, 27)) * -7723592293110705685  # 0x94D049BB133111EB as int64
    return z ^ _shr(z, 31)


def _hash_normal(seed: int, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Standard normal per (a, b) pair, a pure function of (seed, a, b): Box-Muller on two
    26-bit uniforms cut from one splitmix64 hash, on the CPU (`EventSimulator._leak_gain`)."""
    torch = _torch()
    key = (int(seed) * 1_000_003 + 7) & ((1 << 62) - 1)
    z = _mix64(_mix64(a * 0x9E3779B1 + key) ^ b)
    scale = 1.0 / 2.0**26
    u1 = (_shr(z, 38).to(torch.float64) + 0.5) * scale
    u2 = (((z >> 11) & ((1 << 26) - 1)).to(torch.float64) + 0.5) * scale
    return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2.0 * math.pi * u2)


# Bytes a pixel of the simulator holds at the least (the `_STATE` arrays; a measured run took
# 76 a pixel above a fixed overhead): thresholds as given and lowered by the tolerance (4
# float64), filter, reference and previous level (3 float64) and two last-event times (int64).
_STATE_BYTES = 72
# the leak's rate, phase, drift base and speed (float64), anchor and cycle (int64)
_LEAK_BYTES = 48
# the thresholds, drawn on the host before they move to a GPU (the leak's rate and phase too)
_HOST_CONSTANT_BYTES, _HOST_LEAK_BYTES = 32, 16
# the frames in flight: a batch of grey frames (4 or more) and a source's colour frame
_FRAME_BYTES = 8
# an estimate under this is not checked: every machine that runs torch has that much
_UNCHECKED_BYTES = 256 << 20
# the frame types the simulator takes as they are (grey or RGB), one list for `step`,
# `simulate`'s batches and `sources._array_frames`, which converts the others: a type in one
# and not another would break chunked == whole
_FRAME_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32), np.dtype(np.float64))


def stack_frames(frames: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """``frames`` as one numpy array; InputError where they make none, naming the first frame
    whose size differs from frame 0's (numpy said only "setting an array element with a
    sequence")."""
    if isinstance(frames, np.ndarray):
        return frames
    try:
        return np.asarray(frames)
    except (TypeError, ValueError) as exc:
        said = f"frames ({type(frames).__name__}) do not make one numpy array"
        raise InputError(f"{said}: {_odd_frame(frames) or exc}") from None


def _odd_frame(frames: Any) -> str | None:
    """The first frame of ``frames`` whose shape is not frame 0's, in words; None when there
    is none to name."""
    try:
        shapes = [np.shape(f) for f in frames]
    except (TypeError, ValueError):
        return None
    for i, shape in enumerate(shapes[1:], 1):
        if shape != shapes[0]:
            return (
                f"frame {i} is {_frame_size(shape)} and frame 0 is {_frame_size(shapes[0])}; "
                "expected frames of one size (eventsim.simulator.sources.fit_frame resizes one)"
            )
    return None


def _frame_size(shape: tuple[int, ...]) -> str:
    size = f"{shape[1]}x{shape[0]} " if len(shape) >= 2 else ""
    return f"{size}(shape {shape})"


def _available_memory() -> int | None:
    """Bytes of memory this process may still take: the less of what the machine has and
    what this process's cgroups let it take (`cgroup_memory_room`: a container's limit, past
    which the process is killed, can be far below what the host has free). The machine's
    figure is psutil's 'available' (free memory and what the system can reclaim from
    caches), or without psutil its physical memory (the free pages os.sysconf reports leave
    the caches out, and refusing a sensor that fits would be worse than missing one that
    does not); None when none of these can tell."""
    figures = [_machine_memory(), _system.cgroup_memory_room()]
    known = [f for f in figures if f is not None]
    return min(known) if known else None


def _machine_memory() -> int | None:
    try:
        import psutil  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        pass
    else:
        return int(psutil.virtual_memory().available)
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def _gpu_memory(device: torch.device) -> int:
    """Total memory of a CUDA device: its free memory moves with other processes and with
    torch's cache of freed blocks, which this process can take back."""
    return int(_torch().cuda.get_device_properties(device).total_memory)


def check_memory(
    sensor_size: tuple[int, int], params: DVSParams, device: str | torch.device | None = "cpu"
) -> None:
    """ParameterError when a simulator of ``sensor_size`` clearly cannot fit: the per-pixel
    state it must hold (72 bytes a pixel, 120 with the leak on, and the frames in flight) is
    more than the memory available (on a GPU: the device's memory). A 32767x32767 sensor needs
    about 80 GiB. The estimate is a floor (events, noise draws and flow upsampling take more),
    so a sensor it lets through may still run short."""
    width, height = check_sensor_size(sensor_size)
    n = width * height
    leak = params.leak_rate_hz > 0
    dev = None if device is None else _resolve_device(device)
    for bytes_per_pixel, gpu in _state_floors(params, dev):
        need = n * bytes_per_pixel
        if need < _UNCHECKED_BYTES:
            continue
        have = _available_memory() if gpu is None else _gpu_memory(gpu)
        if have is not None and need > have:
            leak_on = " with the leak on" if leak else ""
            raise ParameterError(
                f"sensor size {width}x{height} ({n:,} pixels) needs about {_size(need)} "
                f"{_where(gpu)} for the simulator's per-pixel state ({bytes_per_pixel} bytes a pixel"
                f"{leak_on}), more than the {_size(have)} available; expected a smaller sensor "
                "size"
            )


def state_bytes_per_pixel(
    params: DVSParams, device: str | torch.device | None = "cpu"
) -> list[tuple[int, str]]:
    """The bytes a pixel of a simulator holds at the least (`check_memory`'s floor), with
    where: ``"of memory"`` (the host's), and on a GPU also ``"on cuda:N"``."""
    dev = None if device is None else _resolve_device(device)
    return [(n, _where(gpu)) for n, gpu in _state_floors(params, dev)]


def _state_floors(
    params: DVSParams, dev: torch.device | None
) -> list[tuple[int, torch.device | None]]:
    """`state_bytes_per_pixel`'s floors, each with the CUDA device that holds it (None: the
    host), which `check_memory` asks for its memory."""
    leak = params.leak_rate_hz > 0
    per_pixel = _STATE_BYTES + (_LEAK_BYTES if leak else 0)
    if dev is not None and dev.type == "cuda":
        host = _FRAME_BYTES + _HOST_CONSTANT_BYTES + (_HOST_LEAK_BYTES if leak else 0)
        return [(host, None), (per_pixel, dev)]
    return [(_FRAME_BYTES + per_pixel, None)]


def _where(gpu: torch.device | None) -> str:
    return "of memory" if gpu is None else f"on {gpu}"


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.1f} MiB"


class FrameScaleWarning(UserWarning):
    """Float frames that look scaled to 0..1, where the simulator reads DN (0..255)."""


class ThresholdSpreadWarning(UserWarning):
    """A ``threshold_sigma`` so wide against the contrast thresholds that many pixels'
    thresholds are clamped to the floor (`MIN_THRESHOLD`)."""


#: Share of pixels whose mismatched ON or OFF threshold may fall to `MIN_THRESHOLD` without a
#: `ThresholdSpreadWarning`: a clamped pixel fires threshold / 0.01 times as often as a nominal
#: one (20 times at 0.2), and the clamp raises the mean threshold.
_CLAMPED_SHARE = 0.01


def threshold_spread_problem(params: DVSParams) -> str | None:
    """What a `ThresholdSpreadWarning` says of ``params``, or None when under `_CLAMPED_SHARE`
    of the pixels' ON or OFF thresholds would be clamped: the share is the normal tail below the
    floor, whatever the seed or sensor."""
    sigma = params.threshold_sigma
    if sigma <= 0:
        return None
    normal = statistics.NormalDist()
    clamped = []
    worst = 0.0
    for name, word in (("pos_threshold", "ON"), ("neg_threshold", "OFF")):
        threshold = getattr(params, name)
        share = normal.cdf((MIN_THRESHOLD - threshold) / sigma)
        if share > _CLAMPED_SHARE:
            clamped.append(f"{100 * share:.2g} % of the {word} thresholds ({name} = {threshold:g})")
            worst = max(worst, threshold)
    if not clamped:
        return None
    lowest = min(params.pos_threshold, params.neg_threshold)
    most = (lowest - MIN_THRESHOLD) / normal.inv_cdf(1 - _CLAMPED_SHARE)
    # two significant digits, rounded down: the value shown keeps under the share
    digits = 1 - math.floor(math.log10(most)) if most > 0 else 0
    most = math.floor(most * 10**digits) / 10**digits
    faster = (
        f", where a pixel fires {worst / MIN_THRESHOLD:.3g} times as often as at {worst:g}"
        if worst >= 2 * MIN_THRESHOLD
        else ""
    )
    return (
        f"threshold_sigma = {sigma:g} clamps about {' and '.join(clamped)} to the floor of "
        f"{MIN_THRESHOLD:g}{faster}; expected at most {most:g} for these thresholds (under "
        f"{100 * _CLAMPED_SHARE:g} % clamped; v2e's presets use 0.02 to 0.05 at 0.2)"
    )


def _warn_threshold_spread(params: DVSParams, stacklevel: int) -> None:
    """`ThresholdSpreadWarning` with `threshold_spread_problem`'s text, if any; ``stacklevel``
    as `warnings.warn`'s, 1 being this function's caller."""
    problem = threshold_spread_problem(params)
    if problem is not None:
        warnings.warn(problem, ThresholdSpreadWarning, stacklevel=stacklevel + 1)


def warn_float_scale(peak: float, stacklevel: int = 2) -> None:
    """`FrameScaleWarning` when float frames peaking at ``peak`` look scaled to 0..1 (0 < peak
    <= 1); ``stacklevel`` as `warnings.warn`'s, 1 being this function's caller."""
    # 0..1 floats (torchvision's and skimage's convention) would run as a very dark scene:
    # every log change compressed by log_eps, fewer events and no error
    if 0 < peak <= 1.0:
        warnings.warn(
            f"float frames peak at {peak:g}; EventSimulator reads float frames as intensities "
            "in DN (0..255 nominal): multiply 0..1 frames by 255",
            FrameScaleWarning,
            stacklevel=stacklevel + 1,
        )


class EventSimulator:
    """Streaming DVS simulator.

    ``step(frames, timestamps_us)`` takes a chunk of frames ``[T,H,W]`` or ``[T,H,W,3]`` (RGB),
    uint8 or float intensities in DN (0..255 nominal, HDR values above are fine) and returns the
    events up to the last frame's time. The first frame after `reset` only sets the state.
    Feeding a video in chunks gives exactly the events of feeding it whole.

    Grey uint8 and float frames of the same DN give the same events; RGB frames do not quite:
    uint8 RGB is reduced to 8-bit luma with rounding (BT.601 in fixed point, as OpenCV's
    RGB-to-grey), float RGB to float luma, so the two differ by up to half a DN a pixel (and
    in the events near a threshold). Give grey frames, or one dtype throughout, where that
    matters.

    On CPU with numba installed, uint8 input runs through numba kernels over numpy state, and
    a process that has not imported torch loads those kernels at once: a noise-free run then
    never imports torch (~1 s of start-up here). Otherwise the state lives in torch tensors and
    the torch path runs (CUDA, float input, or until the kernels pay for their load). Both
    compute the same float64 operations and give the same events, bit for bit.

    The first chunk of float frames is looked at for a scale of 0..1 (`FrameScaleWarning`);
    ``check_scale=False`` skips that, for a caller whose float frames are DN by construction
    (converted from integer samples, interpolated) or that looks at its own, as `simulate` does.
    """

    # Per-recording state: `_start` sets it from the first frame after `reset`, before
    # anything reads it (the leak arrays only when the leak is on). numpy arrays, or torch
    # tensors while the torch path holds them (`_as_torch`, `_as_numpy`).
    _ref: Any
    _x_prev: Any
    _lp: Any
    _t_last: Any
    _t_raw_last: Any
    _leak_base: Any
    _leak_speed: Any
    _leak_anchor: Any
    _leak_cycle: Any
    _gains: dict[int, torch.Tensor]  # low-pass gain tables by interval length (µs)

    def __init__(
        self,
        params: DVSParams,
        sensor_size: Sequence[int],
        *,
        seed: int = 0,
        device: str = "cpu",
        check_scale: bool = True,
    ) -> None:
        self.params = check_params(params)
        self.sensor_size = check_sensor_size(sensor_size)
        if (
            isinstance(seed, bool)
            or not isinstance(seed, (int, np.integer))
            or not 0 <= int(seed) <= _MAX_SEED
        ):
            # a fractional seed was cut to an integer without a word, and one beyond 64 bits
            # ran, then failed as a TypeError when the output file stored it
            raise ParameterError(f"seed {seed!r}; expected an integer 0..2**64-1")
        self.seed = int(seed)
        # float frames' scale is looked at once (see `_check`), unless the caller does it
        self._scale_checked = not check_scale
        self._device = _resolve_device(device)
        # before the arrays below: a sensor far beyond the memory was killed or swapped
        check_memory(self.sensor_size, params, self._device)
        self._on_cpu = self._device is None or self._device.type == "cpu"
        #: where the simulator runs, as torch writes it ("cpu", "cuda:0")
        self.device_name = "cpu" if self._device is None else str(self._device)
        width, height = self.sensor_size
        n = width * height
        self._n = n

        # fixed pattern noise, drawn on the host so CPU and CUDA runs share it
        rng = np.random.default_rng([self.seed, 0])
        c_on = np.full(n, params.pos_threshold)
        c_off = np.full(n, params.neg_threshold)
        if params.threshold_sigma > 0:
            _warn_threshold_spread(params, stacklevel=2)
            c_on = np.maximum(MIN_THRESHOLD, c_on + params.threshold_sigma * rng.standard_normal(n))
            c_off = np.maximum(
                MIN_THRESHOLD, c_off + params.threshold_sigma * rng.standard_normal(n)
            )
        # numpy until the torch path needs tensors (`_as_torch`)
        self._tensors = False
        self._c_on = c_on
        self._c_off = c_off
        self._c_on_lo = c_on * (1 - _TOL)
        self._c_off_lo = c_off * (1 - _TOL)

        self._leak = params.leak_rate_hz > 0
        if self._leak:
            spread = params.leak_rate_spread_decades * math.log(10.0)
            # log-normal gain normalised to mean 1, so the mean rate is the parameter
            gain = np.exp(spread * rng.standard_normal(n) - spread**2 / 2)
            # drift speed in log units per µs: one ON threshold per leak period
            self._leak_speed0 = params.leak_rate_hz * 1e-6 * gain * c_on
            self._leak_phase = rng.random(n) * c_on
        n_hot = round(params.hot_pixel_fraction * n) if params.hot_pixel_rate_hz > 0 else 0
        self._hot = np.sort(rng.choice(n, size=n_hot, replace=False)) if n_hot else None

        # the numba kernels replace the torch per-pixel walk, shot-noise thinning and event
        # assembly on CPU (same events and state); CUDA and installs without numba use the
        # torch path. Loading numba costs about half a second (it imports scipy), so a short
        # run stays on the torch path unless this process has loaded the kernels already
        # (see `_kernel_for`).
        self._kernel: ModuleType | None = None
        self._may_use_kernel = self._on_cpu
        # the kernels' module for the shot noise of uint8 input on CUDA (see `_step_batch`)
        self._noise_kernel: ModuleType | None = None
        # the numba walk's record and pause buffers, grown as needed and kept between batches
        self._rec_buf = np.empty((0, 6), np.float64)
        self._pause_buf = np.empty((0, 4), np.int64)
        self._w = 2 * math.pi * params.cutoff_hz * 1e-6  # low-pass corner at full intensity
        self._gains = {}

        levels = np.arange(256, dtype=np.float64)
        self._log_lut = log_curve_np(levels, params)
        self._a_lut_np = np.minimum(1.0, (levels + 20.0) / 275.0)
        self._a_lut = self._a_lut_np
        self.reset()

    def __repr__(self) -> str:
        # from the plain attributes only: no torch import, no work on the state
        try:
            width, height = self.sensor_size
            seen = self._k + 1 if self._started else 0
            shown = [
                f"sensor={width}x{height}",
                f"params={params_expression(self.params)}",
                f"seed={self.seed}",
                f"device={self.device_name!r}",
                f"frames_seen={seen}",
            ]
            if self._t_prev is not None:
                shown.append(f"t_last_us={self._t_prev}")
        except Exception:  # a half-built simulator (its __init__ raised) still shows
            return f"<{type(self).__name__} (incomplete)>"
        return f"{type(self).__name__}({', '.join(shown)})"

    @property
    def device(self) -> torch.device:
        """The torch device the simulator runs on (importing torch: see `device_name`)."""
        if self._device is None:
            self._device = _torch().device("cpu")
        return self._device

    def _as_torch(self) -> None:
        """Hold the state as torch tensors on the device (on CPU they share the arrays)."""
        if self._tensors:
            return
        torch = _torch()
        dev = self.device
        for name in _STATE:
            value = self.__dict__.get(name)
            if value is not None:
                setattr(self, name, torch.from_numpy(value).to(dev))
        self._tensors = True

    def _as_numpy(self) -> None:
        """Hold the state as numpy arrays (CPU only; they share the tensors' memory)."""
        if not self._tensors:
            return
        for name in _STATE:
            value = self.__dict__.get(name)
            if value is not None:
                setattr(self, name, value.numpy())
        if self._started:
            # the kernel writes it in place, and the torch path may have left it as the filter
            # state itself or as a row of a batch
            self._x_prev = self._x_prev.copy()
        self._tensors = False

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget the previous frames; the next frame starts a new recording."""
        self._started = False
        self._t_prev: int | None = None
        self._k = 0  # index of the next interval since reset: keys the noise draws
        # (pixels, dirty, fired, last raw time) of the last batch's refractory pre-screen
        self._screen: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    @property
    def t_last_us(self) -> int | None:
        """Time of the last frame seen (None before the first frame)."""
        return self._t_prev

    # ------------------------------------------------------------------ input
    def _check(self, frames: Any, timestamps_us: Any) -> tuple[np.ndarray, np.ndarray]:
        width, height = self.sensor_size
        frames = stack_frames(frames)
        if not (frames.ndim == 3 or (frames.ndim == 4 and frames.shape[3] in (1, 3, 4))):
            one = " (one frame? pass frames[None])" if frames.shape == (height, width) else ""
            raise InputError(
                f"frames have shape {frames.shape}{one}; expected [T,{height},{width}] (grey), "
                f"[T,{height},{width},3] (RGB) or [T,{height},{width},4] (RGBA) for sensor size "
                f"{width}x{height}"
            )
        if frames.shape[1:3] != (height, width):
            if (
                frames.ndim == 3
                and frames.shape[2] in (3, 4)
                and frames.shape[:2] == (height, width)
            ):
                # else named as H frames of 3xW pixels ("frames are 3x80")
                kind = "RGB" if frames.shape[2] == 3 else "RGBA"
                raise InputError(
                    f"frames have shape {frames.shape}, which looks like one {kind} frame of the "
                    f"sensor's {width}x{height}; frames are [T,H,W,{frames.shape[2]}]: pass "
                    "frames[None] for one frame"
                )
            raise InputError(
                f"frames are {frames.shape[2]}x{frames.shape[1]} (shape {frames.shape}); the "
                f"sensor is {width}x{height}: resize them to it (eventsim.simulator.sources."
                "fit_frame), or use simulate_frames(..., sensor_size=...) or ArraySource(..., "
                "sensor_size=...), which fit frames to the sensor"
            )
        user_float = frames.dtype.kind == "f"
        if not (frames.dtype in _FRAME_DTYPES and frames.shape[3:] in ((), (3,))):
            # the inputs that need no conversion skip the import of OpenCV with the sources
            from eventsim.simulator.sources import _array_frames, _check_frame_dtype

            _check_frame_dtype(frames.dtype, "frames have")
            frames = _array_frames(frames)
        ts = np.asarray(timestamps_us)
        if ts.dtype == np.bool_ or not (
            np.issubdtype(ts.dtype, np.integer) or np.issubdtype(ts.dtype, np.floating)
        ):
            raise InputError(f"timestamps_us have dtype {ts.dtype}; expected integer microseconds")
        if ts.size and ts.dtype.kind in "uf":
            peak = float(np.abs(ts).max()) if ts.dtype.kind == "f" else int(ts.max())
            if peak >= 2**63:
                # the cast to int64 wrapped them ("frame 1 at -1 us follows ...")
                raise InputError(f"timestamps_us reach {peak:g} us; expected times within int64 us")
        if ts.ndim != 1 or ts.shape[0] != frames.shape[0]:
            raise InputError(
                f"timestamps_us has shape {ts.shape}; expected ({frames.shape[0]},), one per frame"
            )
        if ts.size and not np.issubdtype(ts.dtype, np.integer):
            fractional = ~np.isfinite(ts) | (ts != np.round(ts))
            if fractional.any():
                i = int(np.flatnonzero(fractional)[0])
                # rounding, which simulate_frames and ArraySource do, cannot mend NaN
                fix = (
                    "round them first (np.rint), as simulate_frames and ArraySource do"
                    if np.isfinite(ts[i])
                    else "expected finite times"
                )
                raise InputError(
                    f"timestamps_us must be integer microseconds: entry {i} is {float(ts[i])!r}; "
                    f"{fix}"
                )
        ts = ts.astype(np.int64)
        if ts.size:
            steps = np.diff(ts)
            bad = np.flatnonzero(steps <= 0)
            if bad.size:
                i = int(bad[0]) + 1
                raise InputError(
                    f"timestamps must increase strictly: frame {i} at {ts[i]} us follows "
                    f"{ts[i - 1]} us"
                )
            if self._t_prev is not None and ts[0] <= self._t_prev:
                raise InputError(
                    f"timestamps must increase strictly: frame at {ts[0]} us follows the "
                    f"previous chunk's last frame at {self._t_prev} us"
                )
        if np.issubdtype(frames.dtype, np.floating) and frames.size:
            finite = np.isfinite(frames)
            if not finite.all():
                i = int(np.flatnonzero(~finite.reshape(frames.shape[0], -1).all(axis=1))[0])
                raise InputError(f"frame {i} holds NaN or infinite intensities")
            if frames.min() < 0:
                raise InputError("frames hold negative intensities; expected values >= 0 (DN)")
            if user_float and not self._scale_checked:
                self._scale_checked = True
                warn_float_scale(float(frames.max()), stacklevel=3)
        return frames, ts

    def _luma(self, frames: np.ndarray) -> torch.Tensor:
        """[T,...] frames -> [T,N] luma: uint8 stays uint8 (OpenCV's rounding), float -> float64."""
        torch = _torch()
        t_count = frames.shape[0]
        frames = np.ascontiguousarray(frames)
        if not frames.flags.writeable:
            # torch warns on read-only buffers even though the simulator never writes to them
            frames = frames.copy()
        x = torch.from_numpy(frames).to(self.device)
        if frames.dtype == np.uint8:
            if x.ndim == 4:
                x32 = x.to(torch.int32)
                r, g, b = _LUMA_Q15
                x = ((x32[..., 0] * r + x32[..., 1] * g + x32[..., 2] * b + 16384) >> 15).to(
                    torch.uint8
                )
            return x.reshape(t_count, -1)
        x = x.to(torch.float64)
        if x.ndim == 4:
            x = x[..., 0] * _LUMA_F[0] + x[..., 1] * _LUMA_F[1] + x[..., 2] * _LUMA_F[2]
        return x.reshape(t_count, -1)

    def _luma_np(self, frames: np.ndarray) -> np.ndarray:
        """`_luma` of uint8 frames in numpy (the same integer arithmetic)."""
        t_count = frames.shape[0]
        frames = np.ascontiguousarray(frames)
        if frames.ndim == 4:
            x32 = frames.astype(np.int32)
            r, g, b = _LUMA_Q15
            frames = ((x32[..., 0] * r + x32[..., 1] * g + x32[..., 2] * b + 16384) >> 15).astype(
                np.uint8
            )
        elif not frames.flags.writeable:
            # a read-only array is another type to numba: one more compile of every kernel
            frames = frames.copy()
        return frames.reshape(t_count, -1)

    def _log(self, luma: torch.Tensor) -> torch.Tensor:
        torch = _torch()
        if luma.dtype == torch.uint8:
            return _lookup(self._log_lut, luma)
        if luma.device.type != "cpu":
            # CUDA's log differs from the CPU's in the last bit for about 1 value in 3000:
            # the CPU takes the logs of float input for every device, as it builds the tables
            return _log_curve_t(luma.cpu(), self.params).to(luma.device)
        return _log_curve_t(luma, self.params)

    def _intensity_factor(self, luma):
        """v2e's a = (I + 20) / 275, capped at 1: 0.073 for black, 1 at 255 DN (a tensor, or
        a numpy array for numpy input: the same float64 values)."""
        torch = _torch()
        if isinstance(luma, np.ndarray):
            if luma.dtype == np.uint8:
                return self._a_lut_np[luma]
            return np.minimum((luma + 20.0) / 275.0, 1.0)
        if luma.dtype == torch.uint8:
            return _lookup(self._a_lut, luma)
        return (luma + 20.0).div_(275.0).clamp_max_(1.0)

    def _mean_intensity_factors(self, luma: torch.Tensor) -> list[float]:
        """Mean of a = (I + 20) / 275 (capped at 1) over each frame of ``luma`` [T, N]."""
        torch = _torch()
        if luma.dtype == torch.uint8:
            return _mean_factors(luma.sum(dim=1, dtype=torch.int64).tolist(), luma.shape[1])
        # on the CPU: a CUDA reduction sums in another order, and the mean sets the noise rate
        return [float(self._intensity_factor(row.cpu()).mean()) for row in luma]

    def _drift(self, base, speed, anchor, t_us: int):
        return base + speed * (t_us - anchor).to(speed.dtype)

    # ------------------------------------------------------------------ main
    def step(
        self,
        frames: np.ndarray | Sequence[np.ndarray],
        timestamps_us: np.ndarray | Sequence[int],
    ) -> np.ndarray:
        """Simulate a chunk of frames (an array, or a list of frames of one size) at
        ``timestamps_us`` (integer µs, one a frame, increasing across chunks); returns the
        events (EVENT_DTYPE, time-sorted)."""
        frames, ts = self._check(frames, timestamps_us)
        if frames.shape[0] == 0:
            return empty_events()
        per_batch = max(1, _ELEMENTS_PER_BATCH // self._n)
        parts = []
        for lo in range(0, frames.shape[0], per_batch):
            ev = self._step_batch(frames[lo : lo + per_batch], ts[lo : lo + per_batch])
            if ev.size:
                parts.append(ev)
        if not parts:
            return empty_events()
        return parts[0] if len(parts) == 1 else concat_events(parts)

    def _start(self, luma0: torch.Tensor | np.ndarray, t0: int) -> None:
        if isinstance(luma0, np.ndarray):
            self._start_np(luma0, t0)
            return
        torch = _torch()
        n, dev = self._n, self.device
        log0 = self._log(luma0).clone()
        self._lp = log0
        self._ref = log0.clone()
        self._x_prev = log0
        if self._leak:
            # random phase so leak events of different pixels are not synchronised
            self._leak_base = self._leak_phase.clone()
            self._leak_speed = self._leak_speed0.clone()
            self._leak_anchor = torch.full((n,), t0, dtype=torch.int64, device=dev)
            self._leak_cycle = torch.zeros(n, dtype=torch.int64, device=dev)
            self._x_prev = log0 + self._leak_base
        # last emitted and last raw (before the refractory filter) event time per pixel
        self._t_last = torch.full((n,), -(2**62), dtype=torch.int64, device=dev)
        self._t_raw_last = self._t_last.clone()
        self._t_prev = t0
        self._started = True

    def _start_np(self, codes0: np.ndarray, t0: int) -> None:
        """`_start` in numpy, from uint8 codes (the same values)."""
        n = self._n
        log0 = self._log_lut[codes0]
        self._lp = log0
        self._ref = log0.copy()
        self._x_prev = log0.copy()
        if self._leak:
            self._leak_base = self._leak_phase.copy()
            self._leak_speed = self._leak_speed0.copy()
            self._leak_anchor = np.full(n, t0, dtype=np.int64)
            self._leak_cycle = np.zeros(n, dtype=np.int64)
            self._x_prev = log0 + self._leak_base
        self._t_last = np.full(n, -(2**62), dtype=np.int64)
        self._t_raw_last = self._t_last.copy()
        self._t_prev = t0
        self._started = True

    def _step_batch(self, frames: np.ndarray, ts: np.ndarray) -> np.ndarray:
        global _torch_path_s
        p = self.params
        self._screen = None
        if self._may_use_kernel and self._kernel is None:
            self._kernel = _kernel_for(_torch_path_s)
        # the kernel's walk gives the torch path's records unless uint8 input goes through a
        # low-pass whose rounding in torch is unknown (see `_addcmul_rounding`)
        walk = self._kernel is not None and (
            frames.dtype != np.uint8 or p.cutoff_hz <= 0 or _addcmul_rounding() is not None
        )
        luma: Any
        if walk and frames.dtype == np.uint8:
            self._as_numpy()
            luma = self._luma_np(frames)
        else:
            self._as_torch()
            luma = self._luma(frames)
        if not self._started:
            self._start(luma[0], int(ts[0]))
            luma, ts = luma[1:], ts[1:]
        t_count = luma.shape[0]
        if t_count == 0:
            return empty_events()
        # torch-path time counts towards loading the kernels only where they can run
        started = time.perf_counter() if self._may_use_kernel and self._kernel is None else None
        t_prev0 = self._t_prev
        assert t_prev0 is not None  # set by _start
        t_starts = [t_prev0, *(int(v) for v in ts[:-1])]
        t_ends = [int(v) for v in ts]

        totals = None
        if walk:
            records, totals = self._walk(luma, t_starts, t_ends)
        else:
            records = self._records_torch(luma, t_starts, t_ends)
        noise = []
        if p.shot_noise_rate_hz > 0 or self._hot is not None:
            # one pass over the batch for every interval's mean intensity factor
            mean_a = None
            noise_luma = luma
            if p.shot_noise_rate_hz > 0:
                mean_a = (
                    self._mean_intensity_factors(luma)
                    if totals is None
                    else _mean_factors(totals, self._n)
                )
                noise_luma = self._noise_luma(luma)
            for k in range(t_count):
                ev = self._noise_events(
                    noise_luma[k],
                    t_starts[k],
                    t_ends[k] - t_starts[k],
                    self._k + k,
                    None if mean_a is None else mean_a[k],
                )
                if ev is not None:
                    noise.append(ev)
        self._t_prev = t_ends[-1]
        self._k += t_count
        if self._kernel is not None:
            if isinstance(records, list):
                records = _record_arrays(records, t_starts)
            ev = self._assemble_numba(records, noise, t_starts, t_ends)
        else:
            torch = _torch()
            dev = self.device
            if len(noise) > 1:
                # one upload per column for the batch: the intervals' noise stays in order
                noise = [tuple(np.concatenate(c) for c in zip(*noise))]
            noise = [tuple(torch.from_numpy(a).to(dev) for a in ev) for ev in noise]
            ev = self._assemble(records, noise, t_prev0, t_ends[-1])
        if started is not None:
            _torch_path_s += time.perf_counter() - started
        return ev

    def _lowpass(self, luma: torch.Tensor, t_starts: list[int], t_ends: list[int]):
        """[T, N] photoreceptor output after each frame; moves the filter state along."""
        torch = _torch()
        x_all = torch.empty(luma.shape, dtype=torch.float64, device=self.device)
        prev = self._lp
        u8 = luma.dtype == torch.uint8
        # float input's gains and logs come from the CPU's exp and log on every device (CUDA's
        # differ in the last bit), like uint8 input's tables: one copy of the batch to the host
        host = luma.cpu() if not u8 and luma.device.type != "cpu" else luma
        for k in range(luma.shape[0]):
            # exact first-order response to a step, stable for any interval length;
            # for uint8 input the gain is a 256-entry table per interval
            if u8:
                eps = _lookup(self._gain_table(t_ends[k] - t_starts[k]), luma[k])
                log = self._log(luma[k])
            else:
                decay = -self._w * (t_ends[k] - t_starts[k])
                # 1 - exp(a * decay) in place (-x + 1 is 1 - x to the bit)
                eps = self._intensity_factor(host[k]).mul_(decay).exp_().neg_().add_(1.0)
                log = _log_curve_t(host[k], self.params)
                if host is not luma:
                    eps, log = eps.to(luma.device), log.to(luma.device)
            torch.addcmul(prev, eps, log.sub_(prev), out=x_all[k])
            prev = x_all[k]
        self._lp = prev.clone()
        return x_all

    def _gain_table(self, dt: int) -> torch.Tensor:
        """Low-pass gain 1 - exp(-w * a * dt) of each uint8 level for an interval of dt µs."""
        torch = _torch()
        table = self._gains.get(dt)
        if table is None:
            if len(self._gains) >= 64:  # variable frame rates: keep the cache bounded
                self._gains.clear()
            # on the CPU for every device: CUDA's exp may differ in the last bit
            a_lut = torch.from_numpy(self._a_lut_np)
            table = (1.0 - torch.exp(a_lut * (-self._w * dt))).to(self.device)
            self._gains[dt] = table
        return table

    def _records_torch(self, luma: torch.Tensor, t_starts: list[int], t_ends: list[int]):
        """Crossing records of the batch by torch ops over the pixels that may fire."""
        torch = _torch()
        p = self.params
        t_prev0 = t_starts[0]
        # X: the log intensity the comparators see (after the photoreceptor filter)
        if p.cutoff_hz > 0:
            x_all = self._lowpass(luma, t_starts, t_ends)
            hi, lo = x_all.amax(0), x_all.amin(0)
        elif luma.dtype == torch.uint8:
            x_all = None  # looked up only for the pixels that may fire
            hi = self._log(luma.amax(0))
            lo = self._log(luma.amin(0))
        else:
            x_all = self._log(luma)
            hi, lo = x_all.amax(0), x_all.amin(0)
        if self._leak:
            # drift never decreases, so these bounds hold for every frame of the batch
            hi = hi + self._drift(self._leak_base, self._leak_speed, self._leak_anchor, t_ends[-1])
            lo = lo + self._drift(self._leak_base, self._leak_speed, self._leak_anchor, t_prev0)
        ref = self._ref
        maybe = (hi - ref >= self._c_on_lo) | (lo - ref <= -self._c_off_lo)
        act = torch.nonzero(maybe).squeeze(1)
        sig = self._crossings(act, luma, x_all, t_starts, t_ends) if act.numel() else []

        x_last = x_all[-1] if x_all is not None else self._log(luma[-1])
        if self._leak:
            x_last = x_last + self._drift(
                self._leak_base, self._leak_speed, self._leak_anchor, t_ends[-1]
            )
        self._x_prev = x_last
        return sig

    def _walk(self, luma: torch.Tensor | np.ndarray, t_starts: list[int], t_ends: list[int]):
        """`_records_torch` by the numba kernel in one pass over the pixels: the same records
        (already in `_assemble_numba`'s order) and state; also each frame's sum of uint8 codes
        for the shot noise (None for float input). uint8 input comes as numpy codes with the
        state in numpy, float input as a tensor with the state in tensors."""
        kern = self._kernel
        assert kern is not None  # _step_batch calls this only with the kernel loaded
        p = self.params
        n_t = luma.shape[0]
        i64, f64 = np.int64, np.float64
        no_i64 = np.empty(0, i64)
        no_f64 = np.empty(0, f64)
        if isinstance(luma, np.ndarray):
            codes = luma
            x_in = np.empty((0, 0), f64)
            log_lut = self._log_lut
            gains = np.empty((0, 256), f64)
            if p.cutoff_hz > 0:
                gains = np.stack(
                    [self._gain_table(t1 - t0).numpy() for t0, t1 in zip(t_starts, t_ends)]
                )
            sums = np.zeros(n_t, i64) if p.shot_noise_rate_hz > 0 else no_i64
        else:
            codes = np.empty((0, 0), np.uint8)
            x_all = self._lowpass(luma, t_starts, t_ends) if p.cutoff_hz > 0 else self._log(luma)
            x_in = x_all.numpy()
            log_lut = no_f64
            gains = np.empty((0, 256), f64)
            sums = no_i64
        # the kernel writes the state in place: the torch path may have left the filter
        # state and the previous input as one tensor, or the latter as a view of a batch
        x_prev = self._x_prev
        if self._tensors and (
            x_prev.data_ptr() == self._lp.data_ptr()
            or x_prev.untyped_storage().nbytes() != (x_prev.numel() * x_prev.element_size())
        ):
            self._x_prev = x_prev.clone()
        if self._leak:
            leak_state = (
                _np(self._leak_base),
                _np(self._leak_speed),
                _np(self._leak_anchor),
                _np(self._leak_cycle),
            )
        else:
            leak_state = (no_f64, no_f64, no_i64, no_i64)
        jitter = self._leak and p.leak_jitter_fraction > 0
        # only the low-pass of uint8 input rounds as torch's addcmul (no torch otherwise)
        fused = bool(_addcmul_rounding()) if p.cutoff_hz > 0 and codes.size else True

        t_starts_a = np.asarray(t_starts, i64)
        t_ends_a = np.asarray(t_ends, i64)
        n_rec = n_pause = 0

        def run(pixels: np.ndarray, k_first: np.ndarray, slots: np.ndarray, sums: np.ndarray):
            nonlocal n_rec, n_pause
            n_walk = pixels.size or self._n
            i = 0
            while True:
                i, n_rec, n_pause = kern.walk(
                    codes,
                    x_in,
                    log_lut,
                    gains,
                    fused,
                    t_starts_a,
                    t_ends_a,
                    _np(self._ref),
                    _np(self._x_prev),
                    _np(self._lp),
                    _np(self._c_on),
                    _np(self._c_off),
                    self._leak,
                    jitter,
                    *leak_state,
                    pixels,
                    k_first,
                    slots,
                    sums,
                    i,
                    self._rec_buf,
                    n_rec,
                    self._pause_buf,
                    n_pause,
                )
                if i == n_walk:
                    return
                # buffers full: grow them (kept for the next batches) and walk on; the walk
                # wants room for a block of pixels at a time
                room = kern.BLOCK * n_t
                if n_rec + room > self._rec_buf.shape[0]:
                    self._rec_buf = _grown(self._rec_buf, n_rec, n_rec + room)
                if n_pause + kern.BLOCK > self._pause_buf.shape[0]:
                    self._pause_buf = _grown(self._pause_buf, n_pause, n_pause + kern.BLOCK)

        run(no_i64, no_i64, no_i64, sums)
        done_pauses = 0
        while n_pause > done_pauses:
            # pixels that completed a leak period: their new speeds, then the rest of their walk
            pix, k_next, period, slots = self._pause_buf[done_pauses:n_pause].T.copy()
            done_pauses = n_pause
            self._redraw_leak_speed(pix, period)
            run(pix, k_next, slots, no_i64)
        records = kern.order_records(n_t, self._rec_buf, n_rec)
        return records, (sums.tolist() if sums.size else None)

    def _crossings(self, act, luma, x_all, t_starts, t_ends) -> list[tuple]:
        """Walk the frames for the pixels that may fire; return per-interval crossing records."""
        torch = _torch()
        p = self.params
        if x_all is not None:
            xa = x_all.index_select(1, act)
        else:
            xa = self._log(luma.index_select(1, act))
        ref = _sel(self._ref, act)
        xp = _sel(self._x_prev, act)
        c_on, c_off = _sel(self._c_on, act), _sel(self._c_off, act)
        c_on_lo, c_off_lo = _sel(self._c_on_lo, act), _sel(self._c_off_lo, act)
        jitter = self._leak and p.leak_jitter_fraction > 0
        if self._leak:
            base = _sel(self._leak_base, act)
            speed = _sel(self._leak_speed, act)
            anchor = _sel(self._leak_anchor, act)
            cycle = _sel(self._leak_cycle, act)
        # the numba kernel applies the exact filter at memory speed: no pre-screen needed
        period = int(p.refractory_period_us) if self._kernel is None else 0
        if period > 0:
            # refractory pre-screen: a record whose first event is a period after the pixel's
            # previous raw event and whose events are a period apart loses nothing
            last_raw = _sel(self._t_raw_last, act)
            dirty = torch.zeros(act.numel(), dtype=torch.bool, device=act.device)
            fired = torch.zeros_like(dirty)
        sig = []
        for k in range(xa.shape[0]):
            t_k = t_ends[k]
            x_k = xa[k]
            if self._leak:
                drift = self._drift(base, speed, anchor, t_k)
                x_k = x_k + drift
            diff = x_k - ref
            sel = torch.nonzero((diff >= c_on_lo) | (diff <= -c_off_lo)).squeeze(1)
            if sel.numel():
                d = _sel(diff, sel)
                con, coff = _sel(c_on, sel), _sel(c_off, sel)
                n_on = torch.floor(d / con + _TOL).clamp_min(0)
                n_off = torch.floor(-d / coff + _TOL).clamp_min(0)
                ref0 = _sel(ref, sel)
                ref.index_copy_(0, sel, ref0 + n_on * con - n_off * coff)
                n = n_on - n_off
                fire = torch.nonzero(n).squeeze(1)
                if fire.numel() != n.numel():
                    # within the 1e-9 slack a pixel can pass the comparator without a whole
                    # level crossed: no event, no record
                    sel, n, ref0 = _sel(sel, fire), _sel(n, fire), _sel(ref0, fire)
                    con, coff = _sel(con, fire), _sel(coff, fire)
                    if sel.numel() == 0:
                        xp = x_k
                        continue
                rec = self._record(
                    _sel(act, sel),
                    n,
                    ref0,
                    _sel(xp, sel),
                    _sel(x_k, sel),
                    con,
                    coff,
                    t_starts[k],
                    t_k,
                )
                sig.append(rec)
                if period > 0:
                    _, count, _, off0, per_level, t0, dt = rec
                    first = t0 + _event_offset(off0 + per_level, dt)
                    last = t0 + _event_offset(off0 + count.to(torch.float64) * per_level, dt)
                    clean = (first - _sel(last_raw, sel) >= period) & (
                        (count == 1) | (per_level >= period + 1)
                    )
                    dirty.index_copy_(0, sel, _sel(dirty, sel) | ~clean)
                    fired.index_fill_(0, sel, True)
                    last_raw.index_copy_(0, sel, last)
                if jitter:
                    self._jitter_leak(act, sel, con, drift, base, speed, anchor, cycle, t_k)
            xp = x_k
        self._ref.index_copy_(0, act, ref)
        if period > 0:
            self._screen = (act, dirty, fired, last_raw)
        if jitter:
            self._leak_base[act] = base
            self._leak_speed[act] = speed
            self._leak_anchor[act] = anchor
            self._leak_cycle[act] = cycle
        return sig

    def _jitter_leak(self, act, sel, c_on, drift, base, speed, anchor, cycle, t_k: int) -> None:
        """Re-draw the leak speed of firing pixels that completed a leak period since the last
        draw, from a hash of (seed, pixel, period index): chunking cannot change the draws."""
        torch = _torch()
        d = _sel(drift, sel)
        done = torch.floor(d / c_on).to(torch.int64)
        new = torch.nonzero(done > _sel(cycle, sel)).squeeze(1)
        if new.numel() == 0:
            return
        idx = _sel(sel, new)
        n_done = _sel(done, new)
        base.index_copy_(0, idx, _sel(d, new))
        anchor.index_fill_(0, idx, t_k)
        cycle.index_copy_(0, idx, n_done)
        speed.index_copy_(0, idx, self._leak_speed_for(_sel(act, idx), n_done))

    def _leak_gain(self, pix: torch.Tensor, n_done: torch.Tensor) -> torch.Tensor:
        """Gain on the mean leak speed of pixels ``pix`` after their period ``n_done``, drawn
        from the hash of (seed, pixel, period). The period it gives is log-normal with mean 1
        and relative std. dev. ``leak_jitter_fraction``: a pixel's rate is one over its mean
        period, so the rate stays at ``leak_rate_hz`` at any jitter. A normal speed gain
        (1 + jitter * z) had neither: its periods averaged more than 1 (-11 % of the rate at
        0.3), and a gain clamped at 0 never completed its period, silencing the pixel for good
        (half of them within 30 s at 0.5)."""
        torch = _torch()
        if pix.device.type != "cpu":
            # CUDA's log, cos and exp may differ from the CPU's in the last bit, and a leak speed
            # that differs in the last bit can move a leak event: draw on the CPU, as the CPU
            # path does (the exp too: only the normal was, so CUDA runs differed from CPU ones)
            return self._leak_gain(pix.cpu(), n_done.cpu()).to(pix.device)
        z = _hash_normal(self.seed, pix, n_done)
        var = math.log1p(self.params.leak_jitter_fraction**2)
        return torch.exp(0.5 * var - math.sqrt(var) * z)

    def _leak_speed_for(self, pix: torch.Tensor, n_done: torch.Tensor) -> torch.Tensor:
        """Leak speed of pixels ``pix`` after their period ``n_done`` (torch path)."""
        return _sel(self._leak_speed0, pix) * self._leak_gain(pix, n_done)

    def _redraw_leak_speed(self, pix: np.ndarray, n_done: np.ndarray) -> None:
        """`_leak_speed_for` for the kernel's paused pixels, in the state's own arrays; the draw
        stays in torch's math on the CPU, whose log, cos and exp the torch path uses."""
        torch = _torch()
        gain = self._leak_gain(torch.from_numpy(pix), torch.from_numpy(n_done)).numpy()
        _np(self._leak_speed)[pix] = _np(self._leak_speed0)[pix] * gain

    def _noise_luma(self, luma: Any) -> Any:
        """The luma the shot noise reads: on CUDA, uint8 luma comes to the host once per
        batch for the numba `shot_noise` kernel, whose one pass over the candidates replaces
        numpy's draws, boolean gathers and a device round trip of the keep mask per frame (the
        same events: the kernel and `_thin` draw and compare the same values)."""
        if self._on_cpu or isinstance(luma, np.ndarray) or luma.dtype != _torch().uint8:
            return luma
        if self._noise_kernel is None:
            # the load (~0.5 s) is repaid within a few frames at any size worth a GPU
            self._noise_kernel = _kernel_for(math.inf)
            if self._noise_kernel is None:
                return luma
        return luma.cpu().numpy()

    def _thin(self, luma_k: torch.Tensor, cand, uniforms, ratio: float, dt: int, t_prev: int):
        """Shot-noise candidates -> (pixels, times, ON) of the kept ones (`shot_noise` in the
        numba kernels does the same in one pass)."""
        torch = _torch()
        t_u, pol_u, u = uniforms
        if ratio != 1:
            if self._on_cpu:
                a_c = self._intensity_factor(luma_k.numpy()[cand])
                keep_np = u < 1.0 - (1.0 - ratio) * a_c
            else:
                a_c = self._intensity_factor(_sel(luma_k, torch.from_numpy(cand).to(self.device)))
                keep = torch.from_numpy(u).to(self.device) < 1.0 - (1.0 - ratio) * a_c
                keep_np = keep.cpu().numpy()
            # thin first: times and polarities only for the kept candidates
            cand, t_u, pol_u = cand[keep_np], t_u[keep_np], pol_u[keep_np]
        # truncation is floor here: t_u * dt >= 0
        t_c = (t_u * dt).astype(np.int64)
        t_c += t_prev + 1
        return cand, t_c, pol_u < 0.5

    def _noise_events(
        self, luma_k: torch.Tensor | np.ndarray, t_prev: int, dt: int, k: int, mean_a
    ):
        """Shot noise and hot pixels of interval ``k``: (pixel, t, p) numpy arrays, or None."""
        p = self.params
        rng = np.random.default_rng([self.seed, 1, k])
        pix_parts, t_parts, p_parts = [], [], []
        if p.shot_noise_rate_hz > 0:
            # Poisson events with per-pixel rate R * w_i / mean(w), w = 1 - (1 - ratio) * a
            # (v2e's fall with intensity, normalised so the sensor average is R), drawn by
            # thinning: uniform candidates at the peak rate, each kept with probability w_i.
            # Only the candidates' intensities are looked up.
            ratio = p.shot_noise_bright_ratio
            mean_w = 1.0 - (1.0 - ratio) * mean_a
            peak = p.shot_noise_rate_hz / mean_w
            count = int(rng.poisson(peak * self._n * dt * 1e-6))
            if count:
                cand = rng.integers(0, self._n, count)
                if isinstance(luma_k, np.ndarray):
                    # (numpy codes come only with the kernels) the uniforms, lookup, thinning,
                    # times and polarities in one pass: numpy's boolean-mask gathers cost more
                    # than the draws, and storing the draws about as much as drawing them
                    kernel = self._kernel or self._noise_kernel
                    assert kernel is not None
                    cand, t_c, pol = kernel.shot_noise(
                        cand,
                        _uniform_rows(rng, count),
                        luma_k,
                        self._a_lut_np,
                        ratio,
                        dt,
                        t_prev + 1,
                    )
                else:
                    # the same three uniform streams as three calls, drawn in one
                    uniforms = rng.random((3, count))
                    cand, t_c, pol = self._thin(luma_k, cand, uniforms, ratio, dt, t_prev)
                pix_parts.append(cand)
                t_parts.append(t_c)
                p_parts.append(pol)
        if self._hot is not None:
            counts = rng.poisson(p.hot_pixel_rate_hz * dt * 1e-6, size=self._hot.size)
            total = int(counts.sum())
            if total:
                pix_parts.append(np.repeat(self._hot, counts))
                t_parts.append(t_prev + 1 + np.floor(rng.random(total) * dt).astype(np.int64))
                p_parts.append(np.ones(total, dtype=bool))
        if not pix_parts:
            return None
        if len(pix_parts) == 1:
            return pix_parts[0], t_parts[0], p_parts[0]
        return np.concatenate(pix_parts), np.concatenate(t_parts), np.concatenate(p_parts)

    def _record(self, pix, n, ref0, x0, x1, con, coff, t0: int, t1: int) -> tuple:
        """Per-pixel crossing record: level j = 1..count sits at t0 + off0 + j*per_level µs."""
        torch = _torch()
        dt = t1 - t0
        up = n > 0
        us_per_log = dt / (x1 - x0)
        per_level = torch.where(up, con, -coff) * us_per_log
        off0 = (ref0 - x0) * us_per_log
        return pix, n.abs().to(torch.int64), up, off0, per_level, t0, dt

    def _assemble(self, sig: list[tuple], noise: list[tuple], t_base: int, t_end: int):
        """Expand crossing records to events, merge the noise, sort by time (stable)."""
        torch = _torch()
        dev = self.device
        # times relative to the batch start; int32 when they fit (sorting is ~3x faster)
        tdt = torch.int32 if t_end - t_base < 2**31 - 1 else torch.int64
        pix_parts, t_parts, p_parts = [], [], []
        if sig:
            pix = torch.cat([s[0] for s in sig])
            count = torch.cat([s[1] for s in sig])
            up = torch.cat([s[2] for s in sig])
            off0 = torch.cat([s[3] for s in sig])
            per_level = torch.cat([s[4] for s in sig])
            sizes = torch.tensor([s[0].numel() for s in sig], device=dev)
            rel0 = torch.repeat_interleave(
                torch.tensor([s[5] - t_base for s in sig], dtype=tdt, device=dev), sizes
            )
            dts = torch.repeat_interleave(
                torch.tensor([s[6] for s in sig], dtype=tdt, device=dev), sizes
            )
            # every record's first event (j = 1) needs no gather ...
            first = torch.minimum(torch.ceil(off0 + per_level).to(tdt).clamp_min(1), dts)
            pix_parts.append(pix)
            t_parts.append(rel0 + first)
            p_parts.append(up)
            extra = count - 1
            n_extra = int(extra.sum())
            if n_extra:
                # ... the rest (j = 2..count, a pixel crossing several levels in one interval)
                # are expanded from their records; the time sort below interleaves them
                multi = torch.nonzero(extra).squeeze(1)
                extra = _sel(extra, multi)
                owner = torch.repeat_interleave(multi, extra)
                starts = torch.cumsum(extra, 0) - extra
                local = torch.repeat_interleave(torch.arange(multi.numel(), device=dev), extra)
                j = (torch.arange(n_extra, device=dev) - _sel(starts, local) + 2).to(torch.float64)
                off = _sel(off0, owner) + j * _sel(per_level, owner)
                # ceil: an event is stamped at or after its crossing, never before
                off = torch.minimum(torch.ceil(off).to(tdt).clamp_min(1), _sel(dts, owner))
                pix_parts.append(_sel(pix, owner))
                t_parts.append(_sel(rel0, owner) + off)
                p_parts.append(_sel(up, owner))
        for pix, t, pol in noise:
            pix_parts.append(pix)
            t_parts.append((t - t_base).to(tdt))
            p_parts.append(pol)
        if not pix_parts:
            return empty_events()
        pix = torch.cat(pix_parts) if len(pix_parts) > 1 else pix_parts[0]
        t = torch.cat(t_parts) if len(t_parts) > 1 else t_parts[0]
        pol = torch.cat(p_parts) if len(p_parts) > 1 else p_parts[0]
        if pix.numel() == 0:
            # shot-noise candidates that the thinning all dropped, and nothing else
            return empty_events()
        if t.numel() > 1:
            t, order = torch.sort(t, stable=True)
            pix = _sel(pix, order)
            pol = _sel(pol, order)
        if self.params.refractory_period_us > 0:
            keep = self._screened_refractory(pix, t, t_base, noise)
            if keep is not None:
                ki = torch.nonzero(keep).squeeze(1)
                pix, t, pol = _sel(pix, ki), _sel(t, ki), _sel(pol, ki)
        return self._to_numpy(pix, t, pol, t_base)

    def _assemble_numba(self, records: tuple, noise: list[tuple], t_starts, t_ends):
        """`_assemble` by the numba kernel: the same events in the same order. ``records``
        are (pixel, count, up, off0, per_level, first, end) arrays, interval k's records at
        ``first[k]:end[k]`` (see `_record_arrays`)."""
        i64 = np.int64
        t_base = t_starts[0]
        pix, count, up, off0, per_level, rec_lo, rec_hi = records
        if noise:
            noise_pix, noise_rel, noise_pol = (np.concatenate(c) for c in zip(*noise))
            noise_rel -= t_base
        else:
            noise_pix = noise_rel = np.empty(0, i64)
            noise_pol = np.empty(0, np.bool_)
        total = int(count.sum()) + noise_pix.size
        if total == 0:
            return empty_events()
        out = np.empty(total, dtype=EVENT_DTYPE)
        kernel = self._kernel
        assert kernel is not None  # _step_batch calls this only with the kernel loaded
        kept = kernel.assemble(
            pix,
            count,
            up,
            off0,
            per_level,
            rec_lo,
            rec_hi,
            np.asarray(t_starts, dtype=i64) - t_base,
            np.asarray(t_ends, dtype=i64) - np.asarray(t_starts, dtype=i64),
            noise_pix,
            noise_rel,
            noise_pol,
            self.sensor_size[0],
            t_base,
            int(self.params.refractory_period_us),
            _np(self._t_last),
            out["x"],
            out["y"],
            out["t"],
            out["p"],
        )
        return out[:kept] if kept < total else out

    def _screened_refractory(self, pix, t, t_base: int, noise: list[tuple]):
        """Refractory filter: pixels whose records all passed the pre-screen and that got no
        noise keep every event; the others go through the exact filter."""
        torch = _torch()
        dev = pix.device
        dirty = torch.zeros(self._n, dtype=torch.bool, device=dev)
        for npix, _, _ in noise:
            dirty.index_fill_(0, npix, True)
        screen, self._screen = self._screen, None
        if screen is None:
            return self._refractory(pix, t, t_base)
        act, act_dirty, fired, last_raw = screen
        act_dirty = act_dirty | _sel(dirty, act)
        dirty.index_copy_(0, act, act_dirty)
        clean = torch.nonzero(fired & ~act_dirty).squeeze(1)
        clean_pix = _sel(act, clean)
        # every event of a clean pixel is kept: its last event is its last emitted one
        self._t_last.index_copy_(0, clean_pix, _sel(last_raw, clean))
        self._t_raw_last.index_copy_(0, clean_pix, _sel(last_raw, clean))
        if not noise and not bool(act_dirty.any()):
            return None
        sub = torch.nonzero(_sel(dirty, pix)).squeeze(1)
        if sub.numel() == 0:
            return None
        keep_sub = self._refractory(_sel(pix, sub), _sel(t, sub), t_base)
        if keep_sub is None:
            return None
        keep = torch.ones(pix.numel(), dtype=torch.bool, device=dev)
        keep.index_copy_(0, sub, keep_sub)
        return keep

    def _refractory(self, pix: torch.Tensor, t: torch.Tensor, t_base: int):
        """Greedy per-pixel filter on time-sorted events; updates the last-event times.

        An event at least one period after its pixel's previous event (kept or not) is surely
        kept and a pixel's first event is decided by its last emitted one, so only the other
        "close" events (usually few) need the sequential walk, vectorised over pixels one
        position at a time. Returns the mask of kept events, or None when all are kept."""
        torch = _torch()
        dev = pix.device
        period = int(self.params.refractory_period_us)
        t = t.to(torch.int64) + t_base
        # grouped by pixel, time order kept (int32 keys sort about twice as fast)
        key = pix.to(torch.int32) if self._n < 2**31 else pix
        order = torch.sort(key, stable=True).indices
        gp = _sel(pix, order)
        gt = _sel(t, order)
        m = gp.numel()
        new_group = torch.ones(m, dtype=torch.bool, device=dev)
        torch.ne(gp[1:], gp[:-1], out=new_group[1:])
        starts = torch.nonzero(new_group).squeeze(1)
        prev_t = torch.empty_like(gt)
        prev_t[1:] = gt[:-1]
        prev_t.index_copy_(0, starts, _sel(self._t_last, _sel(gp, starts)))
        close = (gt - prev_t) < period
        ends = torch.cat([starts[1:] - 1, torch.tensor([m - 1], device=dev)])
        self._t_raw_last.index_copy_(0, _sel(gp, ends), _sel(gt, ends))
        if not bool(close.any()):
            self._t_last.index_copy_(0, _sel(gp, ends), _sel(gt, ends))
            return None
        keep_sorted = ~close
        members = torch.nonzero(close & ~new_group).squeeze(1)
        if members.numel():
            head = new_group | ~close
            pos = torch.arange(m, device=dev)
            head_pos = torch.cummax(torch.where(head, pos, torch.zeros_like(pos)), 0).values
            h = _sel(head_pos, members)
            heads, slot = torch.unique(h, return_inverse=True)
            last_kept = torch.where(_sel(keep_sorted, heads), _sel(gt, heads), _sel(prev_t, heads))
            rank = members - h
            order_r = torch.sort(rank, stable=True).indices
            by_rank = _sel(members, order_r)
            slot_r = _sel(slot, order_r)
            counts = torch.bincount(rank)[1:].tolist()
            lo = 0
            for c in counts:
                sel, sl = by_rank[lo : lo + c], slot_r[lo : lo + c]
                lo += c
                ts_ = _sel(gt, sel)
                ok = ts_ - _sel(last_kept, sl) >= period
                keep_sorted.index_copy_(0, sel, ok)
                last_kept.index_copy_(0, sl, torch.where(ok, ts_, _sel(last_kept, sl)))
        # last emitted time per pixel: its last event if kept; else, for a dropped member, its
        # cluster's last kept time; else (a dropped first event) the previous emitted time
        end_kept = _sel(keep_sorted, ends)
        last_val = torch.where(end_kept, _sel(gt, ends), _sel(prev_t, ends))
        if members.numel():
            end_head = _sel(head_pos, ends)
            hit = torch.searchsorted(heads, end_head).clamp_max(heads.numel() - 1)
            in_walk = (_sel(heads, hit) == end_head) & ~end_kept
            last_val = torch.where(in_walk, _sel(last_kept, hit), last_val)
        self._t_last.index_copy_(0, _sel(gp, ends), last_val)
        keep = torch.empty_like(keep_sorted)
        keep.index_copy_(0, order, keep_sorted)
        return keep

    def _to_numpy(self, pix, t, pol, t_base: int) -> np.ndarray:
        if pix.device.type != "cpu":
            return _packed_events(pix, t, pol, t_base, self.sensor_size[0])
        torch = _torch()
        pix_np = pix.to(torch.int32).cpu().numpy()
        width = np.int32(self.sensor_size[0])
        # floor division by a scalar is 3x faster than np.divmod (same values for pixels >= 0)
        y = pix_np // width
        x = pix_np - y * width
        out = np.empty(x.size, dtype=EVENT_DTYPE)
        out["x"] = x
        out["y"] = y
        out["t"] = t.cpu().numpy()
        out["t"] += t_base
        out["p"] = pol.cpu().numpy()
        return out


def _packed_events(pix, t, pol, t_base: int, width: int) -> np.ndarray:
    """Events from (pixel, time after ``t_base``, ON) tensors, built as EVENT_DTYPE's bytes
    where the tensors are and copied to the host once: from CUDA, three copies and the host's
    column writes cost more than the packing (both sides are little-endian, as the dtype)."""
    torch = _torch()
    n = pix.numel()
    y = torch.div(pix, width, rounding_mode="floor")
    x = pix - y * width
    columns = (
        x.to(torch.int16),
        y.to(torch.int16),
        t.to(torch.int64) + t_base,
        pol.to(torch.int8),
    )
    raw = torch.cat([c.view(torch.uint8).view(n, c.element_size()) for c in columns], dim=1)
    out = np.empty(n, dtype=EVENT_DTYPE)
    torch.from_numpy(out.view(np.uint8).reshape(n, EVENT_DTYPE.itemsize)).copy_(raw)
    return out


def _kernel_for(torch_path_s: float) -> ModuleType | None:
    """The numba kernels' module once it pays: already loaded in this process, torch not
    imported, or the process's simulators have spent `_KERNEL_AFTER_TORCH_S` on the torch path
    (``torch_path_s``). None without numba."""
    import sys

    global _NO_NUMBA
    if not _USE_NUMBA or _NO_NUMBA:
        return None
    loaded = sys.modules.get("eventsim.simulator._kernels")
    # a process without torch loads the kernels at once: that costs less than importing
    # torch (~0.55 s against ~0.95 s here), and uint8 input then runs without torch at all
    if loaded is None and torch_path_s < _KERNEL_AFTER_TORCH_S and "torch" in sys.modules:
        return None
    try:
        from eventsim.simulator import _kernels
    except (ImportError, RuntimeError, OSError):
        # no numba, or numba finds no writable cache folder (RuntimeError): the torch path
        _NO_NUMBA = True
        return None
    return _kernels


def preload_kernels() -> bool:
    """Load the numba kernels now and run them once on a tiny clip, so that this process (and
    any process it forks) simulates uint8 input on them from the first frame; False where
    numba is missing or cannot load (the torch path then runs)."""
    if _kernel_for(math.inf) is None:
        return False
    # a step from black to white: events, so that the assembly kernel is loaded too
    frames = np.zeros((2, 8, 8), np.uint8)
    frames[1] = 255
    EventSimulator(DVSParams(), (8, 8)).step(frames, np.array([0, 1000]))
    return True


def _addcmul_rounding() -> bool | None:
    """How this torch rounds ``addcmul`` (the low-pass step) on CPU: True when once (a fused
    multiply-add, as builds for FMA-capable CPUs do), False when after the product and the
    sum, None when it mixes both (then only the torch path reproduces it)."""
    global _ADDCMUL_FUSED
    if _ADDCMUL_FUSED is _UNPROBED:
        torch = _torch()
        # (1 + 2^-30)^2 = 1 + 2^-29 + 2^-60: the 2^-60 survives only a single rounding; 67
        # elements reach both the vectorised body and the scalar tail of the CPU loop
        n = 67
        x = torch.full((n,), 1.0 + 2.0**-30, dtype=torch.float64)
        got = torch.addcmul(torch.full((n,), -1.0, dtype=torch.float64), x, x).tolist()
        fused = {v == 2.0**-29 + 2.0**-60 for v in got}
        plain = {v == 2.0**-29 for v in got}
        if fused == {True}:
            _ADDCMUL_FUSED = True
        elif plain == {True}:
            _ADDCMUL_FUSED = False
        else:
            _ADDCMUL_FUSED = None
    return _ADDCMUL_FUSED  # type: ignore[return-value]


def _uniform_rows(rng: np.random.Generator, count: int) -> np.ndarray:
    """Where ``rng.random((3, count))`` would draw its three rows from, for the `shot_noise`
    kernel to draw them itself: the PCG64 state before each row and the increment, as uint64
    (hi, lo) words; ``rng`` moves past them as that call would move it."""
    bits = rng.bit_generator
    assert isinstance(bits, np.random.PCG64)  # `default_rng`'s, whose steps the kernel takes
    before = bits.state
    words = []
    for _ in range(3):
        value = bits.state["state"]["state"]
        words += [value >> 64, value & 0xFFFFFFFFFFFFFFFF]
        # one 64-bit output per double
        bits.advance(count)
    inc = before["state"]["inc"]
    words += [inc >> 64, inc & 0xFFFFFFFFFFFFFFFF]
    # `advance` drops the spare half of a 64-bit output that 32-bit draws keep; drawing
    # doubles leaves it
    after = bits.state
    after["has_uint32"] = before["has_uint32"]
    after["uinteger"] = before["uinteger"]
    bits.state = after
    return np.array(words, np.uint64)


def _grown(buf: np.ndarray, used: int, need: int) -> np.ndarray:
    """A [>= need, columns] copy of ``buf`` (its first ``used`` rows kept), doubling."""
    out = np.empty((max(need, 2 * buf.shape[0], 1024), buf.shape[1]), buf.dtype)
    out[:used] = buf[:used]
    return out


def _mean_factors(totals: list[int], n: int) -> list[float]:
    """Mean of a = (I + 20) / 275 over frames of n uint8 pixels summing to ``totals``: a is
    linear on 0..255, so an exact integer sum gives the mean."""
    return [(total / n + 20.0) / 275.0 for total in totals]


def _record_arrays(sig: list[tuple], t_starts: list[int]) -> tuple:
    """The torch path's per-interval records as `_assemble_numba`'s arrays."""
    torch = _torch()
    i64 = np.int64
    n_iv = len(t_starts)
    rec_lo = np.zeros(n_iv, i64)
    rec_hi = np.zeros(n_iv, i64)
    if not sig:
        no_i64, no_f64 = np.empty(0, i64), np.empty(0, np.float64)
        return no_i64, no_i64, np.empty(0, np.bool_), no_f64, no_f64, rec_lo, rec_hi
    interval = {t0: k for k, t0 in enumerate(t_starts)}
    lo = 0
    for s in sig:
        k = interval[s[5]]
        rec_lo[k] = lo
        lo += s[0].numel()
        rec_hi[k] = lo
    return (
        *(torch.cat([s[i] for s in sig]).numpy() for i in range(5)),
        rec_lo,
        rec_hi,
    )


def _np(a: Any) -> np.ndarray:
    """A state array as numpy: itself, or a CPU tensor's memory."""
    return a if isinstance(a, np.ndarray) else a.numpy()


def _resolve_device(device: Any) -> torch.device | None:
    """The torch device for ``device``; None for "cpu", which needs no torch (yet). A refused
    one is an `ArgumentValueError` (``device='foo' is ...``), which a command line names as its
    option (``--device foo is ...``)."""
    if isinstance(device, str) and device == "cpu":
        return None
    torch = _torch()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ArgumentValueError(
            "device", device, " is not a torch device; expected cpu, cuda or cuda:N"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ArgumentValueError("device", device, " requested but CUDA is not available here")
    if dev.type not in ("cpu", "cuda"):
        raise ArgumentValueError("device", device, " is not supported; expected cpu or cuda")
    count = torch.cuda.device_count() if dev.type == "cuda" else 0
    if dev.index is not None and dev.index >= count > 0:
        # torch refuses it only at the first tensor, in its own words ("invalid device ordinal")
        raise ArgumentValueError(
            "device",
            device,
            f" names a GPU this machine lacks; it has {count} "
            f"({'cuda:0' if count == 1 else f'cuda:0 to cuda:{count - 1}'})",
        )
    return dev
