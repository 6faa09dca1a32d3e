"""Save and load PyTorch models produced by stages (e.g. a pruned student) without pickling classes.

A ``torch-program`` artifact is a ``torch.export`` program file (.pt2): the graph and weights,
so a pruned architecture reloads without the code that built it.
"""

from __future__ import annotations

from pathlib import Path

from edge_pipeline.artifacts.record import Artifact
from edge_pipeline.errors import ModelLoadError


def save_program(model, example, path: Path, dynamic_shapes: tuple | None = None) -> None:
    """``example``: a tensor, or a tuple with one tensor per forward() argument; ``dynamic_shapes``
    defaults to a dynamic batch (dim 0) shared by every input."""
    import torch

    from edge_pipeline.artifacts.atomic import atomic_path

    inputs = example if isinstance(example, tuple) else (example,)
    if dynamic_shapes is None:
        batch = torch.export.Dim("batch", min=1, max=4096)
        dynamic_shapes = tuple({0: batch} for _ in inputs)
    program = torch.export.export(_in_eval_mode(model), inputs, dynamic_shapes=dynamic_shapes)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.export.save(program, fh)  # a file object: torch warns on a temp name not ending in .pt2


def _in_eval_mode(model):
    """A loaded program's module (a distilled or pruned student) was exported in eval mode and refuses
    ``.eval()`` (NotImplementedError); any other module is switched to it."""
    try:
        return model.eval()
    except NotImplementedError:
        return model


def load_torch_artifact(artifact: Artifact):
    import torch

    if artifact.kind != "torch-program":
        raise ModelLoadError(f"artifact {artifact.id} is a {artifact.kind}, not a torch-program")
    try:
        return torch.export.load(str(artifact.path)).module()
    except Exception as exc:  # a damaged or truncated file: zip, pickle and torch errors alike
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise ModelLoadError(f"torch.export program {artifact.path} of {artifact.id} does not load ({detail}); "
                             "it is damaged: delete it (or the stage cache) and run again") from exc
