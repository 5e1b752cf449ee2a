"""Last review findings: a sample repeated in two splits (a train/test leak) is warned of by
`eventsim verify` and `eventsim build`; the simulator's size and parameter bounds name what to
change."""

from pathlib import Path

import cv2
import pytest

from eventsim.cli.build import main as build_main
from eventsim.cli.simulate import main as simulate_main
from eventsim.cli.verify import main as verify_main
from eventsim.datasets import build_dataset, verify_dataset
from eventsim.errors import ParameterError
from eventsim.simulator.params import DVSParams

from user_media import textured, write_jsonl


def _two_splits(tmp_path: Path, train: list[dict], test: list[dict]) -> Path:
    for k in range(3):
        cv2.imwrite(str(tmp_path / f"im{k}.png"), textured(k))
    write_jsonl(tmp_path / "train.jsonl", train)
    write_jsonl(tmp_path / "test.jsonl", test)
    recipe = tmp_path / "qa.toml"
    recipe.write_text(
        '[dataset]\nname = "leak"\n[source]\nkind = "image"\n[camera]\nwidth = 64\nheight = 48\n'
        '[events]\nwindow_ms = 20\n[splits]\ntrain = "train.jsonl"\ntest = "test.jsonl"\n'
    )
    return recipe


def _qa(sid: str, image: str, question: str) -> dict:
    return {"id": sid, "image": image, "question": question, "answer": "a"}


def test_a_sample_in_two_splits_is_a_warning_not_a_failure(tmp_path, capsys):
    """Ids were checked within a split only: the same record in train and test passed verify
    without a word. Now it is one warning naming how many and the first; exit status 0."""
    recipe = _two_splits(
        tmp_path,
        [_qa("0", "im0.png", "Q0?"), _qa("1", "im1.png", "Q1?"), _qa("7", "im2.png", "Q7?")],
        [_qa("7", "im2.png", "Q7?"), _qa("1", "im1.png", "Q1?")],
    )
    out = tmp_path / "ds"
    assert build_main([str(recipe), "-o", str(out), "--no-preview", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "eventsim build: warning: 2 samples repeat another split's source record" in err
    report = verify_dataset(out)
    assert report.ok and report.problems == []
    assert report.warnings == [
        "2 samples repeat another split's source record (the same split-file id, question, "
        "options, answer and media: a train/test leak?); first id '7', in train as "
        "train-000002 and in test as test-000000"
    ]
    assert verify_main([str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("ok: 5 samples in")
    assert "\n  warning: 2 samples repeat another split's source record" in printed


def test_equal_ids_of_other_samples_in_two_splits_are_no_leak(tmp_path, capsys):
    """Each split numbered from 0, as many datasets are: the same ids hold other questions."""
    recipe = _two_splits(
        tmp_path,
        [_qa("0", "im0.png", "Q0?"), _qa("1", "im1.png", "Q1?")],
        [_qa("0", "im2.png", "Other?"), _qa("1", "im1.png", "Q1 again?")],
    )
    out = tmp_path / "ds"
    assert build_main([str(recipe), "-o", str(out), "--no-preview", "--no-progress"]) == 0
    assert "warning" not in capsys.readouterr().err
    report = verify_dataset(out)
    assert report.ok and report.warnings == []
    assert "warning" not in report.text()


def test_a_damaged_dataset_still_shows_the_leak_warning_after_its_problems(tmp_path):
    recipe = _two_splits(tmp_path, [_qa("0", "im0.png", "Q?")], [_qa("0", "im0.png", "Q?")])
    out = tmp_path / "ds"
    build_dataset(recipe, out, progress=False)
    (out / "errors.jsonl").unlink()
    text = verify_dataset(out).text()
    assert text.startswith("FAILED: 1 problem")
    assert text.splitlines()[-1].startswith("  warning: 1 sample repeats another split's")


def test_a_synthetic_clip_too_small_names_the_option(tmp_path, capsys):
    out = tmp_path / "x.h5"
    assert simulate_main(["--synthetic", "moving-shapes", "--sensor-size", "16x8", "-o", str(out)])
    err = capsys.readouterr().err
    assert "--sensor-size 16x8 is too small for --synthetic; expected at least 16x16" in err


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("log_eps", 1e30, r"log_eps = 1e\+30; expected at most 1 \(a fraction of 255 DN"),
        ("log_eps", 10.0, r"for an eps of N DN give N/255"),
        (
            "max_upsample_factor",
            10**30,
            r"max_upsample_factor = 10{30}; expected an integer from 1 to 1000000",
        ),
        ("max_upsample_factor", 1_000_001, r"expected an integer from 1 to 1000000"),
    ],
)
def test_log_eps_and_upsample_factor_have_upper_bounds(field, value, words):
    """log_eps = 1e30 gave no events and no error; a factor of 1e30 was taken as given."""
    if field == "max_upsample_factor":
        words = words.replace("10{30}", str(10**30))
    with pytest.raises(ParameterError, match=words):
        DVSParams(**{field: value})
    with pytest.raises(ParameterError, match=field):
        DVSParams().with_overrides({field: "1e30"})


def test_the_bounds_themselves_are_accepted():
    assert DVSParams(log_eps=1.0).log_eps == 1.0
    assert DVSParams(max_upsample_factor=1_000_000).max_upsample_factor == 1_000_000
