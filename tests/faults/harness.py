"""What every fault-injection case checks: a one-line error with the expected exit code and message,
no traceback, and nothing of the user's lost (a snapshot of the folder before and after)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from edge_pipeline.cli.main import main


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run the CLI in this process; an uncaught exception (a traceback for a user) fails the test."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path -> sha256), symlinks by their target."""
    result = {}
    for path in sorted(Path(folder).rglob("*")):
        relative = str(path.relative_to(folder))
        if path.is_symlink():
            result[relative] = f"-> {path.readlink()}"
        elif path.is_file():
            result[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return result


def assert_one_line_error(code: int, err: str, exit_code: int, *fragments: str) -> None:
    assert code == exit_code, (code, err)
    lines = [line for line in err.strip().splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    assert "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
