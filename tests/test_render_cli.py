import cv2
import numpy as np
import pytest

from eventsim.cli.render import main
from eventsim.errors import OutputExistsError, ParameterError
from eventsim.events import make_events
from eventsim.io import EventWriter, write_events
from eventsim.render import RenderParams, palette, render_file

W, H = 64, 48


@pytest.fixture
def events_file(tmp_path, small_events):
    path = tmp_path / "ev.h5"
    write_events(path, small_events, (W, H))
    return path


@pytest.fixture
def frames_file(tmp_path):
    """Events at 1 kHz over 100 ms and a frame every 20 ms whose grey level is its index * 40."""
    path = tmp_path / "frames.h5"
    t = np.arange(0, 100_000, 1000)
    ev = make_events(t // 1000 % W, np.full(t.size, 10), t, t // 1000 % 2)
    with EventWriter(path, (W, H)) as w:
        for k in range(5):
            w.write(ev[(ev["t"] >= k * 20_000) & (ev["t"] < (k + 1) * 20_000)])
            w.add_frame(np.full((H, W), 40 * k, np.uint8), (k + 1) * 20_000 - 1)
    return path


def read_video(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def test_mp4_reopens_with_expected_frame_count_and_size(tmp_path, events_file, capsys):
    out = tmp_path / "v.mp4"
    # small_events span [t0, ~250 ms): 25 windows of 10 ms
    rc = main([str(events_file), "-o", str(out), "--window-ms", "10", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    frames = read_video(out)
    assert len(frames) == 25
    # a video is drawn at 2x unless --scale says otherwise: its colour is kept per 2x2 block
    assert frames[0].shape == (2 * H, 2 * W, 3)
    assert "25 frames" in capsys.readouterr().out
    assert not list(tmp_path.glob(".*partial*"))


def test_gif_and_folder_outputs(tmp_path, events_file):
    gif = tmp_path / "v.gif"
    assert (
        main([str(events_file), "-o", str(gif), "--events-per-frame", "1000", "--no-progress"]) == 0
    )
    from PIL import Image

    with Image.open(gif) as im:
        assert im.n_frames == 5 and im.size == (W, H)
    folder = tmp_path / "frames"
    args = [str(events_file), "-o", str(folder), "--window-ms", "50", "--mode", "heatmap"]
    assert main([*args, "--no-progress"]) == 0
    pngs = sorted(folder.glob("frame_*.png"))
    assert len(pngs) == 5
    assert cv2.imread(str(pngs[0])).shape == (H, W, 3)


def test_png_single_window_matches_kernel(tmp_path):
    path = tmp_path / "one.h5"
    ev = make_events([3, 20, 30], [4, 5, 6], [1000, 2000, 9000], [1, 0, 1])
    write_events(path, ev, (W, H))
    out = tmp_path / "one.png"
    assert (
        main([str(path), "-o", str(out), "--window-ms", "5", "--scale", "2", "--no-progress"]) == 0
    )
    img = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    bg, on, off = palette("dark")
    assert img.shape == (2 * H, 2 * W, 3)
    # first 5 ms window from the first event: the 9 ms event is not in it
    assert tuple(img[8, 6]) == on and tuple(img[10, 40]) == off
    assert tuple(img[12, 60]) == bg
    assert (img != bg).any(axis=2).sum() == 2 * 4


def test_empty_windows_render_blank_frames(tmp_path):
    path = tmp_path / "gap.h5"
    ev = make_events([1, 2], [1, 2], [0, 95_000], [1, 1])
    write_events(path, ev, (W, H))
    out = tmp_path / "gap"
    res = render_file(path, out, window_ms=10, progress=False)
    assert res.n_frames == 10
    bg, _, _ = palette("dark")
    for k, png in enumerate(sorted(out.glob("*.png"))):
        img = cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB)
        lit = (img != bg).any(axis=2).sum()
        assert lit == (1 if k in (0, 9) else 0), k


def test_range_and_timesurface(tmp_path, events_file):
    out = tmp_path / "ts.mp4"
    res = render_file(
        events_file,
        out,
        RenderParams(mode="timesurface", tau_ms=5),
        window_ms=20,
        start_ms=40,
        end_ms=140,
        progress=False,
    )
    assert res.n_frames == 5 and len(read_video(out)) == 5


def test_overlay_uses_the_saved_frame(tmp_path, frames_file):
    out = tmp_path / "ov"
    res = render_file(frames_file, out, RenderParams(mode="overlay"), window_ms=20, progress=False)
    assert res.n_frames == 5
    for k, png in enumerate(sorted(out.glob("*.png"))):
        img = cv2.imread(str(png))
        # frame k (grey 40*k) ends each window; a corner far from the events shows it
        assert img[40, 0, 0] == 40 * k
        assert (img[10] != 40 * k).any()


def test_odd_sensor_mp4_is_padded_to_even(tmp_path):
    path = tmp_path / "odd.h5"
    write_events(path, make_events([0, 30], [0, 20], [0, 50_000], [1, 0]), (31, 21))
    out = tmp_path / "odd.mp4"
    argv = [str(path), "-o", str(out), "--window-ms", "25", "--scale", "1", "--no-progress"]
    assert main(argv) == 0
    frames = read_video(out)
    assert len(frames) == 3 and frames[0].shape == (22, 32, 3)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--window-ms", "10", "--events-per-frame", "100"], "not both"),
        (["--window-ms", "-5"], "must be > 0"),
        (["--events-per-frame", "0"], "must be >= 1"),
        (["--start-ms", "100", "--end-ms", "50"], "not before --end-ms 50"),
        (["--start-ms", "5000"], "past the last event"),
        (["--fps", "0"], "fps"),
        (["--mode", "overlay"], "no saved frames"),
        (["--on-color", "ultraviolet"], "valid names"),
    ],
)
def test_bad_arguments_exit_nonzero_with_a_named_error(
    tmp_path, events_file, capsys, extra, message
):
    out = tmp_path / "bad.mp4"
    rc = main([str(events_file), "-o", str(out), "--no-progress", *extra])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.startswith("eventsim render: error:") and message in err
    assert not out.exists() and not list(tmp_path.glob(".*partial*"))


def test_library_raises_typed_errors(tmp_path, events_file):
    with pytest.raises(ParameterError):
        render_file(events_file, tmp_path / "x.mp4", window_ms=5, events_per_frame=5)
    with pytest.raises(ParameterError, match="no saved frames"):
        render_file(events_file, tmp_path / "x.mp4", RenderParams(mode="overlay"))
    (tmp_path / "exists.png").write_bytes(b"")
    with pytest.raises(OutputExistsError):
        render_file(events_file, tmp_path / "exists.png")
    assert (
        render_file(events_file, tmp_path / "exists.png", force=True, progress=False).n_frames == 1
    )


def test_usage_errors_exit_2(tmp_path, events_file):
    assert main([str(events_file)]) == 2
    assert main([str(events_file), "-o", str(tmp_path / "a.png"), "--mode", "nope"]) == 2
    assert main([str(tmp_path / "missing.h5"), "-o", str(tmp_path / "a.png")]) == 1


class _CountingReader:
    """Wraps a reader and records the largest number of events any single read returned."""

    def __init__(self, reader):
        self._r = reader
        self.largest = 0

    def __getattr__(self, name):
        return getattr(self._r, name)

    def __len__(self):
        return len(self._r)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._r.close()

    def _seen(self, ev):
        self.largest = max(self.largest, len(ev))
        return ev

    def read(self, *a, **kw):
        return self._seen(self._r.read(*a, **kw))

    def read_index(self, *a, **kw):
        return self._seen(self._r.read_index(*a, **kw))

    def iter_windows(self, *a, **kw):
        for ev in self._r.iter_windows(*a, **kw):
            yield self._seen(ev)

    def iter_chunks(self, *a, **kw):
        for ev in self._r.iter_chunks(*a, **kw):
            yield self._seen(ev)


def test_render_streams_instead_of_loading_the_file(tmp_path, events_file, monkeypatch):
    import eventsim.io

    readers = []
    real_open = eventsim.io.open_events

    def counting_open(path, **kw):
        readers.append(_CountingReader(real_open(path, **kw)))
        return readers[-1]

    monkeypatch.setattr(eventsim.io, "open_events", counting_open)
    render_file(events_file, tmp_path / "a.mp4", window_ms=2, progress=False)
    render_file(events_file, tmp_path / "b.mp4", events_per_frame=300, start_ms=20, progress=False)
    # 5000 events over 250 ms: no single read may hold anywhere near all of them
    assert [r.largest for r in readers] and all(0 < r.largest < 2500 for r in readers)


def test_count_windows_within_a_range_match_the_array_split(tmp_path, events_file, small_events):
    from eventsim.events import slice_time
    from eventsim.io import open_events
    from eventsim.render import split_by_count, stream_by_count

    t0 = int(small_events["t"][0])
    expected = slice_time(small_events, t0 + 30_000, t0 + 180_000)
    with open_events(events_file) as r:
        got = list(stream_by_count(r, 700, t0 + 30_000, t0 + 180_000))
    want = list(split_by_count(expected, 700))
    assert [w[:2] for w in got] == [w[:2] for w in want]
    assert all(np.array_equal(g[2], w[2]) for g, w in zip(got, want))


@pytest.mark.parametrize("name", ["v.mp4", "v.gif", "frames", "one.png"])
def test_failure_mid_render_leaves_no_output(tmp_path, events_file, monkeypatch, name):
    from eventsim.render.renderer import FrameRenderer

    real = FrameRenderer.render
    calls = []

    def failing(self, *a, **kw):
        calls.append(1)
        if len(calls) == (1 if name.endswith(".png") else 3):
            raise ParameterError("boom")
        return real(self, *a, **kw)

    monkeypatch.setattr(FrameRenderer, "render", failing)
    out = tmp_path / name
    with pytest.raises(ParameterError, match="boom"):
        render_file(events_file, out, window_ms=10, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ev.h5"]
