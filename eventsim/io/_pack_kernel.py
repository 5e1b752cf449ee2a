"""Optional numba kernel for `EventReader` record reads: four decoded column blocks packed
into `EVENT_DTYPE` records in one pass (numpy needs one strided pass per field). Import it
only through `eventsim.io.hdf5_reader`, which falls back to numpy without numba."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, boundscheck=False)
def pack(
    out: np.ndarray, x: np.ndarray, y: np.ndarray, t: np.ndarray, p: np.ndarray, t_offset: int
) -> None:
    """``out[i] = (x[i], y[i], t[i] + t_offset, p[i])`` for every record of ``out``."""
    for i in range(out.shape[0]):
        r = out[i]
        r.x = x[i]
        r.y = y[i]
        r.t = t[i] + t_offset
        r.p = p[i]
