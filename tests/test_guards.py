"""Divergence is caught: a NaN/inf loss stops training with an error naming the step, and the last good
checkpoint stays intact."""
import pytest
import torch

from facelab.data.base import FaceTensorDataset
from facelab.losses.margin import get_head
from facelab.models.recognition import FaceEmbedder
from facelab.models.toy import ToyDiscriminator, ToyGenerator
from facelab.train import TrainingDiverged
from facelab.train.checkpoint import load_checkpoint
from facelab.train.gan import GANTrainConfig, train_gan
from facelab.train.guards import DivergenceGuard
from facelab.train.recognition import RecognizerTrainConfig, train_recognizer


def finite(state) -> bool:
    """All floating tensors in a nested state dict are finite."""
    if isinstance(state, torch.Tensor):
        return not state.is_floating_point() or bool(torch.isfinite(state).all())
    if isinstance(state, dict):
        return all(finite(v) for v in state.values())
    if isinstance(state, (list, tuple)):
        return all(finite(v) for v in state)
    return True


def test_guard_records_the_first_bad_step_without_syncing():
    guard = DivergenceGuard(("loss_d", "loss_g"))
    guard.update(1, torch.tensor(0.7), torch.tensor(0.6))
    guard.check()  # all finite: nothing happens
    guard.update(2, torch.tensor(0.7), torch.tensor(float("inf")))
    guard.update(3, torch.tensor(float("nan")), torch.tensor(float("nan")))  # later bad steps do not overwrite
    with pytest.raises(TrainingDiverged, match=r"loss_g became NaN or infinite at step 2\. .*No checkpoint") as err:
        guard.check()
    assert err.value.step == 2 and err.value.losses == ("loss_g",)
    assert isinstance(err.value, FloatingPointError)


def test_guard_refuses_non_finite_weights():
    guard = DivergenceGuard(("loss",))
    model = torch.nn.Linear(2, 2)
    guard.check(5, model=model)
    with torch.no_grad():
        model.weight[0, 0] = float("inf")
    with pytest.raises(TrainingDiverged, match="weights of the model became NaN or infinite by step 5"):
        guard.check(5, model=model)


def test_nan_loss_stops_gan_training_at_that_step_and_keeps_the_last_checkpoint(tmp_path):
    bad_step = 7
    calls = []

    def data(n):  # one call per D step (d_steps=1): from step 7 on, the real batch is NaN
        calls.append(n)
        x = torch.randn(n, 2)
        return x * float("nan") if len(calls) >= bad_step else x

    path = tmp_path / "gan.pt"
    config = GANTrainConfig(loss="nonsaturating", steps=20, batch_size=16, num_samples=8, log_every=5,
                            sample_every=100, checkpoint_every=2, checkpoint_path=str(path), progress=False)
    torch.manual_seed(0)
    with pytest.raises(TrainingDiverged) as err:
        train_gan(ToyGenerator(hidden=16), ToyDiscriminator(hidden=16), data, config, device="cpu")
    assert err.value.step == bad_step and "loss_d" in err.value.losses
    assert f"at step {bad_step}" in str(err.value) and "(step 6), is intact" in str(err.value)
    assert "lower lr_d and lr_g" in str(err.value)
    # the checkpoint due at step 8 was not written: the one from step 6 is intact and loads
    state = load_checkpoint(path)
    assert state["step"] == 6 and err.value.checkpoint_step == 6
    assert finite(state["generator"]) and finite(state["discriminator"]) and finite(state["opt_d"])
    assert [p.name for p in tmp_path.iterdir()] == ["gan.pt"]


def faces():
    gen = torch.Generator().manual_seed(0)
    return FaceTensorDataset(torch.rand(16, 3, 32, 32, generator=gen) * 2 - 1, torch.arange(16) % 4)


def test_nan_loss_stops_recognizer_training_at_that_step(tmp_path):
    bad_step = 4
    head = get_head("arcface", 8, 4, scale=16)
    steps = []

    def poison(module, inputs, output):  # the training forward pass of step 4 returns NaN logits
        if torch.is_grad_enabled():
            steps.append(1)
            if len(steps) == bad_step:
                return output * float("nan")
        return output

    head.register_forward_hook(poison)
    path = tmp_path / "recognizer.pt"
    config = RecognizerTrainConfig(steps=10, batch_size=8, log_every=10, eval_every=10, checkpoint_every=3,
                                   checkpoint_path=str(path), progress=False)
    with pytest.raises(TrainingDiverged, match=rf"loss became NaN or infinite at step {bad_step}\.") as err:
        train_recognizer(FaceEmbedder(embedding_dim=8, channels=4, image_size=32), head, faces(), config,
                         device="cpu")
    assert "lower lr" in str(err.value)
    state = load_checkpoint(path)
    assert state["step"] == 3 and finite(state["embedder"]) and finite(state["head"])


def test_huge_learning_rate_diverges_with_a_clear_error(tmp_path):
    path = tmp_path / "recognizer.pt"
    config = RecognizerTrainConfig(steps=30, batch_size=8, lr=1e30, momentum=0.0, log_every=5, eval_every=30,
                                   checkpoint_every=1, checkpoint_path=str(path), progress=False)
    with pytest.raises(TrainingDiverged, match=r"(became NaN or infinite|exploded).* (at|by) step \d+") as err:
        train_recognizer(FaceEmbedder(embedding_dim=8, channels=4, image_size=32), get_head("softmax", 8, 4),
                         faces(), config, device="cpu")
    if err.value.checkpoint_step is None:  # caught at the first step, when the loss exploded: nothing to keep
        assert err.value.step == 1 and not path.exists() and "No checkpoint was written" in str(err.value)
        return
    state = load_checkpoint(path)  # saved before the divergence: older than the bad step, and finite
    assert 0 < state["step"] < err.value.step == err.value.checkpoint_step + 1
    assert finite(state["embedder"]) and finite(state["head"])


# ----------------------------------------------------------------------------- issue 16, item 8: no NaN needed
def test_guard_catches_an_exploding_loss_that_is_still_finite():
    guard = DivergenceGuard(("loss_d", "loss_g"))
    guard.update(1, torch.tensor(0.7), torch.tensor(3.0e4))  # large but plausible: fine
    guard.check()
    guard.update(2, torch.tensor(0.7), torch.tensor(1e12))  # what lr=1e6 gives
    guard.update(3, torch.tensor(float("nan")), torch.tensor(1.0))
    with pytest.raises(TrainingDiverged, match=r"loss_g exploded to 1e\+12 \(beyond the limit of \+-1e\+08\) at step 2")\
            as err:
        guard.check()
    assert err.value.step == 2 and err.value.losses == ("loss_g",)


def test_guard_catches_exploding_weights_that_are_still_finite():
    guard = DivergenceGuard(("loss",))
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.fill_(1e3)
    guard.check(5, model=model)
    with torch.no_grad():
        model.weight[0, 0] = 5e27
    with pytest.raises(TrainingDiverged, match=r"weights of the model became exploded \(largest magnitude 5e\+27"):
        guard.check(5, model=model)


def test_guard_limits_are_adjustable_and_checked():
    guard = DivergenceGuard(("loss",), max_abs_loss=float("inf"))
    guard.update(1, torch.tensor(1e30))
    guard.check()
    with pytest.raises(ValueError, match="must be positive"):
        DivergenceGuard(("loss",), max_abs_loss=0)


def test_guard_update_never_reads_a_value_on_the_host(monkeypatch):
    """The per-step update stays on the device: no .item(), .tolist(), bool() or float() of a tensor."""
    guard = DivergenceGuard(("loss_d", "loss_g"))

    def sync(*args, **kwargs):
        raise AssertionError("DivergenceGuard.update synchronised with the host")

    for name in ("item", "tolist", "__bool__", "__float__", "__int__", "cpu", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, sync)
    for step in range(1, 4):
        guard.update(step, torch.tensor(1e12 * step), torch.tensor(float("nan")))
    monkeypatch.undo()
    with pytest.raises(TrainingDiverged, match="at step 1"):
        guard.check()


def test_learning_rate_1e6_stops_gan_training_before_a_huge_checkpoint_is_saved(tmp_path):
    path = tmp_path / "gan.pt"
    config = GANTrainConfig(loss="nonsaturating", steps=60, batch_size=16, num_samples=8, log_every=5,
                            sample_every=100, checkpoint_every=2, checkpoint_path=str(path), progress=False,
                            lr_d=1e6, lr_g=1e6)
    torch.manual_seed(0)
    with pytest.raises(TrainingDiverged, match=r"loss_. exploded to .* at step \d+") as err:
        train_gan(ToyGenerator(hidden=16), ToyDiscriminator(hidden=16), lambda n: torch.randn(n, 2), config,
                  device="cpu")
    assert err.value.step <= 60
    if path.exists():  # any checkpoint written before the divergence holds sane weights
        state = load_checkpoint(path)
        assert state["step"] < err.value.step
        for key in ("generator", "discriminator"):
            assert max(float(t.abs().max()) for t in state[key].values() if t.is_floating_point()) <= 1e8


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_guard_update_does_not_synchronise_on_cuda():
    guard = DivergenceGuard(("loss",), device="cuda")
    loss = torch.tensor(1.0, device="cuda")
    torch.cuda.set_sync_debug_mode("error")  # any host synchronisation raises
    try:
        for step in range(1, 5):
            guard.update(step, loss * step)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    guard.check()
