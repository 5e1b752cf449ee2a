import subprocess
import sys

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
