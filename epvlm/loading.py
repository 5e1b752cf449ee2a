"""Strict loading of Qwen2-VL and Qwen2.5-VL checkpoints into the EP-VLM classes.

Checkpoints in the wild (the Hub's, and whatever stock transformers' ``save_pretrained``
writes) use the legacy tensor names (``model.layers.*``, ``model.embed_tokens``, ``visual.*``,
``lm_head``), while the modules are named ``model.language_model.*`` / ``model.visual.*``.
transformers renames on load through a conversion mapping it registers per class name for its
own classes only, and skips classes defined outside the library. `register_stock_conversions`
registers the stock parent's mapping under the EP subclass's name, so both layouts (and the
reverse on ``save_pretrained``) behave exactly as for the stock class.

`load_pretrained_model` reads ``model_type`` from ``config.json``, picks the EP class and turns
any missing, unexpected or mis-shaped tensor into a `CheckpointError` instead of transformers'
warning (which leaves the missing layers randomly initialised).

This module imports torch and transformers only inside its functions.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from epvlm.errors import CheckpointError, ModelDirError
from eventsim._text import plural

if TYPE_CHECKING:
    from transformers import PreTrainedConfig, PreTrainedModel

    from epvlm.modeling import EPQwen2VLForConditionalGeneration
    from epvlm.modeling_qwen2_5_vl import EPQwen2_5_VLForConditionalGeneration

    # what `load_pretrained_model` returns: the class of `MODEL_CLASSES` the config names
    # (PreTrainedModel alone has no ``generate``)
    EPModel: TypeAlias = EPQwen2VLForConditionalGeneration | EPQwen2_5_VLForConditionalGeneration

__all__ = [
    "MODEL_CLASSES",
    "check_checkpoint_folder",
    "check_model_dir",
    "check_model_type",
    "check_readable",
    "check_weight_files",
    "checkpoint_keys",
    "config_model_type",
    "hub_cache_hint",
    "hub_id_message",
    "load_pretrained_model",
    "model_class_for",
    "read_model_type",
    "register_stock_conversions",
]

# model_type in config.json -> (module, EP class)
MODEL_CLASSES: dict[str, tuple[str, str]] = {
    "qwen2_vl": ("epvlm.modeling", "EPQwen2VLForConditionalGeneration"),
    "qwen2_5_vl": ("epvlm.modeling_qwen2_5_vl", "EPQwen2_5_VLForConditionalGeneration"),
}

_NAMES_SHOWN = 3


def register_stock_conversions(*classes: type) -> None:
    """Give each class the checkpoint conversion mapping transformers has for its nearest
    stock ancestor (looked up by that ancestor's class name, as transformers does)."""
    from transformers.conversion_mapping import (
        get_checkpoint_conversion_mapping,
        register_checkpoint_conversion_mapping,
    )

    for cls in classes:
        stock = next(
            (base for base in cls.__mro__[1:] if base.__module__.startswith("transformers.")),
            None,
        )
        if stock is None:
            raise TypeError(f"{cls.__name__} has no transformers base class")
        mapping = get_checkpoint_conversion_mapping(stock.__name__)
        if mapping is not None:
            register_checkpoint_conversion_mapping(cls.__name__, mapping, overwrite=True)


def vision_config(config: PreTrainedConfig) -> PreTrainedConfig:
    """The vision sub-config of a Qwen2-VL / Qwen2.5-VL config.

    transformers annotates ``vision_config`` with what its constructor accepts (``dict |
    PreTrainedConfig | None``); the constructor always turns it into a config object, which
    this returns (the text side has ``config.get_text_config()``).
    """
    from transformers import PreTrainedConfig

    vision = getattr(config, "vision_config", None)
    if not isinstance(vision, PreTrainedConfig):
        raise CheckpointError(
            f"{type(config).__name__} has vision_config {type(vision).__name__}; expected a "
            "vision config object (a Qwen2-VL or Qwen2.5-VL config)"
        )
    return vision


def read_model_type(model_dir: str | Path) -> str:
    """``model_type`` of the checkpoint in ``model_dir`` (from its ``config.json``)."""
    cfg_file = Path(model_dir) / "config.json"
    check_model_dir(model_dir)
    if not cfg_file.is_file():
        raise ModelDirError(
            f"model directory {str(model_dir)!r} has no config.json" + hub_cache_hint(model_dir)
        )
    try:
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelDirError(f"cannot read {str(cfg_file)!r}: {exc}") from None
    if not isinstance(cfg, dict):
        raise CheckpointError(
            f"{str(cfg_file)!r} holds a JSON {_json_kind(cfg)}, not an object; expected the "
            f"model's config with a model_type, one of {_supported()}"
        )
    return config_model_type(cfg, repr(str(cfg_file)))


def config_model_type(cfg: dict[str, Any], where: str) -> str:
    """The ``model_type`` string of a model config dict; a `CheckpointError` saying that
    ``where`` (the config, as the message names it) has none, or one that is not a string.
    The one check of it for `read_model_type` and `epvlm.flops.load_dims`: a config without
    one is no more a Qwen2-VL's for costing than for loading."""
    model_type = cfg.get("model_type")
    if not isinstance(model_type, str):
        what = (
            "no model_type"
            if model_type is None
            else (f"model_type {model_type!r} (a {_json_kind(model_type)})")
        )
        raise CheckpointError(f"{where} has {what}; expected one of {_supported()}")
    return model_type


def check_model_dir(model_dir: str | Path) -> None:
    """A `ModelDirError` when ``model_dir`` is not a folder: what to pass instead when it reads
    as a Hugging Face hub id (`hub_id_message`), else that it does not exist or is a file."""
    if Path(model_dir).is_dir():
        return
    message = hub_id_message(model_dir)
    if message is not None:
        raise ModelDirError(message)
    what = "is a file" if Path(model_dir).exists() else "does not exist"
    raise ModelDirError(
        f"model directory {str(model_dir)!r} {what}; expected the folder holding "
        "config.json and the weights"
    )


def check_checkpoint_folder(model_dir: str | Path) -> None:
    """A `ModelDirError` when the folder ``model_dir`` holds neither config.json nor a
    processor config (preprocessor_config.json, processor_config.json): no checkpoint at all,
    said as such rather than as the first file missing (with `hub_cache_hint`'s words for a
    Hugging Face cache folder). Torch-free, so the command line says it before torch loads."""
    folder = Path(model_dir)
    if any(
        (folder / name).is_file()
        for name in ("config.json", "preprocessor_config.json", "processor_config.json")
    ):
        return
    raise ModelDirError(
        f"{str(model_dir)!r} is not a model checkpoint folder: it has no config.json and no "
        "preprocessor_config.json; expected a Qwen2-VL or Qwen2.5-VL checkpoint (config.json, "
        "weights, processor and tokenizer files)" + hub_cache_hint(model_dir)
    )


# a repository id as the Hub spells them (huggingface_hub's validate_repo_id, with the owner
# required): a model given by its id, which from_pretrained would download
_HUB_ID = re.compile(
    r"[A-Za-z0-9](?:[\w.-]*[A-Za-z0-9])?/[A-Za-z0-9](?:[\w.-]*[A-Za-z0-9])?", re.ASCII
)


def hub_id_message(model_dir: str | Path) -> str | None:
    """Why ``model_dir`` cannot be used when it does not exist and reads as a hub id
    (``ORG/NAME``): epvlm runs local checkpoints only. A snapshot of it in the local Hugging
    Face cache (`hub_cache_dir`) that holds a config.json is named. None for any other path,
    and for one whose ``ORG`` is there: a folder here that lacks ``NAME`` is a mistyped path."""
    name = os.fspath(model_dir)
    if (
        os.path.lexists(name)
        or not _HUB_ID.fullmatch(name)
        or os.path.lexists(name.split("/")[0])
        or "--" in name
        or ".." in name
        or len(name.split("/")[1]) > 96
    ):
        return None
    message = (
        # a relative path of two parts reads the same: that it names no folder comes first
        f"{name!r} does not exist as a folder here and looks like a Hugging Face hub id; epvlm "
        "never downloads models: pass a local checkpoint directory (e.g. one `huggingface-cli "
        f"download {name} --local-dir DIR` wrote)"
    )
    repo = hub_cache_dir() / ("models--" + name.replace("/", "--"))
    cached = _complete_snapshots(repo / "snapshots")
    if cached is None:
        return message
    found, main = cached
    if not found:
        return (
            f"{message}; the Hugging Face cache folder {str(repo)!r} holds no snapshot with a "
            "config.json (an unfinished download?)"
        )
    if len(found) == 1:
        return f"{message}; a cached copy is at {str(found[0])!r}"
    listed = [repr(str(p)) + (" (refs/main)" if p.name == main else "") for p in found]
    return f"{message}; cached copies are at {', '.join(listed)}"


def hub_cache_dir() -> Path:
    """The folder of the local Hugging Face hub cache, found as huggingface_hub finds it
    (``HF_HUB_CACHE``, the older ``HUGGINGFACE_HUB_CACHE``, else ``HF_HOME/hub``, ``HF_HOME``
    defaulting to ``$XDG_CACHE_HOME/huggingface`` or ``~/.cache/huggingface``), without
    importing it."""
    home = os.environ.get(
        "HF_HOME",
        os.path.join(
            os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache")),
            "huggingface",
        ),
    )
    home = os.path.expandvars(os.path.expanduser(home))
    cache = os.environ.get(
        "HF_HUB_CACHE", os.environ.get("HUGGINGFACE_HUB_CACHE", os.path.join(home, "hub"))
    )
    return Path(os.path.expandvars(os.path.expanduser(cache)))


def _complete_snapshots(snapshots: Path) -> tuple[list[Path], str] | None:
    """The snapshots in a cache repository's ``snapshots`` folder that hold a config.json,
    sorted, and the revision its ``refs/main`` names ('' when none can be read); None when the
    folder does not exist or cannot be listed."""
    try:
        # is_dir too: a cache this user may not enter (another user's HF_HOME) raises, which
        # turned the hint into an error about the cache folder
        if not snapshots.is_dir():
            return None
        found = sorted(p for p in snapshots.iterdir() if (p / "config.json").is_file())
    except OSError:
        return None
    try:
        main = (snapshots.parent / "refs" / "main").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        main = ""
    return found, main


def hub_cache_hint(model_dir: str | Path) -> str:
    """What to pass instead when ``model_dir`` is a Hugging Face cache folder
    (``models--ORG--NAME``, or its ``snapshots``) or a snapshot in there lacking config.json,
    as '; ...' to end a 'no config.json' error; '' for any other folder. The checkpoint is a
    ``snapshots/REVISION`` folder holding config.json, which is named rather than taken: which
    revision to run is the user's choice. A snapshot without one (given, or the one refs/main
    names) is said to be one, as a download cut short leaves it."""
    from epvlm.evaluate import model_label

    given = Path(model_dir)
    name = Path(os.path.abspath(given)).name
    # model_label names a snapshot by its repository only in the cache's layout
    if model_label(given) != name:
        snapshot: str | None = name
        # lexically, as abspath: '.' inside a snapshot names the others '../REVISION'
        snapshots = Path(os.path.normpath(os.path.join(given, os.pardir)))
    else:
        snapshot = None
        snapshots = given if name == "snapshots" else given / "snapshots"
    repo = model_label(snapshots / "REVISION")
    cached = None if repo == "REVISION" else _complete_snapshots(snapshots)
    if cached is None:
        return ""
    found, main = cached
    unfinished = "(an unfinished download?)"
    if snapshot is not None:
        where = f"; it is snapshot {snapshot} of {repo} in the Hugging Face cache {unfinished}"
        if not found:
            return f"{where}, and no other snapshot of it holds a config.json"
    else:
        where = f"; it is the Hugging Face cache folder of {repo}"
        if not found:
            return f"{where}, with no snapshot holding a config.json {unfinished}"
        if main and main not in {p.name for p in found}:
            # the newest revision's download cut short: the one offered is an older revision
            where += f", whose refs/main snapshot {main} has no config.json {unfinished}"
    if len(found) == 1:
        return f"{where}: pass {str(found[0])!r} instead"
    listed = [repr(str(p)) + (" (refs/main)" if p.name == main else "") for p in found]
    return f"{where}: pass one of its snapshots instead, {', '.join(listed)}"


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string" if isinstance(value, str) else "null"


def check_model_type(model_dir: str | Path) -> str:
    """The ``model_type`` of the checkpoint in ``model_dir`` when EP-VLM runs it; a
    `CheckpointError` naming it and its config.json otherwise. Checked before anything else
    of a folder is read: another family's processor files (a LLaVA's CLIP image processor, a
    text-only Qwen2's none) failed first, in words about those files."""
    model_type = read_model_type(model_dir)
    if model_type not in MODEL_CLASSES:
        raise CheckpointError(
            f"model_type {model_type!r} is not supported (in "
            f"{str(Path(model_dir) / 'config.json')!r}); expected one of {_supported()}: "
            "EP-VLM runs Qwen2-VL and Qwen2.5-VL checkpoints"
        )
    _refuse_quantized(model_dir)
    return model_type


def _refuse_quantized(model_dir: str | Path) -> None:
    """A `CheckpointError` for a quantized checkpoint (AWQ, GPTQ, bitsandbytes, FP8, ...: a
    ``quantization_config`` in config.json). transformers swaps in the quantizer's layers
    through an extra package (gptqmodel, optimum, bitsandbytes, ...) and failed with that
    package's ImportError; the sparse path and its FLOP counts are made for plain weights,
    and are not tried on quantized ones."""
    cfg_file = Path(model_dir) / "config.json"
    cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    text = cfg.get("text_config")
    quant = cfg.get("quantization_config")
    # transformers takes an empty one as none (some configs carry "quantization_config": {})
    # and then looks in the text config, as here
    if quant is None or quant == {}:
        quant = text.get("quantization_config") if isinstance(text, dict) else None
    if quant is None:
        return
    method = quant.get("quant_method") if isinstance(quant, dict) else None
    what = f"quant_method {method!r}" if isinstance(method, str) else "quantization_config"
    raise CheckpointError(
        f"checkpoint {str(model_dir)!r} is quantized ({what} in {str(cfg_file)!r}); EP-VLM "
        "runs unquantized weights only (in float32, bfloat16 or float16): use the checkpoint "
        "it was quantized from (the name without the -AWQ, -GPTQ-Int4 or like suffix)"
    )


def _supported() -> str:
    return ", ".join(MODEL_CLASSES)


def model_class_for(model_type: str) -> type[PreTrainedModel]:
    """The EP-VLM class for a ``model_type`` (``qwen2_vl`` or ``qwen2_5_vl``)."""
    if model_type not in MODEL_CLASSES:
        raise CheckpointError(
            f"model_type {model_type!r} is not supported; expected one of {_supported()}"
        )
    module, name = MODEL_CLASSES[model_type]
    return getattr(import_module(module), name)


def _weight_map(index: Path) -> dict[str, str]:
    """Tensor name -> file of a sharded checkpoint's index (``model.safetensors.index.json``
    or ``pytorch_model.bin.index.json``)."""
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelDirError(f"cannot read {str(index)!r}: {exc}") from None
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if (
        not isinstance(weight_map, dict)
        or not weight_map
        or not all(isinstance(f, str) for f in weight_map.values())
    ):
        raise ModelDirError(
            f"{str(index)!r} has no weight_map (tensor name -> file name); expected the index "
            "saved with the sharded weights"
        )
    return weight_map


def check_readable(path: Path, what: str) -> None:
    """A `ModelDirError` naming ``path`` when this user cannot open it. safetensors reports a
    shard it may not read as 'No such file or directory', which read as a damaged download.
    safetensors (0.8) writes its files readable by their owner only (mode 0600), so a
    checkpoint another user saved with ``save_pretrained`` meets this first."""
    try:
        with open(path, "rb"):
            pass
    except PermissionError:
        try:
            st = path.stat()
            whose = f" (mode {stat.filemode(st.st_mode)}, owner uid {st.st_uid})"
        except OSError:
            whose = ""
        raise ModelDirError(
            f"{what} {str(path)!r} cannot be read by this user{whose}: permission denied; "
            "its owner can give read access (chmod a+r)"
        ) from None
    except OSError as exc:
        raise ModelDirError(f"{what} {str(path)!r} cannot be read: {exc.strerror or exc}") from None


def _header_keys(path: Path) -> list[str]:
    """Tensor names in a safetensors file's header; a file whose header does not read or does
    not cover the file (an interrupted download or copy) is a `CheckpointError` naming it."""
    from safetensors import SafetensorError, safe_open

    check_readable(path, "weight file")
    try:
        # the numpy framework reads the same header and checks the same coverage without
        # importing torch, so the command line checks the files before torch loads
        with safe_open(str(path), framework="numpy") as f:
            return sorted(f.keys())
    except (SafetensorError, OSError) as exc:
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"weight file {str(path)!r} is damaged or incomplete (an interrupted download or "
            f"copy?): {why}"
        ) from None


# the weight files transformers reads from a folder, in the order it looks for them
SAFE_SINGLE, SAFE_INDEX = "model.safetensors", "model.safetensors.index.json"
BIN_SINGLE, BIN_INDEX = "pytorch_model.bin", "pytorch_model.bin.index.json"


def _bin_keys(path: Path) -> list[str]:
    """Tensor names in a PyTorch ``.bin`` weight file, read as transformers reads it
    (``torch.load(weights_only=True)``, memory-mapped when the file is in torch's zip format,
    so no tensor data is read); a file that does not load, or holds anything but a dict of
    tensors, is a `CheckpointError` naming it."""
    import pickle
    import zipfile

    import torch

    check_readable(path, "weight file")
    try:
        state = torch.load(
            str(path), map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path)
        )
    except (RuntimeError, pickle.UnpicklingError, EOFError, OSError, ValueError) as exc:
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"weight file {str(path)!r} is damaged, incomplete or not a file of tensors "
            f"(torch.load with weights_only=True failed: {why})"
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(
            f"weight file {str(path)!r} holds a {type(state).__name__} that is not a state "
            "dict (tensor name -> tensor); expected the weights saved by save_pretrained"
        )
    return sorted(state)


def _weight_source(model_dir: Path) -> Path:
    """The weight file or index transformers reads in ``model_dir``: model.safetensors, else
    its sharded index, else pytorch_model.bin, else its sharded index (so a folder holding
    several, an older save beside a newer one, is read as transformers reads it)."""
    for name in (SAFE_SINGLE, SAFE_INDEX, BIN_SINGLE, BIN_INDEX):
        if (model_dir / name).is_file():
            return model_dir / name
    raise ModelDirError(
        f"model directory {str(model_dir)!r} has neither model.safetensors nor "
        f"model.safetensors.index.json (nor {BIN_SINGLE} or {BIN_INDEX}); expected the "
        "weights saved by save_pretrained beside config.json"
    )


# the weight files whose check passed, by path, inode, size and times (`_stat_key`): the command
# line checks them before torch loads, and the load that follows does not read them again
_WEIGHTS_CHECKED: set[tuple[Any, ...]] = set()


def _stat_key(paths: list[Path]) -> tuple[Any, ...] | None:
    try:
        stats = [os.stat(p) for p in paths]
    except OSError:
        return None
    return tuple(
        (str(p.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        for p, st in zip(paths, stats)
    )


def check_weight_files(model_dir: str | Path, *, torch_free: bool = False) -> None:
    """Every weight file transformers will read (`_weight_source`: the single file, or the
    shards its index names) is there and whole (safetensors headers, ``.bin`` pickles
    memory-mapped; tensor data is not read), so a bad one is a `CheckpointError` naming it
    before transformers meets it. Files that passed and have not changed since are not read
    again. ``torch_free``: ``.bin`` files, which only torch reads, are checked for presence
    only (their full check comes with the load)."""
    model_dir = Path(model_dir)
    source = _weight_source(model_dir)
    paths = [source]
    if source.name in (SAFE_INDEX, BIN_INDEX):
        files = sorted(set(_weight_map(source).values()))
        missing = [f for f in files if not (model_dir / f).is_file()]
        if missing:
            raise CheckpointError(
                f"checkpoint {str(model_dir)!r} lacks {len(missing)} of the {len(files)} weight "
                f"files its index names: {_first(missing)}"
            )
        paths = [model_dir / name for name in files]
    key = _stat_key([source, *paths])
    if key is not None and key in _WEIGHTS_CHECKED:
        return
    read = _header_keys if source.name in (SAFE_SINGLE, SAFE_INDEX) else _bin_keys
    if read is _bin_keys and torch_free:
        return
    for path in paths:
        read(path)
    if key is not None:
        _WEIGHTS_CHECKED.add(key)


def checkpoint_keys(model_dir: str | Path) -> list[str]:
    """Tensor names stored in a checkpoint (`_weight_source`: safetensors or PyTorch ``.bin``,
    single file or sharded with an index), from the file headers or the index without
    loading any tensor."""
    model_dir = Path(model_dir)
    source = _weight_source(model_dir)
    if source.name == SAFE_SINGLE:
        return _header_keys(source)
    if source.name == BIN_SINGLE:
        return _bin_keys(source)
    return sorted(_weight_map(source))


def _stored_names(keys: list[str], stored: list[str]) -> list[str]:
    """Model tensor names as the checkpoint spells them (legacy names when it uses those)."""
    if any(k.startswith(("model.language_model.", "model.visual.")) for k in stored):
        return sorted(keys)
    out = []
    for key in keys:
        for current, legacy in (("model.language_model.", "model."), ("model.visual.", "visual.")):
            if key.startswith(current):
                key = legacy + key[len(current) :]
                break
        out.append(key)
    return sorted(out)


# a vision-tower tensor name only one model type has (legacy ``visual.`` or current
# ``model.visual.`` prefix): Qwen2-VL's blocks have a GELU MLP (fc1/fc2), Qwen2.5-VL's SwiGLU
_VISION_MLP_OF = {".mlp.fc1.": "qwen2_vl", ".mlp.gate_proj.": "qwen2_5_vl"}


def _weights_model_type(stored: list[str]) -> str | None:
    """The model type the checkpoint's vision tensors belong to, when they show one."""
    for part, model_type in _VISION_MLP_OF.items():
        if any(
            k.startswith(("visual.blocks.", "model.visual.blocks.")) and part in k for k in stored
        ):
            return model_type
    return None


def _first(names: Any) -> str:
    names = sorted(names)
    shown = ", ".join(names[:_NAMES_SHOWN])
    return shown + (f" and {len(names) - _NAMES_SHOWN} more" if len(names) > _NAMES_SHOWN else "")


def _check_loading_info(model_dir: Path, cls: type, info: dict[str, Any]) -> None:
    missing = list(info.get("missing_keys") or ())
    unexpected = list(info.get("unexpected_keys") or ())
    mismatched = list(info.get("mismatched_keys") or ())
    errors = list(info.get("error_msgs") or ())
    if not (missing or unexpected or mismatched or errors):
        return
    problems = []
    # every name as the checkpoint's files spell it, which is what the user can look up
    stored = checkpoint_keys(model_dir)
    if missing:
        problems.append(
            f"{len(missing)} missing {plural(len(missing), 'tensor')}: "
            f"{_first(_stored_names(missing, stored))}"
        )
    if unexpected:
        names = _stored_names(unexpected, stored)
        problems.append(
            f"{len(unexpected)} unexpected {plural(len(unexpected), 'tensor')}: {_first(names)}"
        )
    if mismatched:
        shown = [
            f"{_stored_names([m[0]], stored)[0]} {tuple(m[1])} vs {tuple(m[2])}"
            if len(m) == 3
            else str(m)
            for m in mismatched
        ]
        problems.append(
            f"{len(mismatched)} {plural(len(mismatched), 'tensor')} of the wrong shape: "
            f"{_first(shown)}"
        )
    if errors:
        problems.append(" ".join(str(e) for e in errors[:1]).replace("\n", " "))
    declared = read_model_type(model_dir)
    actual = _weights_model_type(stored)
    hint = ""
    if actual is not None and actual != declared:
        hint = (
            f" (the weights are those of model_type {actual!r} but config.json says "
            f"{declared!r}; use the config.json that came with the weights)"
        )
    raise CheckpointError(
        f"checkpoint {str(model_dir)!r} does not match {cls.__name__}{hint}: " + "; ".join(problems)
    )


def _drop_load_report(record: logging.LogRecord) -> bool:
    return "LOAD REPORT" not in str(record.msg)


def load_pretrained_model(
    model_dir: str | Path,
    *,
    device: Any = "cpu",
    dtype: Any = "float32",
    generation_config: Any = None,
) -> EPModel:
    """Load the checkpoint in ``model_dir`` into the EP-VLM class its ``model_type`` names, in
    eval mode on ``device`` with floating weights in ``dtype`` (a torch dtype or its name, one
    of `epvlm.evaluate.DTYPES`; anything else is a one-line `ParameterError` listing them).
    ``"auto"`` for either means what the command line's ``--device auto`` / ``--dtype auto``
    mean (`epvlm.evaluate.resolve_device`, `epvlm.evaluate.resolve_dtype`).
    ``generation_config`` (a `transformers.GenerationConfig`) replaces the folder's
    generation_config.json, as for ``from_pretrained``.

    Every tensor equals what the stock transformers class loads from the same directory; a
    missing, unexpected or wrongly shaped tensor raises `CheckpointError` naming the first
    ones. Weights are read straight into the model (safetensors, or PyTorch ``.bin`` files
    through ``torch.load(weights_only=True)``, both memory-mapped), so peak memory stays near
    one copy of the weights. A quantized checkpoint (``quantization_config``) is refused.
    """
    import torch

    model_dir = Path(model_dir)
    cls = model_class_for(check_model_type(model_dir))
    generation = model_dir / "generation_config.json"
    if generation.is_file():
        # transformers drops an unreadable one for defaults, silently changing the stop tokens
        try:
            json.loads(generation.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelDirError(f"cannot read {str(generation)!r}: {exc}") from None
    from epvlm.evaluate import resolve_device, resolve_dtype

    # refused here, before the weights are read: torch would fail on them only after
    device = resolve_device(str(device))
    # a torch dtype by its name: float8 and the like are refused in one line, not by a
    # TypeError from inside transformers
    name = str(dtype).removeprefix("torch.") if isinstance(dtype, torch.dtype) else dtype
    torch_dtype = resolve_dtype(name if isinstance(name, str) else repr(name), device)
    check_weight_files(model_dir)
    # transformers logs a multi-line table of bad keys and raises a bare RuntimeError on shape
    # mismatches; the same facts become one CheckpointError line below.
    report_logger = logging.getLogger("transformers.modeling_utils")
    report_logger.addFilter(_drop_load_report)
    # a "Loading weights" bar on stderr would stand before the one-line error of a bad
    # checkpoint; the bar is restored afterwards so callers' own settings stay theirs
    from transformers.utils import logging as hf_logging

    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        # transformers annotates from_pretrained as returning the model alone; with
        # output_loading_info=True it returns (model, loading info)
        loaded: tuple[EPModel, dict[str, Any]] = cls.from_pretrained(  # type: ignore[assignment]
            str(model_dir),
            dtype=torch_dtype,
            output_loading_info=True,
            ignore_mismatched_sizes=True,
            generation_config=generation_config,
        )
        model, info = loaded
    except (RuntimeError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"cannot load checkpoint {str(model_dir)!r}: {first}") from exc
    finally:
        report_logger.removeFilter(_drop_load_report)
        if bar_was_on:
            hf_logging.enable_progress_bar()
    _check_loading_info(model_dir, cls, info)
    return model.to(device).eval()
