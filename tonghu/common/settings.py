"""Loading YAML into pydantic models with errors that name the file, the path inside it and what was expected."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from tonghu.common.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base of every configuration model: unknown keys are errors (a typo must not silently keep a default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def load_yaml_model(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read YAML: {err}") from err
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
        shown = "" if isinstance(got, dict | list) or e["type"] == "missing" else f" (got {got!r})"
        line = f"{source}: {location(tuple(loc), hidden)}: {msg}{shown}"
        if line not in lines:
            lines.append(line)
    return "\n".join(lines)


def validate_model(model: type[M], data: dict[str, Any], source: str, hidden: Collection[str] = ()) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(describe_errors(err, source, hidden)) from None
