"""One dataset abstraction (arrays in memory) that every backend's calibration adapter reads."""
