"""The interactive web app behind ``vosam app``: open a video, click objects, propagate,
correct, get suggested frames, export.

A small standard-library HTTP server (:mod:`vosam.app.server`, with the API's handlers in
:mod:`vosam.app.api`) and a page of its own (``static/``: plain JavaScript and a canvas, no
build step) on top of vosam's public API. Typical use::

    from vosam.app import AppConfig, create_server, serve
    server = create_server(AppConfig(workspace="videos", port=0))
    print(server.url)
    serve(server)  # until Ctrl+C or SIGTERM; then every session's folder is removed

The names are imported on first use, so that reading :class:`AppConfig` (the command line
does) loads neither the server nor the models.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "AppConfig": "vosam.app.config",
    "AppServer": "vosam.app.server",
    "create_server": "vosam.app.server",
    "serve": "vosam.app.server",
    "start_in_thread": "vosam.app.server",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vosam.app' has no attribute {name!r}")
