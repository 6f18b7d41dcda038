"""sam2's global state stays contained: importing vosam does not load sam2 or Hydra, building
a SAM 2 engine (or the SAM 2 refiner) leaves Hydra as it found it, and several SAM 2 models
share one process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
from sam2_helpers import fresh_model, squares_video

from vosam.engines.sam2.propagator import SAM2Propagator

SCRIPT = textwrap.dedent(
    """
    import sys

    import vosam, vosam.cli, vosam.engines, vosam.session
    from vosam.engines import available_engines

    assert "sam2" in available_engines()
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("sam2", "hydra", "omegaconf"))
    assert not loaded, loaded

    from hydra.core.global_hydra import GlobalHydra
    from vosam.engines.sam2.build import build_model

    def sources():
        hydra = GlobalHydra.instance()
        if not hydra.is_initialized():
            return None
        return [f"{s.scheme()}://{s.path}" for s in hydra.config_loader().get_sources()]

    CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"
    build_model(CONFIG, overrides=["++model.image_size=32"])
    assert "pkg://sam2" in sources()  # what importing sam2 does on its own

    # sam2's own builders (as a SAM 2 refiner uses them) still work, and ours after them
    from sam2.build_sam import build_sam2
    build_sam2(CONFIG, device="cpu", hydra_overrides_extra=["++model.image_size=32"])
    build_model(CONFIG, overrides=["++model.image_size=32"])

    # an application's own Hydra setup survives building an engine
    from hydra import initialize
    GlobalHydra.instance().clear()
    initialize(version_base="1.2", config_path=None)
    before = sources()
    build_model(CONFIG, overrides=["++model.image_size=32"])
    from vosam.refine import build_segmenter
    build_segmenter("sam2", model_config=CONFIG, device="cpu", random_weights=True)  # refiner
    assert sources() == before and "pkg://sam2" not in before, (before, sources())
    print("isolated")
    """
)


def test_import_and_hydra_isolation() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "isolated"


def test_two_engines_in_one_process_do_not_interfere() -> None:
    frames, masks = squares_video(4)
    engines = [SAM2Propagator(fresh_model(32, seed=k), device="cpu") for k in (0, 1)]

    def trackers() -> list:
        out = [engine.new_tracker() for engine in engines]
        for tracker in out:
            tracker.add_permanent(0, frames[0], masks[0])
        return out

    alone = []
    for tracker in trackers():
        alone.append([tracker.step(i, frames[i]).probs for i in range(1, 4)])
    together = [[], []]
    pair = trackers()
    for i in range(1, 4):  # interleaved, frame by frame
        for k, tracker in enumerate(pair):
            together[k].append(tracker.step(i, frames[i]).probs)
    for a, b in zip(alone, together, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
    assert np.abs(alone[0][-1] - alone[1][-1]).max() > 1e-4  # two different models
