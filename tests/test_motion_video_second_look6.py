"""Second look at image motion, upsampling and video questions in builds (0.2.2): a video's
remembered end is the end of the file it was read from."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_video_review6 import write_mkv

from eventsim.datasets.recipe import load_recipe
from eventsim.datasets.sources import SampleError, SampleMaker, plan_split

from user_media import small_recipe, write_jsonl


def _maker_and_specs(tmp_path: Path, times: list[float]):
    write_jsonl(
        tmp_path / "qa.jsonl",
        [
            {"video": "v.mkv", "time": t, "question": f"Q{k}?", "answer": "a"}
            for k, t in enumerate(times)
        ],
    )
    recipe = load_recipe(small_recipe(tmp_path, "video", "qa.jsonl", name="h98"))
    return SampleMaker(recipe), plan_split(recipe, "test")


@pytest.mark.parametrize("same_mtime", [False, True])
def test_a_replaced_video_is_read_again_not_taken_as_its_old_end(tmp_path, same_mtime):
    """A sample maker lives as long as its worker process (a Dask worker serves one build after
    another with the same recipe): a video read to its end was remembered by path alone, so a
    video replaced by a longer one under the same name still had its questions past the old
    end skipped ('is 0.400 s long') without being read."""
    video = tmp_path / "v.mkv"
    write_mkv(video, list(range(0, 400, 40)))
    maker, specs = _maker_and_specs(tmp_path, [0.6])
    with pytest.raises(SampleError, match=r"is 0\.400 s long"):
        maker.make(specs[0])
    old = video.stat()
    write_mkv(video, list(range(0, 800, 40)))
    if same_mtime:  # a copy that keeps the old file's times (cp -p, rsync -t)
        os.utime(video, ns=(old.st_atime_ns, old.st_mtime_ns))
    sample = maker.make(specs[0])
    assert sample.window_us == (580_000, 600_000)


def test_an_unchanged_video_is_not_read_again_past_its_end(tmp_path, monkeypatch):
    from eventsim.datasets import sources as dataset_sources

    write_mkv(tmp_path / "v.mkv", list(range(0, 400, 40)))
    maker, specs = _maker_and_specs(tmp_path, [0.6, 0.9])
    reads = []
    real = dataset_sources._read_up_to

    def counted(video, t_q, window):
        reads.append(t_q)
        return real(video, t_q, window)

    monkeypatch.setattr(dataset_sources, "_read_up_to", counted)
    for spec in specs:
        with pytest.raises(SampleError, match=r"is 0\.400 s long"):
            maker.make(spec)
    assert reads == [600_000]
