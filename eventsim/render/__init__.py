"""Looking at events: polarity frames, count heat maps, time surfaces, voxel grids, overlays on
frames, EP-VLM's patch-grid view, and streaming renders of whole files.

The kernels (`render_polarity`, `count_map`, `time_surface`, `voxel_grid`, `overlay_events`,
`patch_grid_overlay`, ...) are pure numpy/OpenCV functions returning RGB uint8 images or float
arrays of shape (height, width); their colour scales (`heatmap_colorbar`, `patch_grid_legend`)
are drawn with OpenCV too. `render_file` and the sinks in `eventsim.render.writers` are the only
parts that touch files.

Frames are windows of fixed time or of a fixed event count (tonic's ``ToFrame(time_window=...)``
and ``ToFrame(event_count=...)``): `split_by_time` and `split_by_count` cut an array in memory,
`stream_by_time` and `stream_by_count` an open reader, window by window, as ``eventsim render
--window-ms`` and ``--events-per-frame`` do.

`collect_summary` and `summary_figure` make ``eventsim plot``'s figure (rate, heat map,
per-pixel histogram, x-y-t scatter) of an open reader as a matplotlib Figure, for a notebook;
they are loaded on first use, and matplotlib (the ``viz`` extra) only when a figure is drawn.
"""

from typing import TYPE_CHECKING, Any

from eventsim.render.accumulate import (
    split_by_count,
    split_by_time,
    stream_by_count,
    stream_by_time,
)
from eventsim.render.colors import apply_colormap, palette, parse_color
from eventsim.render.frames import (
    TimeSurface,
    count_map,
    last_polarity,
    polarity_counts,
    render_heatmap,
    render_polarity,
    render_time_surface,
    render_voxel_grid,
    time_surface,
    voxel_grid,
)
from eventsim.render.overlay import overlay_events, patch_grid_overlay
from eventsim.render.pipeline import RenderResult, render_file
from eventsim.render.renderer import MODES, FrameRenderer, RenderParams
from eventsim.render.scales import draw_heatmap_colorbar, heatmap_colorbar, patch_grid_legend

if TYPE_CHECKING:
    # what __getattr__ loads on first use, visible to type checkers and IDEs
    from eventsim.render.summary import collect_summary, summary_figure

__all__ = [
    "MODES",
    "FrameRenderer",
    "RenderParams",
    "RenderResult",
    "TimeSurface",
    "apply_colormap",
    "collect_summary",
    "count_map",
    "draw_heatmap_colorbar",
    "heatmap_colorbar",
    "last_polarity",
    "overlay_events",
    "palette",
    "parse_color",
    "patch_grid_legend",
    "patch_grid_overlay",
    "polarity_counts",
    "render_file",
    "render_heatmap",
    "render_polarity",
    "render_time_surface",
    "render_voxel_grid",
    "split_by_count",
    "split_by_time",
    "stream_by_count",
    "stream_by_time",
    "summary_figure",
    "time_surface",
    "voxel_grid",
]


def __getattr__(name: str) -> Any:
    # eventsim plot's module, loaded on first use: whatever it comes to import (matplotlib is
    # an extra) stays out of `import eventsim.render`
    if name in ("collect_summary", "summary_figure"):
        from eventsim.render import summary

        return getattr(summary, name)
    raise AttributeError(f"module 'eventsim.render' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
