"""Checkpoints: round trip, atomic writes, clear errors, and no code execution on load."""
import os

import pytest
import torch

from facelab.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state

CALLED = []  # set by _payload if a checkpoint ever manages to run code


def _payload(*args):
    CALLED.append(args)
    return 0


class Exploit:
    """Pickles to "call _payload() when loaded": what a malicious checkpoint does."""

    def __reduce__(self):
        return (_payload, ("pwned",))


def test_round_trip(tmp_path):
    state = {"weights": torch.arange(6.0).reshape(2, 3), "step": 7, "config": {"loss": "hinge", "lr": 2e-4},
             "history": {"loss_d": [0.5, 0.25], "samples": [torch.zeros(2, 3)]}, "path": None}
    path = save_checkpoint(tmp_path / "sub" / "ckpt.pt", state)  # parent folders are created
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["weights"], state["weights"])
    assert loaded["step"] == 7 and loaded["config"] == state["config"] and loaded["path"] is None
    assert loaded["history"]["loss_d"] == [0.5, 0.25]
    assert torch.equal(loaded["history"]["samples"][0], torch.zeros(2, 3))


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"step": 1})
    save_checkpoint(path, {"step": 2})  # overwrite in place
    assert sorted(os.listdir(tmp_path)) == ["ckpt.pt"]
    assert load_checkpoint(path)["step"] == 2


def test_failed_write_keeps_the_old_checkpoint_and_no_temporary_file(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"step": 1})
    with pytest.raises(Exception):
        save_checkpoint(path, {"step": 2, "bad": lambda: None})  # lambdas cannot be pickled
    assert sorted(os.listdir(tmp_path)) == ["ckpt.pt"]
    assert load_checkpoint(path)["step"] == 1


def test_truncated_file_gives_a_clear_error(tmp_path):
    path = save_checkpoint(tmp_path / "ckpt.pt", {"weights": torch.randn(100, 100)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RuntimeError, match="truncated, corrupt"):
        load_checkpoint(path)


def test_missing_file_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        load_checkpoint(tmp_path / "nothing.pt")


def test_checkpoint_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"step": 1, "surprise": Exploit()}, path)  # a plain torch.save pickles the exploit
    CALLED.clear()
    with pytest.raises(RuntimeError, match="refused for safety"):
        load_checkpoint(path)
    assert CALLED == []  # the payload never ran
    torch.load(path, weights_only=False)  # the unsafe way: proves the file really carries code
    assert CALLED == [("pwned",)]


def test_rng_state_round_trip():
    state = rng_state()
    first = torch.rand(3)
    set_rng_state(state)
    assert torch.equal(torch.rand(3), first)
