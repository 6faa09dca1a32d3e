"""What init learns by running a factory's model more than once: where each input and output holds
its batch (the dims that change between the given batch and one more), and which outputs look like
state fed back into an input on the next call (an RNN's next hidden state)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from edge_pipeline.config.schema import InputSpec

MAX_PROBES = 16  # forward passes spent on placing the batch (inputs with several batch-sized axes)
# How an output is named after the input it feeds back: state -> next_state, h -> h_n, hidden -> new_hidden.
STATE_NAME_FORMS = ("next_{}", "new_{}", "{}_next", "{}_new", "{}_n", "{}_out", "out_{}")

Shapes = list[tuple[str, list]]
Forward = Callable[[list[InputSpec], int], "Shapes | None"]  # (inputs, batch) -> output shapes, None if refused


def batch_axes(forward: Forward, specs: list[InputSpec],
               outputs: Shapes) -> tuple[list[InputSpec], dict[str, int | None]]:
    """The inputs with their batch axes and {output: batch axis} for outputs not batched on axis 0, found
    by ``forward(specs, batch)`` (output shapes, None where the model refuses the feed) at the given batch
    plus one. An input's batch can only sit on an axis sized as the batch (the lowest tried first); a
    model that takes no other batch keeps every batch on axis 0."""
    from edge_pipeline.modeling.onnx_export import declared_batch

    batch = declared_batch(specs)
    choices = [_batch_sized_axes(spec, batch) for spec in specs]
    for axes in itertools.islice(itertools.product(*choices), MAX_PROBES):
        tried = [spec.model_copy(update={"batch_axis": axis}) for spec, axis in zip(specs, axes, strict=True)]
        grown = forward(tried, batch + 1)
        found = None if grown is None else _changed_axes(outputs, grown, batch)
        if found is not None:
            return tried, {name: axis for name, axis in found.items() if axis != 0}
    return specs, {}


def state_pairs(specs: list[InputSpec], outputs: Shapes) -> dict[str, str]:
    """{output: input} for outputs shaped like an input: paired by name first (state -> next_state),
    then by shape alone with any input but the first (the first is the data the model reads)."""
    shapes = {spec.name: list(spec.shape) for spec in specs if spec.shape}
    pairs: dict[str, str] = {}
    for output, shape in outputs:
        named = [name for name, same in shapes.items()
                 if same == list(shape) and any(output == form.format(name) for form in STATE_NAME_FORMS)]
        if named and named[0] not in pairs.values():
            pairs[output] = named[0]
    for output, shape in outputs:
        if output in pairs:
            continue
        same = [name for name, dims in shapes.items()
                if dims == list(shape) and name != specs[0].name and name not in pairs.values()]
        if same:
            pairs[output] = same[0]
    return {output: pairs[output] for output, _ in outputs if output in pairs}


def _batch_sized_axes(spec: InputSpec, batch: int) -> list[int | None]:
    if not spec.shape:
        return [None]  # a scalar has no batch axis
    sized = [axis for axis, size in enumerate(spec.shape) if size == batch]
    return sized or [None]  # no dim sized as the batch: an input the model takes whole (a table, a filter)


def _changed_axes(before: Shapes, after: Shapes, batch: int) -> dict[str, int | None] | None:
    """Per output the one dim that grew with the batch, from ``batch`` to ``batch + 1`` samples (None: none
    did, the output has no batch); None when the outputs changed otherwise (another count, a rank,
    several dims, a dim not in proportion): not a batch."""
    if [name for name, _ in before] != [name for name, _ in after]:
        return None
    found: dict[str, int | None] = {}
    for (name, old), (_, new) in zip(before, after, strict=True):
        if len(old) != len(new):
            return None
        changed = [axis for axis, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
        if len(changed) > 1 or (changed and new[changed[0]] * batch != old[changed[0]] * (batch + 1)):
            return None
        found[name] = changed[0] if changed else None
    return found
