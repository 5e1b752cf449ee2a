"""Public CLI plumbing shared by the ``eventsim`` and ``epvlm`` commands.

Both scripts build their subcommands from these pieces, so every command behaves alike:

- `make_parser` returns an argparse parser (``prog`` is ``"PROG COMMAND"``) that raises
  instead of calling ``sys.exit``, so commands run in-process in tests; its
  ``unrecognized_hint`` adds a command's word to "unrecognized arguments".
- `cli_command` turns ``run(args) -> int | None`` into ``main(argv) -> int``. A usage error
  prints argparse's message and returns `EXIT_USAGE` (2); an `EventsimError` (epvlm's errors
  derive from it) or an OS error prints one line ``PROG COMMAND: error: ...`` and returns
  `EXIT_ERROR` (1); Ctrl-C returns `EXIT_INTERRUPTED` (130), SIGTERM (a batch system's
  pre-emption, `timeout`) `EXIT_TERMINATED` (143), each after one line that says what was
  kept and how to go on; otherwise the run's status,
  `EXIT_OK` (0) when it returns ``None``.
- `check_output` refuses to overwrite an existing output unless ``--force`` was given and
  creates its missing parent folders, which a command that then fails (error, usage of a bad
  input, Ctrl-C) removes again while they are empty; with ``final=True`` a Ctrl-C after that
  output was published exits 0 and keeps it (the command's work was done).
- `dispatch` is the top-level ``PROG [--version] COMMAND ARGS``: commands map to a ``main``
  function or the dotted name of a module holding one, imported only when that command runs;
  an unknown command exits 2 listing the valid ones (``moved`` names where it went).
- `parse_sensor_size` and `parse_assignments` read ``WIDTHxHEIGHT`` and ``FIELD=VALUE``;
  `path_arg` is the ``type`` of every path argument (an empty one is refused, not read as
  '.'); `check_threads` bounds ``--threads`` by the cores the process may use
  (`threads_problem` words it for an argparse ``type``).
- `add_layout_option` and `add_reading_options` (``--time-unit``, ``--columns``) give the
  commands that read event files one definition of how to read them; `tell_reading` is what
  convert, render and plot say of the file they opened (the reader's notes, a refusal of
  implausible times that `add_implausible_times_option`'s flag lifts), in one wording.
- A value that starts with '-' but cannot be an option (``--sensor-size -5x3``) is given to
  its option, as ``--sensor-size=-5x3`` would be, so the option's own check speaks; one that
  looks like an unknown option (``--on-color -red``) is refused naming the ``=`` spelling.
- `add_refused_option` adds hidden spellings that fail (exit 2) saying what to use instead;
  `add_renamed_option` keeps an old option spelling as a hidden one that fails naming the new;
  `add_unit_option` adds an option named with its unit (``--start-s``) whose unit-less former
  name (``--start``) fails naming it and its unit. Options are not abbreviated (``--star`` is
  refused): a prefix of unit-named options could stand for either unit.
- `show_progress` is the one rule for progress bars: drawn on a terminal, unless
  ``--no-progress``, also spelt ``-q`` and ``--quiet`` (`add_progress_option`).

Library errors speak Python (``pass force=True``); `cli_command` prints them in the CLI's words
(``pass --force``), so one message serves both; `option_words` does so for the event readers'
notes (``pass time_unit='s'`` -> ``pass --time-unit s``).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import io
import os
import re
import sys
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn, Protocol

from eventsim._system import usable_cores
from eventsim.errors import ArgumentValueError, EventsimError, OutputExistsError, ParameterError
from eventsim.outputs import (
    KeptInterrupt,
    check_interrupted,
    check_replaceable,
    describe_os_error,
    expect_final_output,
    final_output_paths,
    finished_outputs,
    interrupted,
    remove_stale_temps,
    sigint_deferred,
    sigint_flagged,
    terminated,
)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
# 128 + SIGTERM, what a shell reports for a process SIGTERM ended
EXIT_TERMINATED = 143
# what a shell reports for a program that SIGPIPE ended (`eventsim info x.h5 | head -1`)
EXIT_BROKEN_PIPE = 141
# the folders that `check_output` created for the running command's outputs, removed again
# (when still empty) if the command fails
_created_folders: list[Path] = []


def _one_line(text: str) -> str:
    return " ".join(text.split())


def cli_words(exc: Exception, parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """A library error on one line, its keyword arguments spelled as this CLI's options: a
    refused value the user gave by an option (`ArgumentValueError`) named as typed
    (``--time-unit ns``, not ``time_unit='ns'``)."""
    text = str(exc)
    if isinstance(exc, ArgumentValueError):
        option = _option_given(parser, args, exc.parameter, exc.value)
        if option is not None:
            text = f"{option} {_option_value(exc.value)}{exc.rest}"
    options = {o for action in parser._actions for o in action.option_strings}
    return option_words(_one_line(text), options).replace("force=True", "--force")


# a reader's advice to pass a keyword argument: pass time_unit='s', 'ms' or 'ns'
_PASS_KEYWORD = re.compile(
    r"\bpass (?P<name>time_unit|layout|fmt)=(?P<values>'[\w-]+'(?:(?:, | or )'[\w-]+')*)"
)
# the keyword arguments whose option is not named after them (write_stream's fmt is --to)
_KEYWORD_OPTIONS = {"fmt": "--to"}


def option_words(text: str, options: Collection[str] | None = None) -> str:
    """``text`` with the event readers' and writers' advice to pass a keyword argument (``pass
    time_unit='s', 'ms' or 'ns'``, ``pass layout='csv'``, ``pass fmt='npy'``) in the CLI's
    words (``pass --time-unit s, ms or ns``, ``pass --to npy``). Advice on an option the
    command lacks (not among ``options``; None: it has them all) names 'eventsim convert',
    which has them all."""

    def spelled(m: re.Match[str]) -> str:
        option = _KEYWORD_OPTIONS.get(m["name"], "--" + m["name"].replace("_", "-"))
        where = "" if options is None or option in options else " to 'eventsim convert'"
        return f"pass {option} {m['values'].replace(chr(39), '')}{where}"

    return _PASS_KEYWORD.sub(spelled, text)


def _option_given(
    parser: argparse.ArgumentParser, args: argparse.Namespace, dest: str, value: object
) -> str | None:
    """The option that gave ``value`` to the library's parameter ``dest``; None when no option
    of this command sets it, or it holds another value (the library was given this one by
    something else, such as a recipe's field)."""
    for action in parser._actions:
        if action.dest != dest or not action.option_strings:
            continue
        given = getattr(args, dest, None)
        # the types first: a library caller's numpy array would compare element-wise
        if type(given) is not type(value) or given != value:
            return None
        long = [o for o in action.option_strings if o.startswith("--")]
        return str((long or action.option_strings)[0])
    return None


def _option_value(value: object) -> str:
    """``value`` as it would be typed: ``640x480`` for a sensor size, ``1e+09`` for the float
    of ``--fps 1e9`` (not ``1000000000.0``), a text quoted only where a shell needs it."""
    import shlex

    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    if isinstance(value, tuple) and len(value) == 2:
        return f"{value[0]}x{value[1]}"
    return shlex.quote(str(value))


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of calling sys.exit, so in-process tests see exit codes."""

    #: a command's word on the arguments that nothing took, ``(namespace, words) -> text``
    #: (None: nothing to add), said after argparse's "unrecognized arguments: ..." (a second
    #: INPUT of a command that takes one names the option that takes two)
    unrecognized_hint: Callable[[argparse.Namespace, list[str]], str | None] | None = None

    #: the words being parsed, for `error`'s option hint
    _words: tuple[str, ...] = ()

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._words = tuple(str(w) for w in (sys.argv[1:] if args is None else args))
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            hints = [self.unrecognized_hint(parsed, extras) if self.unrecognized_hint else None]
            hints.append(self._option_hint(extras))
            said = "".join(f"; {h}" for h in hints if h)
            self.error(f"unrecognized arguments: {' '.join(extras)}{said}")
        return parsed

    def _option_hint(self, words: Collection[str]) -> str | None:
        """'did you mean --sensor-size?' for words that are no option of this command but
        one of its options typed with underscores (--sensor_size, v2e's and Python's
        spelling) or close to one: argparse names none."""
        from eventsim._suggest import closest_name

        # matched without their dashes, which made '--i' close to '--fit' and a 3-letter prefix
        # of '--o'
        shown = {
            o[2:]: o
            for a in self._actions
            if a.help != argparse.SUPPRESS
            for o in a.option_strings
            if o.startswith("--")
        }
        guesses = []
        for word in words:
            if word == "--":
                break  # the words after it are INPUTs, whatever they look like
            name, eq, value = word.partition("=")
            if not name.startswith("--") or name in self._option_string_actions:
                continue
            bare = name[2:].replace("_", "-")
            guess = shown.get(bare) or closest_name(bare, shown)
            if guess is not None:
                guesses.append(f"{guess}{eq}{value}")
        return f"did you mean {' and '.join(guesses)}?" if guesses else None

    def error(self, message: str) -> NoReturn:
        if message.startswith("the following arguments are required"):
            # a required option typed with underscores is reported missing, not mistyped
            hint = self._option_hint(self._words)
            message += f"; {hint}" if hint else ""
        raise _UsageError(f"{self.prog}: error: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            print(message, file=sys.stderr, end="")
        raise _ParserExit(status)

    def _print_message(self, message: str, file: Any = None) -> None:
        # argparse drops a failed write: ``--help`` to a reader that left ended with status 0
        # when the text outgrew stdout's buffer (``eventsim render -h | true``), and with 141
        # (the flush at exit) when it did not
        if not message:
            return
        try:
            (file or sys.stderr).write(message)
        except BrokenPipeError:
            if file is not sys.stdout:
                return
            _silence_stdout()
            raise _ParserExit(EXIT_BROKEN_PIPE) from None
        except (AttributeError, OSError):
            pass


class _UsageError(Exception):
    pass


class _ParserExit(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def make_parser(
    command: str,
    description: str,
    prog: str = "eventsim",
    *,
    unrecognized_hint: Callable[[argparse.Namespace, list[str]], str | None] | None = None,
) -> argparse.ArgumentParser:
    """A parser for ``PROG COMMAND`` whose errors reach `cli_command` as exit codes;
    ``unrecognized_hint`` adds the command's word to argparse's "unrecognized arguments"."""
    # no abbreviations: '--start' was once the unit-less name of '--start-s' in one command and
    # of '--start-ms' in another, so a prefix could mean either unit
    parser = _Parser(prog=f"{prog} {command}", description=description, allow_abbrev=False)
    parser.unrecognized_hint = unrecognized_hint
    return parser


class CommandMain(Protocol):
    """What `cli_command` returns: ``main(argv) -> exit status`` (argv None: ``sys.argv[1:]``)."""

    def __call__(self, argv: list[str] | None = None) -> int: ...


def cli_command(
    parser_factory: Callable[[], argparse.ArgumentParser],
) -> Callable[[Callable[[argparse.Namespace], int | None]], CommandMain]:
    """Decorate ``run(args) -> int`` into ``main(argv) -> int``.

    Usage errors exit 2; any `EventsimError` or OS error (disk full, read-only, permission, a
    file where a folder should be...) prints one line ``eventsim CMD: error: ...`` and exits 1;
    Ctrl-C prints one line and exits 130, also when a library swallowed the KeyboardInterrupt
    (see `eventsim.outputs`), unless it came after the command's final output was published
    (`check_output` with ``final=True``); SIGTERM stops the command the same way and exits
    143. Any other exception prints one line naming it and exits 1; set
    ``EVENTSIM_TRACEBACK=1`` to let it propagate with its traceback.
    """

    def decorate(run: Callable[[argparse.Namespace], int | None]) -> CommandMain:
        @functools.wraps(run)
        def main(argv: list[str] | None = None) -> int:
            outer = _created_folders.copy()
            _created_folders.clear()
            status = EXIT_ERROR
            try:
                status = _main(argv)
            finally:
                if status != EXIT_OK:
                    _remove_created_folders(_created_folders)
                _created_folders[:] = outer
            return status

        def _main(argv: list[str] | None) -> int:
            parser = parser_factory()
            try:
                words = list(sys.argv[1:] if argv is None else argv)
                args = parser.parse_args(_dash_values(parser, words))
            except _UsageError as exc:
                print(exc, file=sys.stderr)
                return EXIT_USAGE
            except _ParserExit as exc:
                return exc.status
            bars_before = _progress_bar_ids()
            try:
                with sigint_flagged(), _surrogates_escaped():
                    status = run(args)
                    # an interrupt that a library callback swallowed still stops the command
                    check_interrupted()
            except KeyboardInterrupt as exc:
                return _interrupt_status(parser.prog, exc)
            except Exception as exc:
                if interrupted() or _from_interrupt(exc):
                    # library code can turn a Ctrl-C into another error (a RuntimeError from a
                    # class body being built at import, an error of a write cut short)
                    return _interrupt_status(parser.prog, exc)
                if isinstance(exc, BrokenPipeError) and _stdout_reader_gone():
                    # the reader of our output left (`| head`): stop quietly, as tools that
                    # SIGPIPE ends do; nothing more can reach it
                    _silence_stdout()
                    return EXIT_BROKEN_PIPE
                _close_progress_bars(bars_before)
                if isinstance(exc, EventsimError):
                    print(f"{parser.prog}: error: {cli_words(exc, parser, args)}", file=sys.stderr)
                    return EXIT_ERROR
                if isinstance(exc, OSError):
                    text = describe_os_error(exc, writing=final_output_paths())
                    print(f"{parser.prog}: error: {text}", file=sys.stderr)
                    return EXIT_ERROR
                if isinstance(exc, MemoryError):
                    # numpy's message names the size it could not get, which helps
                    detail = _one_line(str(exc))
                    print(
                        f"{parser.prog}: error: out of memory{': ' + detail if detail else ''}",
                        file=sys.stderr,
                    )
                    return EXIT_ERROR
                if os.environ.get("EVENTSIM_TRACEBACK"):
                    raise
                print(
                    f"{parser.prog}: internal error: {type(exc).__name__}: {_one_line(str(exc))} "
                    "(set EVENTSIM_TRACEBACK=1 to see where)",
                    file=sys.stderr,
                )
                return EXIT_ERROR
            return EXIT_OK if status is None else int(status)

        return main

    return decorate


@contextlib.contextmanager
def _surrogates_escaped() -> Iterator[None]:
    """Let stdout show a name that is not UTF-8 escaped (``bad\\udcff.h5``), as error
    messages show it: Python holds such bytes as surrogates, which a UTF-8 locale's strict
    stdout refuses, so a command failed with an internal error after writing its output."""
    stream = sys.stdout
    if not isinstance(stream, io.TextIOWrapper) or stream.errors != "strict":
        yield
        return
    stream.reconfigure(errors="backslashreplace")
    try:
        yield
    finally:
        stream.reconfigure(errors="strict")


# A word argparse would take for an option name (``-q``, ``--no-progress``); any other word
# that starts with '-' (``-5x3``, ``-out.h5``, ``-x=1``) cannot name an option.
_OPTION_LIKE = re.compile(r"--?[A-Za-z][A-Za-z0-9_-]*")


def _names_option(parser: argparse.ArgumentParser, word: str) -> bool:
    """Whether ``word`` is one of the parser's options (perhaps with ``=VALUE``): the user
    typed that flag."""
    return word.split("=", 1)[0] in parser._option_string_actions


def _value_option(parser: argparse.ArgumentParser, word: str) -> str | None:
    """The option string ``word`` is when that option takes exactly one value and none is
    attached to ``word``."""
    action = parser._option_string_actions.get(word)
    return word if action is not None and action.nargs is None else None


def _dash_values(parser: argparse.ArgumentParser, words: list[str]) -> list[str]:
    """``words`` with each one-value option followed by a word that starts with '-' written
    ``--option=-word`` when that word cannot be an option, so the value reaches the option's
    check instead of argparse's "expected one argument".

    A following word that is one of the parser's options stays apart (it is that flag; the
    value is missing), and one that looks like an option the parser lacks, or that argparse
    would read as a short option with its value attached, is refused here, naming the
    ``--option=-word`` spelling that passes it as the value."""
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            out += words[i:]
            break
        name = _value_option(parser, word)
        after = words[i + 1] if i + 1 < len(words) else None
        if name is None or after is None or not after.startswith("-") or after in ("-", "--"):
            out.append(word)
            i += 1
            continue
        if _names_option(parser, after):
            out.append(word)
            i += 1
            continue
        # '-out.h5' after '-o' would be read as '-o ut.h5': refused like a flag-like word, as
        # is '--colour=red', an option the parser lacks with its value attached (argparse
        # reads a word with a space, '--x=1 or 2', as a value)
        flag = after.split("=", 1)[0] if after.startswith("--") and " " not in after else after
        if _OPTION_LIKE.fullmatch(flag) or after[:2] in parser._option_string_actions:
            option = "/".join(parser._option_string_actions[name].option_strings)
            raise _UsageError(
                f"{parser.prog}: error: argument {option}: expected one argument ({after!r} is "
                f"not an option of this command; to pass it as the value, write {name}={after})"
            )
        out.append(f"{name}={after}")
        i += 2
    return out


def _stdout_reader_gone() -> bool:
    """Whether stdout is a pipe whose reading end is closed (poll reports an error on it)."""
    import select

    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    if not hasattr(select, "poll"):
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def _silence_stdout() -> None:
    """Point stdout at the null device, so that the flush at exit does not fail again and print
    Python's "Exception ignored" lines; a stdout without a descriptor is left as it is."""
    with contextlib.suppress(AttributeError, OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)


def _progress_bars() -> list[Any]:
    """The tqdm bars open in this process (none when tqdm was never imported)."""
    std = sys.modules.get("tqdm.std")
    return list(getattr(std.tqdm, "_instances", ())) if std is not None else []


def _progress_bar_ids() -> set[int]:
    return {id(bar) for bar in _progress_bars()}


def _close_progress_bars(keep: set[int]) -> None:
    """Close the progress bars a failing command left drawn (a ``for ... in tqdm(...)`` loop
    that an error left keeps its bar open while the traceback holds it), so that the error
    line starts a line of its own; bars open before the command (``keep``: a caller's, in
    process) are left alone. A closed bar keeps its last state on screen, or clears its line
    when it was made with ``leave=False``."""
    for bar in _progress_bars():
        if id(bar) not in keep:
            with contextlib.suppress(Exception):
                bar.close()


# the --help of every output option says this in these words: `check_output` creates them
CREATES_FOLDERS = "missing folders on its path are created"


def add_progress_option(parser: argparse.ArgumentParser, *, bars: bool = False) -> None:
    """``--no-progress``, also spelt ``-q`` and ``--quiet`` (every command that draws a bar
    takes all three), whose value `show_progress` reads. ``bars``: the command draws several."""
    what = "the progress bars (they are" if bars else "the progress bar (it is"
    parser.add_argument(
        "--no-progress",
        "-q",
        "--quiet",
        dest="no_progress",
        action="store_true",
        help=f"hide {what} drawn only when stderr is a terminal)",
    )


def show_progress(no_progress: bool) -> bool:
    """Whether a command draws its progress bar: not with ``--no-progress``, nor when stderr is
    not a terminal (a log file or a pipe would fill with redrawn bar lines), as tqdm's
    ``disable=None`` decides."""
    if no_progress:
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def path_arg(expected: str) -> Callable[[str], str]:
    """The argparse ``type`` of a path argument: an empty value is refused (``Path('')`` is
    the current folder, so it would be reported, or used, as '.'). ``expected`` completes
    "expected ...", e.g. ``"an event file"``."""

    def path(text: str) -> str:
        if not text:
            raise _OptionValueError(f"the path is empty (''); expected {expected}")
        return text

    return path


def check_threads(threads: int, option: str = "--threads") -> int:
    """``threads`` when it is 1..the cores this process may run on (its affinity mask):
    torch's CPU threads beyond the cores only take turns on them, which is slower, and a
    huge count makes torch start that many threads."""
    problem = threads_problem(threads)
    if problem is not None:
        raise ParameterError(f"{option} {problem}")
    return threads


def threads_problem(threads: int) -> str | None:
    """Why ``threads`` is refused by `check_threads`, without the option's name (an argparse
    ``type`` gets it from argparse); None when it is accepted."""
    cores = usable_cores()
    if 1 <= threads <= cores:
        return None
    return (
        f"{threads} must be 1..{cores}, the CPU cores this process may use (more threads than "
        "cores only slow torch down)"
    )


def check_output(path: str | os.PathLike, force: bool, *, final: bool = False) -> Path:
    """Refuse to overwrite an existing output unless ``force``; create the parent folder and
    delete temporaries that killed runs left for this output. The folders created here are
    removed again, when still empty, if the command (within `cli_command`) then fails or is
    interrupted.

    ``final``: once this output is published the command has done its work, so a Ctrl-C that
    lands after that (while threads close, or the summary prints) exits 0 and keeps it.
    """
    path = Path(path)
    check_replaceable(path)
    if path.exists() and not force:
        raise OutputExistsError(f"output {str(path)!r} exists; pass --force to overwrite it")
    _make_parents(path.parent)
    remove_stale_temps(path)
    if final:
        expect_final_output(path)
    return path


def make_parent_folders(path: str | os.PathLike) -> None:
    """Create the missing folders above ``path`` as `check_output` does (removed again, when
    still empty, if the command fails or is interrupted), for an output whose writer checks it
    itself: render's frame sinks made them untracked, and a stopped render left them."""
    _make_parents(Path(path).parent)


def _make_parents(folder: Path) -> None:
    """``folder.mkdir(parents=True, exist_ok=True)``, remembering each folder it created so a
    command that then fails can remove them again (`_remove_created_folders`)."""
    missing: list[Path] = []
    for parent in (folder, *folder.parents):
        if parent.exists() or parent.is_symlink():
            if not parent.exists():
                # a link to nothing (a drive not mounted) is no file in the way: name its target
                try:
                    parent.stat()
                except OSError as exc:
                    raise type(exc)(
                        exc.errno, exc.strerror, str(parent), None, os.readlink(parent)
                    ) from None
            if not parent.is_dir():
                # said now: a command would otherwise read its whole input before failing
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(parent))
            break
        missing.append(parent)
    for parent in reversed(missing):
        try:
            parent.mkdir()
        except FileExistsError:
            # made meanwhile by someone else: theirs, not ours to remove
            if not parent.is_dir():
                raise
            continue
        _created_folders.append(parent)


def _remove_created_folders(folders: list[Path]) -> None:
    """Remove ``folders`` (this command created them), deepest first, each only while empty:
    a failed command leaves the file system as it found it, and never removes what someone
    else put there meanwhile."""
    with sigint_deferred(deliver=False):
        for folder in reversed(folders):
            try:
                folder.rmdir()
            except OSError:
                # not empty (a file someone put there, or a folder above a kept one) or gone
                continue


def _interrupt_status(prog: str, exc: BaseException) -> int:
    _free_frames(exc)
    term = terminated()
    done = finished_outputs()
    if done:
        names = ", ".join(repr(str(p)) for p in done)
        were, them = ("was", "it") if len(done) == 1 else ("were", "them")
        what = "SIGTERM" if term else "Ctrl-C"
        print(f"{prog}: {what} came after {names} {were} complete; kept {them}", file=sys.stderr)
        return EXIT_OK
    kept = exc if isinstance(exc, KeptInterrupt) else None
    if term:
        # a batch system's pre-emption or time limit: the log should say how to go on
        said = kept or "partial outputs removed; rerun the same command to start again"
        print(f"{prog}: terminated (SIGTERM); {said}", file=sys.stderr)
        return EXIT_TERMINATED
    print(f"{prog}: interrupted; {kept or 'partial outputs removed'}", file=sys.stderr)
    return EXIT_INTERRUPTED


def _free_frames(exc: BaseException) -> None:
    """Free the interrupted command's objects now, with Ctrl-C held back: they live on in the
    frames of ``exc``'s tracebacks until the handler ends, and a second Ctrl-C landing in one's
    ``__del__`` then (a progress bar's, a writer's) prints "Exception ignored ..."."""
    import traceback

    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    with sigint_deferred(deliver=False):
        while stack:
            e = stack.pop()
            if e is None or id(e) in seen:
                continue
            seen.add(id(e))
            if e.__traceback__ is not None:
                traceback.clear_frames(e.__traceback__)
                e.__traceback__ = None
            stack += [e.__cause__, e.__context__]


def _from_interrupt(exc: BaseException) -> bool:
    """Whether a KeyboardInterrupt is among the causes or contexts of ``exc``."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


class _OptionValueError(ParameterError, argparse.ArgumentTypeError):
    """A bad option value: argparse shows its message as it is (not 'invalid ... value')."""


def parse_sensor_size(text: str) -> tuple[int, int]:
    """``'640x480'`` -> ``(640, 480)``."""
    parts = text.lower().replace("*", "x").split("x")
    try:
        width, height = (int(v) for v in parts)
    except ValueError:
        raise _OptionValueError(f"sensor size {text!r} is not WIDTHxHEIGHT, e.g. 640x480") from None
    if not (0 < width <= 32767 and 0 < height <= 32767):
        raise _OptionValueError(f"sensor size {text!r} must be 1..32767 each, e.g. 640x480")
    return width, height


class _RefusedOption(argparse.Action):
    """A hidden option that fails (exit 2) with its spelling and ``const`` (or what ``const``,
    a function, makes of the first value given, None when none was), whatever values follow
    it: it takes any number, so the error names the option rather than a stray value."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        why = self.const
        if callable(why):
            why = why(values[0] if isinstance(values, list) and values else None)
        parser.error(f"{option_string}{why}")


def add_refused_option(
    container: Any, *options: str, why: str | Callable[[str | None], str]
) -> None:
    """Add ``options``, spellings of one hidden option that fails (exit 2) with the spelling
    given and ``why``, the text after it (``" was renamed --new"``), or a function of the first
    value given (None when none was) that returns the text."""
    container.add_argument(
        *options,
        action=_RefusedOption,
        nargs="*",
        const=why,
        help=argparse.SUPPRESS,
        default=argparse.SUPPRESS,
    )


def add_renamed_option(parser: argparse.ArgumentParser, old: str, new: str) -> None:
    """Keep ``old`` as a hidden option that fails with "OLD was renamed NEW" (exit 2).

    ``new`` is the text after "renamed", e.g. ``"--image-hw (H W)"``.
    """
    add_refused_option(parser, old, why=f" was renamed {new}")


def add_unit_option(container: Any, name: str, former: str, unit: str, **kwargs: Any) -> None:
    """Add ``name``, an option named with its unit (``--start-s``), and keep ``former``, its
    unit-less name before (``--start``), as a hidden option that fails naming ``name`` and
    ``unit`` ("--start: say the unit: --start-ms (render times are milliseconds)"): the same
    unit-less name meant seconds in one command and milliseconds in another. ``container`` is
    a parser or an argument group; ``kwargs`` go to ``add_argument``."""
    container.add_argument(name, **kwargs)
    add_refused_option(container, former, why=f": say the unit: {name} ({unit})")


def add_layout_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--layout``: force ``what``'s layout (any name ``eventsim info`` prints, or ``eventsim
    convert --to`` writes, works too)."""
    from eventsim.io.layouts import LAYOUT_ALIASES, LAYOUT_CHOICES

    aliases = ", ".join(a for a, c in LAYOUT_ALIASES.items() if c == "faery")
    parser.add_argument(
        "--layout",
        default=None,
        help=f"force {what}'s layout instead of sniffing it: {', '.join(LAYOUT_CHOICES)} (dsec "
        "is eventsim's own HDF5, also taken as eventsim or h5; event_utils also as evqa; faery "
        f"reads {aliases}, also taken by those names, for files with their suffix). Every "
        "name 'eventsim info' prints or 'eventsim convert --to' writes is taken",
    )


def add_reading_options(parser: argparse.ArgumentParser) -> None:
    """``--time-unit`` and ``--columns``, the same for every command that reads an event file:
    how to read times and columns that the file's format does not fix (`reading_options`
    passes them to ``open_events``)."""
    from eventsim.io.layouts import TIME_UNITS

    parser.add_argument(
        "--time-unit",
        choices=TIME_UNITS,
        default=None,
        help="unit of the input's times where its format does not fix one (npy, npz, txt, "
        "csv without a unit in its header, v2e/EvQA/other HDF5 layouts; e.g. ns for "
        "rpg_vid2e's esim_torch); default: detected (integers are µs, floats s), as the note "
        "that 'eventsim info', 'convert', 'render' and 'plot' print says",
    )
    parser.add_argument(
        "--columns",
        default="txyp",
        metavar="ORDER",
        help="column order of an N x 4 array in a .npy/.npz (default txyp; esim_py: xytp)",
    )


def reading_options(args: argparse.Namespace) -> dict[str, Any]:
    """``open_events``'s keyword arguments from the options of `add_reading_options`."""
    return {"time_unit": args.time_unit, "columns": args.columns}


def check_reader(reader: Any, path: str | os.PathLike) -> None:
    """Raise `InvalidEventsError` when the open event reader's events break the format's rules
    (`StreamCheck`: time order, polarity 0/1, coordinates inside the sensor)."""
    from eventsim.errors import InvalidEventsError
    from eventsim.events import StreamCheck

    check = StreamCheck(reader.sensor_size)
    for packet in reader.iter_chunks(1 << 20):
        check.check(packet)
        if check.result is not None:
            raise InvalidEventsError(
                f"{os.fspath(path)}: invalid events: "
                f"{check.result.renumbered(getattr(reader, 'file_index', None))} "
                "(see 'eventsim info --check')"
            )


def check_events_file(
    path: str | os.PathLike,
    sensor_size: tuple[int, int] | None,
    *,
    command: str,
    allow_implausible_times: bool = False,
    time_unit: str | None = None,
    columns: str = "txyp",
    layout: str | None = None,
    opened: Callable[[], None] | None = None,
) -> dict:
    """Refuse an event file whose events break the format's rules (`StreamCheck`: time order,
    polarity 0/1, coordinates inside the sensor), before a command draws wrong figures or
    frames from it. Returns ``events``, ``t_start_us``, ``t_end_us`` and ``sensor_size``.
    ``time_unit``, ``columns`` and ``layout`` are `open_events`'s. ``opened`` is called once
    the file has opened, before its events are read through: a command's checks of its output
    go there, so that a missing or unreadable input is named first and an output that exists
    is refused before the events are read through (HDF5 and npy open without reading them;
    text and faery's formats are read whole as they open). Then the reader's notes are told and
    implausible times refused as ``eventsim COMMAND`` (`tell_reading`)."""
    from eventsim.io import open_events

    with open_events(
        path, sensor_size=sensor_size, time_unit=time_unit, columns=columns, layout=layout
    ) as reader:
        if len(reader) == 0 and getattr(reader, "sensor_size_inferred", False):
            # the size would be a guess from no coordinates at all: a 1x1 picture
            raise ParameterError(
                f"{os.fspath(path)!r} holds no events and does not record its sensor size; "
                "pass --sensor-size WxH"
            )
        if opened is not None:
            opened()
        tell_reading(reader, path, command, time_unit=time_unit, allow=allow_implausible_times)
        check_reader(reader, path)
        return {
            "events": len(reader),
            "t_start_us": int(reader.t_start_us),
            "t_end_us": int(reader.t_end_us),
            "sensor_size": tuple(reader.sensor_size),
        }


IMPLAUSIBLE_TIMES_HELP = (
    "{verb}, with a warning, an input whose times are implausible for an event camera "
    "(refused without it: a span over 30 days, a mean under 1 ev/s over more than a day, or "
    "times with fractions given as --time-unit us or ns that rounding to whole µs merges, "
    "usually means a wrong --time-unit)"
)

# what each command that reads an event file did to implausible times it was let read
_DONE = {"convert": "converted", "render": "rendered", "plot": "plotted"}


def add_implausible_times_option(
    parser: argparse.ArgumentParser, command: str, more: str = ""
) -> None:
    """``--allow-implausible-times`` (`tell_reading`), worded alike for every command."""
    parser.add_argument(
        "--allow-implausible-times",
        action="store_true",
        help=IMPLAUSIBLE_TIMES_HELP.format(verb=command) + more,
    )


_DAY_S = 86_400
# past these an input's times are almost surely read in the wrong unit (µs read as seconds): a
# sensor's noise alone fires faster than 1 ev/s, and a span of weeks makes an HDF5 output's
# ms_to_idx (one entry a millisecond) hundreds of MB and slow to write
_MAX_SPAN_S = 30 * _DAY_S
_MIN_RATE_SPAN_S = _DAY_S
_MIN_RATE_EV_S = 1.0
_US_PER = {"s": 1e6, "ms": 1e3, "us": 1.0, "ns": 1e-3}


def why_implausible(n: int, span_s: float) -> str | None:
    """What makes ``n`` events over ``span_s`` seconds implausible for an event camera, or None."""
    if span_s > _MAX_SPAN_S:
        return f"a span over {_MAX_SPAN_S // _DAY_S} days"
    if span_s > _MIN_RATE_SPAN_S and n / span_s < _MIN_RATE_EV_S:
        return f"a mean under {_MIN_RATE_EV_S:g} ev/s over more than a day"
    return None


def implausible_times(reader: Any, src: str | os.PathLike, given_unit: str | None) -> str | None:
    """What is implausible about an input's times for an event camera (`why_implausible`, or
    times that rounding merged), naming its span, rate and the smaller time units that would
    make them plausible; None when they are plausible. The caller ends it with what
    --allow-implausible-times does."""
    from eventsim._text import plural
    from eventsim.io.layouts import TIME_UNITS
    from eventsim.io.text import MERGED_TIMES_NOTE

    src = os.fspath(src)
    merged = next((note for note in reader.notes if note.startswith(MERGED_TIMES_NOTE)), None)
    if merged is not None:
        # the span and rate of times rounded together tell nothing: 133,349 events of 2 s
        # read as µs spanned 2 µs, at a rate no camera has
        return f"{src}: {option_words(merged)}"
    n = len(reader)
    span_s = max(0, reader.t_end_us - reader.t_start_us) / 1e6
    why = why_implausible(n, span_s) if n else None
    if why is None:
        return None
    unit = given_unit or reader.time_unit_detected
    read = f"read as {TIME_UNITS.get(unit, unit)}, " if unit in _US_PER else ""
    text = (
        f"{src}: {read}its {n:,} {plural(n, 'event')} span {span_s:.3g} s "
        f"({span_s / _DAY_S:.3g} days) at a mean {n / span_s:.3g} ev/s, implausible for an "
        f"event camera ({why})"
    )
    chosen = given_unit is not None or any(
        note.startswith("time unit detected") for note in reader.notes
    )
    if chosen and unit in _US_PER:
        # the same numbers read in a smaller unit: each shortens the span by its factor
        others = [
            (u, span_s * _US_PER[u] / _US_PER[unit]) for u in _US_PER if _US_PER[u] < _US_PER[unit]
        ]
        fits = [(u, s) for u, s in others if why_implausible(n, s) is None]
        if fits:
            spans = ", ".join(
                f"as {u}{' they span' if i == 0 else ''} {s:.3g} s ({n / s:.3g} ev/s)"
                for i, (u, s) in enumerate(fits)
            )
            units = [u for u, _ in fits]
            listed = units[0] if len(units) == 1 else f"{', '.join(units[:-1])} or {units[-1]}"
            text += (
                f"; its times are likely in a smaller unit: {spans}; pass --time-unit {listed}, "
                "whichever they are in"
            )
    return text


# the reader's note of a time unit its format fixes ("time unit: microseconds (EVENT_DTYPE)"),
# not one detected or given
_FIXED_UNIT_NOTE = "time unit: "


def tell_reading(
    reader: Any,
    src: str | os.PathLike,
    command: str,
    *,
    time_unit: str | None,
    allow: bool,
    force: bool = False,
) -> None:
    """What ``eventsim COMMAND`` (convert, render or plot) says of an event file it opened: the
    reader's notes (a time unit detected, a sensor size inferred, events sorted...) on stderr,
    and a refusal (`InvalidEventsError`) of implausible times (`implausible_times`) unless
    ``allow`` (--allow-implausible-times), which reads them with a warning. ``force``: convert's
    --force, which passes them too, deprecated."""
    from eventsim.errors import InvalidEventsError
    from eventsim.io.text import MERGED_TIMES_NOTE

    for note in reader.notes:
        # the refusal (or warning) of implausible times below says it: printed here too, its
        # two lines of text came twice, once as a note and once as the error
        if note.startswith(MERGED_TIMES_NOTE):
            continue
        if command != "convert" and note.startswith(_FIXED_UNIT_NOTE):
            # a unit the format fixes (our .npy, aedat4, EVT) says nothing to a drawing: every
            # render of such a file printed it; convert, which always did, still does
            continue
        print(f"eventsim {command}: note: {option_words(note)}", file=sys.stderr)
    implausible = implausible_times(reader, src, time_unit)
    if implausible is None:
        return
    if not (allow or force):
        raise InvalidEventsError(
            f"{implausible}; if the times are right, pass --allow-implausible-times "
            f"to {command} them as read"
        )
    flag = "--allow-implausible-times" if allow else "--force"
    print(
        f"eventsim {command}: warning: {implausible}; {_DONE[command]} as read because of {flag}",
        file=sys.stderr,
    )
    if not allow:
        # --force passed these times before they had a flag of their own: scripts that
        # relied on it keep working, told the flag to move to
        print(
            f"eventsim {command}: warning: --force accepting implausible times is deprecated "
            "and will only overwrite OUTPUT in a later release; pass --allow-implausible-times",
            file=sys.stderr,
        )


def parse_assignments(items: list[str] | None) -> dict[str, str]:
    """``['a=1', 'b.c=x']`` -> ``{'a': '1', 'b.c': 'x'}`` for ``--set FIELD=VALUE`` options."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"--set {item!r} is not FIELD=VALUE")
        out[key.strip()] = value.strip()
    return out


def prepare_script_exit() -> None:
    """Let a script whose command has finished exit with the command's status after Ctrl-C.

    Two CPython behaviours would otherwise end it with SIGINT (status -2, no message): a Ctrl-C
    that landed in code run from source text (``eval``/``exec`` of a string, as namedtuple and
    dataclass creation do) is remembered as "unhandled" even though the command caught it, and
    under ``python -m`` the interpreter then kills itself with SIGINT at exit; evaluating a
    string again clears that record. And while Python shuts down it restores the default
    action, so a Ctrl-C landing then would kill the process: from here on Ctrl-C is ignored.
    """
    import signal
    import threading

    eval("None")
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def exit_now(status: int) -> None:
    """End a finished script with ``status`` without the interpreter's teardown of its modules,
    which takes 0.4 s once torch is imported (more with transformers) and does nothing a
    finished command needs: its outputs are closed, and atexit handlers still run here.

    Returns instead, leaving the normal exit, while a non-daemon thread is still running (a
    normal exit waits for it), and under a profiler, tracer or debugger (``python -m cProfile
    -o out.prof -m eventsim ...`` writes its file after the script returns).
    """
    import atexit
    import threading

    if sys.getprofile() is not None or sys.gettrace() is not None:
        return
    main = threading.main_thread()
    if any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate()):
        return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            # a reader that went away (``| head``) cut the output short: the quiet SIGPIPE
            # status, as when that happens while the command runs, not Python's error lines
            if stream is sys.stdout and status == EXIT_OK:
                status = EXIT_BROKEN_PIPE
        except (OSError, ValueError):
            pass
    os._exit(status)


def _print_out(text: str, status: int) -> int:
    """Print ``text`` on stdout and return ``status``; a reader that left (``eventsim
    --version | true``) ends it quietly with the SIGPIPE status, as it ends a command
    (`cli_command`), not with Python's traceback."""
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    return status


def dispatch(
    prog: str,
    version: str,
    commands: Mapping[str, tuple[str | Callable[[list[str]], int], str]],
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
        text = "\n".join(
            [
                f"usage: {prog} [--version] COMMAND [ARGS ...]",
                "",
                "commands:",
                *(f"  {name:<{width}}  {help_}" for name, (_, help_) in commands.items()),
                "",
                f"Run '{prog} COMMAND --help' for a command's options.",
            ]
        )
        return _print_out(text, EXIT_OK if argv else EXIT_USAGE)
    if argv[0] == "--version":
        return _print_out(f"{prog} {version}", EXIT_OK)
    name, rest = argv[0], argv[1:]
    if name not in commands:
        hint = f"; it moved to '{moved[name]}'" if moved and name in moved else ""
        print(
            f"{prog}: error: unknown command {name!r}{hint}; valid commands: {', '.join(commands)}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    target = commands[name][0]
    try:
        if isinstance(target, str):
            target = importlib.import_module(target).main
        return target(rest)
    except KeyboardInterrupt:
        # Ctrl-C while the command's modules were still being imported
        print(f"{prog} {name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
