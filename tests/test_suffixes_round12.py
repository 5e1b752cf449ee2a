"""The frame-file suffix lists exist once (eventsim._suffixes): formats' public names and the
simulator's IMAGE_EXTENSIONS are the same objects, and epvlm run's "it is a video" check uses
formats' list, less .gif on purpose (OpenCV decodes a GIF's first frame as a still image)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from eventsim import _suffixes
from eventsim.errors import InputError
from eventsim.io import formats
from eventsim.simulator import pipeline, sources


def test_one_list_of_each():
    assert formats.IMAGE_SUFFIXES is _suffixes.IMAGE_SUFFIXES
    assert sources.IMAGE_EXTENSIONS is _suffixes.IMAGE_SUFFIXES
    assert pipeline.IMAGE_EXTENSIONS is _suffixes.IMAGE_SUFFIXES
    assert formats.VIDEO_SUFFIXES is _suffixes.VIDEO_SUFFIXES
    assert not set(formats.IMAGE_SUFFIXES) & set(formats.VIDEO_SUFFIXES)


def test_epvlm_cli_keeps_no_copy():
    import epvlm.cli

    assert not hasattr(epvlm.cli, "_VIDEO_SUFFIXES")


@pytest.mark.parametrize("suffix", [s for s in _suffixes.VIDEO_SUFFIXES if s != ".gif"])
def test_epvlm_run_names_every_video_suffix(tmp_path, suffix):
    from epvlm.cli import _read_image

    path = tmp_path / f"clip{suffix.upper()}"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    with pytest.raises(InputError, match="it is a video; give one of its frames"):
        _read_image(str(path))


def test_epvlm_run_takes_a_broken_gif_for_a_broken_image(tmp_path):
    from epvlm.cli import _read_image

    path = tmp_path / "still.gif"
    path.write_bytes(b"GIF89a" + bytes(16))
    with pytest.raises(InputError, match="not an image OpenCV can decode") as info:
        _read_image(str(path))
    assert "video" not in str(info.value)


def test_simulator_sources_stay_off_eventsim_io():
    code = (
        "import sys, eventsim.simulator.sources; "
        "print('h5py' in sys.modules, 'eventsim.io' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
