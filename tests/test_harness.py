"""The shared training harness (facelab.train.loop): resume checks, the run lock, writable outputs, data checks.

Each test is a case of issue 16 (5, 6, 7, 9, 10) that trained silently or failed late before the harness.
"""
import os

import pytest
import torch

from facelab.data.base import FaceTensorDataset
from facelab.losses.margin import get_head
from facelab.models.dcgan import Discriminator, Generator
from facelab.models.recognition import FaceEmbedder
from facelab.train.checkpoint import CheckpointMismatch, load_checkpoint
from facelab.train.config import TrainConfig
from facelab.train.gan import GANTrainConfig, train_gan
from facelab.train.loop import RunInUse, config_mismatch
from facelab.train.recognition import RecognizerTrainConfig, train_recognizer
from facelab.train.vae import VAETrainConfig


def tiny_gan(seed=0):
    torch.manual_seed(seed)
    return Generator(latent_dim=8, channels=4, image_size=32), Discriminator(channels=4, image_size=32)


def images(n=16):
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1


def gan_config(**changes):
    return GANTrainConfig(**{**dict(steps=4, batch_size=4, num_samples=2, log_every=2, sample_every=2,
                                    progress=False), **changes})


def faces(num_identities=3, per_identity=4):
    labels = torch.arange(num_identities).repeat_interleave(per_identity)
    return FaceTensorDataset(images(len(labels)), labels)


def recognizer(num_classes=3):
    torch.manual_seed(0)
    return FaceEmbedder(embedding_dim=8, channels=4, image_size=32), get_head("arcface", 8, num_classes)


def rec_config(**changes):
    return RecognizerTrainConfig(**{**dict(steps=4, batch_size=4, log_every=2, eval_every=2, progress=False),
                                    **changes})


# ----------------------------------------------------------------------------- 16.5: resume with other settings
@pytest.mark.parametrize("changes, field", [(dict(lr_g=1e-3), "lr_g"), (dict(loss="hinge"), "loss"),
                                            (dict(batch_size=2), "batch_size")])
def test_resuming_a_gan_with_other_settings_is_refused_naming_the_field(tmp_path, changes, field):
    path = str(tmp_path / "gan.pt")
    train_gan(*tiny_gan(), images(), gan_config(checkpoint_path=path, max_steps=2), device="cpu")
    before = load_checkpoint(path)
    with pytest.raises(CheckpointMismatch) as error:
        train_gan(*tiny_gan(), images(), gan_config(checkpoint_path=path, **changes), device="cpu")
    message = str(error.value)
    assert f"{field}:" in message and "other settings" in message and "resume=False" in message
    after = load_checkpoint(path)
    assert after["step"] == before["step"] == 2  # nothing trained, nothing overwritten
    # starting fresh with the new settings works and replaces the run
    train_gan(*tiny_gan(), images(), gan_config(checkpoint_path=path, **changes), device="cpu", resume=False)
    stored = load_checkpoint(path)["config"]
    assert {key: stored[key] for key in changes} == changes


def test_resuming_a_recognizer_with_another_optimizer_is_refused_not_a_keyerror(tmp_path):
    path = str(tmp_path / "rec.pt")
    train_recognizer(*recognizer(), faces(), rec_config(checkpoint_path=path, max_steps=2), device="cpu")
    with pytest.raises(ValueError, match=r"optimizer: 'sgd' in the checkpoint, 'adamw' now"):
        train_recognizer(*recognizer(), faces(), rec_config(checkpoint_path=path, optimizer="adamw", lr=1e-3),
                         device="cpu")


def test_a_finished_run_may_be_trained_on_for_longer_but_not_with_another_schedule(tmp_path):
    path = str(tmp_path / "rec.pt")
    train_recognizer(*recognizer(), faces(), rec_config(checkpoint_path=path, max_steps=2), device="cpu")
    with pytest.raises(ValueError, match=r"warmup_steps: 0 in the checkpoint, 2 now"):
        train_recognizer(*recognizer(), faces(), rec_config(checkpoint_path=path, warmup_steps=2), device="cpu")
    longer = train_recognizer(*recognizer(), faces(), rec_config(checkpoint_path=path, steps=6), device="cpu")
    assert longer.step == [2, 4, 6]
    gan_path = str(tmp_path / "gan.pt")
    train_gan(*tiny_gan(), images(), gan_config(checkpoint_path=gan_path), device="cpu")
    longer = train_gan(*tiny_gan(), images(), gan_config(checkpoint_path=gan_path, steps=6), device="cpu")
    assert longer.step == [2, 4, 6]


def test_settings_that_only_change_this_call_may_change_on_resume(tmp_path):
    path = str(tmp_path / "gan.pt")
    train_gan(*tiny_gan(), images(), gan_config(checkpoint_path=path, max_steps=2, progress=True), device="cpu")
    history = train_gan(*tiny_gan(), images(), gan_config(checkpoint_path=path, checkpoint_every=1), device="cpu")
    assert history.step == [2, 4]
    assert config_mismatch({"lr": 1.0, "progress": True}, {"lr": 1.0, "progress": False}) == []
    assert config_mismatch({"lr": 1.0}, {"lr": 2.0, "new": 3}) == [
        "lr: 1.0 in the checkpoint, 2.0 now", "new: '(absent)' in the checkpoint, 3 now"]


# ----------------------------------------------------------------------------- 16.6: two runs into one checkpoint
def test_a_second_run_into_a_checkpoint_in_use_gets_a_clear_error(tmp_path):
    path = str(tmp_path / "gan.pt")
    errors = []

    def second_run(history, step):  # while the first run holds the checkpoint, another one starts
        try:
            train_gan(*tiny_gan(), images(), gan_config(checkpoint_path=path, seed=1), device="cpu")
        except RunInUse as error:
            errors.append(str(error))

    train_gan(*tiny_gan(), images(), gan_config(checkpoint_path=path), device="cpu", callbacks=[second_run])
    assert errors and f"pid {os.getpid()}" in errors[0] and "another checkpoint_path" in errors[0]
    assert load_checkpoint(path)["config"]["seed"] == 0  # the first run's, not overwritten
    assert not os.path.exists(path + ".lock")  # released at the end
    # and released after a failure too: a diverged run does not keep the checkpoint locked
    with pytest.raises(FloatingPointError):
        train_gan(*tiny_gan(), images(), gan_config(checkpoint_path=str(tmp_path / "b.pt"), lr_g=1e30, lr_d=1e30),
                  device="cpu")
    assert not os.path.exists(tmp_path / "b.pt.lock")


# ----------------------------------------------------------------------------- 16.7: outputs checked before step 1
def test_a_checkpoint_below_a_file_fails_before_the_first_step(tmp_path):
    blocker = tmp_path / "runs"
    blocker.write_text("not a folder")
    steps = []
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        train_gan(*tiny_gan(), images(), gan_config(checkpoint_path=str(blocker / "gan.pt")), device="cpu",
                  callbacks=[lambda history, step: steps.append(step)])
    assert steps == []


def test_a_checkpoint_path_that_is_a_folder_fails_before_the_first_step(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder"):
        train_gan(*tiny_gan(), images(), gan_config(checkpoint_path=str(tmp_path)), device="cpu")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write into read-only folders")
def test_a_read_only_checkpoint_folder_fails_before_the_first_step(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="not writable"):
            train_gan(*tiny_gan(), images(), gan_config(checkpoint_path=str(folder / "gan.pt")), device="cpu")
    finally:
        folder.chmod(0o700)


# ----------------------------------------------------------------------------- 16.9, 16.10: data that cannot be learnt
def test_a_recognizer_on_one_identity_is_refused():
    with pytest.raises(ValueError, match="at least 2"):
        train_recognizer(*recognizer(num_classes=1), faces(num_identities=1), rec_config(), device="cpu")


def test_a_gan_on_raw_0_255_floats_is_refused_as_datasets_are():
    with pytest.raises(ValueError, match=r"\[-1, 1\].*127\.5"):
        train_gan(*tiny_gan(), images() * 127.5 + 127.5, gan_config(), device="cpu")


def test_a_nan_pixel_is_reported_as_bad_data_not_as_divergence():
    data = images()
    data[5, 1, 3, 3] = float("nan")
    with pytest.raises(ValueError) as error:
        train_gan(*tiny_gan(), data, gan_config(), device="cpu")
    assert "NaN" in str(error.value) and "image 5" in str(error.value)
    assert "learning rate" not in str(error.value) and "lr" not in str(error.value)


@pytest.mark.parametrize("config, changes", [(RecognizerTrainConfig, dict(lr=float("inf"))),
                                             (GANTrainConfig, dict(lr_d=float("inf"))),
                                             (VAETrainConfig, dict(lr=float("nan")))])
def test_every_loop_refuses_a_non_finite_learning_rate(config, changes):
    with pytest.raises(ValueError, match="finite number > 0"):
        config(**changes)


def test_one_validator_checks_the_shared_fields_of_every_loop():
    for config in (GANTrainConfig, RecognizerTrainConfig, VAETrainConfig):
        assert issubclass(config, TrainConfig)
        with pytest.raises(ValueError, match=rf"{config.__name__}\.log_every must be an integer >= 1, got 0"):
            config(log_every=0)
        with pytest.raises(ValueError, match=rf"{config.__name__}\.compile must be True or False"):
            config(compile="yes")


def test_a_checkpoint_missing_what_resume_restores_names_the_entry_not_a_keyerror(tmp_path):
    from facelab.train.checkpoint import save_checkpoint

    path = tmp_path / "gan.pt"
    train_gan(*tiny_gan(), images(), gan_config(steps=1, checkpoint_path=path))
    full = load_checkpoint(path)
    for key in sorted(set(full) - {"generator", "discriminator", "config"}):  # optimisers, scalers, history, noise, rng
        state = dict(full)
        del state[key]
        save_checkpoint(path, state)
        with pytest.raises(CheckpointMismatch, match=rf"lacks \['{key}'\]"):
            train_gan(*tiny_gan(), images(), gan_config(steps=2, checkpoint_path=path))
