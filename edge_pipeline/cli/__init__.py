"""Thin command-line layer: one module per subcommand, each calling edge_pipeline.api."""
