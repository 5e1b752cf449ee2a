"""Round 12: what produced a results.json, and the τ labels of the quantile plot.

- `epvlm eval` stored ``model`` and ``dataset`` as typed (relative to the shell's folder) and
  nothing of the versions, the model files, the data's digest, ``--limit``, the split's size or
  the torch threads the latencies depend on; table.md said "n=2" of a 24-question split. The
  rows now carry them (the paths resolved, as given beside), and table.md and the demo's
  report.md name the resolved paths and "n of N (limit L)".
- Under ``--rule quantile`` the points of one keep stand in one column (the matched baselines
  keep event's count): their τ labels lay over each other and over the lines. A column now has
  one label, in a strip above 100 %; the other labels avoid the data where they can; the title
  names the rule.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import pytest

from epvlm.results import aggregate, results_table

KEEPS = (0.75, 0.5, 0.25)
N = 24


# ----------------------------------------------------------------------------- results.json


@pytest.fixture(scope="module")
def built(tmp_path_factory, eval_setup):
    return eval_setup(tmp_path_factory.mktemp("provenance"), 3)


def test_eval_records_what_produced_its_results(built, monkeypatch, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import torch

    from epvlm.cli import main
    from epvlm.evaluate import model_files_fingerprint
    from eventsim.datasets import read_manifest

    root, ds_dir, model_dir, _ = built
    shell = root / "shell" / "deeper"
    shell.mkdir(parents=True)
    monkeypatch.chdir(shell)
    model_arg = os.path.relpath(model_dir, shell)
    dataset_arg = os.path.relpath(ds_dir, shell) + "/"
    threads = torch.get_num_threads()
    try:
        argv = ["eval", "--model", model_arg, "--dataset", dataset_arg, "--keep", "0.5",
                "--selector", "event", "--limit", "2", "--threads", "1", "--no-progress",
                "-o", "orel"]  # fmt: skip
        assert main(argv) == 0
    finally:
        torch.set_num_threads(threads)  # --threads sets them for the whole process
    capsys.readouterr()
    out = shell / "orel"
    rows = json.loads((out / "results.json").read_text(encoding="utf-8"))
    manifest = read_manifest(ds_dir)
    for row in rows:
        assert row["model"] == str(model_dir.resolve())
        assert row["model_given"] == model_arg
        assert row["model_files"] == model_files_fingerprint(model_dir)
        assert "config.json" in row["model_files"]
        assert row["dataset"] == str(ds_dir.resolve())
        assert row["dataset_given"] == dataset_arg
        digest = row["dataset_digest"]
        assert digest["samples_sha256"] == manifest["samples_sha256"]
        shards = [e["file"] for e in manifest["shards"] if e["split"] == "test"]
        assert shards and all(digest[f] for f in shards)
        assert (row["split"], row["split_questions"], row["limit"], row["questions"]) == (
            "test", 3, 2, 2,
        )  # fmt: skip
        assert row["n"] == 2
        assert row["threads"] == 1
        assert (row["device"], row["dtype"]) == ("cpu", "float32")
        versions = row["versions"]
        assert set(versions) == {"epvlm", "torch", "transformers", "python"}
        assert versions["python"] == platform.python_version()
        assert versions["torch"] == torch.__version__
    table = (out / "table.md").read_text(encoding="utf-8")
    title = table.splitlines()[0]
    assert title.endswith(", n=2 of 3 (limit 2)"), title
    assert f"dataset {ds_dir.resolve()}, split test: 2 of 3 questions (limit 2)" in table
    assert f"Model {model_dir.resolve()};" in table
    assert "1 torch CPU thread;" in table and f"python {platform.python_version()}" in table
    # the resume state that held these until now is gone, as before
    assert not (out / "partial-state.json").exists()


def _old_rows() -> list[dict]:
    """Rows as 0.2.7 wrote them: the settings of that version, paths as typed."""
    samples = [
        {"id": f"q{i}", "selector": sel, "keep": keep, "correct": i % 3 != 0, "flops": f,
         "latency_s": 0.1, "kept_tokens": 64, "total_tokens": 64, "question_type": "color",
         "target_motion": "moving"}
        for sel, keep, f in (("dense", 1.0, 1000), ("event", 0.5, 600))
        for i in range(6)
    ]  # fmt: skip
    rows = json.loads(json.dumps(aggregate(samples, bootstrap=False)))
    old = {"model": "../../x/shapes-demo-tiny", "dataset": "./ds/", "split": "test",
           "window_ms": 20.0, "dataset_window_ms": 20.0, "rule": "topk",
           "baseline_tokens": "keep", "event_mode": "count", "device": "cpu",
           "dtype": "float32", "batch_size": 16, "seed": 0, "max_new_tokens": 4}  # fmt: skip
    for r in rows:
        r.update(old)
    return rows


def test_results_of_0_2_7_still_tabulate_plot_and_report(tmp_path):
    pytest.importorskip("matplotlib")
    from epvlm.demo.analysis import summarize
    from epvlm.demo.report import write_report
    from epvlm.results import plot_accuracy_vs_flops

    rows = _old_rows()
    assert results_table(rows).count("\n|") == len(rows) + 1
    assert plot_accuracy_vs_flops(rows, tmp_path / "p.png", "old").is_file()
    samples = [
        {"id": f"q{i}", "selector": "dense", "keep": 1.0, "correct": True, "flops": 1,
         "latency_s": 0.1, "kept_tokens": 64, "total_tokens": 64, "question_type": "color",
         "target_motion": "moving"}
        for i in range(4)
    ]  # fmt: skip
    report = write_report(
        tmp_path / "report.md", summarize(samples), model_dir=tmp_path, dataset_dir=tmp_path,
        command="epvlm demo", timings={}, previews=[], model_info={}, settings=rows[0],
    )  # fmt: skip
    text = report.read_text(encoding="utf-8")
    assert "split `test`: 4 questions;" in text
    assert "- Software:" not in text


# ----------------------------------------------------------------------------- report.md


def test_demo_report_names_the_resolved_data_and_how_many_of_the_split(tmp_path, monkeypatch):
    from demo_answers import demo_samples

    from epvlm.demo.analysis import summarize
    from epvlm.demo.report import write_report

    (tmp_path / "ds").mkdir()
    (tmp_path / "model").mkdir()
    monkeypatch.chdir(tmp_path)
    summary = summarize(
        demo_samples({("dense", 1.0): {"moving": [1, 0]}, ("event", 0.5): {"moving": [1, 1]}})
    )
    settings = {"split_questions": 24, "limit": 2, "threads": 1,
                "versions": {"epvlm": "9.9", "torch": "2.x", "transformers": "4.x",
                             "python": "3.x"}}  # fmt: skip
    text = write_report(
        tmp_path / "report.md", summary, model_dir=Path("model"), dataset_dir=Path("ds"),
        command="epvlm demo", timings={}, previews=[], model_info={}, settings=settings,
    ).read_text(encoding="utf-8")  # fmt: skip
    assert (
        f"- Data: `{(tmp_path / 'ds').resolve()}`, split `test`: 2 of 24 questions (limit 2);"
        in text
    )
    assert f"- Model: `{(tmp_path / 'model').resolve()}` (" in text
    assert (
        "- Software: epvlm 9.9, torch 2.x, transformers 4.x, python 3.x; 1 torch CPU thread" in text
    )
    settings["limit"] = None
    settings["split_questions"] = 2
    text = write_report(
        tmp_path / "report.md", summary, model_dir=Path("model"), dataset_dir=Path("ds"),
        command="epvlm demo", timings={}, previews=[], model_info={}, settings=settings,
    ).read_text(encoding="utf-8")  # fmt: skip
    assert "split `test`: 2 of 2 questions (limit none);" in text


# ----------------------------------------------------------------------------- the plot


def _quantile_rows(rule: str = "quantile") -> list[dict]:
    """Dense, event, edges, random, downsample and center at ``KEEPS`` over ``N`` questions:
    the matched selectors' FLOPs one or two thousandths apart at each keep (85-99 % of
    dense, as where most blocks saw no event), edges' spread out by its own count."""
    samples = []
    for s, sel in enumerate(("dense", "event", "edges", "random", "downsample", "center")):
        for keep in (1.0,) if sel == "dense" else KEEPS:
            for i in range(N):
                if sel == "dense":
                    flops = 1000
                elif sel == "edges":
                    flops = int(1000 * (0.2 + 0.8 * keep))
                else:
                    flops = int(1000 * (0.83 + 0.16 * keep)) + (i + s) % 3
                samples.append(
                    {
                        "id": f"q{i:02d}",
                        "selector": sel,
                        "keep": keep,
                        "correct": (i * 7 + s * 5 + int(keep * 8)) % 10 < 3 + s + int(4 * keep),
                        "flops": flops,
                        "latency_s": 0.1,
                        "kept_tokens": 64,
                        "total_tokens": 64,
                        "question_type": "color",
                        "target_motion": "moving",
                    }
                )
    rows = aggregate(samples, bootstrap=False)
    for r in rows:
        r["rule"] = rule
    return rows


def _drawn(rows, monkeypatch, tmp_path: Path) -> dict:
    pytest.importorskip("matplotlib")
    import numpy as np
    from matplotlib.figure import Figure

    from epvlm.results import plot_accuracy_vs_flops

    seen: dict = {}
    save = Figure.savefig

    def keep_figure(fig, *args, **kwargs):
        save(fig, *args, **kwargs)
        renderer = fig.canvas.get_renderer()
        ax = fig.axes[0]
        seen["labels"] = [(t.get_text(), t.get_window_extent(renderer)) for t in ax.texts]
        seen["legend"] = ax.get_legend().get_window_extent(renderer)
        # the figure's title (over the figure, wrapped to it: an axes' one ran off its edge)
        seen["title"] = fig.get_suptitle()
        seen["title_box"] = fig._suptitle.get_window_extent(renderer)
        seen["axes"] = ax.get_window_extent(renderer)
        seen["ylim"] = ax.get_ylim()
        seen["y100"] = ax.transData.transform((0, 100))[1]
        seen["markers"] = np.concatenate(
            [
                ax.transData.transform(np.column_stack(line.get_data()).astype(float))
                for line in ax.get_lines()
                if line.get_marker() not in (None, "None", "", "_") and len(line.get_xdata())
            ]
        )

    monkeypatch.setattr(Figure, "savefig", keep_figure)
    plot_accuracy_vs_flops(rows, tmp_path / "plot.png", title="epvlm eval: tiny on ds/test")
    return seen


def test_quantile_plot_labels_one_column_once_and_overprint_nothing(monkeypatch, tmp_path):
    seen = _drawn(_quantile_rows(), monkeypatch, tmp_path)
    labels = seen["labels"]
    texts = sorted(text for text, _ in labels)
    # one label per column (event, random, downsample, center at one keep) and one per edges
    # point, which keeps its own count
    assert texts == sorted(["τ=0.75", "τ=0.5", "τ=0.25"] * 2), texts
    boxes = [box for _, box in labels]
    for i, (text, box) in enumerate(labels):
        assert not any(box.overlaps(other) for other in boxes[i + 1 :]), text
        assert not box.overlaps(seen["legend"]), text
        assert not box.overlaps(seen["title_box"]), text
        assert seen["axes"].contains(box.x0, box.y0) and seen["axes"].contains(box.x1, box.y1)
        assert not box.count_contains(seen["markers"]), f"{text} covers a marker"
    # the column labels sit above 100 %, out of reach of any point or bar
    columns = [box for box in boxes if box.y0 > seen["y100"]]
    assert len(columns) == 3
    assert seen["ylim"][1] > 100
    assert seen["title"].splitlines() == [
        "epvlm eval: tiny on ds/test",
        "keep rule quantile: random, center, downsample keep event's count",
    ]


def test_topk_plot_names_its_rule_and_keeps_labels_beside_points(monkeypatch, tmp_path):
    seen = _drawn(_quantile_rows("topk"), monkeypatch, tmp_path)
    assert seen["title"].splitlines()[1] == "keep rule topk: every selector keeps τ of the tokens"
    assert seen["ylim"] == (-2, 102)  # no strip of column labels
    boxes = [box for _, box in seen["labels"]]
    assert boxes and not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_tau_columns_group_one_keep_at_one_flops():
    from epvlm.results import tau_columns

    points = [
        (85.0, 50.0, 0.25), (85.1, 60.0, 0.25),  # a column of 0.25
        (40.0, 50.0, 0.25),  # edges at 0.25 elsewhere: no column
        (90.0, 55.0, 0.5),  # alone at 0.5
        (99.95, 70.0, 0.75), (100.0, 65.0, 0.75), (100.0, 65.0, 0.9), (100.0, 75.0, 0.9),
    ]  # fmt: skip
    columns = tau_columns(points)
    assert [members for _, members in columns] == [[0, 1], [4, 5, 6, 7]]
    assert columns[0][0] == pytest.approx(85.05)
    # one point drawn twice (two rows at the same place) is not a column
    assert tau_columns([(50.0, 50.0, 0.5), (50.0, 50.0, 0.5)]) == []
