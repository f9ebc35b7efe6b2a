"""Issue 13 item 3: why WGAN-GP covers 0/8 ring modes in chapter 2, over 5 batched seeds.

Run: nice -n 10 .venv/bin/python benchmarks/wgan_gp_ring.py 1000 chapter paper   (wide: a 256x3 critic)
"""
import json, sys, time, dataclasses
import torch
from facelab.data.toy import ring_2d, modes_covered, high_quality_fraction
from facelab.experiments.toy import toy_settings
from facelab.baselines.toy_ensemble import train_toy_gan_ensemble
ring = ring_2d()
seeds = [0, 1, 2, 3, 4]
steps = int(sys.argv[1]); which = sys.argv[2:]
out = {}
def summarise(name, ens, groups):
    for gi, label in enumerate(groups):
        ms, qs, ds = [], [], []
        for i in range(gi * len(seeds), (gi + 1) * len(seeds)):
            x = ens.histories[i].samples[-1]
            ms.append(modes_covered(x, ring)); qs.append(high_quality_fraction(x, ring))
            ds.append(torch.cdist(x, ring.means).min(1).values.median().item())
        out[f"{name} {label}"] = dict(modes=ms, quality=qs, median_dist=ds, seconds=ens.seconds)
        print(f"{name} {label}: modes {ms} mean {sum(ms)/5:.1f}; quality {[round(q,2) for q in qs]}; median dist to mode {[round(d,3) for d in ds]}; {ens.seconds:.0f}s", flush=True)
for w in which:
    if w == "chapter":   # chapter 2's optimiser: lr 1.5e-3, betas (0.5, 0.999); lambda 10 vs 0.1
        st = toy_settings(ring)
        ens = train_toy_gan_ensemble(ring, "wgan-gp", seeds=seeds * 2, steps=steps, settings=st, gp_weight=[10.0]*5 + [0.1]*5)
        summarise("lr1.5e-3 b(0.5,0.999)", ens, ["lambda=10", "lambda=0.1"])
    if w == "paper":     # Gulrajani et al.: Adam lr 1e-4, betas (0.5, 0.9); and lr 1e-3
        st = toy_settings(ring, beta2=0.9)
        ens = train_toy_gan_ensemble(ring, "wgan-gp", seeds=seeds * 4, steps=steps, settings=st,
                                     lrs=[1e-4]*10 + [1e-3]*10, gp_weight=([10.0]*5 + [0.1]*5) * 2)
        summarise("b(0.5,0.9)", ens, ["lr1e-4 lambda=10", "lr1e-4 lambda=0.1", "lr1e-3 lambda=10", "lr1e-3 lambda=0.1"])
    if w == "wide":      # critic/generator capacity: hidden 256 (the toy repo uses 256-512, 3 hidden layers)
        st = toy_settings(ring, beta2=0.9, hidden=256, depth=3)
        ens = train_toy_gan_ensemble(ring, "wgan-gp", seeds=seeds * 2, steps=steps, settings=st,
                                     lrs=[1e-4]*5 + [1e-3]*5, gp_weight=0.1)
        summarise("wide256x3 b(0.5,0.9) lambda=0.1", ens, ["lr1e-4", "lr1e-3"])
json.dump(out, open(f"benchmarks/wgan_gp_ring_{steps}.json", "w"), indent=1)
