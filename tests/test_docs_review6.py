"""Docs drift that tests/test_docs_review5.py and tests/test_tutorial.py let through, found by
following README.md and docs/ in a fresh clone as a new user.

- A shell block pasted in order stopped at a command whose output an earlier line of the same
  block had written (README: ``-o frames.h5`` and ``-o clip.h5`` twice, without ``--force``):
  the parse check reads lines one at a time.
- Output lines the prose quotes had lost part of what the commands print (the simulator's
  ``(N frames/s)``, verify's ``(DIR)``): test_tutorial compares only the fixed figures.
- In-page links (``#anchor``, ``page.md#anchor``) were not checked at all; docs/benchmarks.md
  has dozens.
- ``eventsim render --mode overlay`` on a file without frames said "simulate with saved frames"
  without naming the option that saves them.
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from test_docs_review5 import DOCS, _blocks, _parse, _prose, _text

ROOT = Path(__file__).resolve().parents[1]
# every page a reader follows, docs/benchmarks.md included (its links, not its figures)
PAGES = (*DOCS, "docs/benchmarks.md")


def _commands_by_block() -> list[tuple[str, list[list[str]]]]:
    """(doc, [[subcommand, *arguments], ...]) of each shell block, its ``eventsim``/``epvlm``
    lines in order."""
    out = []
    for doc in DOCS:
        for language, code in _blocks(_text(doc)):
            if language not in ("sh", "bash"):
                continue
            lines = []
            for line in code.replace("\\\n", " ").splitlines():
                command = re.split(r"(?:^|\s)#", line, maxsplit=1)[0]
                for part in command.split("&&"):
                    words = shlex.split(part)
                    if len(words) >= 2 and words[0] in ("eventsim", "epvlm"):
                        lines.append(words[1:])
            out.append((doc, lines))
    return out


def _output(args: list[str], ns: argparse.Namespace) -> str | None:
    """The path a documented command writes (``epvlm run``: its overlay), None if none."""
    path = ns.overlay if args[0] == "run" else getattr(ns, "output", None)
    return None if path is None else str(Path(path))


def test_a_shell_block_pasted_in_order_writes_each_output_once():
    clashes, checked = [], 0
    for doc, lines in _commands_by_block():
        written: dict[str, list[str]] = {}
        for args in lines:
            ns = _parse(doc, args[0], args[1:])
            path = _output(args, ns)
            if path is None:
                continue
            checked += 1
            earlier = written.get(path)
            # rerunning the same build or eval resumes it; anything else is refused
            rerun = earlier == args and args[0] in ("build", "eval")
            if earlier is not None and not rerun and not getattr(ns, "force", False):
                clashes.append(f"{doc}: {shlex.join(args)!r} writes {path!r} again")
            written[path] = args
    assert clashes == []
    assert checked > 30


def _shape(quoted: str) -> re.Pattern[str]:
    """``quoted`` with every number (digits, thousands commas, decimals) free."""
    parts = re.split(r"\d[\d,.]*", quoted)
    return re.compile(r"[\d,.]+".join(re.escape(p) for p in parts))


def _quoted(prefix: str, needle: str) -> list[str]:
    return [
        span
        for doc in DOCS
        for span in re.findall(r"`([^`]+)`", _prose(_text(doc)))
        if span.startswith(prefix) and needle in span
    ]


def test_quoted_simulate_and_verify_lines_have_the_shape_the_commands_print(
    tmp_path, monkeypatch, capsys
):
    from eventsim.cli import main

    monkeypatch.chdir(tmp_path)
    simulate = _quoted("wrote ", " events from ")
    verify = _quoted("ok: ", " verified")
    assert simulate and verify
    for span in simulate:
        name = span.split()[1].rstrip(":")
        argv = ["simulate", "--synthetic", "moving-shapes", "--duration-ms", "100", "-o", name]
        assert main([*argv, "--no-progress"]) == 0
        printed = capsys.readouterr().out.strip().splitlines()[-1]
        assert _shape(span).fullmatch(printed), (span, printed)
    for span in verify:
        folder = re.search(r"\(([^)]+)\)$", span)
        name = folder.group(1) if folder else "ds"
        argv = ["build", "shapes-demo", "-o", name, "--set", "splits.test=2", "--no-preview"]
        assert main([*argv, "--no-progress"]) == 0
        capsys.readouterr()
        assert main(["verify", name, "--no-progress"]) == 0
        printed = capsys.readouterr().out.strip().splitlines()[-1]
        assert _shape(span).fullmatch(printed), (span, printed)


def _slugs(text: str) -> set[str]:
    """GitHub's anchors for the headings of ``text`` (lower case, punctuation dropped, spaces
    to hyphens, a repeated heading numbered -1, -2, ...)."""
    seen: dict[str, int] = {}
    inside = False
    for line in text.splitlines():
        if line.startswith("```"):
            inside = not inside
            continue
        heading = None if inside else re.match(r"#{1,6}\s+(.*?)\s*$", line)
        if heading is None:
            continue
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.group(1)).replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
    return {slug if n == 0 else f"{slug}-{n}" for slug, total in seen.items() for n in range(total)}


def test_slugs_follow_githubs_rule():
    text = "# A `b` (c), d\n## Dup\n## Dup\n```\n# not a heading\n```\n"
    assert _slugs(text) == {"a-b-c-d", "dup", "dup-1"}


def test_links_to_anchors_name_headings_that_exist():
    broken, checked = [], 0
    for doc in PAGES:
        text = _text(doc)
        for target, anchor in re.findall(r"\]\(([^)#\s]*)#([^)\s]+)\)", text):
            if target.startswith(("http:", "https:")):
                continue
            page = (ROOT / doc).parent / target if target else ROOT / doc
            checked += 1
            if not page.is_file() or anchor not in _slugs(page.read_text(encoding="utf-8")):
                broken.append(f"{doc}: ({target}#{anchor})")
    assert broken == []
    assert checked > 10


def test_render_overlay_without_frames_names_the_option_that_saves_them(tmp_path, capsys):
    from eventsim.cli import main
    from eventsim.events import make_events
    from eventsim.io import write_events

    t = np.arange(0, 10_000, 100)
    write_events(tmp_path / "ev.h5", make_events(t % 32, t % 24, t, t % 2), (32, 24))
    argv = [str(tmp_path / "ev.h5"), "-o", str(tmp_path / "o.png"), "--mode", "overlay"]
    assert main(["render", *argv]) == 1
    err = capsys.readouterr().err
    assert "no saved frames" in err and "eventsim simulate --save-frames" in err


@pytest.mark.parametrize(
    ("quoted", "printed", "matches"),
    [
        ("wrote a.h5: 1,234 events in 0.6 s", "wrote a.h5: 98 events in 12.0 s", True),
        ("wrote a.h5: 1,234 events in 0.6 s", "wrote a.h5: 98 events in 1 s (9 frames/s)", False),
    ],
)
def test_shape_frees_numbers_only(quoted, printed, matches):
    assert bool(_shape(quoted).fullmatch(printed)) is matches
