"""Round 12 cleanup of duplicated rules (the first three groups failed before their change):

- simulate told a video OpenCV could not open from an event file by looking for the words
  'cannot be opened' in VideoSource's message, and the event formats a video's suffix may also
  be were written both there and in sources; VideoSource now raises `UnopenedVideoError` (an
  `InputError`) that carries the path and whether the suffix is shared, and the formats are
  written once (`VIDEO_SHARED_FORMATS`);
- the output suffix rule was checked twice, by `check_output_suffix` and by the CLI in its own
  words; the CLI now asks the library, which takes the advice each caller gives;
- `merged_times_note` kept the index of every time with a fraction to count them and show the
  first; it counts them now (the note is unchanged, pinned here).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from eventsim.cli import main
from eventsim.errors import ArgumentValueError, InputError, UnopenedVideoError
from eventsim.io.formats import VIDEO_SHARED_FORMATS
from eventsim.io.text import merged_times_note
from eventsim.simulator import sources
from eventsim.simulator.pipeline import check_output_suffix
from eventsim.simulator.sources import VideoSource


def _run(capsys, *argv: str) -> tuple[int, str]:
    rc = main(["simulate", "-q", *argv])
    return rc, capsys.readouterr().err


# --- a video OpenCV cannot open


def test_unopened_video_is_typed_with_its_path_and_shared_suffix(tmp_path):
    path = tmp_path / "rec.dat"
    path.write_bytes(b"% header\n" + bytes(64))
    with pytest.raises(UnopenedVideoError) as info:
        VideoSource(path)
    exc = info.value
    assert isinstance(exc, InputError)
    assert exc.path == path and exc.shared_suffix is True
    assert str(exc) == (
        f"video '{path}' cannot be opened (corrupt or an unsupported format); a .dat file can "
        f"also be an event file ({VIDEO_SHARED_FORMATS}), which eventsim.io.open_events reads"
    )


def test_unopened_video_of_another_suffix_is_not_shared(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(bytes(100))
    with pytest.raises(UnopenedVideoError) as info:
        VideoSource(path)
    assert info.value.path == path and info.value.shared_suffix is False
    assert str(info.value) == f"video '{path}' cannot be opened (corrupt or an unsupported format)"


def test_unopened_video_error_survives_pickling(tmp_path):
    exc = UnopenedVideoError("video 'x.dat' cannot be opened", tmp_path / "x.dat", True)
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is UnopenedVideoError
    assert (str(back), back.path, back.shared_suffix) == (str(exc), exc.path, True)


def test_simulate_goes_by_the_type_not_the_words(tmp_path, capsys, monkeypatch):
    path = tmp_path / "rec.raw"
    path.write_bytes(b"% header\n" + bytes(64))

    def refuse(*args, **kwargs):
        raise UnopenedVideoError("some other wording", path, shared_suffix=True)

    monkeypatch.setattr(sources, "VideoSource", refuse)
    rc, err = _run(capsys, str(path), "-o", str(tmp_path / "o.h5"))
    assert rc == 1
    assert (
        f"cannot be opened as a video: a .raw file is likely an event file "
        f"({VIDEO_SHARED_FORMATS}), which holds events" in err
    )


def test_simulate_passes_an_unshared_refusal_through(tmp_path, capsys, monkeypatch):
    path = tmp_path / "rec.raw"
    path.write_bytes(b"% header\n" + bytes(64))

    def refuse(*args, **kwargs):
        raise UnopenedVideoError("video 'rec.raw' cannot be opened", path, shared_suffix=False)

    monkeypatch.setattr(sources, "VideoSource", refuse)
    rc, err = _run(capsys, str(path), "-o", str(tmp_path / "o.h5"))
    assert rc == 1
    assert "video 'rec.raw' cannot be opened" in err and "likely an event file" not in err


# --- one output suffix rule


def test_check_output_suffix_takes_the_callers_advice():
    with pytest.raises(ArgumentValueError) as info:
        check_output_suffix("o.npy", other_formats="convert it")
    assert str(info.value) == (
        "out='o.npy' ends in .npy; simulate writes eventsim HDF5, so expected .h5 or .hdf5 "
        "(convert it)"
    )


@pytest.mark.parametrize(("name", "said"), [("o.npy", "ends in .npy"), ("o", "has no suffix")])
def test_cli_output_suffix_is_the_librarys_rule(tmp_path, capsys, name, said):
    out = tmp_path / name
    rc, err = _run(capsys, "--synthetic", "moving-shapes", "-o", str(out))
    assert rc == 1
    assert (
        f"output '{out}' {said}; simulate writes eventsim HDF5, so expected .h5 or .hdf5 "
        "(convert it afterwards, e.g. 'eventsim convert out.h5 out.npy')" in err
    )
    assert list(tmp_path.iterdir()) == []


def test_python_output_suffix_message_is_unchanged(tmp_path):
    with pytest.raises(ArgumentValueError) as info:
        check_output_suffix(tmp_path / "o.txt")
    assert str(info.value) == (
        f"out='{tmp_path / 'o.txt'}' ends in .txt; simulate writes eventsim HDF5, so expected "
        ".h5 or .hdf5 (eventsim.io.write_events writes other formats of the events read back)"
    )


# --- merged_times_note counts without an index array


def test_merged_times_note_counts_and_shows_the_first_fraction():
    # whole times first, so the example is the first time with a fraction, not the first time
    t = np.concatenate([np.zeros(3), np.linspace(0.25, 2.0, 400)])
    note = merged_times_note(t, np.rint(t).astype(np.int64), "us")
    assert note is not None
    fractions = int(np.count_nonzero(t != np.rint(t)))
    assert note.startswith(
        f"times merged by rounding: {fractions:,} of the times given in microseconds have "
        "fractions (such as 0.25), and rounded to whole microseconds their "
    )


def test_merged_times_note_of_a_nan_names_it():
    t = np.concatenate([[np.nan], np.linspace(0.25, 2.0, 400)])
    with np.errstate(invalid="ignore"):
        t_us = np.rint(np.nan_to_num(t)).astype(np.int64)
    note = merged_times_note(t, t_us, "us")
    assert note is not None and "(such as nan)" in note
