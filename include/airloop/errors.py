"""Errors a user can cause. The CLI and DAG glue turn these into one clear message, never a traceback."""

from __future__ import annotations


class AirloopError(Exception):
    """Base class: something the user can fix (a spec, a file, a call, a missing service)."""


class SpecError(AirloopError):
    """A pipeline spec is invalid; the message names the file and the field."""


class DataError(AirloopError):
    """An input file cannot be read as a table (missing, corrupt, wrong format)."""


class RegistryError(AirloopError):
    """A model or version asked for does not exist, or the registry refused a change."""
