"""`epvlm eval`'s resume state records Python's version (major.minor) beside epvlm's, torch's
and transformers': a resume under another minor Python (another environment) is refused naming
it, as one under another torch is; one under another patch release of it (the same environment,
the same answers) goes on. A state written before it was recorded is refused too, saying so:
which Python made its answers is not known."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import pytest

import epvlm.evaluate
from epvlm.cli import main
from epvlm.results import PARTIAL_ANSWERS, PARTIAL_STATE, state_digest

N_SAMPLES = 3
BATCH = 2


@pytest.fixture(scope="module")
def built(tmp_path_factory, eval_setup):
    return eval_setup(tmp_path_factory.mktemp("epvlm-python-version"), N_SAMPLES)


def _argv(model: Path, ds: Path, out: Path) -> list[str]:
    return ["eval", "--model", str(model), "--dataset", str(ds), "--keep", "0.5",
            "--selector", "event", "--batch-size", str(BATCH), "--no-progress",
            "-o", str(out)]  # fmt: skip


def _run(capsys, argv: list[str]) -> tuple[int, list[str]]:
    rc = main(argv)
    lines = capsys.readouterr().err.splitlines()
    return rc, [ln for ln in lines if ln.strip() and "scored wrong; e.g." not in ln]


def _interrupted(monkeypatch, capsys, argv: list[str]) -> None:
    """Runs ``argv`` stopped by a Ctrl-C after its first batch x configuration step."""
    answer = epvlm.evaluate.answer_selections
    calls: list[int] = []

    def once(*args, **kwargs):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return answer(*args, **kwargs)

    monkeypatch.setattr(epvlm.evaluate, "answer_selections", once)
    rc, err = _run(capsys, argv)
    monkeypatch.undo()
    assert rc == 130, err


def _versions_with(**changed: str):
    versions = epvlm.evaluate.run_versions

    def run_versions() -> dict[str, str]:
        return {**versions(), **changed}

    return run_versions


def test_the_state_records_pythons_version(built, tmp_path, capsys, monkeypatch):
    _, ds, model, _ = built
    out = tmp_path / "out"
    _interrupted(monkeypatch, capsys, _argv(model, ds, out))
    state = json.loads((out / PARTIAL_STATE).read_text())
    minor = ".".join(platform.python_version_tuple()[:2])
    assert state["settings"]["versions"]["python"] == minor


@pytest.mark.parametrize(
    ("key", "other"), [("python", "2.7.18"), ("torch", "0.4.1"), ("transformers", "2.0.0")]
)
def test_a_resume_under_another_python_is_refused_as_under_another_torch(
    built, tmp_path, capsys, monkeypatch, key, other
):
    _, ds, model, _ = built
    out = tmp_path / "out"
    _interrupted(monkeypatch, capsys, _argv(model, ds, out))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    was = epvlm.evaluate._resume_versions()[key]
    monkeypatch.setattr(epvlm.evaluate, "run_versions", _versions_with(**{key: other}))
    rc, err = _run(capsys, _argv(model, ds, out))
    assert rc == 1 and len(err) == 1, err
    assert err[0].startswith(f"epvlm eval: error: {str(out)!r} holds an unfinished evaluation")
    now = "2.7" if key == "python" else other
    assert f"versions {key!r} was {was!r}, now {now!r}" in err[0], err[0]
    assert err[0].endswith("pass --force to start over")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_resume_under_another_patch_release_of_python_goes_on(
    built, tmp_path, capsys, monkeypatch
):
    # 3.11.7 to 3.11.8 keeps the environment: an hours-long run is not thrown away for it
    _, ds, model, _ = built
    out = tmp_path / "out"
    _interrupted(monkeypatch, capsys, _argv(model, ds, out))
    patch = ".".join(platform.python_version_tuple()[:2]) + ".99"
    monkeypatch.setattr(epvlm.evaluate, "run_versions", _versions_with(python=patch))
    rc, err = _run(capsys, _argv(model, ds, out))
    assert rc == 0, err
    rows = json.loads((out / "results.json").read_text())
    # the rows name the Python that finished the run, in full
    assert {r["versions"]["python"] for r in rows} == {patch}


def _without_python(out: Path) -> None:
    """Rewrite ``out``'s partial files as a version that did not record Python wrote them."""
    state = json.loads((out / PARTIAL_STATE).read_text())
    del state["settings"]["versions"]["python"]
    (out / PARTIAL_STATE).write_text(json.dumps(state, indent=1) + "\n")
    lines = [json.loads(ln) for ln in (out / PARTIAL_ANSWERS).read_text().splitlines()]
    digest = state_digest(state)
    text = "".join(json.dumps({**ln, "state": digest}) + "\n" for ln in lines)
    (out / PARTIAL_ANSWERS).write_text(text)


def test_a_state_that_did_not_record_python_is_refused(built, tmp_path, capsys, monkeypatch):
    _, ds, model, _ = built
    out = tmp_path / "out"
    _interrupted(monkeypatch, capsys, _argv(model, ds, out))
    _without_python(out)
    rc, err = _run(capsys, _argv(model, ds, out))
    assert rc == 1 and len(err) == 1, err
    minor = ".".join(platform.python_version_tuple()[:2])
    # "not recorded", not "was None": the old state lacks the field
    assert f"versions 'python' was not recorded, now {minor!r}" in err[0], err[0]
    # the version that wrote it is named first where it differs, as it does after an upgrade
    monkeypatch.setattr(epvlm.evaluate, "run_versions", _versions_with(epvlm="99.0"))
    rc, err = _run(capsys, _argv(model, ds, out))
    assert rc == 1 and len(err) == 1, err
    assert "(versions 'epvlm' was " in err[0] and "now '99.0'" in err[0], err[0]
    # --force starts over under this Python
    monkeypatch.undo()
    assert main([*_argv(model, ds, out), "--force"]) == 0
    capsys.readouterr()
    assert (out / "results.json").is_file()
