"""Round-11 review leftovers:

1. ``epvlm eval -o D/shards`` (D a built dataset) wrote its results among the dataset's
   shards; an output folder inside a dataset, at any depth, is refused naming the dataset,
   as the dataset's own folder is.
2. ``eventsim verify D/samples.jsonl`` advised ``eventsim info --check D/samples.jsonl``, which
   cannot read it; a file of a dataset is answered with the verify of the dataset it is in.
3. ``epvlm eval --keep 50%`` said "keep list '50%' is not comma-separated numbers"; a
   percentage in the list gets flops' and run's hint, "0.5 for 50%".
4. The words for a split without samples are one function's, said by ``epvlm eval`` before
   torch loads and by ``evaluate_dataset``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import build_eval_dataset

from epvlm.cli import main as epvlm_main
from eventsim.cli.verify import main as verify_main
from eventsim.errors import ParameterError

TINY = Path(__file__).resolve().parents[1] / "epvlm" / "assets" / "shapes-demo-tiny"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return build_eval_dataset(tmp_path_factory.mktemp("leftovers11"), 3)


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# ------------------------------------------------------------- 1. an output folder in a dataset


def test_eval_refuses_an_output_folder_inside_the_dataset(dataset, capsys):
    before = _listing(dataset)
    for out in (dataset / "shards", dataset / "shards" / "new", dataset / "results"):
        for force in ([], ["--force"]):
            argv = ["eval", "--model", TINY, "--dataset", dataset, "-o", out, *force]
            rc = epvlm_main([str(a) for a in argv])
            err = capsys.readouterr().err.strip()
            assert rc == 1
            assert err == (
                f"epvlm eval: error: output folder {str(out)!r} is inside the dataset "
                f"{str(dataset)!r}; the results would be written among its files; pick "
                "another output folder"
            )
    demo = dataset / "shards" / "demo"
    assert epvlm_main(["demo", "-o", str(demo), "--no-progress"]) == 1
    said = f"output folder {str(demo)!r} is inside the dataset {str(dataset)!r};"
    assert said in capsys.readouterr().err
    assert _listing(dataset) == before


def test_the_dataset_is_named_as_the_output_folder_spells_it(dataset, monkeypatch):
    from epvlm.results import check_results_folder

    monkeypatch.chdir(dataset.parent)
    with pytest.raises(ParameterError) as exc:
        check_results_folder(Path(dataset.name) / "shards" / "a" / "b", None, force=True)
    assert f"is inside the dataset {dataset.name!r};" in str(exc.value)
    # through a link the folder lies in the dataset too; it is named by its real path
    link = dataset.parent / "link-to-shards"
    link.symlink_to(dataset / "shards", target_is_directory=True)
    try:
        with pytest.raises(ParameterError) as exc:
            check_results_folder(link / "out", None, force=False)
        assert f"is inside the dataset {os.path.realpath(dataset)!r};" in str(exc.value)
    finally:
        link.unlink()


def test_a_folder_next_to_the_dataset_is_still_accepted(dataset):
    from epvlm.results import check_results_folder

    check_results_folder(dataset.parent / "results", dataset, force=False)
    check_results_folder(dataset / ".." / "results", dataset, force=False)


# ------------------------------------------------------------------ 2. verify of a dataset file


def test_verify_of_a_dataset_file_names_the_verify_of_its_dataset(dataset, capsys):
    shard = next((dataset / "shards").glob("*.h5"))
    for given in (dataset / "samples.jsonl", shard):
        assert verify_main([str(given), "--no-progress"]) == 1
        err = capsys.readouterr().err.strip()
        assert err == (
            f"eventsim verify: error: {str(given)!r} is a file, not a dataset folder; verify "
            f"the dataset it is in: eventsim verify {dataset}"
        )
        assert "info --check" not in err
    # the advice works
    assert verify_main([str(dataset), "--no-progress"]) == 0


def test_verify_of_a_file_outside_a_dataset_keeps_the_info_advice(tmp_path, capsys):
    lone = tmp_path / "events.h5"
    lone.write_bytes(b"")
    assert verify_main([str(lone), "--no-progress"]) == 1
    assert capsys.readouterr().err.rstrip().endswith(f"with: eventsim info --check {lone}")


# ----------------------------------------------------------------------- 3. eval --keep 50%


@pytest.mark.parametrize(
    ("given", "what", "hint"),
    [
        ("50%", "'50%'", "0.5 for 50%"),
        ("0.75,25%", "'25%' in '0.75,25%'", "0.25 for 25%"),
        ("0.75, 50% ,0.25", "'50%' in '0.75, 50% ,0.25'", "0.5 for 50%"),
    ],
)
def test_eval_keep_hints_at_the_fraction_of_a_percentage(capsys, given, what, hint):
    rc = epvlm_main(["eval", "--model", str(TINY), "--dataset", "d", "--keep", given])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"keep fraction {what} is not a number; expected a fraction in (0, 1], {hint}" in err
    assert "comma-separated" not in err


def test_eval_keep_of_words_still_says_it_is_no_list_of_numbers(capsys):
    rc = epvlm_main(["eval", "--model", str(TINY), "--dataset", "d", "--keep", "0.5,half"])
    assert rc == 2
    assert "keep list '0.5,half' is not comma-separated numbers" in capsys.readouterr().err


def test_flops_and_eval_say_a_percentage_alike(capsys):
    said = []
    for command in (["flops"], ["eval", "--model", str(TINY), "--dataset", "d"]):
        assert epvlm_main([*command, "--keep", "50%"]) == 2
        said.append(capsys.readouterr().err.strip().splitlines()[-1].split("error: ", 1)[1])
    assert said[0] == said[1]


# --------------------------------------------------------------- 4. one split-without-samples


def test_a_split_without_samples_is_refused_in_one_functions_words(dataset, monkeypatch):
    import epvlm.evaluate
    from epvlm.evaluate import empty_split_error

    splits = {"train": {"samples": 0}, "val": {"samples": 1200}, "test": {"samples": 3}}
    error = empty_split_error("train", "ds", splits)
    assert isinstance(error, ParameterError)
    assert str(error) == "split 'train' of 'ds' has no samples (val has 1,200; test has 3)"
    assert str(empty_split_error("x", "ds", {})) == "split 'x' of 'ds' has no samples"

    calls = []

    def spy(split, dataset_dir, splits):
        calls.append((split, str(dataset_dir)))
        return ParameterError("spied")

    monkeypatch.setattr(epvlm.evaluate, "empty_split_error", spy)
    from epvlm.cli import _check_dataset, build_eval_parser

    args = build_eval_parser().parse_args(
        ["--model", str(TINY), "--dataset", str(dataset), "--split", "val"]
    )
    with pytest.raises(ParameterError, match=r"^spied$"):
        _check_dataset(args)
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    with pytest.raises(ParameterError, match=r"^spied$"):
        epvlm.evaluate.evaluate_dataset(
            TINY, str(dataset), split="val", selectors=("dense",), keeps=(0.5,), progress=False
        )
    assert calls == [("val", str(dataset))] * 2
