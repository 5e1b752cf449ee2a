"""Review of `eventsim build DIR/dataset.json` (the repair command verify prints): a recipe
given through a symbolic link, the commands info and verify name for a dataset's own files,
the loader's advice when the labels or the manifest are gone, and a multi-line description in
`eventsim info`."""

import json
import shlex
import shutil
from pathlib import Path

import pytest

from eventsim.cli import main as eventsim_main


def _run(capsys, *argv: object) -> tuple[int, str, str]:
    rc = eventsim_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _ending_command(text: str, after: str) -> list[str]:
    """The command that ends ``text`` after ``after``, as a shell splits it (eventsim left out)."""
    argv = shlex.split(text.rstrip().rsplit(after, 1)[1])
    assert argv[0] == "eventsim", text
    return argv[1:]


@pytest.fixture(scope="module")
def spaced(tmp_path_factory, shapes_recipe) -> Path:
    """A dataset in a folder whose name a shell quotes, built with a --limit and a multi-line
    description."""
    root = tmp_path_factory.mktemp("review339")
    recipe = shapes_recipe(root / "r.toml", test=6)
    out = root / "a b" / "d s"
    argv = ["build", recipe, "-o", out, "--limit", 4, "--no-progress", "--no-preview"]
    argv += ["--set", "description=Moving shapes.\nSecond line.\n\nAfter a blank line."]
    assert eventsim_main([str(a) for a in argv]) == 0
    return out


def test_a_dataset_built_through_a_symlinked_recipe_is_repaired_by_the_printed_command(
    tmp_path, capsys, monkeypatch
):
    """The manifest named the link's target as the recipe file, while the relative split file
    had been read from the link's folder: the repair command verify prints said "cannot read
    split file". A build from the dataset.json stopped after removing it resumed from its state
    with no recipe file, and wrote another manifest."""
    import cv2

    import eventsim.datasets.engine as engine

    from user_media import textured, write_jsonl

    data, real = tmp_path / "data", tmp_path / "recipes"
    (data / "img").mkdir(parents=True)
    real.mkdir()
    cv2.imwrite(str(data / "img" / "a.png"), textured(0))
    write_jsonl(data / "t.jsonl", [{"image": "img/a.png", "question": "Q?", "answer": "a"}] * 5)
    (real / "image.toml").write_text(
        '[dataset]\nname = "r339"\n[source]\nkind = "image"\n[camera]\nwidth = 64\nheight = 48\n'
        '[events]\nwindow_ms = 20\n[splits]\ntest = "t.jsonl"\n[build]\nshard_size = 2\n'
    )
    link = data / "image.toml"
    link.symlink_to(real / "image.toml")
    ds = tmp_path / "ds"
    assert _run(capsys, "build", link, "-o", ds, "--no-progress", "--no-preview")[0] == 0
    before = (ds / "dataset.json").read_bytes()
    assert json.loads(before)["recipe_file"] == str(data.resolve() / "image.toml")

    (ds / "shards" / "test-00001.h5").write_bytes(b"damaged")
    rc, out, _ = _run(capsys, "verify", ds, "--no-progress")
    assert rc == 1
    argv = _ending_command(out, " from the recipe copy in its dataset.json: ")
    rc, out, err = _run(capsys, *argv, "--no-progress", "--no-preview")
    assert rc == 0 and "1 built, 2 reused" in out, err
    assert _run(capsys, "verify", ds, "--no-progress")[0] == 0
    assert (ds / "dataset.json").read_bytes() == before

    # --force removes the dataset.json first; stopped then, the rerun resumes from the state
    real_run = engine.run_shard

    def stop(task, *args, **kwargs):
        if task.shard >= 1:
            raise KeyboardInterrupt
        return real_run(task, *args, **kwargs)

    monkeypatch.setattr(engine, "run_shard", stop)
    # one worker: a pool, which an idle machine's build starts, cannot pickle the stand-in
    stopped = (*argv, "--force", "--no-progress", "--no-preview", "--workers", "1")
    assert _run(capsys, *stopped)[0] != 0
    monkeypatch.undo()
    assert not (ds / "dataset.json").exists()
    rc, out, err = _run(capsys, *argv, "--no-progress", "--no-preview")
    assert rc == 0 and "the recipe copy its state file records" in err, err
    assert (ds / "dataset.json").read_bytes() == before
    assert _run(capsys, "verify", ds, "--no-progress")[0] == 0


@pytest.mark.parametrize("name", ["samples.jsonl", "errors.jsonl"])
def test_info_and_verify_of_a_dataset_file_end_with_one_command(capsys, spaced, name):
    """info quoted 'eventsim info {quoted}' around a shell-quoted path ('eventsim info '/a b/d
    s''), which is no command when copied; verify did the same."""
    rc, _, err = _run(capsys, "info", spaced / name)
    assert rc == 1
    assert _ending_command(err, "or describe it: ") == ["info", str(spaced)], err

    rc, _, err = _run(capsys, "verify", spaced / name, "--no-progress")
    assert rc == 1
    assert _ending_command(err, "verify the dataset it is in: ") == ["verify", str(spaced)], err


def test_verify_of_an_event_file_ends_with_one_info_command(tmp_path, capsys):
    lone = tmp_path / "my events.h5"
    lone.write_bytes(b"")
    rc, _, err = _run(capsys, "verify", lone, "--no-progress")
    assert rc == 1
    assert _ending_command(err, "check an event file with: ") == ["info", "--check", str(lone)]


def test_lost_labels_name_the_command_that_writes_them_again(tmp_path, capsys, spaced):
    """It said "rerun the 'eventsim build RECIPE -o DIR' that made this dataset", without the
    --limit it was built with; verify prints the loader's words."""
    from eventsim.datasets import EventVQADataset
    from eventsim.errors import DatasetError

    ds = Path(shutil.copytree(spaced, tmp_path / "c d" / "ds"))
    before = (ds / "samples.jsonl").read_bytes()
    (ds / "samples.jsonl").unlink()
    with pytest.raises(DatasetError) as err:
        EventVQADataset(ds)
    after = " from the recipe copy in its dataset.json: "
    argv = _ending_command(str(err.value), after)
    assert argv == ["build", str(ds / "dataset.json"), "-o", str(ds), "--limit", "4"], err.value
    rc, out, _ = _run(capsys, "verify", ds, "--no-progress")
    assert rc == 1 and _ending_command(out, after) == argv, out
    rc, out, err_text = _run(capsys, *argv, "--no-progress", "--no-preview")
    assert rc == 0 and "0 built, 2 reused" in out, err_text
    assert (ds / "samples.jsonl").read_bytes() == before


def test_lost_labels_of_another_eventsims_dataset_say_which_builds_it(tmp_path, spaced):
    from eventsim.datasets import EventVQADataset
    from eventsim.errors import DatasetError

    ds = Path(shutil.copytree(spaced, tmp_path / "ds"))
    manifest = json.loads((ds / "dataset.json").read_text(encoding="utf-8"))
    manifest["versions"]["eventsim"] = "0.2.7"
    (ds / "dataset.json").write_text(json.dumps(manifest), encoding="utf-8")
    (ds / "samples.jsonl").unlink()
    with pytest.raises(DatasetError) as err:
        EventVQADataset(ds)
    text = str(err.value)
    assert "install eventsim 0.2.7, which built it" in text, text
    assert "'eventsim build RECIPE -o DIR' with the --set values and the --limit 4" in text, text
    assert text.endswith(f"eventsim build {ds / 'dataset.json'} -o {ds} --limit 4 --force"), text


def test_shards_without_a_manifest_name_what_the_recipe_build_needs(tmp_path, spaced):
    """With no dataset.json to build from, the recipe's build reuses the shards only with the
    --set values it was built with; "rerun the build that made it" did not say so."""
    from eventsim.datasets import read_manifest
    from eventsim.errors import DatasetError

    ds = Path(shutil.copytree(spaced, tmp_path / "ds"))
    (ds / "dataset.json").write_text("{", encoding="utf-8")
    with pytest.raises(DatasetError, match="the --set values and --limit it was built with"):
        read_manifest(ds)
    (ds / "dataset.json").unlink()
    with pytest.raises(DatasetError, match="the --set values and --limit it was built with"):
        read_manifest(ds)


def test_info_indents_a_multi_line_description(capsys, spaced):
    """Its lines after the first were printed at the left margin, as if info's own."""
    rc, out, _ = _run(capsys, "info", spaced)
    assert rc == 0
    lines = out.splitlines()
    first = lines.index("  Moving shapes.")
    assert lines[first + 1 : first + 4] == ["    Second line.", "", "    After a blank line."]
    assert lines[first + 4].startswith("  source shapes"), out
