"""Make the README's screenshot of the app: ``python -m tests.app.screenshot docs/app.png``.

Serves the first frames of a real DAVIS sequence from ``../shared/data`` with the embedded
engine, annotates frames 0 and 12 from the ground truth (uploaded through the page's mask upload),
names the objects, propagates in both directions, corrects one frame with the brush, asks
for suggested frames, and captures the page on a propagated frame in headless Chromium.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.app.test_app_browser import ARGS, CHROMIUM

REPO = Path(__file__).resolve().parents[2]
SEQUENCE = REPO.parent / "shared" / "data" / "multiobject"
NAME = "dogs-jump"
FRAMES = 24
SHOWN = 16
ANNOTATED = (0, 12)
CORRECTED = 20
OBJECT_NAMES = {1: "small dog", 2: "big dog", 3: "owner"}


def finished(page, kind: str = "propagate") -> None:
    """Wait for the page's job of ``kind`` to end; stop on a failed or cancelled job."""
    page.wait_for_function(
        "(kind) => { const j = document.querySelector('#job');"
        " return j.dataset.state && !['queued', 'running'].includes(j.dataset.state)"
        " && document.querySelector('#job-text').textContent.startsWith(kind); }",
        arg=kind,
    )
    state = page.get_attribute("#job", "data-state")
    if state != "done":
        raise RuntimeError(f"{kind} ended {state}: {page.inner_text('#error-text')}")


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    from vosam.app import AppConfig, create_server, start_in_thread

    frames = sorted((SEQUENCE / "JPEGImages" / NAME).glob("*.jpg"))[:FRAMES]
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp)
        clip = workspace / NAME
        clip.mkdir()
        for frame in frames:
            shutil.copy(frame, clip / frame.name)
        server = create_server(AppConfig(workspace=workspace, port=0, device="cpu"))
        start_in_thread(server)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 760})
                page.set_default_timeout(580_000)
                page.goto(server.url)
                page.fill("#path", NAME)
                page.click("#open")
                page.wait_for_selector("#canvas[data-frame='0']")
                page.check("input[name=tool][value=brush]")  # no clicks: nothing to embed
                for index in ANNOTATED:
                    page.click(f"#timeline div[data-frame='{index}']")
                    page.wait_for_selector(f"#canvas[data-frame='{index}']")
                    mask = SEQUENCE / "Annotations" / NAME / f"{index:05d}.png"
                    page.set_input_files("#mask-upload", str(mask))
                    page.wait_for_selector(f"#timeline div[data-frame='{index}'].annotated")
                for object_id, name in OBJECT_NAMES.items():
                    field = page.locator(f"#objects li[data-id='{object_id}'] input[type=text]")
                    field.fill(name)
                    with page.expect_response("**/api/objects/*"):
                        field.press("Enter")
                page.click("#timeline div[data-frame='0']")
                started = time.perf_counter()
                page.select_option("#direction", "both")
                page.click("#propagate")
                finished(page)
                print(f"propagated {FRAMES} frames in {time.perf_counter() - started:.1f} s")
                # a brush stroke on a propagated frame: a correction of that frame only
                page.click(f"#timeline div[data-frame='{CORRECTED}']")
                page.wait_for_selector(f"#canvas[data-frame='{CORRECTED}']")
                page.click("#objects li[data-id='3']")
                box = page.locator("#canvas").bounding_box()
                page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.45)
                page.mouse.down()
                page.mouse.move(box["x"] + box["width"] * 0.47, box["y"] + box["height"] * 0.55)
                page.mouse.up()
                page.wait_for_selector(f"#timeline div[data-frame='{CORRECTED}'].corrected")
                page.click("#suggest")
                finished(page, "suggest")
                page.click(f"#timeline div[data-frame='{SHOWN}']")
                page.wait_for_selector(f"#canvas[data-frame='{SHOWN}']")
                page.click("#objects li[data-id='1']")
                page.check("input[name=tool][value=pos]")
                page.wait_for_selector("#saved[data-state='saved']")
                page.screenshot(path=str(out))
                browser.close()
        finally:
            server.shutdown()
            server.server_close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/app.png"))
