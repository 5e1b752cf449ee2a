"""`epvlm eval` / `epvlm run` with checkpoint folders laid out as a researcher's local
Qwen2-VL-2B-Instruct / Qwen2.5-VL-3B-Instruct copies are (tests/test_epvlm_review3.py's
`hub_checkpoint`: sharded safetensors saved by the stock classes, byte-level tokenizer, chat
template, preprocessor_config.json, a sampling generation_config.json), and as the Hugging Face
cache holds them (a snapshot folder of links into blobs/): loading at every dtype, batching,
prompt formats, generation settings, tokenizer file forms, the pixel budget, links, folders
only read or not readable, and resuming an interrupted evaluation."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import build_eval_dataset

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_epvlm_resume import Calls  # noqa: E402
from test_epvlm_review3 import STOCK, hub_checkpoint  # noqa: E402

from epvlm.cli import main  # noqa: E402
from epvlm.errors import ModelDirError  # noqa: E402
from epvlm.evaluate import evaluate_dataset, load_model, model_label  # noqa: E402
from epvlm.results import PARTIAL_ANSWERS, PARTIAL_STATE  # noqa: E402

N_SAMPLES = 5
REVISION = "895c3a49bc3fa70a340399125c650a463535e71c"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoints6")
    build_eval_dataset(root, N_SAMPLES)
    return {
        "root": root,
        "ds": root / "ds",
        "qwen2_vl": hub_checkpoint(
            root / "Qwen2-VL-tiny", "qwen2_vl", tie=True, template="tokenizer_config"
        ),
        "qwen2_5_vl": hub_checkpoint(
            root / "Qwen2.5-VL-tiny", "qwen2_5_vl", tie=False, template="chat_template.json"
        ),
    }


def _copy(src: Path, dst: Path, **generation) -> Path:
    """A copy of checkpoint ``src`` whose generation_config.json has ``generation`` on top."""
    shutil.copytree(src, dst)
    path = dst / "generation_config.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | generation))
    return dst


def _answers(model: Path, ds: Path, **kwargs: Any) -> dict[tuple, str]:
    settings: dict[str, Any] = {"selectors": ("random",), "keeps": (0.5,), "progress": False}
    samples = evaluate_dataset(model, ds, **(settings | kwargs))["samples"]
    return {(s["id"], s["selector"], s["keep"]): s["raw_output"] for s in samples}


def _tree(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (links not followed) with its kind, size and mtime."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        out[str(path.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


# --------------------------------------------------------------------------------- loading


@pytest.mark.parametrize("model_type", sorted(STOCK))
def test_every_tensor_loads_as_the_stock_class_loads_it_without_a_warning(
    setup, model_type, caplog
):
    path = setup[model_type]
    for dtype, expected in [("float32", torch.float32), ("bfloat16", torch.bfloat16),
                            ("float16", torch.float16), ("auto", torch.float32)]:  # fmt: skip
        caplog.clear()
        with caplog.at_level(logging.WARNING), warnings.catch_warnings():
            warnings.simplefilter("error")
            model, _ = load_model(path, dtype=dtype)
        assert not caplog.records, [r.getMessage() for r in caplog.records]
        assert model.dtype == expected  # auto on a CPU: float32
        stock = STOCK[model_type].from_pretrained(str(path), dtype=expected)
        ours, theirs = model.state_dict(), stock.state_dict()
        assert list(ours) == list(theirs)
        assert all(torch.equal(ours[k], theirs[k]) for k in ours)


# --------------------------------------------------------------- batching and prompt formats


@pytest.mark.parametrize(
    ("model_type", "prompt"),
    [("qwen2_vl", "chat"), ("qwen2_5_vl", "chat"), ("qwen2_5_vl", "plain")],
)
def test_a_batch_of_four_answers_as_batches_of_one(setup, model_type, prompt):
    """Five samples: a batch of four (left-padded, kept token counts differing) and one."""
    kwargs = {"selectors": ("random", "event"), "prompt": prompt}
    one = _answers(setup[model_type], setup["ds"], batch_size=1, **kwargs)
    four = _answers(setup[model_type], setup["ds"], batch_size=4, **kwargs)
    assert one == four and len(one) == 3 * N_SAMPLES


# --------------------------------------------------------------------- generation settings


def test_sampling_settings_of_the_checkpoint_leave_answers_greedy(setup, tmp_path):
    """The Instruct checkpoints' generation_config.json asks for sampling; answers stay the
    greedy ones, run after run. A num_beams there made them a beam search's (the note still
    said greedy), and return_dict_in_generate or num_return_sequences crashed the run."""
    src, ds = setup["qwen2_5_vl"], setup["ds"]
    plain = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    greedy = _answers(_copy(src, tmp_path / "greedy", **plain), ds)
    hot = _copy(src, tmp_path / "hot", do_sample=True, temperature=5.0, top_k=0, top_p=1.0)
    assert _answers(hot, ds) == greedy
    assert _answers(hot, ds) == greedy
    for name, setting in [
        ("beams", {"num_beams": 3}),
        ("dict", {"return_dict_in_generate": True, "output_scores": True}),
        ("sequences", {"num_return_sequences": 2, "do_sample": True}),
    ]:
        assert _answers(_copy(src, tmp_path / name, **setting), ds) == greedy, name


def test_the_note_names_the_checkpoints_repetition_penalty(setup, tmp_path):
    """Greedy decoding applies generation_config.json's repetition_penalty (1.05 in the
    Qwen2.5-VL Instruct checkpoints), as the stock model does: the note says so."""
    argv = ["eval", "--dataset", str(setup["ds"]), "--selector", "dense", "--keep", "0.5",
            "--no-progress"]  # fmt: skip
    assert main([*argv, "--model", str(setup["qwen2_5_vl"]), "-o", str(tmp_path / "a")]) == 0
    note = (tmp_path / "a" / "table.md").read_text()
    assert "greedy decoding with generation_config.json's repetition_penalty 1.05 on cpu" in note
    model = _copy(setup["qwen2_5_vl"], tmp_path / "m", repetition_penalty=1.0)
    assert main([*argv, "--model", str(model), "-o", str(tmp_path / "b")]) == 0
    assert "greedy decoding on cpu (float32)" in (tmp_path / "b" / "table.md").read_text()


# ------------------------------------------------------------------------- tokenizer files


def test_tokenizer_json_and_vocab_merges_give_the_same_prompt(setup, tmp_path):
    """The Hub ships tokenizer.json beside vocab.json + merges.txt; either form alone (with
    tokenizer_config.json, which lists the special tokens) encodes the chat prompt alike."""
    from tokenizers.pre_tokenizers import ByteLevel

    from epvlm.processing import QWEN2VL_SPECIAL_TOKENS, encode_batch, load_processor

    src = setup["qwen2_vl"]
    image = np.random.default_rng(0).integers(0, 256, (56, 84, 3), dtype=np.uint8)
    question = ["What colour is the café's sign?\n  Ünïcode — ok"]

    def ids(model: Path) -> list[int]:
        proc = load_processor(model)
        return encode_batch(proc, [image], question, [["red", "blue"]])["input_ids"].tolist()

    reference = ids(src)
    special = {"content": "", "lstrip": False, "normalized": False, "rstrip": False,
               "single_word": False, "special": True}  # fmt: skip
    for keep in [("tokenizer.json", "vocab.json", "merges.txt"), ("vocab.json", "merges.txt"),
                 ("tokenizer.json",)]:  # fmt: skip
        model = tmp_path / "+".join(keep)
        shutil.copytree(src, model)
        config = json.loads((model / "tokenizer_config.json").read_text())
        config["added_tokens_decoder"] = {
            str(256 + i): special | {"content": t} for i, t in enumerate(QWEN2VL_SPECIAL_TOKENS)
        }
        (model / "tokenizer_config.json").write_text(json.dumps(config))
        vocab = {c: i for i, c in enumerate(sorted(ByteLevel.alphabet()))}
        (model / "vocab.json").write_text(json.dumps(vocab))
        (model / "merges.txt").write_text("#version: 0.2\n")
        for name in {"tokenizer.json", "vocab.json", "merges.txt"} - set(keep):
            (model / name).unlink()
        assert ids(model) == reference, keep


# ------------------------------------------------------------------------ the pixel budget


def test_the_checkpoints_pixel_budget_decides_the_grid(setup, tmp_path, capsys):
    """preprocessor_config.json's min_pixels / max_pixels win over its size and over our
    defaults, as in the stock processor: a 112x112 image under min_pixels 224x224 is 8x8
    tokens, and `epvlm run` / `epvlm eval` say how many."""
    from PIL import Image
    from transformers import AutoImageProcessor

    from epvlm.processing import grid_for_size, load_processor

    model = tmp_path / "model"
    shutil.copytree(setup["qwen2_5_vl"], model)
    path = model / "preprocessor_config.json"
    config = json.loads(path.read_text())
    config |= {"min_pixels": 224 * 224, "max_pixels": 448 * 448}
    config["size"] = {"shortest_edge": 56 * 56, "longest_edge": 112 * 112}
    path.write_text(json.dumps(config))
    image = np.random.default_rng(0).integers(0, 256, (112, 112, 3), dtype=np.uint8)
    stock = AutoImageProcessor.from_pretrained(str(model))(images=[image], return_tensors="pt")
    assert stock["image_grid_thw"].tolist() == [[1, 16, 16]]
    assert grid_for_size(load_processor(model), 112, 112) == (8, 8)
    Image.fromarray(image).save(tmp_path / "frame.png")
    argv = ["run", "--model", str(model), "--image", str(tmp_path / "frame.png"),
            "--question", "What is it?", "--selector", "random", "--keep", "0.5"]  # fmt: skip
    assert main(argv) == 0
    assert "tokens: 32 of 64 image tokens kept" in capsys.readouterr().out
    rows = evaluate_dataset(model, setup["ds"], selectors=("random",), keeps=(0.5,),
                            progress=False)["rows"]  # fmt: skip
    assert {(r["kept_tokens"], r["total_tokens"]) for r in rows} == {(64, 64), (32, 64)}


# ---------------------------------------------------- the Hugging Face cache: a folder of links


def _hf_cache(src: Path, cache: Path, repo: str) -> Path:
    """``src`` as huggingface_hub stores a download: blobs named by their hash and a snapshot
    folder of relative links to them."""
    base = cache / ("models--" + repo.replace("/", "--"))
    snapshot = base / "snapshots" / REVISION
    (base / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    (base / "refs").mkdir()
    (base / "refs" / "main").write_text(REVISION)
    for file in sorted(src.iterdir()):
        blob = hashlib.sha256(file.read_bytes()).hexdigest()
        shutil.copy2(file, base / "blobs" / blob)
        (snapshot / file.name).symlink_to(f"../../blobs/{blob}")
    return snapshot


def test_a_cache_snapshot_evaluates_resumes_and_is_named_by_its_repository(
    setup, tmp_path, capsys, monkeypatch
):
    """The snapshot folder is named by the revision's hash: the results title named the
    model '895c3a49...'. It now names the repository; the links are followed for the resume
    fingerprint, an interrupted run resumes to the results of the plain folder, and nothing in
    the cache is written."""
    from epvlm.evaluate import model_files_fingerprint

    snapshot = _hf_cache(setup["qwen2_vl"], tmp_path / "hub", "Qwen/Qwen2-VL-tiny")
    before = _tree(tmp_path / "hub")
    fingerprint = model_files_fingerprint(snapshot)
    assert fingerprint.keys() == model_files_fingerprint(setup["qwen2_vl"]).keys()
    assert all(
        size == (setup["qwen2_vl"] / name).stat().st_size for name, (size, _) in fingerprint.items()
    )

    def argv(model: Path, out: Path) -> list[str]:
        return ["eval", "--model", str(model), "--dataset", str(setup["ds"]), "--keep", "0.5",
                "--selector", "event,random", "--batch-size", "2", "--no-progress",
                "-o", str(out)]  # fmt: skip

    reference = tmp_path / "reference"
    assert main(argv(setup["qwen2_vl"], reference)) == 0
    out = tmp_path / "out"
    Calls(monkeypatch, stop_after=4)
    assert main(argv(snapshot, out)) == 130
    monkeypatch.undo()
    assert sorted(p.name for p in out.iterdir()) == [PARTIAL_ANSWERS, PARTIAL_STATE]
    capsys.readouterr()
    assert main(argv(snapshot, out)) == 0
    assert "resuming: 8 of 15 answers done" in capsys.readouterr().err

    def answers(folder: Path) -> list[dict]:
        lines = (folder / "samples.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(s).items() if k != "latency_s"} for s in lines]

    assert answers(out) == answers(reference)
    title = (out / "table.md").read_text().splitlines()[0]
    assert title.startswith("# epvlm eval: Qwen/Qwen2-VL-tiny on shapes-vqa/test")
    assert _tree(tmp_path / "hub") == before


def test_titles_name_a_folder_given_as_dot(setup, tmp_path, monkeypatch):
    """`--model .` (run from inside the checkpoint) titled the results 'epvlm eval:  on'."""
    from epvlm.evaluate import dataset_label

    monkeypatch.chdir(setup["qwen2_vl"])
    assert model_label(".") == "Qwen2-VL-tiny"
    assert model_label(f"../{setup['qwen2_vl'].name}/") == "Qwen2-VL-tiny"
    assert model_label(f"/x/models--Qwen--Qwen2-VL-2B-Instruct/snapshots/{REVISION}") == (
        "Qwen/Qwen2-VL-2B-Instruct"
    )
    monkeypatch.chdir(setup["ds"])
    parent = setup["ds"].parent.name
    assert dataset_label({"name": "x"}, ".", "test") == f"x/test (folder {parent}/ds)"
    assert dataset_label({"name": "x"}, "..", "test").startswith("x/test (folder ")


# ---------------------------------------------------------- folders only read, or not readable


def test_a_read_only_model_folder_is_only_read(setup, tmp_path, capsys):
    """Nothing is written into the model folder (a shared or read-only copy)."""
    model = tmp_path / "model"
    shutil.copytree(setup["qwen2_5_vl"], model)
    for path in [*model.iterdir(), model]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    before = _tree(model)
    try:
        argv = ["eval", "--model", str(model), "--dataset", str(setup["ds"]), "--selector",
                "event", "--keep", "0.5", "--no-progress", "-o", str(tmp_path / "out")]  # fmt: skip
        assert main(argv) == 0, capsys.readouterr().err
        assert _tree(model) == before
    finally:
        model.chmod(0o755)


def _as_another_user(fn) -> str:
    """What ``fn()`` raises (``type: message``) where files of mode 0600 are not readable: in
    this process when it is not root (after chmod 000 by the caller's rule), else in a forked
    child that has become ``nobody``."""
    if os.geteuid() != 0:
        try:
            fn()
        except Exception as exc:  # the message under test, whatever its type
            return f"{type(exc).__name__}: {exc}"
        return "no error"
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                fn()
                message = "no error"
            except Exception as exc:
                message = f"{type(exc).__name__}: {exc}"
            os.write(write, message.encode())
        finally:
            os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 1 << 16):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX permissions")
def test_files_this_user_may_not_read_are_named_as_such(setup):
    """safetensors writes its files readable by their owner only (0600), so another user's
    checkpoint has shards a colleague cannot read: that was 'damaged or incomplete (an
    interrupted download or copy?): No such file or directory', and an unreadable tokenizer
    file 'not valid JSON (damaged or cut short?)'."""
    from epvlm.loading import check_weight_files
    from epvlm.processing import load_processor

    with tempfile.TemporaryDirectory() as tmp:  # under /tmp, so 'nobody' can reach it
        Path(tmp).chmod(0o755)
        model = Path(tmp) / "model"
        shutil.copytree(setup["qwen2_vl"], model)
        shard = sorted(model.glob("model-*.safetensors"))[-1]
        unreadable = 0o600 if os.geteuid() == 0 else 0o000
        for path in model.iterdir():
            path.chmod(unreadable if path in (shard, model / "tokenizer.json") else 0o644)
        try:
            said = _as_another_user(lambda: check_weight_files(model))
            mode = "-rw-------" if os.geteuid() == 0 else "----------"
            assert said.startswith(
                f"{ModelDirError.__name__}: weight file {str(shard)!r} cannot be read by this "
                f"user (mode {mode}"
            ), said
            assert "permission denied" in said and "damaged" not in said, said
            said = _as_another_user(lambda: load_processor(model))
            assert "tokenizer.json cannot be read by this user: permission denied" in said, said
            assert "not valid JSON" not in said, said
        finally:
            for path in model.iterdir():
                path.chmod(0o644)
