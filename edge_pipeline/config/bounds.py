"""Upper and lower bounds on every count, size and duration a recipe or the CLI takes.

Without an upper bound, ``benchmark.iterations: 100000000000000000000000000`` is accepted and
runs until someone interrupts it. The limits sit far above any real use and far below a value
that cannot finish; recipe fields and CLI flags share them, so both refuse the same values with
the same message, naming the allowed range (pydantic's own message names only the bound missed).
"""

from __future__ import annotations

import argparse
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

# (low, high), inclusive. Each name says what it bounds.
ITERATIONS = (1, 1_000_000)  # timed runs per configuration
WARMUP = (0, 100_000)  # untimed runs before timing
ROUNDS = (1, 100)  # fresh worker processes per artifact
BATCH_SIZE = (1, 65_536)  # timed, eval and training batch sizes
THREADS = (1, 1_024)  # intra-op threads
TIME_BUDGET_S = (0.001, 86_400.0)  # seconds of timing per configuration: at most a day
USER_CODE_TIMEOUT_S = (0.01, 86_400.0)  # seconds a user's function (metric, data provider) may run
EPOCHS = (0, 10_000)  # passes over the training data
SAMPLES = (1, 10_000_000)  # samples drawn for calibration, checks and fidelity
MAX_DIM = 2**31 - 1  # one dimension of an input shape
LIST_LENGTH = 64  # entries of a swept list (batch sizes, thread counts)


def out_of_range(value, bounds: tuple) -> str | None:
    """Why ``value`` is refused, or None when it lies inside ``bounds``."""
    low, high = bounds
    if low <= value <= high:
        return None
    return f"{value} is out of range; allowed {low} to {high}"


def _checker(bounds: tuple):
    def check(value):
        if value is not None and (reason := out_of_range(value, bounds)) is not None:
            # A custom error: pydantic would prefix "Value error, " to a plain ValueError's text.
            raise PydanticCustomError("out_of_range", reason)
        return value

    return check


def _schema(bounds: tuple):
    """The range in the JSON schema too (the validator above is invisible to it)."""
    return Field(json_schema_extra={"minimum": bounds[0], "maximum": bounds[1]})


# Field types: an int (or float) restricted to its bounds. Named aliases, so type checkers see int.
Iterations = Annotated[int, AfterValidator(_checker(ITERATIONS)), _schema(ITERATIONS)]
Warmup = Annotated[int, AfterValidator(_checker(WARMUP)), _schema(WARMUP)]
Rounds = Annotated[int, AfterValidator(_checker(ROUNDS)), _schema(ROUNDS)]
BatchSize = Annotated[int, AfterValidator(_checker(BATCH_SIZE)), _schema(BATCH_SIZE)]
Threads = Annotated[int, AfterValidator(_checker(THREADS)), _schema(THREADS)]
TimeBudget = Annotated[float, AfterValidator(_checker(TIME_BUDGET_S)), _schema(TIME_BUDGET_S)]
UserCodeSeconds = Annotated[float, AfterValidator(_checker(USER_CODE_TIMEOUT_S)), _schema(USER_CODE_TIMEOUT_S)]
Epochs = Annotated[int, AfterValidator(_checker(EPOCHS)), _schema(EPOCHS)]
Samples = Annotated[int, AfterValidator(_checker(SAMPLES)), _schema(SAMPLES)]


def bounded_list(values: list[int], bounds: tuple) -> list[int]:
    """A swept list: non-empty, at most LIST_LENGTH entries, each inside ``bounds``."""
    if not values or len(values) > LIST_LENGTH:
        raise PydanticCustomError("list_length", "{values} must list 1 to {most} values",
                                  {"values": values, "most": LIST_LENGTH})
    for value in values:
        if (reason := out_of_range(value, bounds)) is not None:
            raise PydanticCustomError("out_of_range", reason)
    return values


# argparse types: a refused value is argparse's usage error (exit code 2), naming the flag.
def int_in(bounds: tuple):
    return _number_in(bounds, int, "an integer")


def float_in(bounds: tuple):
    return _number_in(bounds, float, "a number")


def _number_in(bounds: tuple, kind: type, what: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"'{text}' is not {what}") from exc
        return _within(value, bounds)

    return parse


def int_list_in(bounds: tuple):
    def parse(text: str) -> list[int]:
        from edge_pipeline.config.arguments import int_list

        values = int_list(text)
        if len(values) > LIST_LENGTH:
            raise argparse.ArgumentTypeError(f"'{text}' lists {len(values)} values; at most {LIST_LENGTH}")
        return [_within(value, bounds) for value in values]

    return parse


def _within(value, bounds: tuple):
    reason = out_of_range(value, bounds)
    if reason is not None:
        raise argparse.ArgumentTypeError(reason)
    return value
