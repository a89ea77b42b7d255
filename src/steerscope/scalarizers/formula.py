"""A safe arithmetic expression over named window sums, e.g. ``a / (a + b)``.

The expression is parsed with :mod:`ast` and checked against a whitelist:
numbers, the window names, ``+ - * / **``, unary minus/plus, parentheses and
the functions in :data:`FORMULA_FUNCTIONS`. Nothing is ever passed to
``eval``; evaluation walks the checked tree with NumPy ufuncs.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, field_validator, model_validator

from steerscope.errors import ScalarizerError
from steerscope.scalarizers.base import Window, WindowScalarizerBase
from steerscope.types import EnergyAxis

__all__ = ["FORMULA_FUNCTIONS", "FormulaSpec"]

FORMULA_FUNCTIONS: dict[str, tuple[Callable[..., Any], int]] = {
    "log": (np.log, 1),
    "log10": (np.log10, 1),
    "exp": (np.exp, 1),
    "sqrt": (np.sqrt, 1),
    "abs": (np.abs, 1),
    "minimum": (np.minimum, 2),
    "maximum": (np.maximum, 2),
}
"""Functions a formula may call: name -> (NumPy function, number of arguments)."""

_BINARY: dict[type[ast.operator], Callable[..., Any]] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.true_divide,
    ast.Pow: np.power,
}
_UNARY: dict[type[ast.unaryop], Callable[..., Any]] = {ast.USub: np.negative, ast.UAdd: np.positive}
_MAX_EXPRESSION_LENGTH = 500
_ALLOWED_TEXT = "numbers, window names, + - * / **, parentheses and " + ", ".join(
    f"{name}()" for name in FORMULA_FUNCTIONS
)


def _refuse(expression: str, node: ast.AST, why: str) -> ScalarizerError:
    snippet = ast.get_source_segment(expression, node) or type(node).__name__
    return ScalarizerError(
        f"formula {expression!r}: {why} ({snippet!r}); a formula may use only {_ALLOWED_TEXT}."
    )


def check_expression(expression: str, names: set[str]) -> ast.Expression:
    """Parse ``expression`` and refuse anything outside the whitelist.

    Parameters
    ----------
    expression : str
        The formula text.
    names : set of str
        The window names it may refer to.

    Returns
    -------
    ast.Expression
        The checked tree, ready for :func:`evaluate_expression`.

    Raises
    ------
    ScalarizerError
        On a syntax error, an unknown name or function, attribute access,
        subscripts, comparisons, strings, keywords or any other construct.
    """
    if len(expression) > _MAX_EXPRESSION_LENGTH:
        raise ScalarizerError(
            f"a formula may be at most {_MAX_EXPRESSION_LENGTH} characters; got "
            f"{len(expression)}. Split it into windows with shorter names."
        )
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as error:
        raise ScalarizerError(
            f"formula {expression!r} is not a valid expression ({error.msg}); write e.g. "
            "'a / (a + b)'."
        ) from None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Expression):
            visit(node.body)
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise _refuse(expression, node, "operator not allowed")
            visit(node.left)
            visit(node.right)
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARY:
                raise _refuse(expression, node, "operator not allowed")
            visit(node.operand)
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise _refuse(expression, node, "only int and float constants are allowed")
        elif isinstance(node, ast.Name):
            if node.id not in names:
                known = ", ".join(sorted(names))
                raise _refuse(
                    expression, node, f"unknown name {node.id!r} (the windows are: {known})"
                )
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FORMULA_FUNCTIONS:
                raise _refuse(expression, node, "call to a function that is not allowed")
            if node.keywords:
                raise _refuse(expression, node, "keyword arguments are not allowed")
            arity = FORMULA_FUNCTIONS[node.func.id][1]
            if len(node.args) != arity:
                raise _refuse(
                    expression,
                    node,
                    f"{node.func.id}() takes {arity} argument(s), got {len(node.args)}",
                )
            for argument in node.args:
                visit(argument)
        else:
            raise _refuse(expression, node, f"{type(node).__name__} is not allowed")

    visit(tree)
    return tree


def evaluate_expression(tree: ast.Expression, values: dict[str, NDArray[np.float64]]) -> Any:
    """Evaluate a tree checked by :func:`check_expression` over arrays ``(n,)`` by name."""

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](walk(node.operand))
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            # float64, never Python int: '9**9**9' must overflow to inf, not run for hours.
            return np.float64(node.value)
        if isinstance(node, ast.Name):
            return values[node.id]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return FORMULA_FUNCTIONS[node.func.id][0](*(walk(a) for a in node.args))
        raise ScalarizerError(f"internal: unchecked formula node {type(node).__name__}")

    return walk(tree.body)


class FormulaSpec(WindowScalarizerBase):
    """A formula over named window sums: each name stands for the sum of its window.

    Example::

        {"kind": "formula", "windows": {"a": [1, 2], "b": [3, 4]}, "expression": "a / (a + b)"}

    Where the formula is undefined for a spectrum (division by zero, log of a
    non-positive sum, overflow) the target is NaN; undefined everywhere raises
    :class:`ScalarizerError`.
    """

    kind: Literal["formula"] = "formula"
    windows: dict[str, Window] = Field(
        min_length=1, description="Window name -> [low, high]; each name is that window's sum."
    )
    expression: str = Field(description="Arithmetic over the window names, e.g. 'a / (a + b)'.")

    @field_validator("windows")
    @classmethod
    def _names_are_plain(cls, value: dict[str, tuple[float, float]]) -> Any:
        for name in value:
            if not name.isidentifier() or name.startswith("_") or name in FORMULA_FUNCTIONS:
                raise ScalarizerError(
                    f"formula window name {name!r} is not usable; use a plain identifier such "
                    "as 'a' or 'edge', not starting with '_' and not a function name "
                    f"({', '.join(FORMULA_FUNCTIONS)})."
                )
        return value

    @model_validator(mode="after")
    def _expression_is_safe(self) -> FormulaSpec:
        check_expression(self.expression, set(self.windows))
        return self

    def _compute(self, spectra: NDArray[np.float64], energy: EnergyAxis) -> NDArray[np.float64]:
        tree = check_expression(self.expression, set(self.windows))
        sums = {
            name: spectra[:, self._channels(window, energy, f"window {name!r}")].sum(axis=1)
            for name, window in self.windows.items()
        }
        result = evaluate_expression(tree, sums)
        return np.broadcast_to(np.asarray(result, dtype=np.float64), (spectra.shape[0],)).copy()

    def _auto_label(self) -> str:
        text = " ".join(self.expression.split())
        return text if len(text) <= 40 else text[:39] + "…"

    def _undefined_reason(self) -> str:
        return "the formula is undefined (division by zero, log of a non-positive sum, overflow)"
