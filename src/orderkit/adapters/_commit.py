"""What every order repository adapter does with ``after_commit``: check a callback when
it is registered, and run a committed block's callbacks, every one of them, before any
error one raised reaches the caller."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from orderkit.model.errors import ValidationError

__all__ = ["checked_callback", "run_committed"]


def checked_callback(callback: object) -> Callable[[], None]:
    """``callback``, refused with a :class:`ValidationError` naming ``callback`` when it
    cannot be called."""
    if not callable(callback):
        raise ValidationError("callback", callback, "expected a callable taking no arguments")
    return callback


def run_committed(callbacks: Sequence[Callable[[], None]]) -> None:
    """Run the callbacks of a block that committed, in order, each even when one before
    it raised; then raise the first error, noting that the block committed (and naming
    any later error, which is noted on it too)."""
    errors: list[Exception] = []
    for callback in callbacks:
        try:
            callback()
        except Exception as error:  # every callback runs; the first error is raised below
            errors.append(error)
    if not errors:
        return
    first, *others = errors
    first.add_note(
        "raised by an after_commit callback: the block committed, and every callback "
        "registered in it ran"
    )
    for other in others:
        first.add_note(f"another after_commit callback raised too: {other!r}")
    raise first
