"""Putting a fake vendor module into ``sys.modules`` and taking it out again."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, Protocol

__all__ = ["ModulePatcher", "patched_modules"]


class ModulePatcher(Protocol):
    """What a fake's ``install`` needs; ``pytest.MonkeyPatch`` has it."""

    def setitem(self, dic: MutableMapping[Any, Any], name: Any, value: Any) -> None:
        """Set ``dic[name] = value`` until the patch is undone."""
        ...


class _Restorer:
    """A minimal :class:`ModulePatcher` that remembers what it replaced."""

    def __init__(self) -> None:
        self._saved: list[tuple[MutableMapping[Any, Any], Any, Any, bool]] = []

    def setitem(self, dic: MutableMapping[Any, Any], name: Any, value: Any) -> None:
        self._saved.append((dic, name, dic.get(name), name in dic))
        dic[name] = value

    def undo(self) -> None:
        for dic, name, old, existed in reversed(self._saved):
            if existed:
                dic[name] = old
            else:
                dic.pop(name, None)
        self._saved.clear()


@contextmanager
def patched_modules() -> Iterator[ModulePatcher]:
    """A patcher whose ``sys.modules`` changes are undone on leaving the block (outside pytest)."""
    restorer = _Restorer()
    try:
        yield restorer
    finally:
        restorer.undo()
