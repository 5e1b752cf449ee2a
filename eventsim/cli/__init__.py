"""The ``eventsim`` command. Each subcommand lives in its own module with a ``main(argv)``
function that returns an exit status, so commands are tested in-process and imports stay lazy
(``eventsim info`` never imports torch)."""

from __future__ import annotations

import importlib
import sys

from eventsim._version import __version__

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("eventsim.cli.info", "summarise an event file or a built dataset"),
    "convert": ("eventsim.cli.convert", "convert between event file formats"),
    "simulate": ("eventsim.cli.simulate", "simulate DVS events from video, frames or images"),
    "render": ("eventsim.cli.render", "render events to PNG, a PNG folder, MP4 or GIF"),
    "plot": ("eventsim.cli.plot", "summary plot of an event file (needs eventsim[viz])"),
    "build": ("eventsim.cli.build", "build an event-VQA dataset from a recipe"),
    "verify": ("eventsim.cli.verify", "re-check a built dataset's checksums and events"),
    "demo": ("eventsim.cli.demo", "end-to-end EP-VLM demo on the built-in data"),
}


def _usage() -> str:
    width = max(len(n) for n in COMMANDS)
    lines = [
        "usage: eventsim [--version] COMMAND [ARGS ...]",
        "",
        "commands:",
        *(f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()),
        "",
        "Run 'eventsim COMMAND --help' for a command's options.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] == "--version":
        print(f"eventsim {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(
            f"eventsim: error: unknown command {name!r}; valid commands: {', '.join(COMMANDS)}",
            file=sys.stderr,
        )
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return module.main(rest)


if __name__ == "__main__":
    sys.exit(main())
