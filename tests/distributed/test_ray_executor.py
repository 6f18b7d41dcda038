"""The Ray executor on a local two-worker cluster: killed workers, retries, identical output.

One cluster serves the whole module (starting Ray takes several seconds on two cores).
"""

from __future__ import annotations

import shutil
from functools import partial

import pytest

from tests.distributed import crashing
from tests.distributed.conftest import SEQUENCES, SPEC, same_outputs
from vosam.cli import build_parser, main
from vosam.cli.executor_args import executor_from_args
from vosam.datasets.davis import find_davis_sequences
from vosam.distributed import build_executor, evaluate_dataset_with, segment_dataset
from vosam.distributed.ray_backend import RayOptions
from vosam.distributed.segment import dataset_settings, plan_dataset
from vosam.errors import VosamError
from vosam.eval import MissingPredictionError, evaluate_dataset

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(crashing)
    yield
    ray.cloudpickle.unregister_pickle_by_value(crashing)
    ray.shutdown()


def test_a_killed_worker_is_replaced_and_every_sequence_matches_the_local_run(
    cluster, dataset, reference, tmp_path
):
    out = tmp_path / "out"
    seqs = find_davis_sequences(dataset)
    tasks, done = plan_dataset(seqs, out, dataset_settings(SPEC))
    assert done == []
    marker, builds = tmp_path / "crashed", tmp_path / "builds"
    make = partial(
        crashing.CrashingSegmentWorker,
        SPEC,
        crash_on="charlie",
        after_frames=2,
        marker=marker,
        builds=builds,
    )
    finished = []
    out.mkdir()
    with build_executor("ray", workers=2) as ex:
        outcomes = ex.run(make, tasks, on_result=lambda i, r: finished.append(i))
        assert ex.actors == []  # the pool is released after the run
    assert marker.exists()  # charlie's first worker died half-way through it
    assert sorted(finished) == [0, 1, 2, 3]
    assert [o.name for o in outcomes] == list(SEQUENCES)
    assert all(o.status == "segmented" and o.frames == 5 for o in outcomes)
    # the dead worker's half-written folder is left hidden beside the results, never in place
    (left,) = out.glob(".charlie.partial-*")
    assert len(list(left.glob("*.png"))) == 2
    # the model was loaded once per worker: two workers plus the one that replaced the dead one
    pids = builds.read_text().split()
    assert len(pids) == 3 and marker.read_text() in pids
    assert {str(o.worker) for o in outcomes} <= set(pids)
    assert str(outcomes[2].worker) != marker.read_text()  # charlie redone by the new worker
    # a re-run plans no work and clears the leftover; output identical to the local executor
    tasks, done = plan_dataset(seqs, out, dataset_settings(SPEC))
    assert tasks == [] and done == list(SEQUENCES)
    same_outputs(out, reference)


def test_rerun_on_ray_skips_complete_sequences_and_redoes_an_incomplete_one(
    cluster, dataset, reference, tmp_path
):
    out = tmp_path / "out"
    shutil.copytree(reference, out)  # what a finished run left (the test above: identical)
    (out / "charlie" / "00003.png").unlink()  # a changed file would be refused instead
    (out / ".delta.partial-0123abcd").mkdir()  # left by a worker killed in an earlier run
    with build_executor("ray", workers=2) as ex:
        again, done = segment_dataset(ex, find_davis_sequences(dataset), out, SPEC)
    assert [o.name for o in again] == ["charlie"] and again[0].status == "segmented"
    assert done == ["alpha", "bravo", "delta"]
    same_outputs(out, reference)


def test_youtube_vos_on_ray_equals_the_local_executor(cluster, youtube_vos, tmp_path):
    """Every format runs on Ray: late objects, only the scored frames, the same bytes."""
    from vosam.datasets import open_dataset

    seqs = open_dataset("youtube-vos", youtube_vos)
    outs = {}
    for name in ("local", "ray"):
        outs[name] = tmp_path / name
        executor = build_executor(name, **({"workers": 2} if name == "ray" else {}))
        with executor as ex:
            outcomes, done = segment_dataset(ex, seqs, outs[name], SPEC)
        assert [(o.name, o.frames) for o in outcomes] == [("a", 6), ("b", 6)] and done == []
    assert sorted(p.name for p in outs["ray"].iterdir()) == ["Annotations"]
    same_outputs(outs["ray"] / "Annotations", outs["local"] / "Annotations", names=["a", "b"])


def test_a_task_whose_worker_always_dies_fails_after_max_attempts(cluster):
    from vosam.distributed.ray_backend import WorkerLostError

    ex = build_executor("ray", workers=1, max_attempts=2)
    with ex, pytest.raises(WorkerLostError, match="lost its worker 2 times"):
        ex.run(crashing.AlwaysDies, ["x"])


def test_evaluation_on_ray_equals_the_local_evaluation(cluster, dataset, reference):
    local = evaluate_dataset(dataset, reference, workers=1)
    seen = []
    with build_executor("ray", workers=2) as ex:
        remote = evaluate_dataset_with(
            ex, dataset, reference, progress=lambda d, t, n: seen.append((d, t))
        )
        assert remote.summary == local.summary
        assert [s.name for s in remote.sequences] == [s.name for s in local.sequences]
        assert [o.j.tolist() for s in remote.sequences for o in s.objects] == [
            o.j.tolist() for s in local.sequences for o in s.objects
        ]
        assert sorted(seen) == [(d, 4) for d in range(1, 5)]
    # an input error in a worker reaches the caller as the same error, file named
    (reference.parent / "empty").mkdir(exist_ok=True)
    with build_executor("ray", workers=1) as ex, pytest.raises(MissingPredictionError) as info:
        evaluate_dataset_with(ex, dataset, reference.parent / "empty", sequences=["bravo"])
    assert str(info.value) == f"{reference.parent / 'empty' / 'bravo'}: " + (
        "no predictions for sequence 'bravo' (folder missing)"
    )


def test_vosam_eval_on_ray_writes_the_local_report(cluster, dataset, reference, tmp_path):
    args = ["eval", str(dataset), str(reference), "--no-plots", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "local"), "--workers", "1"]) == 0
    ray_args = ["--executor", "ray", "--workers", "2", "--cpus-per-task", "0.5"]
    assert main([*args, "--out", str(tmp_path / "ray"), *ray_args]) == 0
    files = sorted(p.name for p in (tmp_path / "local").iterdir())
    assert "summary.json" in files
    assert files == sorted(p.name for p in (tmp_path / "ray").iterdir())
    for name in files:
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "ray" / name).read_bytes()


def test_executor_options_from_the_command_line(cluster, tmp_path):
    ray_args = ["--executor", "ray", "--workers", "3", "--cpus-per-task", "0.5"]
    ray_args += ["--gpus-per-task", "0.25", "--max-attempts", "5", "--ray-address", "auto"]
    args = build_parser().parse_args(["dataset", str(tmp_path), "--out", "o", *ray_args])
    with executor_from_args(args) as ex:  # joins the running cluster, whatever the address
        assert ex.options == RayOptions("auto", 3, 0.5, 0.25, 5)
    assert ray.is_initialized()  # a cluster it did not start is left running
    assert main(["eval", "gt", "pred", "--executor", "ray", "--workers", "0"]) == 2
    # a worker the cluster can never place is refused instead of waiting forever
    with build_executor("ray", gpus_per_task=1) as ex, pytest.raises(VosamError, match="GPU"):
        ex.run(crashing.AlwaysDies, ["x"])
