"""The demo pipeline: build (or reuse) the test split, evaluate, analyse, preview, report.

`run_demo` ties the steps together; each step lives in its own module: `epvlm.evaluate`
answers the questions, `epvlm.results` aggregates them, `epvlm.demo.analysis` reads the numbers,
`epvlm.demo.preview` draws the sample images and `epvlm.demo.report` writes ``report.md``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from epvlm.demo.analysis import KEEPS, SCENARIO_FIELD, summarize, target_coverage
from epvlm.demo.preview import PREVIEW_KEEP, pick_previews, render_preview
from epvlm.demo.report import BY_SCENARIO_PLOT, BY_TYPE_PLOT, SUMMARY_FILE, write_report
from epvlm.prior import Selector
from epvlm.results import (
    RESULT_FILES,
    check_results_folder,
    fmt_keep,
    plot_accuracy_vs_flops_by,
    remove_partial,
)
from eventsim.errors import DatasetError, OutputExistsError, ParameterError
from eventsim.outputs import (
    KeptInterrupt,
    remove_path,
    remove_stale_temps,
    sigint_deferred,
    temp_path,
)

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_MODEL = ASSETS / "shapes-demo-tiny"
DEFAULT_RECIPE = "shapes-demo"
SELECTORS: tuple[Selector, ...] = ("dense", "event", "random", "downsample")

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_RECIPE",
    "SELECTORS",
    "DemoDatasetWarning",
    "DemoResult",
    "foreign_dataset_note",
    "prepare_dataset",
    "run_demo",
]


@dataclasses.dataclass(frozen=True)
class DemoResult:
    out_dir: Path
    report: Path
    results_json: Path
    dataset_dir: Path
    n_questions: int
    elapsed_s: float
    summary: dict[str, Any]


# ----------------------------------------------------------------------------- dataset


def _manifest_count(data_dir: Path, recipe) -> int | None:
    """Test samples of an earlier complete build of ``recipe`` in ``data_dir`` (None: none)."""
    manifest = data_dir / "dataset.json"
    if not manifest.is_file():
        return None
    try:
        info = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if info.get("recipe_fingerprint") != recipe.fingerprint:
        return None
    test = (info.get("splits") or {}).get("test") or {}
    try:
        # skipped samples count as done: rebuilding would skip them again
        return int(test.get("samples", 0)) + int(test.get("errors", 0))
    except (TypeError, ValueError):
        return None


def _foreign_contents(data_dir: Path, recipe) -> str | None:
    """What ``data_dir`` holds that is not a build of ``recipe`` (by its name: a build of it
    by another eventsim, or with another limit, has another fingerprint but is the demo's to
    replace); None when it is missing, empty, not a folder (the build says so) or such a
    build."""
    from eventsim.datasets.engine import STATE_FILE

    try:
        entries = [p for p in data_dir.iterdir() if not p.name.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return None
    for name in ("dataset.json", STATE_FILE):
        try:
            info = json.loads((data_dir / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(info, dict):
            continue
        recipe_info = info.get("recipe")
        if not isinstance(recipe_info, dict):
            recipe_info = {}
        dataset = recipe_info.get("dataset")
        found = dataset.get("name") if isinstance(dataset, dict) else None
        splits = recipe_info.get("splits")
        if name == "dataset.json":
            found, splits = info.get("name", found), info.get("splits", splits)
        if not isinstance(found, str):
            continue
        # the same name with splits the recipe lacks (a train split) is a build of the
        # user's own from the recipe, not the demo's
        if found == recipe.name and isinstance(splits, dict) and set(splits) <= set(recipe.splits):
            return None
        return f"a build of {found!r} (splits {', '.join(map(str, splits or {})) or 'none'})"
    # a build killed before its state file was written leaves no more than an empty shards/
    # (and hidden temporaries)
    if all(p.name == "shards" and p.is_dir() and not any(p.iterdir()) for p in entries):
        return None
    return "files that are not a dataset build"


def prepare_dataset(
    data_dir: Path,
    *,
    recipe: str | Path = DEFAULT_RECIPE,
    limit: int | None = None,
    progress: bool = True,
    workers: int = 1,
    force: bool = False,
) -> tuple[Path, bool]:
    """Build the demo test split into ``data_dir`` unless a build of the same recipe with at
    least the needed questions is there already. Returns (dir, reused).

    An earlier build of the recipe there (fewer questions, another eventsim) is replaced;
    anything else (another dataset, files of the user's) only with ``force``."""
    from eventsim.datasets import build_dataset, load_recipe

    rec = load_recipe(recipe)
    wanted = int(rec.splits["test"]) if limit is None else min(limit, int(rec.splits["test"]))
    have = _manifest_count(data_dir, rec)
    if have is not None and have >= wanted:
        return data_dir, True
    foreign = None if force else _foreign_contents(data_dir, rec)
    if foreign is not None:
        # the build below replaces what is there: a dataset of the user's own, built into
        # DIR/data before `epvlm demo -o DIR`, was deleted without --force
        raise OutputExistsError(
            f"{str(data_dir)!r} holds {foreign}; the demo builds its {rec.name!r} test split "
            "there: pick another output folder, or pass force=True to replace it"
        )
    build_dataset(rec, data_dir, limit=limit, force=True, progress=progress, workers=workers)
    return data_dir, False


# ----------------------------------------------------------------------------- pipeline


def run_demo(
    out_dir: str | Path = "demo-out",
    *,
    limit: int | None = None,
    force: bool = False,
    model_dir: str | Path | None = None,
    dataset_dir: str | Path | None = None,
    recipe: str | Path = DEFAULT_RECIPE,
    selectors: Sequence[Selector] = SELECTORS,
    keeps: Sequence[float] = KEEPS,
    progress: bool = True,
    workers: int = 1,
    batch_size: int = 32,
    seed: int = 0,
    threads: int | None = None,
    coverage_questions: int | None = None,
    detail_types: Sequence[str] | None = None,
    command: str = "epvlm demo",
    device: str = "cpu",
    dtype: str = "float32",
) -> DemoResult:
    """Run the whole demo; see the module docstring. ``dataset_dir`` (an existing build: its
    folder or its dataset.json) skips the build step; otherwise the split is built into
    ``out_dir/data`` (reused when present).
    ``coverage_questions`` bounds the target-coverage analysis (`target_coverage`; None:
    every question, about 0.25 s per 100 with the shipped model).
    ``detail_types`` names the question types the headline is about (default: every type
    but colour, see `epvlm.demo.analysis.summarize`).
    ``threads`` sets torch's CPU threads (None: leave as is); a tiny model gains nothing from
    more than one, and on a busy machine extra threads cost more than they give.
    ``device`` and ``dtype`` are those of `epvlm.evaluate.evaluate_dataset` (``"auto"`` as
    ``epvlm demo --device auto``), checked before the split is built."""
    t_start = time.perf_counter()
    out = Path(out_dir)
    report = out / "report.md"
    if report.exists() and not force:
        raise OutputExistsError(f"{str(report)!r} exists; pass force=True to overwrite it")
    if dataset_dir is not None:
        from eventsim.datasets.loader import dataset_root

        # DIR/dataset.json names the dataset as well as DIR, as for the rest of the toolkit
        dataset_dir = dataset_root(dataset_dir)
    # the evaluation's files go into the same folder
    check_results_folder(out, dataset_dir, force)
    if limit is not None and limit < 1:
        raise ParameterError(f"limit {limit!r} must be >= 1")
    model_path = Path(model_dir) if model_dir is not None else DEFAULT_MODEL
    if not (model_path / "config.json").is_file():
        raise ParameterError(
            f"model directory {str(model_path)!r} has no config.json; expected the shipped demo "
            "model (epvlm/assets/shapes-demo-tiny) or a Qwen2-VL checkpoint saved with its processor"
        )
    if workers < 1:
        raise ParameterError(f"workers {workers!r} must be >= 1")
    if threads is not None and threads < 1:
        raise ParameterError(f"threads {threads!r} must be >= 1")
    if dataset_dir is not None:
        from eventsim.datasets import read_manifest

        # the loader's words for what the folder is instead (a file of a dataset, a folder
        # holding one such as an earlier demo's output, an unfinished build)
        read_manifest(dataset_dir)
    from epvlm.evaluate import resolve_device, resolve_dtype

    resolve_dtype(dtype, resolve_device(device))
    _check_model_files(model_path)
    if dataset_dir is not None:
        note = foreign_dataset_note(Path(dataset_dir))
        if note is not None:
            warnings.warn(note, DemoDatasetWarning, stacklevel=2)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    # what this run creates, so an error or Ctrl-C removes it and nothing that was there before
    created = next((p for p in reversed((out, *out.parents)) if not p.exists()), None)
    before = {p.name for p in out.iterdir()} if created is None and out.is_dir() else set()
    out.mkdir(parents=True, exist_ok=True)
    aside: Path | None = None
    try:
        if created is None:
            aside = _set_aside(out)
        result = _run_steps(
            out, report, t_start, model_path, dataset_dir, recipe, limit, selectors, keeps,
            progress, workers, batch_size, seed, coverage_questions, detail_types, command,
            device, dtype, force,
        )  # fmt: skip
    except BaseException as exc:
        if created is not None:
            remove_path(created)
        else:
            with sigint_deferred(deliver=False):
                moved = set() if aside is None else {p.name for p in aside.iterdir()}
                for p in list(out.iterdir()):
                    if (p.name not in before or p.name in moved) and p != aside:
                        remove_path(p)
                _put_back(aside, out)
            # the demo starts its evaluation over every time (force), so the answers an
            # interrupted one kept there would only be discarded by the next
            remove_partial(out)
        if isinstance(exc, KeptInterrupt):
            # the evaluation's "answers kept, rerun to resume" is untrue here: they are gone
            raise KeyboardInterrupt from None
        raise
    # the report is published: an earlier run's file this one did not write again (a preview
    # of a scenario it did not meet) goes back, as it was before the set-aside
    with sigint_deferred():
        _put_back(aside, out)
    return result


# what a run writes into its folder, beside the dataset it builds in data/
_PREVIEW = re.compile(r"preview_.+(?:\.png|_events\.gif)")


def _demo_outputs(out: Path) -> list[Path]:
    names = {"report.md", SUMMARY_FILE, BY_SCENARIO_PLOT, BY_TYPE_PLOT, *RESULT_FILES}
    return [p for p in out.iterdir() if p.name in names or _PREVIEW.fullmatch(p.name)]


# the hidden folder (a `temp_path` of this name) that holds them during a rerun
_ASIDE = "earlier-demo"


def _set_aside(out: Path) -> Path | None:
    """Move an earlier run's outputs in ``out`` (a --force rerun) into a hidden folder there,
    so that a rerun stopped by an error or Ctrl-C can put them back: it would otherwise leave
    the earlier report beside its own new results, tables and plots. None: nothing to move."""
    remove_stale_temps(out / _ASIDE)  # left by a killed rerun
    earlier = _demo_outputs(out)
    if not earlier:
        return None
    aside = temp_path(out / _ASIDE)
    with sigint_deferred():
        aside.mkdir()
        try:
            for p in earlier:
                os.replace(p, aside / p.name)
        except BaseException:
            _put_back(aside, out)
            raise
    return aside


def _put_back(aside: Path | None, out: Path) -> None:
    """Return what `_set_aside` moved, except where ``out`` holds a file of that name now."""
    if aside is None:
        return
    for p in list(aside.iterdir()):
        if not (out / p.name).exists():
            os.replace(p, out / p.name)
    remove_path(aside)


class DemoDatasetWarning(UserWarning):
    """The given dataset is not a build of a target-mode shapes recipe (shapes-demo's kind):
    its questions without a single target are in no scenario of the report."""


def foreign_dataset_note(data_dir: Path) -> str | None:
    """What is wrong with running the demo on ``data_dir`` when it is a build of a recipe other
    than a target-mode shapes one; None for such a build (or a manifest the loader refuses,
    which it reports itself)."""
    from eventsim.datasets import read_manifest

    try:
        manifest = read_manifest(data_dir)
    except DatasetError:
        return None
    recipe = manifest.get("recipe")
    source = recipe.get("source") if isinstance(recipe, dict) else None
    source = source if isinstance(source, dict) else {}
    if source.get("kind") == "shapes" and source.get("mode") == "target":
        return None
    kind = "/".join(str(source[k]) for k in ("kind", "mode") if source.get(k)) or "unknown"
    return (
        f"{str(data_dir)!r} is a build of {manifest.get('name')!r} (source {kind}), not of "
        f"{DEFAULT_RECIPE!r} or another target-mode shapes recipe: its questions without a "
        f"single target are in no {SCENARIO_FIELD} scenario of the report; 'epvlm eval "
        "--dataset DIR' is made for other datasets"
    )


def _check_model_files(model_path: Path) -> None:
    """What of a checkpoint can be checked without loading its weights (processor and
    tokenizer, model type, whole weight files), before the split is built: a broken --model
    would otherwise fail only after the build, which then goes with the failed run."""
    from epvlm.loading import check_model_type, check_weight_files
    from epvlm.processing import load_processor

    # first: another family's processor files fail in words about them, not its model type
    check_model_type(model_path)
    load_processor(model_path)
    check_weight_files(model_path)


def _run_steps(
    out: Path,
    report: Path,
    t_start: float,
    model_path: Path,
    dataset_dir: str | Path | None,
    recipe: str | Path,
    limit: int | None,
    selectors: Sequence[Selector],
    keeps: Sequence[float],
    progress: bool,
    workers: int,
    batch_size: int,
    seed: int,
    coverage_questions: int | None,
    detail_types: Sequence[str] | None,
    command: str,
    device: str,
    dtype: str,
    force: bool,
) -> DemoResult:
    from epvlm.evaluate import evaluate_dataset, selection_seed
    from epvlm.processing import load_processor
    from eventsim.datasets import EventVQADataset

    # each part runs from the end of the one before, so the parts add up to the total
    timings: dict[str, float] = {}
    last = t_start

    def lap(part: str) -> None:
        nonlocal last
        now = time.perf_counter()
        timings[part], last = now - last, now

    # run_demo's checks of the model files and the device, with the imports they need
    lap("start-up checks and imports")
    if dataset_dir is not None:
        data = Path(dataset_dir)
        lap("dataset (given)")
    else:
        data, reused = prepare_dataset(
            out / "data", recipe=recipe, limit=limit, progress=progress, workers=workers,
            force=force,
        )  # fmt: skip
        lap("dataset reused" if reused else "dataset build")

    result = evaluate_dataset(
        model_path, data, selectors=selectors, keeps=keeps, limit=limit, out_dir=out,
        progress=progress, seed=seed, batch_size=batch_size, force=True, device=device,
        dtype=dtype,
    )  # fmt: skip
    lap("evaluation")

    ds = EventVQADataset(data, split="test")
    try:
        n_eval = min(len(ds), limit) if limit is not None else len(ds)
        questions = {r["id"]: r for r in ds.records[:n_eval]}
        summary = summarize(result["samples"], questions, detail_types=detail_types)
        # the processor alone: the evaluation is done with the model, and a real checkpoint
        # given as --model would otherwise be loaded a second time
        proc = load_processor(model_path)
        preds: dict[tuple[str, str, float], str] = {
            (s["id"], s["selector"], float(s["keep"])): s["prediction"] for s in result["samples"]
        }
        summary["coverage"] = target_coverage(
            ds,
            proc,
            n_eval if coverage_questions is None else min(n_eval, coverage_questions),
            keeps=keeps,
            seed=seed,
        )
        previews = []
        shown = [r["keep"] for r in summary["rows"]]  # the tables' keeps, for the same labels
        for scenario, i in pick_previews(ds, n_eval, SCENARIO_FIELD):
            sample = ds[i]
            # the random blocks whose answer the report shows beside the strip
            files = render_preview(
                sample, proc, out, f"preview_{scenario}",
                seed=selection_seed(seed, i, PREVIEW_KEEP),
            )  # fmt: skip
            previews.append(
                {
                    "title": f"{scenario} ({SCENARIO_FIELD}; {sample['id']})",
                    "question": sample["question"],
                    "choices": sample["choices"],
                    "answer": sample["answer"],
                    "window_ms": (sample["meta"]["window_us"][1] - sample["meta"]["window_us"][0])
                    / 1000,
                    "predictions": {
                        f"{sel} τ={fmt_keep(k, shown)}" if sel != "dense" else "dense": preds.get(
                            (sample["id"], sel, k), "–"
                        )
                        for sel, k in [("dense", 1.0)]
                        + [(s, PREVIEW_KEEP) for s in selectors if s != "dense"]
                    },
                    **files,
                }
            )
    finally:
        ds.close()
    plot_accuracy_vs_flops_by(summary["rows"], SCENARIO_FIELD, out / BY_SCENARIO_PLOT)
    plot_accuracy_vs_flops_by(summary["rows"], "question_type", out / BY_TYPE_PLOT)
    lap("preview and report")
    elapsed = last - t_start
    timings["total"] = elapsed
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    model_info = {"description": _model_description(model_path)}
    write_report(
        report, summary, model_dir=model_path, dataset_dir=data, command=command,
        timings=timings, previews=previews, model_info=model_info,
        runtime=_runtime(result["rows"]), settings=result["rows"][0] if result["rows"] else None,
    )  # fmt: skip
    return DemoResult(
        out_dir=out, report=report, results_json=out / "results.json", dataset_dir=data,
        n_questions=summary["n_questions"], elapsed_s=elapsed, summary=summary,
    )  # fmt: skip


def _runtime(rows: list[dict[str, Any]]) -> str:
    """ "cpu, float32": where the answers were computed, which moves accuracy (bfloat16) and
    latency."""
    return f"{rows[0]['device']}, {rows[0]['dtype']}" if rows else ""


# model_type in config.json -> the family's name in the report
_FAMILY_NAMES = {"qwen2_vl": "Qwen2-VL", "qwen2_5_vl": "Qwen2.5-VL"}


def _model_description(model_dir: Path) -> str:
    from epvlm.loading import read_model_type

    checkpoint = f"{_FAMILY_NAMES.get(read_model_type(model_dir), 'Qwen2-VL')} checkpoint"
    info = model_dir / "training.json"
    if not info.is_file():
        return checkpoint
    try:
        t = json.loads(info.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return checkpoint
    start = "warm-started from an earlier model and trained" if t.get("init_from") else "trained"
    vision = t.get("vision_pretrain") or {}
    if vision.get("steps"):
        start = f"vision tower pre-trained for {vision['steps']} steps, then {start}"
    return (
        f"tiny Qwen2-VL, {t.get('parameters', 0) / 1e6:.1f} M parameters, {start} for "
        f"{t.get('steps')} steps on {t.get('recipe')}; see its README.md"
    )
