"""The built-in catalogue is well formed, names resolve, the cache folder follows the
platform's rule, and Hugging Face ids go through huggingface_hub."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from pathlib import Path

import pytest

from vosam import registry
from vosam.errors import CheckpointError, DownloadError, ModelError
from vosam.models import catalogue, check_backend, ensure, lookup, model_path
from vosam.models.cache import cache_root, record_path
from vosam.models.catalogue import ModelEntry, built_in, read_catalogue

HOSTS = {
    "xmem": "https://github.com/hkchengrex/XMem/releases/download/v1.0/",
    "sam": "https://dl.fbaipublicfiles.com/segment_anything/",
    "sam-hq": "https://huggingface.co/lkeab/hq-sam/resolve/",
    "sam2": "https://dl.fbaipublicfiles.com/segment_anything_2/",
    "cutie": "https://github.com/hkchengrex/Cutie/releases/download/v1.0/",
}


def test_every_built_in_entry_is_well_formed():
    entries = built_in()
    assert len({e.file for e in entries.values()}) == len(entries)
    for name, entry in entries.items():
        assert entry.name == name and re.fullmatch(r"[a-z0-9.+-]+", name)
        assert entry.url.startswith(HOSTS[entry.backend]) and entry.url.endswith("/" + entry.file)
        assert entry.licence in ("MIT", "Apache-2.0")
        assert entry.source


def test_the_names_the_issue_asks_for_are_there():
    names = set(built_in())
    assert {"xmem", "xmem-s012", "xmem-no-sensory"} <= names
    assert {f"sam-vit-{s}" for s in "blh"} <= names
    assert {f"sam-hq-vit-{s}" for s in ("b", "l", "h", "tiny")} <= names
    sizes = ("tiny", "small", "base-plus", "large")
    assert {f"sam2.1-hiera-{s}" for s in sizes} | {f"sam2-hiera-{s}" for s in sizes} <= names
    assert {"cutie-base-mega", "cutie-small-mega"} <= names


def test_sam_file_names_carry_the_start_of_their_md5():
    for kind in ("b", "l", "h"):
        entry = built_in()[f"sam-vit-{kind}"]
        assert entry.config == f"vit_{kind}"
        assert entry.file == f"sam_vit_{kind}_{entry.md5[:6]}.pth"


def test_sam2_entries_name_configs_the_sam2_package_has():
    for entry in built_in().values():
        if entry.backend != "sam2":
            continue
        assert entry.kinds == ("engine", "segmenter")
        assert entry.hf_repo == "facebook/" + entry.name and entry.hf_file == entry.file
        if importlib.util.find_spec("sam2") is not None:
            import sam2

            assert (Path(sam2.__file__).parent / entry.config).is_file(), entry.config


def test_the_cutie_entries_are_the_official_release_files():
    base, small = built_in()["cutie-base-mega"], built_in()["cutie-small-mega"]
    for entry, size in ((base, "base"), (small, "small")):
        assert entry.kinds == ("engine",) and entry.backend == "cutie"
        assert entry.url == f"{HOSTS['cutie']}cutie-{size}-mega.pth"
        assert entry.config is None and entry.licence == "MIT"
    assert base.md5 == "a6071de6136982e396851903ab4c083a"
    assert small.published_digest is None  # none published: recorded at first download


def test_a_model_whose_backend_is_not_registered_gives_a_clear_error():
    entry = built_in()["cutie-base-mega"]
    if "cutie" in registry.names("engine"):
        check_backend(entry, "engine")
    else:
        with pytest.raises(ModelError, match="runs on the cutie engine, which this version"):
            check_backend(entry, "engine")
    ghost = ModelEntry("ghost", ("engine",), "ghost", "https://x/g.pth", "g.pth", "MIT")
    with pytest.raises(ModelError, match="runs on the ghost engine, which this version"):
        check_backend(ghost, "engine")


def test_a_model_of_another_kind_is_refused():
    with pytest.raises(ModelError, match="sam-vit-b is for the sam segmenter, not an engine"):
        check_backend(built_in()["sam-vit-b"], "engine")
    check_backend(built_in()["sam2.1-hiera-tiny"], "segmenter")


def test_lookup_takes_names_and_hugging_face_ids():
    assert lookup("xmem") == (built_in()["xmem"], False)
    assert lookup("facebook/sam2.1-hiera-tiny") == (built_in()["sam2.1-hiera-tiny"], True)
    with pytest.raises(ModelError, match=r"unknown model 'xmen'; known models: xmem, "):
        lookup("xmen")
    with pytest.raises(ModelError, match=r"unknown Hugging Face id 'facebook/sam3'"):
        lookup("facebook/sam3")


def test_a_catalogue_file_adds_and_replaces_entries(tmp_path, monkeypatch):
    path = tmp_path / "c.json"
    mirror = {
        "name": "xmem",
        "kinds": ["engine"],
        "backend": "xmem",
        "url": "https://mirror.example/XMem.pth",
        "file": "XMem.pth",
        "licence": "MIT",
    }
    path.write_text(json.dumps({"models": [mirror]}))
    monkeypatch.setenv("VOSAM_CATALOGUE", str(path))
    assert catalogue()["xmem"].url == "https://mirror.example/XMem.pth"
    assert catalogue()["sam-vit-b"] == built_in()["sam-vit-b"]
    for bad, problem in (
        ({"models": [{**mirror, "colour": 1}]}, "model 1: unknown field"),
        ({"models": [{**mirror, "md5": "xyz"}]}, "model 1: .*not a hex digest"),
        ({"models": [{**mirror, "file": "../x"}]}, "not a plain file name"),
        ([], r'a model catalogue is \{"models"'),
    ):
        path.write_text(json.dumps(bad))
        with pytest.raises(ModelError, match=f"^{re.escape(str(path))}: .*{problem}"):
            read_catalogue(path)


def test_the_cache_folder_follows_vosam_home_then_the_platform(monkeypatch, tmp_path):
    monkeypatch.setenv("VOSAM_HOME", str(tmp_path / "h"))
    assert cache_root() == tmp_path / "h"
    monkeypatch.delenv("VOSAM_HOME")
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "vosam"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # ignored, as the rule says
    assert cache_root() == Path.home() / ".cache" / "vosam"
    monkeypatch.setattr("sys.platform", "darwin")
    assert cache_root() == Path.home() / "Library" / "Caches" / "vosam"


def test_hugging_face_ids_go_through_huggingface_hub(tmp_path, monkeypatch, cache):
    hub = pytest.importorskip("huggingface_hub")
    weights = tmp_path / "hub" / "sam2.1_hiera_tiny.pt"
    weights.parent.mkdir()
    weights.write_bytes(b"sam 2.1 tiny")
    calls = []

    def download(repo_id: str, filename: str, **kwargs: object) -> str:
        calls.append((repo_id, filename))
        return str(weights)

    monkeypatch.setattr(hub, "hf_hub_download", download)
    assert ensure("facebook/sam2.1-hiera-tiny") == weights
    assert calls == [("facebook/sam2.1-hiera-tiny", "sam2.1_hiera_tiny.pt")]
    record = cache / "models" / "huggingface" / "facebook" / "sam2.1-hiera-tiny"
    record = record / "sam2.1_hiera_tiny.pt"
    assert json.loads(record_path(record).read_text())["sha256"] == (
        hashlib.sha256(b"sam 2.1 tiny").hexdigest()
    )
    weights.write_bytes(b"sam 2.1 tinY")  # the hub's copy changed under it: refused
    with pytest.raises(CheckpointError, match="is damaged or incomplete"):
        ensure("facebook/sam2.1-hiera-tiny")


def test_hugging_face_offline_names_the_address_and_the_way_by_hand(monkeypatch, cache):
    hub = pytest.importorskip("huggingface_hub")
    from huggingface_hub.errors import LocalEntryNotFoundError

    def offline(**kwargs: object) -> str:
        raise LocalEntryNotFoundError("cannot find the requested files in the disk cache")

    monkeypatch.setattr(hub, "hf_hub_download", offline)
    with pytest.raises(DownloadError) as info:
        ensure("facebook/sam2.1-hiera-tiny")
    message = str(info.value)
    path = model_path(built_in()["sam2.1-hiera-tiny"])
    assert message.startswith(
        "cannot fetch https://huggingface.co/facebook/sam2.1-hiera-tiny/resolve/main/"
        "sam2.1_hiera_tiny.pt (LocalEntryNotFoundError: cannot find"
    )
    assert f"place it at {path} (`vosam models path sam2.1-hiera-tiny`" in message
