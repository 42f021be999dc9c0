"""Exceptions shared by the pipelines: each names what to fix, never a secret."""


class ConfigurationError(ValueError):
    """The project's configuration (a table list, a catalogue, a query) is invalid."""


class DataError(ValueError):
    """Input data cannot be processed; the message names table, partition and cause."""
