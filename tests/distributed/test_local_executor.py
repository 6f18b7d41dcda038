"""The executor interface, verified completeness and sweeps, without Ray."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from functools import partial

import numpy as np
import pytest

from tests.distributed.conftest import SEQUENCES, SPEC, same_outputs
from vosam.cli import build_parser, main
from vosam.cli.common import run_spec_from_args
from vosam.datasets.davis import find_davis_sequences
from vosam.distributed import (
    SegmentWorker,
    build_executor,
    load_sweep,
    run_sweep,
    segment_dataset,
)
from vosam.distributed.segment import dataset_settings, plan_dataset
from vosam.errors import InputError, OutputError, VosamError
from vosam.eval import evaluate_dataset
from vosam.io import read_mask
from vosam.runs import incomplete_reason
from vosam.spec import EngineSpec, RefinerSpec, RunSpec


def test_import_vosam_and_the_cli_without_ray():
    code = (
        "import sys, vosam, vosam.distributed, vosam.distributed.segment;"
        "from vosam.cli import build_parser; build_parser();"
        "from vosam.distributed import build_executor; build_executor('local');"
        "sys.exit(1 if 'ray' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_engine_spec_applies_nested_options_and_refuses_unknown_ones():
    spec = RunSpec(
        EngineSpec.with_options("embedded-v1", {"short_side": 64, "memory": {"top_k": 7}})
    )
    config = spec.engine.config
    assert config.short_side == 64 and config.memory.top_k == 7
    assert spec.settings()["options"] == {"short_side": 64, "memory": {"top_k": 7}}
    assert "options" not in RunSpec().settings()
    with pytest.raises(ValueError, match="no field 'shortside'"):
        EngineSpec.with_options("embedded", {"shortside": 64})


def test_refiner_and_model_config_reach_the_spec_and_the_manifest(tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text(
        '[[runs]]\nname = "r"\nrefiner = { refine = "every", name = "embedded", gate = 0.5 }\n'
    )
    (run,), _ = load_sweep(config)
    assert run.spec.refiner == RefinerSpec("embedded", gate=0.5, refine="every")
    assert run.spec.settings()["refiner"] == {
        "name": "embedded",
        "checkpoint": None,
        "model": None,
        "prompt": "mask_bbox_pos_neg",
        "points": "CP",
        "gate": 0.5,
        "refine": "every",
        "feedback": True,
    }
    refiner = run.spec.build_refiner()
    assert (refiner.config.refine, refiner.config.gate) == ("every", 0.5)
    assert RunSpec().build_refiner() is None and "refiner" not in RunSpec().settings()
    with pytest.raises(ValueError, match="needs a 'name'"):
        RunSpec.from_dict({"refiner": {"gate": 0.5}})
    args = build_parser().parse_args(["dataset", "root", "--out", "o", "--model-config", "x.yaml"])
    with pytest.raises(VosamError, match="option of the sam2 engine"):
        run_spec_from_args(args)
    args.engine = "sam2"
    assert run_spec_from_args(args).settings()["model_config"] == "x.yaml"


class _Double:
    def __call__(self, task):
        if task < 0:
            raise InputError(f"task{task}.png", "negative")
        return 2 * task


def test_local_executor_builds_one_worker_and_keeps_order():
    built = []

    def make():
        built.append(1)
        return _Double()

    seen = []
    with build_executor("local") as ex:
        assert ex.run(make, [3, 1, 2], on_result=lambda i, r: seen.append((i, r))) == [6, 2, 4]
        assert ex.run(make, []) == []
    assert built == [1] and seen == [(0, 6), (1, 2), (2, 4)]
    with pytest.raises(InputError, match=r"task-1\.png: negative"):
        build_executor("local").run(_Double, [1, -1])
    with pytest.raises(ValueError, match="unknown executor"):
        build_executor("slurm")


def test_rerun_skips_complete_sequences_refuses_an_edited_one_and_redoes_a_missing_one(
    dataset, reference, tmp_path
):
    out = tmp_path / "out"
    seqs = find_davis_sequences(dataset)
    with build_executor("local") as ex:
        outcomes, done = segment_dataset(ex, seqs, out, SPEC)
        assert [o.name for o in outcomes] == list(SEQUENCES) and done == []
        same_outputs(out, reference)
        # edit one mask of bravo: same size, one byte changed (still a readable file)
        png = out / "bravo" / "00002.png"
        data = bytearray(png.read_bytes())
        data[-20] ^= 0xFF
        png.write_bytes(bytes(data))
        assert "00002.png was changed since vosam wrote it" in incomplete_reason(
            out / "bravo",
            json.loads((out / "bravo" / "run.json").read_text())["settings"],
            tuple(f"{t:05d}" for t in range(5)),
        )
        (out / "delta" / "00004.png").unlink()
        # the edit is the user's now: refused, naming it, with or without overwrite
        for overwrite in (False, True):
            with pytest.raises(OutputError, match=r"bravo/00002\.png: was changed since"):
                segment_dataset(ex, seqs, out, SPEC, overwrite=overwrite)
        assert png.read_bytes() == bytes(data)
        png.unlink()
        outcomes, done = segment_dataset(ex, seqs, out, SPEC)
    assert [o.name for o in outcomes] == ["bravo", "delta"]
    assert done == ["alpha", "charlie"]
    same_outputs(out, reference)


def test_a_folder_of_other_files_is_refused_before_any_work(dataset, reference, tmp_path):
    out = tmp_path / "out"
    (out / "alpha").mkdir(parents=True)
    (out / "alpha" / "00000.png").write_bytes(b"not ours")
    seqs = find_davis_sequences(dataset)
    for overwrite in (False, True):
        with pytest.raises(OutputError, match="alpha: holds files that are not from a vosam"):
            segment_dataset(build_executor("local"), seqs, out, SPEC, overwrite=overwrite)
    assert sorted(p.name for p in out.iterdir()) == ["alpha"]
    assert (out / "alpha" / "00000.png").read_bytes() == b"not ours"


def test_sweep_table_matches_the_evaluation_of_each_run(dataset, tmp_path):
    options = SPEC.engine.options()
    config = tmp_path / "sweep.toml"
    config.write_text(
        'sequences = ["alpha", "bravo"]\n'
        "[[runs]]\n"
        'name = "perm"\n'
        'device = "cpu"\n'
        f"options = {{ short_side = {options['short_side']}, "
        f"guided_radius = {options['guided_radius']} }}\n"
        "[[runs]]\n"
        'name = "first-frame"\n'
        'device = "cpu"\n'
        "permanent_memory = false\n"
        f"options = {{ short_side = {options['short_side']}, top_k = 5 }}\n"
    )
    runs, sequences = load_sweep(config)
    assert [r.name for r in runs] == ["perm", "first-frame"] and sequences == ["alpha", "bravo"]
    assert runs[0].spec == SPEC
    out = tmp_path / "sweep"
    rows = run_sweep(build_executor("local"), runs, dataset, out, sequences=sequences)
    lines = (out / "comparison.csv").read_text().splitlines()
    assert lines[0].startswith("run,J&F-Mean,J-Mean,")
    for row, line in zip(rows, lines[1:], strict=True):
        direct = evaluate_dataset(dataset, out / row.name, sequences=sequences, workers=1)
        assert [s.name for s in direct.sequences] == ["alpha", "bravo"]
        assert float(line.split(",")[1]) == direct.summary["J&F-Mean"] == row.summary["J&F-Mean"]
        assert row.segmented == 2
    assert rows[0].summary != rows[1].summary  # the two configurations differ
    md = (out / "comparison.md").read_text().splitlines()
    assert len(md) == 4 and md[2].startswith("| perm | ")
    # the same sweep again: nothing segmented, same table
    again = run_sweep(build_executor("local"), runs, dataset, out, sequences=sequences)
    assert [r.segmented for r in again] == [0, 0]
    assert [r.summary for r in again] == [r.summary for r in rows]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"runs": []}', "non-empty list 'runs'"),
        ('{"runs": [{"name": "a/b"}]}', "needs a 'name'"),
        ('{"runs": [{"name": "a"}, {"name": "a"}]}', "used twice"),
        ('{"runs": [{"name": "a", "top_k": 3}]}', "unknown key(s) top_k"),
        ('{"runs": [{"name": "a", "options": {"topk": 3}}]}', "no field 'topk'"),
        ("{", "cannot read the sweep file"),
    ],
)
def test_bad_sweep_files_name_the_file_and_the_problem(tmp_path, text, problem):
    path = tmp_path / "sweep.json"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_sweep(path)
    assert str(info.value).startswith(str(path)) and problem in str(info.value)


def test_a_worker_given_a_finished_sequence_skips_it(dataset, reference, tmp_path):
    """A retried task whose first attempt had finished (the worker died just after) is not
    redone; the annotated frame is written as given."""
    ann = read_mask(dataset / "Annotations" / "480p" / "alpha" / "00000.png")
    np.testing.assert_array_equal(read_mask(reference / "alpha" / "00000.png"), ann)
    seq = find_davis_sequences(dataset, names=["alpha"])[0]
    worker = partial(SegmentWorker, SPEC)()
    done = plan_dataset([seq], tmp_path, dataset_settings(SPEC))[0][0]
    finished = replace(done, target=reference / "alpha")
    before = {p.name: p.stat().st_mtime_ns for p in finished.target.iterdir()}
    outcome = worker(finished)
    assert (outcome.status, outcome.frames) == ("skipped", 0)
    assert before == {p.name: p.stat().st_mtime_ns for p in finished.target.iterdir()}
    outcome = worker(done)
    assert (outcome.status, outcome.frames) == ("segmented", 5)
    same_outputs(tmp_path, reference, names=["alpha"])


def test_vosam_sweep_command_prints_and_writes_the_table(dataset, tmp_path, capsys):
    config = tmp_path / "sweep.json"
    runs = [{"name": n, "device": "cpu", "options": SPEC.engine.options()} for n in ("a", "b")]
    runs[1]["permanent_memory"] = False
    config.write_text(json.dumps({"sequences": ["alpha"], "runs": runs}))
    out = tmp_path / "out"
    args = ["sweep", str(config), "--root", str(dataset), "--out", str(out)]
    assert main([*args, "--sequences", "delta"]) == 0
    printed = capsys.readouterr().out
    assert printed == (out / "comparison.md").read_text()
    assert [p.name for p in sorted((out / "a").iterdir())] == ["delta"]
    assert printed.count("| a | ") == 1 and printed.count("| b | ") == 1
    assert main(["sweep", str(tmp_path / "missing.toml"), "--root", "r", "--out", "o"]) == 2
    assert "missing.toml: cannot read the sweep file" in capsys.readouterr().err


def test_dataset_masks_equal_a_session_run_from_the_first_annotation(dataset, reference):
    """The dataset path (tracker driven per sequence, first annotation in permanent memory)
    gives the masks of :class:`vosam.Session` with the same engine, byte for byte."""
    from vosam import Session
    from vosam.io import FolderSource

    engine = SPEC.build()
    for name in ("alpha", "bravo"):
        source = FolderSource(dataset / "JPEGImages" / "480p" / name)
        with Session(source, propagator=engine) as session:
            session.add_annotation(
                0, read_mask(dataset / "Annotations" / "480p" / name / "00000.png")
            )
            for index, result in session.propagate():
                written = read_mask(reference / name / f"{source.names[index]}.png")
                np.testing.assert_array_equal(result.mask, written, err_msg=f"{name} {index}")
