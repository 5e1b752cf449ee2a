"""Findings of the third review of the dataset reading side (loader, `eventsim info`, `verify`)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import pytest

from eventsim.cli.info import main as info_main
from eventsim.cli.verify import main as verify_main
from eventsim.datasets import EventVQADataset, build_dataset, read_manifest, verify_dataset
from eventsim.datasets.loader import read_samples
from eventsim.errors import DatasetError

from cli_checks import one_line
from user_media import textured

SHAPES = {
    "dataset": {"name": "review3", "seed": 2},
    "source": {"kind": "shapes", "mode": "vqa", "object_size_px": [10, 16], "motion_px": [4, 8]},
    "camera": {"width": 64, "height": 48},
    "events": {"window_ms": 20},
    "splits": {"train": 0, "test": 3},
    "build": {"shard_size": 2},
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("review3") / "ds"
    build_dataset(SHAPES, out, progress=False)
    return out


@pytest.fixture
def copy(built, tmp_path) -> Path:
    """A copy of the built dataset the test may damage."""
    return Path(shutil.copytree(built, tmp_path / "ds"))


def edit_manifest(root: Path, edit) -> None:
    manifest = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    edit(manifest)
    (root / "dataset.json").write_text(json.dumps(manifest), encoding="utf-8")


# ------------------------------------------------- line separators inside JSON strings


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_dataset_with_raw_unicode_line_separators_in_its_labels_reads(tmp_path, capsys, newline):
    """Builds before the builder escaped U+2028, U+2029 and U+0085 wrote them raw into
    samples.jsonl; str.splitlines() cut such a line in two, and `eventsim verify` reported
    the dataset unreadable."""
    (tmp_path / "imgs").mkdir()
    cv2.imwrite(str(tmp_path / "imgs" / "a.png"), textured(1, 64, 48))
    question = "Which\u2028one\x85is\u2029it?"
    record = {"image": "imgs/a.png", "question": question, "answer": "é"}
    (tmp_path / "qa.jsonl").write_text(
        "".join(json.dumps({**record, "id": k}, ensure_ascii=False) + "\n" for k in range(2)),
        encoding="utf-8",
    )
    (tmp_path / "img.toml").write_text(
        '[dataset]\nname = "img"\n[source]\nkind = "image"\n[camera]\nwidth = 64\n'
        'height = 48\n[events]\nwindow_ms = 10\n[splits]\ntest = "qa.jsonl"\n'
    )
    out = tmp_path / "ds"
    assert build_dataset(tmp_path / "img.toml", out, progress=False).samples == {"test": 2}
    # what an older build wrote: the separators raw, the hash over those bytes
    samples = out / "samples.jsonl"
    text = samples.read_text(encoding="utf-8")
    for char in "\u2028\u2029\x85":
        text = text.replace(f"\\u{ord(char):04x}", char)
    assert "\u2028" in text and text.count("\n") == 2
    samples.write_bytes(text.replace("\n", newline).encode("utf-8"))
    digest = hashlib.sha256(samples.read_bytes()).hexdigest()
    edit_manifest(out, lambda m: m.update(samples_sha256=digest))

    records = read_samples(out, read_manifest(out))
    assert [r["question"] for r in records] == [question, question]
    assert verify_dataset(out).ok, verify_dataset(out).text()
    assert verify_main([str(out), "--no-progress"]) == 0
    assert info_main([str(out)]) == 0
    assert "2 samples, 0 skipped" in capsys.readouterr().out
    with EventVQADataset(out, "test") as ds:
        assert [ds[k]["question"] for k in range(len(ds))] == [question, question]


def test_a_damaged_samples_line_is_named_by_its_line_number(copy):
    samples = copy / "samples.jsonl"
    lines = samples.read_text(encoding="utf-8").split("\n")
    lines[1] = lines[1][:-3]
    samples.write_text("\n".join(lines), encoding="utf-8")
    report = verify_dataset(copy)
    assert not report.ok and "samples.jsonl': line 2:" in report.text()


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda r: 3, "samples.jsonl record 1: 3 is not a sample record (a JSON object)"),
        (lambda r: r.pop("group") and r, "samples.jsonl record 1: 'group' is missing"),
        (lambda r: r.update(window_us="x") or r, "record 1: 'window_us' is \"x\"; expected"),
        (lambda r: r.update(n_events=None) or r, "record 1: 'n_events' is null; expected"),
    ],
)
def test_verify_reports_a_samples_line_without_the_fields_it_checks(copy, capsys, edit, says):
    """Each was an 'internal error' (AttributeError, KeyError, ValueError) of verify."""
    samples = copy / "samples.jsonl"
    lines = samples.read_text(encoding="utf-8").split("\n")
    lines[0] = json.dumps(edit(json.loads(lines[0])))
    samples.write_text("\n".join(lines), encoding="utf-8")
    report = verify_dataset(copy)
    assert not report.ok and says in report.problems[0], report.text()
    assert verify_main([str(copy), "--no-progress"]) == 1
    assert says in capsys.readouterr().out


# ------------------------------------------------------------- the manifest's fields


@pytest.mark.parametrize(
    ("edit", "names"),
    [
        (
            lambda m: m["shards"][0].pop("bytes"),
            ["shard entry 0 ('shards/test-00000.h5')", "'bytes' is missing", "the shard's size"],
        ),
        (
            lambda m: m["shards"][1].update(bytes="1234"),
            ["shard entry 1 ('shards/test-00001.h5')", "'bytes' is \"1234\"", "an integer >= 0"],
        ),
        (lambda m: m["shards"][0].update(bytes=True), ["'bytes' is true"]),
        (lambda m: m["shards"][0].update(sha256=5), ["'sha256' is 5", "the shard's sha256"]),
        (lambda m: m["shards"][0].pop("file"), ["shard entry 0 field 'file' is missing"]),
        (lambda m: m["shards"][0].update(samples=-1), ["'samples' is -1"]),
        (
            lambda m: m["shards"].__setitem__(0, "shards/test-00000.h5"),
            ['shard entry 0 is "shards/test-00000.h5"', "'bytes'"],
        ),
        (lambda m: m["counts"].pop("errors"), ["'counts' field 'errors' is missing"]),
        (lambda m: m["splits"]["test"].pop("events"), ["split 'test' field 'events' is missing"]),
        (lambda m: m["splits"]["test"].update(question_types=[]), ["'question_types' is []"]),
        (lambda m: m["splits"].update(test=3), ["'splits' field 'test' is 3"]),
        (lambda m: m.pop("format_version"), ["'format_version' is missing", "a string"]),
        (lambda m: m.update(recipe=[]), ["'recipe' is []"]),
        (lambda m: m["recipe"].update(source="shapes"), ["'recipe' field 'source' is \"shapes\""]),
        (lambda m: m.update(limit="2"), ["'limit' is \"2\""]),
    ],
)
def test_a_damaged_manifest_is_refused_when_read_naming_file_entry_and_field(
    copy, capsys, edit, names
):
    """`eventsim info` crashed with a KeyError traceback on a shard entry without 'bytes'."""
    edit_manifest(copy, edit)
    with pytest.raises(DatasetError) as err:
        read_manifest(copy)
    msg = str(err.value)
    assert msg.startswith(f"{str(copy / 'dataset.json')!r} is damaged: ")
    for name in names:
        assert name in msg, msg
    assert info_main([str(copy)]) == 1
    one_line(capsys.readouterr().err, "is damaged", names[0])
    assert verify_main([str(copy), "--no-progress"]) == 1
    one_line(capsys.readouterr().err, "is damaged", names[0])


def test_a_wrong_kind_is_named_in_plain_english(copy):
    """The message read "'window_us' is missing or not a int"."""
    edit_manifest(copy, lambda m: m.update(window_us="20000"))
    with pytest.raises(DatasetError) as err:
        read_manifest(copy)
    assert "'window_us' is \"20000\"; expected an integer > 0" in str(err.value)
    assert " a int" not in str(err.value)


@pytest.mark.parametrize(
    "size",
    [[64], [64, 48, 3], [0, 48], [64, -1], ["64", 48], [64.0, 48], [True, 48], [40000, 48], None],
)
def test_a_sensor_size_that_is_not_two_positive_integers_is_refused(copy, size):
    edit_manifest(copy, lambda m: m.update(sensor_size=size))
    with pytest.raises(DatasetError, match=r"'sensor_size' is .*expected \[width, height\]"):
        EventVQADataset(copy, "test")


def test_a_sensor_size_edited_to_another_size_is_refused_on_the_first_read(copy):
    """The loader gave 48x64 frames and events labelled with the edited sensor size."""
    edit_manifest(copy, lambda m: m.update(sensor_size=[32, 24]))
    ds = EventVQADataset(copy, "test")  # opening reads no shard
    assert ds.sensor_size == (32, 24)
    with pytest.raises(DatasetError) as err:
        ds[0]
    msg = str(err.value)
    assert "sensor_size [32, 24]" in msg and "'shards/test-00000.h5' was built for [64, 48]" in msg
    assert "restore it or rebuild" in msg
    report = verify_dataset(copy)
    assert not report.ok
    assert report.problems == [
        f"shards/test-0000{k}.h5: built for a 64x48 sensor; dataset.json says 32x24 (the "
        "manifest was edited)"
        for k in (0, 1)
    ]


def test_verify_reads_a_manifest_without_shard_checksums_and_says_so(copy):
    """Such manifests (builds before checksums) read in the loader; verify raised KeyError."""

    def strip(m):
        for entry in m["shards"]:
            del entry["sha256"]

    edit_manifest(copy, strip)
    report = verify_dataset(copy)
    assert report.ok, report.text()
    assert any("no sha256 for 2 shards" in n for n in report.notes)


# --------------------------------------------------------- the manifest as the dataset


def test_the_manifest_file_names_its_dataset(built, capsys):
    """EventVQADataset('ds/dataset.json') said "not a built dataset (no dataset.json)"."""
    manifest = built / "dataset.json"
    with EventVQADataset(manifest, "test") as ds, EventVQADataset(built, "test") as by_folder:
        assert ds.root == built and len(ds) == len(by_folder) == 3
        assert ds[2]["id"] == by_folder[2]["id"]
    assert read_manifest(manifest) == read_manifest(built)
    assert verify_dataset(manifest).ok
    assert verify_main([str(manifest), "--no-progress"]) == 0
    assert f"({built})" in capsys.readouterr().out
    assert info_main([str(manifest)]) == 0
    assert "dataset review3 (eventsim-vqa" in capsys.readouterr().out


def test_another_file_is_named_a_file_not_a_dataset(built):
    shard = built / "shards" / "test-00000.h5"
    with pytest.raises(DatasetError, match=r"is a file, not a dataset folder; pass the folder"):
        EventVQADataset(shard, "test")


def test_a_dataset_folder_that_does_not_exist_is_named_so(tmp_path):
    """It said "not a built dataset (no dataset.json)", as for a folder holding other things."""
    with pytest.raises(DatasetError, match=r"dataset folder '.*nowhere' does not exist"):
        EventVQADataset(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match=r"is not a built dataset \(no dataset\.json\)"):
        EventVQADataset(tmp_path)
