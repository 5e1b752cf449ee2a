import atexit
import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from eventsim.events import EVENT_DTYPE

# the shard digests the loader remembers (eventsim.datasets._digests) go to a folder of this
# run, in this process and the ones it starts, not to the user's cache
_DIGEST_CACHE = tempfile.mkdtemp(prefix="eventsim-test-cache-")
os.environ["EVENTSIM_CACHE_DIR"] = _DIGEST_CACHE
atexit.register(shutil.rmtree, _DIGEST_CACHE, True)

# A test run started in the background by a non-interactive shell (`pytest &`, nohup) inherits
# SIGINT ignored, and so do the commands it starts: the Ctrl-C tests then saw no interrupt and
# failed. Python's own handler is taken back, and the children get the default on exec.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def small_events() -> np.ndarray:
    """A few thousand sorted events on a 64x48 sensor, deterministic."""
    rng = np.random.default_rng(1234)
    n = 5000
    ev = np.zeros(n, dtype=EVENT_DTYPE)
    ev["x"] = rng.integers(0, 64, n)
    ev["y"] = rng.integers(0, 48, n)
    ev["t"] = np.sort(rng.integers(0, 250_000, n))
    ev["p"] = rng.integers(0, 2, n)
    return ev


_SHAPES_RECIPE = """
[dataset]
name = "{name}"
seed = {seed}

[source]
kind = "shapes"
mode = "{mode}"
n_objects = [2, 3]
object_size_px = [10, 16]
motion_px = [{motion}]
max_step_px = {step}

[camera]
width = {size}
height = {size}

[simulator]
preset = "clean"

[events]
window_ms = 20

[splits]
train = {train}
test = {test}

[build]
shard_size = {shard}
"""


@pytest.fixture(scope="session")
def shapes_recipe() -> Callable[..., Path]:
    """Writes a small shapes recipe (64x64 and shards of 2 samples unless asked otherwise) to
    a path and returns it."""

    def write(
        path: Path,
        *,
        name: str = "small",
        seed: int = 5,
        mode: str = "vqa",
        size: int = 64,
        train: int = 0,
        test: int = 4,
        shard: int = 2,
        motion: str = "4, 8",
        step: float = 1.0,
    ) -> Path:
        path.write_text(
            _SHAPES_RECIPE.format(
                name=name,
                seed=seed,
                mode=mode,
                size=size,
                train=train,
                test=test,
                shard=shard,
                motion=motion,
                step=step,
            )
        )
        return path

    return write


@pytest.fixture(scope="session")
def build_shapes(tmp_path_factory, shapes_recipe) -> Callable[[int], Path]:
    """Builds a `shapes_recipe` dataset of ``test`` samples in a fresh folder; returns it."""
    from eventsim.cli import main as eventsim_main

    def build(test: int) -> Path:
        root = tmp_path_factory.mktemp("shapes")
        recipe = shapes_recipe(root / "r.toml", test=test)
        assert eventsim_main(["build", str(recipe), "-o", str(root / "ds"), "--no-progress"]) == 0
        return root / "ds"

    return build


@pytest.fixture(scope="session")
def eval_setup() -> Callable[..., tuple]:
    """Builds what the epvlm end-to-end tests run on (see `_build_eval_setup`)."""
    return _build_eval_setup


def build_eval_dataset(root: Path, n_samples: int, *settings: str) -> Path:
    """A 112x112 `shapes-vqa` test split of ``n_samples`` in ``root/ds`` (recipe ``settings``
    as FIELD=VALUE on top), small enough for the epvlm tests' tiny models; returns its folder."""
    from eventsim.cli.build import main as build_main

    ds_dir = root / "ds"
    sets = [
        "camera.width=112",
        "camera.height=112",
        "source.object_size_px=[16,28]",
        "source.motion_px=[6,12]",
        "splits.train=0",
        "splits.val=0",
        *settings,
    ]
    argv = [
        "shapes-vqa",
        "-o",
        str(ds_dir),
        "--limit",
        str(n_samples),
        "--no-progress",
        "--no-preview",
    ]
    assert build_main([*argv, *(a for s in sets for a in ("--set", s))]) == 0
    return ds_dir


def _build_eval_setup(root: Path, n_samples: int, *settings: str) -> tuple:
    """`build_eval_dataset` and a tiny checkpoint whose vocabulary covers its questions and
    choices in ``root/model``: (root, dataset dir, model dir, samples)."""
    from epvlm.processing import vocab_from_texts
    from epvlm.tiny import save_tiny_checkpoint
    from eventsim.datasets import EventVQADataset

    ds_dir = build_eval_dataset(root, n_samples, *settings)
    with EventVQADataset(ds_dir, split="test") as ds:
        samples = [ds[i] for i in range(len(ds))]
    texts = [s["question"] for s in samples] + [c for s in samples for c in s["choices"]]
    model_dir = save_tiny_checkpoint(root / "model", vocab_from_texts(texts), seed=0)
    return root, ds_dir, model_dir, samples


@pytest.fixture
def events_npy(tmp_path) -> Path:
    """100 events on a 32x24 sensor, as a .npy file."""
    from eventsim.io import write_events

    ev = np.zeros(100, EVENT_DTYPE)
    ev["x"] = np.arange(100) % 32
    ev["y"] = np.arange(100) % 24
    ev["t"] = np.arange(100) * 10
    ev["p"] = np.arange(100) % 2
    path = tmp_path / "ev.npy"
    write_events(path, ev, sensor_size=(32, 24))
    return path


# The tiny Qwen2-VL and Qwen2.5-VL the M-RoPE decoding tests (second_look6, review7,
# second_look7) build, each beside the stock transformers class holding its weights. Named
# apart from other modules' `proc` fixtures, whose vocabularies differ.
@pytest.fixture(scope="module")
def rope_proc():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from epvlm.processing import build_offline_processor

    return build_offline_processor(["what colour is the object where is it red blue green"])


@pytest.fixture(scope="module", params=["qwen2_vl", "qwen2_5_vl"])
def rope_models(request, rope_proc):
    """(the tiny model, the stock class's model with its state dict) of one model type."""
    from transformers import Qwen2_5_VLForConditionalGeneration, Qwen2VLForConditionalGeneration

    from epvlm.tiny import tiny_config, tiny_model

    stock_class = {
        "qwen2_vl": Qwen2VLForConditionalGeneration,
        "qwen2_5_vl": Qwen2_5_VLForConditionalGeneration,
    }[request.param]
    model = tiny_model(tiny_config(rope_proc, model_type=request.param), seed=0)
    stock = stock_class(model.config).eval()
    stock.load_state_dict(model.state_dict())
    return model, stock
