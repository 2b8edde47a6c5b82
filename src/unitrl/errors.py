"""User-facing errors.

A :class:`UnitrlError` is a mistake the user can fix (bad file, unknown benchmark, missing model).  The CLI
prints its message as one line and exits with status 2 instead of showing a traceback, so every message must
say what was wrong *and* how to fix it.
"""


class UnitrlError(Exception):
    """An error caused by user input; its message is shown as a single line without a traceback."""
