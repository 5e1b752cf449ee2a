"""Public CLI plumbing shared by the ``eventsim`` and ``epvlm`` commands.

Both scripts build their subcommands from these pieces, so every command behaves alike:

- `make_parser` returns an argparse parser (``prog`` is ``"PROG COMMAND"``) that raises
  instead of calling ``sys.exit``, so commands run in-process in tests.
- `cli_command` turns ``run(args) -> int | None`` into ``main(argv) -> int``. A usage error
  prints argparse's message and returns `EXIT_USAGE` (2); an `EventsimError` (epvlm's errors
  derive from it) prints one line ``PROG COMMAND: error: ...`` and returns `EXIT_ERROR` (1);
  Ctrl-C returns 130; otherwise the run's status, `EXIT_OK` (0) when it returns ``None``.
- `check_output` refuses to overwrite an existing output unless ``--force`` was given.
- `dispatch` is the top-level ``PROG [--version] COMMAND ARGS``: commands map to a ``main``
  function or the dotted name of a module holding one, imported only when that command runs;
  an unknown command exits 2 listing the valid ones (``moved`` names where it went).
- `parse_sensor_size` and `parse_assignments` read ``WIDTHxHEIGHT`` and ``FIELD=VALUE``.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path

from eventsim.errors import EventsimError, OutputExistsError, ParameterError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of calling sys.exit, so in-process tests see exit codes."""

    def error(self, message: str):  # type: ignore[override]
        raise _UsageError(f"{self.prog}: error: {message}")

    def exit(self, status: int = 0, message: str | None = None):  # type: ignore[override]
        if message:
            print(message, file=sys.stderr, end="")
        raise _ParserExit(status)


class _UsageError(Exception):
    pass


class _ParserExit(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def make_parser(command: str, description: str, prog: str = "eventsim") -> argparse.ArgumentParser:
    """A parser for ``PROG COMMAND`` whose errors reach `cli_command` as exit codes."""
    return _Parser(prog=f"{prog} {command}", description=description)


def cli_command(parser_factory: Callable[[], argparse.ArgumentParser]):
    """Decorate ``run(args) -> int`` into ``main(argv) -> int``.

    Usage errors exit 2; any `EventsimError` prints one line ``eventsim CMD: error: ...`` and
    exits 1; KeyboardInterrupt exits 130.
    """

    def decorate(run: Callable[[argparse.Namespace], int | None]):
        @functools.wraps(run)
        def main(argv: list[str] | None = None) -> int:
            parser = parser_factory()
            try:
                args = parser.parse_args(sys.argv[1:] if argv is None else argv)
            except _UsageError as exc:
                print(exc, file=sys.stderr)
                return EXIT_USAGE
            except _ParserExit as exc:
                return exc.status
            try:
                status = run(args)
            except EventsimError as exc:
                print(f"{parser.prog}: error: {exc}", file=sys.stderr)
                return EXIT_ERROR
            except KeyboardInterrupt:
                print(f"{parser.prog}: interrupted", file=sys.stderr)
                return 130
            return EXIT_OK if status is None else int(status)

        main.build_parser = parser_factory  # type: ignore[attr-defined]
        return main

    return decorate


def check_output(path: str | os.PathLike, force: bool) -> Path:
    """Refuse to overwrite an existing output unless ``force``; create the parent folder."""
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"output {str(path)!r} exists; pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def parse_sensor_size(text: str) -> tuple[int, int]:
    """``'640x480'`` -> ``(640, 480)``."""
    parts = text.lower().replace("*", "x").split("x")
    try:
        width, height = (int(v) for v in parts)
    except ValueError:
        raise ParameterError(f"sensor size {text!r} is not WIDTHxHEIGHT, e.g. 640x480") from None
    if width <= 0 or height <= 0:
        raise ParameterError(f"sensor size {text!r} must be positive, e.g. 640x480")
    return width, height


def parse_assignments(items: list[str] | None) -> dict[str, str]:
    """``['a=1', 'b.c=x']`` -> ``{'a': '1', 'b.c': 'x'}`` for ``--set FIELD=VALUE`` options."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"--set {item!r} is not FIELD=VALUE")
        out[key.strip()] = value.strip()
    return out


def dispatch(
    prog: str,
    version: str,
    commands: dict[str, tuple[str | Callable[[list[str]], int], str]],
    argv: list[str] | None = None,
    moved: dict[str, str] | None = None,
) -> int:
    """Top-level ``PROG COMMAND ARGS`` dispatch shared by the ``eventsim`` and ``epvlm`` scripts.

    ``commands`` maps a name to ``(main, help)``, where ``main`` is a ``main(argv)`` function or
    the dotted name of a module that has one (imported only when that command runs).
    ``moved`` maps a former command name to the command line that replaced it, so the
    unknown-command error can point there.
    """
    import importlib

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        width = max(len(n) for n in commands)
        print(
            "\n".join(
                [
                    f"usage: {prog} [--version] COMMAND [ARGS ...]",
                    "",
                    "commands:",
                    *(f"  {name:<{width}}  {help_}" for name, (_, help_) in commands.items()),
                    "",
                    f"Run '{prog} COMMAND --help' for a command's options.",
                ]
            )
        )
        return EXIT_OK if argv else EXIT_USAGE
    if argv[0] == "--version":
        print(f"{prog} {version}")
        return EXIT_OK
    name, rest = argv[0], argv[1:]
    if name not in commands:
        hint = f"; it moved to '{moved[name]}'" if moved and name in moved else ""
        print(
            f"{prog}: error: unknown command {name!r}{hint}; valid commands: {', '.join(commands)}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    target = commands[name][0]
    if isinstance(target, str):
        target = importlib.import_module(target).main
    return target(rest)
