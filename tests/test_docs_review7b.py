"""docs/recipes.md's target-mode example built the recipe's 2,000 train and 250 val samples
besides the 2,000 test ones it seemed to ask for (4,250 in all): it now sets the other splits to 0,
and this runs it (with a smaller test split) to check that it builds a test split only."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from eventsim.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _target_example() -> list[str]:
    text = (ROOT / "docs" / "recipes.md").read_text(encoding="utf-8")
    m = re.search(r"^eventsim build \S+ -o build/target .*?(?=\s+#)", text, re.M | re.S)
    assert m, "docs/recipes.md no longer has the target-mode build example"
    return shlex.split(m[0].replace("\\\n", " "))[2:]


def test_recipes_target_example_builds_a_test_split_only(tmp_path: Path) -> None:
    argv = _target_example()
    assert "splits.train=0" in argv and "splits.val=0" in argv
    argv[0] = str(ROOT / argv[0])
    argv[argv.index("-o") + 1] = str(tmp_path / "target")
    argv[argv.index("splits.test=2000")] = "splits.test=3"
    assert main(["build", *argv]) == 0
    manifest = json.loads((tmp_path / "target" / "dataset.json").read_text())
    assert {k: v["samples"] for k, v in manifest["splits"].items()} == {
        "train": 0,
        "val": 0,
        "test": 3,
    }
