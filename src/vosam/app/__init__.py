"""The interactive web app behind ``vosam app``: open a video, click objects, propagate,
correct, get suggested frames, export.

A small standard-library HTTP server (:mod:`vosam.app.server`) with a page of its own
(``static/``: plain JavaScript and a canvas, no build step) on top of vosam's public API.
Typical use::

    from vosam.app import AppConfig, create_server
    server = create_server(AppConfig(workspace="videos", port=0))
    print(server.url)
    server.serve_forever()
"""

from __future__ import annotations

from vosam.app.config import AppConfig
from vosam.app.server import AppServer, create_server, start_in_thread

__all__ = ["AppConfig", "AppServer", "create_server", "start_in_thread"]
