"""What the front ends share for text input: YAML, validation, ``KEY=VALUE`` overrides, dotted keys, ``${VAR}``, slugs.

One implementation each, so the CLI, the run config, the nightly suites and the pytest
plugin read settings the same way and fail with the same clear errors.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from medrobust.errors import ConfigError

_M = TypeVar("_M", bound=BaseModel)
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def load_yaml_mapping(path: str | Path, what: str = "config") -> dict[str, Any]:
    """A YAML file that must hold a mapping; errors name the file and the problem."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: {what} file not found")
    try:
        loaded = yaml.safe_load(p.read_text()) or {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: unreadable {what} file ({exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({exc})") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{p}: the {what} must be a mapping of settings")
    return loaded


def set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """Set a ``model.name``-style key inside nested dicts, creating sections as needed."""
    node = raw
    parts = dotted.split(".")
    for part in parts[:-1]:
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"override {dotted}: {part} is not a section")
        node = nxt
    node[parts[-1]] = value


def yaml_value(text: str, where: str) -> Any:
    """One option value read as plain YAML (numbers, true/false, lists); tags such as ``!!python/...`` are refused."""
    try:
        if any(isinstance(token, yaml.TagToken) for token in yaml.scan(text)):
            raise ConfigError(f"{where}: YAML tags (!...) are not allowed in option values")
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{where}: the value is not valid YAML ({problem})") from None


def parse_kv(values: tuple[str, ...], flag: str, whole: str | None = None) -> dict[str, Any]:
    """``KEY=VALUE`` strings (``-D n=32``) into a dict; values are read as plain YAML.

    ``whole`` is the flag's full value when ``values`` are its parts (``--attack pgd:steps=3,norm=l2``).
    """
    out: dict[str, Any] = {}
    for item in values:
        label = f"{flag} {item if whole is None else whole!r}"
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            part = f": parameter {item!r}" if whole is not None else ""
            raise ConfigError(f"{label}{part} must look like KEY=VALUE")
        out[key.strip()] = yaml_value(value, label)
    return out


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``defaults.n=32``-style strings into a dict (values read as plain YAML)."""
    return parse_kv(tuple(items), "override")


def expand_env(obj: Any) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string; an unset variable without default is an error."""
    if isinstance(obj, str):
        return _ENV.sub(_env_value, obj)
    if isinstance(obj, dict):
        return {k: expand_env(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [expand_env(v) for v in obj]
    return obj


def _env_value(match: re.Match[str]) -> str:
    name, default = match.group(1), match.group(2)
    value = os.environ.get(name)
    if value:
        return value
    if default is not None:
        return default
    raise ConfigError(f"environment variable {name} is not set (the suite uses ${{{name}}})")


def slug(text: str, empty: str = "run") -> str:
    """A file-name-safe form of ``text`` (letters, digits, ``._-``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or empty


def validated(model: type[_M], raw: Any, where: str = "", names: Mapping[str, str] | None = None) -> _M:
    """``model.model_validate(raw)``, with pydantic's errors as one clear :class:`ConfigError`.

    ``names`` maps dotted keys that came from command-line flags to the flag (``{"eps": "--eps"}``): their
    errors name the flag, and ``where`` (the config file) is left out when every error came from a flag.
    """
    try:
        return model.model_validate(raw)
    except (ValidationError, ConfigError) as exc:  # a model with its own __init__ raises ConfigError
        pydantic_error = exc if isinstance(exc, ValidationError) else exc.__context__  # kept by `from None`
        if not isinstance(pydantic_error, ValidationError):
            raise ConfigError(f"{where}: {exc}" if where else str(exc)) from None
        located = [(_flag_for(_loc(e), names or {}), e) for e in pydantic_error.errors()]
        problems = "; ".join(f"{flag or _loc(e) or 'value'}: {_msg(e)}" for flag, e in located)
        from_file = where and not all(flag for flag, _ in located)
        raise ConfigError(f"{where}: {problems}" if from_file else problems) from None


def validation_problems(exc: ValidationError) -> str:
    """Pydantic's errors in one line: ``field.sub: message; ...``."""
    return "; ".join(f"{_loc(e) or 'value'}: {_msg(e)}" for e in exc.errors())


def _loc(error: Any) -> str:
    return ".".join(str(p) for p in error["loc"])


def _msg(error: Any) -> str:
    """Pydantic's message without its ``Value error, `` prefix (our validators' own words follow it)."""
    return str(error["msg"]).removeprefix("Value error, ")


def _flag_for(loc: str, names: Mapping[str, str]) -> str | None:
    """The flag that set ``loc`` or a key above it, if any."""
    hits = [key for key in names if loc == key or loc.startswith(key + ".")]
    return names[max(hits, key=len)] if hits else None
