"""Render API Gateway mapping templates offline with a real Velocity engine (airspeed).

API Gateway's template variables are reproduced here from its developer guide: `$input.path(...)` (JSONPath
into the integration response body), `$util.escapeJavaScript(...)` (Java's JavaScript string escaping:
quotes, backslash, slash and control characters), and `$context.responseOverride.status`. Java string
methods the templates call (`trim`, `startsWith`, `replaceAll`) are provided on the strings they receive.
"""

from __future__ import annotations

import json
import re

import airspeed


class JavaString(str):
    def trim(self) -> JavaString:
        return JavaString(self.strip())

    def startsWith(self, prefix: str) -> bool:
        return self.startswith(prefix)

    def replaceAll(self, regex: str, replacement: str) -> JavaString:
        return JavaString(re.sub(regex, replacement.replace("\\", "\\\\"), self))


def _java_value(value: object) -> object:
    return JavaString(value) if isinstance(value, str) else value


class Input:
    def __init__(self, body: str) -> None:
        self._data = json.loads(body)

    def path(self, expression: str) -> object:
        value = self._data
        for part in filter(None, expression.removeprefix("$").split(".")):
            value = value[part]
        return _java_value(value)


#: What Java's StringEscapeUtils.escapeJavaScript (behind $util.escapeJavaScript) escapes besides non-ASCII.
_JAVASCRIPT_ESCAPES = {"'": "\\'", '"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}  # fmt: skip


class Util:
    def escapeJavaScript(self, text: str) -> JavaString:
        out = []
        for char in text:
            if char in _JAVASCRIPT_ESCAPES:
                out.append(_JAVASCRIPT_ESCAPES[char])
            elif ord(char) < 32 or ord(char) > 0x7F:
                out.append(f"\\u{ord(char):04X}")
            else:
                out.append(char)
        return JavaString("".join(out))


def render_integration_response(template: str, backend_body: str) -> tuple[str, int | None]:
    """The body API Gateway would send, and the status set through `$context.responseOverride` (or None)."""
    context = {"responseOverride": {}}
    body = airspeed.Template(template).merge(
        {"input": Input(backend_body), "util": Util(), "context": context}
    )
    return body.strip(), context["responseOverride"].get("status")
