"""``vosam app`` as a command: serves the page on loopback and stops on Ctrl+C."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request

from vosam.cli import main

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
