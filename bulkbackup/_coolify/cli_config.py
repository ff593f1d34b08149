"""coolify-cli's config file (~/.config/coolify/config.json): its instances, and the one chosen."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from bulkbackup._core.errors import ConfigError

__all__ = ["default_config_path", "every_instance", "pick_instance", "read_config"]


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """The coolify-cli config file: ~/.config/coolify/config.json."""
    env = os.environ if environ is None else environ
    home = env.get("HOME") or env.get("USERPROFILE")
    return (Path(home) if home else Path.home()) / ".config" / "coolify" / "config.json"


def read_config(path: Path) -> object:
    try:
        with open(path, encoding="utf-8-sig") as file:
            return json.load(file)
    except OSError as error:
        raise ConfigError(f"cannot read the coolify-cli config file {path}: {error.strerror or error}") from None
    except ValueError as error:
        where = f" (line {error.lineno}, column {error.colno})" if isinstance(error, json.JSONDecodeError) else ""
        raise ConfigError(f"the coolify-cli config file {path} is not valid JSON{where}") from None


def pick_instance(config: object, context: str | None, path: Path, *, keyword: str = "context") -> tuple[str, str, str]:
    """(name, fqdn, token) of the instance named `context`, else of the one marked default."""
    instances = _instances(config, path)
    available = _available(instances)
    if context is not None:
        chosen = [i for i in instances if i.get("name") == context]
        if not chosen:
            raise ConfigError(f"no instance named {context!r} in {path}; available: {available}")
    else:
        chosen = [i for i in instances if i.get("default") is True]
        if len(chosen) != 1:
            problem = "no default instance" if not chosen else "several default instances"
            raise ConfigError(f"{problem} in {path}: choose one with {keyword} (available: {available})")
    return _entry(chosen[0], path)


def every_instance(config: object, path: Path) -> list[tuple[str, str, str]]:
    """(name, fqdn, token) of every instance, in the file's order. Names must be distinct: rows are routed to an
    instance by its name, and two of one name could send a row meant for one to the other."""
    instances = _instances(config, path)
    if not instances:
        raise ConfigError(f"the coolify-cli config file {path} lists no instances")
    found = [_entry(i, path) for i in instances]
    names = [name for name, _, _ in found]
    for name in names:
        if not name:
            raise ConfigError(f"an instance in {path} has no name: every instance needs one to be told apart")
        if names.count(name) > 1:
            raise ConfigError(f"two instances in {path} are named {name!r}: give each its own name")
    return found


def _instances(config: object, path: Path) -> list[dict]:
    instances = config.get("instances") if isinstance(config, dict) else None
    if not isinstance(instances, list) or not all(isinstance(i, dict) for i in instances):
        raise ConfigError(f'the coolify-cli config file {path} has no "instances" list')
    return instances


def _available(instances: list[dict]) -> str:
    return ", ".join(repr(str(i.get("name", ""))) for i in instances) or "none"


def _entry(instance: dict, path: Path) -> tuple[str, str, str]:
    name = str(instance.get("name", ""))
    fqdn = instance.get("fqdn")
    token = instance.get("token")
    if not isinstance(fqdn, str) or not fqdn.strip():
        raise ConfigError(f"the instance {name!r} in {path} has no fqdn")
    if not isinstance(token, str) or not token.strip():
        raise ConfigError(f"the instance {name!r} in {path} has no token")
    return name, fqdn.strip(), token
