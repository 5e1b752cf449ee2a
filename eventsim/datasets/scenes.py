"""Procedural event-VQA scenes: coloured, textured shapes on textured backgrounds, some moving.

Everything here is numpy + OpenCV and needs no build step, so a training script can draw fresh
samples in memory::

    from eventsim.datasets.scenes import SceneConfig, draw_sample, simulate_scene
    cfg = SceneConfig(mode="target", sensor_size=(224, 224))
    s = draw_sample(cfg, seed=123)        # s.image, s.frames, s.timestamps_us, s.question, ...
    events = simulate_scene(s, seed=123)  # the DVS events of the window (needs the simulator)

Two modes:

``vqa``
    2-4 objects with distinct colours and distinct shapes; each moves (in a straight line, left,
    right, up or down) or stays still, with at least one of each when there are two or more.
    Question types: ``color`` ("What colour is the star?"), ``shape``, ``position`` (3x3 or 2x2
    region of the image at the question time), ``motion`` (direction, or "not moving") and
    ``count`` (of all, the moving or the still objects, or of one colour: 0 or 1; each wording's
    answers near uniform, its options only counts it can have). Questions about a static object
    are asked as often as objects are static.
``target``
    One coloured, textured target among grey textured clutter, in one of three scenarios
    (``target_motion``): ``moving`` (the target moves), ``static`` (the target stays still while
    one clutter piece moves; ``static_target_share`` of the non-camera samples) and ``camera``
    (``camera_share`` of the samples: nothing in the scene moves, the camera pans across the still
    scene, which lies on a smoothly shaded background, so events mark edges and texture as in
    the still-image datasets EP-VLM evaluates). Question types: ``color``, ``shape``,
    ``position``, ``pattern`` and (optional) ``motion`` ("Is the coloured object moving?", in
    the scene: "no" for a still target passed by the camera, and with ``camera_share`` > 0 the
    question says the camera may move).

``pattern`` questions ask for the fine pattern of the target: 1-px ``horizontal`` or
``vertical`` stripes, a 1-px ``checker`` board, 1-px ``dots`` on a 2-px lattice, or ``plain``.
Every pattern has the same mean brightness and repeats within 2 x 2 px, so an image resized to
half its width and height (a quarter of the tokens) shows all five as the same flat colour;
at gentler scales an attenuated moire of the pattern remains. The colour survives any resize. When ``pattern`` is among the question types every target carries
one of the patterns (whatever the question) and its final position is snapped to even pixels, so
the pattern is crisp in the question-time image and in phase with the image's pixel grid.

The frames of the event window are rendered at a rate that moves every object by at most
``max_step_px`` per frame, so the simulator needs no upsampling. The answer is exact: it is read
from the scene description, never from the pixels, which `eventsim.datasets.scene_render` draws.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from eventsim.datasets.scene_render import (
    PATTERNS,
    SHAPES,
    composite,
    make_sprite,
    render_movers,
    render_pan,
    smooth_background,
    textured_background,
    to_u8,
)
from eventsim.errors import ParameterError

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "green": (40, 165, 55),
    "blue": (40, 85, 225),
    "yellow": (235, 205, 35),
    "purple": (145, 55, 195),
    "orange": (245, 135, 25),
    "cyan": (35, 195, 210),
}
DIRECTIONS: dict[str, tuple[int, int]] = {
    "left": (-1, 0),
    "right": (1, 0),
    "up": (0, -1),
    "down": (0, 1),
}
NOT_MOVING = "not moving"
MODES = ("vqa", "target")
QUESTION_TYPES: dict[str, tuple[str, ...]] = {
    "vqa": ("color", "shape", "position", "motion", "count"),
    "target": ("color", "shape", "position", "pattern", "motion"),
}
DEFAULT_QUESTION_TYPES: dict[str, tuple[str, ...]] = {
    "vqa": QUESTION_TYPES["vqa"],
    "target": ("color", "shape", "position"),
}
POSITION_GRIDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "3x3": (
        ("top left", "top", "top right"),
        ("left", "center", "right"),
        ("bottom left", "bottom", "bottom right"),
    ),
    "2x2": (("top left", "top right"), ("bottom left", "bottom right")),
}

_GAP_PX = 4.0  # clearance between objects (whole trajectories), so none is ever occluded
_REGION_MARGIN = 0.15  # object centres keep this fraction of a cell away from cell borders
_RENAMED_FIELDS = {"image_size": "sensor_size (W, H)"}


@dataclasses.dataclass(frozen=True)
class SceneConfig:
    """How scenes are drawn. Ranges are inclusive ``(low, high)`` pairs.

    The recipe's ``[source]`` table (``kind = "shapes"``) sets these fields by name;
    ``sensor_size`` (W, H), the size of the frames and of the simulated sensor, comes from
    ``[camera]`` and ``window_ms`` from ``[events]``.
    """

    mode: str = "vqa"
    sensor_size: tuple[int, int] = (224, 224)
    window_ms: float = 50.0
    #: Question types to draw from (uniformly); empty = the mode's default set.
    question_types: tuple[str, ...] = ()
    #: ``vqa``: number of coloured objects.
    n_objects: tuple[int, int] = (2, 4)
    #: ``vqa``: probability that an object moves.
    moving_share: float = 0.5
    #: ``target``: number of grey clutter pieces.
    n_clutter: tuple[int, int] = (2, 4)
    #: ``target``: share of samples whose target stays still (a clutter piece moves instead),
    #: among the samples that are not camera-motion samples.
    static_target_share: float = 0.3
    #: ``target``: share of samples where the scene is still and the camera pans across it.
    camera_share: float = 0.0
    #: Object diameter in pixels.
    object_size_px: tuple[float, float] = (30.0, 46.0)
    #: ``target``: the target's diameter in pixels; ``None``: ``object_size_px``, like clutter.
    target_size_px: tuple[float, float] | None = None
    #: Distance a moving object travels during the event window, in pixels.
    motion_px: tuple[float, float] = (12.0, 24.0)
    #: Largest motion between two rendered frames of the window, in pixels.
    max_step_px: float = 1.0
    #: Region names used by ``position`` questions.
    position_grid: str = "3x3"
    #: Number of answer choices (fewer when the question has fewer possible answers).
    n_choices: int = 4
    #: Texture the objects (stripes, checks, dots, noise); the background is always textured.
    textured: bool = True

    def __new__(cls, *args: Any, **kwargs: Any) -> SceneConfig:
        # name the new spelling instead of Python's bare "unexpected keyword argument"
        for old, new in _RENAMED_FIELDS.items():
            if old in kwargs:
                raise TypeError(f"SceneConfig({old}=...) was renamed {new}")
        return super().__new__(cls)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sensor_size", tuple(int(v) for v in self.sensor_size))
        object.__setattr__(self, "question_types", tuple(self.question_types))
        for name in ("n_objects", "n_clutter", "object_size_px", "motion_px"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.target_size_px is not None:
            object.__setattr__(self, "target_size_px", tuple(self.target_size_px))
        self.validate()

    def validate(self) -> None:
        """`ParameterError` naming the first field outside its allowed values or range."""
        _choice("mode", self.mode, MODES)
        _choice("position_grid", self.position_grid, tuple(POSITION_GRIDS))
        for qt in self.question_types:
            modes = [m for m in MODES if qt in QUESTION_TYPES[m]]
            if modes and qt not in QUESTION_TYPES[self.mode]:
                # a valid type of the other mode: the docs list it, so say why it is refused
                raise ParameterError(
                    f"question_types = {qt!r} is asked in mode {modes[0]!r} only; allowed "
                    f"values in mode {self.mode!r}: {', '.join(QUESTION_TYPES[self.mode])}"
                )
            _choice("question_types", qt, QUESTION_TYPES[self.mode])
        width, height = self.sensor_size
        if not (32 <= width <= 4096 and 32 <= height <= 4096):
            raise ParameterError(
                f"sensor_size = {width}x{height}; expected 32..4096 pixels in each dimension"
            )
        _range("n_objects", self.n_objects, 1, len(SHAPES))
        _range("n_clutter", self.n_clutter, 0, 12)
        # bounds that follow the sensor name the side they come from: a recipe's refusal of
        # its sizes could be caused by camera.width alone
        side = min(width, height)
        if width == height:
            of = f"sensor_size width={width} and height={height}"
        else:
            of = f"sensor_size {'width' if width < height else 'height'}={side}, its smaller side"
        _range("object_size_px", self.object_size_px, 6, side / 3, f"a third of {of}")
        if self.target_size_px is not None:
            _range("target_size_px", self.target_size_px, 6, side / 3, f"a third of {of}")
        _range("motion_px", self.motion_px, 0.5, side / 2, f"half of {of}")
        if not (math.isfinite(self.window_ms) and self.window_ms > 0):
            raise ParameterError(f"window_ms = {self.window_ms!r}; expected a value > 0")
        if not (math.isfinite(self.max_step_px) and 0.05 <= self.max_step_px <= 8):
            raise ParameterError(f"max_step_px = {self.max_step_px!r}; expected 0.05..8")
        for name in ("moving_share", "static_target_share", "camera_share"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ParameterError(f"{name} = {value!r}; expected a probability in 0..1")
        if not 2 <= self.n_choices <= 9:
            raise ParameterError(f"n_choices = {self.n_choices!r}; expected 2..9")
        if self.mode == "target" and self.static_target_share > 0 and self.n_clutter[0] < 1:
            raise ParameterError(
                "n_clutter must be at least 1 when static_target_share > 0 "
                f"(a clutter piece moves when the target is still); got {list(self.n_clutter)}"
            )

    @property
    def active_question_types(self) -> tuple[str, ...]:
        """The question types asked: ``question_types``, or the mode's defaults when empty."""
        return self.question_types or DEFAULT_QUESTION_TYPES[self.mode]

    def replace(self, **changes: Any) -> SceneConfig:
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ParameterError(f"{name} = {value!r}; allowed values: {', '.join(allowed)}")


def _range(name: str, pair: tuple, low: float, high: float, high_from: str = "") -> None:
    """Refuse ``pair`` unless ``low <= pair[0] <= pair[1] <= high``; ``high_from`` says what
    ``high`` is derived from ("a third of sensor_size width=100, its smaller side")."""
    if len(pair) != 2 or not all(isinstance(v, (int, float)) for v in pair):
        raise ParameterError(f"{name} = {list(pair)!r}; expected a [low, high] pair of numbers")
    lo, hi = pair
    if not (low <= lo <= hi <= high):
        # a derived limit is shown rounded down (33.33, not 33.3333): a value written as shown
        # is then taken
        shown = f"{math.floor(high * 100) / 100:g} ({high_from})" if high_from else f"{high:g}"
        raise ParameterError(f"{name} = {list(pair)!r}; expected {low:g} <= low <= high <= {shown}")


@dataclasses.dataclass
class SceneObject:
    shape: str
    color: str  # a COLORS name, or "grey" for clutter
    rgb: tuple[float, float, float]
    size_px: float
    start: tuple[float, float]  # centre (x, y) at the window start
    end: tuple[float, float]  # centre at the question time
    direction: str | None  # None when still
    region: str
    sprite: np.ndarray = dataclasses.field(repr=False)  # premultiplied RGB + alpha, float32 SxSx4
    pattern: str | None = None  # a PATTERNS name when the object carries a fine pattern

    @property
    def moving(self) -> bool:
        """Whether the object moves during the window."""
        return self.direction is not None

    def describe(self) -> dict[str, Any]:
        """The object as recorded in a sample's ``meta.objects`` (JSON-ready, rounded)."""
        out = {
            "shape": self.shape,
            "color": self.color,
            "size_px": round(self.size_px, 2),
            "start_xy": [round(v, 2) for v in self.start],
            "end_xy": [round(v, 2) for v in self.end],
            "moving": self.moving,
            "direction": self.direction,
            "region": self.region,
        }
        if self.pattern is not None:
            out["pattern"] = self.pattern
        return out


@dataclasses.dataclass
class SceneSample:
    """One drawn sample. ``image`` is the RGB frame at the question time (== ``frames[-1]``)."""

    image: np.ndarray  # HxWx3 uint8 RGB
    frames: np.ndarray  # TxHxWx3 uint8 RGB, the window's frames (only the last if not rendered)
    timestamps_us: np.ndarray  # T int64, ends at the question time
    question: str
    choices: list[str]
    answer: str
    answer_index: int
    question_type: str
    target_motion: str | None  # "moving" | "static" | "camera" | None (no single object asked)
    meta: dict[str, Any]

    @property
    def sensor_size(self) -> tuple[int, int]:
        """(W, H) of the image and the event grid."""
        return (int(self.image.shape[1]), int(self.image.shape[0]))

    @property
    def window_us(self) -> tuple[int, int]:
        """(start, end) µs of the event window; the image is the frame at its end."""
        return (int(self.meta["window_us"][0]), int(self.meta["window_us"][1]))


def draw_sample(config: SceneConfig, seed: int, *, render_frames: bool = True) -> SceneSample:
    """Draw one scene and question from ``(config, seed)``; pure and deterministic.

    With ``render_frames=False`` only the final frame is rendered (``frames`` has length 1):
    the scene, question and image are the same as with frames, at a fraction of the cost.
    """
    if not isinstance(config, SceneConfig):
        raise ParameterError(f"config is a {type(config).__name__}; expected a SceneConfig")
    seq = np.random.SeedSequence(int(seed))
    # The scenario and the pattern come from a fourth stream: the first three are the same as
    # with three streams, so configs without camera motion or patterns draw the scenes they
    # always drew.
    bg_rng, layout_rng, q_rng, extra_rng = (np.random.default_rng(s) for s in seq.spawn(4))
    width, height = config.sensor_size
    target_mode = config.mode == "target"
    camera = target_mode and config.camera_share > 0 and extra_rng.random() < config.camera_share
    pattern = None
    if target_mode and "pattern" in config.active_question_types:
        pattern = str(extra_rng.choice(PATTERNS))
    if camera:
        background, bg_level = smooth_background(bg_rng, width, height)
    else:
        background, bg_level = textured_background(bg_rng, width, height)
    if config.mode == "vqa":
        objects = _layout_vqa(layout_rng, config)
    else:
        objects = _layout_target(layout_rng, config, bg_level, camera=camera, pattern=pattern)
    question = _question(q_rng, config, objects, camera=camera)

    window_us = round(config.window_ms * 1000)
    pan = None
    if camera:
        travel = float(extra_rng.uniform(*config.motion_px))
        angle = float(extra_rng.uniform(0, 2 * math.pi))
        pan = (travel * math.cos(angle), travel * math.sin(angle))
        longest = travel
    else:
        longest = max((_dist(o.start, o.end) for o in objects), default=0.0)
    n_frames = max(2, math.ceil(longest / config.max_step_px) + 1)
    timestamps = np.rint(np.linspace(0, window_us, n_frames)).astype(np.int64)
    steps = range(n_frames) if render_frames else [n_frames - 1]
    # a panning camera sees the bare background beyond the question-time frame
    bare = background.copy() if pan is not None else background
    # still objects go underneath movers, so they can be drawn once into the background
    base = background
    for obj in objects:
        if not obj.moving:
            composite(base, obj.sprite, *obj.end)
    movers = [o for o in objects if o.moving]
    base_u8 = to_u8(base)
    frames = np.empty((len(steps), height, width, 3), np.uint8)
    for i, k in enumerate(steps):
        if pan is None:
            render_movers(frames[i], base, base_u8, movers, k / (n_frames - 1))
        else:
            render_pan(frames[i], base, base_u8, pan, k / (n_frames - 1), bare)
    if not render_frames:
        timestamps = timestamps[-1:]
    meta = {
        "mode": config.mode,
        "seed": int(seed),
        "objects": [o.describe() for o in objects],
        "target": question.pop("target"),
        "window_us": [0, window_us],
        "frame_t_us": window_us,
        "n_frames": n_frames,
        "position_grid": config.position_grid,
    }
    if pan is not None:
        # the scene moves by -pan relative to the camera over the window, ending where the
        # question-time image shows it
        meta["camera_pan_px"] = [round(pan[0], 3), round(pan[1], 3)]
    return SceneSample(
        image=frames[-1],
        frames=frames,
        timestamps_us=timestamps,
        meta=meta,
        **question,
    )


def simulate_scene(sample: SceneSample, params: Any = None, *, seed: int = 0) -> np.ndarray:
    """DVS events of the sample's window (``EVENT_DTYPE``, times in µs, window end inclusive).

    ``params`` is a `DVSParams` (default: the ``clean`` preset). Needs the frames rendered.
    """
    from eventsim.events import slice_time
    from eventsim.simulator import DVSParams, EventSimulator

    if len(sample.frames) < 2:
        raise ParameterError(
            "the sample has no window frames; draw it with render_frames=True to simulate events"
        )
    if params is None:
        params = DVSParams.from_preset("clean")
    sim = EventSimulator(params, sample.sensor_size, seed=seed)
    events = sim.step(sample.frames, sample.timestamps_us)
    t0, t1 = sample.window_us
    return slice_time(events, t0, t1 + 1)


# ----------------------------------------------------------------------------- scene layout


def _dist(a: tuple[float, float], b: tuple[float, float]) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def _point_segment(p, a, b) -> float:
    ab = (b[0] - a[0], b[1] - a[1])
    denom = ab[0] ** 2 + ab[1] ** 2
    u = 0.0 if denom == 0 else ((p[0] - a[0]) * ab[0] + (p[1] - a[1]) * ab[1]) / denom
    u = min(1.0, max(0.0, u))
    return math.hypot(p[0] - a[0] - u * ab[0], p[1] - a[1] - u * ab[1])


def _segment_distance(a0, a1, b0, b1) -> float:
    """Smallest distance between two straight trajectories (0 when they cross)."""

    def cross(o, p, q) -> float:
        return (p[0] - o[0]) * (q[1] - o[1]) - (p[1] - o[1]) * (q[0] - o[0])

    d1, d2 = cross(b0, b1, a0), cross(b0, b1, a1)
    d3, d4 = cross(a0, a1, b0), cross(a0, a1, b1)
    if d1 * d2 < 0 and d3 * d4 < 0:
        return 0.0
    return min(
        _point_segment(a0, b0, b1),
        _point_segment(a1, b0, b1),
        _point_segment(b0, a0, a1),
        _point_segment(b1, a0, a1),
    )


def _region_box(config: SceneConfig, row: int, col: int, radius: float):
    """Allowed centre box of a region cell, or None if an object of this size cannot sit there."""
    width, height = config.sensor_size
    grid = POSITION_GRIDS[config.position_grid]
    rows, cols = len(grid), len(grid[0])
    cw, ch = width / cols, height / rows
    x0 = max(col * cw + _REGION_MARGIN * cw, radius + 1)
    x1 = min((col + 1) * cw - _REGION_MARGIN * cw, width - radius - 1)
    y0 = max(row * ch + _REGION_MARGIN * ch, radius + 1)
    y1 = min((row + 1) * ch - _REGION_MARGIN * ch, height - radius - 1)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, x1, y0, y1


def region_of(config: SceneConfig, xy: tuple[float, float]) -> str:
    """Name of the position-grid cell that contains the point ``(x, y)``."""
    width, height = config.sensor_size
    grid = POSITION_GRIDS[config.position_grid]
    rows, cols = len(grid), len(grid[0])
    col = min(cols - 1, max(0, int(xy[0] / (width / cols))))
    row = min(rows - 1, max(0, int(xy[1] / (height / rows))))
    return grid[row][col]


def _place(rng, config: SceneConfig, placed: list[SceneObject], size: float, moving: bool):
    """Pick end position (well inside a region), direction and start; None if nothing fits."""
    width, height = config.sensor_size
    radius = size / 2
    grid = POSITION_GRIDS[config.position_grid]
    for _ in range(60):
        row, col = int(rng.integers(len(grid))), int(rng.integers(len(grid[0])))
        box = _region_box(config, row, col, radius)
        if box is None:
            continue
        end = (float(rng.uniform(box[0], box[1])), float(rng.uniform(box[2], box[3])))
        start, direction = end, None
        if moving:
            direction = str(rng.choice(list(DIRECTIONS)))
            travel = float(rng.uniform(*config.motion_px))
            dx, dy = DIRECTIONS[direction]
            start = (end[0] - dx * travel, end[1] - dy * travel)
            if not (radius + 1 <= start[0] <= width - radius - 1):
                continue
            if not (radius + 1 <= start[1] <= height - radius - 1):
                continue
        clear = all(
            _segment_distance(start, end, o.start, o.end) >= radius + o.size_px / 2 + _GAP_PX
            for o in placed
        )
        if clear:
            return start, end, direction, grid[row][col]
    return None


def _layout_vqa(rng, config: SceneConfig) -> list[SceneObject]:
    for _ in range(50):
        n = int(rng.integers(config.n_objects[0], config.n_objects[1] + 1))
        shapes = [str(s) for s in rng.choice(SHAPES, n, replace=False)]
        colors = [str(c) for c in rng.choice(list(COLORS), n, replace=False)]
        moving = rng.random(n) < config.moving_share
        if n >= 2 and 0 < config.moving_share < 1:
            # "some moving, some still": at least one of each
            if moving.all():
                moving[int(rng.integers(n))] = False
            if not moving.any():
                moving[int(rng.integers(n))] = True
        objects = _place_all(
            rng,
            config,
            [(shapes[i], colors[i], COLORS[colors[i]], bool(moving[i])) for i in range(n)],
        )
        if objects is not None:
            return objects
    raise ParameterError(
        f"cannot fit n_objects = {_pair(config.n_objects)} objects of object_size_px = "
        f"{_pair(config.object_size_px)} apart into {_size(config)} (50 layouts tried); use "
        "smaller objects or fewer of them, or a larger camera"
    )


def _layout_target(
    rng, config: SceneConfig, bg_level: float, *, camera: bool = False, pattern: str | None = None
) -> list[SceneObject]:
    for _ in range(50):
        n_clutter = int(rng.integers(config.n_clutter[0], config.n_clutter[1] + 1))
        target_moves = bool(rng.random() >= config.static_target_share) or n_clutter == 0
        if camera:
            target_moves = False
        color = str(rng.choice(list(COLORS)))
        specs: list[tuple[str, str, tuple[float, float, float], bool, str | None]] = [
            (str(rng.choice(SHAPES)), color, COLORS[color], target_moves, pattern)
        ]
        mover = -1 if target_moves or camera else int(rng.integers(n_clutter))
        for i in range(n_clutter):
            grey = _grey_level(rng, bg_level)
            specs.append((str(rng.choice(SHAPES)), "grey", (grey, grey, grey), i == mover, None))
        objects = _place_all(rng, config, specs, first_size_px=config.target_size_px)
        if objects is not None:
            return objects
    target = (
        ""
        if config.target_size_px is None
        else f" (target_size_px = {_pair(config.target_size_px)})"
    )
    raise ParameterError(
        f"cannot fit a target{target} and n_clutter = {_pair(config.n_clutter)} clutter "
        f"pieces of object_size_px = {_pair(config.object_size_px)} apart into "
        f"{_size(config)} (50 layouts tried); use smaller objects or fewer of them, or a "
        "larger camera"
    )


def _pair(pair: tuple[float, float]) -> str:
    """A [low, high] range as a recipe writes it."""
    return "[" + ", ".join(f"{v:g}" for v in pair) + "]"


def _size(config: SceneConfig) -> str:
    width, height = config.sensor_size
    return f"{width}x{height} pixels"


def _grey_level(rng, bg_level: float) -> float:
    """A grey that stands out from the background's mean level."""
    for _ in range(20):
        g = float(rng.uniform(40, 220))
        if abs(g - bg_level) > 40:
            return g
    return 30.0 if bg_level > 128 else 225.0


def _place_all(
    rng, config, specs, first_size_px: tuple[float, float] | None = None
) -> list[SceneObject] | None:
    """Place objects given as ``(shape, colour, rgb, moving[, pattern])``; None if one does not fit.

    ``first_size_px`` is the size range of the first object (the target), when not the others'.
    """
    objects: list[SceneObject] = []
    for shape, color, rgb, moving, *rest in specs:
        pattern = rest[0] if rest else None
        size_range = first_size_px if first_size_px is not None and not objects else None
        size = float(rng.uniform(*(size_range or config.object_size_px)))
        spot = _place(rng, config, objects, size, moving)
        if spot is None:
            return None
        start, end, direction, region = spot
        if pattern is not None:
            # a 1-px pattern survives only at a whole-pixel offset (a sub-pixel warp blurs it),
            # and an even one puts its dark pixels on even image rows/columns, in the same phase
            # in every (14-px, even-aligned) ViT patch; the shift is at most one pixel, far inside
            # the clearance between objects
            side = math.ceil(size) + 4
            dx = 2 * round((end[0] - side / 2) / 2) + side / 2 - end[0]
            dy = 2 * round((end[1] - side / 2) / 2) + side / 2 - end[1]
            start, end = (start[0] + dx, start[1] + dy), (end[0] + dx, end[1] + dy)
            region = region_of(config, end)
        sprite = make_sprite(rng, shape, rgb, size, config.textured, pattern)
        objects.append(
            SceneObject(
                shape,
                color,
                (float(rgb[0]), float(rgb[1]), float(rgb[2])),
                size,
                start,
                end,
                direction,
                region,
                sprite,
                pattern,
            )
        )
    return objects


# ----------------------------------------------------------------------------- questions


def _choices(rng, answer: str, pool: list[str], n_choices: int) -> tuple[list[str], int]:
    others = [c for c in pool if c != answer]
    k = min(n_choices - 1, len(others))
    picked = [str(c) for c in rng.choice(others, k, replace=False)] if k else []
    choices = [answer, *picked]
    order = rng.permutation(len(choices))
    choices = [choices[i] for i in order]
    return choices, choices.index(answer)


def _count_odds(config: SceneConfig) -> tuple[dict[int, float], ...]:
    """How often "How many objects are there / are moving / are not moving?" has each count
    under ``config``, as `_layout_vqa` draws scenes (a uniform number of objects, each moving
    with ``moving_share``, one of each at two or more); counts it cannot have are left out."""
    lo, hi = config.n_objects
    share = config.moving_share
    total = {n: 1 / (hi - lo + 1) for n in range(lo, hi + 1)}
    moving: dict[int, float] = {}
    still: dict[int, float] = {}
    for n, p_n in total.items():
        for m in range(n + 1):
            p = p_n * math.comb(n, m) * share**m * (1 - share) ** (n - m)
            if p == 0:
                continue
            if n >= 2 and 0 < share < 1:
                m = min(max(m, 1), n - 1)
            moving[m] = moving.get(m, 0.0) + p
            still[n - m] = still.get(n - m, 0.0) + p
    return total, moving, still


def _count_question(
    rng, config: SceneConfig, objects: list[SceneObject]
) -> tuple[str, str, list[str]]:
    """A count question, its answer and its options.

    Each question the scene can answer is drawn with a weight inverse to how often its wording
    has this answer, so each wording's answers come out near uniform: drawn uniformly, "1" was
    42 % of the answers (most scenes have one moving or one still object). "How many <colour>
    objects are there?" about a colour the scene has (1: colours are distinct) or lacks (0)
    adds genuine zeros. The options are only counts that the wording can have under
    ``config``: every count from 0 was offered, so "0" was a choice in 3 of 4 count questions
    and never right, a shortcut a trained model learns."""
    n = len(objects)
    n_moving = sum(o.moving for o in objects)
    total, moving, still = _count_odds(config)
    candidates = [
        ("How many objects are there?", n, total),
        ("How many objects are moving?", n_moving, moving),
        ("How many objects are not moving?", n - n_moving, still),
    ]
    # a colour count of 0 needs a scene with fewer objects than colours
    if config.n_objects[0] < len(COLORS):
        colour_odds = {0: 0.5, 1: 0.5}
        present = [o.color for o in objects]
        absent = [c for c in COLORS if c not in present]
        candidates.append((f"How many {rng.choice(present)} objects are there?", 1, colour_odds))
        if absent:
            text = f"How many {rng.choice(absent)} objects are there?"
            candidates.append((text, 0, colour_odds))
    # a wording with one possible count (no moving objects in any scene, say) is no question
    candidates = [c for c in candidates if len(c[2]) > 1] or candidates
    weights = np.array([1 / odds[count] for _, count, odds in candidates])
    text, count, odds = candidates[int(rng.choice(len(candidates), p=weights / weights.sum()))]
    return text, str(count), [str(k) for k in sorted(odds)]


def _question(
    rng, config: SceneConfig, objects: list[SceneObject], *, camera: bool = False
) -> dict[str, Any]:
    qtype = str(rng.choice(config.active_question_types))
    regions = [name for row in POSITION_GRIDS[config.position_grid] for name in row]
    target: int | None
    if config.mode == "target":
        target = 0
        obj = objects[0]
        if qtype == "color":
            text, answer, pool = "What colour is the coloured object?", obj.color, list(COLORS)
        elif qtype == "shape":
            text, answer, pool = "What shape is the coloured object?", obj.shape, list(SHAPES)
        elif qtype == "position":
            text, answer, pool = "Where is the coloured object?", obj.region, regions
        elif qtype == "pattern":
            if obj.pattern is None:
                raise ParameterError("pattern questions need a patterned target")
            text, answer, pool = (
                "What pattern is on the coloured object?",
                obj.pattern,
                list(PATTERNS),
            )
        else:
            # with a panning camera a still target moves across the image; the answer is about
            # the scene, and the question says so (for every sample, so it gives no scenario away)
            text = (
                "Is the coloured object moving in the scene (the camera may move)?"
                if config.camera_share > 0
                else "Is the coloured object moving?"
            )
            answer, pool = "yes" if obj.moving else "no", ["yes", "no"]
    elif qtype == "count":
        target = None
        text, answer, pool = _count_question(rng, config, objects)
    else:
        target = int(rng.integers(len(objects)))
        obj = objects[target]
        if qtype == "color":
            text, answer, pool = f"What colour is the {obj.shape}?", obj.color, list(COLORS)
        elif qtype == "shape":
            text, answer, pool = f"What shape is the {obj.color} object?", obj.shape, list(SHAPES)
        elif qtype == "position":
            text, answer, pool = f"Where is the {obj.color} {obj.shape}?", obj.region, regions
        else:
            text = f"Which way is the {obj.color} {obj.shape} moving?"
            answer = obj.direction or NOT_MOVING
            pool = [*DIRECTIONS, NOT_MOVING]
    choices, index = _choices(rng, answer, pool, config.n_choices)
    motion = None if target is None else ("moving" if objects[target].moving else "static")
    if camera and target is not None:
        motion = "camera"
    return {
        "question": text,
        "choices": choices,
        "answer": answer,
        "answer_index": index,
        "question_type": qtype,
        "target_motion": motion,
        "target": target,
    }
