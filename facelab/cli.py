"""The ``facelab`` command line: environment information, long training runs and the benchmark.

    facelab info                                     # versions, profile and device
    facelab train-gan --profile full --steps 20000 --checkpoint runs/dcgan.pt --out runs/dcgan
    facelab train-recognizer --data lfw --checkpoint runs/arcface.pt
    facelab bench --sizes quick,full --out bench.json
    torchrun --nproc_per_node=4 -m facelab.cli train-gan --profile full --checkpoint runs/dcgan.pt

A training command resumes from ``--checkpoint`` when that file exists, so a run that was
interrupted continues where it stopped when the same command is given again. Under
``torchrun`` each process trains on its share of the data with DistributedDataParallel
(``facelab.train.distributed``); only rank 0 prints and writes files.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

DATA_CHOICES = ("synthetic", "lfw", "celeba")
PROFILE_CHOICES = ("quick", "full")
#: Errors of facelab's own checks, printed as one line (``FACELAB_DEBUG=1`` shows the traceback instead).
USER_ERRORS = (ValueError, OSError, RuntimeError, FloatingPointError, TypeError)


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (``--steps 0`` used to run the profile's whole length)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}; leave the option out to use "
                                         "the profile's value")
    return value


def _device_name(text: str) -> str:
    """argparse type: ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (a typo used to surface as torch's raw error)."""
    name = text.strip().lower()
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", name):
        raise argparse.ArgumentTypeError(f"unknown device {text!r}; expected cpu, cuda, cuda:N (a GPU index) or mps")
    return name


def _info(args: argparse.Namespace) -> int:
    import facelab

    print(facelab.banner(facelab.get_profile(args.profile)))
    return 0


# ----------------------------------------------------------------------------- shared set-up
def _profile(args: argparse.Namespace, batch_field: str):
    import facelab

    profile = facelab.get_profile(args.profile)
    changes: dict[str, Any] = {}
    if args.image_size is not None:
        changes["image_size"] = args.image_size
    if args.batch_size is not None:
        changes[batch_field] = args.batch_size
    if args.num_identities is not None:
        changes["num_identities"] = args.num_identities
    return profile.replace(**changes)


def load_faces(data: str, size: int, *, num_identities: int, images_per_identity: int, seed: int = 0,
               min_faces_per_person: int = 0):
    """The faces named by ``--data``: ``synthetic``, ``lfw``, ``celeba`` or a folder path.

    Args:
        data: the source; a path is read with :func:`facelab.data.real.load_image_folder`
            (one sub-folder per person).
        size: image side in pixels.
        num_identities: identities of the synthetic faces.
        images_per_identity: images per synthetic identity.
        seed: dataset seed of the synthetic faces.
        min_faces_per_person: LFW only, keep people with at least this many images.

    Returns:
        A ``FaceTensorDataset``.

    Raises:
        FileNotFoundError: ``data`` is neither a known source nor an existing folder.
    """
    from facelab.data.faces import load_faces as load

    try:
        return load(data, size, num_identities=num_identities, images_per_identity=images_per_identity,
                    min_faces_per_person=min_faces_per_person, seed=seed)
    except FileNotFoundError as err:
        if Path(data).expanduser().is_dir() or data.strip().lower() in DATA_CHOICES:
            raise
        raise FileNotFoundError(f"--data {data!r} is neither one of {DATA_CHOICES} nor an existing folder; pass "
                                "--data synthetic, lfw or celeba, or the path of a folder with one sub-folder per "
                                "person.") from err


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")


# ----------------------------------------------------------------------------- train-gan
def _train_gan(args: argparse.Namespace) -> int:
    import torch

    import facelab
    from facelab.models.zoo import build_dcgan
    from facelab.train.distributed import distributed_session
    from facelab.train.fast import decide_fast_path
    from facelab.train.gan import GANTrainConfig, sample, train_gan

    profile = _profile(args, "gan_batch_size")
    with distributed_session(args.device) as (context, device):
        say = print if context.is_main else (lambda *a, **k: None)
        say(facelab.banner(profile, device))
        faces = load_faces(args.data, profile.image_size, num_identities=profile.num_identities,
                           images_per_identity=profile.images_per_identity, seed=args.seed)
        config = GANTrainConfig(loss=args.loss, steps=args.steps if args.steps is not None else profile.gan_steps,
                                batch_size=profile.gan_batch_size, sample_every=profile.sample_every,
                                seed=args.seed, checkpoint_path=args.checkpoint,
                                checkpoint_every=args.checkpoint_every, compile=args.compile,
                                progress=not args.no_progress)
        say(f"{len(faces)} faces ({args.data}), fast path: {decide_fast_path(device, compile=args.compile).describe()}")
        if args.checkpoint and Path(args.checkpoint).exists():
            say(f"resuming from {args.checkpoint}")
        facelab.seed_everything(args.seed)  # the initial weights
        generator, discriminator = build_dcgan(profile)
        history = train_gan(generator, discriminator, faces, config, device=device)
        if context.is_main and history.step:
            say(f"trained to step {history.step[-1]}: loss_d {history.loss_d[-1]:.3f}, loss_g "
                f"{history.loss_g[-1]:.3f}, D(x) {history.d_real[-1]:.3f}, D(G(z)) {history.d_fake[-1]:.3f}")
        if context.is_main and args.out:
            from torchvision.utils import save_image

            out = Path(args.out)
            z = generator.sample_latent(64, generator=torch.Generator().manual_seed(args.seed)).to(device)
            out.mkdir(parents=True, exist_ok=True)
            save_image(sample(generator, z).cpu() * 0.5 + 0.5, out / "samples.png", nrow=8)
            record = {k: v for k, v in history.to_dict().items() if k != "samples"}
            _write_json(out / "history.json", record)
            say(f"wrote {out / 'samples.png'} and {out / 'history.json'}")
    return 0


# ----------------------------------------------------------------------------- train-recognizer
def _train_recognizer(args: argparse.Namespace) -> int:
    import facelab
    from facelab.models.zoo import HEAD_OPTIONS, build_recognizer
    from facelab.train.distributed import distributed_session
    from facelab.train.fast import decide_fast_path
    from facelab.train.recognition import RecognizerTrainConfig, train_recognizer

    head_name = args.head  # argparse checked it against HEAD_OPTIONS
    profile = _profile(args, "recognizer_batch_size")
    with distributed_session(args.device) as (context, device):
        say = print if context.is_main else (lambda *a, **k: None)
        say(facelab.banner(profile, device))
        faces = load_faces(args.data, profile.image_size, num_identities=profile.num_identities,
                           images_per_identity=profile.images_per_identity, seed=args.seed,
                           min_faces_per_person=20)
        config = RecognizerTrainConfig(steps=args.steps if args.steps is not None else profile.recognizer_steps,
                                       batch_size=profile.recognizer_batch_size, seed=args.seed,
                                       eval_every=max(1, profile.sample_every), checkpoint_path=args.checkpoint,
                                       checkpoint_every=args.checkpoint_every, compile=args.compile,
                                       progress=not args.no_progress)
        say(f"{len(faces)} faces of {faces.num_identities} people ({args.data}), fast path: "
            f"{decide_fast_path(device, compile=args.compile, cpu_channels_last=True).describe()}")
        if args.checkpoint and Path(args.checkpoint).exists():
            say(f"resuming from {args.checkpoint}")
        facelab.seed_everything(args.seed)  # the initial weights
        embedder, head = build_recognizer(profile, head_name, faces.num_identities, **HEAD_OPTIONS[head_name])
        history = train_recognizer(embedder, head, faces, config, device=device)
        if context.is_main and history.step:
            say(f"trained to step {history.step[-1]}: loss {history.loss[-1]:.3f}, "
                f"training accuracy {history.accuracy[-1]:.3f}")
        if context.is_main and args.out:
            out = Path(args.out)
            _write_json(out / "history.json", history.to_dict())
            say(f"wrote {out / 'history.json'}")
    return 0


# ----------------------------------------------------------------------------- the parser
def _add_training_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--profile", default=None, choices=PROFILE_CHOICES, help="default: full with a GPU, else quick")
    parser.add_argument("--data", default="synthetic",
                        help="synthetic, lfw, celeba, or a folder with one sub-folder per person (default: synthetic)")
    parser.add_argument("--image-size", type=int, default=None, choices=(32, 64),
                        help="image side in pixels (default: the profile's)")
    parser.add_argument("--steps", type=_positive_int, default=None, help=f"{what} (default: the profile's)")
    parser.add_argument("--batch-size", type=_positive_int, default=None,
                        help="batch size per process (default: the profile's)")
    parser.add_argument("--num-identities", type=_positive_int, default=None,
                        help="synthetic data only: number of people (default: the profile's)")
    parser.add_argument("--checkpoint", default=None, help="checkpoint file; training resumes from it if it exists")
    parser.add_argument("--checkpoint-every", type=_positive_int, default=1000, help="steps between checkpoints")
    parser.add_argument("--out", default=None, help="folder for the results (history, samples)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", type=_device_name, default=None, help="cpu, cuda, cuda:1, mps (default: automatic)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the models (pays on long runs)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    """The ``facelab`` argument parser and its sub-commands."""
    from facelab import __version__, bench
    from facelab.losses.gan import GAN_LOSSES
    from facelab.models.zoo import HEAD_OPTIONS

    parser = argparse.ArgumentParser(prog="facelab", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"facelab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="print versions, profile and device")
    info.add_argument("--profile", default=None, choices=PROFILE_CHOICES, help="default: full with a GPU, else quick")
    info.set_defaults(func=_info)
    gan = sub.add_parser("train-gan", help="train the face DCGAN of chapter 03")
    _add_training_options(gan, "generator updates")
    gan.add_argument("--loss", default="nonsaturating", choices=sorted(GAN_LOSSES), help="GAN objective")
    gan.set_defaults(func=_train_gan)
    rec = sub.add_parser("train-recognizer", help="train the face recogniser of chapter 04")
    _add_training_options(rec, "optimisation steps")
    rec.add_argument("--head", default="arcface", type=str.lower, choices=sorted(HEAD_OPTIONS),
                     help="classification head (default: arcface)")
    rec.set_defaults(func=_train_recognizer)
    bench_parser = sub.add_parser("bench", help="time facelab's training loops against a plain PyTorch loop")
    bench.add_arguments(bench_parser)
    bench_parser.set_defaults(func=bench.run_from_args)
    return parser


def _check_outputs(args: argparse.Namespace) -> None:
    """Fail before any training when ``--out`` or ``--checkpoint`` cannot be written (issue 16, case 7)."""
    from facelab.train.loop import check_writable

    out = getattr(args, "out", None)
    if out:
        if Path(out).exists() and not Path(out).is_dir():
            raise SystemExit(f"--out {out} is a file; expected a folder for samples.png and history.json. Pass a "
                             "folder (it is created if missing).")
        try:
            check_writable(Path(out) / "history.json", what="output")
        except OSError as err:
            raise SystemExit(str(err)) from None
    checkpoint = getattr(args, "checkpoint", None)
    if checkpoint:
        try:
            check_writable(Path(checkpoint))
        except OSError as err:
            raise SystemExit(f"--checkpoint: {err}") from None


def _check_data(args: argparse.Namespace) -> None:
    """``--data`` names a known source or an existing folder; say which before anything is loaded."""
    data = getattr(args, "data", None)
    if data and data.strip().lower() not in DATA_CHOICES and not Path(data).expanduser().is_dir():
        raise SystemExit(f"--data {data!r}: expected synthetic, lfw or celeba, or a folder with one sub-folder per "
                         f"person; {Path(data).expanduser()} is no folder.")


def main(argv: list[str] | None = None) -> int:
    """Run one command. Errors of facelab's checks print as one line naming the cause and the fix."""
    args = build_parser().parse_args(argv)
    if args.func in (_train_gan, _train_recognizer):
        _check_data(args)
        _check_outputs(args)
    try:
        return args.func(args)
    except USER_ERRORS as err:
        if os.environ.get("FACELAB_DEBUG"):
            raise
        raise SystemExit(f"facelab {args.command}: {type(err).__name__}: {err}\n"
                         "(set FACELAB_DEBUG=1 to see the traceback)") from None


if __name__ == "__main__":
    sys.exit(main())
