"""Bad input gets a clear error: what was wrong, what was expected, and how to fix it.

One test (or one parametrised case) per mistake a reader can make with their own data,
settings or files. Each checks the exception type and that the message names the problem,
the expectation and a fix, so a vague message fails the test.
"""
import re
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from facelab.data.base import FaceTensorDataset
from facelab.data.download import download_url, extract_archive
from facelab.data.real import load_image_folder
from facelab.data.synthetic import make_synthetic_faces
from facelab.losses.gan import get_gan_loss
from facelab.losses.margin import get_head
from facelab.models.dcgan import Discriminator, Generator
from facelab.models.recognition import FaceEmbedder
from facelab.profile import get_profile
from facelab.train.checkpoint import load_checkpoint, load_state_dict_checked, save_checkpoint
from facelab.train.gan import GANTrainConfig, train_gan
from facelab.train.recognition import RecognizerTrainConfig, train_recognizer


def says(error: pytest.ExceptionInfo, *fragments: str) -> None:
    """Assert that the message contains every fragment (regular expressions, case-insensitive)."""
    message = str(error.value)
    for fragment in fragments:
        assert re.search(fragment, message, re.IGNORECASE | re.DOTALL), f"{fragment!r} not in: {message}"


def write_face(path, size=40, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


# ----------------------------------------------------------------------------- image folders
def test_missing_image_folder(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load_image_folder(tmp_path / "no_such_folder", size=32)
    says(error, "does not exist", "one sub-folder of images per person")


def test_image_folder_without_person_folders(tmp_path):
    write_face(tmp_path / "loose.png")  # an image, but not in a per-person sub-folder
    with pytest.raises(FileNotFoundError) as error:
        load_image_folder(tmp_path, size=32)
    says(error, "no sub-folders", "expected one sub-folder per person", r"root/Ada_Lovelace/0001\.jpg")


def test_image_folder_with_no_images(tmp_path):
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "notes.txt").write_text("not an image")
    with pytest.raises(FileNotFoundError) as error:
        load_image_folder(tmp_path, size=32)
    says(error, "No readable image", r"\.jpg", str(tmp_path))


def test_corrupt_images_are_skipped_with_a_count(tmp_path):
    """Decision: skip unreadable files with one warning that counts them (a scraped folder of thousands of
    faces often holds a few broken files; refusing would make the reader hunt them down one run at a time),
    but refuse a folder where nothing is readable (next test)."""
    write_face(tmp_path / "alice" / "good.png", seed=1)
    write_face(tmp_path / "bob" / "good.png", seed=2)
    (tmp_path / "alice" / "random.jpg").write_bytes(b"\x00\x01 this is not a jpeg" * 10)
    good = (tmp_path / "bob" / "good.png").read_bytes()
    (tmp_path / "bob" / "truncated.png").write_bytes(good[: len(good) // 2])
    with pytest.warns(UserWarning, match=r"Skipped 2 unreadable image file\(s\)"):
        faces = load_image_folder(tmp_path, size=32)
    assert len(faces) == 2 and faces.names == ["alice", "bob"]
    assert faces.images.shape == (2, 3, 32, 32)


def test_folder_of_only_corrupt_images_is_refused(tmp_path):
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "a.png").write_bytes(b"garbage")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(FileNotFoundError) as error:
            load_image_folder(tmp_path, size=32)
    says(error, "No readable image")


# ----------------------------------------------------------------------------- tensors handed to datasets/models
@pytest.mark.parametrize("images, labels, kind, fragments", [
    (torch.zeros(4, 1, 8, 8), torch.arange(4), ValueError, [r"\(N, 3, H, W\)", r"got \(4, 1, 8, 8\)", "expand"]),
    (torch.zeros(4, 3, 8, 8, dtype=torch.uint8), torch.arange(4), TypeError,
     ["floating point in \\[-1, 1\\]", "uint8", r"127\.5 - 1"]),
    (torch.full((4, 3, 8, 8), 255.0), torch.arange(4), ValueError, [r"\[-1, 1\]", "255", r"x / 127\.5 - 1"]),
    (torch.zeros(4, 3, 8, 8), torch.arange(3), ValueError, [r"shape \(4,\)", r"got \(3,\)"]),
    (torch.zeros(4, 3, 8, 8), torch.tensor([0, 1, -1, 2]), ValueError, ["negative label -1", "0..K-1", "unique"]),
    (torch.zeros(4, 3, 8, 8), torch.tensor([0.0, 1.5, 2.0, 3.0]), TypeError, ["integer identity ids", "float"]),
], ids=["grey-channels", "uint8-dtype", "0-255-range", "label-count", "negative-label", "float-labels"])
def test_dataset_rejects_bad_tensors(images, labels, kind, fragments):
    with pytest.raises(kind) as error:
        FaceTensorDataset(images, labels)
    says(error, *fragments)


@pytest.mark.parametrize("images, kind, fragments", [
    (torch.zeros(2, 3, 64, 64), ValueError, ["built for 32x32", r"\(64, 64\)", "image_size=64"]),
    (torch.zeros(2, 1, 32, 32), ValueError, [r"\(B, 3, 32, 32\)", r"\(2, 1, 32, 32\)", "expand"]),
    (torch.zeros(2, 3, 32, 32, dtype=torch.uint8), TypeError, ["float images", "uint8", r"127\.5"]),
], ids=["size", "channels", "dtype"])
def test_discriminator_rejects_wrong_images(images, kind, fragments):
    with pytest.raises(kind) as error:
        Discriminator(channels=4, image_size=32)(images)
    says(error, *fragments)


@pytest.mark.parametrize("images, kind, fragments", [
    (torch.zeros(2, 3, 64, 64), ValueError, [r"\(B, 3, 32, 32\)", r"\(2, 3, 64, 64\)", "image_size=64"]),
    (torch.zeros(2, 3, 32, 32, dtype=torch.uint8), TypeError, ["float images", "uint8", r"127\.5"]),
], ids=["size", "dtype"])
def test_embedder_rejects_wrong_images(images, kind, fragments):
    with pytest.raises(kind) as error:
        FaceEmbedder(embedding_dim=8, channels=4, image_size=32)(images)
    says(error, *fragments)


def test_labels_beyond_the_heads_classes():
    faces = FaceTensorDataset(torch.zeros(6, 3, 32, 32), torch.tensor([0, 1, 2, 3, 4, 5]))
    embedder, head = FaceEmbedder(embedding_dim=8, channels=4, image_size=32), get_head("arcface", 8, 4)
    with pytest.raises(ValueError) as error:
        train_recognizer(embedder, head, faces, RecognizerTrainConfig(steps=1, progress=False), device="cpu")
    says(error, "labels go up to 5", "head has 4 classes", "num_classes = number of training identities")


# ----------------------------------------------------------------------------- names
def test_unknown_profile():
    with pytest.raises(ValueError) as error:
        get_profile("fast")
    says(error, "Unknown profile 'fast'", r"\['full', 'quick'\]", "FACELAB_PROFILE=quick")


def test_unknown_dataset_in_a_profile():
    with pytest.raises(ValueError) as error:
        get_profile("quick").replace(dataset="celebrities")
    says(error, "Unknown dataset 'celebrities'", "'synthetic', 'lfw'", "load_image_folder")


@pytest.mark.parametrize("make", [lambda: get_gan_loss("wgan_gp2"), lambda: GANTrainConfig(loss="wgan_gp2")],
                         ids=["get_gan_loss", "config"])
def test_unknown_gan_loss(make):
    with pytest.raises(ValueError) as error:
        make()
    says(error, "Unknown GAN loss 'wgan_gp2'", "hinge.*nonsaturating", "loss='nonsaturating'")


def test_unknown_margin_head():
    with pytest.raises(ValueError) as error:
        get_head("sphereface2", 8, 4)
    says(error, "Unknown recognition head 'sphereface2'", "arcface.*cosface", r"get_head\('arcface'")


def test_unknown_synthetic_option():
    with pytest.raises(ValueError) as error:
        make_synthetic_faces(num_identites=3)  # sic: a typo
    says(error, r"unknown option\(s\) \['num_identites'\]", "num_identities")


# ----------------------------------------------------------------------------- hyper-parameters
@pytest.mark.parametrize("bad, fragments", [
    (dict(lr_g=-1e-4), ["lr_g", "finite number > 0", "-0.0001", "2e-4"]),
    (dict(lr_d=float("nan")), ["lr_d", "finite number > 0", "nan"]),
    (dict(batch_size=0), ["batch_size", "integer >= 1", "got 0", "batch_size=64"]),
    (dict(steps=-5), ["steps", "integer >= 1", "got -5", "steps=500"]),
    (dict(steps=2.5), ["steps", "integer >= 1", "got 2.5"]),
    (dict(d_steps=0), ["d_steps", "integer >= 1 or None", "got 0"]),
    (dict(checkpoint_every=-1), ["checkpoint_every", "integer >= 0", "got -1"]),
    (dict(beta1=1.0), ["beta1", r"\[0, 1\)", "beta1=0.5"]),
    (dict(gp_weight=-10.0), ["gp_weight", ">= 0", "10"]),
], ids=lambda v: "-".join(v) if isinstance(v, dict) else None)
def test_invalid_gan_hyper_parameters(bad, fragments):
    with pytest.raises(ValueError) as error:
        GANTrainConfig(**bad)
    says(error, *fragments)


@pytest.mark.parametrize("bad, fragments", [
    (dict(lr=-0.1), ["lr must be > 0", "-0.1"]),
    (dict(batch_size=0), ["batch_size must be an integer >= 1", "got 0"]),
    (dict(steps=0), ["steps must be an integer >= 1", "got 0"]),
    (dict(momentum=1.0), ["0 <= momentum < 1", "1.0"]),
    (dict(optimizer="adam"), ["optimizer must be one of", "sgd", "adamw", "'adam'"]),
], ids=lambda v: "-".join(v) if isinstance(v, dict) else None)
def test_invalid_recognizer_hyper_parameters(bad, fragments):
    with pytest.raises(ValueError) as error:
        RecognizerTrainConfig(**bad)
    says(error, *fragments)


def test_invalid_profile_size():
    with pytest.raises(ValueError) as error:
        get_profile("quick").replace(gan_batch_size=0)
    says(error, "gan_batch_size must be an integer >= 1", "got 0", "PROFILES")


# ----------------------------------------------------------------------------- checkpoints
def tiny_gan(channels):
    torch.manual_seed(0)
    return Generator(latent_dim=8, channels=channels, image_size=32), Discriminator(channels=channels, image_size=32)


def test_checkpoint_of_another_size_names_the_mismatched_shapes(tmp_path):
    path = tmp_path / "gan.pt"
    config = GANTrainConfig(steps=1, batch_size=4, num_samples=4, checkpoint_path=str(path), progress=False)
    train_gan(*tiny_gan(4), torch.rand(8, 3, 32, 32) * 2 - 1, config, device="cpu")
    generator, discriminator = tiny_gan(8)  # twice as wide: every weight has another shape
    with pytest.raises(ValueError) as error:
        train_gan(generator, discriminator, torch.rand(8, 3, 32, 32) * 2 - 1, config, device="cpu")
    says(error, "generator in checkpoint .*gan.pt does not fit this Generator", "of another shape",
         r"net\.0\.weight: checkpoint \(8, 16, 4, 4\) vs model \(8, 32, 4, 4\)",
         "Expected the same architecture", "resume=False")


def test_checkpoint_of_another_architecture_names_missing_and_unexpected_keys():
    state = Discriminator(channels=4, image_size=64).state_dict()  # one block more than a 32x32 one
    with pytest.raises(ValueError) as error:
        load_state_dict_checked(Discriminator(channels=4, image_size=32), state, name="discriminator")
    says(error, r"unexpected: net\.\d+\.weight", "of another shape", "Build the discriminator with the settings")


def test_checkpoint_of_another_training_loop(tmp_path):
    path = save_checkpoint(tmp_path / "recognizer.pt", {"embedder": {}, "head": {}, "step": 3})
    config = GANTrainConfig(steps=2, batch_size=4, num_samples=4, checkpoint_path=str(path), progress=False)
    with pytest.raises(ValueError) as error:
        train_gan(*tiny_gan(4), torch.zeros(8, 3, 32, 32), config, device="cpu")
    says(error, r"lacks \['generator', 'discriminator'", "written by another training loop",
         "different checkpoint_path")


@pytest.mark.parametrize("cut", [0.5, 0.0], ids=["half", "empty"])
def test_truncated_checkpoint(tmp_path, cut):
    path = save_checkpoint(tmp_path / "ckpt.pt", {"weights": torch.randn(64, 64), "step": 3})
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(RuntimeError) as error:
        load_checkpoint(path)
    says(error, "truncated, corrupt", "Expected a file written by .*save_checkpoint", "Delete it and train again")


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load_checkpoint(tmp_path / "nothing.pt")
    says(error, "No checkpoint at", "train first or pass the right path")


# ----------------------------------------------------------------------------- downloads
def test_download_needs_a_real_checksum(tmp_path):
    with pytest.raises(ValueError) as error:
        download_url("file:///dev/null", tmp_path / "x", sha256="abc123")
    says(error, "64 hexadecimal digits", "'abc123'", "sha256sum")


def test_extracting_something_that_is_not_an_archive(tmp_path):
    path = tmp_path / "faces.zip"
    path.write_bytes(b"<html>Rate limit exceeded</html>")  # what a failed download often is
    with pytest.raises(ValueError) as error:
        extract_archive(path, tmp_path / "out")
    says(error, "neither a zip nor a tar", r"expected \.zip", "SHA-256")
