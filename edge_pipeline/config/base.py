from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Every config rejects unknown keys, so a typo is an error rather than a silent default."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())
