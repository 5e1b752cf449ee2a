"""Second look at the round-12 builder changes: a video read by several shards was hashed again
for each of them where the digest cache cannot be written (no home folder, a read-only one);
the benchmark tools' 'test split only' overrides were refused for a recipe without a train or
val split; a split file named through a link was refused as moved, 'move the files back'."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from test_build_round11 import _build
from test_builder_round12 import _video_recipe

from eventsim.datasets import _digests, engine

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def test_a_video_is_hashed_once_per_build_where_the_digest_cache_cannot_be_written(
    tmp_path, monkeypatch
):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setenv("EVENTSIM_CACHE_DIR", str(blocked / "cache"))
    recipe = _video_recipe(tmp_path / "rec", n=3, shard_size=1)
    video = str(tmp_path / "rec" / "v.avi")
    hashed: list[str] = []
    real = engine.file_digest

    def counting(path):
        if str(path) == video:
            hashed.append(str(path))
        return real(path)

    monkeypatch.setattr(engine, "file_digest", counting)
    summary = _build(recipe, tmp_path / "ds")
    assert summary.shards_built == 3 and summary.shards_in_process == 3
    assert hashed == [video]


def test_a_video_digest_is_left_for_the_other_workers_of_the_build(tmp_path):
    # kept in this process alone, each pool worker would hash the video again
    recipe = _video_recipe(tmp_path / "rec", n=2, shard_size=1)
    video = tmp_path / "rec" / "v.avi"
    _build(recipe, tmp_path / "ds")
    name = _digests.identity(video, video.stat())
    assert _digests.remembered(name) == engine.file_digest(video)[0]


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(f"second_look12_{name}", TOOLS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_build_builds_a_test_split_of_a_recipe_without_train_or_val():
    # it set splits.train and splits.val to 0 whatever the recipe, which a recipe without them
    # (shapes-demo) now refuses
    result = _tool("bench_build").run_one("shapes-demo", 1, 1, 1)
    assert result["samples"] == 1


def test_bench_loader_builds_its_base_from_a_recipe_without_train_or_val(tmp_path):
    _tool("bench_loader").build_base("shapes-demo", 1, tmp_path / "base")
    assert json.loads((tmp_path / "base" / "dataset.json").read_text())["samples"] == {"test": 1}
