"""An INT8 row not faster than its FP32 is flagged with what the runtime ran: the compute layers left
in float and the kernels behind them (an INT8 kernel no faster than the float one on this CPU)."""

from __future__ import annotations

from edge_pipeline.artifacts.record import Artifact
from edge_pipeline.benchmarking.rows import BenchmarkRow, LatencyStats
from edge_pipeline.reports.precision import precision_section, precision_table, slower_int8_notes


def row(precision: str, p50: float) -> BenchmarkRow:
    return BenchmarkRow.model_construct(
        artifact_id=f"encoder/x86-cpu-openvino/{precision}", model="encoder", target="x86-cpu-openvino",
        precision=precision, runtime_variant="f32", batch_size=1, threads=2, reference_variant=precision == "fp32",
        latency_ms=LatencyStats(p50=p50, p90=p50, p99=p50), simulated=False, measured_on="device")


def int8_artifact() -> Artifact:
    executed = {"int8_layers": 20, "float_layers": [{"name": "attention_v", "op_type": "MatMul"}],
                "kernels": {"jit_gemm_i8": 20, "brgemm_avx2_f32": 1}, "read_from": "openvino on this host"}
    return Artifact.model_construct(id="encoder/x86-cpu-openvino/int8", target="x86-cpu-openvino", precision="int8",
                                    meta={"executed": executed})


def test_a_slower_int8_row_names_its_float_layers_and_the_kernels_it_ran_on():
    section = precision_section([int8_artifact()])
    [note] = slower_int8_notes([row("fp32", 13.1), row("int8", 19.9)], section)
    assert note.startswith("INT8 is not faster than FP32: encoder/x86-cpu-openvino/int8 [f32]")
    assert "1 compute layers in float: attention_v" in note
    assert note.endswith("its compute layers ran on jit_gemm_i8 ×20, brgemm_avx2_f32 ×1")
    headers, [cells] = precision_table(section)
    assert cells[headers.index("kernels on this host")] == "jit_gemm_i8 ×20, brgemm_avx2_f32 ×1"
    assert slower_int8_notes([row("fp32", 13.1), row("int8", 9.9)], section) == []
