"""Small stand-ins for users' own images, videos and JSONL files, shared by the dataset-source
tests."""

from __future__ import annotations

import json
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
