"""Dataset recipes: TOML files that say how to build an event-VQA dataset.

A recipe has the tables ``[dataset]``, ``[source]``, ``[camera]``, ``[simulator]``
(with an optional ``[simulator.params]`` sub-table of `DVSParams` overrides), ``[events]``,
``[splits]`` and ``[build]``. Every field, its type, default and allowed values is listed in
`RECIPE_FIELDS` / `SOURCE_FIELDS` and documented in ``docs/recipes.md`` (generated from them by
`recipe_fields_markdown`). Loading validates everything and raises `RecipeError` naming the
field and what it accepts.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eventsim._suggest import did_you_mean
from eventsim._text import plural, shell_command
from eventsim.datasets.scenes import (
    DEFAULT_QUESTION_TYPES,
    MODES,
    POSITION_GRIDS,
    QUESTION_TYPES,
    SceneConfig,
)
from eventsim.errors import ParameterError, RecipeError
from eventsim.options import (
    CAMERA_NAMES,
    FITS,
    IMAGE_FORMATS,
    MOTIONS,
    PRESET_NAMES,
    SOURCE_KINDS,
    UPSAMPLE_MODES,
)

if TYPE_CHECKING:
    from eventsim.simulator.params import DVSParams

_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_WILDCARD = re.compile(r"[*?[]")


class _Text(str):
    """A value given as text (``--set``, `load_recipe`'s overrides): parsed to the field's type.
    A string in the recipe itself where another type is expected is a mistake and refused."""


class _FieldError(RecipeError):
    """A refused value of the recipe field ``field`` (``splits.test``,
    ``simulator.params.pos_threshold``). The message names it as the recipe holds it
    (``splits.test = -1; expected ...``); ``rest`` is what follows when an override gave the
    value instead, named as ``--set`` takes it (``--set splits.test=-1; expected ...``)."""

    def __init__(self, field: str, message: str, rest: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.rest = f": {message}" if rest is None else rest


class _OverrideError(RecipeError):
    """A refused override, whose message names it as typed and no recipe file."""


class _ZeroSplitsError(RecipeError):
    """Every split of a shapes recipe is 0; ``fields`` are the splits (``splits.test``), so
    that those an override gave can be named as typed."""

    def __init__(self, fields: list[str]) -> None:
        super().__init__(_zero_splits([f"{field} = 0" for field in fields]))
        self.fields = fields


def _zero_splits(said: list[str]) -> str:
    return (
        f"every split has 0 samples ({', '.join(said)}); give at least one split a number of "
        "samples"
    )


@dataclasses.dataclass(frozen=True)
class Field:
    """One recipe field: ``kind`` is str, int, float, bool, pair (two numbers) or list (strings)."""

    kind: str
    default: Any
    doc: str
    choices: tuple[str, ...] | None = None
    low: float | None = None
    high: float | None = None
    required: bool = False


def _num(kind: str, default: Any, doc: str, low: float, high: float) -> Field:
    return Field(kind, default, doc, low=low, high=high)


def _scene_default(name: str) -> Any:
    value = next(f for f in dataclasses.fields(SceneConfig) if f.name == name).default
    return list(value) if isinstance(value, tuple) else value


def _camera_names() -> tuple[str, ...]:
    return ("", *CAMERA_NAMES)


def _preset_names() -> tuple[str, ...]:
    return PRESET_NAMES


RECIPE_FIELDS: dict[str, dict[str, Field]] = {
    "dataset": {
        "name": Field(
            "str",
            None,
            "dataset name (in the manifest, `eventsim info` and the progress bar)",
            required=True,
        ),
        "description": Field("str", "", "one-line description"),
        "version": Field("str", "1.0", "version of the recipe / dataset"),
        "license": Field("str", "", "licence of the built data (SPDX id or text)"),
        "provenance": Field("str", "", "where the source data comes from, who made it"),
        "homepage": Field("str", "", "URL of the source data"),
        "seed": _num("int", 0, "master seed; every sample's seed derives from it", 0, 2**63 - 1),
    },
    "camera": {
        "preset": Field(
            "str",
            "",
            "camera preset that sets width/height (empty: use width/height); a width or height "
            "beside it that differs is an error, unless --set gave one side: the --set wins (a "
            "preset replaces the file's size; a size replaces the file's preset, keeping its "
            "other side)",
            None,
        ),
        "width": Field("int", 224, "sensor and stored frame width in pixels", low=32, high=4096),
        "height": Field("int", 224, "sensor and stored frame height in pixels", low=32, high=4096),
    },
    "simulator": {
        "preset": Field("str", "clean", "DVSParams preset", None),
        "upsample": Field("str", "none", "temporal upsampling of video input", UPSAMPLE_MODES),
    },
    "events": {
        "window_ms": _num(
            "float", 50.0, "length of the event window that ends at the frame time", 1, 10_000
        ),
    },
    "build": {
        "shard_size": _num("int", 64, "samples per HDF5 shard", 1, 100_000),
    },
}

SOURCE_FIELDS: dict[str, dict[str, Field]] = {
    "shapes": {
        "mode": Field("str", _scene_default("mode"), "scene mode", MODES),
        "question_types": Field(
            "list",
            [],
            "question types to draw from (empty: mode default: "
            + "; ".join(f"{m}: {', '.join(DEFAULT_QUESTION_TYPES[m])}" for m in MODES)
            + ")",
            tuple(sorted({q for qs in QUESTION_TYPES.values() for q in qs})),
        ),
        "n_objects": Field(
            "pair", _scene_default("n_objects"), "vqa mode: number of coloured objects [min, max]"
        ),
        "moving_share": _num(
            "float", _scene_default("moving_share"), "vqa mode: chance an object moves", 0, 1
        ),
        "n_clutter": Field(
            "pair", _scene_default("n_clutter"), "target mode: grey clutter pieces [min, max]"
        ),
        "static_target_share": _num(
            "float",
            _scene_default("static_target_share"),
            "target mode: share of samples whose target stays still",
            0,
            1,
        ),
        "camera_share": _num(
            "float",
            _scene_default("camera_share"),
            "target mode: share of samples where the scene is still and the camera pans",
            0,
            1,
        ),
        "object_size_px": Field(
            "pair", _scene_default("object_size_px"), "object diameter in pixels [min, max]"
        ),
        "target_size_px": Field(
            "pair",
            _scene_default("target_size_px"),
            "target mode: the target's diameter in pixels [min, max]; unset: object_size_px",
        ),
        "motion_px": Field(
            "pair",
            _scene_default("motion_px"),
            "distance a moving object travels in the window, pixels [min, max]",
        ),
        "max_step_px": _num(
            "float",
            _scene_default("max_step_px"),
            "largest motion between rendered frames (sets the frame rate)",
            0.05,
            8,
        ),
        "position_grid": Field(
            "str",
            _scene_default("position_grid"),
            "regions of position questions",
            tuple(POSITION_GRIDS),
        ),
        "n_choices": _num(
            "int",
            _scene_default("n_choices"),
            "answer choices per question, at most: a question with fewer possible answers lists "
            "them all: a count question offers only the counts the recipe's scenes can have (2 "
            "or 3 with the default n_objects), a yes/no question 2",
            2,
            9,
        ),
        "textured": Field("bool", _scene_default("textured"), "texture the objects"),
    },
    "image": {
        "format": Field(
            "str", "auto", "split file format (auto: by extension .jsonl / .parquet)", IMAGE_FORMATS
        ),
        "root": Field(
            "str",
            "",
            "folder that relative image paths start from (relative to the recipe file; default: "
            "the split file's folder)",
        ),
        "motion": Field("str", "saccade", "synthetic camera motion over the window", MOTIONS),
        "amplitude_px": _num("float", 6.0, "motion amplitude in pixels", 0.1, 1000),
        "fps": _num(
            "float", 0.0, "frame rate of the synthetic motion (0: simulator's default)", 0, 100_000
        ),
        "resize": Field(
            "str",
            "crop",
            "fit images to the camera: cover + centre crop, or stretch (resize)",
            FITS,
        ),
    },
    "video": {
        "root": Field(
            "str",
            "",
            "folder that relative video paths start from (relative to the recipe file; default: "
            "the split file's folder)",
        ),
        "resize": Field(
            "str",
            "crop",
            "fit frames to the camera: cover + centre crop, or stretch (resize)",
            FITS,
        ),
    },
}
_SOURCE_KIND_FIELD = Field("str", "shapes", "where samples come from", SOURCE_KINDS)
_SPLITS_DOC = (
    "split name -> number of samples (shapes) or path of the split's JSONL/parquet file "
    "(image, video; relative to the recipe file)"
)
_PARAMS_DOC = "DVSParams field overrides, e.g. pos_threshold = 0.25 (unknown fields are errors)"


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A validated recipe. ``data`` holds every table with defaults filled in."""

    data: dict[str, Any]
    base_dir: Path
    path: Path | None = None
    #: sha256 of each split file as `with_split_files_hashed` read them (None: read when asked)
    split_hashes: Mapping[str, str] | None = dataclasses.field(
        default=None, repr=False, compare=False
    )

    @property
    def name(self) -> str:
        return self.data["dataset"]["name"]

    @property
    def seed(self) -> int:
        return int(self.data["dataset"]["seed"])

    @property
    def source_kind(self) -> str:
        return self.data["source"]["kind"]

    @property
    def source(self) -> dict[str, Any]:
        return self.data["source"]

    @property
    def sensor_size(self) -> tuple[int, int]:
        cam = self.data["camera"]
        return int(cam["width"]), int(cam["height"])

    @property
    def window_us(self) -> int:
        return round(float(self.data["events"]["window_ms"]) * 1000)

    @property
    def shard_size(self) -> int:
        return int(self.data["build"]["shard_size"])

    @property
    def splits(self) -> dict[str, Any]:
        return dict(self.data["splits"])

    @property
    def recipe_file(self) -> str | None:
        """The recipe file as a dataset's manifest and an unfinished build's state record it:
        absolute, by the name its relative paths start from (its folder, resolved, and the
        file's own name), so that a build from the manifest reads the same split files. A
        symlinked recipe's are read from the link's folder, not its target's. None for a
        recipe given as a dict."""
        if self.path is None:
            return None
        return str(self.path.parent.resolve() / self.path.name)

    def resolve_path(self, text: str) -> Path:
        path = Path(text).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)

    def scene_config(self) -> SceneConfig:
        if self.source_kind != "shapes":
            raise RecipeError(f"source.kind is {self.source_kind!r}; scenes need 'shapes'")
        src = {k: v for k, v in self.source.items() if k != "kind"}
        return SceneConfig(
            sensor_size=self.sensor_size, window_ms=float(self.data["events"]["window_ms"]), **src
        )

    def dvs_params(self) -> DVSParams:
        from eventsim.simulator.params import DVSParams

        sim = self.data["simulator"]
        return DVSParams.from_preset(sim["preset"]).with_overrides(sim.get("params", {}))

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self.data)

    def split_files(self) -> dict[str, Path]:
        """The files the source reads its samples from (the existing ones; a missing one is
        reported when the build plans its split), by name relative to the recipe folder."""
        if self.source_kind == "shapes":
            return {}
        files: list[Path] = []
        for text in self.splits.values():
            path = self.resolve_path(text)
            if not path.is_file() and _WILDCARD.search(path.name):
                # a parquet wildcard name (``test-*.parquet``): the source reads every match
                files += sorted(p for p in path.parent.glob(path.name) if p.is_file())
            elif path.is_file():
                files.append(path)
        out = {}
        for path in files:
            try:
                name = path.resolve().relative_to(self.base_dir.resolve()).as_posix()
            except ValueError:
                name = str(path.resolve())
            out[name] = path
        return dict(sorted(out.items()))

    @property
    def split_file_hashes(self) -> dict[str, str]:
        """sha256 of each of `split_files` (name -> hex digest); taken once by
        `with_split_files_hashed`, else read now. Images and videos the files name are not
        hashed (they may be many GB)."""
        if self.split_hashes is not None:
            return dict(self.split_hashes)
        return {name: _sha256_file(path) for name, path in self.split_files().items()}

    def with_split_files_hashed(self) -> Recipe:
        """This recipe with its split files hashed now, once: a build's shards and workers then
        share one fingerprint for the files it planned from."""
        return dataclasses.replace(self, split_hashes=self.split_file_hashes)

    @property
    def locations(self) -> dict[str, str]:
        """Where a file source reads from, as its samples record it: each split's path
        (``splits.NAME``: each sample's ``source.file``, or the folder of a wildcard's files)
        and ``source.root`` (where relative image and video paths start, else at the split
        file's folder); {} for a shapes source."""
        if self.source_kind == "shapes":
            return {}
        out = {f"splits.{k}": str(self.resolve_path(v)) for k, v in self.splits.items()}
        if self.source.get("root"):
            out["source.root"] = str(self.resolve_path(self.source["root"]))
        return out

    def _places_unwritten(self) -> dict[str, Any]:
        """`data` without the paths of a file source (the split files, ``source.root``), which
        `locations` gives as the places they name."""
        data = copy.deepcopy(self.data)
        data["splits"] = dict.fromkeys(data["splits"], "")
        data["source"].pop("root", None)
        return data

    @property
    def fingerprint(self) -> str:
        """Hash of everything that changes the built data (not where the recipe file sits):
        the recipe, the eventsim version and, for a file source, its `locations` and the
        bytes of its split files. A recipe moved to another folder keeps its fingerprint
        unless its relative paths then name other places."""
        from eventsim._version import __version__

        # another eventsim version may simulate other events: never mix them in one build
        payload: dict[str, Any] = {"recipe": self.data, "eventsim": __version__}
        if self.source_kind != "shapes":
            # what the samples record (their source.file), not the recipe's folder: a recipe
            # given split files by absolute path builds the same data from anywhere
            payload["locations"] = self.locations
            # and not how a path was written: a split file given by its absolute path one day
            # and relative to the recipe the next is the same file, and the same samples
            payload["recipe"] = self._places_unwritten()
            # an edited split file gives other questions and answers under the same recipe.
            # By the file's own path: the names relative to the recipe's folder change when
            # the recipe alone moves
            payload["split_files"] = {
                str(self.base_dir / name): sha for name, sha in self.split_file_hashes.items()
            }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        raise RecipeError(f"cannot read split file {str(path)!r}: {exc.strerror or exc}") from None
    return digest.hexdigest()


def builtin_recipe_dir() -> Path:
    """Where the built-in recipes are: the checkout's ``datasets/`` folder (the source users see
    and edit) when running from a source tree, else the copy a wheel ships in
    ``eventsim/datasets/recipes`` (made by ``setup.py`` at build time)."""
    checkout = Path(__file__).resolve().parents[2]
    # site-packages may hold an unrelated top-level "datasets" package: only a checkout counts
    if (checkout / "pyproject.toml").is_file() and (checkout / "datasets").is_dir():
        return checkout / "datasets"
    return Path(__file__).resolve().parent / "recipes"


def load_recipe(
    recipe: str | Path | Mapping[str, Any] | Recipe,
    overrides: Mapping[str, Any] | None = None,
    *,
    base_dir: str | Path | None = None,
) -> Recipe:
    """Load and validate a recipe from a TOML path, a built-in name or a dict.

    ``overrides`` maps field paths to values, e.g. ``{"dataset.seed": "3", "splits.test": 10}``
    (strings are parsed to the field's type, as ``--set`` gives them). An unqualified name such
    as ``seed`` is accepted when exactly one table has that field.
    """
    path: Path | None = None
    if isinstance(recipe, Recipe):
        path = recipe.path
        base_dir = recipe.base_dir if base_dir is None else base_dir
        recipe = recipe.data
    if isinstance(recipe, Mapping):
        raw = copy.deepcopy(dict(recipe))
        where = str(path) if path else "recipe"
    else:
        path = _find_recipe(recipe)
        raw = _read_toml(path)
        where = str(path)
    base = Path(base_dir) if base_dir is not None else (path.parent if path else Path.cwd())
    try:
        data = _validate(raw, overrides or {})
    except _OverrideError as exc:
        # the command line's value: the file is not to blame
        raise RecipeError(str(exc)) from None
    except RecipeError as exc:
        raise RecipeError(f"{where}: {exc}") from None
    return Recipe(data=data, base_dir=base.resolve(), path=path)


def _find_recipe(recipe: str | Path) -> Path:
    path = Path(recipe).expanduser()
    if path.is_file():
        return path
    known = sorted(p.stem for p in builtin_recipe_dir().glob("*.toml"))
    # built-in names may hold a dot ("image-vqa.example"), so a name is tried as given and,
    # as the file in datasets/ is named, with ".toml" ("shapes-demo.toml")
    stem = path.name.removesuffix(".toml")
    if len(path.parts) == 1 and stem in known:
        return builtin_recipe_dir() / f"{stem}.toml"
    hint = f"; built-in recipes: {', '.join(known)}" if known else ""
    if path.is_dir():
        raise RecipeError(f"recipe {str(recipe)!r} is a folder; expected a .toml file{hint}")
    if stem in known:
        # datasets/shapes-vqa.toml, as the README writes it, run outside the checkout
        hint = f"; the built-in recipe of that name is {stem!r} (eventsim build {stem})"
    raise RecipeError(f"recipe {str(recipe)!r} not found (expected a .toml file{hint})")


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - py3.10 has no tomllib
        from eventsim.errors import require

        tomllib = require("tomli", "dev", "reading recipes on Python 3.10")
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise RecipeError(f"cannot read recipe {str(path)!r}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        # tomllib decodes the whole file first: a binary file given as the recipe
        raise RecipeError(
            f"recipe {str(path)!r} is not UTF-8 text; expected a TOML recipe"
        ) from None
    except ValueError:
        # tomllib reads integers of any length; Python converts at most 4300 digits
        raise RecipeError(
            f"{path}: not valid TOML: an integer too long to read; TOML integers are 64-bit "
            "(-2**63 to 2**63-1)"
        ) from None


# ----------------------------------------------------------------------------- validation


def _validate(raw: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    tables = ("dataset", "source", "camera", "simulator", "events", "splits", "build")
    unknown = sorted(set(raw) - set(tables))
    for key in unknown:
        owners = _tables_with_field(key)
        if not isinstance(raw[key], dict) and len(owners) == 1:
            # TOML puts a key written before the first [table] line at the top level
            raise RecipeError(
                f"{key} = {_toml(raw[key])} is outside every table; it is a field of "
                f"[{owners[0]}]: write it below the [{owners[0]}] line"
            )
    if unknown:
        hint = did_you_mean(unknown[0], tables) if len(unknown) == 1 else ""
        raise RecipeError(
            f"unknown {plural(len(unknown), 'table')} {', '.join(unknown)}; valid tables: "
            f"{', '.join(tables)}{hint}"
        )
    for table in tables:
        if table in raw and not isinstance(raw[table], dict):
            raise RecipeError(
                f"[{table}] must be a table, got {_toml(raw[table])} ({_toml_type(raw[table])})"
            )
    raw = {t: dict(raw.get(t, {})) for t in tables}
    params = raw["simulator"].get("params", {})
    if not isinstance(params, dict):
        raise RecipeError(
            f"simulator.params must be a table of DVSParams fields ([simulator.params]), got "
            f"{_toml(params)} ({_toml_type(params)})"
        )
    raw["simulator"]["params"] = dict(params)
    declared = list(raw["splits"])
    # field -> the override that gave it, as given
    given = {_apply_override(raw, key, value): (key, value) for key, value in overrides.items()}
    _check_new_splits(given, declared)
    try:
        return _check_all(raw, {field: _assignment(*said) for field, said in given.items()})
    except _FieldError as exc:
        if exc.field not in given:
            raise
        key, value = given[exc.field]
        raise _OverrideError(f"{_assignment(key, value)}{exc.rest}") from None
    except _ZeroSplitsError as exc:
        if not given.keys() & set(exc.fields):
            raise
        said = [
            _assignment(*given[field]) if field in given else f"{field} = 0 in the recipe"
            for field in exc.fields
        ]
        raise _OverrideError(_zero_splits(said)) from None


def _check_new_splits(given: Mapping[str, tuple[str, Any]], declared: list[str]) -> None:
    """Refuse an override of a split the recipe does not have: overrides change the splits a
    recipe declares, and a misspelt one (``splits.tset``) was built as one more split beside
    the one meant, unchanged. A recipe without splits takes them from overrides."""
    if not declared:
        return
    for field, said in given.items():
        table, _, name = field.partition(".")
        if table == "splits" and name not in declared:
            raise _OverrideError(
                f"{_assignment(*said)}: the recipe has no split {name!r} (a new split goes in "
                f"its [splits] table); its splits: {', '.join(declared)}"
                + did_you_mean(name, declared, quote=True)
            )


def _assignment(key: str, value: Any) -> str:
    """``--set KEY=VALUE`` as typed (quoted where a shell needs it)."""
    text = value if isinstance(value, str) else _toml(value)
    return shell_command("--set", f"{key.strip()}={text}")


def _check_all(raw: dict[str, Any], overridden: Mapping[str, str]) -> dict[str, Any]:
    """``overridden``: field -> the override that gave it (``--set camera.width=128``)."""
    data: dict[str, Any] = {}
    for table, fields in RECIPE_FIELDS.items():
        extra = {"params"} if table == "simulator" else set()
        data[table] = _check_table(table, raw[table], fields, extra)
    data["simulator"]["params"] = raw["simulator"]["params"]

    kind = _check_value("source.kind", raw["source"].get("kind", "shapes"), _SOURCE_KIND_FIELD)
    src_fields = SOURCE_FIELDS[kind]
    body = {k: v for k, v in raw["source"].items() if k != "kind"}
    data["source"] = {"kind": kind, **_check_table("source", body, src_fields, set(), kind=kind)}
    data["splits"] = _check_splits(raw["splits"], kind)

    _camera_size(
        data["camera"],
        {k: data["camera"][k] for k in ("width", "height") if k in raw["camera"]},
        overridden,
    )
    _check_cross(data, written_source=raw["source"])
    return data


def _camera_size(
    cam: dict[str, Any], given_size: Mapping[str, int], overridden: Mapping[str, str]
) -> None:
    """Set ``cam``'s width and height from its preset. ``given_size``: camera.width/height as
    the recipe or an override gave them (not the defaults); ``overridden``: field -> the
    override that gave it. An override is the user's latest word: a preset given so replaces
    the file's size, and a size given so the file's preset (its other side kept). A preset and
    a size that differ, both in the file or both overrides, are refused: one would be ignored
    without a word."""
    if not cam["preset"]:
        return
    from eventsim.simulator.params import CAMERAS

    size = dict(zip(("width", "height"), CAMERAS[cam["preset"]]))
    preset_set = "camera.preset" in overridden
    differ = {k: v for k, v in given_size.items() if v != size[k]}
    for key, value in differ.items():
        key_set = f"camera.{key}" in overridden
        if key_set != preset_set:
            continue  # the override wins
        if preset_set:
            rest = (
                f" but {overridden['camera.preset']} is {size['width']}x{size['height']}; give "
                "the preset or the size, not both"
            )
        else:
            rest = (
                f" but camera.preset = {_toml(cam['preset'])} is "
                f"{size['width']}x{size['height']}; to set the size, also set "
                'camera.preset = "" (--set camera.preset=)'
            )
        raise _FieldError(f"camera.{key}", f"camera.{key} = {value}{rest}", rest)
    if differ and not preset_set:
        # sizes given by override over the file's preset
        cam.update({k: given_size.get(k, v) for k, v in size.items()}, preset="")
        return
    cam.update(size)


def _all_fields(kind: str | None = None) -> dict[str, Field]:
    out = {f"{t}.{n}": f for t, fs in RECIPE_FIELDS.items() for n, f in fs.items()}
    kinds = [kind] if kind else list(SOURCE_FIELDS)
    for k in kinds:
        out.update({f"source.{n}": f for n, f in SOURCE_FIELDS[k].items()})
    out["source.kind"] = _SOURCE_KIND_FIELD
    return out


def _tables_with_field(name: str) -> list[str]:
    return sorted({p.split(".")[0] for p in _all_fields() if p.split(".")[1] == name})


def _apply_override(raw: dict[str, Any], key: str, value: Any) -> str:
    """Put an override into ``raw``; the field it sets (TABLE.FIELD, simulator.params.FIELD)."""
    typed = _assignment(key, value)
    key = key.strip()
    parts = key.split(".")
    if len(parts) == 1:
        if parts[0] in ("kind",):
            parts = ["source", "kind"]
        else:
            owners = _tables_with_field(key)
            if len(owners) != 1:
                from eventsim.simulator.params import DVSParams

                where = f"it is in {', '.join(owners)}" if owners else "no table has it"
                pixel = {name: f"simulator.params.{name}" for name in DVSParams.field_names()}
                hint = "" if owners else did_you_mean(key, {**_unqualified_names(), **pixel})
                raise _OverrideError(
                    f"{typed}: give the table too, e.g. dataset.seed or splits.test ({where}){hint}"
                )
            parts = [owners[0], key]
    if isinstance(value, str):
        value = _Text(value)
    table = parts[0]
    if table not in raw:
        raise _OverrideError(
            f"{typed}: unknown table {table!r}; valid tables: {', '.join(raw)}"
            + did_you_mean(table, list(raw))
        )
    if table == "simulator" and parts[1:2] == ["params"]:
        if len(parts) != 3:
            raise _OverrideError(
                f"{typed}: give one DVSParams field, e.g. simulator.params.pos_threshold=0.25"
            )
        raw["simulator"]["params"][parts[2]] = value
        return ".".join(parts)
    if len(parts) != 2:
        raise _OverrideError(
            f"{typed}: expected TABLE.FIELD (or simulator.params.FIELD), e.g. dataset.seed"
        )
    raw[table][parts[1]] = value
    return ".".join(parts)


def _unqualified_names() -> dict[str, str]:
    """Field name -> TABLE.FIELD, for the fields ``--set`` takes without their table."""
    out: dict[str, str] = {}
    for path in _all_fields():
        name = path.split(".")[1]
        out[name] = path if name not in out or out[name] == path else ""
    return {name: path for name, path in out.items() if path}


# size fields someone may put in [source] (SceneConfig.sensor_size, old or model-side names):
# the camera table sets the frame size
_SET_ELSEWHERE = {
    f"source.{name}": "camera.width and camera.height (W, H), or camera.preset"
    for name in ("sensor_size", "image_size", "image_hw")
}


def _check_table(
    table: str, values: dict[str, Any], fields: dict[str, Field], extra: set[str], kind: str = ""
) -> dict[str, Any]:
    unknown = sorted(set(values) - set(fields) - extra)
    if unknown:
        scope = f" for source kind {kind!r}" if kind else ""
        elsewhere = _SET_ELSEWHERE.get(f"{table}.{unknown[0]}")
        others = [k for k, fs in SOURCE_FIELDS.items() if kind and unknown[0] in fs]
        hint = f" (it is {elsewhere})" if elsewhere else ""
        if others and not elsewhere:
            hint = f" (a field of source kind {' and '.join(map(repr, others))})"
        valid = sorted(set(fields) | extra)
        raise _FieldError(
            f"{table}.{unknown[0]}",
            f"unknown field {table}.{unknown[0]}{scope}{hint}; valid fields: "
            + ", ".join(valid)
            + ("" if others else did_you_mean(unknown[0], valid)),
        )
    out: dict[str, Any] = {}
    for name, spec in fields.items():
        if spec.required and isinstance(values.get(name), str) and not values[name].strip():
            raise _FieldError(
                f"{table}.{name}", f"{table}.{name} is empty; expected the {spec.doc}"
            )
        if name not in values:
            if spec.required:
                raise RecipeError(f"missing required field {table}.{name} ({spec.doc})")
            # an optional field without a default stays out, so adding one leaves the
            # fingerprints of recipes that do not set it (and their resumable builds) as they were
            if spec.default is not None:
                out[name] = copy.deepcopy(spec.default)
            continue
        out[name] = _check_value(f"{table}.{name}", values[name], spec)
    return out


def _parse_text(name: str, text: str, spec: Field) -> Any:
    text = text.strip()
    try:
        if spec.kind == "int":
            try:
                return int(text)
            except ValueError:
                # "160.0" is the float TOML would read: refused as in a file, with the same words
                return float(text)
        if spec.kind == "float":
            return float(text)
        if spec.kind == "bool":
            low = text.lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if spec.kind in ("pair", "list"):
            items = [s.strip().strip("'\"") for s in text.strip("[]").split(",") if s.strip()]
            if spec.kind == "pair":
                return [float(s) if "." in s or "e" in s.lower() else int(s) for s in items]
            return items
    except ValueError:
        expected = _a(_kind_text(spec))
        # camera.width= (an empty value) is named as given nothing
        got = "" if text else ", got nothing"
        raise _FieldError(
            name,
            f"{name}: expected {expected}, got {text or 'nothing'}",
            f"; expected {expected}{got}",
        ) from None
    return text


def _int_pair(spec: Field) -> bool:
    return spec.kind == "pair" and spec.default is not None and isinstance(spec.default[0], int)


def _kind_text(spec: Field) -> str:
    if _int_pair(spec):
        return "[low, high] pair of integers"
    return {
        "int": "integer",
        "float": "number",
        "bool": "boolean (true/false)",
        "pair": "[low, high] pair of numbers",
        "list": "list of strings",
        "str": "string",
    }[spec.kind]


def _a(text: str) -> str:
    return ("an " if text[0] in "aeiou" else "a ") + text


def _toml(value: Any) -> str:
    """``value`` as a TOML file writes it (true, "text", [1, 2]), for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return str(value)


def _toml_type(value: Any) -> str:
    for kind, name in (
        (bool, "a boolean"),
        (int, "an integer"),
        (float, "a float"),
        (str, "a string"),
        ((list, tuple), "an array"),
        (Mapping, "a table"),
    ):
        if isinstance(value, kind):
            return name
    return "a date or time" if hasattr(value, "isoformat") else _a(type(value).__name__)


def _type_error(name: str, value: Any, expected: str, spec: Field) -> RecipeError:
    hint = ""
    if isinstance(value, str) and spec.kind in ("int", "float", "bool"):
        try:
            _parse_text(name, value, spec)
            hint = "; write it without quotes"
        except _FieldError:
            pass
    return _FieldError(
        name,
        f"{name}: expected {_a(expected)}, got {_toml(value)} ({_toml_type(value)}){hint}",
        f"; expected {_a(expected)}",
    )


def _check_value(name: str, value: Any, spec: Field) -> Any:
    if isinstance(value, _Text):
        value = _parse_text(name, value, spec) if spec.kind != "str" else str(value)
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "str": isinstance(value, str),
        "pair": isinstance(value, list)
        and len(value) == 2
        and all(
            isinstance(v, int if _int_pair(spec) else (int, float)) and not isinstance(v, bool)
            for v in value
        ),
        "list": isinstance(value, list) and all(isinstance(v, str) for v in value),
    }[spec.kind]
    if not ok:
        raise _type_error(name, value, _kind_text(spec), spec)

    written = value

    def refused(rest: str) -> _FieldError:
        # the value as the recipe wrote it: window_ms = 0, not the 0.0 it is taken as
        return _FieldError(name, f"{name} = {_toml(written)}{rest}", rest)

    if spec.kind == "float":
        value = float(value)
        if not math.isfinite(value):
            raise refused("; expected a finite number")
    if spec.kind == "pair":
        if value[0] > value[1]:
            raise refused("; expected [low, high] with low <= high")
        value = [int(v) for v in value] if _int_pair(spec) else [float(v) for v in value]
    choices = spec.choices
    if name == "camera.preset":
        choices = _camera_names()
    elif name == "simulator.preset":
        choices = _preset_names()
        # any case, as `DVSParams.from_preset` takes it; the canonical name keeps the
        # fingerprint (and the manifest) of the lower-case spelling
        if value.strip().lower() in choices:
            value = value.strip().lower()
    if choices is not None:
        items = value if spec.kind == "list" else [value]
        for item in items:
            if item not in choices:
                allowed = ", ".join(repr(c) if c == "" else c for c in choices)
                allowed += did_you_mean(item, [c for c in choices if c])
                if spec.kind != "list":
                    raise refused(f"; allowed values: {allowed}")
                raise _FieldError(
                    name,
                    f"{name} = {_toml(item)}; allowed values: {allowed}",
                    f": {_toml(item)} is not one of the allowed values: {allowed}",
                )
    if spec.kind in ("int", "float") and spec.low is not None and spec.high is not None:
        if not spec.low <= value <= spec.high:
            raise refused(f"; expected {_bound(spec.low)} <= value <= {_bound(spec.high)}")
    return value


def _bound(value: float) -> str:
    """A range limit for messages: 9223372036854775807, not 9.22337e+18."""
    return str(value) if isinstance(value, int) else f"{value:g}"


def _check_splits(splits: dict[str, Any], kind: str) -> dict[str, Any]:
    if not splits:
        raise RecipeError(f"[splits] is empty; give at least one split ({_SPLITS_DOC})")
    out: dict[str, Any] = {}
    folded: dict[str, str] = {}
    for name, value in splits.items():
        field = f"splits.{name}"
        if not _SPLIT_NAME.match(name):
            raise _FieldError(
                field,
                f"split name {name!r} is not allowed; use letters, digits, '_' or '-' (max 32)",
            )
        # shard files are named after the split: on a case-insensitive file system (macOS,
        # Windows) "Test" and "test" would write the same files
        other = folded.setdefault(name.casefold(), name)
        if other != name:
            raise _FieldError(
                field,
                f"split names {other!r} and {name!r} differ only in case; their shard files "
                "would be the same file on macOS and Windows",
            )
        if kind == "shapes":
            value = _check_value(field, value, Field("int", 0, "", low=0, high=10**9))
        elif not isinstance(value, str) or not value.strip():
            rest = f"; expected the path of a JSONL or parquet file for source kind {kind!r}"
            raise _FieldError(field, f"{field} = {_toml(value)}{rest}", rest)
        out[name] = str(value) if isinstance(value, str) else value
    if kind == "shapes" and not any(out.values()):
        # an empty dataset is never what was meant (as `eventsim build --limit 0`)
        raise _ZeroSplitsError([f"splits.{name}" for name in out])
    return out


def _check_param(name: str, value: Any, current: Any) -> None:
    """A DVSParams override from the recipe file has the field's TOML type (text from --set is
    parsed by `DVSParams.with_overrides`; an unknown field is refused there)."""
    if current is None or isinstance(value, _Text):
        return
    kind = {bool: "bool", int: "int", float: "float"}.get(type(current), "str")
    spec = Field(kind, None, "")
    ok = {
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "str": isinstance(value, str),
    }[kind]
    if not ok:
        raise _type_error(name, value, _kind_text(spec), spec)


def _check_cross(data: dict[str, Any], written_source: Mapping[str, Any] | None = None) -> None:
    """Checks across tables (the camera's size already set by `_camera_size`).
    ``written_source``: the [source] table as written (``[12, 24]`` where ``data`` holds
    ``[12.0, 24.0]``)."""
    cam = data["camera"]
    from eventsim.simulator.params import DVSParams, ParameterValueError

    # the preset is one of `_preset_names`, checked with the [simulator] table
    preset = DVSParams.from_preset(data["simulator"]["preset"])
    written = data["simulator"]["params"]
    names = preset.field_names()
    for key, value in written.items():
        field = f"simulator.params.{key}"
        if key not in names:
            more = f"; valid fields: {', '.join(names)}{did_you_mean(key, names)}"
            raise _FieldError(
                field, f"unknown field {field}{more}", f": DVSParams has no field {key}{more}"
            )
        _check_param(field, value, getattr(preset, key))
    # text from --set goes as plain str: with_overrides parses it
    params = {k: str(v) if isinstance(v, _Text) else v for k, v in written.items()}
    try:
        parsed = preset.with_overrides(params)
    except ParameterValueError as exc:
        if exc.parameter not in written:
            raise RecipeError(f"simulator.params: {exc}") from None
        # named as written (pos_threshold = 0), not as the parsed field holds it (0.0)
        field = f"simulator.params.{exc.parameter}"
        shown = _toml(written[exc.parameter])
        raise _FieldError(field, f"{field} = {shown}{exc.rest}", exc.rest) from None
    # typed values, so "0.3" from --set and 0.3 from the file are the same recipe
    data["simulator"]["params"] = {k: getattr(parsed, k) for k in sorted(params)}
    if data["source"]["kind"] == "shapes":
        src = {k: v for k, v in data["source"].items() if k != "kind"}
        try:
            SceneConfig(
                sensor_size=(cam["width"], cam["height"]),
                window_ms=data["events"]["window_ms"],
                **src,
            )
        except ParameterError as exc:
            raise _scene_error(str(exc), src, written_source or {}, cam) from None
    _check_frames(data, (cam["width"], cam["height"]))


def _scene_error(
    message: str, src: Mapping[str, Any], written: Mapping[str, Any], cam: Mapping[str, Any]
) -> RecipeError:
    """`SceneConfig`'s refusal (``n_objects = [9, 20]; expected ...``) as a recipe's: the field
    named in its table, with its value as written, and a limit derived from the sensor's size
    (``a third of sensor_size width=100, its smaller side``) naming the camera field, or the
    camera preset, that sets it (``camera`` is the recipe's checked table)."""
    name = message.split(" ", 1)[0]
    if cam["preset"]:
        size = f'camera.preset = "{cam["preset"]}" ({cam["width"]}x{cam["height"]})'
        message = re.sub(
            r"sensor_size (width|height)=\d+(, its smaller side| and height=\d+)",
            lambda m: f"the {m[1] if m[2].startswith(',') else 'side'} of {size}",
            message,
        )
    else:
        message = re.sub(r"sensor_size (width|height)=", r"camera.\1=", message)
        message = message.replace(" and height=", " and camera.height=")
    if name not in src:
        return RecipeError(f"source.{message}")
    field, value = f"source.{name}", src[name]
    said = f"{name} = {value!r}"
    if not message.startswith(said):
        return _FieldError(field, f"source.{message}")
    rest = message[len(said) :]
    return _FieldError(field, f"{field} = {_toml(written.get(name, value))}{rest}", rest)


#: The most memory one sample's frames may take (at the camera's size). A build
#: process holds them about twice over (the rendered frames and their stack) plus the
#: simulator's grey copy, and each worker builds a sample of its own.
MAX_SAMPLE_FRAME_BYTES = 1 << 30


def upsampled_frames_held(sensor_size: tuple[int, int]) -> int:
    """The most frames the simulator's upsampling holds at once at ``sensor_size``, each as
    8-byte luma. Inserted frames go to the simulator in batches like source frames, however
    many one interval takes (``max_upsample_factor`` does not count): the batch being filled
    and its stacked copy, the one waiting for room in the queue, the batches queued ahead and
    the one being simulated (`eventsim.simulator.pipeline`)."""
    from eventsim.simulator.pipeline import _BATCH_FRAMES, _BATCH_PIXELS, _PREFETCH_BATCHES

    width, height = sensor_size
    # the batch `simulate` picks for this size
    batch = min(_BATCH_FRAMES[1], max(_BATCH_FRAMES[0], _BATCH_PIXELS // (width * height)))
    return (_PREFETCH_BATCHES + 3) * batch


def too_many_frames(
    n_frames: int,
    sensor_size: tuple[int, int],
    upsampled: bool = False,
    *,
    bytes_per_pixel: int = 3,
) -> str | None:
    """Why ``n_frames`` frames of ``sensor_size`` are too many for one sample; None if not.
    ``upsampled``: the simulator upsamples them, and the frames its upsampling holds at once
    count too. ``bytes_per_pixel``: of a frame as the sample holds it (3: RGB, 8 bits; a
    16-bit or float image renders float32 frames, 4 bytes a channel)."""
    width, height = sensor_size
    pixels = width * height
    frame_bytes = n_frames * pixels * bytes_per_pixel
    limit = f"the {MAX_SAMPLE_FRAME_BYTES >> 30} GiB a sample's frames may take"
    frames = "RGB frames" if bytes_per_pixel == 3 else f"frames of {bytes_per_pixel} bytes a pixel"
    if not upsampled or frame_bytes > MAX_SAMPLE_FRAME_BYTES:
        if frame_bytes <= MAX_SAMPLE_FRAME_BYTES:
            return None
        most = MAX_SAMPLE_FRAME_BYTES // (pixels * bytes_per_pixel)
        return (
            f"{n_frames} frames per sample ({frame_bytes / 2**30:.3g} GiB of {width}x{height} "
            f"{frames}); at most {most} fit {limit}"
        )
    held = upsampled_frames_held(sensor_size)
    total = frame_bytes + held * pixels * 8
    if total <= MAX_SAMPLE_FRAME_BYTES:
        return None
    return (
        f"{n_frames} {frames} per sample and up to {held} frames at once in the simulator's "
        f"upsampling (8-byte luma): {total / 2**30:.3g} GiB at {width}x{height}, over {limit}"
    )


def _check_frames(data: dict[str, Any], sensor_size: tuple[int, int]) -> None:
    """Refuse a recipe whose samples would take more frame memory than `MAX_SAMPLE_FRAME_BYTES`,
    from what is known before any input is read: the frames an image motion or a shapes scene
    renders (``fps = 100000`` over a 10 s window: a million frames), and those the simulator's
    upsampling holds at once. A video's frame rate is known only when it is opened: its frames
    are checked as each sample is built."""
    src, kind = data["source"], data["source"]["kind"]
    upsample = data["simulator"]["upsample"]
    if kind == "image":
        n_frames, fields = _image_frames(data, sensor_size)
        remedy = "lower source.fps, events.window_ms or the camera size"
    elif kind == "shapes":
        n_frames, fields = _shape_frames(src)
        remedy = "lower source.motion_px or the camera size, or raise source.max_step_px"
    else:
        # the least a video window holds: its reference frame and the frame shown
        n_frames, fields, remedy = 2, "", ""
    why = too_many_frames(n_frames, sensor_size)
    if why is not None:
        raise RecipeError(f"{fields} implies {why}; {remedy}")
    why = too_many_frames(n_frames, sensor_size, upsample != "none")
    if why is not None:
        raise RecipeError(
            f"simulator.upsample = {_toml(upsample)} needs {why}; lower the camera size, or "
            'set simulator.upsample = "none"'
        )


def _image_frames(data: dict[str, Any], sensor_size: tuple[int, int]) -> tuple[int, str]:
    """The frames of an image source's motion, and the fields that set their number."""
    import numpy as np

    from eventsim.simulator.sources import ImageMotionSource

    src, window_ms = data["source"], float(data["events"]["window_ms"])
    fps = float(src["fps"])
    # the frame count is the source's own, from its rate (fps = 0: the rate the motion needs;
    # a random walk's differs per sample, and is checked again as each sample is built)
    source = ImageMotionSource(
        np.zeros((2, 2, 3), np.uint8),
        src["motion"],
        duration_ms=window_ms,
        amplitude_px=float(src["amplitude_px"]),
        fps=fps if fps > 0 else None,
        sensor_size=sensor_size,
    )
    rate = f"{_toml(src['fps'])}" if fps > 0 else f"0 (for this motion: {source.fps:g} fps)"
    return source.n_frames, (
        f"source.fps = {rate} over events.window_ms = {_toml(data['events']['window_ms'])}"
    )


def _shape_frames(src: dict[str, Any]) -> tuple[int, str]:
    """The most frames a shapes scene renders (`eventsim.datasets.scenes.draw_sample`: enough
    that nothing moves more than max_step_px between two), and the fields that set it."""
    if src["mode"] == "vqa" and src["moving_share"] == 0:
        return 2, ""  # nothing moves
    longest = float(src["motion_px"][1])
    n_frames = max(2, math.ceil(longest / float(src["max_step_px"])) + 1)
    return n_frames, (
        f"source.motion_px = {_toml(src['motion_px'])} at source.max_step_px = "
        f"{_toml(src['max_step_px'])}"
    )


# ----------------------------------------------------------------------------- documentation


def recipe_fields_markdown() -> str:
    """Markdown tables of every recipe field (the body of ``docs/recipes.md``)."""

    def rows(table: str, fields: dict[str, Field]) -> list[str]:
        out = []
        for name, f in fields.items():
            default = "(required)" if f.required else json.dumps(f.default)
            if f.default is None and not f.required:
                default = "(unset)"
            allowed = ""
            if f.choices:
                allowed = ", ".join(f"`{c}`" for c in f.choices)
            elif f.low is not None and f.high is not None:
                allowed = f"{_bound(f.low)} .. {_bound(f.high)}"
            if name == "preset" and table == "camera":
                allowed = '`""`, ' + ", ".join(f"`{c}`" for c in _camera_names()[1:])
            elif name == "preset" and table == "simulator":
                allowed = ", ".join(f"`{c}`" for c in _preset_names())
            out.append(
                f"| `{table}.{name}` | {_kind_text(f)} | `{default}` | {allowed} | {f.doc} |"
            )
        return out

    head = ["| field | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    lines = ["## Common tables", "", *head]
    for table, fields in RECIPE_FIELDS.items():
        lines += rows(table, fields)
    lines.append(f"| `simulator.params.*` | table | `{{}}` | DVSParams fields | {_PARAMS_DOC} |")
    lines.append(f"| `splits.NAME` | int or path | (at least one) | | {_SPLITS_DOC} |")
    lines += ["", "## `[source]`", "", *head]
    kinds = ", ".join(f"`{k}`" for k in SOURCE_KINDS)
    lines.append(f'| `source.kind` | string | `"shapes"` | {kinds} | {_SOURCE_KIND_FIELD.doc} |')
    for kind, fields in SOURCE_FIELDS.items():
        lines += ["", f'### `kind = "{kind}"`', "", *head, *rows("source", fields)]
    return "\n".join(lines) + "\n"
