"""Findings of the fourth review of `eventsim build`, `eventsim verify` and `epvlm demo`."""

import functools
import warnings
from pathlib import Path

import cv2
import pytest

from eventsim.cli.build import main as build_main
from eventsim.datasets import EventVQADataset, build_dataset, load_recipe, verify_dataset
from eventsim.errors import DatasetError, OutputExistsError, RecipeError

from user_media import error_reasons, small_recipe, textured, write_jsonl, write_video

_recipe = functools.partial(small_recipe, name="r4")
_reasons = error_reasons


def _video_qa(tmp_path: Path, records: list[dict]) -> Path:
    write_jsonl(
        tmp_path / "qa.jsonl",
        [{"question": f"Q{k}?", "answer": "a", **r} for k, r in enumerate(records)],
    )
    return _recipe(tmp_path, "video", "qa.jsonl")


def test_a_video_that_stops_decoding_early_is_reported_per_sample(tmp_path):
    """The builder let `VideoSource`'s VideoDecodeWarning through (printed by whichever worker
    met it); a question past the decoded end is now skipped with that reason, and one at the
    last decoded frame is built and noted in the summary."""
    from eventsim.simulator.sources import VideoDecodeWarning, VideoSource

    whole = tmp_path / "whole.avi"
    write_video(whole, 30, 60, step_px=1)  # 2.0 s
    data = whole.read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 2])
    with pytest.warns(VideoDecodeWarning):
        last_t = [t for _, t in VideoSource(tmp_path / "cut.avi")][-1]
    assert last_t < 1.8e6
    recipe = _video_qa(
        tmp_path,
        [{"video": "cut.avi", "time": last_t / 1e6}, {"video": "cut.avi", "time": 1.8}],
    )
    out = tmp_path / "ds"
    with warnings.catch_warnings():
        warnings.simplefilter("error", VideoDecodeWarning)
        summary = build_dataset(recipe, out, progress=False)
    assert summary.samples == {"test": 1}
    reason = _reasons(out)["test-000001"]
    assert "cut.avi stops decoding" in reason and "short of the 60 frames" in reason
    assert "before the question time 1.800 s" in reason
    meta = EventVQADataset(out, "test")[0]["meta"]
    assert "short of the 60 frames its container lists" in meta["decode_problem"]
    notes = [line for line in summary.text().splitlines() if line.startswith("note:")]
    assert len(notes) == 1
    assert "1 sample comes from a video that stops decoding" in notes[0]
    assert "time (truncated or corrupt?), test-000000 (cut.avi); its meta" in notes[0]


def test_an_image_source_of_too_many_frames_is_refused_up_front():
    """fps = 100000 over a 10 s window rendered a million frames per sample and exhausted
    memory; the recipe is now refused, naming the field, the count and the limit."""
    base = {"dataset": {"name": "x"}, "splits": {"test": "qa.jsonl"}}
    with pytest.raises(
        RecipeError,
        match=r"source\.fps = 100000\.0 over events\.window_ms = 10000\.0 implies 1000001 "
        r"frames per sample .* at most 7133 fit the 1 GiB",
    ):
        load_recipe(
            {**base, "source": {"kind": "image", "fps": 100000}, "events": {"window_ms": 10000}}
        )
    # the default rate of a wide saccade over a long window is counted too
    with pytest.raises(RecipeError, match=r"source\.fps = 0 \(for this motion: 5000 fps\)"):
        load_recipe(
            {
                **base,
                "source": {"kind": "image", "amplitude_px": 1000},
                "events": {"window_ms": 1000},
                "camera": {"width": 1024, "height": 1024},
            }
        )
    assert load_recipe({**base, "source": {"kind": "image", "fps": 1000}}).source["fps"] == 1000


def test_a_video_whose_window_holds_too_many_frames_is_skipped(tmp_path):
    """The frame limit of an image source holds for a video's window too: 1000 fps over 1 s at
    1024x1024 is 1002 frames of 3 MiB."""
    write_video(tmp_path / "fast.avi", 1000, 5, step_px=1)
    write_jsonl(
        tmp_path / "qa.jsonl",
        [{"video": "fast.avi", "time": 0.003, "question": "Q", "answer": "a"}],
    )
    recipe = load_recipe(
        _recipe(tmp_path, "video", "qa.jsonl"),
        {"camera.width": "1024", "camera.height": "1024", "events.window_ms": "1000"},
    )
    out = tmp_path / "ds"
    build_dataset(recipe, out, progress=False)
    reason = _reasons(out)["test-000000"]
    assert reason.startswith("video fast.avi at 1000 fps over the 1000 ms event window needs 1002")
    assert "at most 341 fit the 1 GiB" in reason


def test_a_video_path_that_is_a_folder_is_said_to_be_one(tmp_path):
    (tmp_path / "clips").mkdir()
    out = tmp_path / "ds"
    build_dataset(_video_qa(tmp_path, [{"video": "clips", "time": 0.5}]), out, progress=False)
    assert _reasons(out)["test-000000"].endswith("clips' is a folder, not a video file")


def test_a_huge_question_time_is_shown_as_given(tmp_path):
    write_video(tmp_path / "clip.avi", 20, 20, step_px=2)
    out = tmp_path / "ds"
    build_dataset(_video_qa(tmp_path, [{"video": "clip.avi", "time": 1e300}]), out, progress=False)
    reason = _reasons(out)["test-000000"]
    assert reason.endswith("shorter than the question time 1e+300 s") and len(reason) < 120


def test_ctrl_c_after_changing_the_limit_counts_only_the_shards_kept(tmp_path, monkeypatch, capsys):
    """The count included the shards of the earlier --limit that this build deletes."""
    from eventsim.datasets import engine

    recipe = _recipe(tmp_path, "shapes", "6", shard_size=2)
    out = tmp_path / "ds"
    real = engine.run_shard

    def stop_at(shard: int):
        def run(task, on_sample=None):
            if task.shard == shard:
                raise KeyboardInterrupt
            return real(task, on_sample)

        return run

    monkeypatch.setattr(engine, "run_shard", stop_at(2))
    args = [str(recipe), "-o", str(out), "--workers", "1", "--no-progress"]
    assert build_main(args) == 130
    assert "2 finished shards kept" in capsys.readouterr().err
    # --limit 3: shard 0 (samples 0-1) is kept, shard 1 is now samples 2-2 and is rebuilt
    monkeypatch.setattr(engine, "run_shard", stop_at(1))
    assert build_main([*args, "--limit", "3"]) == 130
    assert "1 finished shard kept" in capsys.readouterr().err


def test_strict_names_the_first_bad_sample_in_dataset_order_with_workers(tmp_path):
    """With a pool, the shard that failed first named its sample; a later shard's bad sample
    found quickly won over an earlier shard's found after slow good samples."""
    cv2.imwrite(str(tmp_path / "a.png"), textured(1, 64, 48))
    good = {"image": "a.png", "question": "Q", "answer": "a"}
    bad = {"image": "missing.png", "question": "Q", "answer": "a"}
    write_jsonl(tmp_path / "qa.jsonl", [good, good, good, bad, bad, good, good, good])
    recipe = _recipe(tmp_path, "image", "qa.jsonl", extra="fps = 20000", shard_size=4)
    with pytest.raises(DatasetError, match=r"sample test-000003 \(.*line 4\)"):
        build_dataset(
            recipe, tmp_path / "ds", workers=2, exact_workers=True, strict=True, progress=False
        )


def test_strict_builds_the_shards_before_a_reused_one_with_a_skipped_sample(tmp_path):
    """A shard an earlier lenient build wrote with a skipped sample was named at once, though a
    shard before it, still to be built, held an earlier bad sample."""
    cv2.imwrite(str(tmp_path / "a.png"), textured(1, 64, 48))
    good = {"image": "a.png", "question": "Q", "answer": "a"}
    bad = {"image": "missing.png", "question": "Q", "answer": "a"}
    write_jsonl(tmp_path / "qa.jsonl", [good, bad, good, bad])
    recipe = _recipe(tmp_path, "image", "qa.jsonl", shard_size=2)
    out = tmp_path / "ds"
    assert build_dataset(recipe, out, progress=False).n_errors == 2
    (out / "shards" / "test-00000.h5").unlink()
    with pytest.raises(DatasetError, match=r"sample test-000001 \(.*line 2\)"):
        build_dataset(recipe, out, strict=True, progress=False)


def test_the_demo_takes_a_datasets_manifest_for_the_dataset(tmp_path, monkeypatch):
    from epvlm.demo import pipeline

    out = tmp_path / "ds"
    build_dataset(_recipe(tmp_path, "shapes", "2"), out, progress=False)
    given = []
    # the steps after the checks are not this test's business: what they are handed is
    monkeypatch.setattr(pipeline, "_run_steps", lambda *a: given.append(a[4]))
    # a plain shapes build, not the demo's target task: the demo says so, and goes on
    with pytest.warns(pipeline.DemoDatasetWarning, match="not of 'shapes-demo'"):
        pipeline.run_demo(tmp_path / "demo", dataset_dir=out / "dataset.json", progress=False)
    assert given == [out]


def test_verify_matches_labels_by_sample_after_a_damaged_line(tmp_path):
    """After a damaged samples.jsonl line, every later line was compared with the shard's
    copy of the sample before it, naming samples whose labels are fine."""
    out = tmp_path / "ds"
    build_dataset(_recipe(tmp_path, "shapes", "4"), out, progress=False)
    path = out / "samples.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(["[1]\n", *lines[1:]]))
    problems = verify_dataset(out).problems
    labels = [p for p in problems if "label differs" in p or "lacks" in p]
    assert labels == ["shards/test-00000.h5: samples.jsonl lacks sample test-000000"], problems


def test_a_build_whose_manifest_was_deleted_is_finished_from_its_shards(tmp_path):
    recipe = _recipe(tmp_path, "shapes", "4", shard_size=2)
    out = tmp_path / "ds"
    build_dataset(recipe, out, progress=False)
    (out / "dataset.json").unlink()
    again = build_dataset(recipe, out, progress=False)
    assert (again.shards_reused, again.shards_built) == (2, 0)
    assert verify_dataset(out).ok
    # another recipe's shards are not taken, and the refusal says why
    (out / "dataset.json").unlink()
    other = _recipe(tmp_path, "shapes", "4", extra="n_choices = 3", shard_size=2)
    with pytest.raises(OutputExistsError, match=r"dataset\.json is missing, built from another"):
        build_dataset(other, out, progress=False)
