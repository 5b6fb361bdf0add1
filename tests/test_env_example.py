"""Every setting is documented in .env.example, and the file itself loads."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import AliasChoices

from peal.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def _documented() -> dict[str, str]:
    names = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            names[match[1]] = match[2]
    return names


def _plain_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    assert isinstance(alias, AliasChoices), field
    names = [str(choice) for choice in alias.choices]
    plain = [name for name in names if not name.startswith("PEAL_")]
    return plain[0] if plain else names[0]


def test_every_setting_is_in_env_example() -> None:
    documented = _documented()
    missing = [_plain_name(f) for f in Settings.model_fields if _plain_name(f) not in documented]
    assert missing == []


def test_env_example_names_only_real_settings() -> None:
    known = {_plain_name(field) for field in Settings.model_fields}
    assert sorted(set(_documented()) - known) == []


def test_env_example_values_are_valid_settings(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text((ROOT / ".env.example").read_text())
    settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert settings.port == 3000
    assert settings.rate_limit_per_minute == 100
