"""Seventh review of `eventsim verify` on damaged datasets: errors.jsonl (the samples a build
skipped) against dataset.json's counts of them, shard files dataset.json does not list, a shard
listed twice, and every damage named in one line with exit 1, never a traceback."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import pytest

from eventsim.cli.verify import main as verify_main
from eventsim.datasets import build_dataset, verify_dataset

from user_media import textured, write_jsonl


@pytest.fixture(scope="module")
def built(build_shapes) -> Path:
    """4 test samples in two shards of 2; errors.jsonl empty."""
    return build_shapes(4)


@pytest.fixture(scope="module")
def skipping(tmp_path_factory) -> Path:
    """An image dataset whose build skipped a sample of each split (an image that is not
    there): test 2 samples and 1 skipped, train 1 and 1 skipped, in 3 shards."""
    src = tmp_path_factory.mktemp("skipping")
    (src / "imgs").mkdir()
    cv2.imwrite(str(src / "imgs" / "a.png"), textured(1, 64, 48))
    good = {"image": "imgs/a.png", "question": "Q", "answer": "a"}
    bad = {"image": "imgs/missing.png", "question": "Q", "answer": "a"}
    write_jsonl(src / "test.jsonl", [good, bad, good])
    write_jsonl(src / "train.jsonl", [bad, good])
    recipe = src / "img.toml"
    recipe.write_text(
        '[dataset]\nname = "img"\n[source]\nkind = "image"\n[camera]\nwidth = 64\n'
        'height = 48\n[events]\nwindow_ms = 10\n[splits]\ntest = "test.jsonl"\n'
        'train = "train.jsonl"\n[build]\nshard_size = 2\n'
    )
    summary = build_dataset(recipe, src / "ds", progress=False)
    assert summary.errors == {"test": 1, "train": 1}
    return src / "ds"


def _copy(root: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(root, tmp_path / "ds"))


def _edit_manifest(root: Path, edit: Callable[[dict], object]) -> None:
    path = root / "dataset.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    edit(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def _verify(root: Path, capsys) -> tuple[int, list[str]]:
    """verify's exit status and every line it printed (stdout, then stderr)."""
    status = verify_main([str(root), "--no-progress"])
    out = capsys.readouterr()
    return status, (out.out + out.err).splitlines()


# ----------------------------------------------------------------------------- errors.jsonl


def test_datasets_with_and_without_skipped_samples_verify_clean(built, skipping, capsys):
    for root, n, shards in ((built, 4, 2), (skipping, 3, 3)):
        status, lines = _verify(root, capsys)
        assert status == 0 and lines == [f"ok: {n} samples in {shards} shards verified ({root})"]


def test_a_missing_errors_jsonl_is_a_problem(built, skipping, tmp_path):
    """Every build since the first writes errors.jsonl (empty when it skips nothing): verify
    did not look at it, so a dataset without it verified clean."""
    root = _copy(skipping, tmp_path)
    (root / "errors.jsonl").unlink()
    assert verify_dataset(root).problems == [
        "errors.jsonl is missing (every build writes it, empty when it skips no sample); "
        "dataset.json counts 2 skipped samples: restore it or rebuild the dataset"
    ]
    clean = Path(shutil.copytree(built, tmp_path / "clean"))
    (clean / "errors.jsonl").unlink()
    assert verify_dataset(clean).problems == [
        "errors.jsonl is missing (every build writes it, empty when it skips no sample); "
        "dataset.json counts 0 skipped samples: an empty errors.jsonl restores it"
    ]


def test_a_truncated_errors_jsonl_is_counted_per_split(skipping, tmp_path, capsys):
    root = _copy(skipping, tmp_path)
    lines = (root / "errors.jsonl").read_text(encoding="utf-8").splitlines()
    kept = [x for x in lines if json.loads(x)["split"] == "train"]
    # cut in the middle of the test split's line: that line is named, and its count
    (root / "errors.jsonl").write_text(
        "\n".join([*kept, next(x for x in lines if x not in kept)[:30]]), encoding="utf-8"
    )
    status, out = _verify(root, capsys)
    assert status == 1
    assert out[0] == f"FAILED: 2 problems in {root}"
    assert out[1].startswith("  errors.jsonl line 2: not a JSON line: Expecting value")
    assert out[2] == "  split test: errors.jsonl lists 0 skipped samples, dataset.json says 1"


def test_malformed_errors_jsonl_lines_are_named_by_line_number(skipping, tmp_path):
    root = _copy(skipping, tmp_path)
    good = (root / "errors.jsonl").read_text(encoding="utf-8")
    record = json.loads(good.splitlines()[0])
    (root / "errors.jsonl").write_bytes(
        good.encode()
        + b"\n"  # blank lines are no records
        + b"not json\n"
        + b"[1, 2]\n"
        + json.dumps({**record, "split": "val"}).encode()
        + b"\n"
        + json.dumps({k: v for k, v in record.items() if k != "reason"}).encode()
        + b"\n\xff\n"
    )
    problems = verify_dataset(root).problems
    assert [p.split(":")[0] for p in problems] == [
        f"errors.jsonl line {n}" for n in (4, 5, 6, 7, 8)
    ]
    assert problems[1:4] == [
        "errors.jsonl line 5: [1, 2] is not a skipped sample's record (a JSON object)",
        "errors.jsonl line 6: split 'val' is not one of dataset.json's (test, train)",
        "errors.jsonl line 7: 'reason' is missing; expected a string",
    ]
    assert "utf-8" in problems[4]


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (
            lambda m: m["splits"]["train"].update(errors=0),
            "split train: errors.jsonl lists 1 skipped sample, dataset.json says 0",
        ),
        (
            lambda m: m["counts"].update(errors=5),
            "errors.jsonl lists 2 skipped samples; dataset.json counts 5",
        ),
    ],
)
def test_a_manifest_that_disagrees_with_errors_jsonl_is_a_problem(
    skipping, tmp_path, edit, problem
):
    root = _copy(skipping, tmp_path)
    _edit_manifest(root, edit)
    assert verify_dataset(root).problems == [problem]


def test_an_errors_jsonl_that_cannot_be_read_is_one_problem(built, tmp_path):
    root = _copy(built, tmp_path)
    (root / "errors.jsonl").unlink()
    (root / "errors.jsonl").mkdir()
    assert verify_dataset(root).problems == ["cannot read errors.jsonl: Is a directory"]


def test_a_folder_in_place_of_samples_jsonl_is_not_called_missing(built, tmp_path):
    root = _copy(built, tmp_path)
    (root / "samples.jsonl").unlink()
    (root / "samples.jsonl").mkdir()
    assert verify_dataset(root).problems == [
        f"cannot read {str(root / 'samples.jsonl')!r}: Is a directory"
    ]


# ----------------------------------------------------------------------------- shard files


def test_a_shard_file_the_manifest_does_not_list_is_a_problem(built, tmp_path):
    """A shard copied in or left by another build verified clean; a build deletes the shards
    it does not list. Hidden temporaries and files that are no shard are not reported."""
    root = _copy(built, tmp_path)
    shards = root / "shards"
    shutil.copy(shards / "test-00001.h5", shards / "test-00009.h5")
    shutil.copy(shards / "test-00001.h5", shards / ".test-00001.h5.123-abcdef01.tmp.h5")
    (shards / "notes.txt").write_text("kept by hand")
    assert verify_dataset(root).problems == [
        "shards/test-00009.h5: a shard file dataset.json does not list (copied in, or left by "
        "another build)"
    ]


def test_a_shard_dropped_from_the_manifest_is_reported_once(built, tmp_path):
    root = _copy(built, tmp_path)
    _edit_manifest(root, lambda m: m["shards"].pop())
    assert verify_dataset(root).problems == [
        "samples.jsonl refers to shards/test-00001.h5, which the manifest does not list"
    ]


def test_a_shard_listed_twice_is_a_problem(built, tmp_path):
    """Its samples were checked twice and passed: verify said ok."""
    root = _copy(built, tmp_path)
    _edit_manifest(root, lambda m: m["shards"].append(m["shards"][0]))
    assert verify_dataset(root).problems == [
        "shards/test-00000.h5: listed more than once in dataset.json's shards"
    ]


# ----------------------------------------------------------------------------- end to end


def _missing_shard(root: Path) -> None:
    (root / "shards" / "test-00001.h5").unlink()


def _extra_shard(root: Path) -> None:
    shutil.copy(root / "shards" / "test-00001.h5", root / "shards" / "test-00002.h5")


def _truncated_samples(root: Path) -> None:
    path = root / "samples.jsonl"
    path.write_bytes(path.read_bytes()[:-40])


def _samples_cut_at_a_line(root: Path) -> None:
    path = root / "samples.jsonl"
    path.write_text("".join(path.read_text(encoding="utf-8").splitlines(True)[:3]))


def _duplicated_id(root: Path) -> None:
    path = root / "samples.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(True)
    path.write_text("".join([*lines, lines[0]]), encoding="utf-8")


def _broken_manifest(root: Path) -> None:
    path = root / "dataset.json"
    path.write_bytes(path.read_bytes()[:200])


def _newer_manifest(root: Path) -> None:
    _edit_manifest(root, lambda m: m.update(format_version="2.0"))


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (_missing_shard, "shards/test-00001.h5: missing"),
        (_extra_shard, "shards/test-00002.h5: a shard file dataset.json does not list"),
        (_truncated_samples, "samples.jsonl': line 4: Unterminated string"),
        (_samples_cut_at_a_line, "samples.jsonl has 3 lines; dataset.json counts 4"),
        (_duplicated_id, "samples.jsonl lists this sample more than once"),
        (_broken_manifest, "verify: error: cannot read '"),
        (_newer_manifest, "has format version '2.0'; this eventsim reads version 1.x"),
        (lambda root: (root / "errors.jsonl").unlink(), "errors.jsonl is missing"),
    ],
)
def test_each_damage_is_named_in_one_line_and_exits_1(built, tmp_path, capsys, damage, problem):
    root = _copy(built, tmp_path)
    damage(root)
    status, lines = _verify(root, capsys)
    assert status == 1
    assert not any("Traceback" in x or "internal error" in x for x in lines)
    assert sum(problem in x for x in lines) == 1, lines
