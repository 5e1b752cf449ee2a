"""Review 5 of epvlm: a resumable `epvlm eval` whose partial-state.json was lost or damaged
resumes when its kept answers prove they are the same run's, and the audit's findings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import epvlm.evaluate
from epvlm.cli import main
from epvlm.results import PARTIAL_ANSWERS, PARTIAL_STATE

N_SAMPLES = 4
BATCH = 2
ANSWERS = 2 * N_SAMPLES  # dense and event@0.5
STEPS = 2 * 2  # two batches x two configurations


@pytest.fixture(scope="module")
def built(tmp_path_factory, eval_setup):
    return eval_setup(tmp_path_factory.mktemp("epvlm-review5"), N_SAMPLES)


def _argv(model: Path, ds: Path, out: Path, *extra: str) -> list[str]:
    return ["eval", "--model", str(model), "--dataset", str(ds), "--keep", "0.5",
            "--selector", "event", "--batch-size", str(BATCH), "--no-progress",
            "-o", str(out), *extra]  # fmt: skip


@pytest.fixture(scope="module")
def reference(built) -> Path:
    """An uninterrupted run's output folder."""
    root, ds, model, _ = built
    out = root / "reference"
    assert main(_argv(model, ds, out)) == 0
    return out


class Calls:
    """Counts `answer_selections` calls; the call after ``stop_after`` raises Ctrl-C."""

    def __init__(self, monkeypatch, stop_after: int | None = None):
        self.count = 0
        self.stop_after = stop_after
        self._answer = epvlm.evaluate.answer_selections
        monkeypatch.setattr(epvlm.evaluate, "answer_selections", self)

    def __call__(self, *args, **kwargs):
        if self.stop_after is not None and self.count == self.stop_after:
            raise KeyboardInterrupt
        self.count += 1
        return self._answer(*args, **kwargs)


def _run(capsys, argv: list[str]) -> tuple[int, list[str]]:
    rc = main(argv)
    # the tiny random model's answers seldom name an option, which eval warns of in a line
    # these tests are not about
    lines = capsys.readouterr().err.splitlines()
    return rc, [ln for ln in lines if ln.strip() and "scored wrong; e.g." not in ln]


def _interrupted(monkeypatch, capsys, argv: list[str], steps: int) -> None:
    Calls(monkeypatch, stop_after=steps)
    rc, err = _run(capsys, argv)
    monkeypatch.undo()
    assert rc == 130, err


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def _without_latency(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "latency_s"} for r in records]


def _results(out: Path) -> tuple[list[dict], list[dict]]:
    rows = json.loads((out / "results.json").read_text())
    samples = [json.loads(ln) for ln in (out / "samples.jsonl").read_text().splitlines()]
    return _without_latency(rows), _without_latency(samples)


def _damage_state(out: Path, how: str) -> None:
    path = out / PARTIAL_STATE
    if how == "gone":
        path.unlink()
    elif how == "cut short":
        path.write_text(path.read_text()[:40])
    else:
        path.write_text("")


# ------------------------------------------------------------ a lost or damaged partial state


@pytest.mark.parametrize("how", ["gone", "cut short", "empty"])
def test_a_damaged_state_is_rebuilt_from_answers_that_carry_this_runs_settings(
    built, reference, tmp_path, capsys, monkeypatch, how
):
    """It was refused, and the only ways out (--force, deleting the files) threw the finished
    answers away; each answer line now records its run's settings digest, which proves them."""
    _, ds, model, _ = built
    out = tmp_path / "out"
    argv = _argv(model, ds, out)
    _interrupted(monkeypatch, capsys, argv, steps=3)
    _damage_state(out, how)
    calls = Calls(monkeypatch)
    rc, err = _run(capsys, argv)
    assert rc == 0, err
    assert len(err) == 2, err
    assert err[0].startswith(f"epvlm eval: note: {str(out / PARTIAL_STATE)!r} ")
    assert err[0].endswith("rewritten from this run's settings, which every kept answer records")
    assert err[1].startswith(f"resuming: 6 of {ANSWERS} answers done")
    assert calls.count == STEPS - 3
    assert _results(out) == _results(reference)
    assert not (out / PARTIAL_STATE).exists() and not (out / PARTIAL_ANSWERS).exists()


def test_a_rebuilt_state_survives_a_second_interrupt(
    built, reference, tmp_path, capsys, monkeypatch
):
    _, ds, model, _ = built
    out = tmp_path / "out"
    argv = _argv(model, ds, out)
    _interrupted(monkeypatch, capsys, argv, steps=1)
    _damage_state(out, "gone")
    Calls(monkeypatch, stop_after=1)
    rc, err = _run(capsys, argv)
    monkeypatch.undo()
    assert rc == 130 and "note:" in err[0], err
    assert json.loads((out / PARTIAL_STATE).read_text())["format"] == "epvlm-eval-partial"
    rc, err = _run(capsys, argv)
    assert rc == 0 and err == [f"resuming: 4 of {ANSWERS} answers done "
                               f"({str(out / PARTIAL_ANSWERS)!r})"], err  # fmt: skip
    assert _results(out) == _results(reference)


def test_a_damaged_state_with_other_settings_stays_refused(built, tmp_path, capsys, monkeypatch):
    """The digest is of every setting: answers of another seed, batch size or model cannot be
    taken for this run's."""
    _, ds, model, _ = built
    out = tmp_path / "out"
    _interrupted(monkeypatch, capsys, _argv(model, ds, out), steps=2)
    _damage_state(out, "cut short")
    before = _snapshot(out)
    for extra in (["--seed", "1"], ["--window-ms", "10"], ["--limit", "3"]):
        rc, err = _run(capsys, _argv(model, ds, out, *extra))
        assert rc == 1 and len(err) == 1, err
        assert f"{str(out / PARTIAL_STATE)!r} is cut short" in err[0]
        assert "the kept answers do not show that they were made with this run's" in err[0]
        assert err[0].endswith("partial-answers.jsonl there")
        assert _snapshot(out) == before


def test_answers_without_a_digest_do_not_rebuild_a_state(built, tmp_path, capsys, monkeypatch):
    """Lines written before the digest was recorded (or edited to drop it) prove nothing."""
    _, ds, model, _ = built
    out = tmp_path / "out"
    argv = _argv(model, ds, out)
    _interrupted(monkeypatch, capsys, argv, steps=2)
    path = out / PARTIAL_ANSWERS
    lines = [json.loads(ln) for ln in path.read_text().splitlines()]
    del lines[1]["state"]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    _damage_state(out, "gone")
    before = _snapshot(out)
    rc, err = _run(capsys, argv)
    assert rc == 1 and "is not there" in err[0], err
    assert _snapshot(out) == before


def test_old_lines_without_a_digest_resume_with_a_sound_state(
    built, reference, tmp_path, capsys, monkeypatch
):
    _, ds, model, _ = built
    out = tmp_path / "out"
    argv = _argv(model, ds, out)
    _interrupted(monkeypatch, capsys, argv, steps=2)
    path = out / PARTIAL_ANSWERS
    lines = [json.loads(ln) for ln in path.read_text().splitlines()]
    path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "state"}) + "\n"
                            for r in lines))  # fmt: skip
    rc, err = _run(capsys, argv)
    assert rc == 0 and err[0].startswith(f"resuming: 4 of {ANSWERS}"), err
    assert _results(out) == _results(reference)


def test_a_line_of_another_run_is_refused_under_a_sound_state(built, tmp_path, capsys, monkeypatch):
    """A partial-state.json copied in from another folder no longer vouches for answers that
    record other settings."""
    _, ds, model, _ = built
    out = tmp_path / "out"
    _interrupted(monkeypatch, capsys, _argv(model, ds, out), steps=2)
    path = out / PARTIAL_ANSWERS
    lines = [json.loads(ln) for ln in path.read_text().splitlines()]
    lines[1]["state"] = "0" * 64
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    rc, err = _run(capsys, _argv(model, ds, out))
    assert rc == 1 and len(err) == 1, err
    assert "line 2 holds answers this evaluation does not ask for" in err[0]


def test_a_torn_last_line_does_not_stop_a_rebuild(built, reference, tmp_path, capsys, monkeypatch):
    _, ds, model, _ = built
    out = tmp_path / "out"
    argv = _argv(model, ds, out)
    _interrupted(monkeypatch, capsys, argv, steps=3)
    path = out / PARTIAL_ANSWERS
    text = path.read_text()
    last = text.rstrip("\n").rsplit("\n", 1)[1]
    path.write_text(text[: len(text) - len(last) // 2 - 1])  # the last line torn
    _damage_state(out, "empty")
    rc, err = _run(capsys, argv)
    assert rc == 0 and "note:" in err[0], err
    assert err[1].startswith(f"resuming: 4 of {ANSWERS}"), err
    assert _results(out) == _results(reference)


# ------------------------------------------------- downsample under a larger min_pixels


def _with_min_tokens(model: Path, dest: Path, tokens: int) -> Path:
    """A copy of the checkpoint whose processor never makes fewer than ``tokens`` tokens (as
    checkpoints configured with min_pixels = 256 * 28 * 28 do)."""
    import shutil

    shutil.copytree(model, dest)
    path = dest / "processor_config.json"
    config = json.loads(path.read_text())
    config["image_processor"]["size"]["shortest_edge"] = tokens * 28 * 28
    path.write_text(json.dumps(config))
    return dest


def test_downsample_stays_at_or_above_the_processors_min_pixels(built, tmp_path):
    """Downsampling 16 tokens to 4 made a 56x56 image that a processor with min_pixels of 9
    tokens resized back up: the mask no longer fitted and the run stopped (KeepMaskError)."""
    import numpy as np

    from epvlm.evaluate import make_selection
    from epvlm.processing import encode_batch, grid_for_size, load_processor

    _, _, model, samples = built
    proc = load_processor(_with_min_tokens(model, tmp_path / "m", 9))
    sample = samples[0]
    for keep in (0.25, 0.5, 0.75):
        sel = make_selection(proc, sample, "downsample", keep)
        rows, cols = sel.mask.shape
        assert rows * cols >= 9
        assert grid_for_size(proc, *sel.image.shape[:2]) == (rows, cols)
        assert sel.kept_tokens == max(1, round(keep * 16))
        encode_batch(proc, [sel.image], ["what?"], [[]], keep_masks=[sel.mask])
    assert np.array_equal(sel.image.shape[:2], (rows * 28, cols * 28))


def test_run_and_eval_downsample_with_a_larger_min_pixels(built, tmp_path, capsys):
    import cv2

    _, ds, model, samples = built
    big = _with_min_tokens(model, tmp_path / "m", 9)
    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), cv2.cvtColor(samples[0]["image"], cv2.COLOR_RGB2BGR))
    argv = ["run", "--model", str(big), "--image", str(image), "--question", "what?",
            "--selector", "downsample", "--keep", "0.25"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    assert "tokens: 4 of 16 image tokens kept (downsample, keep 0.25)" in capsys.readouterr().out
    out = tmp_path / "out"
    rc, err = _run(capsys, ["eval", "--model", str(big), "--dataset", str(ds), "--keep", "0.25",
                            "--selector", "downsample", "--no-progress", "-o", str(out)])  # fmt: skip
    assert rc == 0, err
    rows = json.loads((out / "results.json").read_text())
    assert [r["kept_tokens"] for r in rows] == [16, 4]


# ------------------------------------------------------------------ more than 26 options


@pytest.fixture(scope="module")
def many_choices(tmp_path_factory):
    """A two-question image split whose first question has 30 options, and a tiny model. The
    build now refuses such a record: the dataset is built as an eventsim without that check did."""
    import cv2
    import numpy as np

    from epvlm.processing import vocab_from_texts
    from epvlm.tiny import save_tiny_checkpoint
    from eventsim.cli import main as eventsim_main
    from eventsim.datasets import sources

    root = tmp_path_factory.mktemp("many-choices")
    cv2.imwrite(
        str(root / "a.png"), np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)
    )
    options = [f"o{i}" for i in range(30)]
    records = [
        {"image": "a.png", "question": "which?", "choices": options, "answer": "o29"},
        {"image": "a.png", "question": "which?", "choices": options[:3], "answer": "o1"},
    ]
    (root / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    recipe = Path(__file__).parents[1] / "datasets" / "image-vqa.example.toml"
    sets = [f"splits.test={root / 'test.jsonl'}", "camera.width=56", "camera.height=56"]
    argv = ["build", str(recipe), "-o", str(root / "ds"), "--no-progress"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sources, "MAX_CHOICES", 1000)
        assert eventsim_main([*argv, *(w for s in sets for w in ("--set", s))]) == 0
    model = save_tiny_checkpoint(root / "model", vocab_from_texts(["which?", *options]))
    return root / "ds", model, root / "a.png"


def test_eval_refuses_more_than_26_choices_before_the_model_loads(
    many_choices, tmp_path, capsys, monkeypatch
):
    """The first answer naming option 27 or later stopped the run with 'internal error:
    ValueError: option index 29 is outside 0..25' (and a chat prompt could not be built)."""
    ds, model, _ = many_choices

    def no_load(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(epvlm.evaluate, "load_model", no_load)
    out = tmp_path / "out"
    rc, err = _run(capsys, ["eval", "--model", str(model), "--dataset", str(ds), "--no-progress",
                            "-o", str(out)])  # fmt: skip
    assert rc == 1 and len(err) == 1, err
    assert err[0] == (
        "epvlm eval: error: sample 'test-000000' has 30 choices; at most 26 (A to Z) can be "
        "asked and scored"
    )
    assert not out.exists()


def test_run_refuses_more_than_26_choices_as_a_usage_error(many_choices, capsys):
    _, model, image = many_choices
    options = ",".join(f"o{i}" for i in range(27))
    rc = main(["run", "--model", str(model), "--image", str(image), "--question", "which?",
               "--selector", "center", "--choices", options])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "27 options given; at most 26 (A to Z) can be asked and scored" in err
    options = json.dumps([f"o{i}" for i in range(26)])
    assert main(["run", "--model", str(model), "--image", str(image), "--question", "which?",
                 "--selector", "center", "--choices", options]) == 0  # fmt: skip


# ------------------------------------------------ the demo pictures the evaluation's blocks


def test_demo_coverage_and_preview_show_the_random_blocks_the_answers_were_given(
    build_shapes, tmp_path, capsys, monkeypatch
):
    """The target-coverage table and the preview strip drew random blocks of their own (a
    fresh generator; seed 0), so the report explained and pictured the `random` answers with
    blocks those answers never saw (at τ = 0.75 it said most moving targets were dropped
    while random answered every one of them right)."""
    import numpy as np

    ds = build_shapes(4)
    masks: dict[tuple[str, float], list[np.ndarray]] = {}
    select = epvlm.evaluate.make_selection

    def spy(proc, sample, selector, keep, **kwargs):
        sel = select(proc, sample, selector, keep, **kwargs)
        if selector == "random":
            masks.setdefault((sample["id"], float(keep)), []).append(sel.mask.copy())
        return sel

    monkeypatch.setattr(epvlm.evaluate, "make_selection", spy)
    argv = ["demo", "-o", str(tmp_path / "demo"), "--dataset", str(ds), "--limit", "4",
            "--no-progress"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    # each (question, keep): the evaluation's draw, then the coverage's (questions about a
    # target) and the preview's (each scenario's first, at 0.5)
    assert len(masks) == 4 * 3
    assert any(len(drawn) == 3 for drawn in masks.values())
    assert sum(len(drawn) > 1 for drawn in masks.values()) >= 6
    for drawn in masks.values():
        assert all(np.array_equal(drawn[0], m) for m in drawn[1:])


# ----------------------------------------------- plain-format budget of open questions


def test_an_open_question_among_choice_questions_keeps_the_open_budget():
    """One budget serves a whole split; with any multiple-choice question in it, an open
    question's answer was cut at the longest option's length (2 tokens here)."""
    from epvlm.evaluate import PLAIN_OPEN_MAX_NEW_TOKENS, plain_answer_budget
    from epvlm.processing import build_offline_processor

    proc = build_offline_processor(["red blue dark green"])
    assert plain_answer_budget(proc, [["red", "blue"]]) == 2  # the word and <|im_end|>
    assert plain_answer_budget(proc, [["dark green"]]) == 3
    assert plain_answer_budget(proc, [[]]) == PLAIN_OPEN_MAX_NEW_TOKENS == 16
    assert plain_answer_budget(proc, [["red", "blue"], []]) == 16
    assert plain_answer_budget(proc, []) == 16


# ------------------------------------------------------- a file where the folder should be


@pytest.mark.parametrize("sub", ["", "sub"])
def test_eval_into_a_file_says_a_file_is_in_the_way(built, tmp_path, capsys, sub):
    """It said "cannot create the lock file ... (File exists)", naming no file and suggesting
    a permission problem."""
    _, ds, model, _ = built
    blocker = tmp_path / "results"
    blocker.write_text("mine")
    out = blocker / sub if sub else blocker
    rc, err = _run(capsys, _argv(model, ds, out))
    assert rc == 1 and len(err) == 1, err
    assert err[0].startswith(f"epvlm eval: error: results folder {str(out)!r} cannot be created (")
    assert ("a file is in the way" if not sub else "a part of the path is a file") in err[0]
    assert err[0].endswith("pick another output folder")
    assert blocker.read_text() == "mine"


def test_eval_refuses_a_zero_budget_before_the_model_loads(built, tmp_path, capsys, monkeypatch):
    _, ds, model, _ = built

    def no_load(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(epvlm.evaluate, "load_model", no_load)
    out = tmp_path / "out"
    rc, err = _run(capsys, _argv(model, ds, out, "--max-new-tokens", "0"))
    # a usage error naming the option, as --keep's
    assert rc == 2 and err == ["epvlm eval: error: argument --max-new-tokens: 0 must be >= 1"], err
    assert not out.exists()


# ------------------------------------------------------------------- keep fractions in tables


def test_table_keeps_fractions_that_two_decimals_would_merge():
    """`--keep 0.125,0.12` gave two rows both labelled 0.12 (0.125 rounds to 0.12)."""
    from epvlm.results import aggregate, fmt_keep, results_table

    samples = [
        {"id": str(i), "selector": sel, "keep": keep, "correct": i % 2 == 0, "flops": 10.0,
         "latency_s": 0.1, "kept_tokens": 4, "total_tokens": 16,
         "fallback": "center" if sel == "event" and i == 0 else None}
        for sel, keep in (("dense", 1.0), ("event", 0.125), ("event", 0.12), ("event", 0.5))
        for i in range(4)
    ]  # fmt: skip
    rows = aggregate(samples, bootstrap=False)
    table = results_table(rows)
    keeps = [line.split(" | ")[1] for line in table.splitlines()[2:6]]
    assert keeps == ["1", "0.5", "0.125", "0.12"]
    assert "Note: event at keep 0.125: 1 of 4 answers" in table
    assert [fmt_keep(k) for k in (0.75, 1 / 3, 0.0625)] == ["0.75", "0.333", "0.0625"]


# --------------------------------------------- keep-all equals stock on extreme aspect ratios


@pytest.mark.parametrize("model_type", ["qwen2_vl", "qwen2_5_vl"])
def test_keep_all_equals_stock_on_one_token_high_and_wide_images(model_type):
    """1 x 29 and 29 x 1 token grids (Qwen2.5-VL: windows cut to one token across) and a
    sub-token image, batched with an ordinary one: logits and greedy tokens are the stock
    model's, bit for bit."""
    import numpy as np
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration, Qwen2VLForConditionalGeneration

    from epvlm.processing import build_offline_processor, encode_batch
    from epvlm.tiny import tiny_config, tiny_model

    stock_class = {
        "qwen2_vl": Qwen2VLForConditionalGeneration,
        "qwen2_5_vl": Qwen2_5_VLForConditionalGeneration,
    }[model_type]
    proc = build_offline_processor(["what shape square cross"])
    model = tiny_model(tiny_config(proc, model_type=model_type), seed=0)
    stock = stock_class(model.config).eval()
    stock.load_state_dict(model.state_dict())
    rng = np.random.default_rng(0)
    for hw in [(10, 2000), (2000, 10), (3, 5)]:
        images = [
            rng.integers(0, 256, (*hw, 3), np.uint8),
            rng.integers(0, 256, (84, 140, 3), np.uint8),
        ]
        batch = encode_batch(proc, images, ["what shape?"] * 2, [["square", "cross"]] * 2)
        dense = {k: v for k, v in batch.items() if k != "image_keep_mask"}
        with torch.no_grad():
            assert torch.equal(stock(**dense).logits, model(**batch).logits), hw
            ref = stock.generate(**dense, max_new_tokens=3, do_sample=False)
            assert torch.equal(ref, model.generate(**batch, max_new_tokens=3, do_sample=False))


# ------------------------------------------------------------ a PyTorch .bin checkpoint


def test_a_pickled_checkpoint_runs(built, tmp_path, capsys):
    """It said only that model.safetensors was missing, beside a pytorch_model.bin; then it
    refused the file. It is read as transformers reads it (torch.load, weights_only=True):
    tests/test_loading_round9.py compares every tensor."""
    import shutil

    import cv2
    import torch
    from safetensors.torch import load_file

    _, _, model, samples = built
    folder = tmp_path / "bin"
    shutil.copytree(model, folder)
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), samples[0]["image"])
    rc = main(["run", "--model", str(folder), "--image", str(image), "--question", "what?",
               "--selector", "center"])  # fmt: skip
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert captured.out.strip()


# ------------------------------------------------------------ options that begin with an initial


@pytest.mark.parametrize(
    ("generation", "options", "expected"),
    [
        ("A. Lincoln", ["G. Washington", "A. Lincoln"], 1),
        ("B. Obama.", ["B. Obama", "G. Bush"], 0),
        ("b. obama", ["G. Bush", "B. Obama"], 1),
        ("B. red", ["red", "blue"], 1),  # a letter with its text still counts
        ("A", ["G. Washington", "A. Lincoln"], 0),  # a letter alone is a letter
    ],
)
def test_an_answer_equal_to_an_option_that_starts_with_an_initial_is_that_option(
    generation, options, expected
):
    """'A. Lincoln' was read as option A's letter, scoring the answer as the other option."""
    from epvlm.answers import parse_choice, score_answer

    assert parse_choice(generation, options) == expected
    assert score_answer(generation, options[expected], options).correct
