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


def test_bad_data_and_head_say_what_to_pass(tmp_path):
    with pytest.raises(FileNotFoundError, match="synthetic, lfw or celeba"):
        main(["train-gan", *TINY, "--steps", "1", "--data", str(tmp_path / "nowhere")])
    with pytest.raises(SystemExit, match="arcface"):
        main(["train-recognizer", *TINY, "--steps", "1", "--head", "magic"])


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
