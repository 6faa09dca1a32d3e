"""OpenVINO's own benchmark_app, run the one way the parity scripts compare against: sync API,
inference only, the compile properties our runner sets (passed through -load_config); its median
latency. Used by realsize.py, openvino_vs_benchmark_app.py and openvino_call_ab.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path


def benchmark_app_command() -> list[str]:
    """The wheel's console script beside this interpreter; where openvino was unpacked onto
    PYTHONPATH instead (no script was installed), its entry point run by this interpreter."""
    script = Path(sys.executable).with_name("benchmark_app")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from openvino.tools.benchmark.main import main; sys.exit(main())"]


def benchmark_app_median(ir: Path, config: dict, data_shape: str, folder: Path, iterations: int,
                         seconds: int | None = None) -> float:
    """benchmark_app's median latency in ms for ``ir`` with the CPU properties ``config``, inputs of
    ``data_shape`` ('name[1,3,224,224]'), ``iterations`` calls (bounded by ``seconds`` where given);
    its config and report go in ``folder``."""
    config_path = folder / "ov-config.json"
    config_path.write_text(json.dumps({"CPU": {k: str(v) for k, v in config.items()}}))
    report_dir = folder / "benchmark_app"
    shutil.rmtree(report_dir, ignore_errors=True)
    report_dir.mkdir(parents=True)
    command = [
        *benchmark_app_command(), "-m", str(ir), "-d", "CPU",
        "-load_config", str(config_path), "-api", "sync", "-data_shape", data_shape, "-inference_only",
        "-niter", str(iterations), *(["-t", str(seconds)] if seconds is not None else []),
        "-json_stats", "-report_type", "no_counters", "-report_folder", str(report_dir),
    ]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark_app failed on {ir}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    stats = json.loads((report_dir / "benchmark_report.json").read_text())["execution_results"]
    return float(stats["latency (ms)"])  # its median (latency_percentile defaults to 50)
