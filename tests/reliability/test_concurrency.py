"""Runs that meet (two into one folder) and runs that are stopped (SIGINT, SIGTERM, a
stream that never sends): never a traceback, one line, and folders either complete or as
they were. Each run here is a real process, slowed down so that the other one meets it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest

from tests.reliability.conftest import tree
from tests.reliability.test_bad_inputs import GOOD, argv, check_one_line

HERE = Path(__file__).resolve().parent
STREAMER = HERE.parent / "io" / "streamer.py"

# the CLI with the fast engine, each mask written VOSAM_TEST_DELAY seconds late
ENTRY = """
import os, sys, time
from tests.core.conftest import FAST
import vosam.engines.embedded.propagator as prop
import vosam.sinks
original = prop.EmbeddedPropagator.__init__
prop.EmbeddedPropagator.__init__ = lambda self, config=None, *, device="auto": original(
    self, FAST, device="cpu")
write = vosam.sinks.PaletteSink.write
def late(self, *args):
    time.sleep(float(os.environ.get("VOSAM_TEST_DELAY", "0")))
    write(self, *args)
vosam.sinks.PaletteSink.write = late
from vosam.cli import main
sys.exit(main(sys.argv[1:]))
"""


def start(args: list[str], delay: float = 0.0) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([os.getcwd(), *sys.path]),
        "VOSAM_TEST_DELAY": str(delay),
    }
    return subprocess.Popen(
        [sys.executable, "-c", ENTRY, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    _, err = proc.communicate(timeout=300)
    assert "Traceback" not in err, err
    return proc.returncode, err


def writing(out: Path, proc: subprocess.Popen) -> None:
    """Wait until ``proc`` holds the lock of ``out`` and writes masks."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        staged = [p for p in out.glob(".*") if p.is_dir()] if out.is_dir() else []
        if (out / ".vosam-lock").exists() and any(any(p.rglob("*.png")) for p in staged):
            return
        time.sleep(0.05)
    raise AssertionError(f"no run started writing into {out}")


def complete(out: Path, command: str) -> None:
    folder = out if command == "segment" else out / "seq"
    record = json.loads((folder / "run.json").read_text())
    assert record["complete"] is True and len(record["files"]) == 9  # 8 masks + frames.csv
    assert not [p for p in out.rglob(".*")], list(out.rglob(".*"))  # no leftover, no lock


@pytest.mark.parametrize("command", ["segment", "dataset"])
def test_two_runs_started_together_into_one_folder(case_dir, command):
    out = case_dir / "out"
    args = argv(GOOD[command], case_dir, out)
    procs = [start(args, delay=0.3) for _ in range(2)]
    results = [finish(p) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes in ([0, 0], [0, 2]), results
    for code, err in results:
        if code == 2:
            check_one_line(err, command, f"{out}: another vosam run is writing here")
    complete(out, command)


@pytest.mark.parametrize("command", ["segment", "dataset"])
def test_a_run_into_a_folder_being_written_is_refused_or_waits(case_dir, command):
    """While a run writes (held still by SIGSTOP), a second run is refused with one line
    naming the first; with --wait it waits, then finds the work done."""
    out = case_dir / "out"
    args = argv(GOOD[command], case_dir, out)
    first = start(args, delay=0.2)
    writing(out, first)
    first.send_signal(signal.SIGSTOP)
    try:
        code, err = finish(start(args))
        assert code == 2
        check_one_line(err, command, f"{out}: another vosam run is writing here (vosam {command}")
        assert f"process {first.pid} on {socket.gethostname()}" in err
        waiting = start([*args, "--wait"])
        told = waiting.stderr.readline()
        assert told.startswith(f"{out}: another vosam run is writing here"), told
        assert told.rstrip().endswith("waiting for it to finish")
    finally:
        first.send_signal(signal.SIGCONT)
    assert finish(first)[0] == 0
    code, err = finish(waiting)
    assert code == 0 and "already complete" in err
    complete(out, command)


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [
        (signal.SIGINT, 130, "interrupted"),
        (signal.SIGTERM, 143, "terminated (SIGTERM)"),
    ],
)
@pytest.mark.parametrize("command", ["segment", "dataset"])
def test_a_signal_abandons_the_run_and_leaves_the_folder_as_it_was(
    case_dir, command, signum, code, said
):
    """SIGINT and SIGTERM half-way through a run that replaces an earlier one: the earlier
    run is left byte for byte, nothing of the new one stays, the lock is gone."""
    out = case_dir / "out"
    args = argv(GOOD[command], case_dir, out)
    assert finish(start(args))[0] == 0
    before = tree(case_dir)
    proc = start([*args, "--no-permanent-memory", "--overwrite"], delay=0.4)
    writing(out, proc)
    proc.send_signal(signum)
    assert finish(proc) == (code, f"vosam {command}: {said}\n")
    assert tree(case_dir) == before


# -- streams ---------------------------------------------------------------------------


@pytest.fixture
def silent_server():
    """A loopback TCP server that accepts connections and never sends a byte."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}", accepted
    server.close()
    for conn in accepted:
        conn.close()


def test_a_silent_stream_stops_after_the_timeout(tmp_path, silent_server, capsys):
    from vosam.cli import main

    url, _ = silent_server
    out = tmp_path / "out"
    started = time.monotonic()
    args = ["segment", url, "--box", "1,1,9,9", "--out", str(out), "--stream-timeout", "1"]
    assert main(args) == 2
    assert time.monotonic() - started < 20
    check_one_line(capsys.readouterr().err, "segment", f"{url}: no frame for 1 s")
    assert not out.exists()


def test_ctrl_c_reaches_a_run_waiting_for_a_silent_stream(tmp_path, silent_server):
    url, accepted = silent_server
    out = tmp_path / "out"
    proc = start(["segment", url, "--box", "1,1,9,9", "--out", str(out)])
    deadline = time.monotonic() + 120
    while not accepted and time.monotonic() < deadline:
        time.sleep(0.05)
    assert accepted, "the run never connected"
    time.sleep(0.5)  # FFmpeg is waiting for data now
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    assert finish(proc) == (130, "vosam segment: interrupted\n")
    assert time.monotonic() - sent < 10  # not the 30 s of --stream-timeout
    assert not out.exists()


def test_a_stream_that_stalls_keeps_its_masks_and_exits_2(tmp_path, monkeypatch, capsys):
    import vosam.engines.embedded.propagator as prop
    from tests.core.conftest import FAST
    from vosam.cli import main

    original = prop.EmbeddedPropagator.__init__
    monkeypatch.setattr(
        prop.EmbeddedPropagator,
        "__init__",
        lambda self, config=None, *, device="auto": original(self, FAST, device="cpu"),
    )
    child = subprocess.Popen(
        [sys.executable, str(STREAMER), "24", "50", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=child.stdout))
        out = tmp_path / "out"
        args = ["segment", "-", "--box", "10,20,33,43", "--out", str(out), "--quiet"]
        assert main([*args, "--stream-format", "mpegts", "--stream-timeout", "3"]) == 2
    finally:
        child.kill()
        child.wait()
    err = capsys.readouterr().err
    check_one_line(err, "segment", "<stdin>: no frame for 3 s; stopped, keeping the")
    record = json.loads((out / "run.json").read_text())
    assert record["complete"] is True
    assert record["stopped_early"] == "the stream stalled: no frame for 3 s"
    assert f"keeping the {record['frames']} masks" in err and record["frames"] >= 1
    assert len(list(out.glob("*.png"))) == record["frames"]
