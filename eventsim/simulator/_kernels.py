"""Optional numba kernel for the CPU simulator: expands crossing records to events, merges the
noise, sorts by time, applies the refractory filter and packs the records, in two linear passes.

It computes exactly what the torch path of `EventSimulator._assemble` computes (same float64
operations, same stable time order, same greedy refractory rule), so events are bit-identical;
without numba, or on CUDA, the torch path runs. Import this module only through
`eventsim.simulator.core`, which falls back when numba is missing.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _level_time(off0, per_level, j, dt):
    """Whole µs in [1, dt] of a record's j-th level, rounded up as in the torch path."""
    off = np.ceil(off0 + np.float64(j) * per_level)
    if off >= dt:
        return dt
    if off < 1:
        return 1
    return np.int64(off)


@numba.njit(cache=True, nogil=True)
def assemble(
    pix,
    count,
    up,
    off0,
    per_level,
    rec_lo,
    rec_hi,
    iv_rel0,
    iv_dt,
    noise_pix,
    noise_rel,
    noise_pol,
    width,
    t_base,
    period,
    t_last,
    out_x,
    out_y,
    out_t,
    out_p,
):
    """Fill out_* with the time-sorted, refractory-filtered events; return how many.

    Records ``rec_lo[k]:rec_hi[k]`` and the noise events with times in ``(iv_rel0[k],
    iv_rel0[k] + iv_dt[k]]`` belong to interval k. The order before the stable time sort is the
    torch path's concatenation: every record's first event, then the further events of
    multi-level records (record by record, level by level), then the noise; intervals cover
    disjoint times, so sorting each interval on its own gives the same order. ``t_last`` (last
    emitted time per pixel) is updated; the last raw times feed only the torch path's
    pre-screen, which a simulator never returns to once it uses this kernel."""
    m = out_x.shape[0]
    key = np.empty(m, np.int64)
    packed = np.empty(m, np.int64)  # pixel * 2 + polarity
    max_dt = 1
    for k in range(iv_dt.shape[0]):
        max_dt = max(max_dt, iv_dt[k])
    hist = np.zeros(min(max_dt, 1 << 22) + 2, np.int64)
    n_noise = noise_pix.shape[0]
    q = 0
    pos = 0
    for k in range(iv_dt.shape[0]):
        dt = iv_dt[k]
        rel0 = iv_rel0[k]
        lo, hi = rec_lo[k], rec_hi[k]
        q0 = q
        while q < n_noise and noise_rel[q] <= rel0 + dt:
            q += 1
        n_iv = q - q0
        for r in range(lo, hi):
            n_iv += count[r]
        if n_iv == 0:
            continue
        if dt + 2 <= hist.shape[0] and dt <= 4 * n_iv + 65536:
            # stable counting sort on the µs offset within the interval
            hist[: dt + 2] = 0
            for r in range(lo, hi):
                hist[_level_time(off0[r], per_level[r], 1, dt) + 1] += 1
            for r in range(lo, hi):
                for j in range(2, count[r] + 1):
                    hist[_level_time(off0[r], per_level[r], j, dt) + 1] += 1
            for e in range(q0, q):
                hist[noise_rel[e] - rel0 + 1] += 1
            for b in range(1, dt + 2):
                hist[b] += hist[b - 1]
            for r in range(lo, hi):
                v = _level_time(off0[r], per_level[r], 1, dt)
                d = pos + hist[v]
                hist[v] += 1
                key[d] = rel0 + v
                packed[d] = pix[r] * 2 + up[r]
            for r in range(lo, hi):
                for j in range(2, count[r] + 1):
                    v = _level_time(off0[r], per_level[r], j, dt)
                    d = pos + hist[v]
                    hist[v] += 1
                    key[d] = rel0 + v
                    packed[d] = pix[r] * 2 + up[r]
            for e in range(q0, q):
                v = noise_rel[e] - rel0
                d = pos + hist[v]
                hist[v] += 1
                key[d] = noise_rel[e]
                packed[d] = noise_pix[e] * 2 + noise_pol[e]
        else:
            i = pos
            for r in range(lo, hi):
                key[i] = rel0 + _level_time(off0[r], per_level[r], 1, dt)
                packed[i] = pix[r] * 2 + up[r]
                i += 1
            for r in range(lo, hi):
                for j in range(2, count[r] + 1):
                    key[i] = rel0 + _level_time(off0[r], per_level[r], j, dt)
                    packed[i] = pix[r] * 2 + up[r]
                    i += 1
            for e in range(q0, q):
                key[i] = noise_rel[e]
                packed[i] = noise_pix[e] * 2 + noise_pol[e]
                i += 1
            order = np.argsort(key[pos:i], kind="mergesort")
            key[pos:i] = key[pos:i][order]
            packed[pos:i] = packed[pos:i][order]
        pos += n_iv
    n_out = 0
    for s in range(pos):
        pk = packed[s]
        pxl = pk >> 1
        t = key[s] + t_base
        if period > 0:
            if t - t_last[pxl] < period:
                continue
            t_last[pxl] = t
        out_x[n_out] = pxl % width
        out_y[n_out] = pxl // width
        out_t[n_out] = t
        out_p[n_out] = pk & 1
        n_out += 1
    return n_out
