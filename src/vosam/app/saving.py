"""Where an open video's work is saved and which of it is not saved yet (the folder's
layout is :mod:`vosam.app.saved`, the thread that writes it :mod:`vosam.app.saver`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vosam.app.saved import Loaded, RunFolder

LOST = (
    "this video was opened in another browser session; the work is saved from there now, "
    "not from this page"
)


@dataclass(frozen=True)
class Saving:
    """Where an opened video's work is saved, and what was saved there before.

    Attributes:
        store: its run folder; None when the work is not saved (an upload, or a folder
            that may not be written: ``problem`` says why).
        loaded: the work saved before, to go on with; None when there is none.
    """

    store: RunFolder | None = None
    loaded: Loaded | None = None
    problem: str | None = None


class SaveState:
    """The saving side of one open video: its run folder, the frames changed since the
    last save, whether a save is being written, and why the work is not saved when it is
    not. Its methods are called under the session's lock."""

    def __init__(self, saving: Saving) -> None:
        loaded = saving.loaded
        self.store = saving.store
        self.problem = saving.problem
        self.note = None if loaded is None else loaded.note
        self.restored = loaded is not None
        # a new folder is written whole; a restored one where its files were unreadable
        self.changed: set[int] | None = None if loaded is None else set(loaded.unreadable)
        self.unsaved = loaded is not None and bool(loaded.unreadable)
        self.writing = False

    def mark(self, index: int) -> None:
        """Frame ``index`` changed."""
        if self.changed is not None:
            self.changed.add(index)
        self.unsaved = True

    def begin(self) -> set[int] | None:
        """A save starts: the frames it must write (None: every frame)."""
        changed = None if self.changed is None else set(self.changed)
        self.changed, self.unsaved, self.writing = set(), False, True
        return changed

    def failed(self, changed: set[int] | None, problem: str) -> None:
        """The save of ``changed`` failed: they are still to write."""
        self.writing, self.unsaved, self.problem = False, True, problem
        if changed is None or self.changed is None:
            self.changed = None
        else:
            self.changed |= changed

    def done(self) -> None:
        self.writing, self.problem = False, None

    def lose(self) -> None:
        """Another session writes the folder now."""
        if self.store is not None:
            self.store, self.problem = None, LOST

    def to_json(self) -> dict[str, Any]:
        if self.store is None:
            state = "off"
        elif self.problem is not None:
            state = "failed"
        else:
            state = "unsaved" if self.unsaved or self.writing else "saved"
        return {
            "folder": None if self.store is None else self.store.shown,
            "state": state,
            "problem": self.problem,
            "restored": self.restored,
            "note": self.note,
        }
