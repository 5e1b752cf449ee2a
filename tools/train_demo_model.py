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

Usage::

    python tools/train_demo_model.py -o epvlm/assets/shapes-demo-tiny --force --log /tmp/train.log

The defaults are the settings of the shipped model (2500 steps, about 27 minutes on two shared
CPU cores); its ``training.json`` records the exact command. ``--force`` replaces the whole
output folder, model card included (the card is written by hand from the benchmark).

A checkpoint (model, tokenizer, processor, ``training.json``) is written every
``--checkpoint-every`` steps and at the end, so a usable model exists if the run is cut short
(``--max-minutes`` stops it cleanly).
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
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RECIPE = REPO / "datasets" / "shapes-demo.toml"
# Training seeds start here; the dataset builder's per-sample seeds are derived from the recipe
# seed and never enumerate this range, so training never sees a test scene.
TRAIN_SEED_BASE = 7_000_000_000
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", required=True, help="checkpoint directory to write")
    ap.add_argument("--recipe", default=str(DEFAULT_RECIPE), help="dataset recipe (scene config)")
    ap.add_argument("--steps", type=int, default=2500, help="optimizer steps")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (AdamW)")
    ap.add_argument("--warmup", type=int, default=100, help="linear warm-up steps")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--drop-share", type=float, default=0.4, help="share of samples with random blocks dropped"
    )
    ap.add_argument(
        "--downsample-share", type=float, default=0.1, help="share of samples downsampled"
    )
    ap.add_argument(
        "--sparse-from",
        type=float,
        default=0.3,
        help="fraction of --steps after which dropped/downsampled samples are mixed in "
        "(dense only before: a model that cannot yet read the image learns nothing from "
        "samples whose target was dropped)",
    )
    ap.add_argument("--eval-samples", type=int, default=192, help="held-out samples per eval")
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--checkpoint-every", type=int, default=250)
    ap.add_argument("--max-minutes", type=float, default=60.0, help="stop cleanly after this")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: on a shared 2-core machine 2 threads ran 2-3x slower)",
    )
    ap.add_argument("--workers", type=int, default=1, help="data loader processes (0: inline)")
    ap.add_argument("--log", default=None, help="append JSON lines of loss/accuracy here")
    ap.add_argument("--force", action="store_true", help="overwrite an existing --out")
    ap.add_argument("--no-progress", action="store_true")
    return ap.parse_args(argv)


def scene_config(recipe: str):
    from eventsim.datasets import recipe as recipes

    return recipes.load_recipe(recipe).scene_config()


def task_vocabulary(cfg) -> list[str]:
    """Every word a question, choice or answer of this scene config can contain."""
    from epvlm.processing import vocab_from_texts
    from eventsim.datasets import scenes

    texts: list[str] = [*scenes.COLORS, *scenes.SHAPES, *scenes.DIRECTIONS, scenes.NOT_MOVING]
    texts += ["yes", "no", "grey"]
    texts += [name for grid in scenes.POSITION_GRIDS.values() for row in grid for name in row]
    texts += [str(k) for k in range(10)]
    for qtype in scenes.QUESTION_TYPES[cfg.mode]:
        one = cfg.replace(question_types=(qtype,))
        texts += [scenes.draw_sample(one, s, render_frames=False).question for s in range(4)]
    return vocab_from_texts(texts)


class _Batches:
    """Deterministic stream of encoded training batches (batch ``k`` depends only on ``k``)."""

    def __init__(self, proc, cfg, args: argparse.Namespace, start: int = 0) -> None:
        self.proc, self.cfg, self.args, self.start = proc, cfg, args, start

    def make(self, step: int) -> tuple[dict[str, Any], list[str]]:
        from epvlm.prior import keep_mask_random, select_blocks
        from epvlm.processing import encode_batch, grid_for_size
        from eventsim.datasets.scenes import draw_sample

        a = self.args
        rng = np.random.default_rng([a.seed, step])
        images, questions, choices, answers, masks, qtypes = [], [], [], [], [], []
        for i in range(a.batch_size):
            seed = TRAIN_SEED_BASE + a.seed * 100_000_000 + step * a.batch_size + i
            s = draw_sample(self.cfg, seed, render_frames=False)
            image, mask = s.image, None
            u = rng.random() if step >= a.sparse_from * a.steps else 1.0
            grid = grid_for_size(self.proc, *image.shape[:2])
            if u < a.drop_share:
                keep = float(rng.choice(DROP_KEEPS))
                mask = keep_mask_random(grid, keep, rng)
            elif u < a.drop_share + a.downsample_share:
                keep = float(rng.choice(DROP_KEEPS))
                sel = select_blocks("downsample", image, keep=keep, grid=grid)
                image = sel.image
            images.append(image)
            masks.append(mask)
            questions.append(s.question)
            choices.append(s.choices)
            answers.append(s.answer)
            qtypes.append(s.question_type)
        batch = encode_batch(self.proc, images, questions, choices, masks, answers)
        return batch, qtypes


def _worker_iter(proc, cfg, args, start: int, stop: int):
    import torch

    class _It(torch.utils.data.IterableDataset):
        def __iter__(self):
            torch.set_num_threads(1)
            maker = _Batches(proc, cfg, args)
            for step in range(start, stop):
                yield maker.make(step)

    if args.workers <= 0:
        maker = _Batches(proc, cfg, args)
        return (maker.make(step) for step in range(start, stop))
    loader = torch.utils.data.DataLoader(
        _It(), batch_size=None, num_workers=1, prefetch_factor=4, persistent_workers=False
    )
    return iter(loader)


def answer_correct(logits, labels) -> np.ndarray:
    """Per sample: every answer token (teacher-forced) is the arg-max prediction."""
    pred = logits[:, :-1].argmax(-1)
    target = labels[:, 1:]
    scored = target != -100
    ok = (pred == target) | ~scored
    return ok.all(-1).cpu().numpy()


def evaluate(model, proc, cfg, n: int, batch_size: int = 32) -> dict[str, Any]:
    """Teacher-forced exact-answer accuracy on fixed held-out scenes (dense and at keep 0.5)."""
    import torch

    from epvlm.prior import keep_mask_random
    from epvlm.processing import encode_batch, grid_for_size
    from eventsim.datasets.scenes import draw_sample

    samples = [draw_sample(cfg, EVAL_SEED_BASE + i, render_frames=False) for i in range(n)]
    out: dict[str, Any] = {}
    model.eval()
    with torch.no_grad():
        for name in ("dense", "random50"):
            per_type: dict[str, list[int]] = {}
            for b0 in range(0, n, batch_size):
                chunk = samples[b0 : b0 + batch_size]
                masks = None
                if name == "random50":
                    grid = grid_for_size(proc, *chunk[0].image.shape[:2])
                    masks = [
                        keep_mask_random(grid, 0.5, EVAL_SEED_BASE + b0 + i)
                        for i in range(len(chunk))
                    ]
                batch = encode_batch(
                    proc,
                    [s.image for s in chunk],
                    [s.question for s in chunk],
                    [s.choices for s in chunk],
                    masks,
                    [s.answer for s in chunk],
                )
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


def save_checkpoint(model, proc, out: Path, info: dict[str, Any]) -> None:
    """Write to a sibling temp folder, then swap it in, so ``out`` is always a whole checkpoint."""
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(tmp)
    proc.save_pretrained(tmp)
    (tmp / "training.json").write_text(json.dumps(info, indent=2) + "\n")
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
    if out.exists() and not args.force:
        print(f"train_demo_model: {out} exists; pass --force to overwrite it", file=sys.stderr)
        return 1

    import torch
    from tqdm import tqdm

    from epvlm.modeling import EPQwen2VLForConditionalGeneration
    from epvlm.processing import build_offline_processor
    from epvlm.tiny import tiny_config

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = scene_config(args.recipe)
    proc = build_offline_processor(task_vocabulary(cfg))
    config = tiny_config(proc, **MODEL_SIZE)
    config.text_config.rope_parameters["rope_theta"] = TEXT_ROPE_THETA
    model = EPQwen2VLForConditionalGeneration(config)
    model.generation_config.pad_token_id = config.text_config.pad_token_id
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    model.generation_config.do_sample = False
    model.generation_config.max_new_tokens = 4
    n_params = sum(p.numel() for p in model.parameters())
    model.train()

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": args.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=args.lr,
    )

    def lr_factor(step: int) -> float:
        warm = min(1.0, (step + 1) / max(1, args.warmup))
        progress = min(1.0, step / max(1, args.steps))
        return warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
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
        "model_size": MODEL_SIZE,
        "text_rope_theta": TEXT_ROPE_THETA,
        "parameters": n_params,
        "torch_threads": args.threads,
        "eval_samples": args.eval_samples,
        "torch_version": torch.__version__,
    }
    record({"event": "start", **info})
    t0 = time.time()
    losses: list[float] = []
    accs: list[float] = []
    step = 0
    evals: list[dict[str, Any]] = []
    bar = tqdm(total=args.steps, disable=args.no_progress, desc="train", unit="step")
    try:
        for step, (batch, _) in enumerate(_worker_iter(proc, cfg, args, 0, args.steps), start=1):
            labels = batch["labels"]
            outputs = model(**batch)
            loss = outputs.loss
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
            over = (time.time() - t0) / 60 > args.max_minutes
            if step % args.eval_every == 0 or last or over:
                ev = evaluate(model, proc, cfg, args.eval_samples)
                evals.append({"step": step, **ev})
                record({"step": step, "eval": ev, "elapsed_s": round(time.time() - t0, 1)})
                bar.write(
                    f"step {step}: held-out dense {ev['dense']['accuracy']:.3f} {ev['dense']['per_type']}, random 0.5 {ev['random50']['accuracy']:.3f}"
                )
            if step % args.checkpoint_every == 0 or last or over:
                info.update(steps=step, train_time_s=round(time.time() - t0, 1), evals=evals[-1:])
                save_checkpoint(model, proc, out, info)
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


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
