"""Every named option of eventsim, once, as a `typing.Literal` type with its choices.

The Literal types annotate the library's parameters (so a type checker catches a misspelt
option); the ``*_CHOICES``-style tuples next to them are derived with `typing.get_args` and are
what validation, recipe fields and the CLIs' ``choices`` use, so adding a value here reaches all
of them. Named presets that carry data (camera sizes, pixel-model presets, colour maps) stay
dicts in their modules; their names are checked against the Literal here by the tests.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "BACKGROUNDS",
    "CAMERA_NAMES",
    "CODECS",
    "COLOR_BY",
    "EXECUTORS",
    "FITS",
    "FLOW_METHODS",
    "HEATMAP_SCALES",
    "IMAGE_FORMATS",
    "LOG_CURVES",
    "MOTIONS",
    "OVERLAY_FRAMES",
    "PRESET_NAMES",
    "RENDER_MODES",
    "SCENE_MODES",
    "SOURCE_KINDS",
    "SYNTHETIC_CLIPS",
    "UPSAMPLE_MODES",
    "Background",
    "CameraName",
    "Codec",
    "ColorBy",
    "Executor",
    "Fit",
    "FlowMethod",
    "HeatmapScale",
    "ImageFormat",
    "LogCurve",
    "Motion",
    "OverlayFrame",
    "PresetName",
    "RenderMode",
    "SceneMode",
    "SourceKind",
    "SyntheticClip",
    "UpsampleMode",
]

# ----------------------------------------------------------------------------- simulator

LogCurve = Literal["ln", "linlog"]
"""Intensity to log intensity: natural log, or v2e's linear-below-threshold log."""
PresetName = Literal["ideal", "clean", "noisy", "v2e-default"]
"""Pixel-model presets (`eventsim.simulator.params.PRESETS`)."""
CameraName = Literal["dvs128", "dvs240", "davis346", "dvxplorer", "gen4"]
"""Sensor sizes of known cameras (`eventsim.simulator.params.CAMERAS`)."""
UpsampleMode = Literal["none", "linear", "flow"]
"""Temporal upsampling of frame-rate video before simulation."""
FlowMethod = Literal["dis", "farneback"]
"""OpenCV optical flow used by ``flow`` upsampling."""

# ----------------------------------------------------------------------------- files

Codec = Literal["lz4", "zstd"]
"""Blosc compressor of the event columns in eventsim's HDF5 files."""

# ----------------------------------------------------------------------------- inputs

Motion = Literal["saccade", "pan", "zoom", "random-walk"]
"""Synthetic camera motion over a still image."""
Fit = Literal["crop", "resize"]
"""How a frame of another size is fitted to the sensor."""
SyntheticClip = Literal["moving-shapes"]
"""Built-in synthetic clips of ``eventsim simulate --synthetic``."""

# ----------------------------------------------------------------------------- datasets

SourceKind = Literal["shapes", "image", "video"]
"""Where a dataset recipe's samples come from."""
ImageFormat = Literal["auto", "jsonl", "parquet"]
"""Split file format of an ``image`` source."""
SceneMode = Literal["vqa", "target"]
"""Kind of synthetic shapes scene."""
Executor = Literal["local", "dask"]
"""Where ``eventsim build`` runs its workers."""

# ----------------------------------------------------------------------------- rendering

RenderMode = Literal["polarity", "overlay", "timesurface", "heatmap", "voxel"]
"""What each rendered frame shows."""
Background = Literal["dark", "white", "grey"]
ColorBy = Literal["last", "net"]
"""A pixel's colour from its last event's polarity or from the net polarity count."""
HeatmapScale = Literal["log", "linear"]
OverlayFrame = Literal["grey", "rgb"]

LOG_CURVES: tuple[LogCurve, ...] = get_args(LogCurve)
PRESET_NAMES: tuple[PresetName, ...] = get_args(PresetName)
CAMERA_NAMES: tuple[CameraName, ...] = get_args(CameraName)
UPSAMPLE_MODES: tuple[UpsampleMode, ...] = get_args(UpsampleMode)
FLOW_METHODS: tuple[FlowMethod, ...] = get_args(FlowMethod)
CODECS: tuple[Codec, ...] = get_args(Codec)
MOTIONS: tuple[Motion, ...] = get_args(Motion)
FITS: tuple[Fit, ...] = get_args(Fit)
SYNTHETIC_CLIPS: tuple[SyntheticClip, ...] = get_args(SyntheticClip)
SOURCE_KINDS: tuple[SourceKind, ...] = get_args(SourceKind)
IMAGE_FORMATS: tuple[ImageFormat, ...] = get_args(ImageFormat)
SCENE_MODES: tuple[SceneMode, ...] = get_args(SceneMode)
EXECUTORS: tuple[Executor, ...] = get_args(Executor)
RENDER_MODES: tuple[RenderMode, ...] = get_args(RenderMode)
BACKGROUNDS: tuple[Background, ...] = get_args(Background)
COLOR_BY: tuple[ColorBy, ...] = get_args(ColorBy)
HEATMAP_SCALES: tuple[HeatmapScale, ...] = get_args(HeatmapScale)
OVERLAY_FRAMES: tuple[OverlayFrame, ...] = get_args(OverlayFrame)
