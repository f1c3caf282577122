"""Errors meant for people: one line each, ``file:line:col: path: what is wrong``."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Problem", "UserError"]


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int  # 1-based
    col: int  # 1-based
    path: str  # where inside the document, e.g. "sites[0].classrooms[2].devices.chromebok"
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}:{self.col}: {where}{self.message}"


class UserError(Exception):
    """Bad input: the CLI prints each line and exits 2, without a traceback."""

    def __init__(self, problems: "list[Problem] | list[str] | Problem | str"):
        if isinstance(problems, (str, Problem)):
            problems = [problems]
        self.problems = list(problems)
        self.lines = [str(p) for p in self.problems]
        super().__init__("\n".join(self.lines))
