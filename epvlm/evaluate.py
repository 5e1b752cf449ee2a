"""Run a (sparse) Qwen2-VL over a built event-VQA dataset for each selector and keep fraction.

`evaluate_dataset` is what ``epvlm eval`` and ``epvlm demo`` call. Every (selector, keep)
pair answers every sample with greedy decoding in the checkpoint's prompt format
(`epvlm.processing.prompt_format`); the generation is scored like public VLM harnesses do
(`epvlm.answers.score_answer`: the option a multiple-choice answer names, or normalised exact
match for open questions), and the raw generation is kept beside the parsed answer. FLOPs
come from the analytic model (`epvlm.flops.vlm_flops`) with each sample's actual kept image
tokens, text tokens and generated tokens. Latency is wall time of the batched ``generate``
call divided by the batch size.

The dense configuration is always evaluated (added when not requested) because every row
reports its accuracy and FLOPs relative to dense. Every selector feeds the same number of
tokens at one keep fraction: `epvlm.prior.keep_budget` under the default top-k rule, and under
the paper's quantile rule, where ``event`` keeps a number of its own per sample, the count
``event`` kept for that sample (`MATCHED_BASELINES`; ``edges`` is the exception, see
`evaluate_dataset`).
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import os
import time
import warnings
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from epvlm._constants import DTYPES
from epvlm.answers import MAX_OPTIONS
from epvlm.errors import ModelDirError, ResultsFolderLockError
from epvlm.prior import (
    SELECTORS,
    EventMapMode,
    KeepRule,
    Selection,
    Selector,
    check_keep,
    select_blocks,
)
from epvlm.results import (
    _WAYS_OUT,
    PARTIAL_ANSWERS,
    PARTIAL_STATE,
    PartialAnswers,
    ResultsFolderLock,
    aggregate,
    check_results_folder,
    lock_results_folder,
    partial_state,
    read_partial_answers,
    rebuild_partial_state,
    remove_partial,
    state_digest,
    write_eval_outputs,
)
from eventsim._gc import end_startup
from eventsim._text import plural
from eventsim.errors import ArgumentValueError, ParameterError
from eventsim.outputs import KeptInterrupt

# Generation budget of chat checkpoints: a letter, a short sentence, or a short free answer
# (lmms-eval uses 16 for RealWorldQA; a little more leaves room for "The answer is ...").
CHAT_MAX_NEW_TOKENS = 32

# The content-blind baselines. Under the quantile rule `event` keeps its own number of tokens
# per sample (every block tied at the threshold); each of these keeps, per sample, the number
# `event` kept there at the same keep, so a keep's rows are compared at equal tokens. Under
# top-k every selector keeps keep_budget anyway. `edges` is not among them: see
# `evaluate_dataset`.
MATCHED_BASELINES: tuple[Selector, ...] = ("random", "center", "downsample")

# The share of one configuration's answers, unreadable to the scorer (a multiple-choice answer
# naming no option, an empty one), from which `evaluate_dataset` warns: they score wrong like a
# wrong answer, and the rows alone showed a model that never answered in a form the scorer reads
# (an option's text outside the options, nothing at all) as 0 % with no hint why
UNREADABLE_WARN_SHARE = 0.25

_log = logging.getLogger(__name__)

__all__ = [
    "DTYPES",
    "MATCHED_BASELINES",
    "UNREADABLE_WARN_SHARE",
    "EvalInterrupted",
    "EvalResume",
    "UnreadableAnswersWarning",
    "answer_selections",
    "available_devices",
    "empty_split_error",
    "evaluate_dataset",
    "event_window",
    "load_model",
    "make_selection",
    "model_files_fingerprint",
    "model_label",
    "resolve_device",
    "resolve_dtype",
    "selection_scores",
    "selection_seed",
    "stored_window_ms",
    "unreadable_answers_warning",
]


def available_devices() -> list[str]:
    """The devices this machine offers: ``cpu``, then ``cuda:0`` .. ``cuda:N-1``."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return ["cpu", *(f"cuda:{i}" for i in range(count))]


def resolve_device(device: str = "auto"):
    """``auto`` -> cuda when available, else cpu; ``cpu``, ``cuda`` or ``cuda:N`` as given.

    A device this package does not run on, or one this machine lacks (``cuda`` without a GPU,
    ``cuda:5`` with two), is refused here, naming the devices there are, so that it fails
    before a model loads rather than inside torch after. The refusal is an
    `ArgumentValueError` (``device='foo' is ...``), which a command line names as its option
    (``--device foo is ...``)."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    here = f"available here: auto, {', '.join(available_devices())}"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ArgumentValueError(
            "device",
            device,
            f" is not a torch device; expected auto, cpu or cuda[:N] ({here})",
        ) from None
    if dev.type not in ("cpu", "cuda"):
        # ('mps' and the like parse as devices, then fail deep inside torch)
        raise ArgumentValueError(
            "device",
            device,
            f" is not supported; expected auto, cpu, cuda or cuda:N ({here})",
        )
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ArgumentValueError("device", device, f" requested but CUDA is not available ({here})")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ArgumentValueError(
            "device",
            device,
            f" does not exist: this machine has {count} CUDA "
            f"device{'s' if count != 1 else ''} ({here})",
        )
    return dev


def resolve_dtype(dtype: str, device) -> Any:
    """``auto`` -> bfloat16 on a GPU that supports it, float16 on an older GPU, float32 on
    CPU (half precision on CPU is slow and gains nothing); any name of `DTYPES` as given."""
    import torch

    if dtype == "auto":
        dev = torch.device(device)
        if dev.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if dtype not in DTYPES:
        raise ParameterError(f"dtype {dtype!r} is unknown; expected auto or one of {DTYPES}")
    return getattr(torch, dtype)


def _without_ignored_output_flags(model_dir: Path):
    """The folder's generation_config.json as a `transformers.GenerationConfig` without the
    extra-output flags (output_attentions, output_scores, ...) it sets while
    return_dict_in_generate is not: transformers ignores them there, `GREEDY` turns them off at
    every call, and read as they are they made transformers log 'generation flags are not valid
    and may be ignored' as the model loaded. None when it sets none of them, or cannot be read
    or holds a setting transformers refuses (which loading reports): the file is then read as
    it is."""
    from transformers import GenerationConfig

    try:
        settings = json.loads((model_dir / "generation_config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(settings, dict) or settings.get("return_dict_in_generate") is True:
        return None
    ignored = {f for f in GenerationConfig.extra_output_flags if settings.get(f) is True}
    if not ignored:
        return None
    try:
        return GenerationConfig.from_dict({k: v for k, v in settings.items() if k not in ignored})
    except ValueError:
        return None  # a setting transformers refuses: loading names the checkpoint


def load_model(model_dir: str | Path, *, device: str = "cpu", dtype: str = "float32"):
    """Load the EP-VLM model (class picked from ``model_type`` in ``config.json``, every tensor
    checked, see `epvlm.loading.load_pretrained_model`) and its processor from a directory."""
    from epvlm.loading import check_model_type, hub_cache_hint, load_pretrained_model
    from epvlm.processing import load_processor

    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    model_dir = Path(model_dir)
    if (model_dir / "config.json").is_file():
        # before the processor: another family's files (a LLaVA's CLIP image processor) failed
        # there, in words about them; a folder without config.json is described by it
        check_model_type(model_dir)
    proc = load_processor(model_dir)
    if not (model_dir / "config.json").is_file():
        raise ModelDirError(
            f"model directory {str(model_dir)!r} has no config.json" + hub_cache_hint(model_dir)
        )
    model = load_pretrained_model(
        model_dir,
        device=dev,
        dtype=torch_dtype,
        generation_config=_without_ignored_output_flags(model_dir),
    )
    gen = model.generation_config
    if gen.pad_token_id is None:
        gen.pad_token_id = proc.tokenizer.pad_token_id
    if gen.eos_token_id is None:
        gen.eos_token_id = proc.tokenizer.eos_token_id
    # every generate() passes max_new_tokens, which takes precedence over a max_length here;
    # transformers logged 'Both `max_new_tokens` and `max_length` seem to have been set' at
    # each call while the model's own config held one (a kwarg of None does not count)
    gen.max_length = None
    # transformers marks a generation config it reads from a file as read (its hash), and
    # save_pretrained checks an unmarked or edited one strictly: the config passed in above
    # without the ignored flags came unmarked, so saving the model refused settings a file may
    # hold and transformers only warns about (top_p beside do_sample false). What this loader
    # set counts as read; a caller's own edits are still checked strictly.
    gen._original_object_hash = hash(gen)
    end_startup()
    return model, proc


def _named(folder: str | Path) -> Path:
    """``folder`` as given, or made absolute when it ends in ``.`` or ``..`` (which name no
    folder: ``--model .`` titled its results 'epvlm eval:  on ...')."""
    path = Path(folder)
    return Path(os.path.abspath(path)) if path.name in ("", "..") else path


def model_label(model_dir: str | Path) -> str:
    """How a results title names a checkpoint: its folder's name, or the repository id
    (``Qwen/Qwen2-VL-2B-Instruct``) of a Hugging Face cache snapshot
    (``models--Qwen--Qwen2-VL-2B-Instruct/snapshots/REVISION``), whose folder is named by
    the revision's hash."""
    path = Path(os.path.abspath(model_dir))
    repo = path.parent.parent.name
    if path.parent.name == "snapshots" and repo.startswith("models--"):
        return repo.removeprefix("models--").replace("--", "/")
    return path.name


def dataset_label(manifest: dict[str, Any], dataset_dir: str | Path, split: str) -> str:
    """How a results title names a dataset's split: ``NAME/SPLIT`` by its folder, with the
    recipe's name first when the folder is named otherwise (``shapes-demo/test (folder
    demo-out/data)``: a bare ``data/test`` says little)."""
    from eventsim.datasets.loader import dataset_root

    # ``--dataset DIR/dataset.json`` names DIR, as everywhere else
    path = _named(dataset_root(dataset_dir))
    name = manifest.get("name")
    if not isinstance(name, str) or not name or name == path.name:
        return f"{path.name}/{split}"
    folder = f"{path.parent.name}/{path.name}" if path.parent.name else path.name
    return f"{name}/{split} (folder {folder})"


def empty_split_error(split: str, dataset_dir: str | Path, splits: Any) -> ParameterError:
    """The refusal of a ``split`` without samples, naming the splits of ``splits`` (dataset.json's
    "splits") that have some: the split to ask for instead, rather than a hunt through
    dataset.json. `evaluate_dataset` raises it, and ``epvlm eval`` before torch loads."""
    held = "; ".join(
        f"{name} has {int(info['samples']):,}"
        for name, info in (splits or {}).items()
        if isinstance(info, dict) and info.get("samples")
    )
    return ParameterError(
        f"split {split!r} of {str(dataset_dir)!r} has no samples" + (f" ({held})" if held else "")
    )


def event_window(frame_t_us: int, window_ms: float) -> tuple[int, int]:
    """Half-open µs interval ``[t0, t1)`` of the ``window_ms`` of events ending at the frame
    (the frame's own timestamp included). ``epvlm run --frame-time-us`` and ``epvlm eval``
    both take their events through this. ``window_ms`` is any real number (numpy scalars
    included; not a bool) of at least 0.001 ms, rounded to whole µs."""
    # a bool is an int to Python, and True would have been a 1 ms window
    real = isinstance(window_ms, numbers.Real) and not isinstance(window_ms, bool)
    if not (real and math.isfinite(window_ms) and window_ms > 0):
        raise ParameterError(f"event window {window_ms!r} ms must be a number > 0")
    if window_ms * 1000 < 1:
        # event times are whole µs: it held no event, and the selectors fell back silently
        # (0.0006 ms also rounded up to a 1 µs window the message said was too short)
        raise ParameterError(
            f"event window {float(window_ms):g} ms is shorter than 1 µs, the events' time "
            "step; expected at least 0.001 ms"
        )
    length_us = round(window_ms * 1000)
    end = int(frame_t_us) + 1
    return end - length_us, end


def stored_window_ms(
    window_ms: float | None,
    records: Sequence[dict[str, Any]],
    dataset_window_us: int,
    dataset: str | Path,
) -> float:
    """The event window (ms) an evaluation of ``records`` uses: ``window_ms``, or the dataset's
    ``[events] window_ms`` when None. A longer window than a record stores before its frame is
    refused (the events before the stored window were never simulated, so the run would
    silently be one over the shorter window); a shorter one is a sub-window of the stored
    events."""
    if window_ms is None:
        return dataset_window_us / 1000
    event_window(0, window_ms)  # a number > 0
    # the refusal's number: a Fraction, which event_window takes, has no :g format on
    # Python 3.11 (it raised TypeError)
    asked = float(window_ms)
    for rec in records:
        frame_t_us = int(rec["frame_t_us"])
        t0 = int(rec["window_us"][0])
        if event_window(frame_t_us, window_ms)[0] >= t0:
            continue
        held_ms = (frame_t_us - t0) / 1000
        where = (
            f"the {held_ms:g} ms of events {str(dataset)!r} stores before each question"
            if frame_t_us - t0 >= dataset_window_us
            else f"the {held_ms:g} ms of events sample {rec['id']!r} of {str(dataset)!r} stores "
            f"before its frame (the dataset's window is {dataset_window_us / 1000:g} ms)"
        )
        raise _window_too_long(asked, held_ms, where)
    return asked


def _window_too_long(asked_ms: float, held_ms: float, where: str) -> ParameterError:
    """The refusal of an event window longer than the events stored (``where``: the
    ``held_ms`` of events which sample or dataset stores)."""
    return ParameterError(
        f"event window {asked_ms:g} ms is longer than {where}; rebuild the dataset with "
        f"[events] window_ms >= {asked_ms:g} for a {asked_ms:g} ms window, or ask for "
        f"{held_ms:g} ms or less"
    )


# relative aspect-ratio difference still treated as the same field of view (sensor sizes such
# as 346x260 against a 640x480 frame differ by rounding only)
ASPECT_TOLERANCE = 0.01


def check_sensor_size(sensor_size: Sequence[int], height: int, width: int) -> tuple[int, int]:
    """The events' (W, H) when they cover the image's field of view: same size, or the same
    aspect ratio (events are then rescaled onto the image grid); otherwise a one-line error
    naming both sizes."""
    from eventsim.errors import InvalidEventsError

    sw, sh = (int(v) for v in sensor_size)
    if (sw, sh) == (width, height):
        return sw, sh
    if sw <= 0 or sh <= 0 or abs((sw / sh) / (width / height) - 1) > ASPECT_TOLERANCE:
        raise InvalidEventsError(
            f"events have sensor size {sw}x{sh} but the image is {width}x{height} (W x H) with "
            "another aspect ratio; events and image must show the same field of view"
        )
    return sw, sh


def make_selection(
    proc,
    sample: dict[str, Any],
    selector: Selector,
    keep: float,
    *,
    window_ms: float | None = None,
    seed: int | np.random.Generator = 0,
    rule: KeepRule = "topk",
    event_mode: EventMapMode = "count",
    budget: int | None = None,
    scores: np.ndarray | None = None,
) -> Selection:
    """Apply a selector to one dataset sample (image, events, meta). ``window_ms`` takes the
    events of that many ms before the frame (`event_window`); a window as long as the one the
    sample stores takes all its events, as None does. ``budget``: the tokens ``random``,
    ``center`` and ``downsample`` keep (`epvlm.prior.select_blocks`; `evaluate_dataset` passes
    the count ``event`` kept under the quantile rule). ``scores``: the sample's
    `selection_scores` for ``event`` or ``edges`` at the same window and event mode, made once
    and reused for every keep."""
    from epvlm.processing import min_image_tokens

    grid, sensor, window = _selection_inputs(proc, sample, window_ms)
    return select_blocks(
        selector,
        sample["image"],
        keep=keep,
        grid=grid,
        events=sample.get("events"),
        sensor_size=sensor,
        window_us=window,
        rule=rule,
        mode=event_mode,
        seed=seed,
        min_tokens=min_image_tokens(proc),
        budget=budget,
        scores=scores,
    )


def selection_scores(
    proc,
    sample: dict[str, Any],
    selector: Selector,
    *,
    window_ms: float | None = None,
    event_mode: EventMapMode = "count",
) -> np.ndarray | None:
    """The block scores ``event`` (the event prior's mass per token, `event_block_scores`) or
    ``edges`` (`edge_block_scores`) ranks one sample's tokens by, as `make_selection` with the
    same ``window_ms`` and ``event_mode`` computes them; None for the other selectors, which
    score nothing. They do not depend on the keep fraction or rule."""
    from epvlm.prior import edge_block_scores, event_block_scores

    if selector not in ("event", "edges"):
        return None
    grid, sensor, window = _selection_inputs(proc, sample, window_ms)
    if selector == "edges":
        return edge_block_scores(sample["image"], grid)
    events = sample.get("events")
    if events is None:
        raise ParameterError("the event selector needs events (got None)")
    return event_block_scores(events, sensor, grid, window_us=window, mode=event_mode)


def _selection_inputs(
    proc, sample: dict[str, Any], window_ms: float | None
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int] | None]:
    """A sample's token grid, its events' sensor (W, H) and the µs window of events
    `make_selection` takes (None: all the stored events)."""
    from epvlm.processing import grid_for_size

    height, width = sample["image"].shape[:2]
    meta = sample.get("meta") or {}
    window = None
    if window_ms is not None:
        end = int(
            meta.get("frame_t_us", sample["events"]["t"].max() if len(sample["events"]) else 0)
        )
        window = event_window(end, window_ms)
        stored = meta.get("window_us")
        # a dataset stores [t0, frame] with both ends, one µs more than the half-open window of
        # the same length: asked for that length, the events are taken as stored (t0 included,
        # as without window_ms)
        if stored is not None and int(stored[1]) == end and window[0] == int(stored[0]) + 1:
            window = (int(stored[0]), window[1])
        elif stored is not None and window[0] < int(stored[0]):
            # the events before the stored window were never simulated: the selection was
            # silently one over the shorter window (`stored_window_ms` refuses it for a dataset)
            held_ms = (end - int(stored[0])) / 1000
            name = f"sample {sample['id']!r}" if sample.get("id") is not None else "the sample"
            raise _window_too_long(
                float(window_ms),
                held_ms,
                f"the {held_ms:g} ms of events {name} stores before its frame",
            )
    sensor = check_sensor_size(meta.get("sensor_size") or (width, height), height, width)
    return grid_for_size(proc, height, width), sensor, window


def selection_flops(config: Any, sel: Selection, text_tokens: int, new_tokens: int):
    """Analytic FLOPs of answering with ``sel``; Qwen2.5-VL's window attention is counted from
    the windows the kept tokens actually fall in, not from an even spread."""
    from epvlm.flops import vlm_flops, window_token_counts

    rows, cols = sel.mask.shape
    windows = [window_token_counts(config, rows, cols, sel.mask.ravel().tolist())]
    return vlm_flops(config, sel.kept_tokens, text_tokens, new_tokens=new_tokens, windows=windows)


# generation budget of a plain-format open question (one without options)
PLAIN_OPEN_MAX_NEW_TOKENS = 16


def plain_answer_budget(proc, choices: Sequence[Sequence[str]]) -> int:
    """Tokens of the longest option plus its end-of-turn token, and at least
    `PLAIN_OPEN_MAX_NEW_TOKENS` when a question has no options: the generation budget of
    plain-format models, which answer with an option's words."""
    from epvlm.processing import answer_text

    tok = proc.tokenizer
    lengths = [
        len(tok(answer_text(c), add_special_tokens=False)["input_ids"])
        for cs in choices
        for c in cs
    ]
    # an open question among multiple-choice ones would otherwise be cut at the longest option
    if not lengths or any(len(cs) == 0 for cs in choices):
        lengths.append(PLAIN_OPEN_MAX_NEW_TOKENS)
    return max(lengths)


# The decoding of every answer, whatever the checkpoint's generation_config.json asks: the
# Instruct checkpoints ask for sampling (do_sample with temperature, top_k, top_p), and a
# num_beams there made the "greedy" answers a beam search's, a return_dict_in_generate a
# crash. The settings that pick another search with num_beams 1 and do_sample off
# (contrastive: penalty_alpha with top_k > 1; DoLa; constrained; assisted: prompt lookup,
# early exit, MTP) are cleared too: each stopped the run with a ValueError (a batch over 1, or
# a search transformers now keeps on the Hub). The file's logits processors
# (repetition_penalty, sequence_bias) still apply, as they do for the stock model, and so do
# its stop_strings (generate() is given the tokenizer they need). Only the tokens are
# returned, so the extra outputs are not computed (output_attentions also warned that sdpa
# cannot give them), nor is a token_healing rewrite of the prompt, which decodes it without
# its image tokens. A min_length or min_new_tokens there would hold back the end of an answer:
# a letter or an option's words came out padded with whatever the model said next (the stop
# token forbidden until then), longer and dearer, and scored on that; they are cleared, and the
# budget asked for (max_new_tokens) stays the only length setting.
GREEDY: dict[str, Any] = {
    "do_sample": False,
    "min_length": 0,
    "min_new_tokens": None,
    "num_beams": 1,
    "num_return_sequences": 1,
    "return_dict_in_generate": False,
    "penalty_alpha": None,
    "dola_layers": None,
    "constraints": None,
    "force_words_ids": None,
    "prompt_lookup_num_tokens": None,
    "assistant_early_exit": None,
    "use_mtp": None,
    "output_attentions": False,
    "output_hidden_states": False,
    "output_scores": False,
    "output_logits": False,
    "token_healing": False,
}

# models that have run one untimed `generate` in this process (see `answer_selections`)
_WARMED: weakref.WeakSet = weakref.WeakSet()


def answer_selections(
    model,
    proc,
    selections: Sequence[Selection],
    questions: Sequence[str],
    choices: Sequence[Sequence[str]],
    *,
    max_new_tokens: int | None = None,
    prompt: str = "auto",
    warm_up: bool = True,
) -> tuple[list[str], list[dict[str, Any]], float]:
    """Greedy answers for a left-padded batch; returns (answers, per-sample details, seconds).

    Each detail dict holds ``image_tokens``, ``text_tokens``, ``new_tokens`` (counted up to
    and with the first token that ends generation, `_stop_ids` or the last of a stop string,
    `_stop_string_ends`) and ``raw`` (the generated text
    with its special tokens).
    ``max_new_tokens`` defaults to `plain_answer_budget` for the plain prompt format (the tiny
    models answer with an option's words) and to `CHAT_MAX_NEW_TOKENS` for chat checkpoints,
    which may answer in a sentence.

    The seconds are the wall time of ``model.generate`` (vision tower, prefill and every
    decoding step), synchronised with the GPU on CUDA. With ``warm_up`` (for latency that is
    compared or reported, as ``epvlm eval`` and ``epvlm demo`` do) a model's first call in a
    process is preceded by an untimed prefill of the same batch: the first call pays one-off
    costs (35 % more time on the tiny model on CPU) that would otherwise fall on whichever
    configuration an evaluation runs first, the dense one. Without it (``epvlm run``'s single
    question) nothing extra runs, and a first call's seconds include those costs. The answers
    are the same either way.
    """
    import torch

    from epvlm.processing import IMAGE_TOKEN, encode_batch, prompt_format

    _check_choice_lists(choices)
    fmt = prompt_format(proc, prompt)
    batch = encode_batch(
        proc,
        [s.image for s in selections],
        questions,
        choices,
        keep_masks=[s.mask for s in selections],
        prompt=fmt,
    )
    tok = proc.tokenizer
    if max_new_tokens is None:
        max_new_tokens = (
            CHAT_MAX_NEW_TOKENS if fmt == "chat" else plain_answer_budget(proc, choices)
        )
    if max_new_tokens < 1:
        raise ParameterError(f"max_new_tokens {max_new_tokens} must be >= 1")
    device = model.device
    batch = {k: v.to(device) for k, v in batch.items()}
    batch["pixel_values"] = batch["pixel_values"].to(model.dtype)
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    with torch.no_grad():
        if warm_up and model not in _WARMED:
            model.generate(**batch, max_new_tokens=1, tokenizer=tok, **GREEDY)
            _WARMED.add(model)
        if sync is not None:
            sync(device)
        start = time.perf_counter()
        out = model.generate(**batch, max_new_tokens=max_new_tokens, tokenizer=tok, **GREEDY)
        if sync is not None:
            sync(device)
        seconds = time.perf_counter() - start
    out = out.cpu()
    prompt_len = batch["input_ids"].shape[1]
    image_id = tok.convert_tokens_to_ids(IMAGE_TOKEN)
    stops = _stop_ids(model, tok)
    string_ends = _stop_string_ends(model, tok, out, prompt_len)
    pad = tok.pad_token_id
    texts: list[str] = []
    details: list[dict[str, Any]] = []
    for i in range(len(selections)):
        valid = batch["attention_mask"][i].bool()
        ids = batch["input_ids"][i][valid]
        new = out[i, prompt_len:].tolist()
        n_new = len(new)
        stop = next((j for j, t in enumerate(new) if t in stops), None)
        end = string_ends[i]
        if end is not None:
            stop = end if stop is None else min(stop, end)
        if stop is not None:
            n_new = stop + 1
        elif pad in new:
            n_new = new.index(pad)
        answer = new[:n_new]
        texts.append(tok.decode(answer, skip_special_tokens=True).strip())
        details.append(
            {
                "image_tokens": int((ids == image_id).sum()),
                "text_tokens": int((ids != image_id).sum()),
                "new_tokens": max(1, n_new),
                "raw": tok.decode(answer, skip_special_tokens=False),
            }
        )
    return texts, details, seconds


def _check_choice_lists(choices: Sequence[Sequence[str]]) -> None:
    """Refuse choice lists that are not one list of option strings per question (an open
    question has an empty one): None stopped the batch with a bare TypeError, and a string
    would have been asked as one option per character."""
    if isinstance(choices, (str, bytes)) or not isinstance(choices, (Sequence, np.ndarray)):
        raise ParameterError(
            f"choices {choices!r} is not a sequence of choice lists; expected one list of "
            "option strings per question ([] for an open question)"
        )
    for i, cs in enumerate(choices):
        if isinstance(cs, (str, bytes)) or not isinstance(cs, (Sequence, np.ndarray)):
            raise ParameterError(
                f"choices[{i}] is {cs!r}; expected a list of option strings ([] for an open "
                "question)"
            )


def _penalty_note(model) -> str:
    """The repetition penalty greedy decoding applies, as a note says it (Qwen2.5-VL Instruct
    checkpoints ship 1.05 in generation_config.json): '' when there is none."""
    penalty = getattr(model.generation_config, "repetition_penalty", None)
    if penalty is None or float(penalty) == 1.0:
        return ""
    return f" with generation_config.json's repetition_penalty {float(penalty):g}"


def _stop_ids(model, tok) -> set[int]:
    """The tokens that end generation: the tokenizer's eos and every ``eos_token_id`` of the
    model's generation config (a chat checkpoint lists both its end-of-turn and end-of-text
    tokens there). The step that produced one was decoded like any other, so an answer counts
    it whichever it was, even where it is also the padding token that fills the batch after."""
    ids = model.generation_config.eos_token_id
    ids = [] if ids is None else [ids] if isinstance(ids, int) else list(ids)
    return {int(i) for i in [*ids, tok.eos_token_id] if i is not None}


def _stop_string_ends(model, tok, out, prompt_len: int) -> list[int | None]:
    """Per row of ``out``, the index among its new tokens of the first one that completes one
    of generation_config.json's ``stop_strings`` (None where none does), found by the check
    generate() runs after each step. A row that stops so is padded after it, and the padding
    token may be one of `_stop_ids`: it is not part of the answer, which a batch of one never
    sees."""
    strings = model.generation_config.stop_strings
    ends: list[int | None] = [None] * out.shape[0]
    if not strings:
        return ends
    from transformers import StopStringCriteria

    check = StopStringCriteria(tok, strings)
    for j in range(out.shape[1] - prompt_len):
        for i in check(out[:, : prompt_len + j + 1], None).nonzero().flatten().tolist():
            if ends[i] is None:
                ends[i] = j
    return ends


def _configs(selectors: Iterable[Selector], keeps: Iterable[float]) -> list[tuple[Selector, float]]:
    for name, given, example in (
        ("selectors", selectors, "('event',)"),
        ("keeps", keeps, "(0.5,)"),
    ):
        # a bare 0.5 raised TypeError, and 'event' or '0.5' was read one character at a time
        if isinstance(given, (str, bytes)) or not isinstance(given, Iterable):
            what = "selector names" if name == "selectors" else "keep fractions in (0, 1]"
            raise ParameterError(
                f"{name} {given!r} is one value; expected a sequence of {what}, e.g. {example}"
            )
    unique = list(dict.fromkeys(selectors))
    bad = [s for s in unique if s not in SELECTORS]
    if bad:
        raise ParameterError(
            f"{plural(len(bad), 'selector')} {', '.join(map(str, bad))} unknown; expected some "
            f"of {', '.join(SELECTORS)}"
        )
    fractions = [check_keep(k) for k in keeps]
    if not fractions:
        raise ParameterError("no keep fractions given")
    configs: list[tuple[Selector, float]] = [("dense", 1.0)]
    for sel in unique:
        if sel == "dense":
            continue
        configs.extend((sel, k) for k in dict.fromkeys(fractions))
    return configs


def selection_seed(seed: int, index: int, keep: float) -> np.random.Generator:
    """The generator of sample ``index``'s selection at ``keep`` under evaluation ``seed``:
    the random selector's draws in `evaluate_dataset`, for an analysis or a picture of the
    blocks the answers were given (`epvlm.demo`)."""
    return np.random.default_rng([seed, index, round(keep * 1_000_000)])


def _quantile_note(rule: KeepRule, selectors: Sequence[Selector]) -> str:
    """What a table's note says about the token counts its rows compare under the quantile
    rule ('' under top-k, where every selector keeps the same number)."""
    if rule != "quantile":
        return ""
    matched = [s for s in dict.fromkeys(selectors) if s in MATCHED_BASELINES]
    parts = []
    if "event" in selectors or matched:
        parts.append(
            "event keeps every block at or above its threshold, ties included, so its kept "
            "tokens vary by sample (all of them where more than a 1 - keep share of the "
            "blocks saw no event)"
        )
    if matched:
        parts.append(
            f"{', '.join(matched)} {plural(len(matched), 'keeps', 'keep')}, for each sample, "
            "as many tokens as event kept there at the same keep, so "
            f"{plural(len(matched), 'its rows compare', 'their rows compare')} with event's at "
            "equal tokens"
        )
    if "edges" in selectors:
        parts.append(
            "edges applies the same rule to its own image-gradient scores, so its rows keep "
            "the count that gives (see kept / total tokens) and compare with event's at equal "
            "rule, not equal tokens (--rule topk compares them at equal tokens)"
        )
    return f" Under the quantile rule {'; '.join(parts)}." if parts else ""


def _questions_label(n: int, split_questions: int, limit: int | None) -> str:
    """``n=2 of 24 (limit 2)``: how many of the split's questions were asked, and why."""
    return f"n={n} of {split_questions} (limit {'none' if limit is None else limit})"


def _provenance_note(settings: dict[str, Any]) -> str:
    """table.md's sentence naming what produced the numbers: the resolved paths, the threads
    and the versions (results.json's rows hold these and the files' fingerprints)."""
    versions = ", ".join(f"{k} {v}" for k, v in settings["versions"].items())
    built = settings["dataset_versions"]
    simulator = built.get("eventsim") if isinstance(built, dict) else None
    return (
        f" Model {settings['model']}; dataset {settings['dataset']}, split "
        f"{settings['split']}: {settings['questions']} of {settings['split_questions']} "
        f"{plural(settings['split_questions'], 'question')} (limit "
        f"{'none' if settings['limit'] is None else settings['limit']}); "
        f"{settings['threads']} torch CPU {plural(settings['threads'], 'thread')}; {versions}"
        + (f"; data built by eventsim {simulator}." if simulator else ".")
    )


def _add_scoring_fields(rows: list[dict[str, Any]], samples, fmt: str) -> None:
    """Per row: the prompt format and the free-form *contains* rule's accuracy next to the
    headline accuracy (normalised exact match for free-form answers). How its answers were
    scored (``answer_modes``, ``unparsed``) `aggregate` counts, as for the demo's rows."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = defaultdict(list)
    for s in samples:
        groups[(s["selector"], s["keep"])].append(s)
    for row in rows:
        group = groups[(row["selector"], row["keep"])]
        row["prompt_format"] = fmt
        row["contains_accuracy"] = (
            float(np.mean([s["contains"] for s in group])) if group else float("nan")
        )


class UnreadableAnswersWarning(UserWarning):
    """Many of a configuration's answers named no option or held no text
    (`unreadable_answers_warning`); ``epvlm eval`` and ``epvlm demo`` print it in one line."""


def _unreadable(sample: dict[str, Any]) -> bool:
    if sample["answer_mode"] == "choice":
        return sample["parsed"] is None
    return not str(sample["prediction"]).strip()


def _clipped(text: str, length: int = 80) -> str:
    """``text`` cut to ``length`` characters, for an example in one warning line (a question
    with its options written in may run to many lines)."""
    return text if len(text) <= length else text[: length - 3] + "..."


def unreadable_answers_warning(
    samples: Sequence[dict[str, Any]],
    asked: dict[str, tuple[str, Sequence[str]]],
    share: float = UNREADABLE_WARN_SHARE,
) -> str | None:
    """What to warn of when at least ``share`` of some configuration's answers could not be
    read (a multiple-choice answer naming no option, or no text): which configurations, how
    many, and two of the generations with the question and options they answered (``asked``:
    sample id -> (question, choices)); None when no configuration comes to ``share``, or when
    dense is among the configurations and does not (its answers are the model's own; sparser
    ones may answer worse, which their rows show)."""
    from epvlm.results import fmt_keep, fmt_pct

    groups: dict[tuple[str, float], list[dict[str, Any]]] = defaultdict(list)
    for s in samples:
        groups[(s["selector"], float(s["keep"]))].append(s)
    keeps = [k for _, k in groups]
    flagged = []
    for (selector, keep), group in groups.items():
        bad = [s for s in group if _unreadable(s)]
        if bad and len(bad) >= share * len(group):
            flagged.append((selector, keep, bad, len(group)))
    # judged by dense's answers where dense ran: with fewer tokens a model may answer worse
    # in words outside the options (the demo model names a pattern none of the options hold
    # once downsampling blurs it), which the rows already count as wrong; a dense that
    # answers so is a model that does not answer these questions in a form the scorer reads
    if not flagged or (
        any(sel == "dense" for sel, _ in groups) and all(sel != "dense" for sel, *_ in flagged)
    ):
        return None
    n_bad = sum(len(bad) for *_, bad, _ in flagged)
    n_all = sum(n for *_, n in flagged)
    share_of = f"{n_bad:,} of {n_all:,} {plural(n_all, 'answer')}"
    # the counts are summed over the configurations named: "in every configuration" after
    # them read as each configuration's own
    if len(flagged) == 1:
        counted = (
            f"{share_of} ({fmt_pct(n_bad / n_all)}) in {flagged[0][0]} at keep "
            f"{fmt_keep(flagged[0][1], keeps)}"
        )
    elif len(flagged) == len(groups):
        counted = f"{share_of} across all {len(groups)} configurations ({fmt_pct(n_bad / n_all)})"
    else:
        counted = f"{share_of} ({fmt_pct(n_bad / n_all)}) in " + ", ".join(
            f"{sel} at keep {fmt_keep(keep, keeps)} ({len(bad)} of {n})"
            for sel, keep, bad, n in flagged
        )
    examples: dict[str, str] = {}
    for *_, bad, _ in flagged:
        for s in bad:
            raw = str(s["raw_output"])
            if raw in examples or len(examples) == 2:
                continue
            question, choices = asked.get(str(s["id"]), ("", ()))
            options = f" with options {', '.join(map(repr, choices))}" if choices else ""
            examples[raw] = (
                f"{_clipped(raw)!r} to {_clipped(question)!r}{options} (sample {s['id']!r})"
            )
    modes = {s["answer_mode"] for *_, bad, _ in flagged for s in bad}
    what = (
        "named no option"
        if modes == {"choice"}
        else "held no text"
        if modes == {"free"}
        else "named no option or held no text"
    )
    return (
        f"{counted} {what}, and scored wrong; e.g. "
        f"{'; '.join(examples.values())}. The model may not answer these questions in a form "
        "the scorer reads: samples.jsonl's raw_output holds every generation"
    )


class EvalInterrupted(KeptInterrupt):
    """Ctrl-C during an evaluation whose finished answers stay in its output folder
    (`PARTIAL_ANSWERS`): the same call resumes it. ``done`` of ``total`` answers are kept in
    ``out_dir``."""

    def __init__(self, out_dir: Path, done: int, total: int) -> None:
        super().__init__(
            f"{done} of {total} {plural(total, 'answer')} kept in {str(out_dir)!r}; the same call "
            "resumes"
        )
        self.out_dir = out_dir
        self.done = done
        self.total = total


@dataclass(frozen=True)
class EvalResume:
    """What `evaluate_dataset` found to resume: ``done`` of ``total`` answers kept in
    ``answers_path`` (`PARTIAL_ANSWERS`) by an interrupted run of the same evaluation.
    ``rebuilt_state``: what was wrong with `PARTIAL_STATE` when it was missing or damaged and
    has been rewritten from this run's settings, which every kept answer records
    (`epvlm.results.rebuild_partial_state`); None when it was sound."""

    done: int
    total: int
    answers_path: Path
    rebuilt_state: str | None = None


# the files of a checkpoint that shape its answers: config, weights, tokenizer, processor and
# chat template (README.md and the like do not)
MODEL_FILE_SUFFIXES = (
    ".json", ".safetensors", ".bin", ".pt", ".pth", ".model", ".txt", ".jinja", ".tiktoken",
)  # fmt: skip


def model_files_fingerprint(model_dir: str | Path) -> dict[str, list[int]]:
    """``{name: [bytes, mtime_ns]}`` of a checkpoint's files (`MODEL_FILE_SUFFIXES`, top level:
    checkpoints are flat; links followed, as a hub cache's are).

    Sizes and modification times, not hashes: hashing the 4.4 GB of a 2B checkpoint costs
    seconds on every rerun, while a file that is replaced or rewritten gets a new time. A copied
    or touched file reads as changed, which refuses to resume (the safe side) rather than mix
    the answers of two models."""
    root = Path(model_dir)
    found: dict[str, list[int]] = {}
    if not root.is_dir():
        return found
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or entry.suffix not in MODEL_FILE_SUFFIXES:
            continue
        if entry.is_file():
            st = entry.stat()
            found[entry.name] = [st.st_size, st.st_mtime_ns]
    return found


def _run_settings(
    model_dir: str | Path,
    manifest: dict[str, Any],
    split: str,
    configs: Sequence[tuple[Selector, float]],
    **settings: Any,
) -> dict[str, Any]:
    """What an evaluation's answers and their order depend on, for `partial_state`; the first
    that differs is the one a refused resume names."""
    dev = resolve_device(settings.pop("device"))
    dtype = str(resolve_dtype(settings.pop("dtype"), dev)).removeprefix("torch.")
    return {
        "model": str(Path(model_dir).resolve()),
        "model_files": model_files_fingerprint(model_dir),
        "dataset": dataset_digest(manifest, split),
        "split": split,
        # sets: each answer is found by its batch, selector and keep, so a resume given them in
        # another order ('random,event') writes what an uninterrupted run in that order does
        "selectors": sorted({sel for sel, _ in configs}),
        "keeps": sorted({k for sel, k in configs if sel != "dense"}),
        **settings,
        "dtype": dtype,
        "device": str(dev),
        "versions": _resume_versions(),
    }


def dataset_digest(manifest: dict[str, Any], split: str) -> dict[str, Any]:
    """What identifies a split's data, as the build recorded it in dataset.json:
    ``samples_sha256`` (the labels of all splits) and ``{shard file: sha256}`` of the split's
    shards (their size in bytes where the build recorded no hash)."""
    shards = [e for e in manifest.get("shards", []) if isinstance(e, dict)]
    return {
        "samples_sha256": manifest.get("samples_sha256"),
        **{e["file"]: e.get("sha256", e.get("bytes")) for e in shards if e.get("split") == split},
    }


def run_versions() -> dict[str, str]:
    """The versions an evaluation's numbers depend on: the toolkit's (``epvlm``, which is
    eventsim's), torch's, transformers' and Python's."""
    import platform
    from importlib.metadata import version

    import torch

    import epvlm

    return {
        "epvlm": epvlm.__version__,
        "torch": torch.__version__,
        "transformers": version("transformers"),
        "python": platform.python_version(),
    }


def _resume_versions() -> dict[str, str]:
    """`run_versions` as a resume must match them, Python's as major.minor: another minor
    version is another environment (its own site-packages, whose numpy and other libraries
    may differ), refused as another torch is; a patch release (3.11.7 to 3.11.8) keeps the
    environment and changes no answer, and refusing it would throw away hours of answers."""
    versions = run_versions()
    return {**versions, "python": ".".join(versions["python"].split(".")[:2])}


StepKey = tuple[int, str, float]

# the fields of every answer (a samples.jsonl line); a resumed answer must carry them all
ANSWER_FIELDS = frozenset(
    {
        "id", "source_id", "selector", "keep", "prediction", "answer", "correct", "raw_output",
        "parsed", "answer_mode", "exact_match", "contains", "prompt_format", "question_type",
        "target_motion", "kept_tokens", "total_tokens", "flops", "prefill_flops", "latency_s",
        "fallback",
    }
)  # fmt: skip


def _finished_steps(
    records: Sequence[dict[str, Any]],
    ids: list[str],
    batch_size: int,
    configs: Sequence[tuple[Selector, float]],
    out_dir: Path,
    digest: str,
) -> dict[StepKey, list[dict[str, Any]]]:
    """The answers of each finished (batch start, selector, keep) in `PARTIAL_ANSWERS`
    records, each checked against the evaluation's plan and sample ids, and against the
    run's settings ``digest`` where the line records one (lines of older versions do not)."""
    from eventsim.errors import OutputExistsError

    plan = set(configs)
    steps: dict[StepKey, list[dict[str, Any]]] = {}
    for number, rec in enumerate(records, 1):
        start, selector, keep = rec["start"], rec["selector"], rec["keep"]
        answers = rec["answers"]
        ok = isinstance(start, int) and 0 <= start < len(ids) and start % batch_size == 0
        ok = ok and isinstance(selector, str) and type(keep) in (int, float)
        ok = ok and (selector, keep) in plan and rec.get("state", digest) == digest
        if ok:
            want = ids[start : start + batch_size]
            ok = [str(a.get("id")) if isinstance(a, dict) else None for a in answers] == want
            ok = ok and all(
                a.get("selector") == selector
                and a.get("keep") == keep
                and ANSWER_FIELDS <= a.keys()
                for a in answers
            )
        if not ok:
            raise OutputExistsError(
                f"{str(out_dir / PARTIAL_ANSWERS)!r} line {number} holds answers this "
                f"evaluation does not ask for; {_WAYS_OUT}"
            )
        steps.setdefault((start, selector, float(keep)), answers)
    return steps


def _batch_scores(
    cache: dict[Selector, list[np.ndarray | None]],
    selector: Selector,
    proc,
    items: Sequence[dict[str, Any]],
    window_ms: float | None,
    event_mode: EventMapMode,
) -> list[np.ndarray | None]:
    """The `selection_scores` of ``selector`` for each sample of a batch, from ``cache`` when
    an earlier keep made them."""
    if selector not in cache:
        cache[selector] = [
            selection_scores(proc, s, selector, window_ms=window_ms, event_mode=event_mode)
            for s in items
        ]
    return cache[selector]


def evaluate_dataset(
    model_dir: str | Path,
    dataset_dir: str | Path,
    *,
    split: str = "test",
    selectors: Sequence[Selector] = ("dense", "event", "random", "downsample"),
    keeps: Sequence[float] = (0.75, 0.5, 0.25),
    window_ms: float | None = None,
    limit: int | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    out_dir: str | Path | None = None,
    progress: bool = True,
    seed: int = 0,
    batch_size: int = 16,
    rule: KeepRule = "topk",
    event_mode: EventMapMode = "count",
    force: bool = False,
    prompt: str = "auto",
    max_new_tokens: int | None = None,
    on_resume: Callable[[EvalResume], None] | None = None,
) -> dict[str, Any]:
    """Evaluate every (selector, keep) on a dataset split; see the module docstring.

    ``model_dir`` is a checkpoint folder (str or path), not a model in memory: the run loads
    the model and processor from it (`load_model`) and records which files it used, so save an
    in-memory model and its processor there first (``save_pretrained``); anything else is
    refused with `eventsim.errors.ParameterError`. ``device`` defaults to ``"cpu"`` here,
    while the ``epvlm eval`` CLI defaults to ``auto`` (cuda when available); pass
    ``device="auto"`` for the same.

    ``prompt`` is the prompt format (auto: the checkpoint's chat template when it has one,
    see `epvlm.processing.prompt_format`); generations are scored by
    `epvlm.answers.score_answer`; when at least `UNREADABLE_WARN_SHARE` of a configuration's
    answers (dense's, where dense ran) name no option or hold no text, an
    `UnreadableAnswersWarning` says so once the results are in. Returns ``dict(rows=[...],
    samples=[...])``; with ``out_dir`` also writes results.json (the rows), samples.jsonl,
    table.md and accuracy_vs_flops.png there (refusing to replace an existing results.json
    unless ``force``).

    ``rule`` is the keep rule of ``event`` and ``edges`` (`epvlm.prior.select_blocks`). Under
    ``topk`` every selector keeps `epvlm.prior.keep_budget` tokens. Under ``quantile`` (the
    paper's ``SE >= Q(1 - keep)``, which keeps every block tied at the threshold: all of them
    when over ``1 - keep`` of the blocks saw no event) ``event`` keeps its own number per
    sample, and ``random``, ``center`` and ``downsample`` (`MATCHED_BASELINES`) keep, per
    sample, as many as ``event`` kept for it at the same keep (found whether or not ``event``
    is among ``selectors``), so one keep's rows compare at equal tokens. ``edges`` keeps by its
    own quantile: it is the image-only baseline, and taking ``event``'s count would make how
    much it sees depend on the events; its gradient scores seldom tie, so it keeps about
    ``keep`` of the tokens, and its rows (``kept_tokens``, FLOPs) report it. Rows record the
    baselines' count as ``baseline_tokens`` (``keep`` or ``event``); table.md's note says it.

    With ``out_dir`` the run is resumable: each batch's answers for each configuration are
    appended to ``partial-answers.jsonl`` there and flushed to the disk, beside
    ``partial-state.json``, the settings they depend on (`epvlm.results.PARTIAL_FILES`). The
    same call after a crash or Ctrl-C (raised as `EvalInterrupted`) keeps those answers, their
    latencies as measured then, and answers the rest; the results are those of an
    uninterrupted run, and the partial files go once they are written. Other settings are
    refused naming the first that differs; ``force`` starts over. A missing or damaged
    ``partial-state.json`` is rewritten when every kept answer line carries this run's
    settings digest (`epvlm.results.rebuild_partial_state`), else refused. A resume calls
    ``on_resume`` with what it keeps (an `EvalResume`) before answering the rest, and logs it
    on this module's logger at INFO; nothing is printed.

    The run holds an exclusive lock on ``out_dir`` (`epvlm.results.lock_results_folder`): a
    second evaluation into the same folder while it runs raises
    `epvlm.errors.ResultsFolderInUseError` and changes nothing there. A folder that cannot be
    written (read-only, permission) is refused like any other when it holds results and
    ``force`` is not given, else with `epvlm.errors.ResultsFolderLockError` naming it.
    """
    from tqdm.auto import tqdm

    from epvlm.answers import score_answer
    from eventsim.datasets import EventVQADataset
    from eventsim.datasets.loader import check_shard, dataset_root
    from eventsim.outputs import sigint_deferred

    if not isinstance(model_dir, (str, os.PathLike)):
        # a model object failed deep in Path() with a bare TypeError naming its class
        raise ParameterError(
            f"model_dir=<{type(model_dir).__name__} object>; expected a checkpoint folder (str or "
            "path): evaluate_dataset loads the model from disk, so save an in-memory model "
            "and its processor first (model.save_pretrained(folder), "
            "processor.save_pretrained(folder)) and pass that folder"
        )
    configs = _configs(selectors, keeps)
    if limit is not None and limit < 1:
        raise ParameterError(f"limit {limit!r} must be >= 1")
    if batch_size < 1:
        raise ParameterError(f"batch_size {batch_size!r} must be >= 1")
    if max_new_tokens is not None and max_new_tokens < 1:
        # refused here, not by the first generation after the model has loaded
        raise ParameterError(f"max_new_tokens {max_new_tokens!r} must be >= 1")
    out_path = Path(out_dir) if out_dir is not None else None
    ds = EventVQADataset(dataset_dir, split=split)
    total = done = resumed = 0
    lock: ResultsFolderLock | None = None
    try:
        n = len(ds) if limit is None else min(limit, len(ds))
        if n == 0:
            raise empty_split_error(split, dataset_dir, ds.manifest.get("splits"))
        empty = [r["id"] for r in ds.records[:n] if not str(r["question"]).strip()]
        if empty:
            raise ParameterError(f"sample {empty[0]!r} has an empty question")
        many = next((r for r in ds.records[:n] if len(r["choices"]) > MAX_OPTIONS), None)
        if many is not None:
            # refused before the model loads: the first answer naming option 27 stopped the run
            raise ParameterError(
                f"sample {many['id']!r} has {len(many['choices'])} choices; at most "
                f"{MAX_OPTIONS} (A to Z) can be asked and scored"
            )
        used_window_ms = stored_window_ms(
            window_ms, ds.records[:n], int(ds.manifest["window_us"]), dataset_dir
        )
        # the shards of these samples checked as their reads check them (size, sha256), before
        # torch loads (a deleted or damaged one was refused after the model had loaded); the
        # digests are remembered, so the reads do not hash them again
        entries = {e.get("file"): e for e in ds.manifest["shards"] if isinstance(e, dict)}
        for shard in dict.fromkeys(r["shard"] for r in ds.records[:n]):
            if shard in entries:
                check_shard(ds.root / shard, entries[shard], ds.root)
        total = n * len(configs)
        finished: dict[StepKey, list[dict[str, Any]]] = {}
        writer: PartialAnswers | None = None
        if out_path is not None:
            # a dataset folder is refused before the lock file could be put there
            check_results_folder(out_path, dataset_dir, True)
            state = partial_state(
                _run_settings(
                    model_dir, ds.manifest, split, configs, samples=n,
                    window_ms=None if window_ms is None else float(window_ms), seed=seed,
                    batch_size=batch_size, rule=rule, event_mode=event_mode, prompt=prompt,
                    max_new_tokens=max_new_tokens, device=device, dtype=dtype,
                    # only under quantile, where it changed: the baselines' answers of a run
                    # stopped before they kept event's counts are refused, not mixed in, and a
                    # top-k run (the same answers either way) still resumes
                    **({"baseline_tokens": "event"} if rule == "quantile" else {}),
                ),
                # what a refused resume quotes: the dataset as given, its split's size (a
                # --limit that asked every question) and window (no --window-ms)
                facts={
                    "dataset": str(dataset_dir), "split_samples": len(ds),
                    "dataset_window_ms": int(ds.manifest["window_us"]) / 1000,
                },
            )  # fmt: skip
            # held until the run ends: everything below reads, truncates or writes the folder
            try:
                lock = lock_results_folder(out_path)
            except ResultsFolderLockError:
                # a read-only folder holding results: the "results exist" refusal says more than
                # the lock file it cannot hold (which --force would not help with)
                check_results_folder(out_path, dataset_dir, force, state)
                raise
            rebuilt = None if force else rebuild_partial_state(out_path, state)
            check_results_folder(out_path, dataset_dir, force, state)
            if force:
                remove_partial(out_path)
            else:
                ids = [str(r["id"]) for r in ds.records[:n]]
                finished = _finished_steps(
                    read_partial_answers(out_path),
                    ids,
                    batch_size,
                    configs,
                    out_path,
                    state_digest(state),
                )
            done = resumed = sum(map(len, finished.values()))
            if resumed:
                resume = EvalResume(resumed, total, out_path / PARTIAL_ANSWERS, rebuilt)
                if rebuilt is not None:
                    _log.info("%s; rebuilt from this run's settings", rebuilt)
                _log.info(
                    "resuming: %d of %d answers done (%s)", resumed, total, resume.answers_path
                )
                if on_resume is not None:
                    on_resume(resume)
            writer = PartialAnswers(out_path, state)
        # the files as loaded, for the results (a resume's state took them before the lock)
        model_files = model_files_fingerprint(model_dir)
        model, proc = load_model(model_dir, device=device, dtype=dtype)
        # imported here: it imports torch, which the checks above do without
        from epvlm.processing import prompt_format

        fmt = prompt_format(proc, prompt)
        if max_new_tokens is None and fmt == "plain":
            # one budget for the whole split, so an answer cannot depend on its batch-mates
            max_new_tokens = plain_answer_budget(proc, [r["choices"] for r in ds.records[:n]])
    except BaseException as exc:
        ds.close()
        if lock is not None:
            lock.release()
        if isinstance(exc, KeyboardInterrupt) and out_path is not None and done:
            raise EvalInterrupted(out_path, done, total) from None
        raise

    samples: list[dict[str, Any]] = []
    bar = tqdm(total=total, initial=done, desc="epvlm eval", unit="answer", disable=not progress)
    try:
        for start in range(0, n, batch_size):
            todo = [c for c in configs if (start, *c) not in finished]
            stop = min(n, start + batch_size)
            items = [ds[i] for i in range(start, stop)] if todo else []
            questions = [s["question"] for s in items]
            choices = [list(s["choices"]) for s in items]
            # this batch's event selections per keep, which the matched baselines' counts
            # come from (event selections draw nothing, so they are the same whenever made)
            event_sels: dict[float, list[Selection]] = {}
            # the batch's event and edges block scores, made once: every keep reuses them
            scores: dict[Selector, list[np.ndarray | None]] = {}
            for selector, keep in configs:
                kept = finished.get((start, selector, keep))
                if kept is not None:
                    samples.extend(kept)
                    continue
                budgets: list[int | None] = [None] * len(items)
                if selector == "event" or (rule == "quantile" and selector in MATCHED_BASELINES):
                    if keep not in event_sels:
                        masses = _batch_scores(scores, "event", proc, items, window_ms, event_mode)
                        event_sels[keep] = [
                            make_selection(
                                proc, s, "event", keep, window_ms=window_ms, rule=rule,
                                event_mode=event_mode, scores=mass,
                            )
                            for s, mass in zip(items, masses)
                        ]  # fmt: skip
                    if selector != "event":
                        budgets = [sel.kept_tokens for sel in event_sels[keep]]
                own_scores = _batch_scores(scores, selector, proc, items, window_ms, event_mode)
                sels = (
                    event_sels[keep]
                    if selector == "event"
                    else [
                        make_selection(
                            proc,
                            s,
                            selector,
                            keep,
                            window_ms=window_ms,
                            seed=selection_seed(seed, start + j, keep),
                            rule=rule,
                            event_mode=event_mode,
                            budget=budget,
                            scores=sample_scores,
                        )
                        for j, (s, budget, sample_scores) in enumerate(
                            zip(items, budgets, own_scores)
                        )
                    ]
                )
                _, counts, seconds = answer_selections(
                    model,
                    proc,
                    sels,
                    questions,
                    choices,
                    max_new_tokens=max_new_tokens,
                    prompt=fmt,
                )
                step: list[dict[str, Any]] = []
                for s, sel, cnt in zip(items, sels, counts):
                    scored = score_answer(cnt["raw"], s["answer"], s["choices"], s["question"])
                    flops = selection_flops(
                        model.config, sel, cnt["text_tokens"], cnt["new_tokens"]
                    )
                    step.append(
                        {
                            "id": s["id"],
                            # the id the split file gave the question, to join answers back
                            "source_id": (s["meta"].get("source") or {}).get("source_id"),
                            "selector": selector,
                            "keep": keep,
                            "prediction": scored.prediction,
                            "answer": s["answer"],
                            "correct": scored.correct,
                            "raw_output": scored.raw,
                            "parsed": scored.parsed,
                            "answer_mode": scored.mode,
                            "exact_match": scored.exact_match,
                            "contains": scored.contains,
                            "prompt_format": fmt,
                            "question_type": s["question_type"],
                            "target_motion": (s.get("meta") or {}).get("target_motion"),
                            "kept_tokens": sel.kept_tokens,
                            "total_tokens": sel.total_tokens,
                            "flops": int(flops.total),
                            "prefill_flops": int(flops.prefill),
                            "latency_s": seconds / len(items),
                            "fallback": sel.fallback,
                        }
                    )
                if writer is not None:
                    writer.append(start, selector, keep, step)
                samples.extend(step)
                bar.update(len(items))

        rows = aggregate(samples, configs)
        _add_scoring_fields(rows, samples, fmt)
        unreadable = unreadable_answers_warning(
            samples, {str(r["id"]): (r["question"], r["choices"]) for r in ds.records[:n]}
        )
        import torch  # loaded with the model

        dtype_name = str(model.dtype).removeprefix("torch.")
        # the budget answer_selections resolves for chat checkpoints when none is given
        budget = CHAT_MAX_NEW_TOKENS if max_new_tokens is None else max_new_tokens
        settings = {
            # resolved, so the row names the checkpoint and the data from any folder; the
            # paths as given beside them
            "model": str(Path(model_dir).resolve()),
            "model_given": str(model_dir),
            "model_files": model_files,
            "dataset": str(dataset_root(dataset_dir).resolve()),
            "dataset_given": str(dataset_dir),
            "dataset_digest": dataset_digest(ds.manifest, split),
            # what built the events: dataset.json's record (eventsim, numpy, h5py, ...), which
            # the eval's own versions need not match
            "dataset_versions": ds.manifest.get("versions"),
            "split": split,
            "split_questions": len(ds),
            "limit": limit,
            "questions": n,
            "window_ms": used_window_ms,
            "dataset_window_ms": int(ds.manifest["window_us"]) / 1000,
            "rule": rule,
            # how many tokens random, center and downsample kept: keep_budget ("keep") or, per
            # sample, event's count ("event")
            "baseline_tokens": "event" if rule == "quantile" else "keep",
            "event_mode": event_mode,
            "device": str(model.device),
            "dtype": dtype_name,
            "batch_size": batch_size,
            "seed": seed,
            "max_new_tokens": budget,
            # torch's CPU threads, which the latencies depend on (epvlm eval --threads)
            "threads": torch.get_num_threads(),
            "versions": run_versions(),
        }
        for row in rows:
            row.update(settings)
        if out_path is not None:
            title = (
                f"epvlm eval: {model_label(model_dir)} on "
                f"{dataset_label(ds.manifest, dataset_dir, split)}, "
                f"{_questions_label(n, len(ds), limit)}"
            )
            stored = (
                "the dataset's window"
                if window_ms is None
                else f"the dataset stores {settings['dataset_window_ms']:g} ms"
            )
            note = (
                f"Selectors {', '.join(dict.fromkeys(c[0] for c in configs))}; event rule "
                f"{rule}, event map {event_mode}, events of the {used_window_ms:g} ms before "
                f"each frame ({stored}); {fmt} prompt format; greedy decoding"
                f"{_penalty_note(model)} on {model.device} ({dtype_name}) of at most {budget} new "
                f"{plural(budget, 'token')}; selection seed {seed}; latency is the "
                f"batched generate() wall time per sample at batch size {batch_size} (vision "
                "tower, prefill and decoding, after one untimed warm-up call); FLOPs are "
                "analytic (epvlm.flops) with each sample's kept, text and generated tokens, so "
                "a configuration that answers at more length costs more; results.json's "
                "prefill_flops_vs_dense leaves decoding out."
            )
            note += _quantile_note(rule, [c[0] for c in configs])
            note += _provenance_note(settings)
            if resumed:
                note += (
                    f" {resumed:,} of {total:,} {plural(total, 'answer')} "
                    f"{plural(resumed, 'was', 'were')} kept from an interrupted run of the same "
                    f"evaluation; {plural(resumed, 'its', 'their')} latency is the one measured "
                    "then."
                )
            write_eval_outputs(out_path, rows, samples, title, note)
            with sigint_deferred():
                if writer is not None:
                    writer.close()
                remove_partial(out_path)
    except KeyboardInterrupt:
        done = resumed + (writer.written if writer is not None else 0)
        if out_path is not None and (out_path / PARTIAL_STATE).is_file() and done:
            raise EvalInterrupted(out_path, done, total) from None
        raise
    finally:
        bar.close()
        ds.close()
        if writer is not None:
            writer.close()
        if lock is not None:
            lock.release()
    if unreadable is not None:
        # once the progress bar is gone and the results are written
        warnings.warn(unreadable, UnreadableAnswersWarning, stacklevel=2)
    return {"rows": rows, "samples": samples}
