"""I/O second look 7, part 3: errors that cross process boundaries.

A dataset build's worker (a `ProcessPoolExecutor` under spawn/forkserver, or dask) hands its
error to the parent pickled. Exception's own pickling rebuilds an error from its message alone,
which `MissingDependencyError.__init__` (package, extra, feature) cannot take: unpickling failed
in the parent's result thread, and the build reported "a build worker process died" instead of
the package to install.
"""

from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import pytest

from eventsim.errors import ArgumentValueError, MissingDependencyError


def _raise_missing(_: int) -> None:
    raise MissingDependencyError("pyarrow", "parquet", "reading parquet VQA files")


def test_missing_dependency_error_survives_pickling():
    exc = MissingDependencyError("pyarrow", "parquet", "reading parquet VQA files")
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is MissingDependencyError
    assert str(back) == str(exc)
    assert (back.package, back.extra, back.feature) == ("pyarrow", "parquet", exc.feature)


def test_a_worker_s_missing_dependency_reaches_the_parent_as_itself():
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        with pytest.raises(MissingDependencyError, match=r"install it with: pip install"):
            pool.submit(_raise_missing, 0).result()


@pytest.mark.parametrize(
    "exc",
    [
        ArgumentValueError("time_unit", "ns", " does not apply to DSEC-layout files (µs)"),
        MissingDependencyError("faery", "formats", "reading .raw files"),
    ],
)
def test_notes_added_to_an_error_survive_pickling(exc):
    exc.add_note("shard 3 of 'train'")
    back = pickle.loads(pickle.dumps(exc))
    assert str(back) == str(exc)
    assert back.__notes__ == ["shard 3 of 'train'"]
