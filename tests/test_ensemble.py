"""Ensembles as one computation: member k equals training member k alone with the same seed."""
import dataclasses

import pytest
import torch

from facelab.data.toy import ring_2d
from facelab.experiments.toy import make_toy_models, toy_settings
from facelab.models.dcgan import Discriminator, Generator
from facelab.train.ensemble import Stack, StackedAdam
from facelab.baselines.toy_ensemble import train_toy_gan_ensemble
from facelab.train.ensemble_gan import train_gan_ensemble
from facelab.train.gan import GANTrainConfig, train_gan

MIX = ring_2d()
SETTINGS = toy_settings(MIX, hidden=32)


def toy_models(seed):
    return make_toy_models(MIX, SETTINGS, seed)


def sequential(make, data, seed, config, **changes):
    g, d = make(seed)
    history = train_gan(g, d, data, dataclasses.replace(config, seed=seed, **changes), device="cpu", resume=False)
    return g, d, history


def assert_same_run(ens, i, g, d, history, atol=1e-5):
    for name, ref in {**g.state_dict()}.items():
        torch.testing.assert_close(ens.generators()[i].state_dict()[name], ref, atol=atol, rtol=1e-4, msg=name)
    for name, ref in d.state_dict().items():
        torch.testing.assert_close(ens.discriminators()[i].state_dict()[name], ref, atol=atol, rtol=1e-4, msg=name)
    mine = ens.histories[i]
    assert mine.step == history.step and mine.sample_steps == history.sample_steps
    for key in ("loss_d", "loss_g", "d_real", "d_fake"):
        assert getattr(mine, key) == pytest.approx(getattr(history, key), abs=atol * 10, rel=1e-4), key
    torch.testing.assert_close(mine.samples[-1], history.samples[-1], atol=atol * 10, rtol=1e-4)


@pytest.mark.parametrize("loss", ["minimax", "nonsaturating", "lsgan", "hinge", "wgan-gp"])
def test_toy_ensemble_equals_members_trained_one_by_one(loss):
    config = GANTrainConfig(loss=loss, steps=12, batch_size=32, lr_g=1e-3, lr_d=1e-3, log_every=4,
                            sample_every=6, num_samples=16, progress=False, amp=False)
    seeds = [3, 7, 11]
    ens = train_gan_ensemble(toy_models, MIX.sample, seeds, config)
    for i, seed in enumerate(seeds):
        assert_same_run(ens, i, *sequential(toy_models, MIX.sample, seed, config))
    # the members really differ (different seeds, not one run copied K times)
    assert not torch.equal(ens.histories[0].samples[-1], ens.histories[1].samples[-1])


def test_per_member_learning_rates_and_penalty_weights():
    config = GANTrainConfig(loss="wgan-gp", steps=6, batch_size=32, d_steps=5, log_every=2, sample_every=3,
                            num_samples=8, progress=False, amp=False)
    lrs, gps = [1e-4, 5e-4, 2e-3], [10.0, 1.0, 0.0]
    ens = train_gan_ensemble(toy_models, MIX.sample, [0, 0, 0], config, lr_g=lrs, lr_d=lrs, gp_weight=gps)
    for i in range(3):
        ref = sequential(toy_models, MIX.sample, 0, config, lr_g=lrs[i], lr_d=lrs[i], gp_weight=gps[i])
        assert_same_run(ens, i, *ref)
    assert ens.lr_g == lrs and ens.gp_weight == gps


def test_dcgan_with_batch_norm_matches_including_running_statistics():
    def make(seed):
        torch.manual_seed(seed)
        return Generator(latent_dim=8, channels=4, image_size=32), Discriminator(channels=4, image_size=32)

    data = torch.rand(40, 3, 32, 32) * 2 - 1
    config = GANTrainConfig(steps=3, batch_size=6, log_every=1, sample_every=3, num_samples=4, progress=False, amp=False)
    ens = train_gan_ensemble(make, data, [0, 1], config)
    for i, seed in enumerate([0, 1]):
        g, d, history = sequential(make, data, seed, config)
        assert_same_run(ens, i, g, d, history)  # state_dict: running_mean/var and num_batches_tracked too
        # G runs twice a step in train mode: once for the D step, once on fresh noise for its own update
        assert int(ens.generators()[i].state_dict()["net.1.num_batches_tracked"]) == 3 * 2


def test_stacked_adam_matches_torch_adam_with_different_rates():
    torch.manual_seed(0)
    weights = [torch.randn(4, 3) for _ in range(2)]
    grads = [[torch.randn(4, 3) for _ in range(2)] for _ in range(5)]
    stacked = torch.stack(weights)
    opt = StackedAdam([stacked], lr=[1e-2, 3e-3], betas=(0.5, 0.9))
    refs = [w.clone().requires_grad_(True) for w in weights]
    torch_opts = [torch.optim.Adam([r], lr=lr, betas=(0.5, 0.9), foreach=True) for r, lr in zip(refs, [1e-2, 3e-3])]
    for g in grads:
        opt.step([torch.stack(g)])
        for r, o, gi in zip(refs, torch_opts, g):
            r.grad = gi.clone()
            o.step()
    for i in range(2):
        torch.testing.assert_close(stacked[i], refs[i].detach(), atol=1e-7, rtol=1e-6)
    assert not torch.allclose(stacked[0], weights[0])


def test_stack_refuses_mixed_architectures_and_bad_hyper_parameters():
    with pytest.raises(ValueError, match="one architecture"):
        Stack([torch.nn.Linear(2, 3), torch.nn.Linear(2, 4)])
    with pytest.raises(ValueError, match="one per member"):
        train_gan_ensemble(toy_models, MIX.sample, [0, 1], GANTrainConfig(steps=1), lr_g=[1e-3])
    with pytest.raises(ValueError, match="> 0"):
        StackedAdam([torch.zeros(2, 3)], lr=[1e-3, -1.0])
    with pytest.raises(TypeError, match="generator=rng"):
        train_gan_ensemble(toy_models, [torch.zeros(2)], [0], GANTrainConfig(steps=1))


def test_toy_entry_point_returns_one_history_per_seed_with_final_samples():
    ens = train_toy_gan_ensemble(MIX, "hinge", seeds=[0, 1], steps=5, settings=SETTINGS, num_samples=50)
    assert len(ens.histories) == 2 and all(h.samples[-1].shape == (50, 2) for h in ens.histories)
    assert all(len(h.loss_d) == 1 and h.step == [5] for h in ens.histories)
    g = ens.generators()[1]
    assert g.latent_dim == SETTINGS.latent_dim and g(torch.zeros(3, SETTINGS.latent_dim)).shape == (3, 2)


def test_bmm_and_vmap_batching_agree_and_pick_the_right_modules():
    g, d = zip(*(toy_models(s) for s in range(3)))
    fast, general = Stack(list(g)), Stack(list(g), batching="vmap")
    assert fast.batching == "bmm" and general.batching == "vmap"
    z = torch.randn(3, 5, SETTINGS.latent_dim)
    torch.testing.assert_close(fast(z), general(z))
    x = fast(z)
    torch.testing.assert_close(Stack(list(d))(x), Stack(list(d), batching="vmap")(x))
    assert Stack(list(d))(x).shape == (3, 5)
    for i in range(3):  # each member's slice is that member's own output
        torch.testing.assert_close(fast(z)[i], g[i](z[i]))
    assert Stack([Generator(latent_dim=4, channels=2, image_size=32) for _ in range(2)]).batching == "vmap"
    with pytest.raises(ValueError, match="batching='vmap'"):
        Stack([Discriminator(channels=2, image_size=32)], batching="bmm")


def test_recogniser_with_margin_head_stacks_member_by_member():
    from facelab.losses.margin import get_head
    from facelab.models.recognition import FaceEmbedder

    def make(seed):
        torch.manual_seed(seed)
        return (FaceEmbedder(embedding_dim=8, channels=4, image_size=32, dropout=0.0),
                get_head("arcface", 8, 5, scale=16.0))

    pairs = [make(s) for s in (0, 1)]
    emb, head = Stack([p[0] for p in pairs]), Stack([p[1] for p in pairs])
    x, y = torch.randn(2, 6, 3, 32, 32), torch.randint(5, (2, 6))
    logits = head(emb(x, method="features"), y)  # train mode: each member's batch-norm statistics
    loss = torch.vmap(torch.nn.functional.cross_entropy)(logits, y)
    grads = torch.autograd.grad(loss.sum(), list(emb.params.values()))
    for i, (e, h) in enumerate(pairs):
        ref = torch.nn.functional.cross_entropy(h(e.features(x[i]), y[i]), y[i])
        assert loss[i].item() == pytest.approx(ref.item(), rel=1e-5)
        ref_grads = torch.autograd.grad(ref, list(e.parameters()))
        for g, r in zip(grads, ref_grads):
            torch.testing.assert_close(g[i], r, atol=1e-5, rtol=1e-4)
        for name, buf in e.named_buffers():  # running statistics updated per member
            torch.testing.assert_close(emb.buffers[name][i], buf)
