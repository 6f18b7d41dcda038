"""Live streams: a source read as frames arrive, and ``vosam segment`` on an MPEG-TS stream
through a pipe and through a loopback HTTP server, stopped by --max-frames or by SIGINT."""

from __future__ import annotations

import csv
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest

from vosam.errors import FrameSourceError
from vosam.io import read_mask
from vosam.io.stream import MAX_READ_AHEAD, StreamSource, is_stream

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"
STREAMER = HERE / "streamer.py"
BOX = "10,20,33,43"  # object 1 of the streamer's first frame: rows 20..43, columns 10..33
RUN = "import sys; from vosam.cli import main; sys.exit(main(sys.argv[1:]))"


def test_what_counts_as_a_stream():
    for text in (
        "-",
        "rtsp://cam/1",
        "http://127.0.0.1:8000/",
        "udp://0.0.0.0:5000",
        "/dev/video0",
    ):
        assert is_stream(text)
    for text in ("video.mp4", "frames/", "http_video.mp4"):
        assert not is_stream(text)


def test_a_stream_reads_its_first_frames_ahead_then_only_forward(lossless_mkv, square_frames):
    source = StreamSource(str(lossless_mkv))
    assert not source.length_known and len(source) == 1
    np.testing.assert_array_equal(source.read(2), square_frames[2])  # read ahead
    assert source.names == ("00000", "00001", "00002")
    np.testing.assert_array_equal(source.read(0), square_frames[0])
    got = list(source.frames())
    assert [i for i, _ in got] == list(range(len(square_frames)))
    for (_, image), expected in zip(got, square_frames, strict=True):
        np.testing.assert_array_equal(image, expected)
    assert len(source) == len(square_frames)
    with pytest.raises(FrameSourceError, match="cannot go back"):
        source.read(1)
    with pytest.raises(FrameSourceError, match="read once"):
        next(source.frames())
    source.close()


def test_a_stream_refuses_frames_it_cannot_give(lossless_mkv, square_frames):
    source = StreamSource(str(lossless_mkv))
    with pytest.raises(FrameSourceError, match="too far ahead"):
        source.read(MAX_READ_AHEAD)
    with pytest.raises(FrameSourceError, match=f"ended after {len(square_frames)} frames"):
        source.read(len(square_frames) + 3)
    source.close()


def test_a_stalled_stream_stops_when_interrupted(monkeypatch):
    child = subprocess.Popen(
        [sys.executable, str(STREAMER), "100", "50", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=child.stdout))
        source = StreamSource("-")
        assert source.size == (96, 128) and str(source.path) == "<stdin>"
        timer = threading.Timer(4.0, source.interrupt)
        timer.start()
        started = time.monotonic()
        seen = [index for index, _ in source.frames()]
        waited = time.monotonic() - started
        source.close()
        assert seen == list(range(len(seen))) and 1 <= len(seen) <= 100
        assert 3.5 < waited < 12 and child.poll() is None  # stopped while the stream stalls
    finally:
        child.kill()
        child.wait()


# -- vosam segment on a stream ------------------------------------------------------------


def _streamer(frames: int, fps: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(STREAMER), str(frames), str(fps)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


class _Handler(http.server.BaseHTTPRequestHandler):
    frames, fps = 400, 25.0

    def do_GET(self):  # the http.server API's name
        sys.path.insert(0, str(HERE))
        from streamer import stream

        self.send_response(200)
        self.send_header("Content-Type", "video/mp2t")
        self.end_headers()
        stream(self.wfile, self.frames, self.fps)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_stream():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def fast_engine_everywhere(monkeypatch):
    """``vosam segment`` builds the fast test configuration of the embedded engine."""
    import vosam.engines.embedded.propagator as prop
    from tests.core.conftest import FAST

    original = prop.EmbeddedPropagator.__init__

    def fast_init(self, config=None, *, device="auto"):
        original(self, FAST, device="cpu")

    monkeypatch.setattr(prop.EmbeddedPropagator, "__init__", fast_init)


def _check_run(out: Path, frames: int | None, stopped: str) -> dict:
    """Complete PNGs, frames.csv listing them, and a finished manifest marked stopped early."""
    run = json.loads((out / "run.json").read_text())
    assert run["complete"] is True and run["stopped_early"] == stopped
    if frames is not None:
        assert run["frames"] == frames
    names = sorted(p.stem for p in out.glob("*.png"))
    assert names == [f"{i:05d}" for i in range(run["frames"])] and names
    for name in names:
        assert read_mask(out / f"{name}.png").shape == (96, 128)
    with open(out / "frames.csv") as f:
        assert [row["name"] for row in csv.DictReader(f)] == names
    made = read_mask(out / "prompts" / "00000.png")
    expected = np.zeros_like(made)
    expected[20:44, 10:34] = 1
    assert (
        np.count_nonzero((made == 1) & (expected == 1))
        / np.count_nonzero((made == 1) | (expected == 1))
        > 0.8
    )
    assert not list(out.glob(".vosam-*"))
    return run


def test_a_piped_stream_stops_after_max_frames(tmp_path, monkeypatch, fast_engine_everywhere):
    from vosam.cli import main

    child = _streamer(400, 25)
    try:
        monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=child.stdout))
        out, preview = tmp_path / "out", tmp_path / "live.jpg"
        args = ["-", "--box", BOX, "--max-frames", "6", "--out", str(out), "--quiet"]
        args += ["--stream-format", "mpegts"]
        assert main(["segment", *args, "--preview", str(preview), "--device", "cpu"]) == 0
    finally:
        child.kill()
        child.wait()
    _check_run(out, 6, "--max-frames 6")
    assert preview.stat().st_size > 0
    # a second stream into the same folder is refused: two streams' runs never mix
    assert main(["segment", "-", "--box", BOX, "--out", str(out)]) == 2


def test_stream_options_are_checked(tmp_path, capsys):
    from vosam.cli import main

    out = tmp_path / "out"
    assert main(["segment", "-", "--box", BOX, "--stream-option", "tcp", "--out", str(out)]) == 2
    assert "--stream-option tcp: an option is KEY=VALUE" in capsys.readouterr().err
    frames = tmp_path / "frames"
    frames.mkdir()
    assert (
        main(["segment", str(frames), "--box", BOX, "--stream-format", "h264", "--out", str(out)])
        == 2
    )
    assert "are for streams" in capsys.readouterr().err
    assert not out.exists()


def test_an_http_stream_stops_after_max_frames(tmp_path, http_stream, fast_engine_everywhere):
    from vosam.cli import main

    out, video = tmp_path / "out", tmp_path / "overlay.mp4"
    args = [http_stream, "--box", BOX, "--max-frames", "5", "--out", str(out), "--quiet"]
    assert main(["segment", *args, "--overlay", str(video), "--device", "cpu"]) == 0
    run = _check_run(out, 5, "--max-frames 5")
    assert run["extras"]["overlay"]["path"] == str(video.resolve())
    import av

    with av.open(str(video)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 5


def _interrupt(command: list[str], out: Path, preview: Path, **popen) -> subprocess.Popen:
    """Run ``vosam segment`` in a child, SIGINT it once frames flow, wait for it."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            RUN,
            "segment",
            *command,
            "--out",
            str(out),
            "--quiet",
            "--device",
            "cpu",
            "--preview",
            str(preview),
        ],
        env=env,
        stderr=subprocess.PIPE,
        **popen,
    )
    deadline = time.monotonic() + 120
    while not preview.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    return proc


@pytest.mark.slow
def test_sigint_ends_a_piped_stream_cleanly(tmp_path):
    child = _streamer(3000, 10)
    try:
        out = tmp_path / "out"
        proc = _interrupt(["-", "--box", BOX], out, tmp_path / "p.jpg", stdin=child.stdout)
    finally:
        child.kill()
        child.wait()
    err = proc.stderr.read().decode()
    assert proc.returncode == 0, err
    assert "stopped early: interrupted (SIGINT)" in err
    _check_run(out, None, "interrupted (SIGINT)")


@pytest.mark.slow
def test_sigint_ends_an_http_stream_cleanly(tmp_path, http_stream):
    out = tmp_path / "out"
    proc = _interrupt([http_stream, "--box", BOX], out, tmp_path / "p.jpg")
    err = proc.stderr.read().decode()
    assert proc.returncode == 0, err
    _check_run(out, None, "interrupted (SIGINT)")
