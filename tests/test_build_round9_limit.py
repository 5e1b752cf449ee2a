"""`build_dataset(limit=0)` built an empty dataset while `eventsim build --limit 0` is refused:
the library refuses it too, as the CLI does."""

from __future__ import annotations

import pytest

from eventsim.datasets import build_dataset
from eventsim.errors import ParameterError

from user_media import small_recipe


@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_below_one_is_refused_naming_it(tmp_path, limit):
    recipe = small_recipe(tmp_path, "shapes", "2", name="r9")
    out = tmp_path / "ds"
    with pytest.raises(ParameterError, match=rf"limit = {limit}; expected an integer >= 1"):
        build_dataset(recipe, out, limit=limit, progress=False)
    # refused before the output folder was made
    assert not out.exists()


def test_a_limit_of_one_builds_one_sample(tmp_path):
    recipe = small_recipe(tmp_path, "shapes", "2", name="r9")
    assert build_dataset(recipe, tmp_path / "ds", limit=1, progress=False).samples == {"test": 1}
