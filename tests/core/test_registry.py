import subprocess
import sys

import pytest

from vosam import registry


def test_every_kind_lists_its_backends_in_registration_order():
    assert registry.names("engine") == ("embedded", "embedded-v1", "xmem", "cutie", "sam2")
    assert registry.names("segmenter") == ("embedded", "sam", "sam-hq", "sam2")
    assert registry.names("format") == ("davis", "youtube-vos", "lvos", "long-video", "youtube-vis")
    assert registry.names("executor") == ("local", "ray")


def test_entries_carry_their_config_class_and_model_argument():
    from vosam.engines.xmem.config import XMemConfig

    assert registry.config_class("engine", "xmem") is XMemConfig
    assert registry.config_class("executor", "local") is None
    assert registry.entry("segmenter", "sam2").model_arg == "model_config"
    assert registry.entry("segmenter", "sam-hq").model_arg == "model_type"
    assert registry.entry("segmenter", "embedded").model_arg is None


def test_unknown_names_list_the_known_ones():
    known = "embedded, embedded-v1, xmem"
    with pytest.raises(ValueError, match=f"unknown engine 'nope'; choose one of {known}"):
        registry.entry("engine", "nope")
    with pytest.raises(ValueError, match="unknown refiner 'x'"):
        registry.entry("segmenter", "x", noun="refiner")
    with pytest.raises(ValueError, match="not 'module:attribute'"):
        registry.register("engine", "bad", "no_colon")


def test_a_registered_backend_is_built_by_name(monkeypatch):
    from vosam.engines import available_engines, build_propagator

    monkeypatch.setitem(registry._TABLES["engine"], "probe", registry.Entry("probe", "os:getcwd"))
    assert "probe" in available_engines()
    assert build_propagator("probe") == __import__("os").getcwd()


def test_listing_names_imports_no_backend():
    code = (
        "import sys; from vosam import registry; "
        "[registry.names(k) for k in registry.KINDS]; "
        "print(sorted(m for m in ('torch', 'cv2', 'vosam.engines') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_engines_prompt_flag_matches_their_trackers():
    """The registry says which engines take prompts without loading them; their tracker
    classes say it too, and the two must agree."""
    from vosam.engines.cutie.tracker import CutieTracker
    from vosam.engines.embedded.tracker import EmbeddedTracker
    from vosam.engines.fused.tracker import FusedTracker
    from vosam.engines.sam2.tracker import SAM2Tracker
    from vosam.engines.xmem.tracker import XMemTracker

    trackers = {
        "embedded": FusedTracker,
        "embedded-v1": EmbeddedTracker,
        "xmem": XMemTracker,
        "cutie": CutieTracker,
        "sam2": SAM2Tracker,
    }
    assert set(trackers) == set(registry.names("engine"))
    for name, tracker in trackers.items():
        assert registry.entry("engine", name).takes_prompts is tracker.takes_prompts, name
    assert registry.entry("engine", "sam2").takes_prompts
