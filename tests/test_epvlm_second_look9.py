"""Second look at the round-9b epvlm walk (9e998d6). `epvlm flops` printed its cells at fixed
widths (12, 14) while fmt_gflops gives a long prompt's parts four decimals and thousands
separators: ``5,319,512.11475,319,232.1122`` ran two columns together. `epvlm run --rule
quantile` said it kept every token "as most blocks saw no event" where a quarter of them had
(keep 0.75: a threshold of 0 needs only a quarter of the blocks at 0); it now counts them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from epvlm.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "epvlm" / "assets" / "shapes-demo-tiny"


def test_flops_columns_widen_to_their_cells(capsys):
    argv = ["flops", "--config", "qwen2.5-vl-7b", "--image-hw", "28", "28", "--keep", "0.01"]
    assert main([*argv, "--text-tokens", "100000", "--new-tokens", "10000"]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = lines[1:-1]
    # every row splits into its name and two cells, each cell apart from the next
    for line in table[1:]:
        name, cells = line[:16].strip(), line[16:].split()
        assert name and len(cells) == 2 and all(cells), line
    llm = next(line for line in table if line.startswith("LLM GFLOPs"))
    assert llm.split()[2:] == ["5,319,512.1147", "5,319,232.1122"]
    # the columns stay right-aligned under their headers
    ends = {len(line) for line in table}
    assert len(ends) == 1, table
    header = table[0]
    assert header.rstrip().endswith("keep 0.01")
    dense_end = header.index("dense") + len("dense")
    assert all(line[dense_end - 1] != " " and line[dense_end] == " " for line in table[1:])


def test_flops_default_table_unchanged(capsys):
    assert main(["flops"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == f"{'':16}{'dense':>12}{'keep 0.5':>14}"
    assert lines[-2] == f"{'total GFLOPs':16}{'2,250.23':>12}{'1,121.59':>14}"


def test_flops_long_keep_header_stays_apart(capsys):
    assert main(["flops", "--keep", "0.99999999"]) == 0
    header = capsys.readouterr().out.splitlines()[1]
    assert header.split() == ["dense", "keep", "0.99999999"]


@pytest.fixture(scope="module")
def spread_files(tmp_path_factory) -> tuple[Path, Path]:
    """A 224x224 image (8x8 tokens) and events over its top-left 168x168 px: 36 of the 64
    blocks see events, 28 none."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import cv2

    from eventsim.events import EVENT_DTYPE
    from eventsim.io import write_events

    root = tmp_path_factory.mktemp("second-look9")
    image = np.full((224, 224, 3), 90, np.uint8)
    image[100:120, 100:120] = (0, 0, 255)
    cv2.imwrite(str(root / "a.png"), image)
    rng = np.random.default_rng(0)
    ev = np.zeros(20_000, EVENT_DTYPE)
    ev["x"] = rng.integers(0, 168, ev.size)
    ev["y"] = rng.integers(0, 168, ev.size)
    ev["t"] = np.sort(rng.integers(450_000, 500_000, ev.size))
    ev["p"] = rng.integers(0, 2, ev.size)
    write_events(root / "ev.npy", ev, sensor_size=(224, 224))
    return root / "a.png", root / "ev.npy"


def test_quantile_reason_counts_the_blocks_without_events(spread_files, capsys):
    image, events = spread_files
    argv = ["run", "--model", str(TINY), "--image", str(image), "--events", str(events)]
    argv += ["--question", "What colour is the coloured object?"]
    assert main([*argv, "--rule", "quantile", "--keep", "0.75"]) == 0
    tokens = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("tokens:"))
    # 28 of 64 blocks at 0 put the 0.25 quantile at 0: all kept, though most saw events
    assert tokens == (
        "tokens: 64 of 64 image tokens kept (event, keep 0.75); --rule quantile keeps every "
        "block scoring at or above its threshold, ties included, so all of them, as 28 of the "
        "64 blocks saw no event"
    )


def test_eval_quantile_note_says_when_every_block_is_kept():
    from epvlm.evaluate import _quantile_note

    note = _quantile_note("quantile", ["dense", "event"])
    # keep 0.75 keeps all where a quarter of the blocks saw none, not only where most did
    assert "where most blocks" not in note
    assert "all of them where more than a 1 - keep share of the blocks saw no event" in note
