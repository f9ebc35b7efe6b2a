"""Chapter 05's experiment (facelab.experiments.gan_for_recognition) at tiny sizes."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from facelab.data.base import FaceTensorDataset  # noqa: E402
from facelab.experiments import gan_for_recognition as exp  # noqa: E402
from facelab.experiments.recognition import recognition_split  # noqa: E402
from facelab.profile import get_profile  # noqa: E402

TINY = get_profile("quick").replace(num_identities=8, images_per_identity=8, latent_dim=8, gan_channels=4,
                                    gan_batch_size=8, embedding_dim=8, recognizer_channels=4,
                                    recognizer_batch_size=16)


@pytest.fixture(scope="module")
def base():
    return recognition_split(TINY, seed=0)


@pytest.fixture(scope="module")
def result(base):
    return exp.run_gan_for_recognition(TINY, seeds=(0, 1), num_identities=4, shots=3, extra_per_identity=2,
                                       gan_steps=3, recognizer_steps=3, base=base)


def test_low_data_split_keeps_shots_of_the_first_identities(base):
    split = exp.low_data_split(TINY, num_identities=4, shots=3, base=base)
    assert torch.equal(torch.bincount(split.train.labels), torch.full((4,), 3))
    assert set(split.val.labels.tolist()) == set(range(4))
    assert split.unseen is base.unseen and split.pairs is base.pairs  # verification is unchanged
    # every kept image is one of the identity's training images in the base split
    for image, label in zip(split.train.images, split.train.labels):
        members = base.train.images[base.train.labels == label]
        assert (members == image).flatten(1).all(1).any()
    again = exp.low_data_split(TINY, num_identities=4, shots=3, base=base)
    assert torch.equal(again.train.images, split.train.images)  # seeded
    other = exp.low_data_split(TINY, num_identities=4, shots=3, seed=1, base=base)
    assert not torch.equal(other.train.images, split.train.images)


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_identities=1), "num_identities must be between 2"),
    (dict(num_identities=99), "num_identities must be between 2"),
    (dict(shots=0), "shots must be between 1"),
    (dict(shots=99), "shots must be between 1"),
])
def test_low_data_split_rejects_impossible_sizes(base, kwargs, match):
    with pytest.raises(ValueError, match=match):
        exp.low_data_split(TINY, **{"num_identities": 4, "shots": 3, **kwargs}, base=base)


def test_classic_augmentations_are_seeded_labelled_and_in_range():
    gen = torch.Generator().manual_seed(0)
    real = FaceTensorDataset(torch.rand(6, 3, 32, 32, generator=gen) * 2 - 1, torch.tensor([0, 0, 1, 1, 2, 2]))
    rng = torch.get_rng_state()
    aug = exp.classic_augmentations(real, per_identity=5, seed=3)
    assert torch.equal(torch.get_rng_state(), rng)  # the global RNG is left as it was
    assert aug.images.shape == (15, 3, 32, 32)
    assert torch.equal(torch.bincount(aug.labels), torch.full((3,), 5))
    assert aug.images.min() >= -1 and aug.images.max() <= 1
    assert torch.equal(exp.classic_augmentations(real, 5, seed=3).images, aug.images)
    assert not torch.equal(exp.classic_augmentations(real, 5, seed=4).images, aug.images)
    # they are transformed copies, not the originals
    sources = real.images[torch.tensor([0, 1, 0, 1, 0])]
    assert (aug.images[:5] - sources).abs().mean() > 1e-3


def test_training_sets_stack_the_right_parts():
    def data(n, value):
        return FaceTensorDataset(torch.full((n, 3, 32, 32), value), torch.zeros(n, dtype=torch.long))

    real, aug, gen = data(2, 0.0), data(3, 0.5), data(4, -0.5)
    sizes = {c: len(exp.training_set(c, real, aug, gen)) for c in exp.CONDITIONS}
    assert sizes == {"real": 2, "real + augmentation": 5, "real + cGAN": 6, "real + both": 9}
    both = exp.training_set("real + both", real, aug, gen)
    assert torch.equal(both.images[:, 0, 0, 0], torch.tensor([0.0] * 2 + [0.5] * 3 + [-0.5] * 4))
    with pytest.raises(ValueError, match="Unknown condition"):
        exp.training_set("real + VAE", real, aug, gen)


def test_the_experiment_runs_every_condition_and_seed(result):
    assert len(result.records) == len(exp.CONDITIONS) * 2
    assert {(r["condition"], r["seed"]) for r in result.records} == {(c, s) for c in exp.CONDITIONS for s in (0, 1)}
    for r in result.records:
        assert 0 <= r["identification"] <= 1 and 0 <= r["auc"] <= 1 and 0 <= r["eer"] <= 1
    assert result.generated.images.shape == (4 * 2, 3, 32, 32)
    assert result.generated.images.abs().max() <= 1
    assert torch.equal(result.generated.labels, torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]))
    assert len(result.gan_identity_accuracy) == 2 and all(0 <= a <= 1 for a in result.gan_identity_accuracy)
    assert result.chance == 0.25
    assert [result.num_training_images(c) for c in exp.CONDITIONS] == [12, 20, 20, 28]
    assert result.passes_over_real("real") == pytest.approx(3 * 8 / 12)  # 3 steps at batch 8 (half of 16)
    table = result.to_markdown().splitlines()
    assert len(table) == 2 + len(exp.CONDITIONS) and all(c in result.to_markdown() for c in exp.CONDITIONS)


def test_the_experiment_reuses_a_given_gan_and_checks_it(base, result):
    again = exp.run_gan_for_recognition(TINY, seeds=(0,), num_identities=4, shots=3, extra_per_identity=2,
                                        recognizer_steps=2, base=base, gan=result.gan)
    assert again.gan is result.gan and torch.equal(again.generated.images, result.generated.images)
    with pytest.raises(ValueError, match="trained for 4 identities"):
        exp.run_gan_for_recognition(TINY, seeds=(0,), num_identities=5, shots=3, base=base, gan=result.gan)
    with pytest.raises(ValueError, match="at least one seed"):
        exp.run_gan_for_recognition(TINY, seeds=(), base=base)


def test_summaries_of_known_records(result):
    values = {"real": [0.5, 0.6, 0.7], "real + augmentation": [0.8, 0.9, 1.0], "real + cGAN": [0.5, 0.7, 0.6],
              "real + both": [0.1, 0.2, 0.3]}
    records = [dict(condition=c, seed=s, identification=v, auc=v, eer=1 - v, tar_at_far=v)
               for c, vs in values.items() for s, v in enumerate(vs)]
    fake = exp.GanForRecognitionResult(records, [0, 1, 2], 4, 3, 2, 3, 16, result.real, result.generated,
                                       result.augmented, result.gan)
    assert fake.mean("real", "auc") == pytest.approx(0.6) and fake.spread("real", "auc") == pytest.approx(0.1)
    np.testing.assert_allclose(fake.values("real + cGAN", "eer"), [0.5, 0.3, 0.4])
    assert fake.best("auc") == "real + augmentation" and fake.best("eer") == "real + augmentation"
    assert fake.difference("real + augmentation", "auc") == pytest.approx(0.3)
    assert fake.effect("real + augmentation", "auc") == "improved"
    assert fake.effect("real + augmentation", "eer") == "improved"  # a lower EER is better
    assert fake.effect("real + both", "auc") == "worsened"
    assert fake.effect("real + cGAN", "auc") == "did not clearly change"
    assert "0.600 ± 0.100" in fake.to_markdown()
    with pytest.raises(ValueError, match="metric one of"):
        fake.values("real", "accuracy")


def test_plots_return_figures(result):
    import matplotlib.pyplot as plt

    for fig in (exp.plot_gan_for_recognition(result), exp.plot_identity_grid(result, num_identities=3)):
        assert isinstance(fig, Figure)
        plt.close(fig)
