"""docs/tutorial.md runs as written.

The tutorial's ```sh and ```python blocks run in order in one fresh folder, as a reader would
run them: shell blocks through bash, Python blocks with this interpreter, with this
interpreter's bin folder (the virtual environment, where ``eventsim`` and ``epvlm`` live) first
on PATH and ``REPO`` naming the checkout. A block right after an ``<!-- not run ... -->``
comment is skipped (the set-up block, which this test does itself). Every image the tutorial
shows from ``docs/tutorial/`` must be one of the files its own commands write.

After changing the tutorial, refresh its images from a fresh run with
``.venv/bin/python tests/test_tutorial.py --update-images``. What the tutorial says its
commands print (its ```text blocks and the figures in `QUOTED`) must be in their output.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.md"
IMAGE_DIR = TUTORIAL.parent / "tutorial"
MAX_IMAGE_BYTES = 150_000
RUN_LANGUAGES = ("sh", "python")
# fenced blocks in any other language would silently not run; `text` shows output
KNOWN_LANGUAGES = (*RUN_LANGUAGES, "text")
NOT_RUN = re.compile(r"<!--\s*not run\b.*?-->\s*$")
FENCE = re.compile(r"^```(\S*)\s*$")
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\((tutorial/[^)\s]+)\)")


@dataclass(frozen=True)
class Block:
    language: str
    code: str
    line: int  # of the opening fence, 1-based
    run: bool


def parse_blocks(text: str) -> list[Block]:
    """The fenced blocks of ``text`` in order; an unclosed fence is an error."""
    blocks: list[Block] = []
    lines = text.splitlines()
    previous = ""  # the last non-blank line before the current one
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            if lines[i].strip():
                previous = lines[i].strip()
            i += 1
            continue
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and not FENCE.match(lines[i]):
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise ValueError(f"{TUTORIAL.name}:{start + 1}: code block never closed")
        skip = bool(NOT_RUN.match(previous))
        blocks.append(Block(match.group(1), "\n".join(body) + "\n", start + 1, not skip))
        previous = ""
        i += 1
    return blocks


def tutorial_images(text: str) -> list[str]:
    """File names of the images the tutorial shows from docs/tutorial/."""
    return [Path(link).name for link in IMAGE_LINK.findall(text)]


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    bin_dir = Path(sys.executable).parent
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(bin_dir.parent)
    env["REPO"] = str(ROOT)
    # matplotlib without a display; any attempt to reach the Hub fails instead of downloading
    env["MPLBACKEND"] = "Agg"
    env["HF_HUB_OFFLINE"] = "1"
    env.pop("PYTHONPATH", None)
    return env


def run_tutorial(work: Path) -> str:
    """Run every block of the tutorial in ``work``; raise AssertionError naming the first
    block that exits non-zero, with its output. Returns everything the blocks printed."""
    env = _environment()
    printed: list[str] = []
    for block in parse_blocks(TUTORIAL.read_text(encoding="utf-8")):
        if not block.run or block.language not in RUN_LANGUAGES:
            continue
        if block.language == "sh":
            cmd = ["bash", "-e", "-o", "pipefail", "-c", block.code]
            stdin = None
        else:
            cmd = [sys.executable, "-"]
            stdin = block.code
        proc = subprocess.run(
            cmd, input=stdin, cwd=work, env=env, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise AssertionError(
                f"{TUTORIAL.name}:{block.line}: the {block.language} block exited "
                f"{proc.returncode}\n--- block\n{block.code}--- stdout\n{proc.stdout[-4000:]}"
                f"--- stderr\n{proc.stderr[-4000:]}"
            )
        printed += [proc.stdout, proc.stderr]
    return "\n".join(printed)


def _words(text: str) -> str:
    return " ".join(text.split())


def quoted_output(text: str) -> list[str]:
    """What the tutorial says its commands print: every line of its ```text blocks but the
    ``...`` that stand for omitted lines, and the `QUOTED` passages of its prose."""
    lines = [
        line
        for b in parse_blocks(text)
        if b.language == "text"
        for line in b.code.splitlines()
        if line.strip() and line.strip() != "..."
    ]
    return [_words(line) for line in lines] + list(QUOTED)


def test_parse_blocks_skips_marked_and_rejects_unclosed() -> None:
    text = "<!-- not run: set-up -->\n```sh\ncd x\n```\ntext\n\n```python\nprint(1)\n```\n"
    blocks = parse_blocks(text)
    assert [(b.language, b.run, b.line) for b in blocks] == [("sh", False, 2), ("python", True, 7)]
    assert blocks[1].code == "print(1)\n"
    with pytest.raises(ValueError, match="never closed"):
        parse_blocks("```sh\necho hi\n")


def test_tutorial_blocks_are_known_languages_and_mostly_run() -> None:
    blocks = parse_blocks(TUTORIAL.read_text(encoding="utf-8"))
    unknown = [
        f"line {b.line}: {b.language!r}" for b in blocks if b.language not in KNOWN_LANGUAGES
    ]
    assert not unknown, f"blocks neither {', '.join(KNOWN_LANGUAGES)}: {unknown}"
    runnable = [b for b in blocks if b.language in RUN_LANGUAGES]
    assert {b.language for b in runnable if b.run} == set(RUN_LANGUAGES)
    skipped = [b.line for b in runnable if not b.run]
    assert len(skipped) <= 1, f"blocks marked not run at lines {skipped}; keep them rare"


def test_tutorial_images_exist_and_are_small() -> None:
    names = tutorial_images(TUTORIAL.read_text(encoding="utf-8"))
    assert names, "the tutorial shows no image from docs/tutorial/"
    for name in names:
        path = IMAGE_DIR / name
        assert path.is_file(), f"{path} is missing: run {Path(__file__).name} --update-images"
        assert path.stat().st_size < MAX_IMAGE_BYTES, f"{path} is over {MAX_IMAGE_BYTES} bytes"


# figures the tutorial's prose quotes from its commands' output (timings left out): the
# simulator and the builder are deterministic, so a change to either shows here
QUOTED = (
    "wrote clean.h5: 714,351 events from 60 frames (346x260)",
    "(19, 2, 260, 346)",
    "ok: 40 samples in 1 shard verified",
    "vertical (option C)",
)


def test_quoted_passages_are_in_the_tutorial() -> None:
    text = _words(TUTORIAL.read_text(encoding="utf-8"))
    assert [q for q in QUOTED if q not in text] == []


@pytest.mark.slow
def test_tutorial_runs(tmp_path: Path) -> None:
    printed = _words(run_tutorial(tmp_path))
    stale = [q for q in quoted_output(TUTORIAL.read_text(encoding="utf-8")) if q not in printed]
    assert not stale, f"the tutorial quotes output its commands no longer print: {stale}"
    names = tutorial_images(TUTORIAL.read_text(encoding="utf-8"))
    missing = [name for name in names if not (tmp_path / name).is_file()]
    assert not missing, f"images the tutorial shows but its commands do not write: {missing}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--update-images",
        action="store_true",
        help="run the tutorial in a temporary folder and copy the images it shows into "
        "docs/tutorial/",
    )
    args = parser.parse_args(argv)
    if not args.update_images:
        parser.error("nothing to do: pass --update-images")
    with tempfile.TemporaryDirectory(prefix="tutorial-") as tmp:
        work = Path(tmp)
        run_tutorial(work)
        IMAGE_DIR.mkdir(exist_ok=True)
        for name in tutorial_images(TUTORIAL.read_text(encoding="utf-8")):
            shutil.copyfile(work / name, IMAGE_DIR / name)
            print(f"{IMAGE_DIR / name}: {(IMAGE_DIR / name).stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
