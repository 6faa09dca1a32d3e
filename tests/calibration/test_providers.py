"""Data from a user's function (data.<role>.provider): dicts, tuples and per-sample/per-batch iterables,
named by input, checked like files, with a content hash for the cache."""

import numpy as np
import pytest

from edge_pipeline.calibration.readers import load_dataset
from edge_pipeline.config.data import DatasetSpec
from edge_pipeline.config.schema import InputSpec
from edge_pipeline.errors import DataError

SPECS = [InputSpec(name="input_ids", shape=[1, 6], dtype="int64", value_range=[0, 10]),
         InputSpec(name="attention_mask", shape=[1, 6], dtype="int64", value_range=[0, 2])]
MODULE = "tests.calibration.test_providers"


def _sample(i: int) -> dict:
    return {"input_ids": np.full(6, i % 10, dtype=np.int64), "attention_mask": np.ones(6, dtype=np.int64)}


def as_dict():
    return {"input_ids": np.arange(24, dtype=np.int64).reshape(4, 6) % 10,
            "attention_mask": np.ones((4, 6), dtype=np.int64), "y": np.arange(4)}


def per_sample():
    return (_sample(i) for i in range(5))


def per_batch():
    return [{k: np.stack([v, v]) for k, v in _sample(i).items()} for i in range(3)]


def out_of_range():
    return {"input_ids": np.full((2, 6), 99, dtype=np.int64), "attention_mask": np.ones((2, 6), dtype=np.int64)}


def raises():
    raise RuntimeError("no data today")


def _load(name: str, **spec):
    return load_dataset(DatasetSpec(provider=f"{MODULE}:{name}", **spec), SPECS, "calibration")


def test_a_dict_provider_feeds_named_inputs_and_labels():
    data = _load("as_dict")
    assert data.names == ["input_ids", "attention_mask"] and len(data) == 4
    assert data.labels.tolist() == [0, 1, 2, 3]
    assert data.sha256 == _load("as_dict").sha256, "same content, same cache identity"


@pytest.mark.parametrize(("name", "count"), [("per_sample", 5), ("per_batch", 6)])
def test_iterables_of_samples_or_batches_are_joined(name, count):
    data = _load(name)
    assert len(data) == count and data.arrays["input_ids"].shape == (count, 6) and data.labels is None


def test_limit_applies_to_provided_data():
    assert len(_load("per_sample", limit=2)) == 2


@pytest.mark.parametrize(("name", "message"), [
    ("out_of_range", "input 'input_ids' has 12 values outside its value_range"),
    ("raises", "data.calibration.provider '.*:raises' raised RuntimeError: no data today"),
    ("missing", "has no callable 'missing'"),
])
def test_bad_providers_are_one_line_data_errors(name, message):
    with pytest.raises(DataError, match=message):
        _load(name)


def test_a_spec_takes_a_path_or_a_provider_not_both():
    with pytest.raises(ValueError, match="exactly one of 'path'"):
        DatasetSpec(path="x.npz", provider=f"{MODULE}:as_dict")
    with pytest.raises(ValueError, match="exactly one of 'path'"):
        DatasetSpec()
