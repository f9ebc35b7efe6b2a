"""The command line: tiny trainings through ``facelab.cli.main``, resumed from their checkpoints."""
import json

import numpy as np
import pytest
from PIL import Image

from facelab.cli import build_parser, main
from facelab.train.checkpoint import load_checkpoint

TINY = ["--profile", "quick", "--batch-size", "8", "--num-identities", "4", "--device", "cpu", "--no-progress"]


def test_train_gan_writes_a_checkpoint_and_resumes_from_it(tmp_path):
    ckpt = tmp_path / "gan.pt"
    assert main(["train-gan", *TINY, "--steps", "2", "--checkpoint", str(ckpt), "--out", str(tmp_path / "o")]) == 0
    state = load_checkpoint(ckpt)
    assert state["step"] == 2 and state["config"]["batch_size"] == 8
    assert (tmp_path / "o" / "samples.png").is_file()
    assert json.loads((tmp_path / "o" / "history.json").read_text())["step"] == [2]
    assert main(["train-gan", *TINY, "--steps", "4", "--checkpoint", str(ckpt)]) == 0
    # resumed, not restarted: the history keeps the record of step 2
    assert load_checkpoint(ckpt)["step"] == 4 and load_checkpoint(ckpt)["history"]["step"] == [2, 4]


def test_train_recognizer_writes_a_checkpoint_and_resumes_from_it(tmp_path):
    ckpt = tmp_path / "rec.pt"
    assert main(["train-recognizer", *TINY, "--steps", "2", "--checkpoint", str(ckpt), "--head", "cosface"]) == 0
    assert load_checkpoint(ckpt)["head"]["weight"].shape == (4, 64)  # 4 identities, the quick embedding size
    assert main(["train-recognizer", *TINY, "--steps", "3", "--checkpoint", str(ckpt), "--head", "cosface",
                 "--out", str(tmp_path / "o")]) == 0
    assert load_checkpoint(ckpt)["history"]["step"] == [2, 3]
    assert json.loads((tmp_path / "o" / "history.json").read_text())["step"] == [2, 3]


def test_train_gan_on_a_folder_of_faces(tmp_path):
    rng = np.random.default_rng(0)
    for person in ("ada", "bob"):
        (tmp_path / "faces" / person).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "faces" / person / f"{i}.png")
    ckpt = tmp_path / "gan.pt"
    assert main(["train-gan", *TINY, "--steps", "1", "--data", str(tmp_path / "faces"), "--image-size", "32",
                 "--checkpoint", str(ckpt)]) == 0
    assert load_checkpoint(ckpt)["step"] == 1


def test_bad_data_and_head_say_what_to_pass(tmp_path, capsys):
    with pytest.raises(SystemExit, match="synthetic, lfw or celeba"):
        main(["train-gan", *TINY, "--steps", "1", "--data", str(tmp_path / "nowhere")])
    with pytest.raises(SystemExit) as exit_:
        main(["train-recognizer", *TINY, "--steps", "1", "--head", "magic"])
    assert exit_.value.code == 2 and "arcface" in capsys.readouterr().err


def test_parser_has_every_command_and_option():
    parser = build_parser()
    args = parser.parse_args(["train-gan", "--profile", "full", "--data", "lfw", "--image-size", "64", "--steps", "5",
                              "--batch-size", "16", "--checkpoint", "c.pt", "--out", "o", "--seed", "3",
                              "--device", "cpu"])
    assert (args.profile, args.data, args.image_size, args.steps, args.batch_size, args.seed) == (
        "full", "lfw", 64, 5, 16, 3)
    for command in ("info", "train-recognizer", "bench"):
        assert parser.parse_args([command]).command == command


def test_outputs_that_cannot_be_written_fail_before_training(tmp_path):
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    with pytest.raises(SystemExit, match="--out .* is a file"):
        main(["train-gan", *TINY, "--steps", "1", "--out", str(a_file)])
    with pytest.raises(SystemExit, match="--checkpoint: .*is a folder"):
        main(["train-recognizer", *TINY, "--steps", "1", "--checkpoint", str(tmp_path)])
    with pytest.raises(SystemExit, match="is a file, not a folder"):
        main(["train-gan", *TINY, "--steps", "1", "--checkpoint", str(a_file / "gan.pt")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]  # nothing was trained or written


@pytest.mark.parametrize(("option", "value", "says"), [
    ("--steps", "0", ">= 1"), ("--steps", "-3", ">= 1"), ("--batch-size", "x", "whole number"),
    ("--checkpoint-every", "0", ">= 1"), ("--device", "cdua", "unknown device"),
    ("--profile", "fast", "invalid choice"), ("--loss", "foo", "invalid choice"),
])
def test_bad_values_are_one_line_from_argparse_not_a_run(tmp_path, capsys, option, value, says):
    with pytest.raises(SystemExit) as exit_:
        main(["train-gan", *TINY, option, value, "--checkpoint", str(tmp_path / "gan.pt")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and says in err and "Traceback" not in err
    assert not (tmp_path / "gan.pt").exists()  # nothing trained


def test_data_typo_is_refused_before_loading(tmp_path):
    with pytest.raises(SystemExit, match="--data 'lfx': expected synthetic, lfw or celeba"):
        main(["train-gan", *TINY, "--steps", "1", "--data", "lfx"])


def test_errors_inside_a_command_are_one_line_and_debuggable(tmp_path, monkeypatch):
    (tmp_path / "faces" / "only").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((40, 40, 3), 40 * i, dtype=np.uint8)).save(tmp_path / "faces" / "only" / f"{i}.png")
    argv = ["train-recognizer", *TINY, "--steps", "1", "--data", str(tmp_path / "faces"), "--image-size", "32"]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    message = str(exit_.value)
    assert message.startswith("facelab train-recognizer: ") and "FACELAB_DEBUG=1" in message
    monkeypatch.setenv("FACELAB_DEBUG", "1")
    with pytest.raises((ValueError, RuntimeError, OSError)):
        main(argv)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the behaviour without CUDA")
def test_cuda_without_a_gpu_is_one_line(tmp_path):
    with pytest.raises(SystemExit, match="CUDA is not available"):
        main(["train-gan", *TINY, "--steps", "1", "--device", "cuda"])


def test_version_and_python_dash_m(capsys):
    import subprocess
    import sys

    import facelab

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"facelab {facelab.__version__}"
    done = subprocess.run([sys.executable, "-m", "facelab", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == f"facelab {facelab.__version__}"
