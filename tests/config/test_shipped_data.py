import numpy as np

from edge_pipeline.config.locations import PACKAGE_DIR
from edge_pipeline.zoo.digits import digits_splits


def test_shipped_digits_sets_match_the_generator():
    splits = digits_splits()
    for name in ("calibration", "eval"):
        with np.load(PACKAGE_DIR / "calibration_data" / "digits" / f"{name}.npz") as shipped:
            np.testing.assert_allclose(shipped["x"], splits[name][0], atol=1e-6)
            np.testing.assert_array_equal(shipped["y"], splits[name][1])


def test_calibration_never_overlaps_eval():
    splits = digits_splits()
    calib = {row.tobytes() for row in splits["calibration"][0]}
    assert not any(row.tobytes() in calib for row in splits["eval"][0])
