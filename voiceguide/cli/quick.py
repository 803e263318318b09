"""Options parsed without Pydantic: typer's coercion, made quick for the plain cases.

Typer 0.29 coerces every option that is not a flag, its default included, through
a Pydantic TypeAdapter built on first use: importing Pydantic and building a
dozen adapters cost `play` about 0.1 s before it did anything. `QuickCommand`
gives each parameter a `QuickParam` instead, which coerces the values a
Pydantic adapter would pass unchanged or convert plainly (a string to a `str`
option, digits to an `int` or `float` within its bounds, strings to a
`list[str]` argument) and hands everything else (a bad number, an out-of-range
one, paths, choices) to typer's own adapter, so every error reads as typer's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, get_args, get_origin

import typer
from typer._coercion import RuntimeParam, build_runtime_param
from typer.core import TyperCommand, TyperGroup

_INT = re.compile(r"(?:0|[1-9][0-9]*)\Z")
_FLOAT = re.compile(r"(?:0|[1-9][0-9]*)(?:\.[0-9]+)?\Z")
_NOT_QUICK = object()


@dataclass(frozen=True)
class QuickParam(RuntimeParam):
    """A parameter's coercion: plain values here, the rest by typer's Pydantic adapter."""

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        quick = self._quick(value)
        if quick is not _NOT_QUICK:
            return quick
        slow = build_runtime_param(param.type_descriptor)
        param._runtime_param = slow  # built once, like typer's own
        return slow._coerce_value(value, param=param, ctx=ctx)

    def _quick(self, value: Any) -> Any:  # noqa: PLR0911 - one return per kind of value
        annotation: Any = self.annotation
        info = self.parameter_info
        if info.parser is not None:
            return _NOT_QUICK
        if get_origin(annotation) is list and get_args(annotation) == (str,):
            items = value if isinstance(value, (list, tuple)) else [value]
            return list(items) if all(type(v) is str for v in items) else _NOT_QUICK
        if annotation is str:
            return value if type(value) is str else _NOT_QUICK
        if annotation is int or annotation is float:
            if info.clamp:
                return _NOT_QUICK
            if type(value) is str and (_INT if annotation is int else _FLOAT).match(value):
                number = annotation(value)
            elif type(value) is annotation:
                number = value
            else:
                return _NOT_QUICK
            low, high = info.min, info.max
            if (low is not None and number < low) or (high is not None and number > high):
                return _NOT_QUICK  # typer's adapter words the error
            return number
        if annotation is bool and type(value) is bool:
            return value
        return _NOT_QUICK


def make_quick(params: Iterable[Any]) -> None:
    """Give each typer parameter a QuickParam (unless it has its coercion already)."""
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or getattr(param, "_runtime_param", True) is not None:
            continue
        if descriptor.file_annotation is None:
            param._runtime_param = QuickParam(
                parameter_info=descriptor.parameter_info, annotation=descriptor.annotation
            )


class QuickCommand(TyperCommand):
    """A typer command whose options are coerced without Pydantic where they plainly can be."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        """Parse args, with quick coercion for each parameter."""
        make_quick(self.get_params(ctx))  # --help's option included
        return super().parse_args(ctx, args)


class QuickGroup(TyperGroup):
    """The app's group, whose own options (--help among them) are coerced quickly too."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        """Parse args, with quick coercion for each parameter."""
        make_quick(self.get_params(ctx))
        return super().parse_args(ctx, args)
