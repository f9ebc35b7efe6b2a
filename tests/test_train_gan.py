"""The GAN training loop (facelab.train.gan) and chapter 03's face-GAN experiment on top of it."""
import pytest
import torch
from torch import nn

from facelab.experiments import face_gan
from facelab.metrics import gan as gan_metrics  # noqa: F401  (imported here: scipy/sklearn load once, at collection)
from facelab.models.dcgan import Discriminator, Generator
from facelab.profile import get_profile
from facelab.train.gan import GANTrainConfig, train_gan


def tiny_gan(seed=0):
    torch.manual_seed(seed)
    return Generator(latent_dim=8, channels=4, image_size=32), Discriminator(channels=4, image_size=32)


@pytest.fixture(scope="module")
def images():
    # The first optimiser step of a process imports parts of torch's compiler stack (seconds on a
    # busy machine): take it once here, so that the tests' durations measure the tests.
    torch.optim.Adam([nn.Parameter(torch.zeros(1))]).step()
    return torch.rand(32, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1


def config(**kw):
    settings = dict(steps=6, batch_size=8, log_every=2, sample_every=2, num_samples=4, progress=False)
    settings.update(kw)
    return GANTrainConfig(**settings)


def params(module):
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def test_max_steps_stops_early_and_fills_history(images):
    generator, discriminator = tiny_gan()
    history = train_gan(generator, discriminator, images, config(steps=100, max_steps=4), device="cpu")
    assert history.step == [2, 4]
    assert len(history.loss_d) == len(history.loss_g) == len(history.d_real) == len(history.d_fake) == 2
    assert all(0 < v < 1 for v in history.d_real + history.d_fake)  # probabilities for the cross-entropy loss
    assert history.sample_steps == [2, 4]
    assert history.samples[-1].shape == (4, 3, 32, 32)
    assert history.seconds > 0


def test_discriminator_step_does_not_reach_the_generator(images):
    """``fake.detach()``: gradients reach G only from the G step (D's third call of the step)."""
    generator, discriminator = tiny_gan()
    calls, leaks = [0], []

    class Counting(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            calls[0] += 1
            return self.inner(x)

    for p in generator.parameters():
        p.register_hook(lambda grad: leaks.append(calls[0] % 3 != 0) or grad)
    train_gan(generator, Counting(discriminator), images, config(steps=2), device="cpu")
    assert calls[0] == 6  # real, detached fake, fake for G, per step
    assert leaks and not any(leaks)


def test_seeded_runs_are_identical(images):
    runs = []
    for _ in range(2):
        generator, discriminator = tiny_gan()
        history = train_gan(generator, discriminator, images, config(seed=3), device="cpu")
        runs.append((params(generator), params(discriminator), history.loss_d))
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
    assert runs[0][2] == runs[1][2]


def test_resumed_run_matches_uninterrupted_run_bit_for_bit(images, tmp_path):
    generator, discriminator = tiny_gan()
    whole = train_gan(generator, discriminator, images, config(), device="cpu")
    expected = (params(generator), params(discriminator))

    ckpt = tmp_path / "gan.pt"
    first_g, first_d = tiny_gan()
    train_gan(first_g, first_d, images, config(checkpoint_path=str(ckpt), max_steps=4), device="cpu")
    torch.manual_seed(1234)  # a different global RNG state: the checkpoint must restore its own
    second_g, second_d = tiny_gan(seed=99)  # different weights: the checkpoint must overwrite them
    resumed = train_gan(second_g, second_d, images, config(checkpoint_path=str(ckpt)), device="cpu")

    assert torch.equal(params(second_g), expected[0])
    assert torch.equal(params(second_d), expected[1])
    assert resumed.step == whole.step and resumed.loss_d == whole.loss_d and resumed.d_fake == whole.d_fake
    assert all(torch.equal(a, b) for a, b in zip(resumed.samples, whole.samples))


@pytest.mark.parametrize("bad", [dict(steps=0), dict(batch_size=0), dict(lr_g=0.0), dict(lr_d=-1.0),
                                 dict(sample_every=0), dict(loss="no-such-loss")])
def test_bad_config_values_raise(bad):
    with pytest.raises(ValueError):
        GANTrainConfig(**bad)


def test_callbacks_are_called_every_sample_every_steps(images):
    generator, discriminator = tiny_gan()
    seen = []
    train_gan(generator, discriminator, images, config(), device="cpu",
              callbacks=[lambda history, step: seen.append((step, len(history.samples)))])
    assert seen == [(2, 1), (4, 2), (6, 3)]


def test_trains_on_a_sampling_function_and_a_dataloader():
    generator, discriminator = tiny_gan()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(16, 3, 32, 32)), batch_size=8)
    for data in (lambda n: torch.zeros(n, 3, 32, 32), loader):
        history = train_gan(generator, discriminator, data, config(steps=2), device="cpu")
        assert history.step == [2]
    with pytest.raises(TypeError, match="Cannot train"):
        train_gan(generator, discriminator, 42, config(steps=1), device="cpu")


# --- facelab.experiments.face_gan -------------------------------------------------------------

TINY = get_profile("quick").replace(num_identities=4, images_per_identity=4, latent_dim=8, gan_channels=4,
                                    gan_batch_size=8, gan_steps=4, sample_every=2)


def test_train_face_gan_runs_on_a_tiny_profile(images):
    from facelab.experiments.face_gan import discriminator_auc, train_face_gan

    run = train_face_gan(TINY, data=images, progress=False, log_every=2)
    assert run.history.step == [2, 4] and run.checkpoint_path is None
    fake = run.sample(6, seed=1)
    assert fake.shape == (6, 3, 32, 32) and torch.equal(fake, run.sample(6, seed=1))
    auc = discriminator_auc(run.discriminator, images[:8], fake)
    # the Mann-Whitney identity: swapping the two sets turns AUC into 1 - AUC; and it is the fraction of
    # (real, fake) pairs that D orders correctly, counted here independently in eval mode
    assert discriminator_auc(run.discriminator, fake, images[:8]) == pytest.approx(1 - auc)
    run.discriminator.eval()
    with torch.no_grad():
        real_s, fake_s = run.discriminator(images[:8]), run.discriminator(fake)
    pairs = (real_s[:, None] > fake_s[None, :]).float() + 0.5 * (real_s[:, None] == fake_s[None, :]).float()
    assert auc == pytest.approx(pairs.mean().item())


def test_train_face_gan_rejects_unknown_settings(images):
    from facelab.experiments.face_gan import train_face_gan

    with pytest.raises(ValueError, match="lr_gen"):
        train_face_gan(TINY, data=images, lr_gen=1e-3)


def test_full_profile_checkpoints_under_the_runs_dir(monkeypatch, tmp_path):
    from facelab.experiments.face_gan import default_checkpoint_path, runs_dir

    monkeypatch.setenv("FACELAB_RUNS_DIR", str(tmp_path))
    assert runs_dir() == tmp_path
    path = default_checkpoint_path(get_profile("full"), "nonsaturating", 0, data=torch.zeros(2, 3, 8, 8))
    assert path.parent == tmp_path and "full" in path.name and path.suffix == ".pt"
    monkeypatch.delenv("FACELAB_RUNS_DIR")
    assert runs_dir().name == "facelab_runs"


def test_pixel_frechet_distance_tells_noise_from_data(images):
    from facelab.experiments.face_gan import pixel_frechet_distance

    other = torch.rand(32, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    assert pixel_frechet_distance(images, images, pool=2) == pytest.approx(0.0, abs=1e-4)
    flat = torch.zeros_like(images) + 0.5 + 0.01 * other
    assert pixel_frechet_distance(images, flat, pool=2) > pixel_frechet_distance(images, other, pool=2)


def test_quick_faces_and_held_out_faces_are_synthetic_and_disjoint():
    from facelab.experiments.face_gan import load_held_out_faces, load_training_faces

    profile = TINY.replace(num_identities=10, images_per_identity=2)
    train, held_out = load_training_faces(profile), load_held_out_faces(profile)
    assert train.images.shape == (20, 3, 32, 32) and held_out.images.shape == (2, 3, 32, 32)
    assert not any(torch.equal(h, t) for h in held_out.images for t in train.images)


def test_full_profile_reads_the_faces_folder_and_holds_people_out(monkeypatch, tmp_path):
    from PIL import Image

    from facelab.experiments.face_gan import load_held_out_faces, load_training_faces

    for person in range(3):
        (tmp_path / f"person{person}").mkdir()
        for i in range(20):
            Image.new("RGB", (12, 12), (10 * person, 5 * i, 100)).save(tmp_path / f"person{person}" / f"{i}.png")
    monkeypatch.setenv("FACELAB_FACES_DIR", str(tmp_path))
    full = get_profile("full")
    train, held_out = load_training_faces(full), load_held_out_faces(full)
    assert train.images.shape[1:] == (3, 64, 64)
    assert len(train) + len(held_out) == 60 and len(held_out) == 3  # few people: every 20th image


def test_full_profile_without_any_faces_says_how_to_fix_it(monkeypatch):
    from facelab.data import real
    from facelab.data.cache import DatasetNotFoundError
    from facelab.experiments.face_gan import load_training_faces

    def missing(*args, **kwargs):
        raise DatasetNotFoundError("files missing")

    monkeypatch.delenv("FACELAB_FACES_DIR", raising=False)
    monkeypatch.setattr(real, "load_lfw_people", missing)
    monkeypatch.setattr(real, "load_celeba", missing)
    with pytest.warns(UserWarning, match="trying CelebA"):
        with pytest.raises(FileNotFoundError, match="FACELAB_FACES_DIR.*FACELAB_PROFILE=quick"):
            load_training_faces(get_profile("full"))


def test_effective_modes_counts_spread():
    from facelab.data.toy import ring_2d
    from facelab.experiments.face_gan import effective_modes

    ring = ring_2d()
    assert effective_modes(ring.means[[0]].repeat(50, 1), ring) == pytest.approx(1.0)
    assert effective_modes(ring.means.repeat(10, 1), ring) == pytest.approx(8.0)
    assert effective_modes(ring.means[:2].repeat(10, 1), ring) == pytest.approx(2.0)


def test_mode_collapse_experiment_runs_and_plots():
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from facelab.experiments.face_gan import (MODE_COLLAPSE_SETTINGS, MinibatchStdDiscriminator,
                                              mode_collapse_experiment, plot_mode_collapse)

    assert MinibatchStdDiscriminator(data_dim=2)(torch.randn(5, 2)).shape == (5,)
    result = mode_collapse_experiment(TINY, settings=MODE_COLLAPSE_SETTINGS[1:], seeds=(0, 1), steps=3,
                                      num_samples=50)
    assert len(result.modes) == 2 and all(len(m) == 2 for m in result.modes)
    assert all(1.0 <= e <= 8.0 for e in result.mean_effective())
    assert result.samples[0].shape == (50, 2) and result.to_markdown().count("\n") == 3
    assert isinstance(plot_mode_collapse(result), Figure)
    plt.close("all")
