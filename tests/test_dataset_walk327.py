"""A walk through building and loading datasets: verify's repair command (a dataset's
dataset.json as the recipe), a truncated shard said by its size, a build whose samples all have
no events, `eventsim info` on a dataset's own files, an unfinished build and the recipe's
licence, and the shard layout docs/recipes.md gives, read with h5py."""

import json
import shlex
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from eventsim.cli import main as eventsim_main

ROOT = Path(__file__).resolve().parents[1]


def _run(capsys, *argv: object) -> tuple[int, str, str]:
    rc = eventsim_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def limited(tmp_path_factory, shapes_recipe) -> Path:
    """A dataset built with --set values and a --limit that leaves samples out: the command
    that repairs it needs both."""
    root = tmp_path_factory.mktemp("walk327")
    recipe = shapes_recipe(root / "r.toml", test=6)
    out = root / "ds"
    argv = ["build", recipe, "-o", out, "--limit", 4, "--set", "seed=9", "--no-progress"]
    argv += ["--set", "description=A small walk dataset", "--set", "license=CC0-1.0"]
    assert eventsim_main([str(a) for a in argv]) == 0
    return out


def _repair_command(out: str) -> list[str]:
    """The command verify's last line ends with, as a shell splits it."""
    last = out.splitlines()[-1]
    assert last.startswith("  to repair: "), out
    command = last.split(" from the recipe copy in its dataset.json: ")[1]
    argv = shlex.split(command)
    assert argv[:2] == ["eventsim", "build"], command
    return argv[1:]


def test_verify_prints_the_command_that_repairs_the_dataset(tmp_path, capsys, limited):
    """verify said "rerun the 'eventsim build RECIPE -o DIR' that made this dataset", but that
    command without the build's --set and --limit is refused, and dataset.json could not be
    given as the recipe."""
    ds = Path(shutil.copytree(limited, tmp_path / "ds"))
    before = (ds / "dataset.json").read_bytes()
    (ds / "shards" / "test-00001.h5").unlink()
    rc, out, _ = _run(capsys, "verify", ds, "--no-progress")
    assert rc == 1
    argv = _repair_command(out)
    assert argv == ["build", str(ds / "dataset.json"), "-o", str(ds), "--limit", "4"], out

    rc, out, err = _run(capsys, *argv, "--no-progress", "--no-preview")
    assert rc == 0, err
    assert "shards: 1 built, 1 reused" in out, out
    assert _run(capsys, "verify", ds, "--no-progress")[0] == 0
    # the same build: the manifest it writes is the one it replaces, recipe file included
    assert (ds / "dataset.json").read_bytes() == before


def test_a_dataset_json_recipe_keeps_relative_split_files_and_a_folder_is_pointed_to_it(
    tmp_path, capsys
):
    """The recipe copy's relative split file path starts at its recipe file's folder, not at
    the dataset's or the current one."""
    import cv2

    from user_media import textured, write_jsonl

    data = tmp_path / "data"
    (data / "img").mkdir(parents=True)
    cv2.imwrite(str(data / "img" / "a.png"), textured(0))
    write_jsonl(data / "t.jsonl", [{"image": "img/a.png", "question": "Q?", "answer": "a"}] * 3)
    recipe = data / "image.toml"
    recipe.write_text(
        '[dataset]\nname = "w327"\n[source]\nkind = "image"\n[camera]\nwidth = 64\nheight = 48\n'
        '[events]\nwindow_ms = 20\n[splits]\ntest = "t.jsonl"\n[build]\nshard_size = 2\n'
    )
    ds = tmp_path / "ds"
    assert _run(capsys, "build", recipe, "-o", ds, "--no-progress", "--no-preview")[0] == 0
    (ds / "shards" / "test-00000.h5").write_bytes(b"damaged")
    rc, out, _ = _run(capsys, "verify", ds, "--no-progress")
    assert rc == 1
    argv = _repair_command(out)
    assert "--limit" not in argv, out
    rc, out, err = _run(capsys, *argv, "--no-progress", "--no-preview")
    assert rc == 0 and "1 built, 1 reused" in out, err
    assert _run(capsys, "verify", ds, "--no-progress")[0] == 0

    # the folder is not taken for its manifest (a folder named as a built-in recipe would
    # mean two things), but its error names the manifest
    rc, _, err = _run(capsys, "build", ds, "-o", tmp_path / "other", "--no-progress")
    assert rc == 1 and err.rstrip().endswith(f": eventsim build {ds / 'dataset.json'} -o DIR"), err


def test_verify_says_a_truncated_shard_is_short_as_the_loader_does(tmp_path, limited):
    """It was "checksum mismatch (file changed or damaged)"; the loader says "has 1000 bytes,
    the build wrote N"."""
    from eventsim.datasets import verify_dataset

    ds = Path(shutil.copytree(limited, tmp_path / "ds"))
    shard = ds / "shards" / "test-00000.h5"
    wrote = shard.stat().st_size
    with open(shard, "r+b") as f:
        f.truncate(1000)
    report = verify_dataset(ds)
    assert report.problems == [
        f"shards/test-00000.h5: has 1000 bytes, the build wrote {wrote} (the file was changed "
        "or damaged)"
    ]
    assert "rebuilds the 1 missing or damaged shard" in report.repair


def test_a_build_whose_samples_have_no_events_warns(tmp_path, capsys, shapes_recipe):
    """Thresholds no brightness change reaches: exit 0 and not a word."""
    recipe = shapes_recipe(tmp_path / "r.toml", train=2, test=2)
    sets = [
        "--set",
        "simulator.params.pos_threshold=50",
        "--set",
        "simulator.params.neg_threshold=50",
    ]
    rc, _, err = _run(
        capsys, "build", recipe, "-o", tmp_path / "ds", *sets, "--no-progress", "--no-preview"
    )
    assert rc == 0
    lines = [ln for ln in err.splitlines() if "warning" in ln]
    assert len(lines) == 1, err
    assert "no sample of splits train, test has an event (4 samples" in lines[0], err
    assert "pos_threshold 50, neg_threshold 50" in lines[0] and "static" in lines[0], err
    import hdf5plugin  # noqa: F401 (the Blosc filter)

    # docs/recipes.md: "A sample without events has empty columns, stored without chunks or
    # compression"
    with h5py.File(tmp_path / "ds" / "shards" / "test-00000.h5", "r") as f:
        for column in "xytp":
            d = f["samples/00000/events"][column]
            assert d.shape == (0,) and d.chunks is None and not d._filters
    # a build with events says nothing of them
    rc, _, err = _run(capsys, "build", recipe, "-o", tmp_path / "ok", "--no-progress")
    assert rc == 0 and "has an event" not in err, err


@pytest.mark.parametrize("name", ["samples.jsonl", "errors.jsonl", "preview.png"])
def test_info_on_a_file_of_a_dataset_names_the_dataset(capsys, limited, name):
    """samples.jsonl was "cannot tell the format ... from its extension '.jsonl'", errors.jsonl
    "event file ... is empty"; a shard was already answered with its dataset."""
    rc, _, err = _run(capsys, "info", limited / name)
    assert rc == 1
    assert f"it is a file of the eventsim dataset {str(limited)!r}" in err, err
    assert err.rstrip().endswith(f"or describe it: eventsim info {limited}"), err


def test_info_counts_an_unfinished_builds_shards_and_shows_the_licence(tmp_path, capsys, limited):
    rc, out, _ = _run(capsys, "info", limited)
    assert rc == 0
    assert "  licence: CC0-1.0\n" in out and "  A small walk dataset\n" in out, out
    summary = json.loads(_run(capsys, "info", limited, "--json")[1])
    assert summary["license"] == "CC0-1.0" and summary["description"] == "A small walk dataset"

    ds = Path(shutil.copytree(limited, tmp_path / "ds"))
    # what a stopped build leaves: its state file, the shards it finished, no manifest
    (ds / "dataset.json").unlink()
    (ds / ".build-state.json").write_text("{}", encoding="utf-8")
    for command in ("info", "verify"):
        rc, _, err = _run(capsys, command, ds)
        assert rc == 1 and "unfinished build" in err, err
        assert err.rstrip().endswith("; it has 2 finished shards (in shards/) so far"), err


def test_the_shard_layout_the_docs_give_is_what_is_on_disk(tmp_path, limited):
    """docs/recipes.md did not say that the columns are Blosc-compressed (plain h5py fails
    with "can't open directory (/usr/local/lib/plugin)" without hdf5plugin), nor how the
    attributes, /index_json and the sample groups are stored."""
    text = " ".join((ROOT / "docs" / "recipes.md").read_text(encoding="utf-8").split())
    for claim in (
        "`import hdf5plugin`",
        "can't open directory (/usr/local/lib/plugin)",
        "`choices`, `meta` and `source` are attributes of JSON text",
        "`window_us` is an int64 array `[start, end]`",
        "no `t_offset` to add and no `ms_to_idx` index",
        '`{"records": [...], "errors": [...]}`',
        "the event columns with zstd level 5 and bitshuffle, the frame and `/index_json` with "
        "zstd level 1 and no shuffle",
        "stored without chunks or compression",
    ):
        assert claim in text, claim

    import hdf5plugin  # noqa: F401 (the Blosc filter)

    lines = [json.loads(x) for x in (limited / "samples.jsonl").read_text().splitlines()]
    second = next(r for r in lines if r["shard"] == "shards/test-00001.h5")
    assert second["group"] == "samples/00000"  # a position in the shard, not in the split
    blosc = "32001"
    with h5py.File(limited / second["shard"], "r") as f:
        g = f[second["group"]]
        assert json.loads(g.attrs["choices"]) == second["choices"]
        assert json.loads(g.attrs["meta"])["seed"] == second["meta"]["seed"]
        assert isinstance(json.loads(g.attrs["source"]), dict)
        assert g.attrs["window_us"].dtype == np.int64
        assert g.attrs["window_us"].tolist() == second["window_us"]
        assert "t_offset" not in f and "ms_to_idx" not in f and "t_offset" not in g["events"]
        t = g["events/t"][:]
        assert t.min() >= second["window_us"][0] and t.max() <= second["window_us"][1]
        for column in "xytp":
            d = g["events"][column]
            assert d.chunks == d.shape and d._filters[blosc][4:] == (
                5,
                2,
                5,
            )  # level, bitshuffle, zstd
        for d in (g["frame"], f["index_json"]):
            assert d.chunks == d.shape and d._filters[blosc][4:] == (1, 0, 5)
        index = json.loads(f["index_json"][()].tobytes())
        assert f["index_json"].dtype == np.uint8 and set(index) == {"records", "errors"}


def test_the_repair_command_of_a_path_a_shell_quotes_is_one_command(tmp_path, capsys, limited):
    """verify printed 'eventsim build '/a b/dataset.json' -o '/a b'': the quoted paths inside
    the message's own quotes did not read as one command. It ends the line, unquoted."""
    ds = Path(shutil.copytree(limited, tmp_path / "a b é" / "d s"))
    (ds / "shards" / "test-00000.h5").unlink()
    rc, out, _ = _run(capsys, "verify", ds, "--no-progress")
    assert rc == 1
    last = out.splitlines()[-1]
    command = f"eventsim build {shlex.quote(str(ds / 'dataset.json'))} -o {shlex.quote(str(ds))}"
    assert last.endswith(f": {command} --limit 4"), out
    argv = _repair_command(out)
    assert argv == ["build", str(ds / "dataset.json"), "-o", str(ds), "--limit", "4"], out
    rc, out, err = _run(capsys, *argv, "--no-progress", "--no-preview")
    assert rc == 0 and "1 built, 1 reused" in out, err

    # the folder refused as a recipe points to its manifest in the same words
    rc, _, err = _run(capsys, "build", ds, "-o", tmp_path / "other", "--no-progress")
    assert rc == 1, err
    assert err.rstrip().endswith(f": eventsim build {shlex.quote(str(ds / 'dataset.json'))} -o DIR")


@pytest.mark.parametrize(
    ("was", "takes_the_manifest"), [("0.2.7", False), ("0.1.0", False), ("9.0.0", True)]
)
def test_repair_under_another_version_says_whether_it_builds_a_manifest(
    tmp_path, capsys, limited, was, takes_the_manifest
):
    """verify told the eventsim that built the dataset to build its dataset.json, which no
    eventsim up to 0.2.8 takes as the recipe ("expected a .toml file")."""
    ds = Path(shutil.copytree(limited, tmp_path / "ds"))
    manifest = json.loads((ds / "dataset.json").read_text(encoding="utf-8"))
    manifest["versions"]["eventsim"] = was
    (ds / "dataset.json").write_text(json.dumps(manifest), encoding="utf-8")
    (ds / "shards" / "test-00001.h5").unlink()
    last = _run(capsys, "verify", ds, "--no-progress")[1].splitlines()[-1]
    assert f"install eventsim {was} and rerun the build that made it" in last, last
    assert last.endswith(f"-o {ds} --limit 4 --force"), last
    if takes_the_manifest:
        assert "(the command that ends this line, without --force)" in last, last
    else:
        assert "'eventsim build RECIPE -o DIR' with the --set values and the --limit 4" in last
        assert f"eventsim {was} takes no dataset.json as the recipe" in last, last


def test_a_json_recipe_is_refused_in_words_that_fit_build(tmp_path, capsys, limited):
    """Another .json as the recipe was told "pass the folder that holds dataset.json", which
    build refuses; a --set value's error was blamed on "its recipe copy"; an edited copy's
    error said "its recipe copy: recipe: ..."."""
    other = tmp_path / "settings.json"
    other.write_text("{}", encoding="utf-8")
    rc, _, err = _run(capsys, "build", other, "-o", tmp_path / "o", "--no-progress")
    assert rc == 1 and "is a JSON file, not a dataset's dataset.json" in err, err
    assert "pass the folder" not in err, err

    manifest = limited / "dataset.json"
    rc, _, err = _run(capsys, "build", manifest, "-o", tmp_path / "o", "--set", "seed=abc")
    assert rc == 1 and "--set seed=abc; expected an integer" in err, err
    assert "recipe copy" not in err, err

    ds = Path(shutil.copytree(limited, tmp_path / "ds"))
    m = json.loads((ds / "dataset.json").read_text(encoding="utf-8"))
    m["recipe"]["events"]["window_ms"] = -1
    (ds / "dataset.json").write_text(json.dumps(m), encoding="utf-8")
    rc, _, err = _run(capsys, "build", ds / "dataset.json", "-o", tmp_path / "o")
    assert rc == 1, err
    said = f"{str(ds / 'dataset.json')!r}: its recipe copy: events.window_ms = -1; expected"
    assert said in err, err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("how", [["--force"], []], ids=["force", "extend"])
def test_a_build_from_dataset_json_stopped_after_removing_it_resumes(
    tmp_path, capsys, monkeypatch, limited, how
):
    """A build from DIR/dataset.json that replaces (--force, as verify says under another
    eventsim) or extends (no --limit) the dataset removes its dataset.json before it finishes;
    stopped then, "rerun the same command" was "recipe '.../dataset.json' not found"."""
    import eventsim.datasets.engine as engine

    ds = Path(shutil.copytree(limited, tmp_path / "ds"))
    # one worker: the stand-in for run_shard is a local function, which a pool cannot pickle
    # (an idle machine's build starts one)
    argv = ["build", ds / "dataset.json", "-o", ds, *how, "--no-progress", "--no-preview"]
    argv += ["--workers", "1"]
    real = engine.run_shard

    def stop(task, *args, **kwargs):
        if task.shard >= 2:
            raise KeyboardInterrupt
        return real(task, *args, **kwargs)

    monkeypatch.setattr(engine, "run_shard", stop)
    rc, _, err = _run(capsys, *argv)
    monkeypatch.undo()
    assert rc != 0 and "rerun the same command" in err, err
    assert not (ds / "dataset.json").exists()

    # as it says: without --force, which would start again
    rc, out, err = _run(capsys, *(a for a in argv if a != "--force"))
    assert rc == 0, err
    assert "the recipe copy its state file records" in err, err
    assert "shards: 1 built, 2 reused" in out, out
    manifest = json.loads((ds / "dataset.json").read_text(encoding="utf-8"))
    before = json.loads((limited / "dataset.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["samples"] == 6 and manifest["recipe"] == before["recipe"]
    assert _run(capsys, "verify", ds, "--no-progress")[0] == 0
