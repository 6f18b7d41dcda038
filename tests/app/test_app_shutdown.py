"""``vosam app`` as a process: SIGTERM removes every session's folder like Ctrl+C does, and a
server starting on a workspace removes the folders of servers that are gone (killed), and
only those."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.app.conftest import Client
from tests.app.test_app_security import frames_zip
from vosam.app import AppConfig, create_server, start_in_thread

SRC = Path(__file__).resolve().parents[2] / "src"
RUN = "import sys; from vosam.cli import main; sys.exit(main(sys.argv[1:]))"


def start_app(workspace: Path) -> tuple[subprocess.Popen, str]:
    """``vosam app`` serving ``workspace`` on a free loopback port; the process and URL."""
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN, "app", "--workspace", str(workspace), "--port", "0"],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    assert line.startswith("vosam app: serving"), (line, proc.stderr.read())
    return proc, line.split(" on ")[1].split()[0]


def folders(workspace: Path) -> list[str]:
    return sorted(p.name for p in (workspace / ".vosam-app").iterdir())


def upload(url: str) -> Client:
    client = Client(url)
    client.ok("/api/upload?name=frames.zip", raw=frames_zip(2))
    client.ok("/api/export", {"kind": "ytvis"})
    assert client.wait_job()["state"] == "done"
    return client


def test_sigterm_removes_every_session_folder(workspace):
    proc, url = start_app(workspace)
    try:
        upload(url)
        upload(url)
        assert len(folders(workspace)) == 2
        for name in folders(workspace):
            assert (workspace / ".vosam-app" / name / "exports" / "frames-ytvis.json").is_file()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert folders(workspace) == []


def test_a_starting_server_clears_only_what_dead_servers_left(workspace, engine):
    # a server killed outright leaves its session's folder behind
    killed, url = start_app(workspace)
    try:
        upload(url)
        (dead,) = folders(workspace)
    finally:
        killed.kill()
        killed.communicate(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    assert (workspace / ".vosam-app" / dead / "uploads").is_dir()
    # folders not made by the app's sessions, and a live server's session folder
    mine = workspace / ".vosam-app" / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("not the app's")
    (workspace / ".vosam-app" / "loose.txt").write_text("not the app's either")
    live = create_server(AppConfig(workspace=workspace, port=0, device="cpu"), propagator=engine)
    try:
        start_in_thread(live)
        upload(live.url)
        (alive,) = set(folders(workspace)) - {dead, "mine", "loose.txt"}

        # the next server to start on the workspace removes the dead server's folder only
        config = AppConfig(workspace=workspace, port=0, device="cpu")
        starting = create_server(config, propagator=engine)
        starting.server_close()
        assert folders(workspace) == sorted([alive, "loose.txt", "mine"])
        assert (mine / "keep.txt").read_text() == "not the app's"
        assert (workspace / ".vosam-app" / alive / "exports").is_dir()
    finally:
        live.shutdown()
        live.server_close()
    assert folders(workspace) == ["loose.txt", "mine"]
