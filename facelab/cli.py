"""The ``facelab`` command line: environment information and long training runs.

    facelab info                       # versions, profile and device
    facelab train-gan --steps 20000    # train the chapter-03 DCGAN, resuming from its checkpoint
"""
from __future__ import annotations

import argparse
import sys


def _info(args: argparse.Namespace) -> int:
    import facelab

    print(facelab.banner(facelab.get_profile(args.profile)))
    return 0


def _train_gan(args: argparse.Namespace) -> int:
    import facelab
    from facelab.experiments.face_gan import train_face_gan

    profile = facelab.get_profile(args.profile)
    print(facelab.banner(profile))
    run = train_face_gan(profile, loss=args.loss, steps=args.steps, seed=args.seed,
                         checkpoint_path=args.checkpoint)
    history = run.history
    print(f"trained to step {history.step[-1]}: D(x) {history.d_real[-1]:.3f}, D(G(z)) {history.d_fake[-1]:.3f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="facelab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="print versions, profile and device")
    info.add_argument("--profile", default=None, help="quick or full (default: automatic)")
    info.set_defaults(func=_info)
    gan = sub.add_parser("train-gan", help="train the face DCGAN of chapter 03")
    gan.add_argument("--profile", default=None, help="quick or full (default: automatic)")
    gan.add_argument("--loss", default="nonsaturating", help="GAN objective (see facelab.losses.GAN_LOSSES)")
    gan.add_argument("--steps", type=int, default=None, help="generator updates (default: the profile's)")
    gan.add_argument("--seed", type=int, default=0)
    gan.add_argument("--checkpoint", default=None, help="checkpoint file; training resumes from it if it exists")
    gan.set_defaults(func=_train_gan)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
