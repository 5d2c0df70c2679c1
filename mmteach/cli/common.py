"""What every ``mmteach`` subcommand shares: exit statuses and the one-line error."""

from __future__ import annotations

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "CliError"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class CliError(Exception):
    """An expected failure: printed as one line, exit status ``code``.

    Parameters
    ----------
    message : str
        The one line printed after ``mmteach <command>: error:``.
    code : int
        The exit status.
    """

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code
