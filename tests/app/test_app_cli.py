"""``vosam app`` as a command: serves the page on loopback and stops on Ctrl+C."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from vosam.app.config import MIB, AppConfig
from vosam.cli import build_parser, main
from vosam.cli.app_cmd import config_from

RUN = "import sys; from vosam.cli import main; sys.exit(main(sys.argv[1:]))"


def test_serves_the_page_and_stops_on_interrupt(workspace):
    process = subprocess.Popen(
        [sys.executable, "-c", RUN, "app", "--port", "0", "--workspace", str(workspace)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("vosam app: serving "), line + process.stderr.read()
        url = line.split(" on ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=30) as response:
            page = response.read().decode()
        assert '<canvas id="canvas"' in page
        with urllib.request.urlopen(url + "static/app.js", timeout=30) as response:
            assert b"/api/propagate" in response.read()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert sorted(p.name for p in workspace.iterdir()) == [".vosam-app", "clip"]


def test_missing_workspace_is_an_error(tmp_path, capsys):
    assert main(["app", "--workspace", str(tmp_path / "nope"), "--port", "0"]) == 2
    assert "workspace folder does not exist" in capsys.readouterr().err


def test_unknown_segmenter_is_an_error(workspace, capsys):
    assert main(["app", "--workspace", str(workspace), "--segmenter", "nope"]) == 2
    assert "unknown segmenter 'nope'; choose one of " in capsys.readouterr().err


def test_options_are_the_configs_fields_with_its_defaults_and_help(workspace, capsys):
    args = build_parser().parse_args(["app", "--workspace", str(workspace)])
    assert config_from(args) == AppConfig(workspace=workspace)
    given = [
        *("--workspace", str(workspace), "--port", "0", "--host", "::1", "--engine", "xmem"),
        *("--checkpoint", "XMem.pth", "--segmenter", "sam2", "--segmenter-checkpoint", "s.pt"),
        *("--device", "cpu", "--max-upload-mb", "1.5", "--max-frames", "9", "--workers", "2"),
        *("--fps", "12.5"),
    ]
    config = config_from(build_parser().parse_args(["app", *given]))
    assert config == AppConfig(
        workspace=workspace,
        host="::1",
        port=0,
        engine="xmem",
        checkpoint=Path("XMem.pth"),
        segmenter="sam2",
        segmenter_checkpoint=Path("s.pt"),
        device="cpu",
        max_upload_bytes=int(1.5 * MIB),
        max_frames=9,
        workers=2,
        fps=12.5,
    )
    with pytest.raises(SystemExit):
        main(["app", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for f in dataclasses.fields(AppConfig):
        if "help" in f.metadata:
            assert f.metadata["help"] in shown, f.name
    assert "port (0: any free one) (default: 7860)" in shown
    assert "uploads larger than this are refused (MiB, default: 512)" in shown


def test_bad_values_are_one_line_errors(workspace, capsys):
    assert main(["app", "--workspace", str(workspace), "--workers", "0"]) == 2
    assert capsys.readouterr().err == "vosam app: error: workers must be at least 1, got 0\n"
    assert main(["app", "--workspace", str(workspace), "--engine", "nope"]) == 2
    assert "unknown engine 'nope'; choose one of embedded, " in capsys.readouterr().err


def test_registering_the_command_loads_no_model_code():
    code = (
        "import argparse, sys; from vosam.cli import app_cmd; "
        "app_cmd.register(argparse.ArgumentParser().add_subparsers()); "
        "print(sorted(m for m in ('torch', 'numpy', 'vosam.engines', 'vosam.app.server') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "[]\n"
