"""What every section of a spec shares: strictness, and the pattern of a pipeline's name."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

NAME_RE = r"^[a-z][a-z0-9_]{1,62}$"


class Strict(BaseModel):
    """A spec section: unknown keys are refused (almost always typos, or fields that no longer exist), values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
