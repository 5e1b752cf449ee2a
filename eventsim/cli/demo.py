"""``eventsim demo``: the end-to-end EP-VLM demonstration (build, evaluate, report).

Thin on purpose: the pipeline is `epvlm.demo.run_demo`, imported only when the command runs,
so ``eventsim`` itself never loads torch or transformers.
"""

from __future__ import annotations

import argparse

from eventsim.cli.common import cli_command, make_parser
from eventsim.errors import require


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(
        "demo",
        "Build the demo event-VQA test split (datasets/shapes-demo.toml), answer it with the "
        "shipped tiny Qwen2-VL for dense, event, random and downsample token selection at keep "
        "fractions 0.75, 0.5 and 0.25, and write a report (accuracy with 95 % intervals, "
        "FLOPs, latency, plots, preview images).",
    )
    p.add_argument("-o", "--output", default="demo-out", help="output folder (default demo-out)")
    p.add_argument(
        "--limit", type=int, default=None, metavar="N", help="use only the first N questions"
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing report")
    p.add_argument(
        "--dataset",
        default=None,
        metavar="DIR",
        help="an existing build of the demo recipe to use instead of building one",
    )
    p.add_argument(
        "--model",
        default=None,
        metavar="DIR",
        help="model directory (default: the shipped epvlm/assets/shapes-demo-tiny)",
    )
    p.add_argument("--workers", type=int, default=1, help="processes for the dataset build")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads for the model (default 1: the tiny model gains nothing from more)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


@cli_command(build_parser)
def main(args: argparse.Namespace) -> int:
    require("torch", "vlm", "eventsim demo")
    require("transformers", "vlm", "eventsim demo")
    from epvlm.demo import run_demo

    command = _command(args)
    result = run_demo(
        args.output,
        limit=args.limit,
        force=args.force,
        model_dir=args.model,
        dataset_dir=args.dataset,
        workers=args.workers,
        threads=args.threads,
        progress=not args.no_progress,
        command=command,
    )
    s = result.summary
    print(
        f"answered {s['n_questions']} questions ({s['n_moving']} moving-target, "
        f"{s['n_static']} static-target) x {len(s['configs'])} configurations "
        f"in {result.elapsed_s:.0f} s"
    )
    print(f"report: {result.report}")
    print(f"results: {result.results_json}")
    return 0


def _command(args: argparse.Namespace) -> str:
    parts = ["eventsim demo", "-o", args.output]
    if args.limit is not None:
        parts += ["--limit", str(args.limit)]
    if args.dataset:
        parts += ["--dataset", args.dataset]
    if args.model:
        parts += ["--model", args.model]
    return " ".join(parts)
