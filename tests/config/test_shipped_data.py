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


def test_cached_splits_equal_fresh_ones_and_a_damaged_copy_is_made_again(tmp_path, monkeypatch):
    from edge_pipeline.zoo import digits

    monkeypatch.setenv("EDGE_PIPELINE_CACHE", str(tmp_path))
    fresh = digits.digits_splits()  # made from scikit-learn, then kept
    path = digits._splits_path()
    assert path.is_file()
    cached = digits.digits_splits()
    for name in digits.SPLITS:
        for made, kept in zip(fresh[name], cached[name], strict=True):
            np.testing.assert_array_equal(made, kept)
    path.write_bytes(path.read_bytes()[:100])  # a truncated copy is not trusted
    again = digits.digits_splits()
    np.testing.assert_array_equal(again["eval"][1], fresh["eval"][1])
    with np.load(path) as rewritten:
        assert len(rewritten["train_x"]) == len(fresh["train"][0])
