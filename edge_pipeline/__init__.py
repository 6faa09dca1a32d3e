"""edge_pipeline: PyTorch model -> distilled, pruned, exported, quantized, measured edge artifacts.

Importing this package pulls in neither torch nor any runtime; the heavy parts load on first use.
"""

from edge_pipeline.errors import EdgePipelineError

__version__ = "0.1.0"
__all__ = ["EdgePipelineError", "__version__"]
