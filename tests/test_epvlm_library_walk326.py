"""epvlm used as a Python library (helper 326's walkthrough).

- `vlm_flops` took only a Python int for one image's kept tokens: a numpy integer
  (``mask.sum()``) raised "'numpy.int64' object is not iterable", a float the same, ``[12.7]``
  was truncated to 12 and ``text_tokens=40.5`` gave a float total. Integers of any kind are
  counts now; a float or bool is a ParameterError naming it.
- `plot_accuracy_vs_flops_by` with a group the rows were not aggregated by wrote blank axes
  (and the tables blank columns); it is refused naming the groups there are.
- `plot_accuracy_vs_flops(rows, "p6")` returned ``p6`` while matplotlib wrote ``p6.png``; a
  name without .png, .pdf or .svg is refused, as eventsim's plot refuses it.
- results.json is a list of rows while `evaluate_dataset` returns ``{rows, samples}``: the
  tables and plots take either, and `load_results` reads a results folder back.
- `epvlm.__all__` held only ``__version__`` (help(epvlm) listed none of the API); epvlm.tiny had
  no ``__all__``; some public functions had no type hints.
"""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from epvlm.errors import ResultsFileError
from epvlm.flops import vlm_flops
from epvlm.results import (
    accuracy_table,
    aggregate,
    json_ready,
    load_results,
    paired_table,
    plot_accuracy_vs_flops,
    plot_accuracy_vs_flops_by,
    results_table,
)
from eventsim.errors import ParameterError

N = 12


def _samples():
    configs = [("dense", 1.0), ("event", 0.5), ("random", 0.5)]
    return [
        {
            "id": f"q{i:02d}",
            "selector": sel,
            "keep": keep,
            "correct": (i + len(sel)) % 3 != 0,
            "question_type": "color" if i % 2 else "shape",
            "target_motion": "moving" if i % 3 else "static",
            "flops": int(1000 * keep),
            "latency_s": 0.01,
            "kept_tokens": int(64 * keep),
            "total_tokens": 64,
        }
        for sel, keep in configs
        for i in range(N)
    ]


@pytest.fixture(scope="module")
def rows():
    return aggregate(_samples(), bootstrap=False)


# ----------------------------------------------------------------------------- vlm_flops


def test_flops_take_numpy_integers():
    mask = np.ones((8, 8), bool)
    expected = vlm_flops("qwen2-vl-2b", 64, 40)
    assert vlm_flops("qwen2-vl-2b", mask.sum(), 40) == expected
    assert vlm_flops("qwen2-vl-2b", 64, np.int64(40), new_tokens=np.int32(1)) == expected
    two = vlm_flops("qwen2-vl-2b", np.array([30, 34]), 40)
    assert two == vlm_flops("qwen2-vl-2b", [30, 34], 40)
    assert type(two.total) is int and type(two.text_tokens) is int
    windows = vlm_flops("qwen2.5-vl-3b", 5, 0, windows=[np.array([1, 4])])
    assert windows == vlm_flops("qwen2.5-vl-3b", 5, 0, windows=[[1, 4]])


@pytest.mark.parametrize(
    ("kept", "text", "named"),
    [
        (12.7, 40, "kept_tokens 12.7"),
        (64.0, 40, "kept_tokens 64.0"),
        ([12.7], 40, "kept_tokens entry 12.7"),
        (np.array([1.5, 2.0]), 40, "kept_tokens entry np.float64(1.5)"),
        (True, 40, "kept_tokens True"),
        ([np.True_, np.False_], 40, "kept_tokens entry np.True_"),
        ("12", 40, "kept_tokens '12'"),
        (64, 40.5, "text_tokens 40.5"),
    ],
)
def test_flops_refuse_counts_that_are_not_integers(kept, text, named):
    with pytest.raises(ParameterError, match="^" + re.escape(named)):
        vlm_flops("qwen2-vl-2b", kept, text)


def test_flops_refuse_fractional_windows_and_grids():
    with pytest.raises(ParameterError, match=r"windows entry 1\.5"):
        vlm_flops("qwen2.5-vl-3b", 5, 0, windows=[[1.5, 3.5]])
    with pytest.raises(ParameterError, match=r"token_grids entry 16\.0"):
        vlm_flops("qwen2.5-vl-3b", 5, 0, token_grids=[(16.0, 16)])


@pytest.mark.parametrize("grid", [16, (4, 4, 4), (4,)])
def test_flops_refuse_a_grid_that_is_not_rows_and_cols(grid):
    # one number, or three, failed unpacking with a bare ValueError
    with pytest.raises(ParameterError, match=r"^token_grids entry .* is not one image's \(rows"):
        vlm_flops("qwen2.5-vl-3b", 5, 0, token_grids=[grid])


def test_flops_refuse_a_bare_count_for_an_images_windows():
    # it was read as one window holding all of the image's kept tokens
    with pytest.raises(ParameterError, match=r"^windows entry 5 is not one image's kept tokens"):
        vlm_flops("qwen2.5-vl-3b", 5, 0, windows=[5])


# ----------------------------------------------------------------------------- groups


def test_plot_by_refuses_a_group_the_rows_lack(rows, tmp_path):
    with pytest.raises(ParameterError) as info:
        plot_accuracy_vs_flops_by(rows, "colour", tmp_path / "p.png")
    assert "'colour'" in str(info.value) and "question_type, target_motion" in str(info.value)
    assert not (tmp_path / "p.png").exists()
    bare = aggregate(_samples(), group_by=(), bootstrap=False)
    with pytest.raises(ParameterError, match="none; `aggregate` groups by question_type"):
        plot_accuracy_vs_flops_by(bare, "question_type", tmp_path / "p.png")
    with pytest.raises(ParameterError, match=r"no answer has target_motion 'still'.*moving"):
        plot_accuracy_vs_flops_by(rows, "target_motion", tmp_path / "p.png", values=["still"])
    # no values at all is said as such, not as a group no answer has
    with pytest.raises(ParameterError, match=r"^values is empty; .* values are: moving, static"):
        plot_accuracy_vs_flops_by(rows, "target_motion", tmp_path / "p.png", values=[])
    assert not (tmp_path / "p.png").exists()
    assert plot_accuracy_vs_flops_by(rows, "target_motion", tmp_path / "p.png").is_file()


def test_tables_refuse_a_group_the_rows_lack(rows):
    for table in (accuracy_table, paired_table):
        with pytest.raises(ParameterError, match="'colour' is not among the rows' groups"):
            table(rows, "colour")
        assert "moving" in table(rows, "target_motion")


# ----------------------------------------------------------------------------- plot names


@pytest.mark.parametrize("name", ["p6", "p6.jpg", "results.v2"])
def test_plot_refuses_a_name_it_would_not_write(rows, tmp_path, name):
    with pytest.raises(ParameterError, match=r"must end in \.png, \.pdf or \.svg"):
        plot_accuracy_vs_flops(rows, tmp_path / name)
    with pytest.raises(ParameterError, match=r"must end in \.png, \.pdf or \.svg"):
        plot_accuracy_vs_flops_by(rows, "target_motion", tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_plot_returns_the_file_it_wrote(rows, tmp_path):
    for name in ("p.png", "p.SVG", "p.pdf"):
        out = plot_accuracy_vs_flops(rows, tmp_path / name)
        assert out == tmp_path / name and out.is_file()


# ----------------------------------------------------------------------------- results


def test_tables_and_plots_take_a_result_dict(rows, tmp_path):
    result = {"rows": rows, "samples": _samples()}
    assert results_table(result) == results_table(rows)
    assert accuracy_table(result, "question_type") == accuracy_table(rows, "question_type")
    assert paired_table(result) == paired_table(rows)
    assert plot_accuracy_vs_flops(result, tmp_path / "a.png").is_file()
    assert plot_accuracy_vs_flops_by(result, "question_type", tmp_path / "b.png").is_file()


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({"samples": []}, "got a mapping with keys ['samples']"),
        ("results.json", "got a str"),
        (["selector", "keep"], "got a list holding 'selector'"),
    ],
)
def test_tables_refuse_what_holds_no_rows(given, said):
    with pytest.raises(ParameterError, match=r"expected evaluation rows") as info:
        results_table(given)
    assert said in str(info.value)


def test_load_results_reads_a_results_folder(rows, tmp_path):
    text = json.dumps(json_ready(rows), indent=2, allow_nan=False)
    (tmp_path / "results.json").write_text(text, encoding="utf-8")
    for given in (tmp_path, tmp_path / "results.json", str(tmp_path)):
        loaded = load_results(given)
        assert loaded == json.loads(text)
    assert results_table(loaded) == results_table(rows)
    assert plot_accuracy_vs_flops(loaded, tmp_path / "again.png").is_file()


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (None, "does not exist"),
        (b"\xff\xfe", "not a UTF-8 text file"),
        (b"[{", "not valid JSON"),
        (b'{"rows": []}', "holds no evaluation rows"),
        (b'[{"n": 3}]', "holds no evaluation rows"),
        # as its docstring says: a table or plot of none is blank
        (b"[]", "holds no evaluation rows"),
    ],
)
def test_load_results_names_a_bad_file(tmp_path, content, said):
    if content is not None:
        (tmp_path / "results.json").write_bytes(content)
    with pytest.raises(ResultsFileError, match=said) as info:
        load_results(tmp_path)
    assert str(tmp_path / "results.json") in str(info.value)


# ----------------------------------------------------------------------------- package


def test_package_lists_its_api_and_stays_light():
    code = (
        "import sys, json, epvlm\n"
        "heavy = sorted({'torch', 'transformers', 'matplotlib', 'numpy'} & set(sys.modules))\n"
        "print(json.dumps([heavy, epvlm.__all__]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    heavy, names = json.loads(out.stdout)
    assert heavy == []
    assert {"vlm_flops", "load_results", "evaluate_dataset", "aggregate"} <= set(names)
    assert "ParameterError" in names and "CheckpointError" in names


def test_package_exports_resolve_without_torch():
    code = (
        "import sys, epvlm\n"
        "for name in epvlm.__all__: getattr(epvlm, name)\n"
        "import pydoc; pydoc.render_doc(epvlm)\n"
        "print(sorted({'torch', 'transformers'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_package_exports_are_the_modules_objects():
    import epvlm
    from epvlm import flops, results

    assert epvlm.vlm_flops is flops.vlm_flops and epvlm.load_results is results.load_results
    assert set(epvlm._EXPORTS) <= set(dir(epvlm))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        epvlm.nope  # noqa: B018


def test_type_checkers_see_the_lazy_names_and_no_others() -> None:
    # annotated, so mypy (make lint) checks this body: the names resolve to their objects'
    # types, and a misspelt one is an error (the ignore below is unused, and so an error, when
    # mypy sees epvlm's module __getattr__, which makes any attribute an object)
    import epvlm
    from epvlm.flops import FlopsBreakdown

    flops: FlopsBreakdown = epvlm.vlm_flops("qwen2-vl-2b", 64, 40)
    assert flops.total > 0
    with pytest.raises(AttributeError):
        epvlm.vlm_flop  # type: ignore[attr-defined]  # noqa: B018


def test_the_names_type_checkers_see_are_the_lazy_ones():
    import ast

    import epvlm

    tree = ast.parse(Path(epvlm.__file__).read_text(encoding="utf-8"))
    seen: dict[str, str] = {}
    hidden = []
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.module
                seen.update({alias.name: imp.module for alias in imp.names})
        if isinstance(node, ast.If) and ast.unparse(node.test) == "not TYPE_CHECKING":
            hidden += [d.name for d in node.body if isinstance(d, ast.FunctionDef)]
        assert not (isinstance(node, ast.FunctionDef) and node.name == "__getattr__")
    assert seen == epvlm._EXPORTS
    assert hidden == ["__getattr__"]
    assert set(epvlm._EXPORTS) <= set(epvlm.__all__)


def test_a_processor_with_a_read_only_tokenizer_is_one_tiny_config_takes() -> None:
    # annotated, so mypy (make lint) checks the assignment: a protocol attribute is settable,
    # and a class whose tokenizer is a property did not match it
    from epvlm.tiny import HasTokenizer

    class Processor:
        @property
        def tokenizer(self) -> str:
            return "tokenizer"

    processor: HasTokenizer = Processor()
    assert processor.tokenizer == "tokenizer"


def test_tiny_has_all_and_hints():
    from epvlm import loading, tiny

    assert sorted(tiny.__all__) == sorted(
        [
            "MODEL_TYPES",
            "HasTokenizer",
            "mrope_section",
            "save_tiny_checkpoint",
            "tiny_config",
            "tiny_model",
        ]
    )
    for name in tiny.__all__:
        assert hasattr(tiny, name)
    params = inspect.signature(tiny.tiny_config).parameters
    assert params["processor"].annotation != inspect.Parameter.empty
    sig = inspect.signature(loading.load_pretrained_model)
    assert sig.return_annotation == "EPModel"
