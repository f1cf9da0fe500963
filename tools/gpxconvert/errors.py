"""The one error the converter reports to its user."""


class ConvertError(Exception):
    """A config that cannot be converted: one line for the user."""

