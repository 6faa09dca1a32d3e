"""Pipeline stages, one module each, registered by name in ``edge_pipeline.stages.registry``."""
