"""Loading YAML into pydantic models with errors that name the file, the path inside it and what was expected."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from tonghu.common.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def load_yaml_model(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def validate_model(model: type[M], data: dict[str, Any], source: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        lines = [f"{source}: {'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
                 for e in err.errors()]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
