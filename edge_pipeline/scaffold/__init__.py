"""`edge-pipeline init`: a starter recipe for a user's own model, written from the model itself.

A factory is built and run once on zeros (ones for integer inputs: a valid token id, a full mask)
to read its outputs; an ONNX file's inputs (names, dtypes, dims) and outputs are read from the
graph, and each dynamic dimension becomes a named axis with a guessed size the recipe marks
CONFIRM. Beside the recipe goes a calibration stub: a small .npz of random numbers of the right
shapes and dtypes, marked REPLACE in the recipe (a file rather than a provider stub, so the first
run needs no code of the user's beyond the model). Targets are those whose backend imports on
this machine. Nothing is written if any of the files exists already.
"""

from edge_pipeline.scaffold.starter import Written, init_recipe

__all__ = ["Written", "init_recipe"]
