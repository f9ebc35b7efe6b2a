"""Training survives interruption: a killed run resumes to the very same weights, bit for bit.

The main test launches a real training process, kills it with SIGKILL (no chance to clean
up, like a Colab disconnect) once it has written a checkpoint, resumes it in a new process
and compares the result with an uninterrupted run of the same length.
"""
import dataclasses
import os
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from facelab.models.dcgan import Discriminator, Generator
from facelab.models.recognition import FaceEmbedder
from facelab.losses.margin import get_head
from facelab.data.base import FaceTensorDataset
from facelab.train.checkpoint import load_checkpoint, save_checkpoint
from facelab.train.gan import GANTrainConfig, train_gan
from facelab.train.recognition import RecognizerTrainConfig, train_recognizer

STEPS = 40

# A whole training script: tiny DCGAN, CPU, one thread, a checkpoint every 5 steps. `delay` slows each step
# down (a callback that sleeps; it touches no tensor and no random number) so the test can kill it mid-run.
SCRIPT = f'''
import sys, time
import torch
torch.set_num_threads(1)
from facelab.models.dcgan import Discriminator, Generator
from facelab.train.gan import GANTrainConfig, train_gan


def train(checkpoint_path, delay=0.0):
    torch.manual_seed(0)
    generator = Generator(latent_dim=8, channels=4, image_size=32)
    discriminator = Discriminator(channels=4, image_size=32)
    data = torch.rand(32, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    config = GANTrainConfig(steps={STEPS}, batch_size=8, num_samples=4, log_every=5, sample_every=1,
                            checkpoint_every=5, checkpoint_path=checkpoint_path, progress=False)
    slow = [lambda history, step: time.sleep(delay)] if delay else []
    return train_gan(generator, discriminator, data, config, device="cpu", callbacks=slow)


if __name__ == "__main__":
    train(sys.argv[1], float(sys.argv[2]))
'''


def launch(script: Path, checkpoint: Path, delay: float) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", FACELAB_PROFILE="quick", CUDA_VISIBLE_DEVICES="")
    return subprocess.Popen([sys.executable, str(script), str(checkpoint), str(delay)], env=env,
                            cwd=Path(__file__).resolve().parents[1],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def assert_same_state(a, b, where="state"):
    """Recursively: equal structure, tensors equal bit for bit."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same_state(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_killed_training_resumes_to_the_same_weights_bit_for_bit(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    checkpoint = tmp_path / "interrupted.pt"

    # (1) start a run (~0.1 s a step) and SIGKILL it as soon as its first checkpoint exists
    process = launch(script, checkpoint, delay=0.1)
    deadline = time.monotonic() + 120
    while not checkpoint.exists():
        assert process.poll() is None, f"training exited early: {process.communicate()}"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL
    killed_at = load_checkpoint(checkpoint)["step"]  # whatever was written last is a complete checkpoint
    assert 0 < killed_at < STEPS

    # (2) resume it in a fresh process, to the same total number of steps
    process = launch(script, checkpoint, delay=0.0)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    resumed = load_checkpoint(checkpoint)

    # (3) the uninterrupted run, in this process, from the same script
    reference_path = tmp_path / "uninterrupted.pt"
    runpy.run_path(str(script))["train"](str(reference_path))
    reference = load_checkpoint(reference_path)

    assert resumed["step"] == reference["step"] == STEPS
    for key in ("generator", "discriminator", "opt_g", "opt_d", "scaler_g", "scaler_d", "fixed_noise", "rng"):
        assert_same_state(resumed[key], reference[key], key)
    for key in ("step", "loss_d", "loss_g", "d_real", "d_fake", "sample_steps"):
        assert resumed["history"][key] == reference["history"][key], key
    assert_same_state(resumed["history"]["samples"], reference["history"]["samples"], "samples")
    print(f"killed at step {killed_at} of {STEPS}")


def test_gan_checkpoint_holds_everything_needed_to_resume(tmp_path):
    path = tmp_path / "gan.pt"
    config = GANTrainConfig(steps=2, batch_size=4, num_samples=4, checkpoint_path=str(path), progress=False)
    train_gan(Generator(latent_dim=8, channels=4, image_size=32), Discriminator(channels=4, image_size=32),
              torch.rand(8, 3, 32, 32) * 2 - 1, config, device="cpu")
    state = load_checkpoint(path)
    assert {"generator", "discriminator", "opt_g", "opt_d", "scaler_g", "scaler_d", "step", "config", "rng",
            "history", "fixed_noise"} <= set(state)
    assert state["step"] == 2 and state["config"] == dataclasses.asdict(config)
    assert state["opt_g"]["state"] and state["opt_d"]["state"]  # Adam moments, not just hyper-parameters
    assert torch.equal(state["rng"]["torch"], torch.get_rng_state())  # the RNG right after the last step


def test_recognizer_checkpoint_holds_everything_needed_to_resume(tmp_path):
    path = tmp_path / "recognizer.pt"
    faces = FaceTensorDataset(torch.rand(8, 3, 32, 32) * 2 - 1, torch.arange(8) % 4)
    config = RecognizerTrainConfig(steps=2, batch_size=4, checkpoint_path=str(path), progress=False)
    train_recognizer(FaceEmbedder(embedding_dim=8, channels=4, image_size=32), get_head("arcface", 8, 4),
                     faces, config, device="cpu")
    state = load_checkpoint(path)
    assert {"embedder", "head", "optimizer", "scheduler", "scaler", "step", "config", "rng", "history"} <= set(state)
    assert state["step"] == 2 and state["config"] == dataclasses.asdict(config)
    assert state["optimizer"]["state"] and state["scheduler"]["last_epoch"] == 2


def test_crash_while_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "ckpt.pt", {"weights": torch.arange(4.0), "step": 1})
    before = path.read_bytes()

    def torn_save(obj, f, *args, **kwargs):  # the machine dies half-way through writing
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, {"weights": torch.arange(4.0) * 2, "step": 2})
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]  # no temporary file left behind
    assert path.read_bytes() == before
    assert load_checkpoint(path)["step"] == 1
