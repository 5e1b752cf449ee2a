"""A Ctrl-C while the simulator imports torch mid-run (noisy's first step, under `simulate`'s
handler) waited for nothing: raised inside torch's import, whose C++ initialisers call back into
Python, it aborted the process ('terminate called after throwing an instance of
pybind11::error_already_set', exit -6; CI at 5425f72, once). Now it is held until the import
has finished, then raised as usual."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# signals sent on a timer: run one at a time beside the other workers (see the Makefile)
pytestmark = pytest.mark.xdist_group("signals")

SCRIPT = textwrap.dedent(
    """
    import importlib.abc
    import signal
    import sys

    from eventsim.outputs import sigint_flagged
    from eventsim.simulator import core

    class CtrlCDuringImport(importlib.abc.MetaPathFinder):
        # a Ctrl-C in the middle of torch's own imports
        def find_spec(self, name, path, target=None):
            if name == "torch.functional":
                signal.raise_signal(signal.SIGINT)
            return None

    assert "torch" not in sys.modules
    sys.meta_path.insert(0, CtrlCDuringImport())
    with sigint_flagged():
        try:
            core._torch()
            print("not interrupted")
        except KeyboardInterrupt:
            torch = sys.modules.get("torch")
            print("interrupted; torch complete:", hasattr(torch, "Tensor"))
    """
)


def test_a_ctrl_c_during_the_torch_import_is_raised_once_it_has_finished():
    pytest.importorskip("torch")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "interrupted; torch complete: True", done.stdout + done.stderr
