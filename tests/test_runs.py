"""Runs named by their settings: reuse across chapters, resume after a disconnect."""

import torch

from facelab.experiments.face_gan import train_face_gan
from facelab.experiments.recognition import recognition_split, train_face_recognizer
from facelab.profile import get_profile
from facelab.runs import run_checkpoint_path, run_key, reuse_runs, runs_dir

TINY = get_profile("quick").replace(num_identities=8, images_per_identity=4, latent_dim=8, gan_channels=4,
                                    gan_batch_size=8, gan_steps=4, sample_every=2, embedding_dim=8,
                                    recognizer_channels=4, recognizer_batch_size=8, recognizer_steps=3)


def test_run_key_is_order_independent_and_sensitive_to_every_setting():
    assert run_key(TINY, a=1, b=2) == run_key(TINY, b=2, a=1)
    assert run_key(TINY, a=1) != run_key(TINY, a=2)
    assert run_key(TINY, a=1) != run_key(TINY.replace(gan_channels=8), a=1)
    assert len(run_key(TINY)) == 12


def test_quick_runs_are_reused_only_when_the_runs_dir_is_set(monkeypatch, tmp_path):
    monkeypatch.delenv("FACELAB_RUNS_DIR", raising=False)
    assert not reuse_runs(TINY) and reuse_runs(get_profile("full"))
    assert runs_dir().name == "facelab_runs"
    monkeypatch.setenv("FACELAB_RUNS_DIR", str(tmp_path))
    assert reuse_runs(TINY) and runs_dir() == tmp_path
    assert run_checkpoint_path("dcgan", TINY, seed=0).parent == tmp_path


def test_a_finished_gan_run_is_reused_with_its_weights_and_history(monkeypatch, tmp_path):
    monkeypatch.setenv("FACELAB_RUNS_DIR", str(tmp_path))
    first = train_face_gan(TINY, progress=False)
    assert first.checkpoint_path is not None and first.checkpoint_path.parent == tmp_path
    mtime = first.checkpoint_path.stat().st_mtime_ns
    again = train_face_gan(TINY, progress=False)
    assert again.checkpoint_path == first.checkpoint_path
    assert first.checkpoint_path.stat().st_mtime_ns == mtime, "a finished run is not trained or saved again"
    assert again.history.loss_d == first.history.loss_d and again.history.step[-1] == TINY.gan_steps
    for a, b in zip(first.generator.state_dict().values(), again.generator.state_dict().values()):
        assert torch.equal(a.cpu(), b.cpu())
    other = train_face_gan(TINY, progress=False, lr_g=1e-4)  # another setting, another run
    assert other.checkpoint_path != first.checkpoint_path
    assert len(list(tmp_path.glob("dcgan_nonsaturating_quick_*.pt"))) == 2


def test_gan_runs_with_callbacks_or_own_data_are_not_reused(monkeypatch, tmp_path):
    monkeypatch.setenv("FACELAB_RUNS_DIR", str(tmp_path))
    calls = []
    run = train_face_gan(TINY, progress=False, callbacks=[lambda history, step: calls.append(step)])
    assert run.checkpoint_path is None and calls == [2, 4]
    data = torch.rand(16, 3, TINY.image_size, TINY.image_size) * 2 - 1
    assert train_face_gan(TINY, data=data, progress=False).checkpoint_path is None
    assert not list(tmp_path.iterdir())


def test_a_finished_recognizer_run_is_reused(monkeypatch, tmp_path):
    monkeypatch.setenv("FACELAB_RUNS_DIR", str(tmp_path))
    split = recognition_split(TINY, seed=0, num_pairs=20)
    first = train_face_recognizer(TINY, head="arcface", data=split, progress=False)
    path = first.config.checkpoint_path
    assert path and str(tmp_path) in path and "recognizer_arcface_quick" in path
    again = train_face_recognizer(TINY, head="arcface", data=recognition_split(TINY, seed=0, num_pairs=20),
                                  progress=False)
    assert again.config.checkpoint_path == path
    for a, b in zip(first.embedder.state_dict().values(), again.embedder.state_dict().values()):
        assert torch.equal(a.cpu(), b.cpu())
    assert train_face_recognizer(TINY, head="softmax", data=split, progress=False).config.checkpoint_path != path
    split.key = ""  # a hand-made split cannot be named, so its runs are not reused
    assert train_face_recognizer(TINY, head="arcface", data=split, progress=False).config.checkpoint_path is None


def test_a_live_plot_does_not_stop_reuse(monkeypatch, tmp_path):
    from facelab.plotting import LiveGANPlot

    monkeypatch.setenv("FACELAB_RUNS_DIR", str(tmp_path))
    assert train_face_gan(TINY, progress=False, callbacks=[LiveGANPlot()]).checkpoint_path is not None


def test_settings_that_do_not_change_the_run_stay_out_of_its_name():
    from facelab.runs import settings_checkpoint_path

    base = settings_checkpoint_path("dcgan", TINY, {"steps": 4, "seed": 0})
    assert settings_checkpoint_path("dcgan", TINY, {"steps": 4, "seed": 0, "progress": False, "max_steps": 2,
                                                    "checkpoint_every": 5}) == base
    assert settings_checkpoint_path("dcgan", TINY, {"steps": 5, "seed": 0}) != base
    assert settings_checkpoint_path("dcgan", TINY, {"steps": 4, "seed": 0}, head="arcface") != base


def test_the_documented_path_is_the_file_the_run_writes(monkeypatch, tmp_path):
    from facelab.experiments.face_gan import default_checkpoint_path

    monkeypatch.setenv("FACELAB_RUNS_DIR", str(tmp_path))
    documented = default_checkpoint_path(TINY, "nonsaturating", 0, lr_g=1e-4)
    run = train_face_gan(TINY, progress=False, lr_g=1e-4)
    assert run.checkpoint_path == documented
    assert [p.name for p in tmp_path.iterdir()] == [documented.name]  # the file written, and nothing else


def test_different_data_never_reuses_a_run(monkeypatch, tmp_path, capsys):
    import dataclasses

    from facelab.runs import data_key, run_plan

    monkeypatch.setenv("FACELAB_RUNS_DIR", str(tmp_path))
    split = recognition_split(TINY, seed=0, num_pairs=20)
    first = train_face_recognizer(TINY, head="arcface", data=split, progress=False)
    assert "Reusing" not in capsys.readouterr().out
    # the same split key (chapter 5's four conditions) with other training images: another run
    other_images = split.train.subset(torch.arange(len(split.train)).flip(0))
    other_images.images = other_images.images.flip(-1)
    changed = dataclasses.replace(split, train=other_images)
    second = train_face_recognizer(TINY, head="arcface", data=changed, progress=False)
    assert second.config.checkpoint_path != first.config.checkpoint_path
    assert "Reusing" not in capsys.readouterr().out
    # the same data again is reused, and the message says so in words, with no path of this machine
    train_face_recognizer(TINY, head="arcface", data=split, progress=False)
    out = capsys.readouterr().out
    assert "Reusing the finished arcface recogniser run" in out and str(tmp_path) not in out and ".pt" not in out
    # the full profile keys any data by its content: another folder or a fallback source is another run
    full = get_profile("full")
    faces = torch.rand(8, 3, 8, 8) * 2 - 1
    plans = {run_plan("dcgan", full, {"steps": 4}, data)["checkpoint_path"]
             for data in (faces, faces.flip(-1), faces[:4], faces.clone())}
    assert len(plans) == 3 and data_key(faces) == data_key(faces.clone()) and data_key(iter([faces])) is None
