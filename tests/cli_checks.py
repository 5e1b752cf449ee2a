"""Checks shared by the command-line tests."""


def one_line(err: str, *needles: str) -> str:
    """The one non-blank line of a command's stderr, which must hold every needle and be
    neither a traceback nor an internal error."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]
