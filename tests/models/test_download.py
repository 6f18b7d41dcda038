"""Fetching, caching and checking model files, against a loopback HTTP server."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading

import pytest

from vosam.errors import CheckpointError, DownloadError
from vosam.models import ensure, lookup, model_path, status
from vosam.models.cache import record_path


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_first_call_downloads_with_progress_second_uses_the_cache(catalogue, checkpoint, capsys):
    add, served = catalogue
    add("tiny-xmem")
    path = ensure("tiny-xmem")
    assert path == model_path(lookup("tiny-xmem")[0])
    assert path.read_bytes() == checkpoint
    assert served.requests == [("/tiny-xmem.pth", None)]
    err = capsys.readouterr().err
    size = f"{len(checkpoint) / 1024:.1f} KiB"
    assert re.search(rf"^tiny-xmem {size}/{size} \(100%\)  [\d.]+ [KMG]i?B/s  ETA 0:00$", err, re.M)
    record = json.loads(record_path(path).read_text())
    assert record["sha256"] == _sha(checkpoint) and record["size"] == len(checkpoint)
    assert record["checked"] == "first download"
    assert not list(path.parent.glob("*.part"))
    # the second call checks the cached file and asks nothing of the server
    assert ensure("tiny-xmem") == path
    assert len(served.requests) == 1
    assert status(lookup("tiny-xmem")[0]) == ("cached", len(checkpoint))


def test_a_transfer_cut_mid_body_is_resumed_with_a_range_request(catalogue, checkpoint):
    add, served = catalogue
    add("tiny-xmem")
    served.cut["/tiny-xmem.pth"] = 100_000
    path = ensure("tiny-xmem", progress=False, wait=0)
    assert path.read_bytes() == checkpoint
    assert served.requests == [("/tiny-xmem.pth", None), ("/tiny-xmem.pth", "bytes=100000-")]


def test_an_interrupted_download_is_continued_by_the_next_call(catalogue, checkpoint):
    add, served = catalogue
    entry = add("tiny-xmem")
    served.cut["/tiny-xmem.pth"] = 150_000
    with pytest.raises(DownloadError, match=r"broke off 1 times.*tiny-xmem.pth.part keeps"):
        ensure("tiny-xmem", progress=False, retries=0)
    assert status(lookup("tiny-xmem")[0]) == ("partial", 150_000)
    assert not model_path(lookup("tiny-xmem")[0]).exists()
    path = ensure("tiny-xmem", progress=False)
    assert path.read_bytes() == checkpoint
    assert served.requests[-1] == ("/tiny-xmem.pth", "bytes=150000-")
    assert entry["url"].endswith("/tiny-xmem.pth")


def test_a_download_that_misses_the_published_digest_is_discarded(catalogue, checkpoint):
    add, _ = catalogue
    add("tiny-xmem", md5="0" * 32)
    with pytest.raises(CheckpointError) as info:
        ensure("tiny-xmem", progress=False)
    message = str(info.value)
    assert "\n" not in message and "tiny-xmem.pth.part" in message
    assert f"its MD5 is {hashlib.md5(checkpoint).hexdigest()}" in message
    folder = model_path(lookup("tiny-xmem")[0]).parent
    assert sorted(p.name for p in folder.iterdir()) == ["tiny-xmem.pth.lock"]


def test_the_published_md5_is_checked_and_recorded(catalogue, checkpoint):
    add, _ = catalogue
    add("tiny-xmem", md5=hashlib.md5(checkpoint).hexdigest())
    path = ensure("tiny-xmem", progress=False)
    assert json.loads(record_path(path).read_text())["checked"] == "publisher"


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_cached_file_is_refused_with_one_line(catalogue, checkpoint, damage):
    add, served = catalogue
    add("tiny-xmem")
    path = ensure("tiny-xmem", progress=False)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        del data[-1000:]
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as info:
        ensure("tiny-xmem")
    message = str(info.value)
    assert message.startswith(f"{path}: cached file of model tiny-xmem is damaged")
    assert "\n" not in message and "was not loaded" in message
    expected = "SHA-256 is" if damage == "flip" else f"{len(data)} bytes where {len(checkpoint)}"
    assert expected in message
    assert len(served.requests) == 1  # nothing fetched behind the user's back
    assert path.read_bytes() == bytes(data)  # and nothing deleted


def test_a_hand_placed_file_is_checked_against_the_published_digest(catalogue, checkpoint):
    add, served = catalogue
    add("tiny-xmem", md5=hashlib.md5(b"something else").hexdigest())
    path = model_path(lookup("tiny-xmem")[0])
    path.parent.mkdir(parents=True)
    path.write_bytes(checkpoint)
    with pytest.raises(CheckpointError, match="the published one is"):
        ensure("tiny-xmem")
    assert served.requests == [] and not record_path(path).exists()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_network_names_the_address_and_where_to_place_the_file(catalogue):
    add, _ = catalogue
    url = f"http://127.0.0.1:{_closed_port()}/tiny-xmem.pth"
    add("tiny-xmem", url=url)
    with pytest.raises(DownloadError) as info:
        ensure("tiny-xmem", progress=False)
    message = str(info.value)
    path = model_path(lookup("tiny-xmem")[0])
    assert message.startswith(f"cannot download {url} (")
    assert f"place it at {path} (`vosam models path tiny-xmem` prints where)" in message
    assert "\n" not in message


def test_a_missing_file_on_the_server_is_an_error(catalogue):
    add, served = catalogue
    add("tiny-xmem")
    del served.files["/tiny-xmem.pth"]
    with pytest.raises(DownloadError, match=r"HTTP 404"):
        ensure("tiny-xmem", progress=False)


def test_concurrent_pulls_of_one_model_download_it_once(catalogue, checkpoint):
    add, served = catalogue
    add("tiny-xmem")
    served.delay = 0.02  # keep the first download going while the others arrive
    paths, errors = [], []

    def pull() -> None:
        try:
            paths.append(ensure("tiny-xmem", progress=False))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=pull) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert len(paths) == 3 and paths[0].read_bytes() == checkpoint
    assert served.requests == [("/tiny-xmem.pth", None)]


def test_downloading_can_be_refused(catalogue):
    add, served = catalogue
    add("tiny-xmem")
    with pytest.raises(DownloadError, match="is not cached; without a network"):
        ensure("tiny-xmem", download=False)
    assert served.requests == []
