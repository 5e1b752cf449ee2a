"""Every pixel-model parameter measured against its closed form.

Each test drives the pixel array with a stimulus whose response has a closed form, measures
the parameter back from the events and compares. Statistical tolerances are derived from the
sample size (``Z`` standard errors); deterministic ones from the µs rounding of event times and
the linear interpolation between frames. The tests check rates and distributions, not how the
simulator draws its random numbers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from eventsim.simulator import DVSParams, EventSimulator, ThresholdSpreadWarning

IDEAL = DVSParams.from_preset("ideal")
# Standard errors allowed on a statistical estimate: a correct model fails one of these checks
# with probability ~6e-5 (two-sided normal), a wrong one of the size checked for fails it surely.
Z = 4.0


def _run(params, frames, ts, *, seed=0):
    h, w = frames.shape[1:3]
    return EventSimulator(params, (w, h), seed=seed).step(frames, ts)


def _dn(log_i, params):
    """Intensity (float DN) whose ``ln`` log is ``log_i``: the inverse of ln(I/255 + eps)."""
    return 255.0 * (np.exp(log_i) - params.log_eps)


def _per_pixel(ev, width: int, n_pixels: int, mask=None) -> np.ndarray:
    sel = ev if mask is None else ev[mask]
    pix = sel["y"].astype(np.int64) * width + sel["x"]
    return np.bincount(pix, minlength=n_pixels)


def _std_se(sigma: float, n: int) -> float:
    """Standard error of a sample standard deviation of n normal draws."""
    return sigma / math.sqrt(2 * (n - 1))


# --------------------------------------------------------------------------- threshold mismatch
def test_threshold_mismatch_sigma_from_per_pixel_crossings():
    """A log ramp up then down: pixel i fires ON every θ_on,i/s µs and OFF every θ_off,i/s µs,
    so each pixel's thresholds are its event spacing times the ramp speed s."""
    sigma, theta = 0.04, 0.2
    params = IDEAL.replace(threshold_sigma=sigma, pos_threshold=theta, neg_threshold=theta)
    w, h = 64, 64
    n = w * h
    # >= 13 crossings per leg even at θ = θ0 + 4σ; the top is an HDR 377 DN
    span, dur = 5.0, 1_000_000  # log units per leg, µs per leg
    speed = span / dur
    logs = np.array([math.log(0.01), math.log(0.01) + span, math.log(0.01)])
    frames = np.broadcast_to(_dn(logs, params)[:, None, None], (3, h, w)).copy()
    ev = _run(params, frames, np.array([0, dur, 2 * dur]), seed=9)

    measured = {}
    for pol in (1, 0):
        sel = ev[ev["p"] == pol]
        pix = sel["y"].astype(np.int64) * w + sel["x"]
        order = np.lexsort((sel["t"], pix))
        pix, t = pix[order], sel["t"][order].astype(np.float64)
        count = np.bincount(pix, minlength=n)
        assert count.min() >= 10
        first = np.zeros(n, np.int64)
        first[1:] = np.cumsum(count)[:-1]
        last = first + count - 1
        # spacing from first to last crossing: µs rounding errs by <= 1 µs at each end
        measured[pol] = speed * (t[last] - t[first]) / (count - 1)
    rounding = speed * 2 / 9  # worst case over >= 10 crossings, ~7e-7 log units
    for th in measured.values():
        assert abs(th.mean() - theta) <= Z * sigma / math.sqrt(n) + rounding
        assert abs(th.std(ddof=1) - sigma) <= Z * _std_se(sigma, n) + rounding
        # normal: 68.3 % of pixels within one sigma (binomial standard error)
        inside = np.mean(np.abs(th - theta) < sigma)
        assert abs(inside - 0.6827) <= Z * math.sqrt(0.6827 * 0.3173 / n)
    # ON and OFF thresholds are drawn independently
    r = np.corrcoef(measured[1], measured[0])[0, 1]
    assert abs(r) <= Z / math.sqrt(n)


def test_thresholds_are_clamped_at_0_01():
    """With sigma as large as the nominal threshold the normal tail below 0.01 is clamped:
    P(θ <= 0.01) = Φ((0.01 - θ0)/σ) of the pixels sit exactly at 0.01."""
    theta, sigma = 0.05, 0.05
    params = IDEAL.replace(threshold_sigma=sigma, pos_threshold=theta, neg_threshold=theta)
    w, h = 96, 64
    n = w * h
    # a clamped pixel fires floor(1.005 / 0.01) = 100 times, every other pixel fewer
    span, dur = 1.005, 1_000_000
    frames = np.broadcast_to(
        _dn(np.array([math.log(0.05), math.log(0.05) + span]), params)[:, None, None], (2, h, w)
    ).copy()
    with pytest.warns(ThresholdSpreadWarning, match="21 % of the ON"):
        ev = _run(params, frames, np.array([0, dur]), seed=4)
    count = _per_pixel(ev, w, n)
    clamped = np.count_nonzero(count == 100)
    p = 0.5 * math.erfc((theta - 0.01) / sigma / math.sqrt(2))
    assert abs(clamped - p * n) <= Z * math.sqrt(n * p * (1 - p))
    assert count.max() == 100


# --------------------------------------------------------------------------- photoreceptor
@pytest.mark.parametrize("cutoff_hz", [20.0, 80.0])
def test_lowpass_step_response_is_first_order_at_cutoff(cutoff_hz):
    """After a log step of D the filtered log approaches the new level as
    L_b - D exp(-t / τ), τ = 1 / (2π f_c a) with a = min(1, (I_b + 20) / 275): a pixel's j-th
    event sits where that curve crosses L_a ± jθ."""
    theta = 0.045
    params = IDEAL.replace(cutoff_hz=cutoff_hz, pos_threshold=theta, neg_threshold=theta)
    dt = 100  # µs between frames: the interpolation error bound below is ~0.2 µs
    n_frames = 3001
    ts = np.arange(n_frames, dtype=np.int64) * dt
    # (I before, I after) per pixel: bright, mid-grey and dark steps, up and down
    steps = [(255.0 / math.e, 255.0), (120.0 / math.e, 120.0), (40.0 / math.e, 40.0)]
    steps += [(255.0, 255.0 / math.e), (150.0, 150.0 / math.e)]
    before = np.array([s[0] for s in steps])
    after = np.array([s[1] for s in steps])
    on_at = 10  # the input takes the new value for the interval ending at frame on_at
    frames = np.where(np.arange(n_frames)[:, None] < on_at, before, after)[:, None, :]
    ev = _run(params, frames.astype(np.float64), ts)
    t_step = ts[on_at - 1]
    for x, (i_a, i_b) in enumerate(steps):
        la, lb = np.log(np.array([i_a, i_b]) / 255.0 + params.log_eps)
        d = lb - la
        a = min(1.0, (i_b + 20.0) / 275.0)
        tau_us = 1e6 / (2 * math.pi * cutoff_hz * a)
        mine = ev[ev["x"] == x]
        n_levels = math.floor(abs(d) / theta + 1e-9)
        # levels the filter reaches before the clip ends (it approaches the last one slowly)
        j = np.arange(1, n_levels + 1)
        t_cross = t_step + tau_us * np.log(abs(d) / (abs(d) - j * theta))
        reached = t_cross < ts[-1] - dt
        assert reached.sum() >= 15
        got = mine["t"][: reached.sum()]
        assert np.all(mine["p"] == (1 if d > 0 else 0))
        # chord of an exponential vs the curve: time error <= dt^2 / (8 τ); rounding up: 1 µs
        tol = dt**2 / (8 * tau_us) + 1.0
        assert np.all(np.abs(got - t_cross[reached]) <= tol), (x, got - t_cross[reached])


# --------------------------------------------------------------------------- leak
def _static(value, w, h, seconds, fps=20.0):
    n = round(seconds * fps) + 1
    frames = np.full((n, h, w), value, dtype=np.uint8)
    return frames, np.round(np.arange(n) * 1e6 / fps).astype(np.int64)


def test_leak_rate_and_its_spread_across_pixels():
    """Pixel i leaks ON events at R g_i, log10 g_i ~ N(-s² ln10 / 2, s) (mean gain 1), so over
    T seconds log10(count_i) has mean log10(R T) - s² ln10 / 2 and std s; the count's own noise
    adds at most Poisson variance 1/count / ln(10)² (none for a strictly periodic leak)."""
    rate, spread = 40.0, 0.2
    params = IDEAL.replace(
        threshold_sigma=0.03,  # the leak rate must not depend on the pixel's threshold
        leak_rate_hz=rate,
        leak_rate_spread_decades=spread,
        leak_jitter_fraction=0.1,
    )
    w, h, seconds = 32, 32, 10.0
    n = w * h
    frames, ts = _static(128, w, h, seconds)
    ev = _run(params, frames, ts, seed=3)
    assert np.all(ev["p"] == 1)
    count = _per_pixel(ev, w, n)
    expected = rate * seconds
    assert count.min() > 0
    # mean rate: the gain has mean 1 and variance exp((s ln10)^2) - 1 across pixels
    gain_var = math.exp((spread * math.log(10)) ** 2) - 1
    rel_se = math.sqrt((gain_var + 1 / expected) / n)
    assert abs(count.mean() / expected - 1) <= Z * rel_se
    logs = np.log10(count)
    poisson_var = float(np.mean(1 / count)) / math.log(10) ** 2
    assert abs(logs.mean() - (math.log10(expected) - spread**2 * math.log(10) / 2)) <= Z * (
        math.sqrt((spread**2 + poisson_var) / n)
    )
    lo, hi = spread, math.sqrt(spread**2 + poisson_var)
    assert lo - Z * _std_se(lo, n) <= logs.std(ddof=1) <= hi + Z * _std_se(hi, n)
    # stationary: the second half of the recording has the rate of the first
    half = ts[-1] // 2
    first = np.count_nonzero(ev["t"] <= half)
    assert abs(first / ev.size - 0.5) <= Z * math.sqrt(0.25 / ev.size)


def test_leak_spread_zero_gives_one_rate():
    params = IDEAL.replace(leak_rate_hz=40.0, leak_rate_spread_decades=0.0)
    w, h, seconds = 16, 16, 5.0
    frames, ts = _static(128, w, h, seconds)
    count = _per_pixel(_run(params, frames, ts, seed=1), w, w * h)
    expected = 40.0 * seconds
    # jitter and Poisson-like count noise at most: std <= sqrt(expected)
    assert abs(count.mean() / expected - 1) <= Z * math.sqrt(1 / (expected * w * h))
    assert count.std() <= math.sqrt(expected) * (1 + Z / math.sqrt(2 * (w * h - 1)))


# --------------------------------------------------------------------------- shot noise
@pytest.mark.parametrize("value", [0, 128, 255])
@pytest.mark.parametrize("fps", [20.0, 200.0])
def test_shot_noise_rate_per_polarity_on_uniform_frames(value, fps):
    """A uniform frame of any brightness: ON and OFF each at R/2 per pixel, whatever the frame
    rate; counts are Poisson, standard error sqrt(expected)."""
    rate = 8.0
    params = IDEAL.replace(shot_noise_rate_hz=rate)
    w, h, seconds = 32, 32, 4.0
    frames, ts = _static(value, w, h, seconds, fps=fps)
    ev = _run(params, frames, ts, seed=int(fps) + value)
    expected = rate / 2 * w * h * seconds
    for pol in (0, 1):
        got = np.count_nonzero(ev["p"] == pol)
        assert abs(got - expected) <= Z * math.sqrt(expected), (pol, got, expected)
    # spread evenly over the pixels: per-pixel counts are Poisson (variance = mean)
    count = _per_pixel(ev, w, w * h)
    mean = 2 * expected / (w * h)
    assert abs(count.var(ddof=1) / mean - 1) <= Z * math.sqrt(2 / (w * h - 1) + 1 / (mean * w * h))


def test_shot_noise_is_shared_out_by_brightness_within_a_frame():
    """Pixel i gets R w_i / mean(w), w = 1 - (1 - ratio) a_i, a = min(1, (I + 20) / 275)."""
    rate, ratio = 6.0, 0.25
    params = IDEAL.replace(shot_noise_rate_hz=rate, shot_noise_bright_ratio=ratio)
    w, h, seconds = 48, 32, 4.0
    frames, ts = _static(0, w, h, seconds)
    levels = (5, 100, 250)
    for k, v in enumerate(levels):
        frames[:, :, k * 16 : (k + 1) * 16] = v
    ev = _run(params, frames, ts, seed=2)
    weight = {v: 1 - (1 - ratio) * min(1.0, (v + 20) / 275) for v in levels}
    mean_w = sum(weight.values()) / len(levels)
    for k, v in enumerate(levels):
        band = (ev["x"] >= k * 16) & (ev["x"] < (k + 1) * 16)
        for pol in (0, 1):
            expected = rate / 2 * weight[v] / mean_w * 16 * h * seconds
            got = np.count_nonzero(band & (ev["p"] == pol))
            assert abs(got - expected) <= Z * math.sqrt(expected), (v, pol, got, expected)


# --------------------------------------------------------------------------- refractory
@pytest.mark.parametrize("period_us", [200, 500])
def test_refractory_period_sets_the_minimum_interval(period_us):
    """A log ramp crossing a level every Δ µs. Without the filter events are Δ apart; with
    it, an event is kept when at least the period after the last kept one, so kept events are
    ceil(P/Δ)·Δ apart, and pixels with Δ >= P lose nothing."""
    theta = 0.01
    params = IDEAL.replace(pos_threshold=theta, neg_threshold=theta, refractory_period_us=period_us)
    spacings = np.array(
        [7.3, 33.0, 0.37 * period_us, 0.93 * period_us, 1.07 * period_us, 2.6 * period_us]
    )
    n_levels = 200
    dur = 1_000_000
    # pixel k ramps by n_levels thresholds in n_levels * Δ_k µs, then holds
    span = n_levels * theta + theta / 2  # half a level of margin: no tie at the top
    l0 = math.log(0.02)
    ts = np.array([0, *np.round(n_levels * spacings + spacings / 2).astype(np.int64)])
    ts = np.unique(np.append(ts, dur))
    logs = np.empty((ts.size, 1, spacings.size))
    for k, d in enumerate(spacings):
        t_end = n_levels * d + d / 2
        logs[:, 0, k] = l0 + span * np.minimum(ts / t_end, 1.0)
    frames = _dn(logs, params)
    ev = _run(params, frames, ts)
    free = _run(params.replace(refractory_period_us=0), frames, ts)
    for k, d in enumerate(spacings):
        t = ev["t"][ev["x"] == k].astype(np.float64)
        t_free = free["t"][free["x"] == k].astype(np.float64)
        assert t_free.size == n_levels
        gaps = np.diff(t)
        assert gaps.min() >= period_us
        step = math.ceil(period_us / d) * d if d < period_us else d
        # each event time is rounded up to the µs: a gap errs by at most 1 µs
        assert np.all(np.abs(gaps - step) <= 1.0), (d, np.unique(gaps))
        assert t[0] == t_free[0]
        assert t.size == len(range(0, n_levels, max(1, math.ceil(period_us / d))))
