"""Train the EP-VLM demonstration model: a tiny Qwen2-VL, from scratch, on the demo scenes.

The model is the exact ``Qwen2VLForConditionalGeneration`` architecture (through
`epvlm.modeling.EPQwen2VLForConditionalGeneration`) at about 2.7 M parameters, with a
word-level tokenizer over the task's words (`epvlm.processing.build_offline_processor`).
Training samples are drawn in memory from the recipe's scene generator
(`eventsim.datasets.scenes.draw_sample`, no events needed); the seeds of training samples lie in
a range of their own, far from the seeds the dataset builder derives for the test split.

Every batch goes through `epvlm.processing.encode_batch`, the encoder evaluation uses, so the
prompt cannot drift between training and evaluation. After ``--sparse-from`` part of every
batch is sparse on purpose: random 2x2 patch blocks are dropped (the model sees the kept patches at their true positions,
as EP-VLM feeds them) and part is downsampled, so the model is used to the inputs of all the
selectors it is compared with.

Usage (the shipped model's settings; about 5 + 23 minutes on two shared CPU cores)::

    python tools/train_demo_model.py -o /tmp/shapes-demo-tiny --vision-pretrain-steps 600 \
        --aux-weight 0.5 --steps 2000 --eval-every 200 --eval-samples 96 --log /tmp/train.log

The shipped model's ``training.json`` records its exact command. ``--vision-pretrain-steps``
first trains the vision tower alone to name, per image token, the target's pattern and colour
(or background), with labels read off the scene; ``--aux-weight`` keeps that per-token loss
during question training. Without them a model trained from scratch on this CPU never learnt
the 1-px pattern (the model card lists those runs). ``--force`` replaces the whole output
folder, model card included (the card is written by hand from the benchmark).

A checkpoint (model, tokenizer, processor, ``training.json``) is written every
``--checkpoint-every`` steps and at the end, so a usable model exists if the run is cut short
(``--max-minutes`` stops it cleanly). Until the run is complete the checkpoint also holds
``trainer_state.pt`` (optimizer, schedule, step, elapsed time); ``--resume`` continues the run in
``--out`` from it with the same arguments. Batch ``k`` depends only on the seed and ``k``, so a
resumed run sees the batches the uninterrupted run would have seen. The finished checkpoint drops
``trainer_state.pt`` (it would double the size of the shipped model).

``--device`` trains on a GPU when there is one (``auto``: CUDA if available); ``--workers``
data-loader processes draw and encode the batches; the model-size options (``--vision-depth``,
``--vision-dim``, ``--hidden-size``, ``--num-layers``, ``--intermediate-size``) default to the
shipped model's sizes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from eventsim.cli.common import show_progress

if TYPE_CHECKING:
    from transformers import Qwen2VLTextConfig

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RECIPE = REPO / "datasets" / "shapes-demo.toml"
# Training seeds start here; the dataset builder's per-sample seeds are derived from the recipe
# seed and never enumerate this range, so training never sees a test scene.
TRAIN_SEED_BASE = 7_000_000_000
VISION_SEED_BASE = 7_500_000_000
EVAL_SEED_BASE = 8_000_000_000

MODEL_SIZE = {
    "vision_depth": 3,
    "vision_dim": 128,
    "vision_heads": 4,
    "vision_mlp_ratio": 2,
    "hidden_size": 256,
    "num_layers": 3,
    "num_heads": 4,
    "num_kv_heads": 2,
    "intermediate_size": 512,
    "initializer_range": 0.1,
}
# Qwen2-VL's M-RoPE gives the image columns the lowest rotary frequencies of the language model
# (the last of the t/h/w sections). With the default rope_theta of 10000 and a head size of 64 a
# column shift of 8 tokens turns those by under 0.03 rad, so a tiny model cannot tell left from
# right; at 10 the column section turns 0.9-1.9 rad across the image. The architecture is
# unchanged: rope_theta is an ordinary config field.
TEXT_ROPE_THETA = 10.0
DROP_KEEPS = (0.75, 0.5, 0.25)
STATE_FILE = "trainer_state.pt"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", required=True, help="checkpoint directory to write")
    ap.add_argument(
        "--recipe",
        default=str(DEFAULT_RECIPE),
        help="dataset recipe (scene config; default datasets/shapes-demo.toml)",
    )
    ap.add_argument("--steps", type=int, default=2500, help="optimizer steps (default 2500)")
    ap.add_argument("--batch-size", type=int, default=16, help="samples per step (default 16)")
    ap.add_argument(
        "--lr", type=float, default=2e-3, help="peak learning rate (AdamW; default 2e-3)"
    )
    ap.add_argument("--warmup", type=int, default=100, help="linear warm-up steps (default 100)")
    ap.add_argument(
        "--weight-decay", type=float, default=0.01, help="AdamW weight decay (default 0.01)"
    )
    ap.add_argument(
        "--seed", type=int, default=0, help="seed of the weights and samples (default 0)"
    )
    ap.add_argument(
        "--drop-share",
        type=float,
        default=0.4,
        help="share of samples with random blocks dropped (default 0.4)",
    )
    ap.add_argument(
        "--downsample-share",
        type=float,
        default=0.1,
        help="share of samples downsampled (default 0.1)",
    )
    ap.add_argument(
        "--sparse-from",
        type=float,
        default=0.3,
        help="fraction of --steps after which dropped/downsampled samples are mixed in "
        "(dense only before: a model that cannot yet read the image learns nothing from "
        "samples whose target was dropped; default 0.3)",
    )
    ap.add_argument(
        "--eval-samples", type=int, default=192, help="held-out samples per eval (default 192)"
    )
    ap.add_argument("--eval-every", type=int, default=250, help="steps between evals (default 250)")
    ap.add_argument(
        "--checkpoint-every", type=int, default=250, help="steps between checkpoints (default 250)"
    )
    ap.add_argument(
        "--max-minutes",
        type=float,
        default=60.0,
        help="stop cleanly after this many minutes (default 60)",
    )
    ap.add_argument(
        "--stop-after",
        type=int,
        default=None,
        help="stop cleanly after this many steps (the schedule still spans --steps); "
        "reproduces a run that was stopped early",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: on a shared 2-core machine 2 threads ran 2-3x slower)",
    )
    ap.add_argument(
        "--workers", type=int, default=1, help="data loader processes (0: inline; default 1)"
    )
    ap.add_argument(
        "--device", default="cpu", help="torch device: cpu, cuda, cuda:1, mps or auto (default cpu)"
    )
    ap.add_argument(
        "--init-from",
        default=None,
        help="start from this checkpoint's weights instead of a random initialisation (same "
        "model sizes); token embeddings and output rows are matched by token, words new to "
        "this vocabulary keep their random initialisation",
    )
    ap.add_argument(
        "--reinit",
        action="append",
        default=[],
        metavar="NAME",
        help="with --init-from: parameters whose name contains NAME keep their random "
        "initialisation (repeatable; e.g. visual.patch_embed, so a patch embedding trained on "
        "colour alone can learn fine texture again)",
    )
    ap.add_argument(
        "--reinit-lr-scale",
        type=float,
        default=1.0,
        help="learning-rate multiplier for the --reinit parameters (default 1)",
    )
    ap.add_argument(
        "--question-share",
        default=None,
        metavar="TYPE=SHARE",
        help="this share of training samples ask a TYPE question (one of the recipe's types; "
        "the rest follow the recipe's mix); the scenes are the recipe's either way, and "
        "evaluation keeps the recipe's mix",
    )
    ap.add_argument(
        "--vision-pretrain-steps",
        type=int,
        default=0,
        help="first train the vision tower alone for this many steps to name, per image "
        "token, the target's pattern and colour (or background); a pre-trained encoder's "
        "stand-in: end to end, the answer's gradient alone left the pattern at chance",
    )
    ap.add_argument(
        "--aux-weight",
        type=float,
        default=0.0,
        help="weight of that per-token loss added to the answer loss during training "
        "(keeps the tower's pattern features while the language model learns to read them)",
    )
    ap.add_argument(
        "--resume",
        action="store_true",
        help="continue the unfinished run whose checkpoint is --out (same arguments)",
    )
    for name, help_text in (
        ("vision_depth", "vision transformer blocks"),
        ("vision_dim", "vision transformer width"),
        ("vision_heads", "vision attention heads"),
        ("hidden_size", "language model width"),
        ("num_layers", "language model layers"),
        ("num_heads", "language model attention heads"),
        ("intermediate_size", "language model MLP width"),
    ):
        ap.add_argument(
            "--" + name.replace("_", "-"),
            type=int,
            default=MODEL_SIZE[name],
            help=f"{help_text} (default {MODEL_SIZE[name]})",
        )
    ap.add_argument("--log", default=None, help="append JSON lines of loss/accuracy here")
    ap.add_argument("--force", action="store_true", help="overwrite an existing --out")
    ap.add_argument(
        "--no-progress",
        action="store_true",
        help="hide the progress bars (drawn only when stderr is a terminal)",
    )
    args = ap.parse_args(argv)
    _check_numbers(ap, args)
    return args


def _check_numbers(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse counts, shares and rates that cannot train, as a usage error: --eval-every 0
    raised ZeroDivisionError after the first step, --steps 0 said 'trained 0 steps;
    checkpoint: OUT' and wrote none, --threads 0 or --batch-size 0 were torch tracebacks."""
    at_least_one = [
        "steps", "batch_size", "eval_samples", "eval_every", "checkpoint_every", "threads",
        *(name for name in MODEL_SIZE if name in vars(args)),
    ]  # fmt: skip
    bad = [
        f"--{n.replace('_', '-')} {getattr(args, n)} (at least 1)"
        for n in at_least_one
        if getattr(args, n) < 1
    ]
    if args.stop_after is not None and args.stop_after < 1:
        bad.append(f"--stop-after {args.stop_after} (at least 1)")
    for name in ("warmup", "workers", "vision_pretrain_steps"):
        if getattr(args, name) < 0:
            bad.append(f"--{name.replace('_', '-')} {getattr(args, name)} (at least 0)")
    for name in ("drop_share", "downsample_share", "sparse_from"):
        if not 0.0 <= getattr(args, name) <= 1.0:  # NaN fails too
            bad.append(f"--{name.replace('_', '-')} {getattr(args, name):g} (in [0, 1])")
    if not 0.0 < args.lr < math.inf:
        bad.append(f"--lr {args.lr:g} (more than 0)")
    for name in ("weight_decay", "reinit_lr_scale", "aux_weight", "max_minutes"):
        if not 0.0 <= getattr(args, name) < math.inf:
            bad.append(f"--{name.replace('_', '-')} {getattr(args, name):g} (0 or more, finite)")
    if bad:
        ap.error(f"cannot train with {'; '.join(bad)}")


def scene_config(recipe: str):
    from eventsim.datasets import recipe as recipes

    return recipes.load_recipe(recipe).scene_config()


def task_vocabulary(cfg) -> list[str]:
    """Every word a question, choice or answer of this scene config can contain."""
    from epvlm.processing import vocab_from_texts
    from eventsim.datasets import scenes

    texts: list[str] = [*scenes.COLORS, *scenes.SHAPES, *scenes.DIRECTIONS, scenes.NOT_MOVING]
    texts += list(scenes.PATTERNS)
    texts += ["yes", "no", "grey"]
    texts += [name for grid in scenes.POSITION_GRIDS.values() for row in grid for name in row]
    texts += [str(k) for k in range(10)]
    for qtype in scenes.QUESTION_TYPES[cfg.mode]:
        one = cfg.replace(question_types=(qtype,))
        texts += [scenes.draw_sample(one, s, render_frames=False).question for s in range(4)]
    return vocab_from_texts(texts)


def parse_question_share(text: str | None, cfg) -> tuple[str, float] | None:
    """``TYPE=SHARE`` of ``--question-share`` checked against the recipe's question types."""
    if text is None:
        return None
    qtype, sep, share = text.partition("=")
    try:
        value = float(share) if sep else float("nan")
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise SystemExit(
            f"train_demo_model: --question-share {text!r}: expected TYPE=SHARE with SHARE in [0, 1]"
        )
    types = cfg.active_question_types
    if qtype not in types:
        raise SystemExit(
            f"train_demo_model: --question-share {text!r}: {qtype!r} is not a question type of "
            f"the recipe ({', '.join(types)})"
        )
    if value < 1.0 / len(types):
        raise SystemExit(
            f"train_demo_model: --question-share {text!r}: the recipe already asks {qtype} in "
            f"{1 / len(types):.0%} of the samples; expected a share at least that"
        )
    if qtype != "pattern" and "pattern" in types:
        # asking only another type would also take the pattern off the target: other scenes
        raise SystemExit(
            f"train_demo_model: --question-share {text!r}: with pattern questions in the recipe "
            "only the pattern share can be raised"
        )
    return qtype, value


def aux_classes() -> tuple[list[str], list[str]]:
    """Classes of the per-token auxiliary heads: background + patterns, and colours."""
    from eventsim.datasets import scenes

    return ["background", *scenes.PATTERNS], list(scenes.COLORS)


# A token counts as the target's when this share of its pixels is saturated (the target is the
# only coloured object: clutter is grey, the background's tint stays far below the threshold),
# or when it holds this share of the target's saturated pixels, and the best-covered token always
# does: a target smaller than a token covers no token by a quarter and would get no label at all.
TARGET_COVER = 0.25
TARGET_SHARE = 0.3
SATURATION_MIN = 40


def token_labels(sample, grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Per LLM image token (row-major over ``grid``): pattern class (0 background) and colour
    class (-100 off the target) of the auxiliary loss."""
    patterns, colors = aux_classes()
    rows, cols = grid
    image = sample.image.astype(np.int16)
    h, w = image.shape[:2]
    saturated = (image.max(-1) - image.min(-1)) > SATURATION_MIN
    cover = saturated.reshape(rows, h // rows, cols, w // cols).mean((1, 3)).reshape(-1)
    target = sample.meta["objects"][sample.meta["target"]]
    on = cover >= TARGET_COVER
    if cover.sum() > 0:
        on |= cover >= TARGET_SHARE * cover.sum()
        on[np.argmax(cover)] = True
    pattern = patterns.index(target["pattern"]) if target.get("pattern") else -100
    pat = np.where(on, pattern, 0)
    col = np.where(on, colors.index(target["color"]), -100)
    return pat.astype(np.int64), col.astype(np.int64)


class _Batches:
    """Deterministic stream of encoded training batches (batch ``k`` depends only on ``k``)."""

    def __init__(self, proc, cfg, args: argparse.Namespace, start: int = 0) -> None:
        self.proc, self.cfg, self.args, self.start = proc, cfg, args, start
        self.share = parse_question_share(getattr(args, "question_share", None), cfg)
        # Asking only the raised type draws the same scene: the scene's random streams do not
        # depend on the question (parse_question_share refuses the case where they would).
        self.only = None if self.share is None else cfg.replace(question_types=(self.share[0],))

    def make(self, step: int) -> tuple[dict[str, Any], list[str]]:
        import torch

        from epvlm.prior import keep_mask_random, select_blocks
        from epvlm.processing import encode_batch, grid_for_size
        from eventsim.datasets.scenes import draw_sample

        a = self.args
        rng = np.random.default_rng([a.seed, step])
        # A stream of its own, so runs without --question-share draw the batches they always drew.
        q_rng = np.random.default_rng([a.seed, step, 1])
        images, questions, choices, answers, masks, qtypes = [], [], [], [], [], []
        aux_pat: list[np.ndarray] = []
        aux_col: list[np.ndarray] = []
        for i in range(a.batch_size):
            seed = TRAIN_SEED_BASE + a.seed * 100_000_000 + step * a.batch_size + i
            cfg = self.cfg
            if self.share is not None:
                # the recipe's mix asks the type too: top it up to the requested share
                base = 1.0 / len(self.cfg.active_question_types)
                if q_rng.random() < (self.share[1] - base) / (1.0 - base):
                    cfg = self.only
            s = draw_sample(cfg, seed, render_frames=False)
            image, mask = s.image, None
            u = rng.random() if step >= a.sparse_from * a.steps else 1.0
            grid = grid_for_size(self.proc, *image.shape[:2])
            pat, col = token_labels(s, grid)
            if u < a.drop_share:
                keep = float(rng.choice(DROP_KEEPS))
                mask = keep_mask_random(grid, keep, rng)
                kept = np.asarray(mask).reshape(-1)
                pat, col = pat[kept], col[kept]
            elif u < a.drop_share + a.downsample_share:
                keep = float(rng.choice(DROP_KEEPS))
                sel = select_blocks("downsample", image, keep=keep, grid=grid)
                image = sel.image
                small = grid_for_size(self.proc, *image.shape[:2])
                pat = col = np.full(small[0] * small[1], -100, np.int64)
            aux_pat.append(pat)
            aux_col.append(col)
            images.append(image)
            masks.append(mask)
            questions.append(s.question)
            choices.append(s.choices)
            answers.append(s.answer)
            qtypes.append(s.question_type)
        batch = encode_batch(self.proc, images, questions, choices, masks, answers)
        batch["aux_pattern"] = torch.from_numpy(np.concatenate(aux_pat))
        batch["aux_color"] = torch.from_numpy(np.concatenate(aux_col))
        return batch, qtypes

    def make_vision(self, step: int, base: int = VISION_SEED_BASE) -> dict[str, Any]:
        """Batch ``step`` of the vision pre-training: dense images and their token labels only
        (scenes of a seed range of their own)."""
        import torch

        from epvlm.processing import grid_for_size
        from eventsim.datasets.scenes import draw_sample

        a = self.args
        pixels, grids, pats, cols = [], [], [], []
        for i in range(a.batch_size):
            seed = base + a.seed * 100_000_000 + step * a.batch_size + i
            s = draw_sample(self.cfg, seed, render_frames=False)
            enc = self.proc.image_processor(images=[s.image], return_tensors="pt")
            pixels.append(enc["pixel_values"])
            grids.append(enc["image_grid_thw"])
            pat, col = token_labels(s, grid_for_size(self.proc, *s.image.shape[:2]))
            pats.append(pat)
            cols.append(col)
        return {
            "pixel_values": torch.cat(pixels),
            "image_grid_thw": torch.cat(grids),
            "aux_pattern": torch.from_numpy(np.concatenate(pats)),
            "aux_color": torch.from_numpy(np.concatenate(cols)),
        }


def model_size(args: argparse.Namespace) -> dict[str, Any]:
    """The model-size settings of this run (the shipped sizes unless overridden)."""
    return {k: getattr(args, k, v) for k, v in MODEL_SIZE.items()}


def _worker_iter(proc, cfg, args, start: int, stop: int):
    """Batches ``start .. stop - 1`` in order. Worker ``w`` of ``W`` makes steps ``start + w``,
    ``start + w + W``, ...; the loader takes one batch from each worker in turn, so the order
    is the step order whatever the number of workers."""
    import torch

    n_workers = args.workers

    class _It(torch.utils.data.IterableDataset):
        def __iter__(self):
            torch.set_num_threads(1)
            info = torch.utils.data.get_worker_info()
            wid, n = (info.id, info.num_workers) if info is not None else (0, 1)
            maker = _Batches(proc, cfg, args)
            for step in range(start + wid, stop, n):
                yield maker.make(step)

    if n_workers <= 0:
        maker = _Batches(proc, cfg, args)
        return (maker.make(step) for step in range(start, stop))
    loader = torch.utils.data.DataLoader(
        _It(), batch_size=None, num_workers=n_workers, prefetch_factor=4, persistent_workers=False
    )
    return iter(loader)


def build_model(proc, sizes: dict[str, Any], seed: int):
    """The untrained model of a run: a tiny Qwen2-VL of ``sizes``, initialised from ``seed``."""
    import torch

    from epvlm.modeling import EPQwen2VLForConditionalGeneration
    from epvlm.tiny import tiny_config

    torch.manual_seed(seed)
    config = tiny_config(proc, **sizes)
    # tiny_config builds text_config as a Qwen2VLTextConfig whose rope_parameters is a dict;
    # transformers declares both as optional unions
    text_rope = cast(
        "dict[str, Any]", cast("Qwen2VLTextConfig", config.text_config).rope_parameters
    )
    text_rope["rope_theta"] = TEXT_ROPE_THETA
    model = EPQwen2VLForConditionalGeneration(config)
    model.generation_config.pad_token_id = cast(
        "Qwen2VLTextConfig", config.text_config
    ).pad_token_id
    model.generation_config.eos_token_id = cast(
        "Qwen2VLTextConfig", config.text_config
    ).eos_token_id
    model.generation_config.do_sample = False
    model.generation_config.max_new_tokens = 4
    return model


def init_from(model, proc, path: str, reinit: tuple[str, ...] = ()) -> dict[str, int]:
    """Copy the weights of the checkpoint at ``path`` into ``model``. Vocabulary-indexed
    matrices (token embeddings, output layer) are copied row by row for the tokens both
    vocabularies have; every other tensor must have the same shape. Tensors whose name contains
    one of ``reinit`` keep ``model``'s own (random) values. Returns counts."""
    import torch

    from epvlm.modeling import EPQwen2VLForConditionalGeneration
    from epvlm.processing import load_processor

    src = EPQwen2VLForConditionalGeneration.from_pretrained(path).state_dict()
    src_vocab = load_processor(path).tokenizer.get_vocab()
    own_vocab = proc.tokenizer.get_vocab()
    shared = [(own_vocab[t], src_vocab[t]) for t in own_vocab if t in src_vocab]
    rows_new = torch.tensor([a for a, _ in shared])
    rows_src = torch.tensor([b for _, b in shared])
    state = model.state_dict()
    if state.keys() != src.keys():
        raise SystemExit(f"train_demo_model: --init-from {path} has other weights than this model")
    kept = [name for name in src if any(r in name for r in reinit)]
    missing = [r for r in reinit if not any(r in name for name in src)]
    if missing:
        raise SystemExit(
            f"train_demo_model: --reinit {missing[0]!r} matches no weight of the model"
        )
    for name, value in src.items():
        own = state[name]
        if name in kept:
            continue
        if "embed_tokens" in name or name.startswith("lm_head"):
            own[rows_new] = value[rows_src].to(own.dtype)
        elif own.shape == value.shape:
            own.copy_(value)
        else:
            raise SystemExit(
                f"train_demo_model: --init-from {path}: {name} is {tuple(value.shape)}, this "
                f"model's is {tuple(own.shape)}; use the same model sizes"
            )
    model.load_state_dict(state)
    counts = {"shared_tokens": len(shared), "new_tokens": len(own_vocab) - len(shared)}
    if reinit:
        counts["reinit_tensors"] = len(kept)
    return counts


# The target covers a few of the image's tokens: its tokens weigh this much more in the
# per-token pattern loss, so "background everywhere" is not a cheap minimum.
TARGET_TOKEN_WEIGHT = 8.0
VISION_PRETRAIN_LR = 1e-3


def aux_loss(head, tokens, pattern, color):
    """Per-token loss of the auxiliary heads on the vision tower's merged tokens."""
    import torch.nn.functional as F

    n_pat = len(aux_classes()[0])
    logits = head(tokens.float())
    weight = (pattern > 0).float() * (TARGET_TOKEN_WEIGHT - 1) + (pattern != -100).float()
    per_token = F.cross_entropy(logits[:, :n_pat], pattern.clamp(min=0), reduction="none")
    loss = (per_token * weight).sum() / weight.sum().clamp(min=1.0)
    if (color != -100).any():
        loss = loss + F.cross_entropy(logits[:, n_pat:], color, ignore_index=-100)
    return loss, logits


def pretrain_vision(model, head, proc, cfg, args, device, record, progress: bool) -> dict:
    """Train the vision tower (and the heads) alone on per-token labels; returns the
    held-out per-token accuracies at the end."""
    import torch
    from tqdm import tqdm

    visual = model.model.visual
    n_pat = len(aux_classes()[0])
    params = [*visual.parameters(), *head.parameters()]
    opt = torch.optim.AdamW(params, lr=VISION_PRETRAIN_LR, weight_decay=args.weight_decay)
    steps = args.vision_pretrain_steps
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: min(1.0, (k + 1) / 50) * (0.05 + 0.475 * (1 + math.cos(math.pi * k / steps)))
    )
    maker = _Batches(proc, cfg, args)
    t0 = time.time()
    for k in tqdm(range(steps), desc="vision", unit="step", disable=not progress):
        batch = {n: v.to(device) for n, v in maker.make_vision(k).items()}
        tokens = visual(batch["pixel_values"], grid_thw=batch["image_grid_thw"]).pooler_output
        loss, _ = aux_loss(head, tokens, batch["aux_pattern"], batch["aux_color"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if (k + 1) % 25 == 0:
            record(
                {"vision_step": k + 1, "loss": loss.item(), "elapsed_s": round(time.time() - t0, 1)}
            )
    held = maker.make_vision(0, base=EVAL_SEED_BASE + 1_000_000)
    with torch.no_grad():
        batch = {n: v.to(device) for n, v in held.items()}
        tokens = visual(batch["pixel_values"], grid_thw=batch["image_grid_thw"]).pooler_output
        _, logits = aux_loss(head, tokens, batch["aux_pattern"], batch["aux_color"])
    on = batch["aux_pattern"] > 0
    result = {
        "steps": steps,
        "time_s": round(time.time() - t0, 1),
        "target_token_pattern_acc": float(
            (logits[on, :n_pat].argmax(-1) == batch["aux_pattern"][on]).float().mean()
        ),
        "target_token_color_acc": float(
            (logits[on, n_pat:].argmax(-1) == batch["aux_color"][on]).float().mean()
        ),
        "background_token_acc": float((logits[~on, :n_pat].argmax(-1) == 0).float().mean()),
    }
    record({"event": "vision_pretrain", **result})
    return result


def resolve_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SystemExit(f"train_demo_model: --device {name!r} is not a torch device") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"train_demo_model: --device {name} but torch sees no CUDA device")
    return device


def answer_correct(logits, labels) -> np.ndarray:
    """Per sample: every answer token (teacher-forced) is the arg-max prediction."""
    pred = logits[:, :-1].argmax(-1)
    target = labels[:, 1:]
    scored = target != -100
    ok = (pred == target) | ~scored
    return ok.all(-1).cpu().numpy()


def evaluate(model, proc, cfg, n: int, batch_size: int = 32) -> dict[str, Any]:
    """Teacher-forced exact-answer accuracy on fixed held-out scenes: dense, random half of the
    blocks, and downsampled to half the tokens (which a fine-pattern question should not
    survive)."""
    import torch

    from epvlm.prior import keep_mask_random, select_blocks
    from epvlm.processing import encode_batch, grid_for_size
    from eventsim.datasets.scenes import draw_sample

    device = next(model.parameters()).device
    samples = [draw_sample(cfg, EVAL_SEED_BASE + i, render_frames=False) for i in range(n)]
    out: dict[str, Any] = {}
    model.eval()
    with torch.no_grad():
        for name in ("dense", "random50", "downsample50"):
            per_type: dict[str, list[int]] = {}
            for b0 in range(0, n, batch_size):
                chunk = samples[b0 : b0 + batch_size]
                masks = None
                images = [s.image for s in chunk]
                grid = grid_for_size(proc, *chunk[0].image.shape[:2])
                if name == "random50":
                    masks = [
                        keep_mask_random(grid, 0.5, EVAL_SEED_BASE + b0 + i)
                        for i in range(len(chunk))
                    ]
                elif name == "downsample50":
                    images = [
                        select_blocks("downsample", im, keep=0.5, grid=grid).image for im in images
                    ]
                batch = encode_batch(
                    proc,
                    images,
                    [s.question for s in chunk],
                    [s.choices for s in chunk],
                    masks,
                    [s.answer for s in chunk],
                )
                batch = {k: v.to(device) for k, v in batch.items()}
                labels = batch.pop("labels")
                logits = model(**batch).logits
                for s, ok in zip(chunk, answer_correct(logits, labels)):
                    per_type.setdefault(s.question_type, []).append(int(ok))
            allv = [v for vs in per_type.values() for v in vs]
            out[name] = {
                "accuracy": float(np.mean(allv)),
                "per_type": {k: float(np.mean(v)) for k, v in sorted(per_type.items())},
            }
    model.train()
    return out


def save_checkpoint(
    model,
    proc,
    out: Path,
    info: dict[str, Any],
    state: dict[str, Any] | None = None,
    progress: bool = True,
) -> None:
    """Write to a sibling temp folder, then swap it in, so ``out`` is always a whole checkpoint.
    ``state`` (optimizer, schedule, step) goes to ``trainer_state.pt`` for ``--resume``.
    ``progress``: False hides transformers' own "Writing model shards" bar, as the tool's.

    The weights are written once, under the module's own tensor names
    (``model.language_model.*``, ``model.visual.*``): ``save_original_format=False`` skips
    transformers' renaming to its older names (``model.layers.*``, ``visual.*``). The shipped
    checkpoint keeps the current layout, which the loading tests check both ways."""
    import torch

    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    from transformers.utils import logging as hf_logging

    # transformers' switch is global: turned back on afterwards, as epvlm.loading does
    hide_bar = not progress and hf_logging.is_progress_bar_enabled()
    if hide_bar:
        hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(tmp, save_original_format=False)
    finally:
        if hide_bar:
            hf_logging.enable_progress_bar()
    proc.save_pretrained(tmp)
    (tmp / "training.json").write_text(json.dumps(info, indent=2) + "\n")
    if state is not None:
        torch.save(state, tmp / STATE_FILE)
    old = out.with_name(out.name + ".old")
    if out.exists():
        if old.exists():
            shutil.rmtree(old)
        out.rename(old)
    tmp.rename(out)
    if old.exists():
        shutil.rmtree(old)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    if args.resume:
        if not (out / STATE_FILE).is_file():
            print(
                f"train_demo_model: --resume needs an unfinished run in {out} "
                f"(no {STATE_FILE} there)",
                file=sys.stderr,
            )
            return 1
    elif out.exists() and not args.force:
        print(f"train_demo_model: {out} exists; pass --force to overwrite it", file=sys.stderr)
        return 1
    from epvlm.loading import check_checkpoint_folder, check_model_dir
    from eventsim.errors import EventsimError

    # said in one line before torch loads: a missing recipe was a traceback, and an --init-from
    # that is no local folder went to transformers, which reads such a name as a hub id
    try:
        cfg = scene_config(args.recipe)
        if args.init_from:
            check_model_dir(args.init_from)
            check_checkpoint_folder(args.init_from)
    except EventsimError as exc:
        print(f"train_demo_model: {exc}", file=sys.stderr)
        return 1

    import torch
    from tqdm import tqdm

    from epvlm.processing import build_offline_processor

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    proc = build_offline_processor(task_vocabulary(cfg))
    sizes = model_size(args)
    model = build_model(proc, sizes, args.seed)
    init_info = None
    if args.init_from and not args.resume:
        init_info = init_from(model, proc, args.init_from, tuple(args.reinit))
    elif args.reinit and not args.init_from:
        print("train_demo_model: --reinit needs --init-from", file=sys.stderr)
        return 1
    resumed: dict[str, Any] | None = None
    if args.resume:
        from epvlm.modeling import EPQwen2VLForConditionalGeneration

        resumed = torch.load(out / STATE_FILE, map_location="cpu", weights_only=False)
        if resumed["args"] != _run_args(args):
            print(
                "train_demo_model: --resume with other settings than the run in "
                f"{out}: {_arg_changes(resumed['args'], _run_args(args))}",
                file=sys.stderr,
            )
            return 1
        saved = EPQwen2VLForConditionalGeneration.from_pretrained(out)
        model.load_state_dict(saved.state_dict())
    model.to(device)
    n_params = sum(p.numel() for p in model.parameters())
    model.train()
    # The auxiliary heads read the vision tower's output tokens; they are not part of the
    # shipped model (a stock Qwen2-VL), only of the trainer's state.
    head = None
    if args.vision_pretrain_steps or args.aux_weight:
        n_out = sum(len(c) for c in aux_classes())
        head = torch.nn.Linear(model.config.text_config.hidden_size, n_out).to(device)
        if resumed is not None and "aux_head" in resumed:
            head.load_state_dict(resumed["aux_head"])
    captured: dict[str, Any] = {}
    if args.aux_weight:
        model.model.visual.register_forward_hook(
            lambda module, inputs, output: captured.__setitem__("tokens", output.pooler_output)
        )

    groups: dict[tuple[bool, bool], list] = {}
    for n, p in model.named_parameters():
        decays = p.ndim >= 2 and "embed" not in n
        fresh = any(r in n for r in args.reinit)
        groups.setdefault((decays, fresh), []).append(p)
    if head is not None and args.aux_weight:
        groups.setdefault((True, False), []).extend(head.parameters())
    opt = torch.optim.AdamW(
        [
            {
                "params": params,
                "weight_decay": args.weight_decay if decays else 0.0,
                "lr": args.lr * (args.reinit_lr_scale if fresh else 1.0),
            }
            for (decays, fresh), params in sorted(
                groups.items(), key=lambda kv: (not kv[0][0], kv[0][1])
            )
        ],
        lr=args.lr,
    )

    def lr_factor(step: int) -> float:
        warm = min(1.0, (step + 1) / max(1, args.warmup))
        progress = min(1.0, step / max(1, args.steps))
        return warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    start_step, time_before = 0, 0.0
    evals: list[dict[str, Any]] = []
    if resumed is not None:
        opt.load_state_dict(resumed["optimizer"])
        sched.load_state_dict(resumed["scheduler"])
        start_step, time_before = int(resumed["step"]), float(resumed["train_time_s"])
        evals = list(resumed["evals"])
        torch.set_rng_state(resumed["torch_rng"])
    log = open(args.log, "a") if args.log else None

    def record(entry: dict[str, Any]) -> None:
        if log:
            log.write(json.dumps(entry) + "\n")
            log.flush()

    info: dict[str, Any] = {
        "command": "python tools/train_demo_model.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "recipe": str(Path(args.recipe).resolve().relative_to(REPO))
        if Path(args.recipe).resolve().is_relative_to(REPO)
        else str(args.recipe),
        "scene_config": {k: v for k, v in vars(cfg).items()},
        "seed": args.seed,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "planned_steps": args.steps,
        "drop_share": args.drop_share,
        "drop_keeps": list(DROP_KEEPS),
        "downsample_share": args.downsample_share,
        "sparse_from_step": int(args.sparse_from * args.steps),
        "model_size": sizes,
        "init_from": args.init_from,
        "init_tokens": init_info,
        "reinit": list(args.reinit),
        "reinit_lr_scale": args.reinit_lr_scale,
        "question_share": args.question_share,
        "vision_pretrain_steps": args.vision_pretrain_steps,
        "aux_weight": args.aux_weight,
        "text_rope_theta": TEXT_ROPE_THETA,
        "parameters": n_params,
        "torch_threads": args.threads,
        "workers": args.workers,
        "device": _device_name(device),
        "eval_samples": args.eval_samples,
        "torch_version": torch.__version__,
    }
    if resumed is not None:
        info["command"] = resumed["command"]
        info["resumed_at_steps"] = [*resumed.get("resumed_at_steps", []), start_step]
        if "vision_pretrain" in resumed:
            info["vision_pretrain"] = resumed["vision_pretrain"]
    record({"event": "resume" if resumed else "start", **info})
    if head is not None and args.vision_pretrain_steps and resumed is None:
        info["vision_pretrain"] = pretrain_vision(
            model, head, proc, cfg, args, device, record, show_progress(args.no_progress)
        )
    t0 = time.time() - time_before
    losses: list[float] = []
    accs: list[float] = []
    step = start_step
    bar = tqdm(
        total=args.steps,
        initial=start_step,
        disable=not show_progress(args.no_progress),
        desc="train",
        unit="step",
    )
    stream = _worker_iter(proc, cfg, args, start_step, args.steps)
    try:
        for step, (batch, _) in enumerate(stream, start=start_step + 1):
            batch = {k: v.to(device) for k, v in batch.items()}
            aux_pattern, aux_color = batch.pop("aux_pattern"), batch.pop("aux_color")
            labels = batch["labels"]
            outputs = model(**batch)
            loss = outputs.loss
            if args.aux_weight:
                extra, _ = aux_loss(head, captured["tokens"], aux_pattern, aux_color)
                loss = loss + args.aux_weight * extra
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
            accs.append(float(answer_correct(outputs.logits.detach(), labels).mean()))
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}", acc=f"{np.mean(accs[-50:]):.3f}")
            if step % 25 == 0:
                record(
                    {
                        "step": step,
                        "loss": float(np.mean(losses[-25:])),
                        "train_acc": float(np.mean(accs[-25:])),
                        "lr": sched.get_last_lr()[0],
                        "elapsed_s": round(time.time() - t0, 1),
                    }
                )
            last = step == args.steps
            over = (time.time() - t0) / 60 > args.max_minutes or step == args.stop_after
            if step % args.eval_every == 0 or last or over:
                ev = evaluate(model, proc, cfg, args.eval_samples)
                evals.append({"step": step, **ev})
                record({"step": step, "eval": ev, "elapsed_s": round(time.time() - t0, 1)})
                bar.write(
                    f"step {step}: held-out dense {ev['dense']['accuracy']:.3f} {ev['dense']['per_type']}, random 0.5 {ev['random50']['accuracy']:.3f}"
                )
            if step % args.checkpoint_every == 0 or last or over:
                info.update(steps=step, train_time_s=round(time.time() - t0, 1), evals=evals[-1:])
                state = None
                if not last:
                    state = {
                        "args": _run_args(args),
                        "command": info["command"],
                        "resumed_at_steps": info.get("resumed_at_steps", []),
                        "step": step,
                        "train_time_s": time.time() - t0,
                        "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict(),
                        "evals": evals,
                        "torch_rng": torch.get_rng_state(),
                    }
                    if head is not None:
                        state["aux_head"] = head.state_dict()
                    if "vision_pretrain" in info:
                        state["vision_pretrain"] = info["vision_pretrain"]
                save_checkpoint(model, proc, out, info, state, show_progress(args.no_progress))
            if over:
                bar.write(f"stopping after {args.max_minutes} minutes at step {step}")
                break
    finally:
        bar.close()
        if log:
            record({"event": "end", "steps": step, "elapsed_s": round(time.time() - t0, 1)})
            log.close()
    print(f"trained {step} steps in {(time.time() - t0) / 60:.1f} min; checkpoint: {out}")
    return 0


# Arguments that may differ between a run and its resumption (they change neither the batches
# nor the optimisation).
_RESUMABLE = {
    "resume",
    "force",
    "log",
    "no_progress",
    "max_minutes",
    "workers",
    "device",
    "threads",
}


def _run_args(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in sorted(vars(args).items()) if k not in _RESUMABLE}


def _arg_changes(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    return ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys)


def _device_name(device) -> str:
    import platform

    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"{device.type} ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
