"""Reports with every kind of row a real run can produce, for the HTML/Markdown tests and the
headless-browser screenshot: host-timed and simulated targets beside real ones, and artifact
records carrying the export and quantize stages' meta."""

from tests.reports.report_factory import changed, default_rows, make_artifacts, make_row

ARM = "android-arm64-onnxruntime"
TRT = "x86-gpu-tensorrt"


def mixed_rows() -> list:
    """The default rows plus an ARM target timed on this host and a simulated TensorRT target, both
    faster and more accurate than anything real: exactly what must not headline."""
    rows = default_rows()
    for target, host, simulated in ((ARM, True, False), (TRT, False, True)):
        for model, precision, ms in (("teacher", "fp32", 1.4), ("student", "int8", 0.05)):
            row = make_row(model, precision, target, median_ms=ms, accuracy=99.5, size_bytes=700_000,
                           variant="ort-simulated" if simulated else "default", reference=not simulated,
                           simulated=simulated)
            rows.append(changed(row, measured_on="host") if host else row)
    return rows


def checked_artifacts() -> list[dict]:
    """The factory's records with the meta the export and quantize stages write."""
    records = make_artifacts()
    for record in records:
        if record["stage"] == "export":
            record["meta"] |= {"opset": 18, "numeric_check": {"samples": 32, "max_abs_diff": 9.5e-6, "cosine": 1.0}}
        if record["precision"] == "int8":
            record["meta"] |= {"weight_type": "int8", "per_channel": True, "weight_bits": 7, "matmul_outputs": "float",
                               "conv_kernel": "gemm", "convs_on_gemm": 3, "activation_type": "uint8",
                               "activation_symmetric": False, "calibration": {"method": "minmax", "samples": 128},
                               "fidelity_check": {"out": {"cosine": 0.998, "sqnr_db": 20.66, "top1_agreement": 99.0}}}
    return records
