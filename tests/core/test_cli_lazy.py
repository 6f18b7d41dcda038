"""The command line imports what a command needs only when it runs."""

import subprocess
import sys

import pytest

from vosam.cli import build_parser

HEAVY = ("torch", "cv2", "vosam.engines", "vosam.session")

# every command's positional arguments and options, as they were when the parser still
# imported the engines: building it lazily must not lose one
OPTIONS = {
    "segment": (
        ["source"],
        "--binarize --checkpoint --device --engine --fps --gate --masks --model-config "
        "--no-feedback --no-permanent-memory --out --overlay --overwrite --points --prompt "
        "--quiet --refine --refiner --refiner-checkpoint --refiner-model --save-scores "
        "--tolerate-corrupt",
    ),
    "dataset": (
        ["root"],
        "--checkpoint --cpus-per-task --device --engine --executor --format --gate "
        "--gpus-per-task --long-video-x3 --max-attempts --model-config --no-feedback "
        "--no-permanent-memory --out --overwrite --points --prompt --quiet --ray-address "
        "--refine --refiner --refiner-checkpoint --refiner-model --resolution --sequences "
        "--split --workers --zip",
    ),
    "eval": (
        ["GT_ROOT", "PRED_ROOT"],
        "--cpus-per-task --executor --gpus-per-task --max-attempts --meta --no-plots --out "
        "--quiet --ray-address --sequences --task --unseen --workers",
    ),
    "suggest": (
        ["source"],
        "--binarize --checkpoint --device --engine --k --masks --model-config "
        "--no-permanent-memory",
    ),
    "sweep": (
        ["config"],
        "--cpus-per-task --executor --gpus-per-task --max-attempts --out --overwrite "
        "--ray-address --resolution --root --sequences --workers",
    ),
    "app": (
        [],
        "--checkpoint --device --engine --fps --host --max-frames --max-upload-mb --port "
        "--segmenter --segmenter-checkpoint --workers --workspace",
    ),
    "discover": (
        ["source"],
        "--appearance --boxes --device --keyframes --max-objects --no-snap --out --overwrite "
        "--propagate --propagate-all --quiet --refiner --refiner-checkpoint --refiner-model",
    ),
    "refine-vis": (
        ["RESULTS.json"],
        "--device --meta --min-agreement --no-mask-prompt --out --quiet --refiner "
        "--refiner-checkpoint --refiner-model --videos",
    ),
}


def _loaded_after(code: str, modules: tuple[str, ...] = HEAVY) -> list[str]:
    probe = f"{code}\nimport sys\nprint([m for m in {modules!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return eval(out.stdout.strip().splitlines()[-1])


def test_help_imports_no_model_code():
    code = (
        "from vosam.cli import main\n"
        "for argv in (['--help'], ['segment', '--help'], ['dataset', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass"
    )
    assert _loaded_after(code) == []


def test_help_imports_neither_numpy_nor_the_readers():
    """Building the parser is argparse only: no numpy, no frame readers (their scipy and
    PyAV cost a third of a second)."""
    code = (
        "from vosam.cli import main\n"
        "for argv in (['--help'], ['segment', '--help'], ['dataset', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass"
    )
    assert _loaded_after(code, ("numpy", "scipy", "av", "vosam.io")) == []


def test_eval_runs_without_torch(tmp_path):
    import numpy as np

    from vosam.io import write_mask

    gt, pred = tmp_path / "gt", tmp_path / "pred"
    (gt / "Annotations" / "480p" / "walk").mkdir(parents=True)
    (pred / "walk").mkdir(parents=True)
    for i in range(4):
        truth = np.zeros((12, 16), np.uint8)
        truth[2:8, i : i + 6] = 1
        write_mask(gt / "Annotations" / "480p" / "walk" / f"{i:05d}.png", truth)
        write_mask(pred / "walk" / f"{i:05d}.png", np.roll(truth, 1, axis=1))
    code = (
        "from vosam.cli import main\n"
        f"assert main(['eval', {str(gt)!r}, {str(pred)!r}, '--out', "
        f"{str(tmp_path / 'report')!r}, '--workers', '1', '--quiet']) == 0"
    )
    assert _loaded_after(code) == []
    assert (tmp_path / "report" / "summary.json").is_file()


@pytest.mark.parametrize("command", sorted(OPTIONS))
def test_help_lists_every_command_and_option(command, capsys):
    parser = build_parser()
    assert command in parser.format_help()
    with pytest.raises(SystemExit):
        parser.parse_args([command, "--help"])
    text = capsys.readouterr().out
    positional, options = OPTIONS[command]
    for word in [*positional, *options.split()]:
        assert word in text, f"vosam {command} --help lost {word}"
