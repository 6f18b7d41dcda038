"""End to end in a real headless Chromium: open a video, click an object, propagate, correct
a frame with the brush, make it an annotation, re-propagate, export, and check the exported
masks; the first click making an object, undo and redo from the keyboard and the buttons,
object visibility and opacity, propagation in both directions, a correction waiting for
"Make annotation", play and pause, and the work reopened after the server restarts."""

from __future__ import annotations

import contextlib
import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.app.conftest import FRAMES, RED, SIZE, disc_at, square_at, synthetic_video
from vosam.app.brush import stroke_mask

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None,
    reason=f"browser tests need Chromium at {CHROMIUM} (Debian package 'chromium')",
)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@contextlib.contextmanager
def page_on(browser, server):
    """A page of ``server`` in a fresh browser context; it must raise no JavaScript error."""
    context = browser.new_context(
        viewport={"width": 1200, "height": 800}, accept_downloads=True, base_url=server.url
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(30_000)
    page.goto(server.url)
    yield page
    context.close()
    assert errors == [], "the page raised JavaScript errors"


@pytest.fixture
def page(browser, server):
    with page_on(browser, server) as page:
        yield page


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def on_canvas(page, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of image pixel ``(x, y)``."""
    box = page.locator("#canvas").bounding_box()
    h, w = SIZE
    return box["x"] + (x + 0.5) * box["width"] / w, box["y"] + (y + 0.5) * box["height"] / h


def ids(page, index: int) -> np.ndarray:
    response = page.request.get(f"/api/ids/{index}")
    assert response.ok
    return np.asarray(Image.open(io.BytesIO(response.body())))


def open_clip(page) -> None:
    page.fill("#path", "clip")
    page.click("#open")
    page.wait_for_selector(f"text=frame 1/{FRAMES}")
    page.wait_for_selector("#canvas[data-frame='0']")


def wait_done(page, kind: str) -> None:
    page.wait_for_selector(f"#job[data-state='done'] >> text={kind}")


def propagate(page, direction: str) -> None:
    page.select_option("#direction", direction)
    page.click("#propagate")


def test_click_propagate_brush_repropagate_export(page, tmp_path):
    _, truth = synthetic_video()
    open_clip(page)

    # Object 1: one positive click on the square of frame 0.
    page.click("#add-object")
    page.wait_for_selector("#objects li[data-id='1'].selected")
    y, x = square_at(0)
    page.mouse.click(*on_canvas(page, x + 15, y + 15))
    page.wait_for_selector("#timeline div[data-frame='0'].annotated")
    assert np.array_equal(ids(page, 0), (truth[0] == 1).astype(np.uint8))

    propagate(page, "forward")
    wait_done(page, "propagate forward")
    page.wait_for_selector(f"#timeline div[data-frame='{FRAMES - 1}'].propagated")
    before = [ids(page, t) for t in range(FRAMES)]
    assert all(iou(before[t] == 1, truth[t] == 1) > 0.6 for t in range(FRAMES))
    assert not any((m == 2).any() for m in before)

    # Frame 5: the disc is painted with the brush as a new object.
    page.click("#timeline div[data-frame='5']")
    page.wait_for_selector("#canvas[data-frame='5']")
    page.click("#add-object")
    page.wait_for_selector("#objects li[data-id='2'].selected")
    page.check("input[name=tool][value=brush]")
    page.eval_on_selector("#radius", "e => { e.value = '8'; e.dispatchEvent(new Event('input')); }")
    cy, cx = disc_at(5)
    page.mouse.move(*on_canvas(page, cx, cy - 4))
    page.mouse.down()
    for k in range(-3, 5):
        page.mouse.move(*on_canvas(page, cx, cy + k))
    page.mouse.up()
    # the stroke corrects propagated frame 5; "Make annotation" puts it in memory
    page.wait_for_selector("#timeline div[data-frame='5'].corrected")
    page.click("#confirm")
    page.wait_for_selector("#timeline div[data-frame='5'].annotated")
    painted = ids(page, 5)
    assert np.array_equal(painted == 1, (before[5] == 1) & (painted != 2))
    stroke = stroke_mask(SIZE, np.array([[cx + 0.5, cy - 3.5], [cx + 0.5, cy + 4.5]]), 8)
    assert iou(painted == 2, stroke) > 0.9

    # Re-propagate from frame 0 with both annotations: the disc is tracked after frame 5.
    page.click("#timeline div[data-frame='0']")
    page.wait_for_selector("#canvas[data-frame='0']")
    first = page.get_attribute("#job", "data-job")
    propagate(page, "forward")
    page.wait_for_function(
        f"document.querySelector('#job').dataset.job !== '{first}' && "
        "document.querySelector('#job').dataset.state === 'done'"
    )
    assert "propagate forward: done 8/8" in page.inner_text("#job-text")

    # Export the masks through the page and check the downloaded zip's values.
    page.click("button[data-export=masks]")
    link = page.wait_for_selector("#download-masks")
    with page.expect_download() as download:
        link.click()
    target = tmp_path / "masks.zip"
    download.value.save_as(target)
    with zipfile.ZipFile(target) as archive:
        names = archive.namelist()
        masks = [np.asarray(Image.open(io.BytesIO(archive.read(n)))) for n in names]
    assert names == [f"{t:05d}.png" for t in range(FRAMES)]
    assert np.array_equal(masks[0], (truth[0] == 1).astype(np.uint8))
    assert np.array_equal(masks[5], painted)
    for t in range(FRAMES):
        assert iou(masks[t] == 1, truth[t] == 1) > 0.6, t
    # frame 0 is annotated without the disc (on frames 1-4 permanent memory may find it)
    assert not (masks[0] == 2).any()
    for t in range(6, FRAMES):
        assert iou(masks[t] == 2, truth[t] == 2) > 0.5, t


def test_bad_upload_shows_an_error_and_keeps_the_video(page):
    open_clip(page)
    page.click("#add-object")
    y, x = square_at(0)
    page.mouse.click(*on_canvas(page, x + 15, y + 15))
    page.wait_for_selector("#timeline div[data-frame='0'].annotated")
    where = page.locator("#canvas").bounding_box()
    page.set_input_files(
        "#upload", files=[{"name": "notes.mp4", "mimeType": "video/mp4", "buffer": b"no video"}]
    )
    error = page.wait_for_selector("#error:not([hidden])")
    assert error.inner_text().startswith("notes.mp4:")
    assert page.locator("#canvas").bounding_box() == where  # the error floats over the page
    assert page.inner_text("#frame-label").startswith(f"frame 1/{FRAMES}")
    page.click("#next")
    page.wait_for_selector("#canvas[data-frame='1']")
    page.click("#prev")
    page.wait_for_selector("#canvas[data-frame='0']")
    assert page.locator("#timeline div.annotated").count() == 1


def test_box_drag_and_negative_click(page):
    _, truth = synthetic_video()
    open_clip(page)
    page.click("#add-object")
    page.wait_for_selector("#objects li[data-id='1'].selected")
    page.check("input[name=tool][value=box]")
    page.mouse.move(*on_canvas(page, 10, 10))
    page.mouse.down()
    page.mouse.move(*on_canvas(page, 25, 20))
    page.mouse.move(*on_canvas(page, 40, 30))
    assert page.text_content("#cursor") == "x 40, y 30  box 10,10,40,30"
    page.mouse.up()
    page.wait_for_selector("#timeline div[data-frame='0'].annotated")
    # the box as `vosam segment --box` takes it stays shown
    assert page.text_content("#cursor").strip() == "box 10,10,40,30"
    want = np.zeros(SIZE, bool)
    want[10:31, 10:41] = True
    assert iou(ids(page, 0) == 1, want) > 0.9
    # A positive click on the square inside the box keeps only the square's part of it;
    # right-clicking the disc (outside the box) leaves the answer as it is.
    page.check("input[name=tool][value=pos]")
    y, x = square_at(0)
    with page.expect_response("**/api/prompt"):
        page.mouse.click(*on_canvas(page, x + 5, y + 5))
    cy, cx = disc_at(0)
    with page.expect_response("**/api/prompt"):
        page.mouse.click(*on_canvas(page, cx, cy), button="right")
    page.wait_for_function("document.querySelector('#canvas').dataset.rev === '3'")
    assert np.array_equal(ids(page, 0) == 1, (truth[0] == 1) & want)


def pixel(page, x: int, y: int) -> list[int]:
    """The canvas's RGBA at image pixel ``(x, y)``."""
    return page.evaluate(
        "([x, y]) => Array.from(document.querySelector('#canvas')"
        ".getContext('2d').getImageData(x, y, 1, 1).data)",
        [x, y],
    )


def test_first_click_makes_an_object_and_undo_redo_from_keys_and_buttons(page):
    _, truth = synthetic_video()
    open_clip(page)
    where = page.locator("#canvas").bounding_box()
    y, x = square_at(0)
    page.mouse.click(*on_canvas(page, x + 15, y + 15))  # no object yet: the click makes one
    page.wait_for_selector("#objects li[data-id='1'].selected")
    page.wait_for_selector("#timeline div[data-frame='0'].annotated")
    assert page.is_hidden("#error")
    assert page.locator("#canvas").bounding_box() == where
    square = (truth[0] == 1).astype(np.uint8)
    both = (truth[0] > 0).astype(np.uint8)
    assert np.array_equal(ids(page, 0), square)
    cy, cx = disc_at(0)
    with page.expect_response("**/api/prompt"):
        page.mouse.click(*on_canvas(page, cx, cy))
    assert np.array_equal(ids(page, 0), both)

    # Ctrl+Z in a text field is the field's own; on the canvas it undoes the click
    undone = []
    page.on("request", lambda r: undone.append(r.url) if "/api/undo" in r.url else None)
    page.fill("#path", "clip")
    page.press("#path", "Control+z")
    page.wait_for_timeout(300)
    assert undone == []
    page.focus("#canvas")
    with page.expect_response("**/api/undo"):
        page.keyboard.press("Control+z")
    assert np.array_equal(ids(page, 0), square)
    with page.expect_response("**/api/redo"):
        page.keyboard.press("Control+Shift+z")
    assert np.array_equal(ids(page, 0), both)
    page.keyboard.press("Control+z")
    page.wait_for_selector("#status >> text=undid click on frame 1")
    # the page has the first click back: the next click adds to it
    with page.expect_request("**/api/prompt") as sent, page.expect_response("**/api/prompt"):
        page.mouse.click(*on_canvas(page, cx, cy))
    assert len(sent.value.post_data_json["points"]) == 2
    page.wait_for_function("document.querySelector('#redo').disabled")  # a new change

    # a brush stroke, undone and redone with the buttons
    page.check("input[name=tool][value=brush]")
    page.eval_on_selector("#radius", "e => { e.value = '4'; e.dispatchEvent(new Event('input')); }")
    with page.expect_response("**/api/paint"):
        page.mouse.move(*on_canvas(page, 5, 100))
        page.mouse.down()
        page.mouse.move(*on_canvas(page, 20, 100))
        page.mouse.up()
    painted = ids(page, 0)
    assert painted[100, 12] == 1 and np.array_equal(painted[:60], both[:60])
    with page.expect_response("**/api/undo"):
        page.click("#undo")
    assert np.array_equal(ids(page, 0), both)
    with page.expect_response("**/api/redo"):
        page.click("#redo")
    assert np.array_equal(ids(page, 0), painted)

    # the object's mask hidden, then shown opaque
    rev = page.request.get("/api/state").json()["state"]["revisions"]["0"]
    page.wait_for_selector(f"#canvas[data-rev='{rev}']")
    shown = pixel(page, x + 4, y + 4)  # away from the clicks drawn
    page.uncheck("#objects li[data-id='1'] input.visible")
    hidden = pixel(page, x + 4, y + 4)
    page.check("#objects li[data-id='1'] input.visible")
    page.eval_on_selector(
        "#objects li[data-id='1'] input.opacity",
        "e => { e.value = '100'; e.dispatchEvent(new Event('input')); }",
    )
    opaque = pixel(page, x + 4, y + 4)
    assert np.abs(np.subtract(hidden[:3], RED)).max() <= 6, hidden
    assert opaque[:3] == [128, 0, 0], opaque
    assert all(
        min(a, b) < s < max(a, b) for a, b, s in zip(RED, (128, 0, 0), shown[:3], strict=True)
    ), shown


def test_both_directions_then_a_correction_waits_for_make_annotation(page):
    _, truth = synthetic_video()
    open_clip(page)
    page.click("#timeline div[data-frame='4']")
    page.wait_for_selector("#canvas[data-frame='4']")
    y, x = square_at(4)
    page.mouse.click(*on_canvas(page, x + 15, y + 15))
    page.wait_for_selector("#timeline div[data-frame='4'].annotated")
    propagate(page, "both")
    wait_done(page, "propagate both")
    for t in range(FRAMES):  # found before and after the annotated frame
        assert iou(ids(page, t) == 1, truth[t] == 1) > 0.6, t
    assert page.locator("#timeline div.propagated").count() == FRAMES - 1

    # a click on propagated frame 6 corrects that frame only, until "Make annotation"
    page.click("#timeline div[data-frame='6']")
    page.wait_for_selector("#canvas[data-frame='6']")
    page.click("#add-object")
    page.wait_for_selector("#objects li[data-id='2'].selected")
    cy, cx = disc_at(6)
    page.mouse.click(*on_canvas(page, cx, cy))
    page.wait_for_selector("#timeline div[data-frame='6'].corrected")
    assert page.inner_text("#frame-kind") == "corrected"
    state = page.request.get("/api/state").json()["state"]
    assert (state["annotated"], state["corrected"]) == ([4], [6])
    page.keyboard.press("Enter")  # the canvas has the focus
    page.wait_for_selector("#timeline div[data-frame='6'].annotated")
    state = page.request.get("/api/state").json()["state"]
    assert (state["annotated"], state["corrected"]) == ([4, 6], [])
    assert np.array_equal(ids(page, 6) == 2, truth[6] == 2)


def test_space_plays_and_pauses(browser, make_server):
    server = make_server(fps=4)
    with page_on(browser, server) as page:
        open_clip(page)  # the focus is on the Open button: space plays, not clicks it
        page.keyboard.press("Space")
        page.wait_for_selector("#play[data-playing='true']")
        page.wait_for_selector("#canvas[data-frame='1']")
        page.keyboard.press("Space")
        page.wait_for_selector("#play[data-playing='false']")
        paused = page.get_attribute("#canvas", "data-frame")
        page.wait_for_timeout(600)
        assert page.get_attribute("#canvas", "data-frame") == paused
        assert page.inner_text("#frame-label").startswith(f"frame {int(paused) + 1}/")
        # played to the end, it stops by itself
        page.click(f"#timeline div[data-frame='{FRAMES - 2}']")
        page.keyboard.press("Space")
        page.wait_for_selector(f"#canvas[data-frame='{FRAMES - 1}']")
        page.wait_for_selector("#play[data-playing='false']")


def test_the_work_comes_back_after_the_server_restarts(browser, make_server, workspace):
    _, truth = synthetic_video()
    server = make_server(save_delay_s=0.05)
    port = server.server_address[1]
    with page_on(browser, server) as page:
        page.click("#videos-button")
        page.click("#video-list li[data-path='clip']")
        page.wait_for_selector("#canvas[data-frame='0']")
        y, x = square_at(0)
        page.mouse.click(*on_canvas(page, x + 15, y + 15))
        page.wait_for_selector("#timeline div[data-frame='0'].annotated")
        page.wait_for_selector("#saved[data-state='saved']")
        assert page.inner_text("#saved") == "✓ saved in vosam-runs/clip"
        assert (workspace / "vosam-runs" / "clip" / "annotations" / "00000.png").is_file()
    server.shutdown()
    server.server_close()

    # another browser, another server on the same workspace: the video list says which
    # video has saved work, and opening it goes on from there
    with page_on(browser, make_server(port=port)) as page:
        page.click("#videos-button")
        page.wait_for_selector("#video-list li[data-path='clip'] >> text=saved work")
        page.click("#video-list li[data-path='clip']")
        page.wait_for_selector("#timeline div[data-frame='0'].annotated")
        assert np.array_equal(ids(page, 0), (truth[0] == 1).astype(np.uint8))
        assert page.inner_text("#saved") == "✓ saved in vosam-runs/clip"
        # the page remembers its video: reloaded, it opens it again
        page.reload()
        page.wait_for_selector("#timeline div[data-frame='0'].annotated")
