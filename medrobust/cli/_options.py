"""Reading the command line's own values: ``KEY=VALUE`` options, attack specs, number lists, ``--out``.

Each problem is a :class:`ConfigError` naming the flag, the value and what is wrong, so the
command exits 2 with one line before any data is read or any model is built.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import tempfile
import typing
from pathlib import Path
from typing import Any

import click
from pydantic import TypeAdapter, ValidationError

from medrobust.engine.resources import SETTINGS_LOGGER, apply_threads
from medrobust.errors import ConfigError, MedrobustError
from medrobust.io import parse_kv

log = logging.getLogger(__name__)

threads_option = click.option(
    "--threads",
    type=click.IntRange(min=1),
    help="Torch threads (default: OMP_NUM_THREADS, else one per physical core this process may use).",
)


class BatchSize(click.ParamType):
    """``--batch-size``: a positive number of images, or ``auto`` (sized from the input and the memory)."""

    name = "N|auto"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | str:
        """The number, or ``"auto"``; anything else names the flag."""
        text = str(value).strip().lower()
        if text == "auto":
            return text
        if not text.isdigit() or int(text) < 1:
            self.fail(f"{value!r} is not a positive number of images nor auto", param, ctx)
        return int(text)


def machine_settings(threads: int | None, quiet: bool) -> None:
    """Set torch's threads before any work, and show the run's resolved settings unless ``--quiet``."""
    logging.getLogger(SETTINGS_LOGGER).setLevel(logging.WARNING if quiet else logging.INFO)
    apply_threads(threads)


def attack_spec(text: str, flag: str = "--attack") -> str | dict[str, Any]:
    """``pgd``, ``pgd:norm=l2,steps=20`` or ``art:SquareAttack:max_iter=100`` into an attack (or suite) spec.

    Parameters of the built-in attacks and suites are checked here: an unknown name or a
    value of the wrong type names the parameter and what it takes.
    """
    whole = text
    prefix = ""
    if text.lower().startswith("art:"):  # ART attacks: art:<ClassName>[:params]
        prefix, text = text[:4], text[4:]
    name, sep, rest = text.partition(":")
    name = prefix + name
    if not sep:
        return name
    params = parse_kv(tuple(p for p in rest.split(",") if p), flag, whole)
    target = None if prefix else _suite_factory(name) if flag == "--suite" else _attack_class(name)
    if target is not None:
        check_params(target, params, f"{flag} {whole!r}", name, skip=("self", "head", "channels"))
    return {"name": name, **params}


def _attack_class(name: str) -> Any:
    """The class of the registered attack ``name``, or ``None`` when it is not a plain class."""
    from medrobust.attacks.registry import available, build_attack

    if name.lower() not in available():
        return None  # the run spec names the unknown attack and lists the known ones
    try:
        cls = type(build_attack(name))
    except MedrobustError:
        return None  # a registered factory that needs parameters: it checks its own
    # a factory function returns a class whose signature is not the factory's
    return cls.__init__ if getattr(cls, "name", None) == name.lower() else None


def _suite_factory(name: str) -> Any:
    """The function that builds the suite ``name``, or ``None`` for an unknown suite."""
    from medrobust.attacks.acquisition import acquisition_suite
    from medrobust.attacks.suite import strong_suite

    return {"strong": strong_suite, "acquisition": acquisition_suite}.get(name)


def check_params(target: Any, params: dict[str, Any], where: str, name: str, skip: tuple[str, ...] = ()) -> None:
    """Refuse parameters ``target`` does not take, or values of the wrong type for those it does."""
    signature = inspect.signature(target)
    taken = {k: p for k, p in signature.parameters.items() if k not in skip}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in taken.values()):
        return
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # an annotation that cannot be resolved: leave the types to the attack
        hints = {}
    for key, value in params.items():
        if key not in taken:
            known = ", ".join(k for k in taken if k != "loss")  # a loss function cannot come from the command line
            raise ConfigError(f"{where}: {name!r} has no parameter {key!r}; it takes {known}")
        hint = hints.get(key)
        if hint is None:
            continue
        try:
            TypeAdapter(hint).validate_python(value, strict=True)
        except ValidationError:
            raise ConfigError(f"{where}: {key} must be {_type_name(hint)}, got {value!r}") from None
        except Exception:  # a type pydantic cannot check: leave it to the attack
            log.debug("cannot check the type of %s for %s", key, name)


def _type_name(hint: Any) -> str:
    """``int``, ``float or null``: a parameter's type as a user reads it."""
    args = typing.get_args(hint)
    if args and type(None) in args:
        rest = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join([*rest, "null"])
    return getattr(hint, "__name__", str(hint))


def floats(text: str | None, flag: str, positive: bool = False) -> list[float] | None:
    """``0.5,0.25`` into finite numbers (all > 0 when ``positive``); anything else names the flag and the value."""
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ConfigError(f"{flag} {text!r} must be comma-separated numbers, e.g. 0.485,0.456,0.406") from None
    if not all(math.isfinite(v) for v in values):
        raise ConfigError(f"{flag} {text!r}: every value must be a finite number")
    if positive and not all(v > 0 for v in values):
        raise ConfigError(f"{flag} {text!r}: every value must be > 0")
    return values


def check_writable(folder: Path, what: str = "--out") -> None:
    """Prove ``folder`` can hold results, creating nothing that stays: a file, a path under a file, no permission."""
    created: list[Path] = []
    try:
        missing: list[Path] = []
        node = folder
        while not node.exists() and not node.is_symlink() and node != node.parent:
            missing.append(node)
            node = node.parent
        if node.exists() and not node.is_dir():
            where = "is a file" if node == folder else f"is under {node}, which is a file"
            raise ConfigError(f"{what} {folder}: {where}, not a folder")
        for d in reversed(missing):
            d.mkdir()
            created.append(d)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ConfigError(f"{what} {folder}: cannot write the results folder ({exc.strerror or exc})") from None
    finally:
        for d in reversed(created):
            with contextlib.suppress(OSError):
                d.rmdir()
