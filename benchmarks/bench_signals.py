"""What a ``vosam segment`` run does when it is stopped or meets another run, measured.

Each case runs the command in a child process on a synthetic video (16 frames of 160×120,
a textured square moving on a textured background) and prints its exit code, the seconds
from the signal to the exit, and what the output folder holds afterwards. The children run
the embedded engine on the CPU at a working size of 128 pixels (``SMALL``), so that a run
lasts seconds; what is measured is the command's handling of signals and locks, the same
with any engine:

- SIGINT, SIGTERM and SIGKILL half-way through a run that replaces an earlier one
  (``--overwrite``), then the next run;
- Ctrl-C while a stream waits on a server that accepts and never sends, and the same
  server with ``--stream-timeout 2``;
- two runs started together into one folder (``--trials`` times), and a run started while
  another writes (refused, then ``--wait``).

    python benchmarks/bench_signals.py [--trials 5]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from vosam.io import write_mask

# the command, with the embedded engine at a small working size
RUN = """
import sys
import vosam.engines.embedded.propagator as prop
from vosam.engines.embedded import EmbeddedConfig
SMALL = EmbeddedConfig(short_side=128, head_iters=60, guided_radius=4)
original = prop.EmbeddedPropagator.__init__
prop.EmbeddedPropagator.__init__ = lambda self, config=None, *, device="auto": original(
    self, SMALL, device="cpu")
from vosam.cli import main
sys.exit(main(sys.argv[1:]))
"""


def make_video(folder: Path, frames: int = 16) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    h, w = 120, 160
    background = np.kron(rng.integers(0, 120, (h // 8, w // 8, 3)), np.ones((8, 8, 1)))
    square = rng.integers(120, 255, (32, 32, 3))
    (folder / "frames").mkdir(parents=True)
    (folder / "ann").mkdir()
    for t in range(frames):
        image = background.astype(np.uint8)
        x = 20 + 4 * t
        image[40:72, x : x + 32] = square
        Image.fromarray(image).save(folder / "frames" / f"{t:05d}.png")
        if t == 0:
            mask = np.zeros((h, w), np.uint8)
            mask[40:72, x : x + 32] = 1
            write_mask(folder / "ann" / "00000.png", mask)
    return folder / "frames", folder / "ann"


def tree(folder: Path) -> dict[str, str]:
    if not folder.exists():
        return {}
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        if p.is_file()
        else "<dir>"
        for p in sorted(folder.rglob("*"))
    }


def start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", RUN, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_writing(out: Path, proc: subprocess.Popen, masks: int = 3) -> None:
    """Until ``proc`` has written ``masks`` masks into its staging folder."""
    while proc.poll() is None:
        staged = list(out.glob(".vosam-partial-*/*.png")) if out.is_dir() else []
        if len(staged) >= masks:
            return
        time.sleep(0.05)
    raise SystemExit(f"the run ended before writing: {proc.stderr.read()}")


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def signals(work: Path, frames: Path, ann: Path) -> None:
    base = ["segment", str(frames), "--masks", str(ann), "--quiet", "--device", "cpu"]
    print("signal    exit  seconds  folder afterwards                         next run")
    for name in ("SIGINT", "SIGTERM", "SIGKILL"):
        out = work / f"out-{name}"
        assert start([*base, "--out", str(out)]).wait() == 0
        before = tree(out)
        proc = start([*base, "--out", str(out), "--no-permanent-memory", "--overwrite"])
        wait_writing(out, proc)
        sent = time.monotonic()
        proc.send_signal(getattr(signal, name))
        proc.wait()
        seconds = time.monotonic() - sent
        after = tree(out)
        left = sorted({k.split("/")[0] for k in after} - {k.split("/")[0] for k in before})
        state = "as it was" if after == before else f"earlier run kept, left: {', '.join(left)}"
        again = start([*base, "--out", str(out), "--no-permanent-memory", "--overwrite"])
        again.communicate()
        clean = not [p for p in out.rglob(".*")]
        following = f"exit {again.returncode}, {'no leftovers' if clean else 'leftovers'}"
        print(f"{name:<9} {proc.returncode:>4}  {seconds:7.2f}  {state:<40}  {following}")


def silent_server() -> tuple[socket.socket, list]:
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return server, accepted


def streams(work: Path) -> None:
    server, accepted = silent_server()
    url = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    base = ["segment", url, "--box", "1,1,9,9", "--device", "cpu", "--quiet"]
    proc = start([*base, "--out", str(work / "s1")])
    while not accepted and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(1.0)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
        print(
            f"Ctrl-C on a silent stream: exit {proc.returncode} after "
            f"{time.monotonic() - sent:.2f} s ({last_line(proc.stderr.read())})"
        )
    except subprocess.TimeoutExpired:
        proc.kill()
        print("Ctrl-C on a silent stream: still running after 60 s (killed)")
    started = time.monotonic()
    proc = start([*base, "--out", str(work / "s2"), "--stream-timeout", "2"])
    proc.wait()
    print(
        f"--stream-timeout 2 on a silent stream: exit {proc.returncode} after "
        f"{time.monotonic() - started:.2f} s from the start ({last_line(proc.stderr.read())})"
    )
    server.close()


def meetings(work: Path, frames: Path, ann: Path, trials: int) -> None:
    base = ["segment", str(frames), "--masks", str(ann), "--quiet", "--device", "cpu"]
    outcomes: Counter = Counter()
    for trial in range(trials):
        out = work / f"together-{trial}"
        procs = [start([*base, "--out", str(out)]) for _ in range(2)]
        results = [(p.wait(), p.stderr.read()) for p in procs]
        codes = tuple(sorted(code for code, _ in results))
        complete = json.loads((out / "run.json").read_text()).get("complete") is True
        traceback = any("Traceback" in err for _, err in results)
        outcomes[(codes, complete, traceback)] += 1
    for (codes, complete, traceback), n in sorted(outcomes.items()):
        print(
            f"two runs started together: exits {codes} in {n} of {trials} trials, "
            f"run complete: {complete}, traceback: {traceback}"
        )
    out = work / "meet"
    first = start([*base, "--out", str(out)])
    wait_writing(out, first, masks=1)
    second = start([*base, "--out", str(out)])
    _, err = second.communicate()
    print(f"a run while another writes: exit {second.returncode} ({last_line(err)})")
    if first.poll() is None:
        started = time.monotonic()
        third = start([*base, "--out", str(out), "--wait"])
        _, err = third.communicate()
        print(
            f"the same with --wait: exit {third.returncode} after {time.monotonic() - started:.1f}"
            f" s ({last_line(err)})"
        )
    first.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5, help="runs started together")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        frames, ann = make_video(work / "video")
        signals(work, frames, ann)
        streams(work)
        meetings(work, frames, ann, args.trials)


if __name__ == "__main__":
    main()
