"""The ``eventsim`` command. Each subcommand lives in its own module with a ``main(argv)``
function that returns an exit status, so commands are tested in-process and imports stay lazy
(``eventsim info`` never imports torch)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping

from eventsim import __version__
from eventsim._gc import defer_collection

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("eventsim.cli.info", "summarise an event file or a built dataset"),
    "convert": ("eventsim.cli.convert", "convert between event file formats"),
    "simulate": ("eventsim.cli.simulate", "simulate DVS events from video, frames or images"),
    "render": ("eventsim.cli.render", "render events to PNG, a PNG folder, MP4 or GIF"),
    "plot": ("eventsim.cli.plot", "summary plot of an event file (needs eventsim[viz])"),
    "build": ("eventsim.cli.build", "build an event-VQA dataset from a recipe"),
    "verify": ("eventsim.cli.verify", "re-check a built dataset's checksums and events"),
}

# former commands -> the command line that replaced them, named by the unknown-command error
MOVED = {"demo": "epvlm demo"}


def run_script(
    prog: str,
    version: str,
    commands: Mapping[str, tuple[str | Callable[[list[str]], int], str]],
    argv: list[str] | None,
    moved: dict[str, str] | None = None,
) -> int:
    """A script's ``main``: dispatch the command, and turn a Ctrl-C into one line and status 130
    (shared by the ``eventsim`` and ``epvlm`` scripts)."""
    status: int | None = None
    try:
        # imported here, inside the try: a Ctrl-C at start-up is one line too, not a traceback
        from eventsim.cli.common import dispatch, exit_now, prepare_script_exit

        if argv is None:
            defer_collection()
        status = dispatch(prog, version, commands, argv, moved=moved)
        if argv is None:
            prepare_script_exit()
            exit_now(status)
        return status
    except KeyboardInterrupt:
        if status is not None:  # the command has finished and said its last line
            return status
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    return run_script("eventsim", __version__, COMMANDS, argv, moved=MOVED)


if __name__ == "__main__":
    sys.exit(main())
