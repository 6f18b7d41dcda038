"""``vosam models list``, ``pull`` and ``path``."""

from __future__ import annotations

import hashlib

from vosam.cli import main
from vosam.models import lookup, model_path


def _rows(out: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in out.splitlines()[1:] if line.strip()}


def test_list_shows_every_model_what_is_cached_and_sizes(catalogue, checkpoint, capsys, cache):
    add, _ = catalogue
    add("tiny-xmem")
    assert main(["models", "list"]) == 0
    captured = capsys.readouterr()
    rows = _rows(captured.out)
    assert rows["tiny-xmem"][:5] == ["tiny-xmem", "engine", "xmem", "-", "-"]
    assert rows["sam-vit-b"][:6] == ["sam-vit-b", "segmenter", "sam", "(vit_b)", "-", "-"]
    assert "published" in rows["sam-vit-b"] and "Apache-2.0" in rows["sam-vit-b"]
    assert rows["cutie-small-mega"][-4:] == ["at", "first", "download", "MIT"]
    assert f"cache: {cache}" in captured.err
    assert main(["models", "pull", "tiny-xmem", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["models", "list"]) == 0
    size = f"{len(checkpoint) / 1024:.1f}"
    assert rows_of(capsys)["tiny-xmem"][3:6] == ["cached", size, "KiB"]


def rows_of(capsys) -> dict[str, list[str]]:
    return _rows(capsys.readouterr().out)


def test_pull_fetches_ahead_and_path_says_where(catalogue, checkpoint, capsys):
    add, served = catalogue
    add("tiny-xmem", md5=hashlib.md5(checkpoint).hexdigest())
    add("other", data=b"other weights")
    assert main(["models", "pull", "tiny-xmem", "other"]) == 0
    captured = capsys.readouterr()
    path = model_path(lookup("tiny-xmem")[0])
    assert captured.out.splitlines() == [
        f"tiny-xmem: {path}",
        f"other: {model_path(lookup('other')[0])}",
    ]
    assert "tiny-xmem 405.7 KiB/405.7 KiB (100%)" in captured.err
    assert path.read_bytes() == checkpoint
    assert main(["models", "path", "tiny-xmem"]) == 0
    assert capsys.readouterr().out == f"{path}\n"
    assert main(["models", "pull", "tiny-xmem"]) == 0  # cached: checked, not fetched
    assert len(served.requests) == 2


def test_pull_refuses_unknown_names_before_fetching(catalogue, capsys):
    add, served = catalogue
    add("tiny-xmem")
    assert main(["models", "pull", "tiny-xmem", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vosam models: error: unknown model 'nope'; known models:")
    assert len(err.splitlines()) == 1 and served.requests == []


def test_pull_of_a_damaged_file_is_one_line_and_exit_2(catalogue, capsys):
    add, _ = catalogue
    add("tiny-xmem")
    assert main(["models", "pull", "tiny-xmem", "--quiet"]) == 0
    path = model_path(lookup("tiny-xmem")[0])
    path.write_bytes(path.read_bytes()[:-1])
    capsys.readouterr()
    assert main(["models", "pull", "tiny-xmem"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"vosam models: error: {path}: cached file of model tiny-xmem is ")
    assert len(err.splitlines()) == 1


def test_path_of_a_model_not_cached_is_where_to_place_it(cache, capsys):
    assert main(["models", "path", "sam-vit-b"]) == 0
    assert capsys.readouterr().out == f"{cache / 'models' / 'sam_vit_b_01ec64.pth'}\n"


def test_models_list_and_path_import_no_torch(cache):
    import subprocess
    import sys

    probe = (
        "import sys\nfrom vosam.cli import main\n"
        "assert main(['models', 'list']) == 0\nassert main(['models', 'path', 'xmem']) == 0\n"
        "print([m for m in ('torch', 'numpy', 'vosam.engines') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
