"""EP-VLM: event-prior patch selection for a position-preserving sparse Qwen2-VL.

Importing the package is light; torch and transformers load only when a submodule that needs
them (`epvlm.modeling`, `epvlm.processing`, `epvlm.evaluate`, ...) is imported.
"""

from eventsim import __version__

__all__ = ["__version__"]
