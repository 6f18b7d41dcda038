"""``vosam app``: the interactive web app (click, propagate, correct, export).

The options are fields of :class:`vosam.app.config.AppConfig`: their defaults and help come
from there, and an option not given leaves the field at its default.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import types
import typing
from pathlib import Path

from vosam.app.config import MIB, AppConfig

log = logging.getLogger(__name__)

# command-line option -> AppConfig field, in the order --help lists them
_OPTIONS = (
    ("--host", "host"),
    ("--port", "port"),
    ("--workspace", "workspace"),
    ("--engine", "engine"),
    ("--model", "model"),
    ("--checkpoint", "checkpoint"),
    ("--segmenter", "segmenter"),
    ("--segmenter-weights", "segmenter_weights"),
    ("--segmenter-checkpoint", "segmenter_checkpoint"),
    ("--device", "device"),
    ("--max-upload-mb", "max_upload_bytes"),
    ("--max-frames", "max_frames"),
    ("--workers", "workers"),
    ("--fps", "fps"),
)
_IN_MIB = frozenset({"max_upload_bytes"})  # fields given in MiB on the command line


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "app",
        help="serve the interactive web app",
        description="Serve a web page to open a video, mark objects with clicks, a box or a "
        "brush, propagate them forward or backward, correct frames (corrections become "
        "permanent-memory annotations), get suggested frames and export masks, an overlay "
        "video or YouTube-VIS JSON. Only files inside --workspace are read or written.",
    )
    fields = {f.name: f for f in dataclasses.fields(AppConfig)}
    types_of = typing.get_type_hints(AppConfig)
    for flag, name in _OPTIONS:
        f = fields[name]
        kind = float if name in _IN_MIB else _value_type(types_of[name])
        p.add_argument(
            flag,
            dest=name,
            metavar=flag.removeprefix("--").replace("-", "_").upper(),
            type=kind,
            default=argparse.SUPPRESS,
            help=f"{f.metadata['help']}{_default_text(f, in_mib=name in _IN_MIB)}",
        )
    p.set_defaults(func=run)


def _value_type(annotation: object) -> type:
    """The type of a field's value on the command line: ``Path | None`` gives ``Path``."""
    if isinstance(annotation, types.UnionType):
        (kind,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return kind
    return annotation  # type: ignore[return-value]


def _default_text(f: dataclasses.Field, *, in_mib: bool) -> str:
    if f.default_factory == Path.cwd:
        return " (default: the current folder)"
    if f.default is dataclasses.MISSING or f.default is None:
        return ""
    return f" (MiB, default: {f.default / MIB:g})" if in_mib else f" (default: {f.default})"


def config_from(args: argparse.Namespace) -> AppConfig:
    """The app's config: the options given, the other fields at their defaults."""
    given = {name: getattr(args, name) for _, name in _OPTIONS if hasattr(args, name)}
    for name in _IN_MIB & given.keys():
        given[name] = int(given[name] * MIB)
    return AppConfig(**given)


def run(args: argparse.Namespace) -> int:
    from vosam import registry
    from vosam.app import create_server, serve
    from vosam.errors import InputError

    try:
        config = config_from(args)
    except ValueError as e:
        raise InputError(None, str(e)) from None
    if not config.workspace.is_dir():
        raise InputError(config.workspace, "workspace folder does not exist")
    for kind, name in (("engine", config.engine), ("segmenter", config.segmenter)):
        try:
            registry.entry(kind, name)
        except ValueError as e:
            raise InputError(None, str(e)) from None
    try:
        config.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(config.data_dir, f"cannot write in the workspace ({e.strerror})") from e
    try:
        server = create_server(config)
    except OSError as e:
        raise InputError(
            None, f"cannot listen on {config.host}:{config.port} ({e.strerror})"
        ) from e
    print(f"vosam app: serving {config.workspace} on {server.url} (Ctrl+C stops)", flush=True)
    serve(server)
    return 0
