"""Errors the user can fix (bad data, bad hyperparameters): reported as one clear line, never as a traceback."""

from __future__ import annotations

import os


class TrainingInputError(ValueError):
    """A problem with the job's input: the message alone must tell the user what to fix."""


class DataError(TrainingInputError):
    """A problem in a data file, located by file, line (or JSON record) and column."""

    def __init__(
        self,
        path: os.PathLike | str,
        problem: str,
        *,
        line: int | None = None,
        column: str | None = None,
        location: str = "line",
    ):
        self.path = str(path)
        self.problem = problem
        self.line = line
        self.column = column
        where = [self.path]
        if line is not None:
            where.append(f"{location} {line}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {problem}")
