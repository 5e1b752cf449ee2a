"""Benchmark EP-VLM at real model size: prefill and end-to-end time, dense vs event selection.

Without ``--model`` it builds a randomly initialised model with the true sizes of a preset of
`epvlm.flops` (default Qwen2-VL-2B: ViT 1280 x 32 layers, 16 heads; LLM 1536 x 28 layers,
12/2 heads, MLP 8960, vocabulary 151936; full depth) straight from a config, no download. With
``--model DIR`` it loads a real checkpoint (`epvlm.loading.load_pretrained_model`, class from
``model_type``) and its processor.

One image with synthetic events (a few moving blobs) and a multiple-choice question is answered
dense (tau = 1) and with the ``event`` selector at each tau. For each configuration:

- prefill: vision tower + merger + LLM over the prompt, last-position logits (prebuilt batch);
- end to end: event selection + processor encoding + ``generate`` of ``--new-tokens`` tokens.

Repetitions are interleaved across configurations (alternating order) after one warm-up; medians
are reported with ratios to dense, next to the analytic FLOPs ratio. Peak RSS (``ru_maxrss``) is
recorded after the model is built or loaded and at the end. ``--load-check`` also saves the
random model as a stock-layout checkpoint in a temporary directory and loads it in a fresh
process with `load_pretrained_model`, reporting that process's peak RSS and peak anonymous RSS
against the weight bytes.

    python tools/bench_epvlm.py                          # 2B dims, bf16, taus 0.75,0.5,0.25
    python tools/bench_epvlm.py --reps 1 --load-check --json out.json
    python tools/bench_epvlm.py --model /path/Qwen2-VL-2B-Instruct --device cuda
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from eventsim._text import plural

if TYPE_CHECKING:
    from epvlm.prior import Selector

QUESTION = "Which object in the image is moving, and in which direction is it moving?"
CHOICES = ["the red cube to the left", "the blue ball to the right", "nothing moves"]


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# The public checkpoints tie the LM head to the embeddings at 2B/3B, not at 7B.
TIED = {"qwen2-vl-2b": True, "qwen2-vl-7b": False, "qwen2.5-vl-3b": True, "qwen2.5-vl-7b": False}


def config_from_dims(dims, tok, tie_word_embeddings: bool = True):
    """A transformers config with the preset's sizes and the tokenizer's special-token ids
    (the offline tokenizer puts them at small ids; the cost is the same)."""
    from transformers import Qwen2_5_VLConfig, Qwen2VLConfig

    from epvlm.tiny import mrope_section

    text = {
        "vocab_size": max(dims.vocab_size, len(tok)),
        "hidden_size": dims.hidden_size,
        "intermediate_size": dims.intermediate_size,
        "num_hidden_layers": dims.num_layers,
        "num_attention_heads": dims.num_heads,
        "num_key_value_heads": dims.num_kv_heads,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 1_000_000.0,
            "mrope_section": mrope_section(dims.head_dim),
        },
        "bos_token_id": tok.pad_token_id,
        "eos_token_id": tok.eos_token_id,
        "pad_token_id": tok.pad_token_id,
    }
    if dims.model_type == "qwen2_5_vl":
        cls: type[Qwen2VLConfig | Qwen2_5_VLConfig] = Qwen2_5_VLConfig
        vision = {
            "depth": dims.vision_depth,
            "hidden_size": dims.vision_dim,
            "intermediate_size": dims.vision_intermediate_size,
            "out_hidden_size": dims.hidden_size,
            "num_heads": dims.vision_heads,
            "window_size": dims.window_size,
            "fullatt_block_indexes": list(dims.fullatt_block_indexes),
        }
    else:
        cls = Qwen2VLConfig
        vision = {
            "depth": dims.vision_depth,
            "embed_dim": dims.vision_dim,
            "hidden_size": dims.hidden_size,
            "num_heads": dims.vision_heads,
            "mlp_ratio": int(dims.vision_mlp_ratio),
        }
    return cls(
        vision_config=vision,
        text_config=text,
        image_token_id=tok.convert_tokens_to_ids("<|image_pad|>"),
        video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
        vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
        vision_end_token_id=tok.convert_tokens_to_ids("<|vision_end|>"),
        tie_word_embeddings=tie_word_embeddings,
    )


def build_random_model(dims_name: str, proc, seed: int, dtype):
    """A randomly initialised EP model of the preset's true sizes, in ``dtype``."""
    import torch
    from transformers.initialization import no_init_weights

    from epvlm.flops import load_dims
    from epvlm.loading import model_class_for

    dims = load_dims(dims_name)
    config = config_from_dims(dims, proc.tokenizer, TIED.get(dims_name, True))
    # Skipping transformers' per-module init and filling weights directly is much faster at 2B.
    torch.set_default_dtype(dtype)
    try:
        with no_init_weights():
            model = model_class_for(dims.model_type)(config)
    finally:
        torch.set_default_dtype(torch.float32)
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
    model.generation_config.pad_token_id = proc.tokenizer.pad_token_id
    model.generation_config.eos_token_id = proc.tokenizer.eos_token_id
    return model.eval()


def synthetic_events(height: int, width: int, seed: int, n_blobs: int = 3) -> np.ndarray:
    """Events of a few small blobs moving over 50 ms: a sparse, structured event map."""
    from eventsim.events import EVENT_DTYPE

    rng = np.random.default_rng(seed)
    parts = []
    for _ in range(n_blobs):
        x0, y0 = rng.uniform(0.15, 0.85) * width, rng.uniform(0.15, 0.85) * height
        vx, vy = rng.uniform(-1, 1, 2) * 0.002 * max(width, height)  # px per ms
        radius = rng.uniform(0.04, 0.08) * min(width, height)
        n = 20_000
        t = np.sort(rng.integers(0, 50_000, n))
        angle = rng.uniform(0, 2 * np.pi, n)
        r = radius * np.sqrt(rng.uniform(0, 1, n))
        x = x0 + vx * t / 1000 + r * np.cos(angle)
        y = y0 + vy * t / 1000 + r * np.sin(angle)
        ev = np.zeros(n, EVENT_DTYPE)
        ev["x"] = np.clip(x, 0, width - 1)
        ev["y"] = np.clip(y, 0, height - 1)
        ev["t"] = t
        ev["p"] = rng.integers(0, 2, n)
        parts.append(ev)
    events = np.concatenate(parts)
    return events[np.argsort(events["t"], kind="stable")]


def load_check(model, proc, dtype_name: str) -> dict:
    """Save ``model`` as a stock-layout checkpoint and load it in a fresh process."""
    with tempfile.TemporaryDirectory(prefix="bench-epvlm-") as tmp:
        out = Path(tmp) / "model"
        model.save_pretrained(out)
        proc.save_pretrained(out)
        weight_bytes = sum(p.stat().st_size for p in out.glob("*.safetensors"))
        done = subprocess.run(
            [sys.executable, "-c", _LOAD_PROBE, str(out), dtype_name],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"load check failed: {done.stderr.strip().splitlines()[-1]}")
        figures = json.loads(done.stdout.strip().splitlines()[-1])
    mib = 2**20
    return {
        "weight_bytes": weight_bytes,
        **figures,
        "peak_vs_weights": figures["peak_rss_mib"] * mib / weight_bytes,
        "added_vs_weights": (figures["peak_rss_mib"] - figures["baseline_rss_mib"])
        * mib
        / weight_bytes,
        "peak_anon_vs_weights": figures["peak_anon_mib"] * mib / weight_bytes,
        "added_anon_vs_weights": (figures["peak_anon_mib"] - figures["baseline_anon_mib"])
        * mib
        / weight_bytes,
    }


# Runs in a fresh process: loads the checkpoint, then reads every weight once (transformers may
# leave weights memory-mapped until first use), and reports from /proc/self/status the peak RSS
# (VmHWM; ru_maxrss would inherit the parent's peak across exec) and the peak anonymous RSS
# (what the process allocated itself, without the mapped file pages that are page cache),
# sampled every 20 ms.
_LOAD_PROBE = """
import json, sys, threading, time

def status_mib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0

import torch
import epvlm.loading as loading
import epvlm.modeling, epvlm.modeling_qwen2_5_vl

base_rss, base_anon = status_mib("VmRSS"), status_mib("RssAnon")
peak = [base_anon]
stop = threading.Event()

def sample():
    while not stop.is_set():
        peak[0] = max(peak[0], status_mib("RssAnon"))
        time.sleep(0.02)

thread = threading.Thread(target=sample, daemon=True)
thread.start()
start = time.perf_counter()
model = loading.load_pretrained_model(sys.argv[1], dtype=sys.argv[2])
seconds = time.perf_counter() - start
with torch.no_grad():
    checksum = sum(float(p.float().sum()) for p in model.parameters())
stop.set()
thread.join()
peak[0] = max(peak[0], status_mib("RssAnon"))
print(json.dumps({
    "params": sum(p.numel() for p in model.parameters()),
    "load_s": seconds,
    "baseline_rss_mib": base_rss,
    "peak_rss_mib": status_mib("VmHWM"),
    "baseline_anon_mib": base_anon,
    "peak_anon_mib": peak[0],
    "final_rss_file_mib": status_mib("RssFile"),
    "checksum_finite": checksum == checksum,
}))
"""


def _count(n: int) -> str:
    """A parameter count in B, or in M below 1 B (a tiny checkpoint read '0.00 B')."""
    return f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.2f} M"


def main(argv: list[str] | None = None) -> int:
    from eventsim.cli.common import add_renamed_option

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--dims",
        default="qwen2-vl-2b",
        help="preset of epvlm.flops for random weights (qwen2-vl-2b, qwen2-vl-7b, "
        "qwen2.5-vl-3b, qwen2.5-vl-7b; default qwen2-vl-2b)",
    )
    p.add_argument("--model", help="a real checkpoint directory instead of random weights")
    p.add_argument(
        "--image-side", type=int, default=448, help="square image side in px (default 448)"
    )
    add_renamed_option(p, "--image-size", "--image-side (one side of the square image)")
    p.add_argument(
        "--taus",
        default="0.75,0.5,0.25",
        help="keep fractions of the event selector (default 0.75,0.5,0.25)",
    )
    p.add_argument("--reps", type=int, default=2, help="timed repetitions (default %(default)s)")
    p.add_argument(
        "--new-tokens", type=int, default=4, help="tokens generated end to end (default 4)"
    )
    p.add_argument(
        "--dtype",
        default="bfloat16",
        choices=["bfloat16", "float16", "float32"],
        help="model dtype (default %(default)s)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1; 0 keeps torch's default). On a shared, "
        "oversubscribed CPU every multi-threaded op waits at a barrier for a descheduled "
        "thread, a fixed cost per op that hides the savings; one thread measures compute",
    )
    p.add_argument("--device", default="cpu", help="torch device (default %(default)s)")
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the random weights and inputs (default 0)"
    )
    p.add_argument(
        "--load-check",
        action="store_true",
        help="also save the random model and measure a fresh process loading it (peak RSS)",
    )
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument("--force", action="store_true", help="overwrite an existing --json file")
    args = p.parse_args(argv)
    if args.load_check and args.model:
        p.error("--load-check saves and reloads the random model; with --model there is none")
    # refused now, not as a traceback after the model was built (--reps 0 failed in the table)
    if min(args.reps, args.new_tokens, args.image_side) < 1 or args.threads < 0:
        p.error(
            "--reps, --new-tokens and --image-side must be at least 1, --threads at least 0; "
            f"got {args.reps}, {args.new_tokens}, {args.image_side} and {args.threads}"
        )
    try:
        tau_values = [float(t) for t in args.taus.split(",")]
    except ValueError:
        p.error(f"--taus {args.taus!r}: expected keep fractions separated by commas, e.g. 0.5,0.25")
    # refused before the minutes of measuring, not after them
    if args.json and Path(args.json).exists() and not args.force:
        print(f"bench_epvlm: {args.json} exists; pass --force to overwrite it", file=sys.stderr)
        return 2
    if args.json and not Path(args.json).resolve().parent.is_dir():
        print(
            f"bench_epvlm: --json {args.json}: its folder does not exist; expected a file in an "
            "existing folder",
            file=sys.stderr,
        )
        return 2

    import torch

    from epvlm.evaluate import resolve_device
    from epvlm.flops import vlm_flops, window_token_counts
    from epvlm.loading import load_pretrained_model
    from epvlm.prior import check_keep, select_blocks
    from epvlm.processing import (
        IMAGE_TOKEN,
        build_offline_processor,
        encode_batch,
        grid_for_size,
        load_processor,
    )
    from eventsim.cli.common import cli_words
    from eventsim.errors import EventsimError

    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    rss_before = peak_rss_mib()
    t0 = time.perf_counter()
    # a bad keep, device, preset or checkpoint is one line, not a traceback (--device cuda
    # without a GPU failed inside torch)
    try:
        taus = [check_keep(t) for t in tau_values]
        resolve_device(args.device)
        if args.model:
            proc = load_processor(args.model)
            model = load_pretrained_model(args.model, device=args.device, dtype=dtype)
            source = f"checkpoint {args.model}"
        else:
            proc = build_offline_processor(
                [QUESTION, *CHOICES], max_pixels=max(448 * 448, args.image_side**2)
            )
            model = build_random_model(args.dims, proc, args.seed, dtype).to(args.device)
            source = f"{args.dims} dims, random init"
    except EventsimError as exc:
        print(f"bench_epvlm: {cli_words(exc, p, args)}", file=sys.stderr)
        return 2
    setup_s = time.perf_counter() - t0
    rss_model = peak_rss_mib()
    n_params = sum(p.numel() for p in model.parameters())
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    config = model.config

    rng = np.random.default_rng(args.seed)
    side = args.image_side
    image = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    events = synthetic_events(side, side, args.seed)
    grid = grid_for_size(proc, side, side)
    configs = [("dense", 1.0)] + [("event", t) for t in taus]

    def select_and_encode(selector: str, tau: float):
        sel = select_blocks(
            cast("Selector", selector),
            image,
            keep=tau,
            grid=grid,
            events=events,
            sensor_size=(side, side),
        )
        batch = encode_batch(proc, [sel.image], [QUESTION], [CHOICES], keep_masks=[sel.mask])
        return sel, {k: v.to(args.device) for k, v in batch.items()}

    prepared = {c: select_and_encode(*c) for c in configs}

    def sync() -> None:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    def prefill(c) -> float:
        batch = prepared[c][1]
        sync()
        start = time.perf_counter()
        with torch.no_grad():
            model(**batch, logits_to_keep=1, use_cache=False)
        sync()
        return time.perf_counter() - start

    def end_to_end(c) -> float:
        sync()
        start = time.perf_counter()
        _sel, batch = select_and_encode(*c)
        with torch.no_grad():
            model.generate(
                **batch,
                max_new_tokens=args.new_tokens,
                min_new_tokens=args.new_tokens,
                do_sample=False,
            )
        sync()
        return time.perf_counter() - start

    prefill(configs[-1])  # warm-up (allocator, kernels)
    load_before = os.getloadavg()
    times: dict[tuple[str, float], dict[str, list[float]]] = {
        c: {"prefill": [], "e2e": []} for c in configs
    }
    for rep in range(args.reps):
        order = configs if rep % 2 == 0 else configs[::-1]
        for c in order:
            times[c]["prefill"].append(prefill(c))
            times[c]["e2e"].append(end_to_end(c))
            print(
                f"rep {rep + 1}/{args.reps} {c[0]} tau {c[1]:g}: prefill "
                f"{times[c]['prefill'][-1]:.2f} s, end to end {times[c]['e2e'][-1]:.2f} s",
                file=sys.stderr,
            )

    image_id = proc.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    results: list[dict[str, Any]] = []
    for c in configs:
        sel, batch = prepared[c]
        kept = int(batch["image_keep_mask"].sum())
        text_tokens = int((batch["input_ids"] != image_id).sum())
        windows = [window_token_counts(config, *grid, sel.mask.reshape(-1).tolist())]
        fl = vlm_flops(config, kept, text_tokens, new_tokens=1, windows=windows)
        results.append(
            {
                "selector": c[0],
                "tau": c[1],
                "kept_tokens": kept,
                "total_tokens": grid[0] * grid[1],
                "text_tokens": text_tokens,
                "prefill_flops": fl.prefill,
                "prefill_s_median": statistics.median(times[c]["prefill"]),
                "prefill_s_all": times[c]["prefill"],
                "e2e_s_median": statistics.median(times[c]["e2e"]),
                "e2e_s_all": times[c]["e2e"],
            }
        )
    dense = results[0]
    for r in results:
        r["flops_ratio"] = r["prefill_flops"] / dense["prefill_flops"]
        r["prefill_ratio"] = r["prefill_s_median"] / dense["prefill_s_median"]
        r["e2e_ratio"] = r["e2e_s_median"] / dense["e2e_s_median"]
    rss_end = peak_rss_mib()
    memory = {
        "rss_before_model_mib": rss_before,
        "peak_rss_after_model_mib": rss_model,
        "peak_rss_end_mib": rss_end,
        "weight_mib": weight_bytes / 2**20,
    }
    loaded = None
    if args.load_check and not args.model:
        print("load check: saving and reloading the model in a fresh process", file=sys.stderr)
        loaded = load_check(model, proc, args.dtype)

    device = args.device
    if device.startswith("cuda"):
        device += f" ({torch.cuda.get_device_name()})"
    print(
        f"# {source} ({model.config.model_type}, {_count(n_params)} params, {args.dtype}, "
        f"ready in {setup_s:.0f} s), {side}x{side} image, {grid[0]}x{grid[1]} tokens, "
        f"{args.new_tokens} new {plural(args.new_tokens, 'token')} end to end, device {device}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"transformers {importlib.metadata.version('transformers')}, "
        f"{platform.processor() or platform.machine()} with {os.cpu_count()} CPUs, load average "
        f"{' '.join(f'{v:.2f}' for v in load_before)} -> "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    print(
        "| selection | image tokens | FLOPs vs dense | prefill s | prefill vs dense "
        "| end to end s | end to end vs dense |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        name = "dense" if r["selector"] == "dense" else f"event τ = {r['tau']:g}"
        print(
            f"| {name} | {r['kept_tokens']} / {r['total_tokens']} | {r['flops_ratio']:.3f} | "
            f"{r['prefill_s_median']:.2f} | {r['prefill_ratio']:.3f} | "
            f"{r['e2e_s_median']:.2f} | {r['e2e_ratio']:.3f} |"
        )
    print(
        f"peak RSS: {rss_before:.0f} MiB before the model, {rss_model:.0f} MiB with it "
        f"({weight_bytes / 2**20:.0f} MiB of weights), {rss_end:.0f} MiB at the end"
    )
    if loaded:
        print(
            f"load check: {loaded['weight_bytes'] / 2**20:.0f} MiB of safetensors loaded by a "
            f"fresh process in {loaded['load_s']:.1f} s, then every weight read once: peak RSS "
            f"{loaded['peak_rss_mib']:.0f} MiB ({loaded['peak_vs_weights']:.2f}x the weights; "
            f"{loaded['added_vs_weights']:.2f}x above the {loaded['baseline_rss_mib']:.0f} MiB "
            f"of the interpreter and libraries), of which anonymous at most "
            f"{loaded['peak_anon_mib']:.0f} MiB ({loaded['added_anon_vs_weights']:.2f}x above "
            f"its {loaded['baseline_anon_mib']:.0f} MiB baseline; the rest is mapped file pages)"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(
                {"args": vars(args), "results": results, "memory": memory, "load_check": loaded},
                f,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
