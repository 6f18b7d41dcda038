"""Fuzz the mask reader and the trajectories reader with generated files.

Every generated input must either load (a mask: ``uint8 (H, W)``; trajectories: a list) or
raise one of vosam's own errors (:class:`vosam.errors.VosamError`); anything else is a
failure. Inputs: images of every mode a PNG can hold (palette, grey 1/8/16-bit, grey with
alpha, RGB, RGBA) with small id sets, grey ramps, palette and foreign colours, then
encoded and optionally damaged (bytes flipped, truncated), plus raw bytes; trajectories
documents built from the format's fields with wrong types and values mixed in, any JSON
value, and raw bytes.

    python benchmarks/fuzz_readers.py [--examples 2000] [--seed 0]

Prints the cases tried and the failures found per reader; exit code 1 when any failed.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import traceback
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from PIL import Image

from vosam.discover.trajectories import read_trajectories
from vosam.errors import VosamError
from vosam.io import DAVIS_COLORS, read_mask

NAMES = tuple(f"{i:05d}" for i in range(6))
SIZE = (12, 16)


class Tally:
    def __init__(self, name: str) -> None:
        self.name, self.cases, self.failures = name, 0, []

    def check(self, call) -> None:
        self.cases += 1
        try:
            call()
        except VosamError:
            pass
        except Exception as e:
            self.failures.append(f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}")


# -- masks -------------------------------------------------------------------------------


@st.composite
def mask_images(draw) -> bytes:
    h = draw(st.integers(1, 24))
    w = draw(st.integers(1, 24))
    mode = draw(st.sampled_from(["P", "L", "1", "I;16", "LA", "RGB", "RGBA"]))
    kind = draw(st.sampled_from(["ids", "ramp", "noise", "palette", "binary"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "ids":
        values = np.array(draw(st.lists(st.integers(0, 255), min_size=1, max_size=20)))
    elif kind == "ramp":
        values = np.linspace(0, 255, draw(st.integers(2, 60))).astype(int)
    elif kind == "binary":
        values = np.array([0, 255])
    else:
        values = np.arange(256)
    ids = rng.choice(values, size=(h, w)).astype(np.uint8)
    if mode == "P":
        image = Image.fromarray(ids, mode="P")
        image.putpalette(list(DAVIS_COLORS.ravel()))
    elif mode in ("RGB", "RGBA"):
        rgb = DAVIS_COLORS[ids] if kind == "palette" else rng.integers(0, 256, (h, w, 3))
        rgb = rgb.astype(np.uint8)
        if mode == "RGBA":
            rgb = np.concatenate([rgb, np.full((h, w, 1), 255, np.uint8)], 2)
        image = Image.fromarray(rgb)
    elif mode == "I;16":
        scale = draw(st.sampled_from([1, 257]))
        image = Image.fromarray((ids.astype(np.uint16) * scale).astype(np.uint16))
    elif mode == "LA":
        image = Image.fromarray(np.stack([ids, np.full_like(ids, 255)], 2), mode="LA")
    elif mode == "1":
        image = Image.fromarray(ids > 127)
    else:
        image = Image.fromarray(ids)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@st.composite
def damaged(draw, files) -> bytes:
    data = bytearray(draw(files))
    action = draw(st.sampled_from(["none", "flip", "truncate", "raw"]))
    if action == "flip" and data:
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] = draw(st.integers(0, 255))
    elif action == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif action == "raw":
        data = bytearray(draw(st.binary(max_size=200)))
    return bytes(data)


# -- trajectories ------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
anything = json_values | st.sampled_from([float("nan"), float("inf"), -1, 10**30, ""])


def maybe(value):
    return st.one_of(st.just(value), anything)


@st.composite
def boxes(draw):
    frame = draw(st.one_of(st.integers(-2, 8), st.sampled_from([*NAMES, "x"]), anything))
    box = draw(
        st.one_of(st.lists(st.floats(-50, 50) | st.integers(-50, 50), min_size=0, max_size=5))
    )
    entry = {"frame": frame, "box": draw(maybe(box))}
    if draw(st.booleans()):
        entry["score"] = draw(st.one_of(st.floats(-1, 2), anything))
    return draw(st.one_of(st.just(entry), anything))


@st.composite
def trajectory_docs(draw) -> bytes:
    doc = {
        "objects": draw(
            maybe(
                draw(
                    st.lists(
                        st.fixed_dictionaries(
                            {
                                "id": st.one_of(st.integers(-1, 300), anything),
                                "boxes": st.one_of(st.lists(boxes(), max_size=4), anything),
                            },
                            optional={"score": anything},
                        ),
                        max_size=3,
                    )
                )
            )
        )
    }
    for key, value in (
        ("format", "vosam-trajectories"),
        ("version", 1),
        ("width", SIZE[1]),
        ("height", SIZE[0]),
        ("frames", list(NAMES)),
    ):
        if draw(st.booleans()):
            doc[key] = draw(maybe(value))
    text = json.dumps(draw(st.one_of(st.just(doc), anything)), allow_nan=True)
    return draw(st.one_of(st.just(text.encode()), st.binary(max_size=100)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="cases per reader")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = settings(
        max_examples=args.examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    masks, trajectories = Tally("read_mask"), Tally("read_trajectories")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input"

        @seed(args.seed)
        @config
        @given(
            data=damaged(mask_images()),
            expected=st.none() | st.just(SIZE),
            binarize=st.booleans(),
        )
        def fuzz_masks(data: bytes, expected, binarize: bool) -> None:
            path.write_bytes(data)

            def call() -> None:
                mask = read_mask(path, expected_size=expected, binarize=binarize)
                assert mask.dtype == np.uint8 and mask.ndim == 2, (mask.dtype, mask.shape)

            masks.check(call)

        @seed(args.seed)
        @config
        @given(data=trajectory_docs(), with_size=st.booleans())
        def fuzz_trajectories(data: bytes, with_size: bool) -> None:
            path.write_bytes(data)

            def call() -> None:
                out = read_trajectories(path, names=NAMES, size=SIZE if with_size else None)
                assert isinstance(out, list)

            trajectories.check(call)

        fuzz_masks()
        fuzz_trajectories()
    for tally in (masks, trajectories):
        print(f"{tally.name}: {tally.cases} cases, {len(tally.failures)} failures")
        for failure in tally.failures[:5]:
            print("  " + failure.replace("\n", "\n  "))
    return 1 if masks.failures or trajectories.failures else 0


if __name__ == "__main__":
    sys.exit(main())
