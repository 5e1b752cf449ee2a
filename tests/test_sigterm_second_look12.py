"""Second look at SIGTERM handling (686514f).

- A signal landing while `sigint_flagged` put the caller's handlers back cut that short: our
  handler stayed as SIGTERM's after the command, so a later SIGTERM raised KeyboardInterrupt
  in the caller's program instead of ending it or reaching its own handler.
- A SIGTERM landing while `sigint_deferred` replaced the handlers (after SIGINT's) left its
  catcher as SIGINT's: every later Ctrl-C of the command was swallowed.
- A program that ran a command with a SIGTERM handler of its own (a batch job's
  checkpoint-and-stop) never heard of a SIGTERM the command took, and carried on after it.
- An interrupted render or plot left the folder it had made for its output.
"""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest

from eventsim import outputs
from eventsim.cli.common import cli_command, make_parser

# signals sent on a timer: run one at a time beside the other workers (see the Makefile)
pytestmark = pytest.mark.xdist_group("signals")


@pytest.fixture
def heard():
    """A SIGTERM handler of the test's own, as a batch job's program has: the signals it got."""
    got: list[int] = []

    def handler(signum, frame):
        got.append(signum)

    before = signal.signal(signal.SIGTERM, handler)
    yield got
    signal.signal(signal.SIGTERM, before)


def _sigterm_when(monkeypatch, lands) -> None:
    """SIGTERM lands just as ``signal.signal`` is called with arguments that ``lands`` accepts:
    the handler in place then takes it before the new one is installed, as CPython's
    signal.signal runs pending handlers first."""
    real = signal.signal
    fired: list[int] = []

    def racing(signum, handler):
        if not fired and lands(signum, handler):
            fired.append(signum)
            signal.raise_signal(signal.SIGTERM)
        return real(signum, handler)

    monkeypatch.setattr(signal, "signal", racing)


def test_a_sigterm_while_the_handlers_are_put_back_leaves_none_of_ours(monkeypatch, heard):
    caller = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), outputs.sigint_flagged():
        # leaving the block puts SIGINT's handler back, then SIGTERM's: it lands then
        _sigterm_when(monkeypatch, lambda signum, handler: signum == signal.SIGTERM)
    monkeypatch.undo()
    assert outputs.terminated()
    assert signal.getsignal(signal.SIGTERM) is caller
    assert heard == [signal.SIGTERM]


def test_a_sigterm_while_sigint_deferred_sets_up_leaves_ctrl_c_taken(monkeypatch):
    with outputs.sigint_flagged():
        _sigterm_when(
            monkeypatch,
            lambda signum, handler: signum == signal.SIGTERM and handler is not outputs._on_sigint,
        )
        with pytest.raises(KeyboardInterrupt), outputs.sigint_deferred():
            pytest.fail("the block ran although SIGTERM came first")
        monkeypatch.undo()
        assert outputs.terminated()
        assert signal.getsignal(signal.SIGINT) is outputs._on_sigint
        assert signal.getsignal(signal.SIGTERM) is outputs._on_sigint


def test_a_callers_sigterm_handler_hears_of_the_sigterm_a_command_took(heard, capsys):
    steps: list[str] = []

    def run(args):
        with outputs.sigint_deferred():
            signal.raise_signal(signal.SIGTERM)
            # held back: the caller's handler must not run within the command
            assert heard == []
        steps.append("not reached")

    main = cli_command(lambda: make_parser("demo-cmd", "test"))(run)
    assert main([]) == 143
    assert steps == []
    assert heard == [signal.SIGTERM]
    assert capsys.readouterr().err.startswith("eventsim demo-cmd: terminated (SIGTERM); ")
    # nothing more: a command without SIGTERM does not call it
    assert cli_command(lambda: make_parser("demo-cmd", "test"))(lambda args: None)([]) == 0
    assert heard == [signal.SIGTERM]


@pytest.fixture(scope="module")
def events_file(tmp_path_factory) -> Path:
    """A third of a second of events: several 30 fps frames."""
    from eventsim.events import EVENT_DTYPE
    from eventsim.io import write_events

    n = 3000
    rng = np.random.default_rng(0)
    ev = np.empty(n, EVENT_DTYPE)
    ev["x"] = rng.integers(0, 64, n)
    ev["y"] = rng.integers(0, 48, n)
    ev["t"] = np.sort(rng.integers(0, 330_000, n))
    ev["p"] = rng.integers(0, 2, n)
    path = tmp_path_factory.mktemp("second-look12-events") / "ev.h5"
    write_events(path, ev, (64, 48))
    return path


@pytest.mark.parametrize(
    ("name", "signum"),
    [("v.mp4", signal.SIGINT), ("frames", signal.SIGTERM), ("one.png", signal.SIGTERM)],
)
def test_a_stopped_render_removes_the_folders_it_made(
    tmp_path, events_file, monkeypatch, capsys, heard, name, signum
):
    from eventsim.cli.render import main
    from eventsim.render import writers

    write = writers.FrameSink.write

    def stopped_at_the_second(self, frame, *window):
        if self.n_frames == 1 or isinstance(self, writers.PngSink):
            signal.raise_signal(signum)
        write(self, frame, *window)

    monkeypatch.setattr(writers.FrameSink, "write", stopped_at_the_second)
    out = tmp_path / "a" / "b" / name
    status = main([str(events_file), "-o", str(out), "-q"])
    assert status == (143 if signum == signal.SIGTERM else 130), capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_stopped_plot_removes_the_folders_it_made(tmp_path, events_file, monkeypatch, heard):
    from eventsim.cli.plot import main
    from eventsim.render import summary

    def stopped(path):
        # the figure is saved to its temporary in the folder made for it
        signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(summary, "fsync_file", stopped)
    out = tmp_path / "a" / "b" / "p.png"
    assert main([str(events_file), "-o", str(out), "--no-progress"]) == 143
    assert list(tmp_path.iterdir()) == []
