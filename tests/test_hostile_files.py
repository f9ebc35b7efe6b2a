"""Issue 16, security: planted files never run code.

* LFW is decoded without scikit-learn's ``joblib.Memory`` cache: a malicious ``output.pkl`` planted
  wherever that cache looked is never opened, and facelab's own cache of decoded faces is read with
  ``np.load(allow_pickle=False)`` (a planted pickle there is ignored and rewritten).
* torchvision's Inception weights: a file planted in the hub cache is refused by its hash (and by
  ``weights_only=True`` even when the hash is made to match), with a message that says so.
"""
import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from facelab.data import lfw, real
from facelab.metrics import gan
from test_real_data import _fake_lfw

_SLICE = (slice(70, 195), slice(63, 188))


class WritesAMarker:
    """Unpickles into "run a shell command": what a malicious cache or weight file does."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


@pytest.fixture(autouse=True)
def _fresh_memory():
    lfw.clear_lfw_memory()
    yield
    lfw.clear_lfw_memory()


def _populate_sklearn_cache(home: Path) -> list[Path]:
    """Run scikit-learn's own fetchers once, so its joblib cache exists where the old loader used it."""
    from sklearn.datasets import fetch_lfw_pairs, fetch_lfw_people

    for size in (32, 64):
        kwargs = dict(data_home=str(home), funneled=True, color=True, slice_=_SLICE, resize=(size + 0.5) / 125,
                      download_if_missing=False)
        fetch_lfw_people(min_faces_per_person=2, **kwargs)
        fetch_lfw_pairs(subset="10_folds", **kwargs)
    return sorted((home / "lfw_home" / "joblib").rglob("output.pkl"))


def test_planted_joblib_cache_of_lfw_never_runs(tmp_path):
    _fake_lfw(tmp_path)
    planted = _populate_sklearn_cache(tmp_path)
    assert len(planted) == 4  # people and pairs, at both sizes
    marker = tmp_path / "pwned"
    for path in planted:
        path.write_bytes(pickle.dumps(WritesAMarker(marker)))
    people = real.load_lfw_people(size=32, min_faces_per_person=2, data_home=tmp_path)
    pairs = real.load_lfw_pairs(size=64, data_home=tmp_path)
    real.load_lfw_people(size=64, min_faces_per_person=1, data_home=tmp_path)
    real.load_lfw_pairs(size=32, data_home=tmp_path)
    assert not marker.exists()
    assert people.images.shape == (5, 3, 32, 32) and len(pairs) == 20


def test_the_planted_joblib_cache_really_runs_in_scikit_learn(tmp_path):
    """The control: scikit-learn's fetcher, which the old loader called, runs the same planted file."""
    from sklearn.datasets import fetch_lfw_people

    _fake_lfw(tmp_path)
    marker = tmp_path / "pwned"
    for path in _populate_sklearn_cache(tmp_path):
        path.write_bytes(pickle.dumps(WritesAMarker(marker)))
    with pytest.raises(Exception):  # it runs the command, then fails to unpack the result
        fetch_lfw_people(data_home=str(tmp_path), funneled=True, color=True, slice_=_SLICE, resize=32.5 / 125,
                         min_faces_per_person=2, download_if_missing=False)
    assert marker.exists()


def test_faces_match_scikit_learns_decoder(tmp_path):
    """Same pixels, labels, names and order as scikit-learn's own (uncached) decoding functions."""
    from sklearn.datasets import _lfw as sklearn_lfw

    lfw_home = _fake_lfw(tmp_path)
    for size in (32, 64):
        faces, target, names = sklearn_lfw._fetch_lfw_people(
            str(lfw_home / "lfw_funneled"), slice_=_SLICE, color=True, resize=(size + 0.5) / 125,
            min_faces_per_person=1)
        ours = real.load_lfw_people(size=size, min_faces_per_person=1, data_home=tmp_path)
        assert torch.equal(ours.images, real.to_faces(faces, size))
        assert ours.labels.tolist() == target.tolist() and ours.names == list(names)
        pairs, same, _ = sklearn_lfw._fetch_lfw_pairs(str(lfw_home / "pairs.txt"), str(lfw_home / "lfw_funneled"),
                                                      slice_=_SLICE, color=True, resize=(size + 0.5) / 125)
        ours = real.load_lfw_pairs(size=size, data_home=tmp_path)
        assert torch.equal(ours.images_a, real.to_faces(pairs[:, 0], size))
        assert torch.equal(ours.images_b, real.to_faces(pairs[:, 1], size))
        assert ours.same.tolist() == (np.asarray(same) == 1).tolist()


def test_lfw_is_decoded_once_per_process_then_from_the_verified_disk_cache(tmp_path, monkeypatch):
    lfw_home = _fake_lfw(tmp_path)
    decoded = []
    decode = lfw.decode_faces
    monkeypatch.setattr(lfw, "decode_faces", lambda files, *a, **k: decoded.append(len(files)) or decode(files, *a, **k))
    first = real.load_lfw_people(size=32, min_faces_per_person=1, data_home=tmp_path)
    again = real.load_lfw_people(size=32, min_faces_per_person=1, data_home=tmp_path)
    assert decoded == [6] and torch.equal(first.images, again.images)
    again.images.zero_()  # a caller changing its copy does not change the next load
    lfw.clear_lfw_memory()  # a new process: read from the disk cache, not decoded
    from_disk = real.load_lfw_people(size=32, min_faces_per_person=1, data_home=tmp_path)
    assert decoded == [6] and torch.equal(first.images, from_disk.images) and from_disk.names == first.names
    # A damaged or planted cache entry is never unpickled: it is ignored and rewritten.
    marker = tmp_path / "pwned"
    (entry,) = (lfw_home / "facelab_cache").glob("people-32-*.npz")
    with np.load(entry) as genuine:
        key = genuine["key"]
    with open(entry, "wb") as out:  # the right key, but faces as an object array: reading them means unpickling
        np.savez(out, format=np.array(1), key=key, t_faces=np.array([WritesAMarker(marker)], dtype=object))
    lfw.clear_lfw_memory()
    assert torch.equal(real.load_lfw_people(size=32, min_faces_per_person=1, data_home=tmp_path).images,
                       first.images)
    assert decoded == [6, 6] and not marker.exists()
    # A changed image makes the cached faces stale.
    img = lfw_home / "lfw_funneled" / "Ada_Lovelace" / "Ada_Lovelace_0001.jpg"
    from PIL import Image
    Image.new("RGB", (250, 250), (0, 0, 0)).save(img)
    os.utime(img, ns=(1, 1))
    lfw.clear_lfw_memory()  # within a process the memory cache looks only at the folder's own time
    changed = real.load_lfw_people(size=32, min_faces_per_person=1, data_home=tmp_path)
    assert decoded == [6, 6, 6] and not torch.equal(changed.images, first.images)


# ----------------------------------------------------------------------------- Inception weights
def _hub_file(folder: Path, payload, name="inception_v3_google-0cc3c7bd.pth") -> Path:
    path = folder / "hub" / "checkpoints" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
    return path


def test_planted_inception_weights_never_run_and_say_why(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    marker = tmp_path / "pwned"
    _hub_file(tmp_path, {"fc.weight": torch.zeros(1), "payload": WritesAMarker(marker)})
    with pytest.raises(RuntimeError) as err:
        gan.inception_feature_extractor()
    message = str(err.value)
    assert "the published file's SHA-256 starts with 0cc3c7bd" in message and "was not loaded" in message
    assert "Delete it and run again" in message and "Could not download" not in message
    assert not marker.exists()


def test_weights_with_a_matching_hash_are_still_read_as_tensors_only(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"payload": WritesAMarker(marker)}, path)
    prefix = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
    path.rename(tmp_path / f"evil-{prefix}.pth")  # an attacker who controls the name too
    with pytest.raises(RuntimeError, match=r"hold more than tensors .*refused for safety, nothing in it ran"):
        gan._verified_state_dict(f"https://example.invalid/evil-{prefix}.pth", model_dir=tmp_path)
    assert not marker.exists()


def test_genuine_weights_load_and_build_the_feature_extractor(tmp_path):
    from torchvision import models

    state = models.inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict()
    path = tmp_path / "inception.pth"
    torch.save(state, path)
    prefix = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
    path.rename(tmp_path / f"inception-{prefix}.pth")
    network = gan.inception_feature_extractor(weights_url=f"https://example.invalid/inception-{prefix}.pth",
                                              model_dir=tmp_path)
    loaded = network.inception.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items() if not k.startswith("fc."))
    features = gan.extract_features(network, torch.rand(2, 3, 32, 32) * 2 - 1)
    assert features.shape == (2, 2048) and torch.isfinite(features).all()


def test_missing_weights_offline_say_could_not_download(tmp_path):
    with pytest.raises(RuntimeError, match=r"Could not download the weights .*Offline, compute the features"):
        gan._verified_state_dict("https://example.invalid/inception-0123abcd.pth", model_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
