"""Round 12's EP-VLM leftovers.

- `eventsim.simulator.core.check_memory` told the host's floor from a GPU's by the words
  `state_bytes_per_pixel` gives them; it now goes by the device that holds each.
- The shipped model card loaded the model from a path relative to a checkout
  ('epvlm/assets/shapes-demo-tiny'), which an installed package does not have; it now uses
  `epvlm.demo.DEFAULT_MODEL`.
- `epvlm run --image` given an event file said only that OpenCV cannot decode it; `epvlm flops
  --image-hw 0 224` was a library error ('image size 0x224 must be positive', exit 1) rather
  than a usage error naming the option; the --help of run and eval named a wrong default
  budget for --max-new-tokens ('32 for chat checkpoints': it goes by the prompt format), left
  open where run's --window-ms ends without --frame-time-us, and did not say where the shipped
  model is; flops' --new-tokens did not say why decode is 0 at its default.
- `epvlm.prior.select_blocks` keeps taking a grid of the image's aspect at any scale: a real
  Qwen2-VL image processor makes such grids under a small or large pixel budget.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from epvlm.cli import main
from eventsim.errors import ParameterError
from eventsim.simulator import DVSParams, core

TINY = Path(__file__).resolve().parents[1] / "epvlm" / "assets" / "shapes-demo-tiny"


def _error(capsys, *argv) -> tuple[int, str]:
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


# ------------------------------------------------------------------------------ check_memory


@pytest.fixture
def on_cuda1(monkeypatch):
    """A GPU named cuda:1 (none is needed: the device is only named and its memory asked for)
    and a record of the devices whose memory `check_memory` asks for."""
    monkeypatch.setattr(core, "_resolve_device", lambda device: torch.device("cuda", 1))
    asked: list[torch.device] = []
    return asked


def test_check_memory_goes_by_the_device_not_by_the_floors_words(monkeypatch, on_cuda1):
    # the words are for people: reworded, the host's floor is still the host's
    def reworded(params, device="cpu"):
        return [(n, where.replace("of memory", "of host RAM")) for n, where in real(params)]

    real = core.state_bytes_per_pixel
    monkeypatch.setattr(core, "state_bytes_per_pixel", reworded)

    def gpu_memory(dev):
        on_cuda1.append(dev)
        return 1 << 40

    monkeypatch.setattr(core, "_gpu_memory", gpu_memory)
    monkeypatch.setattr(core, "_available_memory", lambda: 1 << 30)
    with pytest.raises(ParameterError) as exc:
        core.check_memory((10000, 10000), DVSParams(), "cuda:1")
    message = str(exc.value)
    assert "needs about 3.7 GiB of memory for the simulator's per-pixel state (40 bytes" in message
    assert "more than the 1.0 GiB available" in message


def test_check_memory_asks_the_given_gpu_for_the_state_it_holds(monkeypatch, on_cuda1):
    def gpu_memory(dev):
        on_cuda1.append(dev)
        return 1 << 30

    monkeypatch.setattr(core, "_gpu_memory", gpu_memory)
    monkeypatch.setattr(core, "_available_memory", lambda: 1 << 40)
    with pytest.raises(ParameterError) as exc:
        core.check_memory((10000, 10000), DVSParams(), "cuda:1")
    assert "needs about 6.7 GiB on cuda:1 for the simulator's per-pixel state (72 bytes" in str(
        exc.value
    )
    assert on_cuda1 == [torch.device("cuda", 1)]


def test_check_memory_on_the_cpu_never_asks_a_gpu(monkeypatch):
    def no_gpu(dev):
        raise AssertionError(f"asked {dev} on a CPU run")

    monkeypatch.setattr(core, "_gpu_memory", no_gpu)
    monkeypatch.setattr(core, "_available_memory", lambda: 1 << 30)
    with pytest.raises(ParameterError, match=r"needs about 7\.5 GiB of memory .*\(80 bytes"):
        core.check_memory((10000, 10000), DVSParams(), "cpu")


# -------------------------------------------------------------------------------- model card


def _card_snippet() -> str:
    card = (TINY / "README.md").read_text(encoding="utf-8")
    (code,) = re.findall(r"```python\n(.*?)```", card, flags=re.S)
    return code


def test_the_model_cards_snippet_runs_outside_a_checkout(tmp_path):
    code = _card_snippet()
    assert "epvlm/assets" not in code
    check = (
        "\nimport epvlm.demo\n"
        "assert type(model).__name__ == 'EPQwen2VLForConditionalGeneration'\n"
        "assert type(proc).__name__ == 'EPQwen2VLProcessor'\n"
        "print(model.config.vision_config.depth, len(proc.tokenizer), epvlm.demo.DEFAULT_MODEL)\n"
    )
    # HF_HUB_OFFLINE: a path the folder lacks is taken for a hub id, which must not be fetched
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code + check],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    depth, vocab, folder = done.stdout.split()
    assert (int(depth), int(vocab)) == (3, 73)
    assert Path(folder) == TINY


# --------------------------------------------------------------------------------- epvlm CLI


def test_run_says_an_event_file_given_as_image_goes_to_events(tmp_path, capsys):
    events = tmp_path / "rec.h5"
    events.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    argv = ["run", "--model", TINY, "--image", events, "--selector", "dense", "--question", "q"]
    rc, err = _error(capsys, *argv)
    assert rc == 1
    assert (
        f"cannot read image {str(events)!r}: it is named as an event file (.h5); pass it as "
        "--events and the frame it goes with as --image (PNG, JPEG, ...)"
    ) in err


def test_run_says_what_an_undecodable_image_should_be(tmp_path, capsys):
    image = tmp_path / "frame.png"
    image.write_bytes(b"not a png")
    argv = ["run", "--model", TINY, "--image", image, "--selector", "dense", "--question", "q"]
    rc, err = _error(capsys, *argv)
    assert rc == 1
    assert (
        f"cannot read image {str(image)!r} (not an image OpenCV can decode); expected an image "
        "file (PNG, JPEG, ...)"
    ) in err


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (["0", "224"], "argument --image-hw: 0 must be >= 1"),
        (["224", "-3"], "argument --image-hw: -3 must be >= 1"),
        (["224", "x"], "argument --image-hw: 'x' is not a whole number; expected one >= 1"),
    ],
)
def test_flops_image_hw_out_of_range_is_a_usage_error_naming_it(capsys, given, said):
    rc, err = _error(capsys, "flops", "--image-hw", *given)
    assert rc == 2 and said in err


def _help(capsys, command: str) -> str:
    assert main([command, "--help"]) == 0
    # argparse wraps to the terminal: compared as one line of words
    return " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("command", ["run", "eval"])
def test_help_names_the_default_generation_budget_by_prompt_format(capsys, command):
    text = _help(capsys, command)
    assert "32 for chat checkpoints" not in text
    assert (
        "generation budget (default: 32 with the chat prompt format; with the plain one, the "
        "tokens of the longest option and its end-of-turn token, at least 16 where a question "
        "has no options)"
    ) in text


def test_the_budget_the_help_names_is_the_one_used():
    from epvlm.evaluate import CHAT_MAX_NEW_TOKENS, PLAIN_OPEN_MAX_NEW_TOKENS, plain_answer_budget
    from epvlm.processing import load_processor

    proc = load_processor(TINY)
    assert (CHAT_MAX_NEW_TOKENS, PLAIN_OPEN_MAX_NEW_TOKENS) == (32, 16)
    # 'red' and its end-of-turn token; an open question among them asks for at least 16
    assert plain_answer_budget(proc, [["red", "blue"]]) == 2
    assert plain_answer_budget(proc, [["red", "blue"], []]) == 16


@pytest.mark.parametrize("command", ["run", "eval"])
def test_help_says_where_the_shipped_model_is(capsys, command):
    from epvlm.demo import DEFAULT_MODEL

    # the folder itself, not the name of the constant that holds it (1d196e3); argparse may
    # break a long path at a hyphen, so the words are compared without their spaces
    said = f"the package's tiny model, trained for the shapes demo, is {DEFAULT_MODEL}"
    assert "".join(said.split()) in "".join(_help(capsys, command).split())
    assert DEFAULT_MODEL == TINY and (DEFAULT_MODEL / "config.json").is_file()


def test_run_help_says_where_the_window_ends_without_a_frame_time(capsys):
    assert (
        "--window-ms MS event window length, ending at --frame-time-us or, without it, at the "
        "recording's last event (default: the whole recording, or 50 ms with --frame-time-us)"
    ) in _help(capsys, "run")


def test_flops_help_says_the_first_new_token_comes_from_the_prefill(capsys):
    assert (
        "generated tokens, at least 1 (default 1; the first comes out of the prefill, so decode "
        "counts the rest)"
    ) in _help(capsys, "flops")


def test_flops_decode_is_zero_for_one_new_token(capsys):
    assert main(["flops", "--json"]) == 0
    assert '"decode": 0,' in capsys.readouterr().out
    assert main(["flops", "--json", "--new-tokens", "2"]) == 0
    assert '"decode": 0,' not in capsys.readouterr().out


# ------------------------------------------------------------------------------ select_blocks


def test_a_grid_of_the_images_aspect_at_another_scale_is_one_a_processor_makes():
    """Kept on purpose: the 4x4 grid of a 224x224 image that round 11 let through is what a
    Qwen2-VL processor with max_pixels 112*112 makes of it, and encode_batch takes its mask."""
    from PIL import Image

    from epvlm.prior import select_blocks
    from epvlm.processing import build_offline_processor, encode_batch, grid_for_size

    proc = build_offline_processor(["red", "blue", "what"], min_pixels=56 * 56, max_pixels=112**2)
    image = np.full((224, 224, 3), 128, np.uint8)
    grid = grid_for_size(proc, 224, 224)
    assert grid == (4, 4)
    made = proc.image_processor(images=[Image.fromarray(image)], return_tensors="np")
    assert made["image_grid_thw"].tolist() == [[1, 8, 8]]  # patches: 4x4 tokens after the merge
    sel = select_blocks("random", image, keep=0.5, grid=grid)
    assert sel.mask.shape == (4, 4) and sel.total_tokens == 16
    batch = encode_batch(proc, [sel.image], ["what"], [["red", "blue"]], keep_masks=[sel.mask])
    assert int(batch["image_keep_mask"].sum()) == sel.kept_tokens == 8
