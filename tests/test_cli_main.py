import subprocess
import sys

import pytest

from eventsim import __version__
from eventsim.cli import COMMANDS, main


def test_version_and_help(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"eventsim {__version__}"
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)
    assert main([]) == 2


def test_unknown_command_lists_valid_ones(capsys):
    assert main(["simulte"]) == 2
    err = capsys.readouterr().err
    assert "'simulte'" in err and "simulate" in err


def test_every_command_has_help(capsys):
    for name in COMMANDS:
        assert main([name, "--help"]) == 0, name
        assert f"eventsim {name}" in capsys.readouterr().out


def test_import_stays_light():
    code = (
        "import sys, eventsim, eventsim.cli, eventsim.cli.info; "
        "heavy = {'torch', 'transformers', 'matplotlib'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_console_script_exits_nonzero_on_error(tmp_path):
    missing = tmp_path / "missing.h5"
    proc = subprocess.run(
        [sys.executable, "-m", "eventsim", "info", str(missing)], capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert "missing.h5" in proc.stderr and proc.stderr.count("\n") == 1


def test_demo_moved_to_epvlm(capsys):
    assert "demo" not in COMMANDS
    assert main(["demo"]) == 2
    assert "epvlm demo" in capsys.readouterr().err


def test_eventsim_never_imports_epvlm():
    import ast
    from pathlib import Path

    import eventsim

    root = Path(eventsim.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "epvlm"]
    assert offenders == []


_EXIT_NOW = """
import atexit, sys, threading
from pathlib import Path
from eventsim.cli.common import exit_now
atexit.register(lambda: Path(sys.argv[1]).write_text("atexit ran"))
if sys.argv[2] == "thread":
    gate = threading.Event()
    threading.Thread(target=gate.wait).start()
    exit_now(3)
    print("returned", end="")
    gate.set()
    sys.exit(4)
sys.stdout.write("buffered, never flushed")
exit_now(3)
print("not reached")
"""


@pytest.mark.parametrize(
    ("case", "status", "stdout"),
    [
        # output still buffered at the exit is written, atexit handlers run, the status is kept
        ("plain", 3, "buffered, never flushed"),
        # a non-daemon thread still running: the normal exit, which waits for it
        ("thread", 4, "returned"),
    ],
)
def test_exit_now(tmp_path, case, status, stdout):
    marker = tmp_path / "marker"
    proc = subprocess.run(
        [sys.executable, "-c", _EXIT_NOW, str(marker), case], capture_output=True, text=True
    )
    assert (proc.returncode, proc.stdout) == (status, stdout)
    assert marker.read_text() == "atexit ran"


def test_profiling_a_command_still_writes_the_profile(tmp_path):
    out = tmp_path / "cli.prof"
    proc = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "eventsim", "--version"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0


def test_console_script_output_survives_the_fast_exit(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "eventsim", "--version"], capture_output=True, text=True
    )
    assert (proc.returncode, proc.stdout.strip()) == (0, f"eventsim {__version__}")
