"""One root exception; each subclass maps to a distinct CLI exit code."""


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


class BackendUnavailableError(EdgePipelineError):
    """A runtime package is not installed; the message names the pip extra."""

    exit_code = 3


class StageError(EdgePipelineError):
    """A stage ran but its result failed a check (export tolerance, ONNX checker, quantizer)."""

    exit_code = 4
