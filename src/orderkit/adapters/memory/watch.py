"""The watch's episodes in memory (defined beside the watch, which uses it by default)."""

from orderkit.watch.memory import MemoryWatchState

__all__ = ["MemoryWatchState"]
