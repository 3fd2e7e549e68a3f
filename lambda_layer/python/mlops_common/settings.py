"""Typed reading of Lambda environment variables: a missing or malformed setting names itself."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class SettingError(ValueError):
    """A Lambda environment variable is missing or malformed (a deployment bug, not a user error)."""


class EnvReader:
    """Read environment variables as typed values, failing with the variable's name and the problem."""

    def __init__(self, environ: Mapping[str, str]):
        self._environ = environ

    def text(self, name: str, default: str | None = None) -> str:
        value = self._environ.get(name, "").strip()
        if value:
            return value
        if default is not None:
            return default
        raise SettingError(f"environment variable {name} is required but not set")

    def integer(self, name: str, default: int | None = None, minimum: int | None = None) -> int:
        raw = self.text(name, None if default is None else str(default))
        try:
            value = int(raw)
        except ValueError:
            raise SettingError(f"environment variable {name} must be an integer, got {raw!r}") from None
        if minimum is not None and value < minimum:
            raise SettingError(f"environment variable {name} must be >= {minimum}, got {value}")
        return value

    def number(self, name: str, default: float | None = None) -> float:
        raw = self.text(name, None if default is None else str(default))
        try:
            return float(raw)
        except ValueError:
            raise SettingError(f"environment variable {name} must be a number, got {raw!r}") from None

    def flag(self, name: str, default: bool = False) -> bool:
        raw = self.text(name, "true" if default else "false").lower()
        if raw in ("true", "1", "yes"):
            return True
        if raw in ("false", "0", "no"):
            return False
        raise SettingError(f"environment variable {name} must be true or false, got {raw!r}")

    def json_object(self, name: str, default: dict[str, Any] | None = None) -> dict[str, Any]:
        raw = self.text(name, None if default is None else json.dumps(default))
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as error:
            raise SettingError(f"environment variable {name} is not valid JSON: {error}") from None
        if not isinstance(value, dict):
            raise SettingError(
                f"environment variable {name} must be a JSON object, got {type(value).__name__}"
            )
        return value

    def names(self, name: str) -> tuple[str, ...]:
        """A comma-separated list (empty entries dropped)."""
        return tuple(part.strip() for part in self.text(name).split(",") if part.strip())
