"""epvlm command line, second look at round 11 (4471231, 2ed8043):

1. ``--prompt-format chat``'s check before transformers loads said "the checkpoint's processor
   and tokenizer have none; use 'plain'" for a folder the processor cannot load from (no
   processor config) and for one whose tokenizer_config.json was cut short (its template cut
   off with it), where the load names what to fix; those are now left to the load. Every way
   transformers stores a template is accepted.
2. ``run_demo(dataset_dir=...)`` said only "not a built dataset (no dataset.json)" for a folder
   holding a dataset (an earlier demo's output) or a file of one; it now says what the loader
   says, as ``epvlm demo --dataset`` does.
3. ``epvlm flops --keep 0.5,`` (a trailing comma, read as one fraction before) was refused as
   "--keep takes one fraction".
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import build_eval_dataset

from epvlm.cli import _check_prompt_format, main
from eventsim.errors import DatasetError, ParameterError

TINY = Path(__file__).resolve().parents[1] / "epvlm" / "assets" / "shapes-demo-tiny"
TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% endfor %}"


def _copy_tiny(folder: Path) -> Path:
    shutil.copytree(TINY, folder, ignore=shutil.ignore_patterns("*.safetensors"))
    return folder


def _set_field(path: Path, **fields) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(fields)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


# ------------------------------------------------------------- 1. chat template, before the load


@pytest.mark.parametrize(
    "where",
    [
        "chat_template.jinja",
        "chat_template.json",
        "additional_chat_templates",
        "tokenizer_config.json",
        "tokenizer_config.json list",
        "processor_config.json",
        "save_pretrained",
    ],
)
def test_every_stored_chat_template_is_accepted_before_and_after_the_load(tmp_path, where):
    """The early check must never refuse a checkpoint transformers finds a template in."""
    from epvlm.processing import chat_template_of, load_processor

    model = _copy_tiny(tmp_path / "model")
    if where == "chat_template.jinja":
        (model / where).write_text(TEMPLATE)
    elif where == "chat_template.json":
        (model / where).write_text(json.dumps({"chat_template": TEMPLATE}))
    elif where == "additional_chat_templates":
        (model / where).mkdir()
        (model / where / "default.jinja").write_text(TEMPLATE)
    elif where == "tokenizer_config.json":
        _set_field(model / where, chat_template=TEMPLATE)
    elif where == "tokenizer_config.json list":
        _set_field(
            model / "tokenizer_config.json",
            chat_template=[{"name": "default", "template": TEMPLATE}],
        )
    elif where == "processor_config.json":
        _set_field(model / where, chat_template=TEMPLATE)
    else:
        proc = load_processor(TINY)
        proc.chat_template = TEMPLATE
        shutil.rmtree(model)
        model.mkdir()
        proc.save_pretrained(model)
    assert chat_template_of(load_processor(model)) is not None
    _check_prompt_format(str(model), "chat")


def test_a_checkpoint_without_a_template_is_still_refused_early(tmp_path):
    model = _copy_tiny(tmp_path / "model")
    with pytest.raises(ParameterError, match="needs a chat template"):
        _check_prompt_format(str(model), "chat")
    _check_prompt_format(str(model), "plain")


def test_a_folder_the_processor_cannot_load_from_is_left_to_the_load(tmp_path):
    """'use plain' was the advice for a folder without a processor config, which plain
    refuses too (no preprocessor_config.json or processor_config.json)."""
    model = _copy_tiny(tmp_path / "model")
    (model / "processor_config.json").unlink()
    _check_prompt_format(str(model), "chat")
    (model / "processor_config.json").write_text((TINY / "processor_config.json").read_text())
    (model / "tokenizer.json").unlink()
    _check_prompt_format(str(model), "chat")


def test_a_json_file_cut_short_is_left_to_the_load_that_names_it(tmp_path):
    """A tokenizer_config.json cut short before its chat_template field was said to have no
    template ('use plain'); the load says the file is damaged."""
    model = _copy_tiny(tmp_path / "model")
    _set_field(model / "tokenizer_config.json", chat_template=TEMPLATE)
    text = (model / "tokenizer_config.json").read_text()
    (model / "tokenizer_config.json").write_text(text[: text.index('"chat_template"')])
    _check_prompt_format(str(model), "chat")
    (model / "tokenizer_config.json").write_bytes(b"\xff\xfe not utf-8")
    _check_prompt_format(str(model), "chat")


# ---------------------------------------------------------------- 2. run_demo's dataset words


def test_run_demo_says_what_the_loader_says_of_a_dataset_folder(tmp_path):
    from epvlm.demo.pipeline import run_demo

    dataset = build_eval_dataset(tmp_path, 2)
    demo_out = tmp_path / "demo-out"
    shutil.copytree(dataset, demo_out / "data")
    (demo_out / "report.md").write_text("")
    with pytest.raises(DatasetError) as holder:
        run_demo(tmp_path / "d", dataset_dir=demo_out, progress=False)
    assert str(holder.value) == (
        f"{str(demo_out)!r} is not a built dataset (no dataset.json), but holds one: pass "
        f"{str(demo_out / 'data')!r}"
    )
    with pytest.raises(DatasetError, match=f"the dataset it is in, {str(dataset)!r}"):
        run_demo(tmp_path / "d", dataset_dir=dataset / "samples.jsonl", progress=False)
    assert not (tmp_path / "d").exists()


# ----------------------------------------------------------------------- 3. --keep 0.5,


def test_flops_keep_with_a_trailing_comma_is_one_fraction(capsys):
    assert main(["flops", "--keep", "0.5,"]) == 0
    with_comma = capsys.readouterr().out
    assert main(["flops", "--keep", "0.5"]) == 0
    assert capsys.readouterr().out == with_comma
    assert main(["flops", "--keep", "0.5,0.25"]) == 2
    assert "--keep takes one fraction, got '0.5,0.25'" in capsys.readouterr().err
