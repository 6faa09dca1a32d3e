"""Progress: bars redrawn in place in a terminal, throttled plain lines in CI, silence when asked."""

import io

import pytest

from edge_pipeline import progress as progress_module
from edge_pipeline.progress import ProgressBar, output_mode, progress, track


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def stderr(monkeypatch):
    def use(stream, **env):
        for name in ("EDGE_PIPELINE_PROGRESS", "CI", "RANK", "TERM"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(progress_module.sys, "stderr", stream)
        monkeypatch.setattr(progress_module, "_bar_open", False)
        return stream
    return use


def test_plain_progress_lines_still_work(stderr):
    stream = stderr(io.StringIO())
    progress("export", "teacher: running")
    assert stream.getvalue().endswith("export     teacher: running\n")


def test_ci_gets_throttled_plain_lines(stderr, monkeypatch):
    monkeypatch.setattr(progress_module, "REDRAW_INTERVAL_S", 0.0)  # every step reaches the line throttle
    stream = stderr(FakeTerminal(), CI="true")
    assert output_mode() == "lines"
    for _ in track(range(100), "calibrate", "batches"):
        pass
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert 5 <= len(lines) <= 13, lines
    assert "batches 100/100" in lines[-1] and "done in" in lines[-1] and "(100%)" in lines[-1]


def test_a_terminal_gets_one_bar_redrawn_in_place(stderr, monkeypatch):
    monkeypatch.setattr(progress_module, "_rich_bars", lambda: None)  # the hand-drawn bar (no rich installed)
    stream = stderr(FakeTerminal(), TERM="xterm")
    assert output_mode() == "bar"
    for epoch in range(1, 4):
        progress("distill", f"epoch {epoch}/3 loss 0.5", done=epoch, total=3)
    text = stream.getvalue()
    assert text.count("\r\033[K") == 3 and text.count("\n") == 1
    assert "[########################] 100%" in text


def test_a_plain_line_during_a_bar_clears_it_first(stderr, monkeypatch):
    monkeypatch.setattr(progress_module, "_rich_bars", lambda: None)
    stream = stderr(FakeTerminal(), TERM="xterm")
    progress("distill", "epoch 1/3", done=1, total=3)
    progress("distill", "checkpoint saved")
    assert stream.getvalue().endswith("\r\033[K" + stream.getvalue().split("\r\033[K")[-1])
    assert stream.getvalue().rstrip("\n").endswith("checkpoint saved")


def test_rich_draws_the_bar_in_a_terminal_and_lines_print_above_it(stderr, monkeypatch):
    pytest.importorskip("rich")
    monkeypatch.setattr(progress_module, "_live_rich_bars", None)
    stream = stderr(FakeTerminal(), TERM="xterm")
    progress("distill", "epoch 1/3", done=1, total=3)
    progress("distill", "checkpoint saved")
    for epoch in (2, 3):
        progress("distill", f"epoch {epoch}/3", done=epoch, total=3)
    progress("export", "teacher: running")
    text = stream.getvalue()
    assert "checkpoint saved\n" in text and "100%" in text and "eta" in text
    # The bar ends on its own line when the work is done; later lines follow it, never drawn over.
    assert text.rstrip("\n").endswith("export     teacher: running")
    assert text.count("\n") == 3 and progress_module.sys.stderr is stream


def test_stopping_early_says_where(stderr):
    stream = stderr(io.StringIO())
    with ProgressBar("benchmark", "runs", 10) as bar:
        bar.advance()
    assert "runs stopped at 1/10" in stream.getvalue()


def test_off_and_non_zero_ranks_are_silent(stderr):
    stream = stderr(io.StringIO(), EDGE_PIPELINE_PROGRESS="off")
    progress("export", "hidden")
    stream = stderr(io.StringIO(), RANK="1")
    progress("export", "hidden", done=1, total=2)
    assert stream.getvalue() == ""
