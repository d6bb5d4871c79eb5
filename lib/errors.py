"""The one exception family a user can cause: each message says what was wrong and what to do.

The command line turns any `DMEError` into a one-line message and exit code 2 (`lib.cli`); everything
else is a bug or a runtime failure (exit code 1).
"""

from __future__ import annotations


class DMEError(Exception):
    """Base of every error a user can fix (bad input, missing weights, unusable device, broken record)."""


class ConfigError(DMEError, ValueError):
    """A configuration value the model cannot take; the message lists what is allowed."""


class WeightsError(DMEError, OSError):
    """Weights are missing, gated or unreadable; the message gives the exact command that fixes it."""


class DeviceError(DMEError, RuntimeError):
    """The requested device, dtype or offload mode does not exist on this machine."""


class RecordError(DMEError, ValueError):
    """A stored record in precomputed/ is corrupt or incomplete; the message names the file."""


class OutputError(DMEError, RuntimeError):
    """A generated image is NaN or all black; the message names the likely dtype cause."""
