"""report.html in a real browser: headless Chromium (Debian's `chromium`) loads the page, every
chart draws, the console stays silent, and a screenshot is saved for a person to look at.

The page's inline script writes what it saw onto <body> (charts with marks and a size, script
errors); --dump-dom reads that back, and --enable-logging=stderr shows any console message.
Screenshots land in the test's tmp dir, and in $EDGE_PIPELINE_SCREENSHOTS when that is set.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edge_pipeline.reports.html.render import render_html
from tests.reports.html.samples import checked_artifacts, mixed_rows
from tests.reports.report_factory import default_rows, make_report

pytestmark = pytest.mark.browser

# These flags are what this machine needs: root (no sandbox), no GPU, and no network at all, so no
# background requests that would only fail.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def chromium() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        reason = "chromium not installed: scripts/bootstrap installs Debian's chromium where apt-get is usable"
        if os.environ.get("CI"):
            pytest.fail(reason + "; in CI it must be there")
        pytest.skip(reason)
    return binary


def run_chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [chromium(), *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def check_in_browser(page: Path, tmp_path: Path, name: str) -> Path:
    loaded = run_chromium(page, tmp_path / f"{name}-profile-dom", "--enable-logging=stderr", "--v=0", "--dump-dom")
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", loaded.stdout).group(1)
    attributes = dict(re.findall(r'([\w-]+)="([^"]*)"', body))
    assert attributes.get("data-report-ready") == "yes", "the page's script did not run"
    assert attributes["data-script-errors"] == "0"
    assert int(attributes["data-charts-expected"]) > 0
    assert attributes["data-charts-rendered"] == attributes["data-charts-expected"], attributes
    console = [line for line in loaded.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console

    screenshot = tmp_path / f"{name}.png"
    shot = run_chromium(page, tmp_path / f"{name}-profile-shot", "--window-size=1280,6000",
                        f"--screenshot={screenshot}")
    assert shot.returncode == 0 and screenshot.is_file(), shot.stderr[-2000:]
    assert_not_blank(screenshot)
    if os.environ.get("EDGE_PIPELINE_SCREENSHOTS"):
        keep = Path(os.environ["EDGE_PIPELINE_SCREENSHOTS"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, keep / screenshot.name)
    return screenshot


def assert_not_blank(png: Path) -> None:
    from PIL import Image

    pixels = np.asarray(Image.open(png).convert("RGB"))  # (H, W, 3)
    coloured = np.abs(pixels.astype(int) - pixels.mean(axis=2, keepdims=True)).max(axis=2) > 40
    # The charts' coloured marks (bars, points, boxes) cover tens of thousands of pixels; without
    # them only the warning box's border and the legend swatches (under 10,000) are coloured.
    # A count, not a share: how long the page is depends on how many rows the report has.
    assert coloured.sum() > 20_000, f"{png}: {coloured.sum()} coloured pixels; did the charts render?"


def test_synthetic_multi_target_report_renders(tmp_path):
    # Two configurations, a host-timed ARM target and a simulated TensorRT one, a warning per row
    # and for the run: every part of the page a real run can produce, in one browser load.
    report = make_report(mixed_rows() + default_rows(batches=(8,)))
    report["measurement_warnings"] = ["The machine was loaded while timing (synthetic warning)"]
    report["results"][0]["warnings"] = ["spread p90/p50 1.80"]
    page = tmp_path / "report.html"
    page.write_text(render_html(report, checked_artifacts()))
    check_in_browser(page, tmp_path, "report-synthetic")


@pytest.mark.slow
def test_report_html_of_a_real_bundle_renders(tmp_path):
    from edge_pipeline import api
    from edge_pipeline.testing.tiny import labelled_arrays
    from tests.conftest import tiny_recipe_dict, write_recipe

    data = {}
    for role, seed in (("calibration", 1), ("eval", 2)):
        x, y = labelled_arrays(48, seed=seed)
        data[role] = tmp_path / f"{role}.npz"
        np.savez(data[role], x=x, y=y)
    recipe = write_recipe(tmp_path / "recipe.yaml", tiny_recipe_dict(data))
    bundle = api.run(recipe, tmp_path / "bundle", cache_dir=tmp_path / "cache")
    assert (bundle / "report.html").is_file()
    check_in_browser(bundle / "report.html", tmp_path, "report-tiny-bundle")
