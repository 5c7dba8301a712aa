"""The errors this package raises for problems a user can fix: bad arguments, bad input files, models or
folders that cannot be used, outputs that would be overwritten.

Every one of them derives from `ExHubertError`, so the command line (`exhubert_hf.commands`) can report it as
one line and exit with status 2, and Python callers can catch them in one place. They also derive from the
builtin they refine (`ValueError`, `FileExistsError`, ...), so `except ValueError` keeps working.
"""


class ExHubertError(Exception):
    """A problem with what the user asked for or gave us, reported as one line (never a bug of ours)."""


class UsageError(ExHubertError, ValueError):
    """An argument value that cannot work (a negative window, an unknown format, a layer that does not exist)."""


class InputError(ExHubertError, ValueError):
    """An input file or folder that cannot be used; the message names it and the problem."""


class ModelLoadError(ExHubertError, OSError):
    """A model folder or Hub id that cannot be loaded (missing, incomplete, wrong kind, untrusted code)."""


class HubUnreachableError(ExHubertError, ConnectionError):
    """The Hugging Face Hub cannot be reached (no network, name resolution, refused, timed out)."""


class OutputExistsError(ExHubertError, FileExistsError):
    """An output that exists and would be replaced without the user's explicit permission (`--overwrite`)."""


def error_summary(error: BaseException) -> str:
    """The last line of an exception's message (decoders and loaders put the cause there), for one-line reports."""
    message = str(error).strip().splitlines()
    return message[-1] if message else type(error).__name__


__all__ = ["ExHubertError", "HubUnreachableError", "InputError", "ModelLoadError", "OutputExistsError", "UsageError", "error_summary"]
