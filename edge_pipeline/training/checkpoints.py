"""Per-epoch training checkpoints, written atomically and read back with weights_only=True."""

from __future__ import annotations

from pathlib import Path

import torch

from edge_pipeline.artifacts.atomic import atomic_path


class EpochCheckpoints:
    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def _path(self, epoch: int) -> Path:
        return self.directory / f"epoch-{epoch:04d}.pt"

    def latest(self) -> Path | None:
        found = sorted(self.directory.glob("epoch-*.pt"))
        return found[-1] if found else None

    def save(self, epoch: int, model, optimizer, schedule, extra_params=None) -> None:
        state = {
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(),
            "extra": [p.detach() for p in (extra_params or [])],
        }
        with atomic_path(self._path(epoch)) as tmp:
            torch.save(state, tmp)

    def resume(self, model, optimizer, schedule, extra_params=None) -> int:
        """Load the newest checkpoint if there is one; return the epoch to start from."""
        path = self.latest()
        if path is None:
            return 0
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        with torch.no_grad():
            for param, saved in zip(extra_params or [], state["extra"], strict=False):
                param.copy_(saved)
        from edge_pipeline.progress import progress

        progress("train", f"resumed from {path.name}")
        return int(state["epoch"])


def remove_checkpoints(directory: Path) -> None:
    """Drop the epoch files this module wrote once a stage's result is published, then the folder
    if nothing else is in it: only files named as ours are ever removed."""
    directory = Path(directory)
    if not directory.is_dir():
        return
    for path in directory.rglob("epoch-*.pt"):
        path.unlink(missing_ok=True)
    for folder in sorted((p for p in directory.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        _remove_if_empty(folder)  # per-step folders of a pruning schedule
    _remove_if_empty(directory)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # holding files we did not write
