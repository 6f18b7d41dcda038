"""Web app: does the server keep answering while a propagation runs?

Serves the first frames of a real DAVIS sequence with the embedded engine, annotates frame
0 from its ground truth, then times page requests (``GET /api/state`` and a frame JPEG)
with the server idle and while a forward propagation runs in the background, in the same
run. Prints latency percentiles and the propagation's frames/s.

    python benchmarks/bench_app.py [--frames 30] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import torch

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "multiobject"
NAME = "dogs-jump"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from vosam.app import AppConfig, create_server, start_in_thread

    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp)
        (workspace / NAME).mkdir()
        for frame in sorted((DATA / "JPEGImages" / NAME).glob("*.jpg"))[: args.frames]:
            shutil.copy(frame, workspace / NAME / frame.name)
        server = create_server(AppConfig(workspace=workspace, port=0, device="cpu"))
        start_in_thread(server)
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

        def call(path: str, body: bytes | None = None, kind: str = "application/json") -> bytes:
            request = urllib.request.Request(
                server.url.rstrip("/") + path, data=body, headers={"Content-Type": kind}
            )
            with opener.open(request, timeout=120) as response:
                return response.read()

        try:
            call("/api/session", b"{}")
            call("/api/open", json.dumps({"path": NAME}).encode())
            mask = (DATA / "Annotations" / NAME / "00000.png").read_bytes()
            call("/api/mask?frame=0", mask, "application/octet-stream")

            def sample(seconds: float | None, job_running: bool = False) -> list[float]:
                times: list[float] = []
                end = time.monotonic() + (seconds or 1e9)
                k = 0
                while time.monotonic() < end:
                    started = time.perf_counter()
                    state = json.loads(call("/api/state"))["state"]
                    call(f"/api/frame/{k % args.frames}")
                    times.append(time.perf_counter() - started)
                    k += 1
                    if job_running and state["job"]["state"] not in ("queued", "running"):
                        break
                    time.sleep(0.1)
                return times

            idle = sample(5.0)
            started = time.perf_counter()
            call("/api/propagate", json.dumps({"frame": 0, "direction": "forward"}).encode())
            busy = sample(None, job_running=True)
            elapsed = time.perf_counter() - started
            job = json.loads(call("/api/state"))["state"]["job"]
        finally:
            server.shutdown()
            server.server_close()

    def line(label: str, values: list[float]) -> str:
        ms = sorted(v * 1000 for v in values)
        p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
        return (
            f"{label:<22} n={len(ms):<4} median {statistics.median(ms):7.1f} ms   "
            f"p95 {p95:7.1f} ms   max {ms[-1]:7.1f} ms"
        )

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    print(f"torch {torch.__version__}, {args.threads} thread(s) for the engine, CPU")
    print(f"{NAME}: {args.frames} frames 432×240, embedded engine, frame 0 annotated")
    print("page request = GET /api/state + GET /api/frame/<i> (JPEG)")
    print(line("idle", idle))
    print(line("during propagation", busy))
    print(
        f"propagation: {job['state']}, {job['done']}/{job['total']} frames in {elapsed:.1f} s "
        f"({job['done'] / elapsed:.2f} frames/s, engine built on first use)"
    )


if __name__ == "__main__":
    main()
