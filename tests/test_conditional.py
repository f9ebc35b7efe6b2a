"""The identity-conditioned DCGAN (facelab.models.conditional) and its path through train_gan."""
import pytest
import torch

from facelab.data.base import FaceTensorDataset
from facelab.models.conditional import ConditionalGenerator, ProjectionDiscriminator
from facelab.models.dcgan import Discriminator, Generator, count_parameters
from facelab.train.gan import GANTrainConfig, sample, train_gan


def tiny(num_classes=5, size=32, seed=0):
    torch.manual_seed(seed)
    return (ConditionalGenerator(num_classes, latent_dim=8, channels=4, image_size=size),
            ProjectionDiscriminator(num_classes, channels=4, image_size=size))


@pytest.fixture(scope="module")
def faces():
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(30, 3, 32, 32, generator=gen) * 2 - 1
    return FaceTensorDataset(images, torch.arange(30) % 5)


@pytest.mark.parametrize("size", [32, 64])
def test_shapes_range_and_reused_dcgan_blocks(size):
    generator, discriminator = tiny(size=size)
    z, y = generator.sample_latent(6), torch.tensor([0, 1, 2, 3, 4, 0])
    images = generator(z, y)
    assert images.shape == (6, 3, size, size)
    assert images.min() >= -1 and images.max() <= 1
    assert discriminator(images, y).shape == (6,)
    # the conditional networks are the DCGAN networks plus the label embeddings
    plain_g = Generator(latent_dim=8 + generator.embed_dim, channels=4, image_size=size)
    plain_d = Discriminator(channels=4, image_size=size)
    assert count_parameters(generator) == count_parameters(plain_g) + 5 * generator.embed_dim
    assert count_parameters(discriminator) == count_parameters(plain_d) + 5 * discriminator.embed.embedding_dim


def test_labels_change_the_outputs():
    generator, discriminator = tiny()
    generator.eval()
    discriminator.eval()
    z = generator.sample_latent(4)
    a, b = generator(z, torch.zeros(4, dtype=torch.long)), generator(z, torch.full((4,), 3))
    # freshly initialised DCGAN outputs are tiny (N(0, 0.02) weights): compare with their own scale
    assert (a - b).abs().max() > 0.1 * a.abs().max() > 0
    with torch.no_grad():  # a projection with a non-zero class embedding moves the score
        discriminator.embed.weight.normal_()
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    assert (discriminator(x, torch.zeros(4, dtype=torch.long)) - discriminator(x, torch.full((4,), 3))).abs().max() > 1e-4
    # the same label gives the same output (eval mode: no batch statistics)
    assert torch.equal(generator(z, torch.full((4,), 3)), b)


def test_projection_score_is_unconditional_score_plus_inner_product():
    _, discriminator = tiny()
    discriminator.eval()
    x, y = torch.rand(3, 3, 32, 32) * 2 - 1, torch.tensor([1, 2, 4])
    h = discriminator.features(x)
    expected = discriminator.body.net[-1](h).flatten() + (discriminator.embed(y) * h.sum((2, 3))).sum(1)
    torch.testing.assert_close(discriminator(x, y), expected)
    torch.testing.assert_close(discriminator.body.net[-1](h).flatten(), discriminator.body(x))


@pytest.mark.parametrize("labels, error, match", [
    (torch.tensor([0, 5]), ValueError, "built for 5 classes"),
    (torch.tensor([-1, 0]), ValueError, "built for 5 classes"),
    (torch.tensor([0.0, 1.0]), TypeError, "integer class labels"),
    (torch.tensor([0, 1, 2]), ValueError, r"shape \(2,\)"),
    ([0, 1], TypeError, "integer class labels"),
])
def test_bad_labels_fail_clearly(labels, error, match):
    generator, discriminator = tiny()
    with pytest.raises(error, match=match):
        generator(generator.sample_latent(2), labels)
    with pytest.raises(error, match=match):
        discriminator(torch.zeros(2, 3, 32, 32), labels)


def test_bad_sizes_fail_clearly():
    generator, discriminator = tiny()
    with pytest.raises(ValueError, match=r"z of shape \(B, 8\)"):
        generator(torch.zeros(2, 9), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="image_size=64"):
        discriminator(torch.zeros(2, 3, 64, 64), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="num_classes >= 1"):
        ConditionalGenerator(0)


def config(**kw):
    settings = dict(steps=4, batch_size=8, log_every=2, sample_every=2, num_samples=7, progress=False)
    settings.update(kw)
    return GANTrainConfig(**settings)


def test_train_gan_trains_a_conditional_gan(faces):
    generator, discriminator = tiny()
    before = [p.detach().clone() for p in generator.embed.parameters()]
    history = train_gan(generator, discriminator, faces, config(), device="cpu")
    assert history.step == [2, 4] and len(history.loss_d) == 2
    assert history.samples[-1].shape == (7, 3, 32, 32)
    # the label embeddings of both networks are trained
    assert not torch.equal(before[0], generator.embed.weight)
    # (images, labels) pairs and DataLoaders of (images, labels) work too
    train_gan(*tiny(), (faces.images, faces.labels), config(), device="cpu")
    loader = torch.utils.data.DataLoader(faces, batch_size=8, shuffle=True)
    assert train_gan(*tiny(), loader, config(), device="cpu").step == [2, 4]


def test_conditional_training_is_seeded_and_fixed_samples_cycle_the_classes(faces):
    runs = [train_gan(*tiny(), faces, config(), device="cpu") for _ in range(2)]
    torch.testing.assert_close(runs[0].samples[-1], runs[1].samples[-1])
    torch.testing.assert_close(torch.tensor(runs[0].loss_d), torch.tensor(runs[1].loss_d))


def test_conditional_resume_matches_an_uninterrupted_run(faces, tmp_path):
    full = train_gan(*tiny(), faces, config(steps=6), device="cpu")
    path = tmp_path / "cgan.pt"
    generator, discriminator = tiny()
    train_gan(generator, discriminator, faces, config(steps=6, max_steps=2, checkpoint_path=str(path)), device="cpu")
    generator, discriminator = tiny(seed=1)  # other weights: the checkpoint must restore them
    resumed = train_gan(generator, discriminator, faces, config(steps=6, checkpoint_path=str(path)), device="cpu")
    torch.testing.assert_close(torch.tensor(resumed.loss_d), torch.tensor(full.loss_d))
    torch.testing.assert_close(resumed.samples[-1], full.samples[-1])


def test_mismatched_models_and_unlabelled_data_fail_clearly(faces):
    generator, discriminator = tiny()
    with pytest.raises(ValueError, match="both be conditional"):
        train_gan(generator, Discriminator(channels=4, image_size=32), faces, config(), device="cpu")
    with pytest.raises(TypeError, match="conditional GAN"):
        train_gan(generator, discriminator, faces.images, config(), device="cpu")


def test_sample_with_and_without_labels():
    generator, _ = tiny()
    z, y = generator.sample_latent(5), torch.tensor([0, 1, 2, 3, 4])
    out = sample(generator, z, y, batch_size=2)  # chunks of 2 give the same images as one batch
    torch.testing.assert_close(out, sample(generator, z, y))
    assert out.shape == (5, 3, 32, 32) and generator.training  # the mode is restored
    with pytest.raises(ValueError, match="pass labels"):
        sample(generator, z)
    with pytest.raises(ValueError, match="pass labels"):
        sample(Generator(latent_dim=8, channels=4, image_size=32), z, y)
    with pytest.raises(ValueError, match=r"shape \(5,\)"):
        sample(generator, z, y[:3])
