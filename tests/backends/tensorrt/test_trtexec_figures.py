"""trtexec's own figures beside ours (device_script.add_trtexec_figures): its median end-to-end
latency per batch size from its performance summary, or None and the reason. A stand-in trtexec
prints TensorRT 10's summary lines (TensorRT itself is not installed here)."""

from __future__ import annotations

from pathlib import Path

from edge_pipeline.backends.tensorrt.device_script import TRTEXEC_FALLBACK, add_trtexec_figures

PLAN = {"inputs": [{"name": "images", "sample_shape": [3, 8, 8]}, {"name": "mask", "sample_shape": [8]}],
        "benchmark": {"iterations": 50}, "dla_core": None}

SUMMARY = """#!/bin/sh
echo "$@" >> "$(dirname "$0")/calls.log"
echo "[08/01/2025-10:00:00] [I] === Performance summary ==="
echo "[08/01/2025-10:00:00] [I] Throughput: 812.3 qps"
echo "[08/01/2025-10:00:00] [I] H2D Latency: min = 0.01 ms, max = 0.03 ms, mean = 0.02 ms, median = 0.02 ms"
echo "[08/01/2025-10:00:00] [I] Latency: min = 1.10 ms, max = 2.40 ms, mean = 1.26 ms, median = 1.234 ms, \
percentile(90%) = 1.4 ms, percentile(95%) = 1.5 ms, percentile(99%) = 2.1 ms"
echo "[08/01/2025-10:00:00] [I] GPU Compute Time: min = 1.0 ms, max = 2.2 ms, mean = 1.1 ms, median = 1.08 ms"
"""


def tool(folder: Path, text: str) -> str:
    path = folder / "trtexec"
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


def rows() -> list[dict]:
    return [{"batch_size": 1}, {"batch_size": 4}]


def test_the_median_latency_line_is_read_per_batch(tmp_path):
    timed = rows()
    found = add_trtexec_figures(tool(tmp_path, SUMMARY), tmp_path / "m.engine", PLAN, timed)
    assert found == {"path": str(tmp_path / "trtexec"), "note": None}
    assert [r["trtexec_ms"] for r in timed] == [1.234, 1.234]  # not H2D's or GPU compute's median
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert calls[1] == f"--loadEngine={tmp_path / 'm.engine'} --shapes=images:4x3x8x8,mask:4x8 --iterations=50"


def test_a_failing_trtexec_gives_none_and_its_last_line(tmp_path):
    timed = rows()
    found = add_trtexec_figures(tool(tmp_path, "#!/bin/sh\necho 'Error: engine deserialization failed'\nexit 1\n"),
                                tmp_path / "m.engine", PLAN, timed)
    assert [r["trtexec_ms"] for r in timed] == [None, None]
    assert found["note"].startswith("batch 1: trtexec exited 1 without a latency summary (Error: engine")


def test_no_trtexec_gives_none_and_says_where_it_looked(tmp_path):
    timed = rows()
    found = add_trtexec_figures(None, tmp_path / "m.engine", PLAN, timed)
    assert [r["trtexec_ms"] for r in timed] == [None, None]
    assert found == {"path": None, "note": f"trtexec not found (on PATH or at {TRTEXEC_FALLBACK})"}
