"""Option values the command line offers before anything heavy loads: building the ``epvlm``
parsers (``--help``, usage errors) must not import torch or transformers, which the modules
that use these values do."""

from __future__ import annotations

# the model dtypes every command that loads a model takes (`epvlm.evaluate.resolve_dtype`)
DTYPES = ("float32", "bfloat16", "float16")
# the prompt formats of `epvlm.processing.prompt_format` (besides auto)
PROMPT_FORMATS = ("chat", "plain")
