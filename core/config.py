"""Dataclass configs from JSON objects and command-line text, with errors that name the field.

    cfg = from_dict(TrainConfig, {"lr": 3e-3, "batch_size": 16}, where="configs/train.json")

Every config of the project (strategies, generation, training, expert iteration, the demo, the
verifier) is a dataclass read through `from_dict`: an unknown key, or a value of the wrong type
(`batch_size: 2.5`, `lr: "fast"`), is a ValueError naming the input, the field and what it must
be, raised before any work starts.  `check_fields` does the same for a config built in code.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin in (tuple, list):
        return "a list"
    if origin is dict or tp is dict:
        return "an object"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def _conforms(tp: Any, v: Any) -> bool:
    if tp is Any:
        return True
    if tp is type(None):
        return v is None
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return any(_conforms(a, v) for a in get_args(tp))
    if origin is typing.Literal:
        return v in get_args(tp)
    if origin in (tuple, list):
        if not isinstance(v, list | tuple):
            return False
        args = [a for a in get_args(tp) if a is not Ellipsis]
        return all(_conforms(args[0], x) for x in v) if args else True
    if origin is dict or tp is dict:
        return isinstance(v, dict)
    if tp is bool:
        return isinstance(v, bool)
    if tp is int:
        return isinstance(v, int) and not isinstance(v, bool)
    if tp is float:
        return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    if tp is str:
        return isinstance(v, str)
    if isinstance(tp, type):
        return isinstance(v, tp)
    return True


def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def check_fields(obj: Any, where: str) -> None:
    """Raise ValueError naming the first field of the dataclass `obj` whose value has the wrong type."""
    hints = _hints(type(obj))
    for f in fields(obj):
        v = getattr(obj, f.name)
        tp = hints.get(f.name, Any)
        if not _conforms(tp, v):
            raise ValueError(f"{where}: {f.name}={v!r} must be {_type_name(tp)}")


def from_dict(cls: type[T], d: Any, where: str, **fixed: Any) -> T:
    """`cls(**d)` after checking that `d` is an object with known keys and values of the right
    types; lists become tuples where the field is a tuple.  `fixed` are set by the caller (not
    the user) and are not checked against `d`'s keys."""
    if not is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    if not isinstance(d, Mapping):
        raise ValueError(f"{where}: expected an object of {cls.__name__} fields, got {type(d).__name__}")
    names = [f.name for f in fields(cls)]
    unknown = sorted(set(d) - set(names))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(names)}")
    hints = _hints(cls)
    kw: dict[str, Any] = {}
    for k, v in {**d, **fixed}.items():
        tp = hints.get(k, Any)
        if not _conforms(tp, v):
            raise ValueError(f"{where}: {k}={v!r} must be {_type_name(tp)}")
        kw[k] = tuple(v) if isinstance(v, list) and get_origin(tp) is tuple else v
    try:
        return cls(**kw)
    except ValueError as e:
        msg = str(e)
        raise ValueError(msg if msg.startswith(where) else f"{where}: {msg}") from None


def parse_value(text: str) -> Any:
    """A command-line value: true/false, null, an integer, a number, else the text itself."""
    v = text.strip()
    low = v.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("null", "none"):
        return None
    for conv in (int, float):
        try:
            x = conv(v)
        except ValueError:
            continue
        return x
    return v


def parse_assignments(text: str, what: str) -> dict[str, Any]:
    """`"n=8,length_normalize=true,c_puct=1.5"` -> {"n": 8, "length_normalize": True, "c_puct": 1.5}."""
    out: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{what} part {part!r}: expected KEY=VALUE")
        if key.strip() in out:
            raise ValueError(f"{what} part {part!r}: {key.strip()} given twice")
        out[key.strip()] = parse_value(value)
    return out
