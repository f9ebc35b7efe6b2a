"""Latent-space helpers: slerp, orthonormal directions, walks, and the explorer widget."""
import pytest
import torch

from facelab.latent import interpolate, latent_directions, slerp, walk
from facelab.models.dcgan import Generator


@pytest.fixture(scope="module")
def generator():
    torch.manual_seed(0)
    return Generator(latent_dim=8, channels=4, image_size=32)


def test_slerp_endpoints_and_shape():
    z_a, z_b = torch.randn(8), torch.randn(8)
    path = slerp(z_a, z_b, torch.linspace(0, 1, 5))
    assert path.shape == (5, 8)
    assert torch.allclose(path[0], z_a, atol=1e-5) and torch.allclose(path[-1], z_b, atol=1e-5)
    assert slerp(z_a, z_b, 0.5).shape == (1, 8)


def test_slerp_keeps_the_norm_of_equal_norm_vectors():
    z_a = torch.randn(16)
    z_b = torch.randn(16)
    z_b = z_b / z_b.norm() * z_a.norm()
    norms = slerp(z_a, z_b, torch.linspace(0, 1, 7)).norm(dim=1)
    assert torch.allclose(norms, z_a.norm().expand(7), rtol=1e-4)
    # the straight line cuts through the low-norm interior
    assert (0.5 * (z_a + z_b)).norm() < z_a.norm()


def test_directions_are_orthonormal():
    d = latent_directions(8, 3, seed=1)
    assert d.shape == (3, 8)
    assert torch.allclose(d @ d.T, torch.eye(3), atol=1e-5)
    assert torch.equal(d, latent_directions(8, 3, seed=1))


def test_interpolate_and_walk_shapes(generator):
    z_a, z_b = torch.randn(8), torch.randn(8)
    assert interpolate(generator, z_a, z_b, steps=6).shape == (6, 3, 32, 32)
    assert interpolate(generator, z_a, z_b, steps=3, spherical=False).shape == (3, 3, 32, 32)
    assert walk(generator, z_a, latent_directions(8, 1)[0]).shape == (7, 3, 32, 32)
    assert walk(generator, z_a, latent_directions(8, 1)[0], torch.tensor([0.0, 1.0])).shape == (2, 3, 32, 32)
    assert generator.training  # sampling restored the mode


def test_latent_explorer_builds_a_widget(generator):
    pytest.importorskip("ipywidgets")
    import matplotlib.pyplot as plt

    from facelab.widgets import latent_explorer

    box = latent_explorer(generator, num_directions=2, nrow=4)
    assert type(box).__name__ == "VBox"
    sliders = [w for w in box.children if type(w).__name__ == "FloatSlider"]
    assert len(sliders) == 2
    sliders[0].value = 1.0  # moving a slider redraws without error
    plt.close("all")
