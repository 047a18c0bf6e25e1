"""Loading YAML into pydantic models with errors that name the file, the path inside it and what was expected."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from tonghu.common.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
# Besides YAMLError, PyYAML lets through what its constructors raise: ValueError for a date like 2024-02-30 or
# an integer of more digits than Python converts (UnicodeDecodeError is one too), RecursionError for deep nesting.
YAML_VALUE_ERRORS = (ValueError, RecursionError)
# A rejected value of these fields is never echoed: error messages end up in logs and terminals.
SECRET_WORDS = ("password", "secret", "token", "passphrase", "private")


class StrictModel(BaseModel):
    """Base of every configuration model: unknown keys are errors (a typo must not silently keep a default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def load_yaml_model(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, *YAML_VALUE_ERRORS) as err:
        raise ConfigError(f"{path}: cannot read YAML: {str(err)[:500]}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def location(loc: tuple[int | str, ...], hidden: Collection[str] = ()) -> str:
    """A pydantic error location as written in YAML terms: ``collectors[0].broker.port``.

    ``hidden`` names discriminator tags pydantic inserts after a list index (``collectors.0.mqtt…``): they
    are not in the file, so they would only confuse.
    """
    out = ""
    prev: int | str | None = None
    for part in loc:
        if isinstance(part, str) and isinstance(prev, int) and part in hidden:
            prev = part
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        prev = part
    return out or "(top level)"


def describe_errors(err: ValidationError, source: str, hidden: Collection[str] = ()) -> str:
    """One line per problem: source, path inside the config, and what was expected."""
    lines: list[str] = []
    for e in err.errors(include_url=False):
        loc = list(e["loc"])
        # Pydantic appends validator names such as 'function-after[...]'; they mean nothing in YAML.
        while loc and isinstance(loc[-1], str) and "[" in loc[-1]:
            loc.pop()
        msg = e["msg"].removeprefix("Value error, ")
        got = e.get("input")
        secret = any(isinstance(p, str) and any(w in p.lower() for w in SECRET_WORDS) for p in loc)
        shown = ("" if isinstance(got, dict | list) or e["type"] == "missing" or secret
                 else f" (got {_short_repr(got)})")
        line = f"{source}: {location(tuple(loc), hidden)}: {msg}{shown}"
        if line not in lines:
            lines.append(line)
    return "\n".join(lines)


def _short_repr(value: Any) -> str:
    # The repr of an integer beyond 4300 digits raises ValueError; a long string would swamp the message.
    if isinstance(value, int) and value.bit_length() > 256:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value[:200] if isinstance(value, str | bytes) else value)
    return text if len(text) <= 200 else f"{text[:200]}…"


def validate_model(model: type[M], data: dict[str, Any], source: str, hidden: Collection[str] = ()) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(describe_errors(err, source, hidden)) from None
