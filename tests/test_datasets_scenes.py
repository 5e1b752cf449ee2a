"""Procedural scenes: exact answers that agree with the pixels and the events."""

import numpy as np
import pytest

from eventsim.datasets.scenes import (
    COLORS,
    DIRECTIONS,
    NOT_MOVING,
    PATTERNS,
    SHAPES,
    SceneConfig,
    draw_sample,
    region_of,
    simulate_scene,
)
from eventsim.errors import ParameterError

SMALL = {"sensor_size": (96, 96), "object_size_px": (14, 20), "motion_px": (6, 10)}


def _saturated_mask(image: np.ndarray) -> np.ndarray:
    im = image.astype(np.int16)
    return (im.max(axis=-1) - im.min(axis=-1)) > 70


def _nearest_color(rgb: np.ndarray) -> str:
    chroma = rgb / max(1e-6, rgb.sum())
    names = list(COLORS)
    ref = np.array([np.asarray(COLORS[n], float) / sum(COLORS[n]) for n in names])
    return names[int(np.argmin(np.linalg.norm(ref - chroma, axis=1)))]


def test_same_seed_same_sample_and_frames_optional():
    cfg = SceneConfig(mode="vqa", **SMALL)
    a, b = draw_sample(cfg, 11), draw_sample(cfg, 11)
    assert np.array_equal(a.frames, b.frames) and a.question == b.question
    c = draw_sample(cfg, 12)
    assert not np.array_equal(a.image, c.image)
    light = draw_sample(cfg, 11, render_frames=False)
    assert np.array_equal(light.image, a.image)
    assert light.frames.shape[0] == 1 and light.timestamps_us[0] == a.timestamps_us[-1]
    assert (light.question, light.answer, light.meta["objects"]) == (
        a.question,
        a.answer,
        a.meta["objects"],
    )


def test_target_mode_colour_and_position_answers_match_the_pixels():
    cfg = SceneConfig(mode="target", question_types=("color", "position"))
    checked = 0
    for seed in range(40):
        s = draw_sample(cfg, seed, render_frames=False)
        target = s.meta["objects"][s.meta["target"]]
        mask = _saturated_mask(s.image)
        ys, xs = np.nonzero(mask)
        # the only saturated pixels are the target's; their centroid is its centre
        assert abs(xs.mean() - target["end_xy"][0]) < 4 and abs(ys.mean() - target["end_xy"][1]) < 4
        if s.question_type == "color":
            assert _nearest_color(s.image[mask].astype(float).mean(axis=0)) == s.answer
        else:
            assert region_of(cfg, (xs.mean(), ys.mean())) == s.answer
        assert s.choices[s.answer_index] == s.answer
        checked += 1
    assert checked == 40


def test_vqa_mode_questions_are_exact():
    cfg = SceneConfig(mode="vqa")
    seen = set()
    for seed in range(150):
        s = draw_sample(cfg, seed, render_frames=False)
        objs = s.meta["objects"]
        seen.add(s.question_type)
        assert len({o["shape"] for o in objs}) == len(objs) == len({o["color"] for o in objs})
        assert any(o["moving"] for o in objs) and not all(o["moving"] for o in objs)
        assert len(set(s.choices)) == len(s.choices) and s.choices[s.answer_index] == s.answer
        if s.question_type == "count":
            n_moving = sum(o["moving"] for o in objs)
            expected = {
                "How many objects are there?": len(objs),
                "How many objects are moving?": n_moving,
                "How many objects are not moving?": len(objs) - n_moving,
            }.get(s.question)
            if expected is None:  # a colour count: 1 for a colour the scene has, else 0
                colour = s.question.split()[2]
                expected = sum(o["color"] == colour for o in objs)
            assert s.answer == str(expected) and s.target_motion is None
            continue
        t = objs[s.meta["target"]]
        assert s.target_motion == ("moving" if t["moving"] else "static")
        if s.question_type == "motion":
            assert s.answer == (t["direction"] or NOT_MOVING)
            if t["moving"]:
                dx, dy = DIRECTIONS[t["direction"]]
                moved = np.subtract(t["end_xy"], t["start_xy"])
                assert np.sign(moved[0]) == dx and np.sign(moved[1]) == dy
        elif s.question_type == "shape":
            assert s.answer == t["shape"] in SHAPES and t["color"] in s.question
        elif s.question_type == "color":
            assert s.answer == t["color"] and t["shape"] in s.question
        else:
            assert s.answer == region_of(cfg, t["end_xy"])
    assert seen == {"color", "shape", "position", "motion", "count"}


def test_frames_move_at_most_max_step_and_window_ends_at_frame():
    cfg = SceneConfig(mode="vqa", max_step_px=0.5, window_ms=20, **SMALL)
    s = draw_sample(cfg, 5)
    longest = max(np.hypot(*np.subtract(o["end_xy"], o["start_xy"])) for o in s.meta["objects"])
    assert longest / (len(s.frames) - 1) <= 0.5 + 1e-9
    assert s.timestamps_us[0] == 0 and s.timestamps_us[-1] == 20_000 == s.window_us[1]
    assert np.all(np.diff(s.timestamps_us) > 0)
    assert np.array_equal(s.frames[-1], s.image)


def test_static_target_share_is_honoured():
    cfg = SceneConfig(mode="target", static_target_share=0.3, **SMALL)
    static = [
        draw_sample(cfg, k, render_frames=False).target_motion == "static" for k in range(300)
    ]
    assert 0.22 < np.mean(static) < 0.38


def test_events_come_from_the_moving_object_only():
    """The event prior's premise: events mark the mover, whether it is the target or clutter."""
    from eventsim.simulator import DVSParams

    cfg = SceneConfig(mode="target", **SMALL)
    ideal = DVSParams.from_preset("ideal")
    for seed in range(6):
        s = draw_sample(cfg, seed)
        ev = simulate_scene(s, ideal, seed=seed)
        assert len(ev) > 50
        assert ev["t"].min() >= 0 and ev["t"].max() <= s.window_us[1]
        mover = next(o for o in s.meta["objects"] if o["moving"])
        lo = np.minimum(mover["start_xy"], mover["end_xy"]) - mover["size_px"] / 2 - 2
        hi = np.maximum(mover["start_xy"], mover["end_xy"]) + mover["size_px"] / 2 + 2
        inside = (ev["x"] >= lo[0]) & (ev["x"] <= hi[0]) & (ev["y"] >= lo[1]) & (ev["y"] <= hi[1])
        assert inside.all()
        assert (s.target_motion == "moving") == (mover["color"] != "grey")


DEMO = {
    "mode": "target",
    "question_types": ("color", "pattern"),
    "object_size_px": (16, 24),
    "position_grid": "2x2",
}


def _pattern_of(image: np.ndarray, xy) -> str:
    """Read a target's pattern from the pixels: which neighbour differences are large in a
    7x7 window at its centre (1-px stripes, checks or dots)."""
    x, y = (round(v) for v in xy)
    lum = image[y - 3 : y + 4, x - 3 : x + 4].astype(float).max(axis=-1)
    dx = np.abs(np.diff(lum, axis=1)).mean()
    dy = np.abs(np.diff(lum, axis=0)).mean()
    diag = np.abs(lum[1:, 1:] - lum[:-1, :-1]).mean()
    anti = np.abs(lum[:-1, 1:] - lum[1:, :-1]).mean()
    big = 0.25 * max(dx, dy, diag, anti, 1.0)
    if max(dx, dy) < 20:
        return "plain"
    if dx < big:
        return "horizontal"
    if dy < big:
        return "vertical"
    if diag < big:
        return "checker"
    assert min(dx, dy, diag, anti) > big, (dx, dy, diag, anti)
    return "dots"


def test_pattern_answers_match_the_pixels_and_downsampling_erases_them():
    import cv2

    cfg = SceneConfig(static_target_share=0.3, camera_share=0.3, **DEMO)
    seen, motions = set(), set()
    for seed in range(60):
        s = draw_sample(cfg, seed, render_frames=False)
        target = s.meta["objects"][s.meta["target"]]
        assert target["pattern"] in PATTERNS
        assert _pattern_of(s.image, target["end_xy"]) == target["pattern"]
        if s.question_type == "pattern":
            assert s.answer == target["pattern"] and s.choices[s.answer_index] == s.answer
            seen.add(s.answer)
        motions.add(s.target_motion)
        # 1-px detail with one mean brightness: at the size downsample gives a quarter of the
        # tokens (half the width and height) every pattern is the same flat colour
        small = cv2.resize(s.image, (112, 112), interpolation=cv2.INTER_AREA)
        x, y = (round(v / 2) for v in target["end_xy"])
        centre = small[y - 1 : y + 1, x - 1 : x + 1].astype(float).max(axis=-1)
        assert np.ptp(centre) <= 3
    assert seen == set(PATTERNS) and motions == {"moving", "static", "camera"}


def test_camera_scenario_still_scene_moving_camera():
    """Nothing in the scene moves, the camera pans: events mark the objects' edges and texture,
    the smoothly shaded background gives none, and the last frame is the question image."""
    from eventsim.simulator import DVSParams

    cfg = SceneConfig(camera_share=1.0, **DEMO)
    clean = DVSParams.from_preset("clean")
    for seed in range(4):
        s = draw_sample(cfg, seed)
        assert s.target_motion == "camera" and not any(o["moving"] for o in s.meta["objects"])
        pan = np.hypot(*s.meta["camera_pan_px"])
        assert cfg.motion_px[0] <= pan <= cfg.motion_px[1]
        assert (len(s.frames) - 1) * cfg.max_step_px >= pan
        assert np.array_equal(s.frames[-1], s.image) and not np.array_equal(s.frames[0], s.image)
        ev = simulate_scene(s, clean, seed=seed)
        near = np.zeros(len(ev), bool)
        for o in s.meta["objects"]:
            r = o["size_px"] / 2 + pan + 2
            near |= (np.abs(ev["x"] - o["end_xy"][0]) <= r) & (
                np.abs(ev["y"] - o["end_xy"][1]) <= r
            )
        assert len(ev) > 1000 and near.mean() > 0.98
    share = np.mean(
        [
            draw_sample(SceneConfig(camera_share=0.3, **DEMO), k, render_frames=False).target_motion
            == "camera"
            for k in range(300)
        ]
    )
    assert 0.22 < share < 0.38


def test_new_options_leave_other_scenes_unchanged():
    """Camera motion and patterns draw from a stream of their own: a config without them draws
    the same scenes whatever the other new options say."""
    base = SceneConfig(mode="target", **SMALL)
    with_camera_off = SceneConfig(mode="target", camera_share=0.0, **SMALL)
    for seed in range(5):
        a = draw_sample(base, seed, render_frames=False)
        b = draw_sample(with_camera_off, seed, render_frames=False)
        assert np.array_equal(a.image, b.image) and a.question == b.question
        assert "pattern" not in a.meta["objects"][0]


def test_target_size_sets_the_target_only():
    small = SceneConfig(mode="target", **{**SMALL, "sensor_size": (160, 160)})
    tiny = small.replace(target_size_px=(7, 9))
    assert small.target_size_px is None
    for seed in range(6):
        objects = draw_sample(tiny, seed, render_frames=False).meta["objects"]
        assert 7 <= objects[0]["size_px"] <= 9
        assert all(14 <= o["size_px"] <= 20 for o in objects[1:])
        # unset, the target draws from object_size_px like the clutter
        objects = draw_sample(small, seed, render_frames=False).meta["objects"]
        assert all(14 <= o["size_px"] <= 20 for o in objects)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"mode": "maze"}, "vqa, target"),
        ({"target_size_px": (2, 4)}, "target_size_px"),
        ({"position_grid": "4x4"}, "3x3, 2x2"),
        ({"question_types": ("count",), "mode": "target"}, "color, shape, position, pattern"),
        ({"camera_share": 1.5}, "camera_share"),
        ({"n_objects": (3, 2)}, "n_objects"),
        ({"static_target_share": 1.5}, "static_target_share"),
        ({"mode": "target", "n_clutter": (0, 2)}, "n_clutter"),
    ],
)
def test_bad_config_names_field_and_allowed_values(kwargs, needle):
    with pytest.raises(ParameterError, match=needle):
        SceneConfig(**kwargs)


@pytest.mark.parametrize("mode", ["vqa", "target"])
def test_objects_never_overlap_and_stay_inside(mode):
    cfg = SceneConfig(mode=mode)
    w, h = cfg.sensor_size
    phases = np.linspace(0, 1, 21)[:, None]
    for seed in range(60):
        objs = draw_sample(cfg, seed, render_frames=False).meta["objects"]
        paths = [
            np.add(o["start_xy"], phases * np.subtract(o["end_xy"], o["start_xy"])) for o in objs
        ]
        for o, p in zip(objs, paths):
            r = o["size_px"] / 2
            assert (p[:, 0] >= r).all() and (p[:, 0] <= w - r).all()
            assert (p[:, 1] >= r).all() and (p[:, 1] <= h - r).all()
        for i in range(len(objs)):
            for j in range(i + 1, len(objs)):
                gap = np.linalg.norm(paths[i] - paths[j], axis=1).min()
                assert gap >= (objs[i]["size_px"] + objs[j]["size_px"]) / 2
