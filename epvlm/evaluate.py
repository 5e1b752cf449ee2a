"""Run a (sparse) Qwen2-VL over a built event-VQA dataset for each selector and keep fraction.

`evaluate_dataset` is what ``epvlm eval`` and ``epvlm demo`` call. Every (selector, keep)
pair answers every sample with greedy decoding; a sample is correct when its normalised answer
(`epvlm.processing.normalize_answer`) equals the reference. FLOPs come from the analytic model
(`epvlm.flops.vlm_flops`) with each sample's actual kept image tokens, text tokens and generated
tokens. Latency is wall time of the batched ``generate`` call divided by the batch size.

The dense configuration is always evaluated (added when not requested) because every row
reports its accuracy and FLOPs relative to dense.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from epvlm.errors import ModelDirError
from epvlm.prior import SELECTORS, Selection, check_keep, select_blocks
from epvlm.results import aggregate, write_eval_outputs
from eventsim.errors import OutputExistsError, ParameterError

DTYPES = ("float32", "bfloat16", "float16")

__all__ = [
    "DTYPES",
    "answer_selections",
    "evaluate_dataset",
    "load_model",
    "make_selection",
]


def load_model(model_dir: str | Path, *, device: str = "cpu", dtype: str = "float32"):
    """Load the EP-VLM model (class picked from ``model_type`` in ``config.json``, every tensor
    checked, see `epvlm.loading.load_pretrained_model`) and its processor from a directory."""
    import torch

    from epvlm.loading import load_pretrained_model
    from epvlm.processing import load_processor

    if dtype not in DTYPES:
        raise ParameterError(f"dtype {dtype!r} is unknown; expected one of {DTYPES}")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ParameterError(f"device {device!r} is not a torch device, e.g. cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"device {device!r} requested but CUDA is not available")
    model_dir = Path(model_dir)
    proc = load_processor(model_dir)
    if not (model_dir / "config.json").is_file():
        raise ModelDirError(f"model directory {str(model_dir)!r} has no config.json")
    model = load_pretrained_model(model_dir, device=dev, dtype=getattr(torch, dtype))
    gen = model.generation_config
    if gen.pad_token_id is None:
        gen.pad_token_id = proc.tokenizer.pad_token_id
    if gen.eos_token_id is None:
        gen.eos_token_id = proc.tokenizer.eos_token_id
    return model, proc


def make_selection(
    proc,
    sample: dict[str, Any],
    selector: str,
    keep: float,
    *,
    window_ms: float | None = None,
    seed: int | np.random.Generator = 0,
    rule: str = "topk",
    event_mode: str = "count",
) -> Selection:
    """Apply a selector to one dataset sample (image, events, meta)."""
    from epvlm.processing import grid_for_size

    image = sample["image"]
    height, width = image.shape[:2]
    meta = sample.get("meta") or {}
    window = None
    if window_ms is not None:
        if not window_ms > 0:
            raise ParameterError(f"window_ms {window_ms!r} must be > 0")
        end = int(
            meta.get("frame_t_us", sample["events"]["t"].max() if len(sample["events"]) else 0)
        )
        window = (end + 1 - round(window_ms * 1000), end + 1)
    sensor = tuple(meta.get("sensor_size") or (width, height))
    return select_blocks(
        selector,
        image,
        keep=keep,
        grid=grid_for_size(proc, height, width),
        events=sample.get("events"),
        sensor_size=sensor,
        window_us=window,
        rule=rule,
        mode=event_mode,
        seed=seed,
    )


def answer_selections(
    model,
    proc,
    selections: Sequence[Selection],
    questions: Sequence[str],
    choices: Sequence[Sequence[str]],
    *,
    max_new_tokens: int | None = None,
) -> tuple[list[str], list[dict[str, int]], float]:
    """Greedy answers for a batch; returns (answers, per-sample token counts, seconds)."""
    import torch

    from epvlm.processing import IMAGE_TOKEN, answer_text, decode_answers, encode_batch

    batch = encode_batch(
        proc,
        [s.image for s in selections],
        questions,
        choices,
        keep_masks=[s.mask for s in selections],
    )
    tok = proc.tokenizer
    if max_new_tokens is None:
        lengths = [
            len(tok(answer_text(c), add_special_tokens=False)["input_ids"])
            for cs in choices
            for c in cs
        ]
        max_new_tokens = max(lengths, default=8)
    device = model.device
    batch = {k: v.to(device) for k, v in batch.items()}
    batch["pixel_values"] = batch["pixel_values"].to(model.dtype)
    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False)
    seconds = time.perf_counter() - start
    prompt_len = batch["input_ids"].shape[1]
    texts = decode_answers(proc, out.cpu(), prompt_len)
    image_id = tok.convert_tokens_to_ids(IMAGE_TOKEN)
    eos = tok.eos_token_id
    pad = tok.pad_token_id
    counts = []
    for i in range(len(selections)):
        valid = batch["attention_mask"][i].bool()
        ids = batch["input_ids"][i][valid]
        new = out[i, prompt_len:].tolist()
        n_new = len(new)
        if eos in new:
            n_new = new.index(eos) + 1
        elif pad in new and pad != eos:
            n_new = new.index(pad)
        counts.append(
            {
                "image_tokens": int((ids == image_id).sum()),
                "text_tokens": int((ids != image_id).sum()),
                "new_tokens": max(1, n_new),
            }
        )
    return texts, counts, seconds


def _configs(selectors: Iterable[str], keeps: Iterable[float]) -> list[tuple[str, float]]:
    selectors = list(dict.fromkeys(selectors))
    bad = [s for s in selectors if s not in SELECTORS]
    if bad:
        raise ParameterError(f"selector(s) {bad} unknown; expected some of {SELECTORS}")
    keeps = [check_keep(k) for k in keeps]
    if not keeps:
        raise ParameterError("no keep fractions given")
    configs = [("dense", 1.0)]
    for sel in selectors:
        if sel == "dense":
            continue
        configs.extend((sel, k) for k in dict.fromkeys(keeps))
    return configs


def _sample_seed(seed: int, index: int, keep: float) -> np.random.Generator:
    return np.random.default_rng([seed, index, round(keep * 1_000_000)])


def evaluate_dataset(
    model_dir: str | Path,
    dataset_dir: str | Path,
    *,
    split: str = "test",
    selectors: Sequence[str] = ("dense", "event", "random", "downsample"),
    keeps: Sequence[float] = (0.75, 0.5, 0.25),
    window_ms: float | None = None,
    limit: int | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    out_dir: str | Path | None = None,
    progress: bool = True,
    seed: int = 0,
    batch_size: int = 16,
    rule: str = "topk",
    event_mode: str = "count",
    force: bool = False,
) -> dict[str, Any]:
    """Evaluate every (selector, keep) on a dataset split; see the module docstring.

    Returns ``dict(rows=[...], samples=[...])``; with ``out_dir`` also writes results.json
    (the rows), samples.jsonl, table.md and accuracy_vs_flops.png there (refusing to replace
    an existing results.json unless ``force``).
    """
    from tqdm.auto import tqdm

    from epvlm.flops import vlm_flops
    from epvlm.processing import normalize_answer
    from eventsim.datasets import EventVQADataset

    configs = _configs(selectors, keeps)
    if limit is not None and limit < 1:
        raise ParameterError(f"limit {limit!r} must be >= 1")
    if batch_size < 1:
        raise ParameterError(f"batch_size {batch_size!r} must be >= 1")
    out_path = Path(out_dir) if out_dir is not None else None
    if out_path is not None and (out_path / "results.json").exists() and not force:
        raise OutputExistsError(
            f"{str(out_path / 'results.json')!r} exists; pass force=True (--force) to overwrite"
        )
    model, proc = load_model(model_dir, device=device, dtype=dtype)
    ds = EventVQADataset(dataset_dir, split=split)
    n = len(ds) if limit is None else min(limit, len(ds))
    if n == 0:
        raise ParameterError(f"split {split!r} of {str(dataset_dir)!r} has no samples")

    samples: list[dict[str, Any]] = []
    bar = tqdm(total=n * len(configs), desc="epvlm eval", unit="answer", disable=not progress)
    try:
        for start in range(0, n, batch_size):
            items = [ds[i] for i in range(start, min(n, start + batch_size))]
            questions = [s["question"] for s in items]
            choices = [list(s["choices"]) for s in items]
            for selector, keep in configs:
                sels = [
                    make_selection(
                        proc,
                        s,
                        selector,
                        keep,
                        window_ms=window_ms,
                        seed=_sample_seed(seed, start + j, keep),
                        rule=rule,
                        event_mode=event_mode,
                    )
                    for j, s in enumerate(items)
                ]
                answers, counts, seconds = answer_selections(model, proc, sels, questions, choices)
                for s, sel, pred, cnt in zip(items, sels, answers, counts):
                    flops = vlm_flops(
                        model.config,
                        cnt["image_tokens"],
                        cnt["text_tokens"],
                        new_tokens=cnt["new_tokens"],
                    ).total
                    samples.append(
                        {
                            "id": s["id"],
                            "selector": selector,
                            "keep": keep,
                            "prediction": pred,
                            "answer": s["answer"],
                            "correct": normalize_answer(pred) == normalize_answer(s["answer"]),
                            "question_type": s["question_type"],
                            "target_motion": (s.get("meta") or {}).get("target_motion"),
                            "kept_tokens": sel.kept_tokens,
                            "total_tokens": sel.total_tokens,
                            "flops": int(flops),
                            "latency_s": seconds / len(items),
                            "fallback": sel.fallback,
                        }
                    )
                bar.update(len(items))
    finally:
        bar.close()
        ds.close()

    rows = aggregate(samples, configs)
    if out_path is not None:
        out_path.mkdir(parents=True, exist_ok=True)
        title = f"epvlm eval: {Path(model_dir).name} on {Path(dataset_dir).name}/{split}, n={n}"
        note = (
            f"Selectors {', '.join(dict.fromkeys(c[0] for c in configs))}; event rule {rule}, "
            f"event map {event_mode}; greedy decoding on {device} ({dtype}); latency is the "
            f"batched generate() wall time per sample at batch size {batch_size}; FLOPs are "
            "analytic (epvlm.flops) with each sample's kept, text and generated tokens."
        )
        write_eval_outputs(out_path, rows, samples, title, note)
    return {"rows": rows, "samples": samples}
