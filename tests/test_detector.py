"""Tests of facelab.models.detector: the real-vs-fake CNN and its training loop."""
import pytest
import torch

from facelab.models.detector import FakeFaceDetector, fake_probability
from facelab.train.detector import train_detector


def test_shapes_and_bad_input():
    detector = FakeFaceDetector(channels=4)
    assert detector(torch.zeros(5, 3, 32, 32)).shape == (5,)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        detector(torch.zeros(5, 1, 32, 32))
    with pytest.raises(ValueError, match="channels"):
        FakeFaceDetector(channels=0)


def test_learns_an_easy_artefact():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    real = torch.rand(64, 3, 16, 16, generator=g) * 0.5 - 0.25
    fake = real.clone()
    fake[:, :, ::2, ::2] += 0.5  # a checkerboard, the classic up-sampling artefact
    detector = FakeFaceDetector(channels=4)
    history = train_detector(detector, real, fake, steps=60, batch_size=16, lr=3e-3, log_every=10)
    assert history.step[-1] == 60 and len(history.loss) == 6
    p_real, p_fake = fake_probability(detector, real), fake_probability(detector, fake)
    assert p_real.shape == (64,) and ((p_real >= 0) & (p_real <= 1)).all()
    assert (p_fake > 0.5).float().mean() > 0.9 and (p_real < 0.5).float().mean() > 0.9
    assert not detector.training


def test_train_rejects_bad_settings():
    detector = FakeFaceDetector(channels=4)
    with pytest.raises(ValueError, match="differ in shape"):
        train_detector(detector, torch.zeros(4, 3, 16, 16), torch.zeros(4, 3, 8, 8))
    with pytest.raises(ValueError, match="even batch_size"):
        train_detector(detector, torch.zeros(4, 3, 8, 8), torch.zeros(4, 3, 8, 8), batch_size=3)
