"""Loading YAML configuration files: every failure is a ConfigError that names the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field

from tonghu.common.errors import ConfigError
from tonghu.common.settings import StrictModel, load_yaml_model, validate_model


class Port(StrictModel):
    port: int = Field(1883, ge=1, le=65535)
    host: str = Field("h", max_length=10)


@pytest.mark.parametrize("text", ["a: " + "[" * 5000, "a: " + "{b: " * 5000, "a: " + "1" * 5000, "a: 2024-02-30",
                                  "a: 2001-13-01 00:00:00"])
def test_what_pyyaml_raises_besides_yaml_error_is_a_config_error(tmp_path: Path, text: str) -> None:
    # RecursionError for deep nesting, ValueError for impossible dates and integers beyond 4300 digits.
    path = tmp_path / "edge.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"^{path}: cannot read YAML"):
        load_yaml_model(path)


def test_error_messages_show_huge_values_briefly(tmp_path: Path) -> None:
    path = tmp_path / "edge.yaml"
    # Hexadecimal and base-60 integers have no digit limit when read, but their repr has.
    path.write_text("port: 0x" + "f" * 5000 + "\nhost: " + "x" * 100_000 + "\n")
    with pytest.raises(ConfigError) as err:
        validate_model(Port, load_yaml_model(path), str(path))
    port, host = str(err.value).splitlines()
    assert port.startswith(f"{path}: port: ") and port.endswith("(got an integer of 20000 bits)")
    assert host.startswith(f"{path}: host: ") and len(host) < 400


def test_a_rejected_secret_is_not_echoed() -> None:
    from pydantic import SecretStr

    from tonghu.common.errors import ConfigError
    from tonghu.common.settings import StrictModel, validate_model

    class Creds(StrictModel):
        username: str
        password: SecretStr

    with pytest.raises(ConfigError) as err:
        validate_model(Creds, {"username": "u", "password": 12345678901234}, "edge.yaml")
    assert "password" in str(err.value) and "12345678901234" not in str(err.value)
    with pytest.raises(ConfigError) as err:
        validate_model(Creds, {"username": 42, "password": "x"}, "edge.yaml")
    assert "(got 42)" in str(err.value)  # other values are still shown
