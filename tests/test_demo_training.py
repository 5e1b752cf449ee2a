"""tools/train_demo_model.py: a few steps on a tiny stream, deterministic batches, a loadable
checkpoint."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

TOOL = Path(__file__).resolve().parents[1] / "tools" / "train_demo_model.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("train_demo_model", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _args(tool, out: Path, *extra: str):
    return tool.parse_args(["-o", str(out), "--batch-size", "2", "--workers", "0", *extra])


def test_batches_are_deterministic_and_mix_in_sparse_samples(tool, tmp_path):
    args = _args(tool, tmp_path / "m", "--steps", "10", "--sparse-from", "0.5", "--drop-share", "1")
    cfg = tool.scene_config(args.recipe)
    from epvlm.processing import build_offline_processor

    proc = build_offline_processor(tool.task_vocabulary(cfg))
    stream = tool._Batches(proc, cfg, args)
    a, _ = stream.make(7)
    b, _ = stream.make(7)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert not torch.equal(stream.make(8)[0]["pixel_values"], a["pixel_values"])
    # dense before --sparse-from, every sample sparse after it (drop share 1)
    assert bool(stream.make(0)[0]["image_keep_mask"].all())
    kept = a["image_keep_mask"].view(2, -1).float().mean(1)
    assert all(k.item() in (0.75, 0.5, 0.25) for k in kept)
    # every answer is in the vocabulary: no <unk> in any label
    unk = proc.tokenizer.convert_tokens_to_ids("<unk>")
    assert not bool((a["labels"] == unk).any())


def test_vocabulary_covers_every_answer_and_question():
    """An answer word outside the vocabulary becomes <unk>: the model then learns to answer
    <unk>, and teacher-forced accuracy calls that correct."""
    spec = importlib.util.spec_from_file_location("train_demo_model_vocab", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    from epvlm.processing import build_offline_processor
    from eventsim.datasets import scenes

    base = tool.scene_config(tool.DEFAULT_RECIPE)
    for qtype in scenes.QUESTION_TYPES["target"]:
        cfg = base.replace(question_types=(qtype,))
        proc = build_offline_processor(tool.task_vocabulary(cfg))
        unk = proc.tokenizer.unk_token_id
        for seed in range(12):
            s = scenes.draw_sample(cfg, seed, render_frames=False)
            for text in (s.question, *s.choices):
                ids = proc.tokenizer(text)["input_ids"]
                assert unk not in ids, (qtype, text)


def test_training_runs_a_few_steps_and_saves_a_loadable_checkpoint(tool, tmp_path):
    out = tmp_path / "model"
    log = tmp_path / "train.log"
    rc = tool.main(
        [
            "-o", str(out), "--steps", "3", "--batch-size", "2", "--workers", "0",
            "--eval-samples", "4", "--eval-every", "3", "--checkpoint-every", "3",
            "--log", str(log), "--no-progress", "--threads", "1",
        ]
    )  # fmt: skip
    assert rc == 0
    info = json.loads((out / "training.json").read_text())
    assert info["steps"] == 3 and info["seed"] == 0 and info["parameters"] > 1_000_000
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    evals = [e for e in entries if "eval" in e]
    assert evals and 0.0 <= evals[-1]["eval"]["dense"]["accuracy"] <= 1.0
    assert entries[-1]["event"] == "end" and entries[-1]["steps"] == 3

    from epvlm.evaluate import answer_selections, load_model
    from epvlm.prior import select_blocks
    from eventsim.datasets.scenes import draw_sample

    model, proc = load_model(out)
    cfg = tool.scene_config(tool.DEFAULT_RECIPE)
    s = draw_sample(cfg, 5, render_frames=False)
    sel = select_blocks("dense", s.image, keep=1.0, grid=(8, 8))
    answers, counts, _ = answer_selections(model, proc, [sel], [s.question], [s.choices])
    assert len(answers) == 1 and counts[0]["image_tokens"] == 64
    # refuses to overwrite without --force
    assert tool.main(["-o", str(out), "--steps", "1", "--no-progress"]) == 1


def test_training_is_reproducible(tool, tmp_path):
    for name in ("a", "b"):
        log = tmp_path / f"{name}.log"
        rc = tool.main(
            [
                "-o", str(tmp_path / name), "--steps", "2", "--batch-size", "2", "--workers", "0",
                "--eval-samples", "2", "--eval-every", "100", "--checkpoint-every", "100",
                "--log", str(log), "--no-progress", "--threads", "1", "--seed", "3",
            ]
        )  # fmt: skip
        assert rc == 0
        assert '"end"' in log.read_text()
    from safetensors.numpy import load_file

    wa = load_file(tmp_path / "a" / "model.safetensors")
    wb = load_file(tmp_path / "b" / "model.safetensors")
    assert wa.keys() == wb.keys()
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert all(math.isfinite(float(v)) for v in wa["lm_head.weight"].ravel()[:10])


SMALL_MODEL = [
    "--vision-depth", "1", "--vision-dim", "32", "--vision-heads", "2", "--hidden-size", "64",
    "--num-layers", "1", "--num-heads", "4", "--intermediate-size", "128",
]  # fmt: skip


def test_loss_falls_and_weights_change_on_a_tiny_task(tool, tmp_path):
    out, log = tmp_path / "m", tmp_path / "train.log"
    argv = [
        "-o", str(out), "--steps", "100", "--batch-size", "4", "--workers", "0",
        "--lr", "3e-3", "--warmup", "10", "--eval-samples", "8", "--eval-every", "100",
        "--checkpoint-every", "100", "--log", str(log), "--no-progress", "--threads", "1",
        "--sparse-from", "1", *SMALL_MODEL,
    ]  # fmt: skip
    assert tool.main(argv) == 0
    losses = [json.loads(line)["loss"] for line in log.read_text().splitlines() if '"loss"' in line]
    assert len(losses) == 4
    # the first 25 steps start from chance over a 70-word vocabulary (~4 nats); by the last 25
    # the model at least answers with one of the offered choices and <|im_end|>
    assert losses[-1] < 0.6 * losses[0], losses

    from epvlm.modeling import EPQwen2VLForConditionalGeneration
    from epvlm.processing import build_offline_processor

    args = tool.parse_args(argv)
    proc = build_offline_processor(tool.task_vocabulary(tool.scene_config(args.recipe)))
    initial = tool.build_model(proc, tool.model_size(args), args.seed).state_dict()
    trained = EPQwen2VLForConditionalGeneration.from_pretrained(out).state_dict()
    assert trained.keys() == initial.keys()
    changed = [k for k in initial if not torch.equal(initial[k], trained[k])]
    for part in ("visual.patch_embed", "visual.merger", "language_model.layers.0", "lm_head"):
        assert any(part in k for k in changed), part
    assert not (out / tool.STATE_FILE).exists()  # a finished run keeps no optimizer state


def test_resume_continues_exactly(tool, tmp_path):
    common = [
        "--steps", "4", "--batch-size", "2", "--workers", "0", "--eval-samples", "2",
        "--eval-every", "100", "--checkpoint-every", "100", "--no-progress", "--threads", "1",
        "--sparse-from", "0.25", *SMALL_MODEL,
    ]  # fmt: skip
    assert tool.main(["-o", str(tmp_path / "straight"), *common]) == 0
    cut = tmp_path / "cut"
    # --max-minutes 0 stops after the first step, with a resumable checkpoint
    assert tool.main(["-o", str(cut), *common, "--max-minutes", "0"]) == 0
    assert json.loads((cut / "training.json").read_text())["steps"] == 1
    assert (cut / tool.STATE_FILE).exists()
    # other training settings are refused
    assert tool.main(["-o", str(cut), *common, "--lr", "1e-3", "--resume"]) == 1
    assert tool.main(["-o", str(cut), *common, "--resume", "--workers", "1"]) == 0
    info = json.loads((cut / "training.json").read_text())
    assert info["steps"] == 4 and info["resumed_at_steps"] == [1]
    assert not (cut / tool.STATE_FILE).exists()
    from safetensors.numpy import load_file

    a = load_file(tmp_path / "straight" / "model.safetensors")
    b = load_file(cut / "model.safetensors")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    # nothing to resume in a finished run
    assert tool.main(["-o", str(cut), *common, "--resume"]) == 1


def test_bad_device_is_refused(tool, tmp_path):
    with pytest.raises(SystemExit, match="device"):
        tool.main(["-o", str(tmp_path / "m"), "--device", "tpu9", "--no-progress"])


def test_init_from_copies_weights_and_matches_tokens(tool, tmp_path):
    from epvlm.processing import build_offline_processor

    args = tool.parse_args(["-o", str(tmp_path / "x"), *SMALL_MODEL])
    sizes = tool.model_size(args)
    old_proc = build_offline_processor(["what", "colour", "red", "blue"])
    old = tool.build_model(old_proc, sizes, seed=1)
    old.save_pretrained(tmp_path / "old")
    old_proc.save_pretrained(tmp_path / "old")
    proc = build_offline_processor(["what", "colour", "red", "blue", "dots"])
    model = tool.build_model(proc, sizes, seed=2)
    fresh_dots = model.lm_head.weight[proc.tokenizer.convert_tokens_to_ids("dots")].clone()
    counts = tool.init_from(model, proc, str(tmp_path / "old"))
    assert counts["new_tokens"] == 1 and counts["shared_tokens"] == len(old_proc.tokenizer)
    a, b = model.state_dict(), old.state_dict()
    for name in a:
        if "embed_tokens" in name or name.startswith("lm_head"):
            continue
        assert torch.equal(a[name], b[name]), name
    for word in ("red", "<|im_end|>"):
        new_id = proc.tokenizer.convert_tokens_to_ids(word)
        old_id = old_proc.tokenizer.convert_tokens_to_ids(word)
        assert torch.equal(model.lm_head.weight[new_id], old.lm_head.weight[old_id])
    # a word the old vocabulary lacks keeps its fresh initialisation
    assert torch.equal(
        model.lm_head.weight[proc.tokenizer.convert_tokens_to_ids("dots")], fresh_dots
    )
    other = tool.parse_args(["-o", str(tmp_path / "y"), *SMALL_MODEL, "--hidden-size", "32"])
    small = tool.build_model(proc, tool.model_size(other), seed=0)
    with pytest.raises(SystemExit, match="same model sizes"):
        tool.init_from(small, proc, str(tmp_path / "old"))


def test_reinit_keeps_the_fresh_patch_embedding(tool, tmp_path):
    from epvlm.processing import build_offline_processor

    args = tool.parse_args(["-o", str(tmp_path / "x"), *SMALL_MODEL])
    sizes = tool.model_size(args)
    proc = build_offline_processor(["what", "colour", "red", "blue"])
    old = tool.build_model(proc, sizes, seed=1)
    old.save_pretrained(tmp_path / "old")
    proc.save_pretrained(tmp_path / "old")
    model = tool.build_model(proc, sizes, seed=2)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    counts = tool.init_from(model, proc, str(tmp_path / "old"), ("visual.patch_embed",))
    assert counts["reinit_tensors"] == 1
    a, b = model.state_dict(), old.state_dict()
    for name in a:
        if "visual.patch_embed" in name:
            assert torch.equal(a[name], fresh[name]) and not torch.equal(a[name], b[name]), name
        else:
            assert torch.equal(a[name], b[name]), name
    with pytest.raises(SystemExit, match="matches no weight"):
        tool.init_from(model, proc, str(tmp_path / "old"), ("visual.no_such_layer",))
    # --reinit without a checkpoint to start from is refused before any training
    assert tool.main(["-o", str(tmp_path / "y"), "--reinit", "visual.patch_embed"]) == 1


def test_question_share_raises_the_pattern_share_on_the_same_scenes(tool, tmp_path):
    from epvlm.processing import build_offline_processor

    plain = _args(tool, tmp_path / "m")
    cfg = tool.scene_config(plain.recipe)
    proc = build_offline_processor(tool.task_vocabulary(cfg))
    steps = range(6)
    base = [tool._Batches(proc, cfg, plain).make(k) for k in steps]
    only = tool._Batches(proc, cfg, _args(tool, tmp_path / "m", "--question-share", "pattern=1"))
    mostly = tool._Batches(
        proc, cfg, _args(tool, tmp_path / "m", "--question-share", "pattern=0.75")
    )
    recipe_mix = tool._Batches(
        proc, cfg, _args(tool, tmp_path / "m", "--question-share", "pattern=0.5")
    )
    qtypes_mostly = []
    for k, (batch, qtypes) in zip(steps, base):
        forced, forced_types = only.make(k)
        assert forced_types == ["pattern"] * len(qtypes)
        # the same scenes, only the question differs
        assert torch.equal(forced["pixel_values"], batch["pixel_values"])
        qtypes_mostly += mostly.make(k)[1]
        same, same_types = recipe_mix.make(k)
        assert same_types == qtypes and torch.equal(same["input_ids"], batch["input_ids"])
    base_types = [q for _, qtypes in base for q in qtypes]
    assert qtypes_mostly.count("pattern") >= base_types.count("pattern")
    for bad, match in (
        ("pattern=0.2", "at least"),
        ("color=0.8", "only the pattern share"),
        ("shape=0.9", "not a question type"),
        ("pattern", "TYPE=SHARE"),
        ("pattern=1.5", "TYPE=SHARE"),
    ):
        with pytest.raises(SystemExit, match=match):
            tool._Batches(proc, cfg, _args(tool, tmp_path / "m", "--question-share", bad))


def test_token_labels_mark_the_target_and_follow_dropped_tokens(tool, tmp_path):
    from eventsim.datasets.scenes import PATTERNS, draw_sample

    cfg = tool.scene_config(tool.DEFAULT_RECIPE)
    colors = tool.aux_classes()[1]
    for seed in range(12):
        s = draw_sample(cfg, seed, render_frames=False)
        target = s.meta["objects"][s.meta["target"]]
        pat, col = tool.token_labels(s, (8, 8))
        assert pat.shape == col.shape == (64,)
        on = pat > 0
        assert set(col[~on]) == {-100}
        # a target smaller than a token still labels the token that holds most of it
        assert on.any(), f"seed {seed}: no token labelled"
        assert set(pat[on]) == {1 + PATTERNS.index(target["pattern"])}
        assert set(col[on]) == {colors.index(target["color"])}
        # the labelled tokens touch the target's centre token, and there are few of them
        cx, cy = target["end_xy"]
        rows, cols = np.nonzero(on.reshape(8, 8))
        assert np.all(np.abs(rows - cy // 28) <= 1) and np.all(np.abs(cols - cx // 28) <= 1)
        assert on.sum() <= 4
    # in training batches the labels follow the kept tokens, and downsampled images are ignored
    args = _args(tool, tmp_path / "m", "--steps", "4", "--sparse-from", "0", "--drop-share", "1")
    from epvlm.processing import build_offline_processor

    proc = build_offline_processor(tool.task_vocabulary(cfg))
    batch, _ = tool._Batches(proc, cfg, args).make(1)
    assert batch["aux_pattern"].numel() == int(batch["image_keep_mask"].sum())
    args = _args(tool, tmp_path / "m", "--steps", "4", "--sparse-from", "0", "--drop-share", "0",
                 "--downsample-share", "1")  # fmt: skip
    batch, _ = tool._Batches(proc, cfg, args).make(1)
    assert bool((batch["aux_pattern"] == -100).all())


def test_vision_pretraining_trains_the_tower_alone(tool, tmp_path):
    from epvlm.processing import build_offline_processor

    args = _args(tool, tmp_path / "m", "--vision-pretrain-steps", "3", *SMALL_MODEL)
    cfg = tool.scene_config(args.recipe)
    proc = build_offline_processor(tool.task_vocabulary(cfg))
    model = tool.build_model(proc, tool.model_size(args), args.seed)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    head = torch.nn.Linear(model.config.text_config.hidden_size, sum(map(len, tool.aux_classes())))
    records = []
    result = tool.pretrain_vision(model, head, proc, cfg, args, "cpu", records.append, False)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("model.visual.") for k in changed)
    assert any("patch_embed" in k for k in changed)
    for key in ("target_token_pattern_acc", "target_token_color_acc", "background_token_acc"):
        assert 0.0 <= result[key] <= 1.0
    assert records[-1]["event"] == "vision_pretrain"


def test_aux_loss_run_resumes_exactly_and_saves_the_current_layout(tool, tmp_path):
    common = [
        "--steps", "3", "--batch-size", "2", "--workers", "0", "--eval-samples", "2",
        "--eval-every", "100", "--checkpoint-every", "100", "--no-progress", "--threads", "1",
        "--sparse-from", "0.3", "--vision-pretrain-steps", "2", "--aux-weight", "0.5",
        *SMALL_MODEL,
    ]  # fmt: skip
    assert tool.main(["-o", str(tmp_path / "straight"), *common]) == 0
    cut = tmp_path / "cut"
    assert tool.main(["-o", str(cut), *common, "--max-minutes", "0"]) == 0
    assert tool.main(["-o", str(cut), *common, "--resume"]) == 0
    info = json.loads((cut / "training.json").read_text())
    assert info["aux_weight"] == 0.5 and info["vision_pretrain"]["steps"] == 2
    from safetensors.numpy import load_file

    a = load_file(tmp_path / "straight" / "model.safetensors")
    b = load_file(cut / "model.safetensors")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert any(k.startswith("model.language_model.") for k in a)
    assert any(k.startswith("model.visual.") for k in a)
