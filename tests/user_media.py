"""Small stand-ins for users' own images, videos and JSONL files, shared by the dataset-source
tests."""

from __future__ import annotations

import json
import lzma
import struct
from pathlib import Path

import cv2
import numpy as np


def textured(seed: int, w: int = 80, h: int = 60) -> np.ndarray:
    """A blocky random RGB image: every pixel's neighbourhood has edges to fire events."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 6, w // 6, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


def write_jsonl(path: Path, records: list) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def write_video(path: Path, fps: float, n_frames: int, step_px: int) -> None:
    """An 80x60 MJPG video of a white square moving ``step_px`` a frame over `textured`(5)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (80, 60))
    assert writer.isOpened()
    base = textured(5)
    for k in range(n_frames):
        frame = base.copy()
        cv2.rectangle(frame, (5 + step_px * k, 20), (20 + step_px * k, 35), (255, 255, 255), -1)
        writer.write(frame)
    writer.release()


def tiff_bytes(pixels: np.ndarray, *, orientation: int = 1, compression: int = 1) -> bytes:
    """A one-strip little-endian TIFF of ``pixels`` (grey, RGB or RGBA, uint8 or uint16),
    written by hand so that tests need no encoder: no compression (1) or LZMA (34925, as
    libtiff writes it: an .xz stream without check, which OpenCV's libtiff lacks)."""
    h, w = pixels.shape[:2]
    spp = 1 if pixels.ndim == 2 else pixels.shape[2]
    bits = pixels.dtype.itemsize * 8
    raw = np.ascontiguousarray(pixels, pixels.dtype.newbyteorder("<")).tobytes()
    if compression == 34925:
        raw = lzma.compress(raw, format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE)
    entries = [
        (256, 3, 1, w),
        (257, 3, 1, h),
        (258, 3, spp, bits),
        (259, 3, 1, compression),
        (262, 3, 1, 1 if spp == 1 else 2),
        (273, 4, 1, 0),  # the strip's offset, filled in below
        (274, 3, 1, orientation),
        (277, 3, 1, spp),
        (278, 3, 1, h),
        (279, 4, 1, len(raw)),
        *([(338, 3, 1, 2)] if spp == 4 else []),  # the fourth sample is (unassociated) alpha
    ]
    extra_at = 8 + 2 + 12 * len(entries) + 4
    extra = struct.pack(f"<{spp}H", *[bits] * spp) if spp > 1 else b""
    ifd = b""
    for tag, kind, count, value in entries:
        if tag == 273:
            value = extra_at + len(extra)
        if tag == 258 and spp > 1:
            ifd += struct.pack("<HHII", tag, kind, count, extra_at)
        elif kind == 3:
            ifd += struct.pack("<HHIHH", tag, kind, count, value, 0)
        else:
            ifd += struct.pack("<HHII", tag, kind, count, value)
    return b"II*\x00" + struct.pack("<IH", 8, len(entries)) + ifd + bytes(4) + extra + raw


def tiff_with_tags(
    blocks: list[bytes], tags: list[tuple[int, str, list[int]]], order: str = "<"
) -> bytes:
    """A classic TIFF of ``blocks`` (strips or tiles, stored from byte 8 in order) and one
    directory of ``tags``, each (tag, struct code "H" or "I", or "s" for ASCII bytes, values);
    values that do not fit in an entry go after the directory. The caller's offsets tags count
    blocks from byte 8."""
    ifd_at = 8 + sum(len(b) for b in blocks)
    ifd_at += ifd_at % 2
    tail_at = ifd_at + 2 + 12 * len(tags) + 4
    ifd, tail = struct.pack(order + "H", len(tags)), b""
    for tag, code, values in tags:
        packed = struct.pack(order + ("B" if code == "s" else code) * len(values), *values)
        if len(packed) > 4:
            packed, tail = struct.pack(order + "I", tail_at + len(tail)), tail + packed
        kind = {"H": 3, "I": 4, "s": 2}[code]
        ifd += struct.pack(order + "HHI", tag, kind, len(values)) + packed.ljust(4, b"\0")
    head = (b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, ifd_at)
    body = head + b"".join(blocks)
    return body + bytes(ifd_at - len(body)) + ifd + bytes(4) + tail


def small_recipe(
    tmp_path: Path, kind: str, split: str, extra: str = "", shard_size: int = 64, *, name: str
) -> Path:
    """A recipe ``{kind}.toml`` for a 64x48 camera and 20 ms windows, one split ``test``:
    a file name, or for ``shapes`` a sample count; shapes objects are scaled to the camera."""
    path = tmp_path / f"{kind}.toml"
    split_value = split if kind == "shapes" else f'"{split}"'
    if kind == "shapes":
        extra += "\nobject_size_px = [8, 12]\ntarget_size_px = [8, 12]"
    path.write_text(
        f'[dataset]\nname = "{name}"\n[source]\nkind = "{kind}"\n{extra}\n[camera]\nwidth = 64\n'
        f"height = 48\n[events]\nwindow_ms = 20\n[splits]\ntest = {split_value}\n"
        f"[build]\nshard_size = {shard_size}\n"
    )
    return path


def error_reasons(out: Path) -> dict[str, str]:
    """A built dataset's skipped samples: id -> reason (errors.jsonl)."""
    lines = (out / "errors.jsonl").read_text().splitlines()
    return {json.loads(x)["id"]: json.loads(x)["reason"] for x in lines}
