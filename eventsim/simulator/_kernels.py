"""Optional numba kernels for the CPU simulator, one pass over the data each:

- `walk`: per pixel, a batch of frames' photoreceptor low-pass, leak drift and threshold
  crossings, as crossing records (what `EventSimulator._records_torch` computes with torch);
- `order_records`: those records in the torch path's order;
- `shot_noise`: shot-noise candidates thinned by intensity, with their times and polarities
  (drawing numpy's uniforms itself);
- `assemble`: records expanded to events, merged with the noise, sorted by time, filtered by
  the refractory period and packed (what `EventSimulator._assemble` does).

They compute exactly what the torch path computes (same float64 operations in the same order,
torch's own rounding of its fused low-pass step, same stable time order, same greedy
refractory rule), so events are bit-identical; without numba, or on CUDA, the torch path
runs. Import this module only through `eventsim.simulator.core`, which falls back when numba
is missing.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir  # type: ignore[import-untyped]
from llvmlite.binding import llvm_version_info  # type: ignore[import-untyped]
from numba.core import cgutils, types
from numba.extending import intrinsic

_AHEAD = 32  # events between a prefetch and its use
# LLVM 17 and later have only opaque pointers, which the intrinsic's name spells "p0"
_PREFETCH = "llvm.prefetch.p0" if llvm_version_info >= (17,) else "llvm.prefetch.p0i8"


def _prefetch_codegen(write: int):
    def codegen(context, builder, signature, args):
        arr_type = signature.args[0]
        array = context.make_array(arr_type)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(
            context, builder, arr_type, array, [args[1]], wraparound=False
        )
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), _PREFETCH
        )
        # (address, read 0 / write 1, keep in all cache levels, data cache)
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(write), i32(3), i32(1)])
        return context.get_dummy_value()

    return codegen


@intrinsic
def _prefetch(typingctx, arr, index):
    """Hint the CPU to fetch ``arr[index]`` for writing; no effect on results."""
    return types.void(arr, index), _prefetch_codegen(1)


@intrinsic
def _prefetch_read(typingctx, arr, index):
    """Hint the CPU to fetch ``arr[index]`` for reading; no effect on results."""
    return types.void(arr, index), _prefetch_codegen(0)


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
def divisor(d):
    """(magic, shift) with ``(n * magic) >> shift == n // d`` for every 0 <= n < 2^31 and
    1 <= d < 2^31, all in int64 (Granlund and Montgomery's multiply for a known divisor):
    a pixel's row without a 64-bit division per event, several times dearer here."""
    bits = 0  # ceil(log2(d))
    while (1 << bits) < d:
        bits += 1
    shift = 31 + bits
    # magic * d exceeds 2^shift by less than d <= 2^bits, which keeps the quotient exact, and
    # magic < 2^32, so n * magic < 2^63
    return ((1 << shift) + d - 1) // d, shift


@numba.njit(cache=True, nogil=True)
def _merge_runs(src_k, src_v, dst_k, dst_v, width):
    """One bottom-up merge pass: sorted runs of ``width`` in src -> runs of twice that in dst;
    a right run's item goes first only if strictly smaller, so equal keys keep their order."""
    n = src_k.shape[0]
    for lo in range(0, n, 2 * width):
        mid = min(lo + width, n)
        hi = min(lo + 2 * width, n)
        i, j = lo, mid
        for o in range(lo, hi):
            if j < hi and (i >= mid or src_k[j] < src_k[i]):
                dst_k[o] = src_k[j]
                dst_v[o] = src_v[j]
                j += 1
            else:
                dst_k[o] = src_k[i]
                dst_v[o] = src_v[i]
                i += 1


@numba.njit(cache=True, nogil=True)
def _merge_sort(key, val):
    """Sort ``key`` in place, stably, carrying ``val`` along (the order of
    ``np.argsort(kind="stable")``, without the argsort and gather kernels, which took numba
    longer to compile than the rest of `assemble`)."""
    n = key.shape[0]
    tmp_k = np.empty(n, key.dtype)
    tmp_v = np.empty(n, val.dtype)
    width = 1
    in_tmp = False
    while width < n:
        if in_tmp:
            _merge_runs(tmp_k, tmp_v, key, val, width)
        else:
            _merge_runs(key, val, tmp_k, tmp_v, width)
        in_tmp = not in_tmp
        width *= 2
    if in_tmp:
        for o in range(n):
            key[o] = tmp_k[o]
            val[o] = tmp_v[o]


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
    n_ivs = iv_dt.shape[0]
    n_noise = noise_pix.shape[0]
    max_dt = 1
    for k in range(n_ivs):
        max_dt = max(max_dt, iv_dt[k])
    hist = np.zeros(min(max_dt, 1 << 22) + 2, np.int64)
    # each interval's first slot, noise events and choice of sort
    starts = np.zeros(n_ivs + 1, np.int64)
    noise_end = np.zeros(n_ivs, np.int64)
    by_count = np.zeros(n_ivs, np.bool_)
    q = 0
    any_compare = False
    for k in range(n_ivs):
        dt = iv_dt[k]
        while q < n_noise and noise_rel[q] <= iv_rel0[k] + dt:
            q += 1
        noise_end[k] = q
        n_iv = q - (noise_end[k - 1] if k > 0 else 0)
        for r in range(rec_lo[k], rec_hi[k]):
            n_iv += count[r]
        starts[k + 1] = starts[k] + n_iv
        by_count[k] = dt + 2 <= hist.shape[0] and dt <= 4 * n_iv + 65536
        any_compare |= n_iv > 0 and not by_count[k]
    # one word per event, scattered once: (µs offset in its interval << 32) | pixel * 2 +
    # polarity (< 2^31: sensors are at most 32767 pixels a side; offsets < 2^22 here);
    # intervals sorted by comparison (long gaps) keep their times in `key`
    packed = np.empty(m, np.int64)
    key = np.empty(m if any_compare else 0, np.int64)
    longest = 0
    for k in range(n_ivs):
        longest = max(longest, starts[k + 1] - starts[k])
    offs = np.empty(longest, np.int32)  # < 2^22 where the counting sort runs
    for k in range(n_ivs):
        dt = iv_dt[k]
        rel0 = iv_rel0[k]
        lo, hi = rec_lo[k], rec_hi[k]
        q0 = noise_end[k - 1] if k > 0 else 0
        q = noise_end[k]
        pos = starts[k]
        if starts[k + 1] == pos:
            continue
        if by_count[k]:
            # stable counting sort on the µs offset within the interval; each event's offset is
            # computed once, in the concatenation's order, and kept for the scatter
            hist[: dt + 2] = 0
            i = 0
            for r in range(lo, hi):
                v = _level_time(off0[r], per_level[r], 1, dt)
                offs[i] = v
                hist[v + 1] += 1
                i += 1
            for r in range(lo, hi):
                for j in range(2, count[r] + 1):
                    v = _level_time(off0[r], per_level[r], j, dt)
                    offs[i] = v
                    hist[v + 1] += 1
                    i += 1
            for e in range(q0, q):
                v = noise_rel[e] - rel0
                offs[i] = v
                hist[v + 1] += 1
                i += 1
            for b in range(1, dt + 2):
                hist[b] += hist[b - 1]
            i = 0
            for r in range(lo, hi):
                v = np.int64(offs[i])
                i += 1
                d = pos + hist[v]
                hist[v] += 1
                packed[d] = (v << 32) | (pix[r] * 2 + up[r])
            for r in range(lo, hi):
                word = pix[r] * 2 + up[r]
                for _ in range(count[r] - 1):
                    v = np.int64(offs[i])
                    i += 1
                    d = pos + hist[v]
                    hist[v] += 1
                    packed[d] = (v << 32) | word
            for e in range(q0, q):
                v = np.int64(offs[i])
                i += 1
                d = pos + hist[v]
                hist[v] += 1
                packed[d] = (v << 32) | (noise_pix[e] * 2 + noise_pol[e])
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
            _merge_sort(key[pos:i], packed[pos:i])
    low = (1 << 32) - 1
    magic, shift = divisor(width)
    end = starts[n_ivs]
    n_out = 0
    for k in range(n_ivs):
        t0 = t_base + iv_rel0[k]
        for s in range(starts[k], starts[k + 1]):
            if period > 0 and s + _AHEAD < end:
                # time order visits pixels at random: without the prefetch every event waits
                # for its pixel's last time to come from memory (~4x slower here)
                _prefetch(t_last, (packed[s + _AHEAD] & low) >> 1)
            val = packed[s]
            pk = val & low
            pxl = pk >> 1
            t = t0 + (val >> 32) if by_count[k] else key[s] + t_base
            if period > 0:
                if t - t_last[pxl] < period:
                    continue
                t_last[pxl] = t
            row = (pxl * magic) >> shift
            out_x[n_out] = pxl - row * width
            out_y[n_out] = row
            out_t[n_out] = t
            out_p[n_out] = pk & 1
            n_out += 1
    return n_out


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c rounded once: torch's CPU ``addcmul`` computes the low-pass step this way."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


@intrinsic
def _umulhi(typingctx, a, b):
    """The high 64 bits of the 128-bit product of two uint64."""
    sig = types.uint64(types.uint64, types.uint64)

    def codegen(context, builder, signature, args):
        i128 = ir.IntType(128)
        prod = builder.mul(builder.zext(args[0], i128), builder.zext(args[1], i128))
        return builder.trunc(builder.lshr(prod, i128(64)), ir.IntType(64))

    return sig, codegen


# numpy's PCG64: a 128-bit LCG, state = state * _PCG_MULT + inc, read out by XSL-RR
_PCG_MULT = 0x2360ED051FC65DA44385DF649FCCF645
_PCG_M_HI = np.uint64(_PCG_MULT >> 64)
_PCG_M_LO = np.uint64(_PCG_MULT & 0xFFFFFFFFFFFFFFFF)


@numba.njit(cache=True, nogil=True, inline="always")
def _pcg_step(hi, lo, inc_hi, inc_lo):
    """One step of the 128-bit LCG held as (hi, lo) words."""
    new_lo = lo * _PCG_M_LO
    new_hi = _umulhi(lo, _PCG_M_LO) + lo * _PCG_M_HI + hi * _PCG_M_LO
    out_lo = new_lo + inc_lo
    return new_hi + inc_hi + np.uint64(out_lo < new_lo), out_lo


@numba.njit(cache=True, nogil=True, inline="always")
def _pcg_double(hi, lo):
    """numpy's ``random()`` from a stepped state: XSL-RR output, its top 53 bits / 2^53."""
    x = hi ^ lo
    rot = hi >> np.uint64(58)
    out = (x >> rot) | (x << ((np.uint64(64) - rot) & np.uint64(63)))
    return np.float64(out >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True, nogil=True, inline="always")
def _drift(base, speed, anchor, t):
    """A pixel's leak drift at ``t`` µs, in the torch path's operations (`walk` computes it in
    several places, which must agree to the bit)."""
    return base + speed * np.float64(t - anchor)


# pixels that `walk` steps side by side, frame by frame: each step is then a short loop over
# adjacent pixels with few live values, which the compiler turns into tight (partly SIMD)
# code, where a pixel at a time ran every frame through one loop full of branches and spills
BLOCK = 128


# error_model="numpy": a level crossed between two equal inputs divides by zero exactly as
# the torch path does (inf / nan records) instead of raising
@numba.njit(cache=True, nogil=True, error_model="numpy")
def walk(
    codes,
    x_in,
    log_lut,
    gain_lut,
    fused,
    t_starts,
    t_ends,
    ref,
    x_prev,
    lp,
    c_on,
    c_off,
    leak,
    jitter,
    base,
    speed,
    anchor,
    cycle,
    pixels,
    k_first,
    slots,
    sums,
    i_start,
    records,
    n_rec,
    pauses,
    n_pause,
):
    """The per-pixel part of `EventSimulator._step_batch` for a batch of T frames:
    photoreceptor low-pass, leak drift, threshold crossings and their records, with the torch
    path's float64 operations in its order for every pixel.

    Input per frame is ``codes`` [T, N] (uint8, through ``log_lut`` and, when the low-pass is
    on, through the per-interval gain table ``gain_lut`` [T, 256]; ``fused``: the low-pass
    step rounds once, as torch's addcmul does here) or, when ``codes`` is empty, ``x_in``
    [T, N] (float64, the filtered log intensity the torch path computed). ``sums`` (size T,
    or empty) accumulates each frame's sum of the codes.

    Walks every pixel from frame 0 (``pixels`` empty) in blocks of `BLOCK` adjacent pixels
    (half that for batches of more than 8 frames): pass 1 steps a block's pixels side by
    side, frame by frame, their state in place (a still block, whose codes do not change and
    whose filter has settled, skips the filter's steps); pass 2 takes the pixels that reach
    a level one at a time and writes records to ``records`` (rows of pixel, interval, count, up,
    off0, per_level as float64) from row ``n_rec`` on: pixel by pixel, interval by interval
    within a pixel, so one stable counting sort by interval gives the torch path's order
    (`order_records`). The buffers are the caller's, so the hot loop never reallocates (a
    reassigned array costs reference counting on every iteration): the walk stops before the
    block from the ``i``-th pixel if it might not fit and returns (i, n_rec, n_pause); the
    caller grows the buffers and calls again from ``i_start = i``.

    A firing pixel that completed a leak period needs a new leak speed, drawn by the torch
    path's hash (whose log and cos this kernel cannot reproduce bit for bit): the pixel stops
    there with its state stored and the new period's base, anchor and cycle set, and is
    listed in ``pauses`` (rows of pixel, next frame, period index, slot) from row
    ``n_pause``; its slot is a run of empty rows (count 0) reserved right after its records,
    one per frame left. The caller stores the new speeds and walks the listed ``pixels``
    (one at a time) on from frames ``k_first``, each writing into its ``slots`` row, so the
    records stay in pixel order without a merge.
    """
    n_frames = t_ends.shape[0]
    use_codes = codes.shape[0] > 0
    lowpass = gain_lut.shape[0] > 0
    tol = 1e-9
    lo_scale = 1 - tol
    all_pixels = pixels.shape[0] == 0
    screen = use_codes and not lowpass and not leak
    n_walk = ref.shape[0] if all_pixels else pixels.shape[0]
    # half blocks for long batches: measured 4 % slower at 4 frames, 10-15 % faster at 13-44
    step = (BLOCK if n_frames <= 8 else BLOCK // 2) if all_pixels else 1
    do_sums = sums.shape[0] > 0
    rec_cap = records.shape[0]
    pause_cap = pauses.shape[0]
    row = n_rec
    # a block's comparator inputs, leak drifts and filter states over the batch ([frame,
    # pixel]: pass 1 writes a frame's row at a time), brightest and darkest codes, and whether
    # each pixel reaches a level
    xs = np.empty((n_frames, step), np.float64)
    drs = np.empty((n_frames, step), np.float64)
    lps = np.empty((n_frames, step), np.float64)
    c_hi = np.zeros(step, np.uint8)
    c_lo = np.zeros(step, np.uint8)
    hit = np.zeros(step, np.bool_)
    for i in range(i_start, n_walk, step):
        nb = min(step, n_walk - i)
        # first pixel of the block (blocks of listed pixels are one pixel long)
        p0 = i if all_pixels else pixels[i]
        k0 = 0 if all_pixels else k_first[i]
        # a pixel writes at most one row per frame (records and the slot it reserves) and one
        # pause
        if (all_pixels and row + nb * n_frames > rec_cap) or n_pause + nb > pause_cap:
            return i, (row if all_pixels else n_rec), n_pause
        if not all_pixels:
            row = slots[i]
        for j in range(nb):
            hit[j] = False
        if do_sums:  # (sums come only with codes)
            for k in range(k0, n_frames):
                ck = codes[k, p0 : p0 + nb]
                total = 0
                for j in range(nb):
                    total += ck[j]
                sums[k] += total
        if screen:
            # every log curve rises with the code (tests/test_sim_core.py checks the tables),
            # so the batch's brightest and darkest codes decide whether any frame reaches a
            # level: only such pixels need every frame
            for j in range(nb):
                c_hi[j] = 0
                c_lo[j] = 255
            for k in range(k0, n_frames):
                ck = codes[k, p0 : p0 + nb]
                for j in range(nb):
                    c = ck[j]
                    c_hi[j] = max(c_hi[j], c)
                    c_lo[j] = min(c_lo[j], c)
            last = codes[n_frames - 1, p0 : p0 + nb]
            xl = xs[n_frames - 1]
            for j in range(nb):
                p = p0 + j
                r = ref[p]
                hit[j] = (log_lut[c_hi[j]] - r >= c_on[p] * lo_scale) | (
                    log_lut[c_lo[j]] - r <= -(c_off[p] * lo_scale)
                )
                xl[j] = log_lut[last[j]]
            for j in range(nb):
                if hit[j]:
                    for k in range(k0, n_frames - 1):
                        xs[k, j] = log_lut[codes[k, p0 + j]]
        else:
            rb = ref[p0 : p0 + nb]
            onb = c_on[p0 : p0 + nb]
            offb = c_off[p0 : p0 + nb]
            lpb = lp[p0 : p0 + nb] if lowpass else lp
            bb = base[p0 : p0 + nb] if leak else base
            sb = speed[p0 : p0 + nb] if leak else speed
            ab = anchor[p0 : p0 + nb] if leak else anchor
            # a still block: codes unchanged over the batch and every filter state settled on
            # its code's log value, so the low-pass returns that value every frame whatever its
            # gain (lp + g * 0; equal values are equal bits here: a -0.0 never arises). The
            # drift never decreases, so its first and last frames decide whether any frame
            # reaches a level, and only the pixels that do need every frame's input (for pass 2)
            still = lowpass and use_codes and k0 < n_frames
            if still:
                c0 = codes[k0, p0 : p0 + nb]
                for k in range(k0 + 1, n_frames):
                    ck = codes[k, p0 : p0 + nb]
                    moved = 0
                    for j in range(nb):
                        moved += ck[j] != c0[j]
                    if moved:
                        still = False
                        break
            if still:
                settled = 0
                for j in range(nb):
                    settled += lpb[j] == log_lut[c0[j]]
                still = settled == nb
            if still:
                xl = xs[n_frames - 1]
                if leak:
                    t_a = t_ends[k0]
                    t_b = t_ends[n_frames - 1]
                    for j in range(nb):
                        x_a = lpb[j] + _drift(bb[j], sb[j], ab[j], t_a)
                        x_b = lpb[j] + _drift(bb[j], sb[j], ab[j], t_b)
                        hit[j] = (x_b - rb[j] >= onb[j] * lo_scale) | (
                            x_a - rb[j] <= -(offb[j] * lo_scale)
                        )
                        xl[j] = x_b
                else:
                    for j in range(nb):
                        diff = lpb[j] - rb[j]
                        hit[j] = (diff >= onb[j] * lo_scale) | (diff <= -(offb[j] * lo_scale))
                        xl[j] = lpb[j]
                for j in range(nb):
                    if hit[j]:
                        v = lpb[j]
                        for k in range(k0, n_frames):
                            lps[k, j] = v
                            if leak:
                                dr = _drift(bb[j], sb[j], ab[j], t_ends[k])
                                drs[k, j] = dr
                                xs[k, j] = v + dr
                            else:
                                xs[k, j] = v
            else:
                # pass 1, no branch on the data: the inputs, and whether any frame reaches a
                # level (the reference moves only when one does, so comparing with the current
                # one decides)
                for k in range(k0, n_frames):
                    xk = xs[k]
                    if use_codes:
                        ck = codes[k, p0 : p0 + nb]
                        if lowpass:
                            gk = gain_lut[k]
                            lk = lps[k]
                            if fused:
                                for j in range(nb):
                                    c = ck[j]
                                    v = _fma(gk[c], log_lut[c] - lpb[j], lpb[j])
                                    lpb[j] = v
                                    lk[j] = v
                                    xk[j] = v
                            else:
                                for j in range(nb):
                                    c = ck[j]
                                    v = lpb[j] + gk[c] * (log_lut[c] - lpb[j])
                                    lpb[j] = v
                                    lk[j] = v
                                    xk[j] = v
                        else:
                            for j in range(nb):
                                xk[j] = log_lut[ck[j]]
                    else:
                        for j in range(nb):
                            xk[j] = x_in[k, p0 + j]
                    if leak:
                        dk = drs[k]
                        t_k = t_ends[k]
                        for j in range(nb):
                            dr = _drift(bb[j], sb[j], ab[j], t_k)
                            dk[j] = dr
                            xk[j] = xk[j] + dr
                    for j in range(nb):
                        diff = xk[j] - rb[j]
                        hit[j] |= (diff >= onb[j] * lo_scale) | (diff <= -(offb[j] * lo_scale))
        # most blocks have no pixel that fires: their last inputs in one vectorised store,
        # not pixel by pixel through pass 2's branches
        n_hit = 0
        for j in range(nb):
            n_hit += hit[j]
        if n_hit == 0:
            if k0 < n_frames:
                xl = xs[n_frames - 1]
                xpb = x_prev[p0 : p0 + nb]
                for j in range(nb):
                    xpb[j] = xl[j]
            continue
        for j in range(nb):
            p = p0 + j
            k_end = n_frames
            if hit[j]:
                # pass 2: the crossings of a pixel that fires in this batch
                r = ref[p]
                con = c_on[p]
                coff = c_off[p]
                con_lo = con * lo_scale
                coff_lo = -(coff * lo_scale)
                xp = x_prev[p]
                for k in range(k0, n_frames):
                    x = xs[k, j]
                    diff = x - r
                    if diff >= con_lo or diff <= coff_lo:
                        # the other direction's count is 0 (its quotient + tol < 1): no division
                        if diff > 0:
                            n_on = max(np.floor(diff / con + tol), 0.0)
                            n_off = 0.0
                        else:
                            n_on = 0.0
                            n_off = max(np.floor(-diff / coff + tol), 0.0)
                        r0 = r
                        r = r0 + n_on * con - n_off * coff
                        n = n_on - n_off
                        if n != 0:
                            t_k = t_ends[k]
                            # torch divides a number by a tensor as reciprocal times the number
                            us_per_log = (1.0 / (x - xp)) * np.float64(t_k - t_starts[k])
                            up = n > 0
                            records[row, 0] = p
                            records[row, 1] = k
                            records[row, 2] = abs(n)
                            records[row, 3] = 1.0 if up else 0.0
                            records[row, 4] = (r0 - xp) * us_per_log
                            records[row, 5] = (con if up else -coff) * us_per_log
                            row += 1
                            if jitter:
                                done = np.int64(np.floor(drs[k, j] / con))
                                if done > cycle[p]:
                                    base[p] = drs[k, j]
                                    anchor[p] = t_k
                                    cycle[p] = done
                                    pauses[n_pause, 0] = p
                                    pauses[n_pause, 1] = k + 1
                                    pauses[n_pause, 2] = done
                                    pauses[n_pause, 3] = row
                                    n_pause += 1
                                    for q in range(row, row + n_frames - k - 1):
                                        records[q, 2] = 0.0
                                    row += n_frames - k - 1
                                    k_end = k + 1
                                    break
                    xp = x
                ref[p] = r
            if k_end > k0:
                x_prev[p] = xs[k_end - 1, j]
                if lowpass and k_end < n_frames:
                    lp[p] = lps[k_end - 1, j]
    return n_walk, (row if all_pixels else n_rec), n_pause


@numba.njit(cache=True, nogil=True)
def order_records(n_iv, records, m):
    """`walk`'s first ``m`` record rows, pixel-major, in the torch path's order (interval by
    interval, pixel by pixel within one) by a stable counting sort on the interval, empty
    rows (count 0) left out: (pixel, count, up, off0, per_level) arrays for `assemble`, and
    each interval's slice bounds."""
    bounds = np.zeros(n_iv + 1, np.int64)
    for i in range(m):
        if records[i, 2] != 0.0:
            bounds[np.int64(records[i, 1]) + 1] += 1
    for k in range(n_iv):
        bounds[k + 1] += bounds[k]
    n_out = bounds[n_iv]
    fill = bounds[:n_iv].copy()
    o_pix = np.empty(n_out, np.int64)
    o_count = np.empty(n_out, np.int64)
    o_up = np.empty(n_out, np.bool_)
    o_off0 = np.empty(n_out, np.float64)
    o_per = np.empty(n_out, np.float64)
    for i in range(m):
        if records[i, 2] != 0.0:
            k = np.int64(records[i, 1])
            d = fill[k]
            fill[k] += 1
            o_pix[d] = np.int64(records[i, 0])
            o_count[d] = np.int64(records[i, 2])
            o_up[d] = records[i, 3] != 0.0
            o_off0[d] = records[i, 4]
            o_per[d] = records[i, 5]
    return o_pix, o_count, o_up, o_off0, o_per, bounds[:n_iv].copy(), bounds[1:].copy()


@numba.njit(cache=True, nogil=True)
def shot_noise(cand, rows, codes, a_lut, ratio, dt, t_first):
    """Shot-noise candidates -> events, as `EventSimulator._noise_events` computes them from
    ``u = rng.random((3, count))``: candidate i (pixel ``cand[i]``) is kept when ``u[2, i] < 1 -
    (1 - ratio) * a`` (a from the pixel's uint8 code; all kept when ratio is 1), at time
    ``t_first + floor(u[0, i] * dt)``, ON when ``u[1, i] < 0.5``.

    ``rows`` holds the PCG64 states u's three rows start from and the increment (uint64 words
    hi, lo of row 0, 1, 2, then of inc; see `core._uniform_rows`): the kernel steps
    the three rows side by side, so the uniforms are never stored."""
    count = cand.shape[0]
    pix = np.empty(count, np.int64)
    t = np.empty(count, np.int64)
    pol = np.empty(count, np.bool_)
    thin = ratio != 1
    scale = 1.0 - ratio
    fdt = np.float64(dt)
    t_hi, t_lo, p_hi, p_lo, u_hi, u_lo = rows[0], rows[1], rows[2], rows[3], rows[4], rows[5]
    inc_hi, inc_lo = rows[6], rows[7]
    m = 0
    for i in range(count):
        if thin and i + _AHEAD < count:
            # candidates are uniform over the sensor: each lookup would miss the cache
            _prefetch_read(codes, cand[i + _AHEAD])
        t_hi, t_lo = _pcg_step(t_hi, t_lo, inc_hi, inc_lo)
        p_hi, p_lo = _pcg_step(p_hi, p_lo, inc_hi, inc_lo)
        c = cand[i]
        # written unconditionally, kept by advancing: the keep test is a coin flip that a
        # branch would mispredict
        pix[m] = c
        t[m] = np.int64(_pcg_double(t_hi, t_lo) * fdt) + t_first
        pol[m] = _pcg_double(p_hi, p_lo) < 0.5
        if thin:
            u_hi, u_lo = _pcg_step(u_hi, u_lo, inc_hi, inc_lo)
            m += _pcg_double(u_hi, u_lo) < 1.0 - scale * a_lut[codes[c]]
        else:
            m += 1
    return pix[:m], t[:m], pol[:m]
