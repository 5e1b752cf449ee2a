"""The docs' commands and claims against the code (README.md, docs/recipes.md, docs/tutorial.md,
docs/gallery/README.md).

Only docs/tutorial.md is run as a whole (tests/test_tutorial.py); these checks are cheap ones
for the rest: every ``eventsim``/``epvlm`` line of their shell blocks parses with its
subcommand's parser and its ``--set`` fields exist, every option the prose names exists on the
command it names, every option states its default in ``--help``, references between the pages
name sections that exist, and the gallery is what tools/make_gallery.py draws today.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import importlib.util
import io
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "docs/recipes.md", "docs/tutorial.md", "docs/gallery/README.md")
EVENTSIM_COMMANDS = ("info", "convert", "simulate", "render", "plot", "build", "verify")
EPVLM_COMMANDS = ("run", "eval", "flops", "demo")
FENCE = re.compile(r"^```(\S*)\s*$")
# an option of ours: hyphens only (v2e's --pos_thres and the like are not ours)
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)(?![\w])")


def _builders() -> dict[str, Callable[[], argparse.ArgumentParser]]:
    builders: dict[str, Callable[[], argparse.ArgumentParser]] = {}
    for command in EVENTSIM_COMMANDS:
        module = importlib.import_module(f"eventsim.cli.{command}")
        builders[command] = module.build_parser
    epvlm_cli = importlib.import_module("epvlm.cli")
    for command in EPVLM_COMMANDS:
        builders[command] = getattr(epvlm_cli, f"build_{command}_parser")
    return builders


@cache
def _parser(command: str) -> argparse.ArgumentParser:
    return _builders()[command]()


def _options(command: str) -> dict[str, argparse.Action]:
    return {o: a for a in _parser(command)._actions for o in a.option_strings}


def _text(doc: str) -> str:
    return (ROOT / doc).read_text(encoding="utf-8")


def _blocks(text: str) -> Iterator[tuple[str, str]]:
    """(language, code) of each fenced block."""
    language: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        match = FENCE.match(line)
        if match and language is None:
            language, body = match.group(1), []
        elif match:
            assert language is not None
            yield language, "\n".join(body)
            language = None
        elif language is not None:
            body.append(line)


def _prose(text: str) -> str:
    """``text`` without its fenced blocks, whitespace collapsed (spans may wrap lines)."""
    inside, kept = False, []
    for line in text.splitlines():
        if FENCE.match(line):
            inside = not inside
        elif not inside:
            kept.append(line)
    return " ".join(" ".join(kept).split())


def _shell_commands() -> list[tuple[str, str, str]]:
    """(doc, command, trailing comment) of every shell-block line, continuations joined and
    ``&&`` chains split."""
    found = []
    for doc in DOCS:
        for language, code in _blocks(_text(doc)):
            if language not in ("sh", "bash"):
                continue
            for line in code.replace("\\\n", " ").splitlines():
                command, *comment = re.split(r"(?:^|\s)#", line, maxsplit=1)
                for part in command.split("&&"):
                    if part.strip():
                        found.append((doc, part.strip(), "".join(comment).strip()))
    return found


def _our_commands() -> list[tuple[str, list[str], str]]:
    """(doc, [subcommand, *arguments], trailing comment) of every ``eventsim``/``epvlm`` line
    of the shell blocks."""
    out = []
    for doc, command, comment in _shell_commands():
        words = shlex.split(command)
        if len(words) >= 2 and words[0] in ("eventsim", "epvlm"):
            expected = EVENTSIM_COMMANDS if words[0] == "eventsim" else EPVLM_COMMANDS
            assert words[1] in expected, f"{doc}: {command!r}: no such {words[0]} command"
            out.append((doc, words[1:], comment))
    return out


def _parse(doc: str, command: str, args: list[str]) -> argparse.Namespace:
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return _parser(command).parse_args(args)
    except SystemExit:
        pytest.fail(f"{doc}: {command} {shlex.join(args)}: {err.getvalue().strip()}")


def _flag_errors(command: str, words: list[str], where: str) -> list[str]:
    """Options in ``words`` that ``command`` lacks, and values outside an option's choices
    (``a|b|c`` lists alternatives)."""
    options, errors = _options(command), []
    for i, word in enumerate(words):
        flag = FLAG.fullmatch(word.split("=", 1)[0])
        if not flag:
            continue
        action = options.get(flag.group(1))
        if action is None:
            errors.append(f"{where}: {command} has no {flag.group(1)}")
            continue
        value = words[i + 1] if i + 1 < len(words) else None
        if action.choices is not None and value and not value.startswith("-"):
            bad = [v for v in value.rstrip(".,;)").split("|") if v not in action.choices]
            if bad:
                errors.append(f"{where}: {command} {flag.group(1)} has no choice {bad}")
    return errors


def test_the_docs_show_commands_of_both_programs():
    commands = {args[0] for _, args, _ in _our_commands()}
    assert {"simulate", "convert", "render", "build", "run", "eval", "flops"} <= commands


def test_every_command_line_in_the_docs_parses():
    for doc, args, _ in _our_commands():
        _parse(doc, args[0], args[1:])
    assert len(_our_commands()) > 40


def test_options_in_command_comments_belong_to_that_command():
    # e.g. 'eventsim render ... # or .png, .gif, a folder; --mode overlay|timesurface|heatmap'
    errors = []
    for doc, args, comment in _our_commands():
        errors += _flag_errors(args[0], comment.split(), f"{doc}: {shlex.join(args)} # {comment}")
    assert errors == []


def test_set_overrides_in_the_docs_name_real_fields():
    from eventsim.cli.common import parse_assignments
    from eventsim.datasets.recipe import load_recipe
    from eventsim.simulator import DVSParams

    checked = 0
    for doc, args, _ in _our_commands():
        ns = _parse(doc, args[0], args[1:])
        if args[0] == "simulate" and ns.set:
            DVSParams.from_preset(ns.preset).with_overrides(parse_assignments(ns.set))
            checked += 1
        elif args[0] == "build":
            recipe = ROOT / ns.recipe if (ROOT / ns.recipe).is_file() else ns.recipe
            load_recipe(recipe, parse_assignments(ns.assign))
            checked += 1
    assert checked >= 6


def test_options_the_prose_names_on_a_command_belong_to_it():
    # `render --mode heatmap`, `epvlm run --overlay`, `info --check`, ...
    errors, checked = [], 0
    for doc in DOCS:
        for span in re.findall(r"`([^`]+)`", _prose(_text(doc))):
            try:
                words = shlex.split(span)
            except ValueError:
                continue
            if words and words[0] in ("eventsim", "epvlm"):
                words = words[1:]
            if len(words) < 2 or words[0] not in (*EVENTSIM_COMMANDS, *EPVLM_COMMANDS):
                continue
            if any(FLAG.fullmatch(w.split("=", 1)[0]) for w in words):
                checked += 1
                errors += _flag_errors(words[0], words[1:], f"{doc}: `{span}`")
    assert errors == []
    assert checked >= 10


@cache
def _tool_options(tool: str) -> frozenset[str]:
    res = subprocess.run(
        [sys.executable, str(ROOT / tool), "--help"], capture_output=True, text=True, check=False
    )
    assert res.returncode == 0, f"{tool} --help: {res.stderr}"
    return frozenset(FLAG.findall(res.stdout))


def _tools_named() -> set[str]:
    return {m for doc in DOCS for m in re.findall(r"tools/\w+\.py", _text(doc))}


def test_tool_commands_in_the_docs_use_options_the_tool_has():
    errors = []
    for doc in DOCS:
        for span in re.findall(r"python (tools/\w+\.py)((?: --?[\w-]+(?: [\w.]+)?)*)", _text(doc)):
            tool, rest = span
            errors += [
                f"{doc}: {tool} has no {flag}"
                for flag in FLAG.findall(rest)
                if flag not in _tool_options(tool)
            ]
    assert errors == []


def test_every_option_the_docs_name_exists_somewhere():
    known = {o for c in (*EVENTSIM_COMMANDS, *EPVLM_COMMANDS) for o in _options(c)}
    for tool in _tools_named():
        known |= _tool_options(tool)
    missing = {
        f"{doc}: {flag}" for doc in DOCS for flag in FLAG.findall(_text(doc)) if flag not in known
    }
    assert missing == set()


def test_every_option_with_a_default_states_it_in_its_help():
    unstated = []
    for command in (*EVENTSIM_COMMANDS, *EPVLM_COMMANDS):
        for action in _parser(command)._actions:
            if not action.option_strings or action.help == argparse.SUPPRESS:
                continue
            if action.default in (None, False, [], argparse.SUPPRESS):
                continue
            if "default" not in (action.help or ""):
                unstated.append(f"{command} {action.option_strings[-1]} ({action.default!r})")
    assert unstated == []


def test_every_option_has_help():
    bare = [
        f"{command} {action.option_strings[-1]}"
        for command in (*EVENTSIM_COMMANDS, *EPVLM_COMMANDS)
        for action in _parser(command)._actions
        if action.option_strings and not action.help
    ]
    assert bare == []


class _Parsed(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def _tool_parser(tool: Path, monkeypatch: pytest.MonkeyPatch) -> argparse.ArgumentParser:
    """The parser ``tool``'s ``main`` builds, caught as it parses (nothing runs)."""

    def caught(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        raise _Parsed(self)

    spec = importlib.util.spec_from_file_location(f"tool_{tool.stem}", tool)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with monkeypatch.context() as m:
        m.setattr(argparse.ArgumentParser, "parse_args", caught)
        m.setattr(sys, "argv", [str(tool)])
        try:
            try:
                module.main([])
            except TypeError:  # a main() that reads sys.argv
                module.main()
        except _Parsed as parsed:
            return parsed.parser
    raise AssertionError(f"{tool.name}: main() parsed no arguments")


def test_every_tool_option_has_help_stating_its_default(monkeypatch):
    problems = []
    for tool in sorted((ROOT / "tools").glob("*.py")):
        for action in _tool_parser(tool, monkeypatch)._actions:
            if not action.option_strings or action.help == argparse.SUPPRESS:
                continue
            name = f"{tool.name} {action.option_strings[-1]}"
            if not action.help:
                problems.append(f"{name}: no help")
            elif (
                action.default not in (None, False, [], argparse.SUPPRESS)
                and "default" not in action.help
            ):
                problems.append(f"{name}: default {action.default!r} unstated")
    assert problems == []


def _headings(doc: str) -> set[str]:
    return {line.lstrip("#").strip() for line in _text(doc).splitlines() if re.match(r"#+ ", line)}


def test_section_references_between_pages_name_real_sections():
    # README, "Porting settings from v2e"; docs/recipes.md, "Sizes and axis order"; ...
    refs = []
    for doc in DOCS:
        for target, title in re.findall(
            r"(README|docs/[\w/-]+\.md)\)?,\s*\"([^\"]+)\"", _prose(_text(doc))
        ):
            path = "README.md" if target == "README" else target
            if title not in _headings(path):
                refs.append(f"{doc}: {target}, {title!r}")
    assert refs == []


def test_repository_paths_the_docs_name_exist():
    missing = set()
    for doc in DOCS:
        for path in re.findall(
            r"`((?:eventsim|epvlm|datasets|tools|docs|tests)/[\w./-]*)`", _text(doc)
        ):
            if not (ROOT / path).exists():
                missing.add(f"{doc}: {path}")
    for doc in DOCS:
        for link in re.findall(r"\]\(([^)#:]+)\)", _text(doc)):
            if not ((ROOT / doc).parent / link).exists():
                missing.add(f"{doc}: link {link}")
    assert missing == set()


def test_python_blocks_import_names_that_exist():
    checked = 0
    for doc in ("README.md", "docs/gallery/README.md"):
        for language, code in _blocks(_text(doc)):
            if language != "python":
                continue
            for node in ast.walk(ast.parse(code)):
                if isinstance(node, ast.ImportFrom) and node.module:
                    module = importlib.import_module(node.module)
                    for alias in node.names:
                        assert hasattr(module, alias.name), f"{doc}: {node.module}.{alias.name}"
                        checked += 1
    assert checked >= 8


def test_make_targets_and_variables_the_readme_names_exist():
    makefile = _text("Makefile")
    readme = _text("README.md")
    for target in set(re.findall(r"`make ([a-z-]+)", readme)):
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile has no target {target}"
    for variable in ("TORCH_SPEC", "TORCH_INDEX", "DEMO_ARGS"):
        assert variable in readme and re.search(rf"^{variable} \?=", makefile, re.M)
    spec = re.search(r"^TORCH_SPEC \?= (\S+)", makefile, re.M)
    assert spec and f"`{spec.group(1)}`" in readme
    # what README says the packaging check runs
    script = _text("tools/check_package.sh")
    assert f"TORCH_SPEC:-{spec.group(1)}" in script
    assert "demo --limit 20" in script and "simulate --synthetic moving-shapes" in script
    assert "`epvlm demo --limit 20`" in readme


def test_heatmap_colour_bar_needs_the_frame_size_the_readme_gives():
    # README: "frames under about 204x156 are written without it"
    from eventsim.render.scales import colorbar_fits, colorbar_size

    bar = colorbar_size(8)
    assert colorbar_fits((204, 156), bar) and colorbar_fits((346, 260), bar)
    assert not colorbar_fits((203, 156), bar) and not colorbar_fits((204, 155), bar)
    assert "204×156" in _text("README.md")


def _gif_frames(path: Path) -> list[tuple[bytes, int]]:
    from PIL import Image, ImageSequence

    with Image.open(path) as gif:
        return [
            (np.asarray(f.convert("RGB")).tobytes(), int(f.info.get("duration", 0)))
            for f in ImageSequence.Iterator(gif)
        ]


@pytest.mark.slow
def test_the_gallery_is_what_make_gallery_draws_today(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        "tool_make_gallery", ROOT / "tools/make_gallery.py"
    )
    assert spec is not None and spec.loader is not None
    gallery = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gallery)
    out, work = tmp_path / "gallery", tmp_path / "work"
    assert gallery.main(["--out", str(out), "--work", str(work)]) == 0
    committed = ROOT / "docs" / "gallery"
    stale = []
    for made in sorted(out.iterdir()):
        shipped = committed / made.name
        # summary.png is matplotlib's drawing: its pixels follow the matplotlib release
        if made.name in ("README.md", "summary.png"):
            continue
        if made.suffix == ".gif":
            same = _gif_frames(made) == _gif_frames(shipped)
        else:
            a = cv2.imread(str(made), cv2.IMREAD_UNCHANGED)
            b = cv2.imread(str(shipped), cv2.IMREAD_UNCHANGED)
            same = b is not None and a.shape == b.shape and bool((a == b).all())
        if not same:
            stale.append(made.name)
    assert stale == [], f"remake them: python tools/make_gallery.py --only {' '.join(stale)}"
    readme = (out / "README.md").read_text(encoding="utf-8")
    readme = readme.replace(str(work / "shapes.h5"), "build/gallery/shapes.h5")
    readme = readme.replace(str(out), "docs/gallery")
    assert readme == (committed / "README.md").read_text(encoding="utf-8")
