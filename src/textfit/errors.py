"""Errors that a user can fix. The CLI, the server and the studio print their message and nothing
else, so every message names what is wrong (the file, row or column) and what to do about it."""


class TextfitError(Exception):
    """Base class for a mistake the user can correct; never shown with a traceback."""


class DataError(TextfitError):
    """A data file or data set that cannot be used as given."""


class ModelError(TextfitError):
    """A base model or a trained model folder that cannot be loaded or used as asked."""
