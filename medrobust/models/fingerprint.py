"""Model fingerprints: weights, structure and code, so a results folder is reused only by the same model.

Weights alone miss parameter-free changes (a quantiser's levels, a logit scale, a defence
wrapper) that change every number. The fingerprint also hashes each submodule's class and plain
attributes, its hooks, the source of classes outside the trusted libraries, the code of functions
and lambdas it holds, and TorchScript code and attributes. What cannot be read (a class without
source, an object without readable state) makes the fingerprint unreliable, with the reasons.
Only content is hashed, never ``id()`` or memory addresses, so the digest is stable across processes.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import re
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
import torch
from torch import nn

TRUSTED = ("torch", "torchvision", "monai", "medrobust")
"""Top-level packages whose classes and functions are known by name: their code is fixed by the installed version."""

VERSION = "medrobust-model-fingerprint-2"
"""Changes whenever what the fingerprint covers changes, so old and new digests never meet."""

HOOKS = ("_forward_pre_hooks", "_forward_hooks", "_backward_pre_hooks", "_backward_hooks")
PLAIN = (bool, int, float, str, type(None))
MANGLE = re.compile(r"___torch_mangle_\d+\.")
MAX_DEPTH = 40
MAX_REASONS = 5


@dataclass(frozen=True)
class ModelFingerprint:
    """A model's digest, and whether it covers everything that decides its outputs (``reasons`` when not)."""

    digest: str
    reliable: bool
    reasons: tuple[str, ...] = ()

    def explain(self) -> str:
        """The reasons as one short phrase for a log line."""
        more = len(self.reasons) - MAX_REASONS
        return "; ".join(self.reasons[:MAX_REASONS]) + (f"; and {more} more" if more > 0 else "")


def fingerprint_module(module: nn.Module, extra: Mapping[str, Any] | None = None) -> ModelFingerprint:
    """Hash ``module``'s state_dict, structure and code, plus ``extra`` (plain values, e.g. preprocessing)."""
    walker = _Walker()
    h = hashlib.sha256(VERSION.encode())
    for key, value in sorted(module.state_dict().items()):
        h.update(key.encode())
        if isinstance(value, torch.Tensor):
            walker.tensor_into(h, value, f"state_dict[{key!r}]")
        else:  # a module's extra state
            h.update(_dump(walker.value(value, f"state_dict[{key!r}]")).encode())
    structure = {
        "modules": walker.module(module, "model"),
        "extra": walker.value(dict(extra or {}), "extra"),
        "classes": walker.classes,
    }
    h.update(_dump(structure).encode())
    reasons = tuple(dict.fromkeys(walker.reasons))
    return ModelFingerprint(h.hexdigest(), not reasons, reasons)


class _Walker:
    """One fingerprint's traversal: the code of the classes met, and why the result is unreliable."""

    def __init__(self) -> None:
        self.classes: dict[str, Any] = {}
        self.reasons: list[str] = []
        self._active: set[int] = set()  # ids of what is being encoded, only to stop cycles; never hashed

    def unreliable(self, where: str, why: str) -> None:
        """Record why ``where`` cannot be fingerprinted."""
        self.reasons.append(f"{where}: {why}")

    def module(self, module: nn.Module, where: str) -> list[Any]:
        """One entry per submodule: name, class, plain attributes, hooks (TorchScript: methods and attributes)."""
        entries: list[Any] = []
        for name, sub in module.named_modules():
            path = f"{where}.{name}" if name else where
            if isinstance(sub, torch.jit.ScriptModule):
                entries.append({"name": name, **self._script(sub, path)})
                continue
            attrs = {
                k: self.value(v, f"{path}.{k}")
                for k, v in sorted(vars(sub).items())
                if not k.startswith("_") and k != "training"
            }
            hooks = {k: [self.value(f, f"{path} {k[1:]}") for f in getattr(sub, k, {}).values()] for k in HOOKS}
            buffers = {
                k: self.tensor(b, f"{path}.{k}")
                for k, b in sorted(sub._buffers.items())
                if k in sub._non_persistent_buffers_set and b is not None
            }
            entries.append(
                {"name": name, "class": self.cls(type(sub), path), "attrs": attrs, "hooks": hooks, "buffers": buffers}
            )
        return entries

    def _script(self, sub: torch.jit.ScriptModule, where: str) -> dict[str, Any]:
        """A TorchScript module: its type, every method's code and its non-tensor attributes."""
        c = sub._c
        methods: dict[str, Any] = {}
        for n in sorted(c._method_names()):  # constants a trace inlined (CONSTANTS.c0) are beside the code
            code, constants = c._get_method(n).code_with_constants
            methods[n] = [MANGLE.sub("", code), self.value(dict(getattr(constants, "const_mapping", constants)), where)]
        for kind in ("_get_forward_pre_hooks", "_get_forward_hooks"):
            hooks = list(getattr(c, kind, list)())
            if any(not isinstance(getattr(f, "code", None), str) for f in hooks):
                self.unreliable(where, f"a TorchScript hook ({kind[5:]}) without readable code")
            methods[kind] = [MANGLE.sub("", str(getattr(f, "code", ""))) for f in hooks]
        iterators = getattr(torch._C, "_jit_debug_module_iterators", None)
        attrs: dict[str, Any] = {}
        if iterators is None:
            self.unreliable(where, "this torch cannot list TorchScript attributes")
        else:
            own = {n for n, _ in sub.named_parameters(recurse=False)} | {n for n, _ in sub.named_buffers(recurse=False)}
            for n, v in iterators(c)["named_attributes"]:
                if n.startswith("_") or n == "training" or n in own or isinstance(v, torch._C.ScriptModule):
                    continue
                attrs[n] = self.value(v, f"{where}.{n}")
        return {"script": MANGLE.sub("", c.qualified_name), "methods": methods, "attrs": attrs}

    def value(self, v: Any, where: str, depth: int = 0) -> Any:
        """A JSON-able, address-free encoding of ``v``; what cannot be read is recorded as unreliable."""
        if depth > MAX_DEPTH:
            self.unreliable(where, "nested too deeply to fingerprint")
            return "too-deep"
        if isinstance(v, Enum):
            return {"enum": _qualified(type(v)), "name": v.name}
        if isinstance(v, PLAIN):
            return v
        if isinstance(v, np.generic):
            return {"numpy": str(v.dtype), "value": v.item()}
        if v is Ellipsis or v is NotImplemented:
            return {"singleton": repr(v)}
        if isinstance(v, complex):
            return {"complex": [v.real, v.imag]}
        if isinstance(v, bytes | bytearray):
            return {"bytes": hashlib.sha256(v).hexdigest()}
        if isinstance(v, torch.dtype | torch.device | torch.layout | torch.memory_format):
            return {type(v).__name__: str(v)}
        if isinstance(v, torch.Size):
            return {"size": list(v)}
        if isinstance(v, torch.Tensor):
            return {"tensor": self.tensor(v, where)}
        if isinstance(v, np.ndarray):
            if v.dtype == object:
                return {"objects": self.value(v.tolist(), where, depth + 1)}
            digest = hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
            return {"array": str(v.dtype), "shape": list(v.shape), "sha256": digest}
        if isinstance(v, tuple | list):
            kind = type(v).__name__ if type(v) in (tuple, list) else "sequence"
            return {kind: [self.value(x, f"{where}[{i}]", depth + 1) for i, x in enumerate(v)]}
        if isinstance(v, dict):
            items = [
                [self.value(k, where, depth + 1), self.value(x, f"{where}[{k!r}]", depth + 1)] for k, x in v.items()
            ]
            return {"dict": sorted(items, key=_dump)}
        if isinstance(v, set | frozenset):
            return {"set": sorted((self.value(x, where, depth + 1) for x in v), key=_dump)}
        if id(v) in self._active:
            return {"cycle": _qualified(type(v))}
        self._active.add(id(v))
        try:
            return self._reference(v, where, depth)
        finally:
            self._active.discard(id(v))

    def _reference(self, v: Any, where: str, depth: int) -> Any:
        """Modules, classes, functions, code and other objects (the kinds that can refer back to each other)."""
        if isinstance(v, nn.Module):
            return {"module": self.module(v, where)}
        if isinstance(v, type):
            return {"class": self.cls(v, where)}
        if isinstance(v, types.FunctionType):
            return self.function(v, where, depth)
        if isinstance(v, types.CodeType):
            return self.code(v, where, depth)
        if isinstance(v, types.MethodType):
            return {"method": self.value(v.__func__, where, depth + 1), "of": _qualified(type(v.__self__))}
        if isinstance(v, functools.partial):
            parts = (v.func, v.args, v.keywords)
            return {"partial": [self.value(p, where, depth + 1) for p in parts]}
        if isinstance(v, staticmethod | classmethod):
            return {type(v).__name__: self.value(v.__func__, where, depth + 1)}
        if isinstance(v, property):
            return {"property": [self.value(f, where, depth + 1) for f in (v.fget, v.fset, v.fdel)]}
        if isinstance(v, torch.jit.ScriptFunction):
            return {"script_function": MANGLE.sub("", str(v.code))}
        if isinstance(v, types.ModuleType):
            return {"python_module": v.__name__}
        named = _builtin_name(v)
        if named is not None:
            return {"builtin": named}
        return self.object(v, where, depth)

    def object(self, v: Any, where: str, depth: int) -> Any:
        """Any other object: its class (with code) and its state, when both can be read."""
        cls = type(v)
        state = dict(vars(v)) if isinstance(getattr(v, "__dict__", None), dict) else None
        slots = [s for k in cls.__mro__ for s in _slots(k) if s not in ("__dict__", "__weakref__")]
        if state is None and not slots:
            self.unreliable(where, f"a {_qualified(cls)} object whose state cannot be read")
            return {"opaque": _qualified(cls)}
        state = state or {}
        state.update({s: getattr(v, s) for s in slots if hasattr(v, s)})
        attrs = {k: self.value(x, f"{where}.{k}", depth + 1) for k, x in sorted(state.items())}
        return {"object": self.cls(cls, where), "state": attrs}

    def cls(self, cls: type, where: str) -> str:
        """``cls``'s qualified name; the source, methods and plain class attributes of untrusted classes in its MRO."""
        for k in cls.__mro__:
            name = _qualified(k)
            if k is object or _trusted(k.__module__) or name in self.classes:
                continue
            self.classes[name] = "pending"  # a method referring to its own class stops here
            try:
                source: str | None = hashlib.sha256(inspect.getsource(k).encode()).hexdigest()
            except (OSError, TypeError):
                self.unreliable(where, f"the source of class {name} cannot be read")
                source = None
            members = {
                n: self.value(m, f"{name}.{n}")
                for n, m in sorted(vars(k).items())
                if isinstance(m, (types.FunctionType, staticmethod, classmethod, property, *PLAIN))
                and not (n.startswith("__") and isinstance(m, str))  # __module__, __qualname__, __doc__
            }
            self.classes[name] = {"source": source, "members": members}
        return _qualified(cls)

    def function(self, fn: types.FunctionType, where: str, depth: int) -> Any:
        """A Python function or lambda: its code, defaults, closure and the plain globals it reads."""
        name = _qualified(fn)
        if _trusted(fn.__module__):
            return {"function": name}
        closure = []
        for cell in fn.__closure__ or ():
            try:
                closure.append(self.value(cell.cell_contents, f"{where} (closure of {name})", depth + 1))
            except ValueError:  # an empty cell
                closure.append({"empty": True})
        found = {}
        for n in sorted(_names(fn.__code__)):
            g = fn.__globals__.get(n, _MISSING)
            if isinstance(g, (*PLAIN, Enum, types.FunctionType, type, tuple, list, dict, set, frozenset)):
                found[n] = self.value(g, f"{where} (global {n} of {name})", depth + 1)
        return {
            "function": name,
            "code": self.code(fn.__code__, where, depth + 1),
            "defaults": self.value(fn.__defaults__, where, depth + 1),
            "kwdefaults": self.value(fn.__kwdefaults__, where, depth + 1),
            "closure": closure,
            "globals": found,
        }

    def code(self, co: types.CodeType, where: str, depth: int) -> Any:
        """A code object: bytecode, constants (nested code too) and names."""
        consts = [self.value(c, where, depth + 1) for c in co.co_consts]
        return {"bytecode": hashlib.sha256(co.co_code).hexdigest(), "consts": consts, "names": list(co.co_names)}

    def tensor(self, t: torch.Tensor, where: str) -> str:
        """SHA-256 of a tensor's dtype, shape and bytes."""
        h = hashlib.sha256(str(list(t.shape)).encode())
        self.tensor_into(h, t, where)
        return h.hexdigest()

    def tensor_into(self, h: Any, t: torch.Tensor, where: str) -> None:
        """Feed a tensor's dtype and bytes into ``h`` (the state_dict's layout since the first fingerprint)."""
        try:
            flat = t.detach().cpu().contiguous()
            h.update(str(flat.dtype).encode())
            h.update(flat.reshape(-1).view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
        except (RuntimeError, TypeError, NotImplementedError) as exc:
            self.unreliable(where, f"the tensor's values cannot be read ({exc})")


_MISSING = object()


def _dump(v: Any) -> str:
    return json.dumps(v, sort_keys=True, allow_nan=True)


def _qualified(obj: Any) -> str:
    return f"{getattr(obj, '__module__', None) or '?'}.{getattr(obj, '__qualname__', None) or type(obj).__qualname__}"


def _trusted(module: str | None) -> bool:
    return (module or "").partition(".")[0] in TRUSTED


def _slots(cls: type) -> tuple[str, ...]:
    slots = vars(cls).get("__slots__", ())
    return (slots,) if isinstance(slots, str) else tuple(slots)


def _names(co: types.CodeType) -> set[str]:
    """Global and attribute names a code object and the code nested in it refer to."""
    found = set(co.co_names)
    for c in co.co_consts:
        if isinstance(c, types.CodeType):
            found |= _names(c)
    return found


def _builtin_name(v: Any) -> str | None:
    """``module.name`` of a builtin callable (``torch.relu``, ``math.floor``) that its name leads back to, else None."""
    if not callable(v) or (hasattr(v, "__dict__") and not isinstance(v, np.ufunc)):
        return None
    owner = getattr(v, "__objclass__", None)  # a method descriptor such as torch.Tensor.round
    name = getattr(v, "__name__", None)
    if isinstance(owner, type) and isinstance(name, str):
        return f"{_qualified(owner)}.{name}" if getattr(owner, name, None) is v else None
    module = sys.modules.get(getattr(v, "__module__", None) or "")
    if module is not None and isinstance(name, str) and getattr(module, name, None) is v:
        return f"{module.__name__}.{name}"
    return None
