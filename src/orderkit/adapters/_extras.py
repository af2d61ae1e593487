"""The error an adapter raises when its optional driver is not installed."""

from __future__ import annotations

from orderkit.model.errors import OrderkitError

__all__ = ["MissingExtra"]


class MissingExtra(OrderkitError, ImportError):
    """An adapter needs an optional extra that is not installed.

    It is both an :class:`~orderkit.model.errors.OrderkitError` and an
    :class:`ImportError`, so ``except ImportError`` around an optional import keeps
    working. ``.extra`` names the extra, ``.module`` the missing driver module.
    """

    def __init__(self, extra: str, module: str) -> None:
        super().__init__(
            f"this adapter needs the {module!r} module: pip install \"orderkit[{extra}]\""
        )
        self.extra = extra
        self.module = module
        self.name = module  # ImportError's own field
