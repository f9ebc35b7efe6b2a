"""The DCGAN networks: shapes, the paper's parameter counts, initialisation, size errors."""
import pytest
import torch
from torch import nn

from facelab.models.dcgan import Discriminator, Generator, count_parameters


@pytest.mark.parametrize("size", [32, 64])
def test_shapes(size):
    generator = Generator(latent_dim=8, channels=4, image_size=size)
    discriminator = Discriminator(channels=4, image_size=size)
    images = generator(torch.randn(5, 8))
    assert images.shape == (5, 3, size, size)
    assert images.min() >= -1 and images.max() <= 1  # tanh output
    assert discriminator(images).shape == (5,)


def test_generator_accepts_4d_latents():
    generator = Generator(latent_dim=8, channels=4, image_size=32)
    assert generator(torch.randn(2, 8, 1, 1)).shape == (2, 3, 32, 32)


def test_paper_parameter_counts():
    """The standard 64x64 DCGAN (z = 100, 64 base channels): 3,576,704 and 2,765,568 parameters."""
    assert count_parameters(Generator(latent_dim=100, channels=64, image_size=64)) == 3_576_704
    assert count_parameters(Discriminator(channels=64, image_size=64)) == 2_765_568


def test_initialisation_follows_the_paper():
    generator = Generator(latent_dim=100, channels=64, image_size=64)
    conv = torch.cat([m.weight.flatten() for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(conv.mean().item()) < 1e-3
    assert conv.std().item() == pytest.approx(0.02, rel=0.02)
    bn = [m for m in generator.modules() if isinstance(m, nn.BatchNorm2d)]
    scale = torch.cat([m.weight for m in bn])
    assert scale.mean().item() == pytest.approx(1.0, abs=0.01)
    assert scale.std().item() == pytest.approx(0.02, rel=0.2)
    assert all(torch.all(m.bias == 0) for m in bn)


def test_discriminator_has_no_batch_norm_on_its_input_layer():
    discriminator = Discriminator(channels=4, image_size=32)
    layers = list(discriminator.net)
    assert isinstance(layers[0], nn.Conv2d) and isinstance(layers[1], nn.LeakyReLU)


def test_wrong_image_size_errors():
    with pytest.raises(ValueError, match="image_size"):
        Generator(image_size=48)
    discriminator = Discriminator(channels=4, image_size=32)
    with pytest.raises(ValueError, match="resize"):
        discriminator(torch.randn(2, 3, 64, 64))
