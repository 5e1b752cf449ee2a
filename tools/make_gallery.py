"""Render the docs gallery: a few views of the built-in synthetic clip (moving shapes).

    python tools/make_gallery.py            # writes docs/gallery/*.png and docs/gallery/README.md
    python tools/make_gallery.py --only heatmap.png   # remakes one image (and the README)

The images and the README.md are overwritten without asking (they are generated files), in
docs/gallery or any other --out folder.

The clip is simulated once into build/gallery/shapes.h5 (with its frames, for the overlay);
every image is then made by one `eventsim` command, run in-process and listed in the README
exactly as it can be typed in a shell.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import TypedDict

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SENSOR = (346, 260)


class _ClipSettings(TypedDict):
    duration_s: float
    fps: float
    seed: int


CLIP: _ClipSettings = {"duration_s": 1.0, "fps": 60.0, "seed": 0}
PRESET = "clean"


def simulate_clip(path: Path) -> int:
    """The moving-shapes clip through the simulator, frames saved alongside the events."""
    from eventsim.io import open_events
    from eventsim.simulator import DVSParams, simulate
    from eventsim.simulator.sources import ArraySource
    from eventsim.simulator.synthetic import moving_shapes_clip

    frames, timestamps_us = moving_shapes_clip(*SENSOR, **CLIP)
    simulate(
        ArraySource(frames, timestamps_us),
        DVSParams.from_preset(PRESET),
        seed=CLIP["seed"],
        out=path,
        save_frames=True,
        force=True,
    )
    with open_events(path) as r:
        return len(r)


def gallery_commands(clip: str, out: str) -> list[tuple[str, str, list[str]]]:
    """(image name, caption, eventsim argv) for every CLI-made image."""

    def render(name: str, *options: str) -> list[str]:
        return ["render", clip, "-o", f"{out}/{name}", *options]

    return [
        (
            "polarity_dark.png",
            "20 ms of events, ON red / OFF blue on black (last event per pixel wins)",
            render("polarity_dark.png", "--start-ms", "300", "--window-ms", "20"),
        ),
        (
            "polarity_white.png",
            "The same window on a white background",
            render(
                "polarity_white.png",
                "--start-ms",
                "300",
                "--window-ms",
                "20",
                "--background",
                "white",
            ),
        ),
        (
            "signed_grey.png",
            "Signed grey: 128 + 127 · clip((ON − OFF) / 2)",
            render(
                "signed_grey.png", "--start-ms", "300", "--window-ms", "20", "--background", "grey"
            ),
        ),
        (
            "overlay.png",
            "Events over the saved frame at the end of the window (frame shown in grey)",
            render("overlay.png", "--start-ms", "300", "--window-ms", "20", "--mode", "overlay"),
        ),
        (
            "timesurface.png",
            "Exponential-decay time surface (τ = 40 ms) at the end of a 100 ms window",
            render(
                "timesurface.png",
                *(
                    "--start-ms",
                    "300",
                    "--window-ms",
                    "100",
                    "--mode",
                    "timesurface",
                    "--tau-ms",
                    "40",
                ),
            ),
        ),
        (
            "heatmap.png",
            "Events per pixel over 200 ms (log scale). The colour bar reads 0, the count halfway "
            "up the log scale and this frame's full scale (99th percentile of its active pixels, "
            "or `--max-count`), `+` as higher counts take the top colour",
            render("heatmap.png", "--start-ms", "300", "--window-ms", "200", "--mode", "heatmap"),
        ),
        (
            "voxel.png",
            "Voxel grid of 50 ms in 5 time bins (oldest left; bilinear in time)",
            render(
                "voxel.png",
                *("--start-ms", "300", "--window-ms", "50", "--mode", "voxel", "--bins", "5"),
            ),
        ),
        (
            "polarity.gif",
            "The whole clip, 33 ms of events per frame, played back in real time",
            render("polarity.gif", "--window-ms", "33.333", "--fps", "30"),
        ),
        (
            "summary.png",
            "`eventsim plot`: rate by polarity, heat map, per-pixel rates, x-y-t scatter",
            ["plot", clip, "-o", f"{out}/summary.png"],
        ),
    ]


def patch_grid_example(clip: Path, out: Path) -> None:
    """EP-VLM's patch view: a 10x13 block grid scored by its blocks' mean events per pixel,
    top 30 % kept."""
    from eventsim.io import open_events
    from eventsim.render import count_map, patch_grid_overlay

    with open_events(clip) as r:
        t0 = r.t_start_us + 300_000
        events = r.read(t0, t0 + 50_000)
        frame = r.read_frame(int(np.searchsorted(r.frame_ts_us, t0 + 50_000, side="right")) - 1)
        counts = count_map(events, r.sensor_size).astype(np.float32)
    scores = cv2.resize(counts, (13, 10), interpolation=cv2.INTER_AREA)  # block means
    order = np.argsort(-scores.ravel(), kind="stable")
    keep = np.zeros(scores.size, bool)
    keep[order[: round(0.3 * scores.size)]] = True
    img = patch_grid_overlay(
        frame, np.log1p(scores), keep.reshape(scores.shape), legend=PATCH_LEGEND
    )
    cv2.imwrite(str(out), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


PATCH_LEGEND = "log(1 + mean events/px of block)"
PATCH_SNIPPET = f"""\
from eventsim.render import count_map, patch_grid_overlay

scores = cv2.resize(
    count_map(events, (346, 260)).astype("float32"), (13, 10), interpolation=cv2.INTER_AREA
)  # mean events per pixel of each block
keep = scores >= np.quantile(scores, 0.7)  # EP-VLM keeps the busiest 30 %
img = patch_grid_overlay(frame, np.log1p(scores), keep, legend="{PATCH_LEGEND}")"""


def _shown(path: Path) -> str:
    """``path`` relative to the repository where it lies inside it (the commands the gallery's
    README shows), else as given."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--out",
        default="docs/gallery",
        help="gallery folder, relative to the repo (default docs/gallery); made if missing. The "
        "images made and its README.md are overwritten without asking, in any folder",
    )
    ap.add_argument(
        "--work",
        default="build/gallery",
        help="where the simulated clip goes (default build/gallery)",
    )
    ap.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="remake only these images (e.g. heatmap.png); the README is always rewritten whole",
    )
    args = ap.parse_args(argv)
    names = [name for name, _, _ in gallery_commands("", "")] + ["patch_grid.png"]
    unknown = sorted(set(args.only or ()) - set(names))
    if unknown:
        ap.error(f"--only {', '.join(unknown)}: not a gallery image; expected some of {names}")
    wanted = set(args.only or names)

    out_dir, work_dir = ROOT / args.out, ROOT / args.work
    # a file given as a folder was mkdir's FileExistsError traceback
    for flag, folder in (("--out", out_dir), ("--work", work_dir)):
        if folder.exists() and not folder.is_dir():
            ap.error(f"{flag} {folder} is a file; expected a folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            ap.error(f"{flag} {folder}: cannot make the folder ({exc.strerror}); expected a folder")

    from eventsim.cli import main as eventsim

    clip = work_dir / "shapes.h5"
    t = time.perf_counter()
    n = simulate_clip(clip)
    print(f"simulated {_shown(clip)}: {n:,} events in {time.perf_counter() - t:.1f} s")

    clip_rel, out_rel = _shown(clip), _shown(out_dir)
    lines = [
        "# Gallery",
        "",
        "Views of the built-in synthetic clip (four textured shapes moving over a static",
        f"textured background, {SENSOR[0]}x{SENSOR[1]}, {CLIP['duration_s']:g} s at "
        f"{CLIP['fps']:g} fps, simulator preset `{PRESET}`, seed {CLIP['seed']}).",
        "Regenerate everything with `python tools/make_gallery.py` from the repository root;",
        f"it first simulates the clip into `{clip_rel}` (frames saved, for the overlay) and then",
        "runs the command listed under each image (adding `--force --no-progress`).",
        "Times (`--start-ms`) are ms after the first event.",
        "",
    ]
    for name, caption, argv_ in gallery_commands(clip_rel, out_rel):
        rc = _run_in(ROOT, eventsim, [*argv_, "--force", "--no-progress"]) if name in wanted else 0
        if rc != 0:
            print(f"eventsim {shlex.join(argv_)} failed with exit status {rc}", file=sys.stderr)
            return rc
        lines += [f"## {name}", "", caption, "", f"![{name}]({name})", ""]
        lines += ["```sh", f"eventsim {shlex.join(argv_)}", "```", ""]

    if "patch_grid.png" in wanted:
        patch_grid_example(clip, out_dir / "patch_grid.png")
    lines += [
        "## patch_grid.png",
        "",
        "`eventsim.render.patch_grid_overlay`, the view EP-VLM uses for its token selection:",
        "a 10x13 block grid scored by each block's mean events per pixel over 50 ms",
        "(log scale heat map), the busiest 30 % of blocks kept (green), the rest dimmed",
        "(red outline);",
        "`legend=` adds the strip below: the score's colour ramp, lowest to highest, and the keys.",
        "Made by `python tools/make_gallery.py` (function `patch_grid_example`), in essence:",
        "",
        "![patch_grid.png](patch_grid.png)",
        "",
        "```python",
        PATCH_SNIPPET,
        "```",
        "",
    ]
    (out_dir / "README.md").write_text("\n".join(lines))
    print(f"wrote {out_rel}/README.md and {', '.join(sorted(wanted))}")
    return 0


def _run_in(cwd: Path, fn, argv: list[str]) -> int:
    """Run ``fn(argv)`` with ``cwd`` as the working directory, so the README's relative paths
    are exactly the ones used."""
    import os

    old = Path.cwd()
    os.chdir(cwd)
    try:
        return fn(argv)
    finally:
        os.chdir(old)


if __name__ == "__main__":
    sys.exit(main())
