"""Second review of resumable `epvlm eval`, the shard digest cache and the CLI changes since
3aa5082: each test failed before its fix."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_epvlm_resume import (
    ANSWERS,
    N_SAMPLES,
    Calls,
    _argv,
    _assert_same_results,
    _interrupted,
    _run,
)

from epvlm.results import PARTIAL_ANSWERS, PARTIAL_STATE


@pytest.fixture(scope="module")
def built(tmp_path_factory, eval_setup):
    return eval_setup(tmp_path_factory.mktemp("review2"), N_SAMPLES)


def _ctrl_c_as_line_is_written(monkeypatch, line: int) -> None:
    """A Ctrl-C arrives while the ``line``-th line of `PARTIAL_ANSWERS` is flushed to the disk
    (where `PartialAnswers.append` holds it back until the line is whole)."""
    fsync = os.fsync
    seen = [0]

    def fsync_then_ctrl_c(fd: int) -> None:
        fsync(fd)
        if os.readlink(f"/proc/self/fd/{fd}").endswith(PARTIAL_ANSWERS):
            seen[0] += 1
            if seen[0] == line:
                signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(os, "fsync", fsync_then_ctrl_c)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
@pytest.mark.parametrize(("line", "kept"), [(1, 2), (3, 6)])
def test_a_ctrl_c_while_answers_are_written_counts_them_as_kept(
    built, tmp_path, capsys, monkeypatch, line, kept
):
    """The answers of the line being written are kept: the message counts them, and for the
    first line it said "partial outputs removed" although the folder stayed."""
    _, ds, model, _ = built
    out = tmp_path / "out"
    _ctrl_c_as_line_is_written(monkeypatch, line)
    rc, err = _run(capsys, _argv(model, ds, out))
    monkeypatch.undo()
    assert rc == 130 and len(err) == 1, err
    assert f"interrupted; {kept} of {ANSWERS} answers kept in {str(out)!r}" in err[0]
    lines = (out / PARTIAL_ANSWERS).read_text().splitlines()
    assert sum(len(json.loads(ln)["answers"]) for ln in lines) == kept
    rc, err = _run(capsys, _argv(model, ds, out))
    assert rc == 0 and err[0].startswith(f"resuming: {kept} of {ANSWERS} answers done"), err


@pytest.mark.parametrize("existing", [False, True])
def test_an_interrupted_demo_does_not_claim_kept_answers(
    build_shapes, tmp_path, capsys, monkeypatch, existing
):
    """The demo removes its evaluation's answers on Ctrl-C (it starts over every time): it
    said "N of M answers kept ...; the same call resumes"."""
    ds = build_shapes(4)
    out = tmp_path / "demo"
    if existing:
        out.mkdir()
        (out / "mine.txt").write_text("keep me")
    Calls(monkeypatch, stop_after=2)
    argv = ["demo", "-o", str(out), "--dataset", str(ds), "--limit", "4", "--no-progress"]
    rc, err = _run(capsys, argv)
    monkeypatch.undo()
    assert rc == 130
    # beside the warning that the build is of no target-mode recipe
    assert [ln for ln in err if not ln.startswith("epvlm demo: warning: ")] == [
        "epvlm demo: interrupted; partial outputs removed"
    ], err
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert left == (["mine.txt"] if existing else [])


def test_a_partial_line_whose_selector_is_not_a_name_is_refused(
    built, tmp_path, capsys, monkeypatch
):
    """A hand-edited selector that is a list was an internal error (unhashable type)."""
    _, ds, model, _ = built
    out = tmp_path / "out"
    _interrupted(monkeypatch, capsys, _argv(model, ds, out), steps=1)
    path = out / PARTIAL_ANSWERS
    record = json.loads(path.read_text())
    record["selector"] = [record["selector"]]
    path.write_text(json.dumps(record) + "\n")
    rc, err = _run(capsys, _argv(model, ds, out))
    assert rc == 1 and len(err) == 1, err
    assert "internal error" not in err[0]
    assert "line 1 holds answers this evaluation does not ask for" in err[0]


def test_selectors_and_keeps_given_in_another_order_resume(built, tmp_path, capsys, monkeypatch):
    """The answers do not depend on the order of --selector or --keep, only the output's
    order does: a resume given them in another order (retyped) was refused."""
    _, ds, model, _ = built

    def argv(out: Path, selectors: str, keeps: str) -> list[str]:
        words = _argv(model, ds, out)
        words[words.index("event,random")] = selectors
        words[words.index("0.5")] = keeps
        return words

    reference = tmp_path / "reference"
    assert _run(capsys, argv(reference, "random,event", "0.25,0.5"))[0] == 0
    out = tmp_path / "out"
    _interrupted(monkeypatch, capsys, argv(out, "event,random", "0.5,0.25"), steps=6)
    calls = Calls(monkeypatch)
    rc, err = _run(capsys, argv(out, "random,event", "0.25,0.5"))
    assert rc == 0, err
    assert err[0].startswith("resuming: 12 of 25 answers done"), err
    assert calls.count == 3 * 5 - 6
    _assert_same_results(out, reference)
    assert not (out / PARTIAL_STATE).exists()


def test_no_home_folder_leaves_the_shard_digest_cache_out(build_shapes, tmp_path, monkeypatch):
    """With no home folder known (HOME unset, the user not in the password database) the
    cache folder was '~/.cache/eventsim' relative to the working directory: every process
    reading a dataset made a folder named '~' there."""
    import pwd

    import eventsim.datasets.loader as loader
    from eventsim.datasets import EventVQADataset

    def unknown_user(uid: int) -> pwd.struct_passwd:
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    ds_dir = build_shapes(2)
    for name in ("EVENTSIM_CACHE_DIR", "XDG_CACHE_HOME", "HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pwd, "getpwuid", unknown_user)
    monkeypatch.setattr(loader, "_DIGESTS", {})
    monkeypatch.chdir(tmp_path)
    with EventVQADataset(ds_dir, "test") as ds:
        assert [ds[i]["id"] for i in range(len(ds))]
    assert list(tmp_path.iterdir()) == []
