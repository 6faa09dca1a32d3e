"""One root exception; each subclass maps to a distinct CLI exit code.

Exit codes (the one table; `edge-pipeline` returns these):

    0   success
    1   EdgePipelineError   any other deliberate failure
    2   ConfigError, ModelLoadError, DataError   bad input: recipe, target, model or data
    3   BackendUnavailableError   a runtime package is missing (the message names the pip extra)
    4   StageError   a stage ran and its result failed a check
    5-8 `compare` gate outcomes (a gate failed, different recipes, a missing artifact, unknown schema)
    9   OutputError   the output location is refused (not a bundle this tool wrote, a file, a
        filesystem root), not writable, or too small for the artifacts
    10  DeviceError   a remote device (devices.yaml) cannot be reached, refuses the key, fails
        mid-run, is out of disk or out of its time budget (the message names the device and the fix)
    11  PartialRunError   `run` wrote the bundle for some targets; the others failed (recorded in the
        bundle's report.json, report.md, report.html and manifest.json as failed_targets)
    130 interrupted (Ctrl-C); finished steps stay cached
"""

from __future__ import annotations


class EdgePipelineError(Exception):
    """Root of every error the pipeline raises on purpose. Messages name the thing and the fix."""

    exit_code = 1


class ConfigError(EdgePipelineError):
    """A recipe, target profile or CLI override is invalid."""

    exit_code = 2


class ModelLoadError(EdgePipelineError):
    """The model factory, checkpoint or exported program cannot be loaded."""

    exit_code = 2


class DataError(EdgePipelineError):
    """Calibration or evaluation data is missing, empty or has the wrong shape."""

    exit_code = 2


class UserCodeTimeoutError(DataError):
    """A user's function (the recipe's metric, a data provider) ran past its time limit.

    Its thread cannot be stopped (calibration/fenced.py), so this error ends the whole run, not one
    target: later measurements would share the CPU with it."""

    ends_run = True


class BackendUnavailableError(EdgePipelineError):
    """A runtime package is not installed; the message names the pip extra."""

    exit_code = 3


class StageError(EdgePipelineError):
    """A stage ran but its result failed a check (export tolerance, ONNX checker, quantizer)."""

    exit_code = 4


class FidelityFloorError(StageError):
    """A written artifact misses the recipe's fidelity floor (an output's cosine, or a metric figure)."""

    def __init__(self, message: str, artifact: str, reached: float, floor: float, below: str = "",
                 shortfall: float | None = None):
        super().__init__(message)
        # How far below their floors the missing outputs are, summed: the fallback's measure of a
        # change, so a trial that lifts one output while another stays worst still counts.
        self.shortfall = floor - reached if shortfall is None else shortfall
        self.below = below  # each output below its floor with its figure, for the fallback's last word
        self.artifact = artifact  # the file that missed, for the sensitivity fallback to profile
        self.primary = artifact  # the step's main artifact, profiled when the one that missed cannot be
        self.reached = reached
        self.floor = floor


class OutputError(EdgePipelineError):
    """The output location cannot take the result; nothing of the user's was touched."""

    exit_code = 9


class DeviceError(EdgePipelineError):
    """A remote device failed: unreachable, authentication, host key, disconnect, disk, time budget."""

    exit_code = 10



class PartialRunError(EdgePipelineError):
    """The bundle was written for the targets that succeeded; ``failures`` are the others.

    Raised after the bundle is complete, so a caller reads ``bundle`` as it would a finished run's;
    each failure is {target, stage, error (one line), error_class}."""

    exit_code = 11

    def __init__(self, bundle, failures: list[dict]):
        described = "; ".join(f"{f['target']} failed in {f['stage']}: {f['error']}" for f in failures)
        super().__init__(f"partial run: bundle {bundle} holds the other targets; {described}")
        self.bundle = bundle
        self.failures = failures


INTERRUPTED_EXIT_CODE = 130

