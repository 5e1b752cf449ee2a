"""Second look at round 9's fixes.

- faery's reader turned a MemoryError into "cannot decode ... with faery: " (an empty reason):
  running out of memory is no damaged file, and passes through, as KeyboardInterrupt does.
- A re-run's check of a touched image went through every sample of the shard for each image it
  read (a shard of N touched images: N * N look-ups), and hashed an image again for every
  shard that read it; an image whose samples were all skipped was refused as if its sha256
  differed from the one they recorded, though none was recorded.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import cv2
import pytest

from eventsim.datasets import build_dataset, engine, sources
from eventsim.io import open_events

from user_media import small_recipe, textured, write_jsonl


@pytest.mark.parametrize("error", [MemoryError, KeyboardInterrupt, SystemExit])
def test_faery_reader_lets_memory_and_interrupts_pass(tmp_path, monkeypatch, error):
    faery = pytest.importorskip("faery")

    def decode(*args, **kwargs):
        raise error()

    monkeypatch.setattr(faery, "events_stream_from_file", decode)
    path = tmp_path / "x.es"
    path.write_bytes(b"Event Stream" + bytes(20))
    with pytest.raises(error):
        open_events(path)


_recipe = functools.partial(small_recipe, name="r9b")


def _touch(path: Path) -> None:
    later = path.stat().st_mtime_ns + 10**9
    os.utime(path, ns=(later, later))


def test_touched_images_are_checked_once_each(tmp_path, monkeypatch):
    names = [f"i{k}.png" for k in range(6)]
    for k, name in enumerate(names):
        cv2.imwrite(str(tmp_path / name), textured(k + 1))
    rows = [{"image": n, "question": "Q?", "answer": "yes"} for n in names]
    # i0.png again, in a second shard
    write_jsonl(tmp_path / "qa.jsonl", rows + rows[:1])
    recipe = _recipe(tmp_path, "image", "qa.jsonl", 'motion = "pan"', shard_size=len(names))
    out = tmp_path / "ds"
    build_dataset(recipe, out, progress=False)
    for name in names:
        _touch(tmp_path / name)
    looked: list[int] = []
    hashed: list[str] = []
    real_media, real_hash = sources.SampleMaker.media_file, engine._file_sha256
    monkeypatch.setattr(
        sources.SampleMaker,
        "media_file",
        lambda self, spec: looked.append(spec.index) or real_media(self, spec),
    )
    monkeypatch.setattr(engine, "_file_sha256", lambda p: hashed.append(str(p)) or real_hash(p))
    # a resume hashes touched inputs in threads of its own (`engine._hash_file`)
    real_in_thread = engine._hash_file
    monkeypatch.setattr(
        engine,
        "_hash_file",
        lambda path, *args: hashed.append(str(path)) or real_in_thread(path, *args),
    )
    summary = build_dataset(recipe, out, progress=False)
    assert (summary.shards_built, summary.shards_reused) == (0, 2)
    # each sample's file looked up once, each image hashed once
    assert len(looked) <= len(rows) + 1 + 1, looked
    assert sorted(hashed) == sorted({str(tmp_path / n) for n in names}), hashed


def test_touched_image_of_skipped_samples_is_reused(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), textured(1))
    (tmp_path / "bad.png").write_bytes(b"not a png at all" * 8)
    write_jsonl(
        tmp_path / "qa.jsonl",
        [{"image": n, "question": "Q?", "answer": "yes"} for n in ("a.png", "bad.png")],
    )
    recipe = _recipe(tmp_path, "image", "qa.jsonl", 'motion = "pan"', shard_size=2)
    out = tmp_path / "ds"
    assert sum(build_dataset(recipe, out, progress=False).errors.values()) == 1
    _touch(tmp_path / "bad.png")
    # the inputs log holds its sha256, taken as it was read: the same bytes are reused
    assert build_dataset(recipe, out, progress=False).shards_reused == 1
