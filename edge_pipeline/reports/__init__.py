"""report.json (the machine-readable truth) and renderings of it for people and CI."""
