"""Benchmark EP-VLM prefill cost at Qwen2-VL-2B's real dimensions (random weights).

Builds a randomly initialised Qwen2-VL with the 2B model's sizes (ViT 1280 x 32 layers, 16 heads;
LLM 1536 x 28 layers, 12/2 heads, MLP 8960, vocabulary 151936), encodes one image with a short
question, and for each keep fraction reports the analytic FLOPs and the measured prefill time
(vision tower + merger + LLM over the prompt, logits for the last position), with repetitions
interleaved across keep fractions and medians reported. Masks are scattered (seeded random
blocks with the exact budget); cost does not depend on which blocks are kept.

    python tools/bench_epvlm.py                       # 448x448, keeps 1,0.5,0.25, 2 reps, 1 thread
    python tools/bench_epvlm.py --reps 3 --threads 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

import numpy as np


def build_model(dims_name: str, proc, seed: int):
    import torch
    from transformers import Qwen2VLConfig
    from transformers.initialization import no_init_weights

    from epvlm.flops import load_dims
    from epvlm.modeling import EPQwen2VLForConditionalGeneration
    from epvlm.tiny import mrope_section

    d = load_dims(dims_name)
    tok = proc.tokenizer
    config = Qwen2VLConfig(
        vision_config={
            "depth": d.vision_depth,
            "embed_dim": d.vision_dim,
            "hidden_size": d.hidden_size,
            "num_heads": d.vision_heads,
            "mlp_ratio": int(d.vision_mlp_ratio),
        },
        text_config={
            "vocab_size": max(d.vocab_size, len(tok)),
            "hidden_size": d.hidden_size,
            "intermediate_size": d.intermediate_size,
            "num_hidden_layers": d.num_layers,
            "num_attention_heads": d.num_heads,
            "num_key_value_heads": d.num_kv_heads,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1_000_000.0,
                "mrope_section": mrope_section(d.head_dim),
            },
            "bos_token_id": tok.pad_token_id,
            "eos_token_id": tok.eos_token_id,
            "pad_token_id": tok.pad_token_id,
        },
        # the offline tokenizer puts the special tokens at small ids; the cost is the same
        image_token_id=tok.convert_tokens_to_ids("<|image_pad|>"),
        video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
        vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
        vision_end_token_id=tok.convert_tokens_to_ids("<|vision_end|>"),
        tie_word_embeddings=True,
    )
    # Skipping transformers' per-module init and filling weights directly is much faster at 2B.
    with no_init_weights():
        model = EPQwen2VLForConditionalGeneration(config)
    model.tie_weights()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif p.ndim == 1:
                p.fill_(1.0)
            else:
                p.normal_(0.0, 0.02, generator=gen)
    return model.eval(), config


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--dims", default="qwen2-vl-2b", help="preset of epvlm.flops (qwen2-vl-2b, qwen2-vl-7b)"
    )
    p.add_argument("--image-size", type=int, default=448, help="square image side in px")
    p.add_argument("--keeps", default="1,0.5,0.25")
    p.add_argument("--reps", type=int, default=2)
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1; 0 keeps torch's default). On a shared, "
        "oversubscribed CPU every multi-threaded op waits at a barrier for a descheduled "
        "thread, a fixed cost per op that hides the savings; one thread measures compute",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the figures to this JSON file")
    args = p.parse_args(argv)

    import torch

    from epvlm.flops import vlm_flops
    from epvlm.prior import keep_mask_random
    from epvlm.processing import IMAGE_TOKEN, build_offline_processor, encode_batch, grid_for_size

    if args.threads:
        torch.set_num_threads(args.threads)
    keeps = [float(k) for k in args.keeps.split(",")]
    question = "Which object in the image is moving, and in which direction is it moving?"
    choices = ["the red cube to the left", "the blue ball to the right", "nothing moves"]
    proc = build_offline_processor(
        [question, *choices], max_pixels=max(448 * 448, args.image_size**2)
    )
    t0 = time.perf_counter()
    model, config = build_model(args.dims, proc, args.seed)
    model.to(args.device)
    build_s = time.perf_counter() - t0
    n_params = sum(p.numel() for p in model.parameters())

    rng = np.random.default_rng(args.seed)
    image = rng.integers(0, 256, (args.image_size, args.image_size, 3), dtype=np.uint8)
    grid = grid_for_size(proc, args.image_size, args.image_size)
    batches = {}
    for keep in keeps:
        mask = keep_mask_random(grid, keep, seed=args.seed)
        b = encode_batch(proc, [image], [question], [choices], keep_masks=[mask])
        batches[keep] = {k: v.to(args.device) for k, v in b.items()}
    image_id = proc.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    text_tokens = int((batches[keeps[0]]["input_ids"] != image_id).sum())

    def prefill(keep: float) -> float:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.no_grad():
            model(**batches[keep], logits_to_keep=1, use_cache=False)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - start

    prefill(min(keeps))  # warm-up (allocator, kernels)
    times: dict[float, list[float]] = {k: [] for k in keeps}
    for rep in range(args.reps):
        order = keeps if rep % 2 == 0 else keeps[::-1]
        for keep in order:
            times[keep].append(prefill(keep))
            print(
                f"rep {rep + 1}/{args.reps} keep {keep:g}: {times[keep][-1]:.2f} s", file=sys.stderr
            )

    dense_keep = max(keeps)
    results = []
    for keep in keeps:
        kept = int(batches[keep]["image_keep_mask"].sum())
        fl = vlm_flops(config, kept, text_tokens, new_tokens=1)
        results.append(
            {
                "keep": keep,
                "kept_tokens": kept,
                "total_tokens": grid[0] * grid[1],
                "flops": fl.prefill,
                "vision_flops": fl.vision + fl.merger,
                "llm_flops": fl.language_model,
                "prefill_s_median": statistics.median(times[keep]),
                "prefill_s_all": times[keep],
            }
        )
    ref = next(r for r in results if r["keep"] == dense_keep)
    print(
        f"# {args.dims} dims, random init ({n_params / 1e9:.2f} B params, built in {build_s:.0f} s), "
        f"{args.image_size}x{args.image_size} image, {text_tokens} text tokens, device {args.device}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}, {platform.processor() or platform.machine()}"
    )
    print(
        "| keep | image tokens | GFLOPs (prefill) | FLOPs vs keep 1 | median prefill s | time vs keep 1 |"
    )
    print("|---|---|---|---|---|---|")
    for r in results:
        r["flops_ratio"] = r["flops"] / ref["flops"]
        r["time_ratio"] = r["prefill_s_median"] / ref["prefill_s_median"]
        print(
            f"| {r['keep']:g} | {r['kept_tokens']} / {r['total_tokens']} | {r['flops'] / 1e9:.0f} | "
            f"{r['flops_ratio']:.3f} | {r['prefill_s_median']:.2f} | {r['time_ratio']:.3f} |"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(
                {"args": vars(args), "text_tokens": text_tokens, "results": results}, f, indent=2
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
