"""The one exception type users can cause.

Every problem that a user can fix (a bad file, a bad flag, bad numbers)
raises :class:`InputError` with a message that names the file, the row or
the flag, and says what to do. The CLI prints the message on one line and
exits with status 2.
"""

from __future__ import annotations

__all__ = ["InputError", "SpeedOfLightError"]


class SpeedOfLightError(Exception):
    """Base class of the package's own exceptions."""


class InputError(SpeedOfLightError, ValueError):
    """Bad input that the user can fix; the message says how."""
