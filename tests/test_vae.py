"""The VAE (facelab.models.vae) and its training loop (facelab.train.vae)."""
import math

import pytest
import torch
from torch import nn

from facelab.models.dcgan import Generator
from facelab.models.vae import VAE, Encoder, kl_to_standard_normal, reconstruction_nll
from facelab.train.vae import VAETrainConfig, train_vae


@pytest.fixture(scope="module")
def images():
    torch.optim.Adam([nn.Parameter(torch.zeros(1))]).step()  # first optimiser step imports are slow: take it here
    return torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1


def tiny_vae(**kw):
    torch.manual_seed(0)
    return VAE(latent_dim=8, channels=4, image_size=32, **kw)


def config(**kw):
    settings = dict(steps=6, batch_size=8, log_every=2, sample_every=2, num_samples=4, progress=False)
    settings.update(kw)
    return VAETrainConfig(**settings)


@pytest.mark.parametrize("size", [32, 64])
def test_shapes_and_decoder_is_the_dcgan_generator(size):
    vae = VAE(latent_dim=8, channels=4, image_size=size)
    x = torch.rand(3, 3, size, size) * 2 - 1
    out = vae(x)
    assert isinstance(vae.decoder, Generator)
    assert out.mu.shape == out.logvar.shape == out.z.shape == (3, 8)
    assert out.reconstruction.shape == x.shape
    assert out.nll.shape == out.kl.shape == (3,)
    assert out.reconstruction.abs().max() <= 1  # tanh output, the range of the data
    assert torch.isclose(out.loss, (out.nll + out.kl).mean())


def test_kl_closed_form_matches_torch_distributions():
    mu = torch.tensor([[0.0, 0.0], [1.0, -2.0]])
    logvar = torch.tensor([[0.0, 0.0], [math.log(4.0), -1.0]])
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(2), torch.ones(2))
    expected = torch.distributions.kl_divergence(q, p).sum(1)
    assert torch.allclose(kl_to_standard_normal(mu, logvar), expected)
    assert kl_to_standard_normal(mu, logvar)[0] == 0  # q equal to the prior


def test_gaussian_nll_is_the_normal_log_density_and_bernoulli_is_cross_entropy():
    g = torch.Generator().manual_seed(1)
    x, recon = torch.rand(2, 3, 4, 4, generator=g) * 2 - 1, torch.rand(2, 3, 4, 4, generator=g) * 2 - 1
    expected = -torch.distributions.Normal(recon, 0.3).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(reconstruction_nll(recon, x, "gaussian", 0.3), expected, atol=1e-3)
    p, t = (recon + 1) / 2, (x + 1) / 2
    bce = -(t * p.log() + (1 - t) * (1 - p).log()).flatten(1).sum(1)
    assert torch.allclose(reconstruction_nll(recon, x, "bernoulli"), bce, atol=1e-3)
    # the L2 likelihood is minimised by the exact image
    assert (reconstruction_nll(x, x, "gaussian", 0.3) < reconstruction_nll(recon, x, "gaussian", 0.3)).all()


def test_reparameterisation_has_the_right_moments_and_passes_gradients():
    mu = torch.tensor([[1.0, -2.0]], requires_grad=True)
    logvar = torch.tensor([[math.log(0.25), 0.0]], requires_grad=True)
    z = VAE.reparameterize(mu.expand(20000, 2), logvar.expand(20000, 2), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(z.mean(0), torch.tensor([1.0, -2.0]), atol=0.03)
    assert torch.allclose(z.std(0), torch.tensor([0.5, 1.0]), atol=0.03)
    z.sum().backward()
    assert mu.grad is not None and logvar.grad is not None and logvar.grad.abs().sum() > 0


def test_bad_arguments_fail_with_clear_messages():
    with pytest.raises(ValueError, match="likelihood"):
        VAE(latent_dim=4, channels=4, image_size=32, likelihood="poisson")
    with pytest.raises(ValueError, match="pixel_std"):
        VAE(latent_dim=4, channels=4, image_size=32, pixel_std=0)
    with pytest.raises(ValueError, match="image_size"):
        VAE(latent_dim=4, channels=4, image_size=48)
    with pytest.raises(ValueError, match="resize"):
        Encoder(latent_dim=4, channels=4, image_size=32)(torch.zeros(1, 3, 64, 64))
    with pytest.raises(ValueError, match="same shape"):
        reconstruction_nll(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="lr"):
        VAETrainConfig(lr=0)
    with pytest.raises(ValueError, match="batch_size"):
        VAETrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="beta1"):
        VAETrainConfig(beta1=1.0)


def test_sampling_is_seeded_and_independent_of_the_batch():
    vae = tiny_vae()
    a = vae.sample(6, generator=torch.Generator().manual_seed(3))
    b = vae.sample(6, generator=torch.Generator().manual_seed(3), batch_size=2)
    assert a.shape == (6, 3, 32, 32) and torch.allclose(a, b, atol=1e-6)  # eval mode: no batch statistics
    assert vae.training  # the mode is restored


def test_training_lowers_the_negative_elbo_and_logs_its_terms(images):
    vae = tiny_vae()
    history = train_vae(vae, images, config(steps=60, log_every=10, sample_every=30, lr=3e-3), device="cpu")
    assert history.step == [10, 20, 30, 40, 50, 60]
    assert history.sample_steps == [30, 60] and history.samples[0].shape == (4, 3, 32, 32)
    for loss, nll, kl in zip(history.loss, history.nll, history.kl):
        assert loss == pytest.approx(nll + kl, rel=1e-5, abs=1e-3)
        assert kl >= 0
    assert history.loss[-1] < history.loss[0] - 100  # nats per image


def test_max_steps_callbacks_and_exact_resumption(images, tmp_path):
    calls = []
    straight = train_vae(tiny_vae(), images, config(), device="cpu")
    path = tmp_path / "vae.pt"
    first = train_vae(tiny_vae(), images, config(checkpoint_path=str(path), max_steps=4), device="cpu",
                      callbacks=[lambda h, s: calls.append(s)])
    assert first.step == [2, 4] and calls == [2, 4] and path.exists()
    resumed = train_vae(tiny_vae(), images, config(checkpoint_path=str(path)), device="cpu")
    assert resumed.step == straight.step
    assert resumed.loss == pytest.approx(straight.loss, rel=1e-5)  # same batches, noise and weights as one run


def test_a_foreign_checkpoint_is_refused(images, tmp_path):
    from facelab.train.checkpoint import save_checkpoint

    path = save_checkpoint(tmp_path / "other.pt", {"generator": {}, "step": 3})
    with pytest.raises(RuntimeError, match="not written by train_vae"):
        train_vae(tiny_vae(), images, config(checkpoint_path=str(path)), device="cpu")
