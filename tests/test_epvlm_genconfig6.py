"""generation_config.json settings that `epvlm eval` / `epvlm run` decoding must live with:
``stop_strings`` (generate() raised ValueError without the tokenizer; the stock model given
it cuts answers after the stop string), ``max_length`` (a 'Both `max_new_tokens` and
`max_length`' line at every generate() call) and the extra-output flags (a 'not valid'
notice, and sdpa's 'does not support output_attentions')."""

from __future__ import annotations

import json
import logging
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
from conftest import build_eval_dataset

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_epvlm_review3 import STOCK, hub_checkpoint  # noqa: E402

from epvlm.evaluate import (  # noqa: E402
    CHAT_MAX_NEW_TOKENS,
    answer_selections,
    evaluate_dataset,
    load_model,
    make_selection,
)
from epvlm.processing import encode_batch  # noqa: E402
from eventsim.datasets import EventVQADataset  # noqa: E402


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("genconfig6")
    build_eval_dataset(root, 3)
    model = hub_checkpoint(root / "model", "qwen2_5_vl", tie=False, template="chat_template.json")
    samples = list(EventVQADataset(root / "ds", split="test"))
    assert len(samples) == 3
    return {"root": root, "ds": root / "ds", "model": model, "samples": samples}


def _copy(src: Path, dst: Path, **generation: Any) -> Path:
    shutil.copytree(src, dst)
    path = dst / "generation_config.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | generation))
    return dst


def _eval(model: Path, ds: Path, batch_size: int) -> dict[str, tuple]:
    samples = evaluate_dataset(
        model,
        ds,
        selectors=("dense", "random"),
        keeps=(0.5,),
        progress=False,
        batch_size=batch_size,
    )["samples"]
    return {
        f"{s['id']}/{s['selector']}": (s["raw_output"], s["prediction"], s["flops"])
        for s in samples
    }


def _dense(model: Path, samples) -> list[dict[str, Any]]:
    """Details of answering every sample, dense, in one batch."""
    model_, proc = load_model(model)
    sels = [make_selection(proc, s, "dense", 1.0) for s in samples]
    questions, choices = [s["question"] for s in samples], [s["choices"] for s in samples]
    return answer_selections(model_, proc, sels, questions, choices, warm_up=False)[1]


def _stop_strings(raws) -> list[str]:
    """An ASCII pair from inside each answer that has one: the tiny model's answers are
    bytes, mostly not text, and a stop string must be found in the decoded text."""
    found = (re.search(r"[!-~]{2}", raw) for raw in raws)
    return sorted({m.group() for m in found if m is not None})


def test_stop_strings_cut_answers_as_the_stock_model_does(setup, tmp_path):
    """The stock model given the tokenizer stops at generation_config.json's stop_strings;
    epvlm raised 'we could not locate a tokenizer' from inside generate(). In a batch, a
    row that stopped so is padded with <|endoftext|>, one of the stop tokens: it must not be
    read as part of the answer (nor its step counted in the FLOPs), as a batch of one shows."""
    clean = _eval(setup["model"], setup["ds"], 1)
    stops = _stop_strings(raw for raw, _, _ in clean.values())
    assert stops
    model = _copy(setup["model"], tmp_path / "stop", stop_strings=stops)

    ours = _dense(model, setup["samples"])
    _, proc = load_model(model)
    tok = proc.tokenizer
    stock = STOCK["qwen2_5_vl"].from_pretrained(str(model), dtype=torch.float32).eval()
    cut = 0
    for sample, mine in zip(setup["samples"], ours):
        q, c = sample["question"], sample["choices"]
        image = make_selection(proc, sample, "dense", 1.0).image
        batch = encode_batch(proc, [image], [q], [c])
        batch = {k: v for k, v in batch.items() if k != "image_keep_mask"}
        with torch.no_grad():
            out = stock.generate(
                **batch, max_new_tokens=CHAT_MAX_NEW_TOKENS, do_sample=False, tokenizer=tok
            )
        new = out[0, batch["input_ids"].shape[1] :].tolist()
        assert mine["raw"] == tok.decode(new, skip_special_tokens=False)
        assert mine["new_tokens"] == len(new)
        text = tok.decode(new)
        cut += len(new) < CHAT_MAX_NEW_TOKENS and any(text.endswith(s) for s in stops)
    assert 1 <= cut < len(ours)

    one, three = _eval(model, setup["ds"], 1), _eval(model, setup["ds"], 3)
    assert one == three
    stopped = [k for k, (raw, _, _) in one.items() if any(s in raw for s in stops)]
    assert stopped and all(one[k][2] < clean[k][2] for k in stopped)
    assert all(one[k] == clean[k] for k in one if k not in stopped)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_max_length_and_output_flags_leave_answers_and_print_nothing(setup, tmp_path, capfd):
    """generation_config.json's max_length logged 'Both `max_new_tokens` (=32) and
    `max_length`(=20) seem to have been set' at every generate() call; output_attentions and
    the other extra outputs logged 'not valid and may be ignored' and sdpa's 'does not
    support output_attentions=True' (and had every step return what nobody reads)."""
    from transformers.utils import logging as hf_logging

    clean = _eval(setup["model"], setup["ds"], 3)
    flags = {"output_attentions": True, "output_hidden_states": True}
    flags |= {"output_scores": True, "output_logits": True}
    model = _copy(setup["model"], tmp_path / "noisy", max_length=20, **flags)
    # transformers prints a notice once per process: forget the ones already printed
    hf_logging.warning_once.cache_clear()
    lines = _Lines()
    library = logging.getLogger("transformers")
    library.addHandler(lines)
    capfd.readouterr()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            noisy = _eval(model, setup["ds"], 3)
    finally:
        library.removeHandler(lines)
    assert noisy == clean
    printed = capfd.readouterr().err
    noise = ("max_length", "not valid", "output_attentions", "output_logits")
    assert not [line for line in lines.lines if any(n in line for n in noise)], lines.lines
    assert not any(n in printed for n in noise), printed
    assert not [str(w.message) for w in caught if any(n in str(w.message) for n in noise)]
