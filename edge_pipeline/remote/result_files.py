"""Where each device's results go (its own files; with several devices named after it), a device
bundle's engine kept beside them, and the failure raised once every result is written."""

from __future__ import annotations

import shutil
from pathlib import Path

from edge_pipeline.artifacts.atomic import atomic_path, write_json, write_text
from edge_pipeline.artifacts.outputs import output_errors
from edge_pipeline.errors import DeviceError
from edge_pipeline.remote.session import Outcome


class DevicesFailedError(DeviceError):
    """One or more devices failed; ``reports`` holds what every device did measure (written already)."""

    def __init__(self, message: str, reports: dict[str, dict], written: dict[str, tuple[Path | None, Path | None]],
                 exit_code: int):
        super().__init__(message)
        self.reports, self.written, self.exit_code = reports, written, exit_code


def device_outputs(out: Path | None, csv_out: Path | None, name: str,
                   several: bool) -> tuple[Path | None, Path | None]:
    """As locally (a folder gets benchmark.json); with several devices each gets its own files,
    named after it: r.json -> r.<device>.json, a folder -> benchmark.<device>.json."""
    from edge_pipeline.standalone import benchmark_outputs

    out, csv_out = benchmark_outputs(out, csv_out)
    if not several:
        return out, csv_out
    return (_per_device(out, name), _per_device(csv_out, name))


def _per_device(path: Path | None, name: str) -> Path | None:
    return None if path is None else path.with_name(f"{path.stem}.{name}{path.suffix}")


def check_outputs(out: Path | None, csv_out: Path | None, inputs: list[Path]) -> None:
    from edge_pipeline.standalone import check_result_files

    check_result_files(out, csv_out, inputs)


def keep_engines_beside(outcome: Outcome, out: Path | None) -> None:
    """A device bundle's engine and timings, copied back, go to ``<out stem>-engines/<n>-<bundle>/``
    (several bundles give files of one name); the result records where."""
    if out is None or outcome.report is None:
        return
    for index, result in enumerate(outcome.report["results"]):
        built = result.get("tensorrt_bundle") or {}
        if not built.get("pulled"):
            continue
        folder = out.with_name(f"{out.stem}-engines") / f"{index + 1}-{Path(result['artifact']).name}"
        with output_errors(folder):
            kept = [copy_atomic(Path(pulled), folder / Path(pulled).name) for pulled in built.pop("pulled")]
        built["files"] = [str(path) for path in kept]


def copy_atomic(source: Path, final: Path) -> Path:
    with atomic_path(final) as tmp:
        shutil.copyfile(source, tmp)
    return final


def write_all(outcomes: list[Outcome], outputs: dict[str, tuple[Path | None, Path | None]]) -> dict[str, dict]:
    from edge_pipeline.benchmarking.results import to_csv

    reports, written, problems = {}, {}, []
    for outcome in outcomes:
        out, csv_out = outputs[outcome.name]
        if outcome.report is not None:
            reports[outcome.name] = outcome.report
            written[outcome.name] = (out, csv_out)
            if out is not None:
                with output_errors(out):
                    write_json(out, outcome.report)
            if csv_out is not None:
                with output_errors(csv_out, "--csv"):
                    write_text(csv_out, to_csv(outcome.report))
        if outcome.error is not None:
            problems.append((outcome, out))
    if problems:
        raise _failure(problems, reports, written)
    return reports


def _failure(problems: list[tuple[Outcome, Path | None]], reports: dict[str, dict],
             written: dict[str, tuple[Path | None, Path | None]]) -> DevicesFailedError:
    parts = []
    for outcome, out in problems:
        text = str(outcome.error)
        if outcome.report is not None and outcome.report.get("partial") and out is not None:
            text += f"; what was measured before is in {out} (marked partial)"
        parts.append(text)
    # One device: its own exit code (3 for a runtime missing there); several: 10.
    code = problems[0][0].error.exit_code if len(problems) == 1 else DeviceError.exit_code  # type: ignore[union-attr]
    return DevicesFailedError("; ".join(parts), reports, written, code)
