"""`compare` on device rows: matched to the same device's rows of the same artifact and configuration,
gated on latency with the host rows' rules, other boards not comparable, lost rows failed; the host
rows' gates are the same with or without device rows beside them."""

from __future__ import annotations

from edge_pipeline.benchmarking.timing import summarize
from edge_pipeline.reports.device_rows import DeviceRow
from edge_pipeline.reports.gates.compare import compare_runs
from edge_pipeline.reports.gates.device_gates import GATE, device_gates
from edge_pipeline.reports.gates.run_loading import load_run
from edge_pipeline.reports.gates.thresholds import FAIL, PASS, SKIPPED, GateThresholds
from tests.reports.report_factory import default_rows, make_manifest, make_report, timings, write_run

BOARD = {"hostname": "orin", "cpu_model": "Cortex-A78AE", "cpu_flags": ["asimd"], "clock_state": "locked",
         "jetson": {"board_model": "NVIDIA Jetson AGX Orin", "power_mode": {"name": "MAXN", "id": 0}}}


def row(device: str = "orin", batch: int = 1, median_ms: float = 2.0, seed: int = 0, sha: str = "ab",
        board: dict | None = None) -> DeviceRow:
    samples = timings(median_ms, n=100, seed=seed)
    return DeviceRow(device=device, artifact="artifacts/net/x86/int8/model.int8.onnx", artifact_id="net/x86/int8",
                     sha256=sha * 32, backend="onnxruntime", runtime_variant="default", precision="int8",
                     target="x86-cpu-onnxruntime", batch_size=batch, threads=2, latency_ms=summarize(samples),
                     samples_ms=samples, throughput_per_s=1.0, fingerprint=board or BOARD)


def gate(base: list[DeviceRow], new: list[DeviceRow], **limits):
    return device_gates(base, new, GateThresholds(**limits))


def test_same_device_same_content_is_gated_and_a_regression_fails():
    results, notes = gate([row(), row(batch=8, median_ms=9.0)], [row(seed=1), row(batch=8, median_ms=20.0, seed=1)])
    assert [r.gate for r in results] == [GATE, GATE]
    assert [r.status for r in results] == [PASS, FAIL]
    assert results[1].subject == "device orin: net/x86/int8 [default] batch 8 threads 2"
    assert "latency regressed beyond the +5% limit" in results[1].message and not notes


def test_another_board_of_the_same_name_is_not_comparable_unless_asked():
    other = {**BOARD, "jetson": {"board_model": "NVIDIA Jetson Orin Nano"}}
    (result,), _ = gate([row()], [row(median_ms=4.0, board=other)])
    assert result.status == SKIPPED and "not comparable" in result.message and "Orin Nano" in result.message
    (result,), _ = gate([row()], [row(median_ms=4.0, board=other)], latency_across_cpus=True)
    assert result.status == FAIL


def test_device_rows_never_match_another_device():
    (other_device,), notes = gate([row()], [row(device="pi")])
    assert other_device.status == FAIL and "device 'orin' has no timed rows in the new run" in other_device.message
    assert "not gated: 1 device row(s)" in notes[0]


def test_a_rebuilt_artifact_is_gated_on_the_same_board_and_noted():
    """A release rebuilds its model: the new content is gated against the baseline's, as host rows are."""
    (changed,), notes = gate([row()], [row(sha="cd", median_ms=4.0, seed=1)])
    assert changed.status == FAIL and "latency regressed" in changed.message
    assert notes == ["1 device row(s) time a rebuilt artifact (new sha256), e.g. device orin: net/x86/int8 "
                     "[default] batch 1 threads 2"]


def test_a_changed_power_mode_is_noted():
    slower_mode = {**BOARD, "jetson": {**BOARD["jetson"], "power_mode": {"name": "15W", "id": 2}}}
    _, notes = gate([row()], [row(board=slower_mode)])
    assert notes == ["device orin: power and clock state changed (nvpmodel MAXN (mode 0), CPU clocks locked -> "
                     "nvpmodel 15W (mode 2), CPU clocks locked): its latency changes include that"]


def test_host_rows_are_gated_alike_with_or_without_device_rows(tmp_path):
    def bundle(name: str, device_rows: list[DeviceRow]):
        report = {**make_report(default_rows()), "device_results": [r.model_dump(mode="json") for r in device_rows]}
        return load_run(write_run(tmp_path / name, report, make_manifest()))

    plain = compare_runs(bundle("a", []), bundle("b", []), GateThresholds())
    with_devices = compare_runs(bundle("c", [row()]), bundle("d", [row(median_ms=6.0, seed=3)]), GateThresholds())
    host = [r for r in with_devices.results if r.gate != GATE]
    assert [(r.gate, r.subject, r.status) for r in host] == [(r.gate, r.subject, r.status) for r in plain.results]
    assert [r.status for r in with_devices.results if r.gate == GATE] == [FAIL] and not with_devices.passed
    assert with_devices.device_line() == "device rows: 1 failed, 0 passed, 0 within noise, 0 skipped"
    assert plain.device_line() is None and plain.passed
