"""A newcomer's walk through the docs, round 9: format and layout names, readers, messages.

- ``eventsim convert a.h5 b.h5 --to evqa`` wrote a file that ``eventsim info --layout evqa``
  refused as an unknown layout (info calls it event_utils); ``--to h5`` likewise. Every name
  ``--to`` takes is now a layout name too.
- ``isinstance(open_events(...), EventFileReader)`` raised TypeError (a plain Protocol), though
  the README calls the reader "an EventFileReader".
- ``eventsim.datasets.tonic_adapter`` raised AttributeError until something imported it.
- ``eventsim info my.mp4`` said only "cannot tell the format"; ``eventsim convert x.h5
  out.mp4`` listed formats "or pass a format (h5, ...)", naming neither ``--to`` nor render.
- ``read(200, 100)`` (end before start) returned no events, silently, in every reader, and
  so did ``read_columns`` and ``iter_windows``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from eventsim.cli import main as eventsim_main
from eventsim.errors import ArgumentValueError, ParameterError, UnknownLayoutError
from eventsim.events import make_events
from eventsim.io import EventFileReader, EventReader, open_events, write_events
from eventsim.io.formats import FORMATS, format_extensions, format_from_path
from eventsim.io.layouts import LAYOUT_ALIASES, LAYOUT_CHOICES

from cli_checks import one_line

DATA = Path(__file__).parent / "data"
# the stored files of every foreign layout open_events reads (their .expected.npz aside)
DATA_FILES = sorted(
    p
    for p in DATA.iterdir()
    if p.suffix in (".h5", ".hdf5", ".aedat4", ".raw", ".dat", ".es", ".csv")
)


def run(capsys, *argv: object) -> tuple[int, str, str]:
    rc = eventsim_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _events() -> np.ndarray:
    return make_events([1, 2, 3], [1, 2, 3], [100, 200, 300], [1, 0, 1])


def _written(tmp_path: Path) -> list[Path]:
    """A file of each format `write_events` writes without faery."""
    ev = _events()
    paths = []
    for name, fmt in (
        ("a.h5", None),
        ("v.h5", "v2e"),
        ("q.h5", "evqa"),
        ("a.npy", None),
        ("a.npz", None),
        ("a.txt", None),
    ):
        paths.append(write_events(tmp_path / name, ev, (10, 10), fmt=fmt))
    return paths


# -- 1. the names --to writes are layout names --------------------------------------------------
def test_every_output_format_is_a_layout_name():
    for name in FORMATS:
        assert name in LAYOUT_CHOICES or name in LAYOUT_ALIASES, name


def test_info_reads_a_convert_to_evqa_output_with_layout_evqa(tmp_path, capsys):
    src = write_events(tmp_path / "a.h5", _events(), (10, 10))
    dst = tmp_path / "b.h5"
    rc, _, err = run(capsys, "convert", src, dst, "--to", "evqa")
    assert rc == 0, err
    rc, out, err = run(capsys, "info", "--layout", "evqa", dst)
    assert rc == 0, err
    assert "events:          3" in out
    # and the name info prints for it is taken as well
    rc, _, err = run(capsys, "info", "--layout", "event_utils", dst)
    assert rc == 0, err


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_each_format_written_reads_back_under_its_own_name(tmp_path, fmt):
    if FORMATS[fmt].needs_faery:
        pytest.importorskip("faery")
    path = tmp_path / f"a{format_extensions(fmt)[0]}"
    write_events(path, _events(), (10, 10), fmt=fmt)
    with open_events(path, layout=fmt) as reader:
        assert reader.read()["t"].tolist() == [100, 200, 300]


def test_a_format_name_of_another_layout_is_refused_naming_what_was_found(tmp_path):
    path = write_events(tmp_path / "v.h5", _events(), (10, 10), fmt="v2e")
    with pytest.raises(UnknownLayoutError, match="detected: v2e"):
        open_events(path, layout="evqa")


def test_the_layout_help_names_the_format_aliases(capsys):
    rc, out, _ = run(capsys, "info", "--help")
    assert rc == 0
    # argparse wraps the help text: compare it as one line
    text = " ".join(out.split())
    assert "eventsim or h5" in text and "also as evqa" in text, text


# -- 2. isinstance(reader, EventFileReader) -------------------------------------------------------
def test_every_reader_open_events_returns_is_an_event_file_reader(tmp_path):
    pytest.importorskip("faery")
    paths = [*_written(tmp_path), *DATA_FILES]
    assert any(p.suffix == ".aedat4" for p in paths) and any(p.suffix == ".csv" for p in paths)
    kinds = set()
    for path in paths:
        reader = open_events(path)
        kinds.add(type(reader))
        assert isinstance(reader, EventFileReader), path
        reader.close()
        # a closed one still is one (the check reads attributes, never the file)
        assert isinstance(reader, EventFileReader), path
    assert EventReader in kinds and len(kinds) >= 2


def test_an_object_without_the_interface_is_no_event_file_reader():
    assert not isinstance(_events(), EventFileReader)
    assert not isinstance("x.h5", EventFileReader)


# -- 3. the datasets package's submodules as attributes -----------------------------------------
def test_datasets_submodules_are_attributes_without_importing_them_first():
    code = (
        "import sys, eventsim, eventsim.datasets\n"
        "heavy = {'torch', 'tonic', 'transformers', 'matplotlib'}\n"
        "print(sorted(heavy & set(sys.modules)), 'eventsim.datasets.tonic_adapter' in sys.modules)\n"
        "m = eventsim.datasets.tonic_adapter\n"
        "print(m.__name__, 'tonic_adapter' in dir(eventsim.datasets))\n"
        "print(eventsim.datasets.scenes.__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == [
        "[] False",
        "eventsim.datasets.tonic_adapter True",
        "eventsim.datasets.scenes",
    ], done.stdout


def test_the_lazy_submodules_are_the_packages_public_modules():
    import eventsim.datasets as datasets

    folder = Path(datasets.__file__).parent
    public = {p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")}
    assert set(datasets._SUBMODULES) == public
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        datasets.nope  # noqa: B018


# -- 4. frames where events belong -------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("my.mp4", ("a video (.mp4)", "eventsim simulate ", "my.mp4 -o my.h5")),
        ("pic.png", ("an image (.png)", "eventsim simulate --image ", "--motion saccade")),
        ("stack.tif", ("an image (.tif)", "stack.tif -o stack.h5")),
    ],
)
def test_info_of_a_video_or_image_says_it_holds_frames_and_names_simulate(
    tmp_path, capsys, name, words
):
    path = tmp_path / name
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    rc, _, err = run(capsys, "info", path)
    assert rc == 1
    one_line(err, "holds frames, not events", *words)


def test_convert_to_a_video_names_render_and_to(tmp_path, capsys):
    src = write_events(tmp_path / "a.h5", _events(), (10, 10))
    rc, _, err = run(capsys, "convert", src, tmp_path / "out.mp4")
    assert rc == 1
    one_line(
        err, "a video (.mp4)", f"'eventsim render {src} -o {tmp_path / 'out.mp4'}'", "--to h5/"
    )
    assert not (tmp_path / "out.mp4").exists()


def test_convert_to_an_unknown_suffix_names_to(tmp_path, capsys):
    src = write_events(tmp_path / "a.h5", _events(), (10, 10))
    rc, _, err = run(capsys, "convert", src, tmp_path / "out.xyz")
    assert rc == 1
    line = one_line(err, "extension '.xyz'", "or pass --to h5, v2e, evqa")
    assert "fmt=" not in line and "pass a format" not in line, line


def test_format_from_path_names_fmt_and_render_in_python_words():
    with pytest.raises(ParameterError) as info:
        format_from_path("out.xyz")
    assert "pass fmt='h5', 'v2e'" in str(info.value) and "or 'csv'" in str(info.value)
    with pytest.raises(ParameterError) as info:
        format_from_path("out.gif")
    assert "holds frames, not events" in str(info.value)
    assert "eventsim.render.render_file" in str(info.value)


# -- 5. an end before the start ----------------------------------------------------------------
def test_every_reader_refuses_an_end_before_the_start(tmp_path):
    for path in _written(tmp_path):
        with open_events(path) as reader:
            for call in (
                lambda: reader.read(200, 100),
                lambda: reader.read(10.5, 10.2),
                lambda: list(reader.iter_windows(10, 300, 100)),
            ):
                with pytest.raises(ArgumentValueError) as info:
                    call()
                assert "t_end_us=" in str(info.value) and "before t_start_us=" in str(info.value)
            assert str(info.value).startswith("t_end_us=100 is before t_start_us=300;")
            with pytest.raises(ArgumentValueError, match=r"t_end_us=100 is before t_start_us=200"):
                reader.read(np.int64(200), np.int64(100))
            # equal bounds are an empty window; one open end is no reversal
            assert len(reader.read(200, 200)) == 0
            assert list(reader.iter_windows(10, 200, 200)) == []
            assert len(reader.read(None, 50)) == 0 and len(reader.read(500, None)) == 0
            assert len(list(reader.iter_windows(10, None, 50))) == 0
            if isinstance(reader, EventReader):
                with pytest.raises(ArgumentValueError, match="before t_start_us=200"):
                    reader.read_columns(200, 100)
                assert len(reader.read_columns(200, 200)) == 0


def test_an_end_before_the_start_of_a_dsec_file_without_an_index_is_refused_too(tmp_path):
    path = tmp_path / "dsec.h5"
    with h5py.File(path, "w") as f:
        for name, values in zip("xytp", ([1, 2], [1, 2], [100, 200], [1, 0]), strict=True):
            f[f"events/{name}"] = np.asarray(values)
    with open_events(path) as reader:
        assert isinstance(reader, EventReader)
        with pytest.raises(ArgumentValueError):
            reader.read(200, 100)
