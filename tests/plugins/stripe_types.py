"""Check a request body against the Stripe SDK's own ``TypedDict`` params, without the network.

The SDK types every request (``stripe.params...CreateParams``); mypy checks the code that builds
bodies statically, and :func:`check_params` checks the values it builds at run time: every key
is one the type declares, every required key is present, and every value has the declared type
(literals, unions, lists, nested params). Only the annotations of the keys a body uses are
resolved: some of the SDK's others name types it imports for type checkers only.
"""

from __future__ import annotations

import sys
import types
import typing
from typing import Any, ForwardRef, Literal, NotRequired, Required, Union, get_args, get_origin

from typing_extensions import is_typeddict


def check_params(value: Any, params_type: Any) -> list[str]:
    """Every way ``value`` does not fit ``params_type`` ([] when it fits)."""
    problems: list[str] = []
    _check(value, params_type, "$", problems)
    return problems


def _check(value: Any, expected: Any, path: str, problems: list[str]) -> None:
    origin = get_origin(expected)
    if expected is Any:
        return
    if origin in (NotRequired, Required):
        _check(value, get_args(expected)[0], path, problems)
        return
    if is_typeddict(expected):
        _check_typeddict(value, expected, path, problems)
        return
    if origin in (Union, types.UnionType):
        for option in get_args(expected):
            attempt: list[str] = []
            _check(value, option, path, attempt)
            if not attempt:
                return
        problems.append(f"{path}: {value!r} is none of {expected}")
        return
    if origin is Literal:
        if value not in get_args(expected):
            problems.append(f"{path}: {value!r} is not one of {get_args(expected)}")
        return
    if origin in (list, typing.List):  # noqa: UP006 - the SDK's annotations use typing.List
        if not isinstance(value, list):
            problems.append(f"{path}: {value!r} is not a list")
            return
        for index, item in enumerate(value):
            _check(item, get_args(expected)[0], f"{path}[{index}]", problems)
        return
    if origin in (dict, typing.Dict):  # noqa: UP006
        if not isinstance(value, dict):
            problems.append(f"{path}: {value!r} is not an object")
            return
        key_type, value_type = get_args(expected)
        for key, item in value.items():
            _check(key, key_type, f"{path}.<key>", problems)
            _check(item, value_type, f"{path}.{key}", problems)
        return
    if origin is not None:  # another generic (the SDK's StripeObject[...]): a dict is not one
        problems.append(f"{path}: {value!r} is not a {expected}")
        return
    if expected is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(expected, type):
        ok = isinstance(value, expected)
    else:
        ok = False
    if not ok:
        problems.append(f"{path}: {value!r} is not a {getattr(expected, '__name__', expected)}")


def _check_typeddict(value: Any, expected: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"{path}: {value!r} is not an object ({expected.__name__})")
        return
    declared = _annotations(expected)
    for key in sorted(set(value) - set(declared)):
        problems.append(f"{path}.{key}: not a field of {expected.__name__}")
    for key in sorted(expected.__required_keys__ - set(value)):
        problems.append(f"{path}.{key}: required by {expected.__name__}, missing")
    for key in sorted(set(value) & set(declared)):
        _check(value[key], _resolve(expected, key, declared[key]), f"{path}.{key}", problems)


def _annotations(typed_dict: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for klass in reversed(typed_dict.__mro__):
        merged.update(getattr(klass, "__annotations__", {}))
    return merged


def _resolve(typed_dict: Any, key: str, annotation: Any) -> Any:
    """One field's annotation, evaluated in the module of the class that declares it."""
    owner = next(
        (k for k in typed_dict.__mro__ if key in getattr(k, "__annotations__", {})), typed_dict
    )
    namespace = vars(sys.modules[owner.__module__])
    if isinstance(annotation, str):
        annotation = ForwardRef(annotation)
    probe = type(
        "Probe", (), {"__annotations__": {key: annotation}, "__module__": owner.__module__}
    )
    return typing.get_type_hints(probe, globalns=namespace, include_extras=True)[key]
