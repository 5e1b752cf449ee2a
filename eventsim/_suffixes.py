"""The file-name suffixes of frame files (videos and still images), defined once.

`eventsim.io.formats` re-exports them as its public names; they live in a module that imports
nothing so that `eventsim.simulator.sources` (and through it `eventsim simulate` and
``epvlm run``) can use them at import time without loading eventsim.io, whose h5py stack
costs some 0.3 s.
"""

from __future__ import annotations

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".gif")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
