"""Chapter 08's experiments (facelab.experiments.outlook)."""
import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from torch import nn

from facelab.experiments import outlook
from facelab.experiments.face_gan import train_face_gan
from facelab.profile import get_profile

TINY = get_profile("quick").replace(num_identities=8, images_per_identity=4, latent_dim=8, gan_channels=4,
                                    gan_batch_size=8, gan_steps=4, sample_every=2)


def structured_faces(n, seed=0):
    """Images with a smooth random layout plus a little noise (so that pixel neighbours exist)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 4, 4, generator=g) * 2 - 1
    return (nn.functional.interpolate(coarse, size=32, mode="bilinear") * 0.8
            + 0.05 * torch.randn(n, 3, 32, 32, generator=g)).clamp(-1, 1)


def test_laplacian_sharpness_known_values():
    assert outlook.laplacian_sharpness(torch.zeros(2, 3, 8, 8)) == 0
    impulse = torch.zeros(1, 3, 5, 5)
    impulse[..., 2, 2] = 1.0
    assert outlook.laplacian_sharpness(impulse) == pytest.approx(8 / 9)  # |-4| + 4 * |1| over 3x3 outputs
    noise = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    blurred = nn.functional.avg_pool2d(noise, 3, stride=1, padding=1)
    assert outlook.laplacian_sharpness(blurred) < outlook.laplacian_sharpness(noise)
    with pytest.raises(ValueError, match="H, W >= 3"):
        outlook.laplacian_sharpness(torch.zeros(1, 3, 2, 2))


def test_neighbour_averages_are_the_l2_optimum_and_blur():
    faces = structured_faces(64)
    result = outlook.neighbour_averages(faces, ks=(1, 4, 16), num_faces=5, seed=0)
    queries = torch.randperm(64, generator=torch.Generator().manual_seed(0))[:5]
    assert torch.equal(result.rows[0], faces[queries])  # k = 1: the face itself
    assert result.squared_error[0] == 0
    assert result.sharpness[0] > result.sharpness[1] > result.sharpness[2]
    # the average beats every single member of the group as one answer for all of them
    flat = faces.flatten(1)
    group = faces[torch.cdist(flat[queries], flat).topk(4, largest=False).indices]  # (5, 4, 3, 32, 32)
    for member in range(4):
        err = (group - group[:, member : member + 1]).pow(2).flatten(2).sum(2).mean()
        assert result.squared_error[1] <= float(err) + 1e-4
    with pytest.raises(ValueError, match="ks"):
        outlook.neighbour_averages(faces, ks=(0, 2))


def test_compare_generators_ranks_real_looking_samples_first():
    torch.manual_seed(0)
    embedder = nn.Sequential(nn.Conv2d(3, 8, 4, 4), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 16))
    faces = structured_faces(120, seed=1)
    samples = {"copies": structured_faces(40, seed=2), "noise-like": torch.rand(40, 3, 32, 32) * 2 - 1}
    result = outlook.compare_generators(samples, embedder, faces, num_samples=40, seed=0)
    assert [s.name for s in result.scores] == ["copies", "noise-like"]
    assert result.best("fid") == result.best("kid") == "copies"
    assert result["copies"].fid < result["noise-like"].fid
    assert result.num_samples == 40 and result.feature_dim == 16
    assert result.baselines["fid_real_vs_real"] < result.baselines["fid_real_vs_noise"]
    assert "| copies |" in result.to_markdown() and "real vs noise" in result.to_markdown()
    with pytest.raises(ValueError, match="2 \\* num_samples"):
        outlook.compare_generators(samples, embedder, faces[:50], num_samples=40)
    with pytest.raises(ValueError, match="expected at least 40"):
        outlook.compare_generators({"few": faces[:10]}, embedder, faces, num_samples=40)
    with pytest.raises(KeyError, match="measured"):
        result["vae"]
    fig = outlook.plot_side_by_side({"real": faces, **samples})
    assert len(fig.axes) == 3


def test_train_face_vae_uses_the_gan_budget_and_reuses_a_finished_run(monkeypatch, tmp_path):
    monkeypatch.setenv("FACELAB_RUNS_DIR", str(tmp_path))
    run = outlook.train_face_vae(TINY, progress=False)
    assert run.config.steps == TINY.gan_steps and run.config.batch_size == TINY.gan_batch_size
    assert run.checkpoint_path is not None and run.checkpoint_path.parent == tmp_path
    assert run.history.step[-1] == TINY.gan_steps
    again = outlook.train_face_vae(TINY, progress=False)
    assert again.history.loss == run.history.loss and again.history.seconds == run.history.seconds  # not retrained
    for a, b in zip(run.vae.state_dict().values(), again.vae.state_dict().values()):
        assert torch.equal(a, b)
    assert run.sample(3, seed=1).shape == (3, 3, 32, 32)
    assert torch.equal(run.sample(3, seed=1), again.sample(3, seed=1))
    with pytest.raises(ValueError, match="Unknown VAE training setting"):
        outlook.train_face_vae(TINY, lr_g=1e-3)


def test_optimizer_instability_compares_the_same_steps(monkeypatch):
    monkeypatch.delenv("FACELAB_RUNS_DIR", raising=False)
    baseline = train_face_gan(TINY, progress=False, log_every=1)
    result = outlook.optimizer_instability(TINY, baseline, steps=2, progress=False)
    assert result.baseline.step == [1, 2] and result.aggressive.step == [1, 2]
    assert result.settings == {"lr_g": 2e-3, "lr_d": 2e-3, "beta1": 0.9}
    assert result.baseline_samples.shape == result.aggressive_samples.shape == (64, 3, 32, 32)
    assert torch.equal(result.baseline_samples, baseline.history.samples[0])
    assert result.swing("baseline") >= 0 and result.spread("aggressive") >= 0
    assert len(outlook.plot_instability(result).axes) == 3
    with pytest.raises(ValueError, match="sample_every"):
        outlook.optimizer_instability(TINY, baseline, steps=3)
