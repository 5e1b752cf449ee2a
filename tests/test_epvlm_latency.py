"""What `answer_selections` times: one warm `generate`, not a model's first call."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from epvlm.evaluate import answer_selections
from epvlm.prior import select_blocks
from epvlm.processing import build_offline_processor, grid_for_size
from epvlm.tiny import tiny_config, tiny_model

WORDS = ["what colour is it", "red", "blue"]


def test_a_models_first_call_is_warmed_up_untimed(monkeypatch):
    proc = build_offline_processor(WORDS)
    model = tiny_model(tiny_config(proc))
    calls: list[int] = []
    generate = model.generate

    def counted(**kwargs):
        calls.append(kwargs["max_new_tokens"])
        return generate(**kwargs)

    monkeypatch.setattr(model, "generate", counted)
    image = np.random.default_rng(0).integers(0, 256, (56, 56, 3), dtype=np.uint8)
    sel = select_blocks("dense", image, keep=1.0, grid=grid_for_size(proc, 56, 56))

    def ask() -> float:
        _, _, seconds = answer_selections(
            model, proc, [sel], ["what colour is it"], [["red", "blue"]], max_new_tokens=3
        )
        return seconds

    assert ask() > 0
    assert calls == [1, 3]  # the untimed prefill, then the timed call
    assert ask() > 0
    assert calls == [1, 3, 3]  # warm: only the timed call
