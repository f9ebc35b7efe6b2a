"""Interactive explorers for notebooks (``ipywidgets`` is imported lazily).

The package works without ipywidgets; only these functions need it. In a static
page (the rendered book) a widget has no kernel behind it, so each chapter also
shows a static figure of the same walk.
"""
from __future__ import annotations

import torch

from .latent import latent_directions, slerp
from .plotting import show_images
from .models.sampling import sample


def _ipywidgets():
    try:
        import ipywidgets
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("The explorers need ipywidgets: pip install ipywidgets") from err
    return ipywidgets


def latent_explorer(generator: torch.nn.Module, num_directions: int = 4, seed: int = 0, nrow: int = 8):
    """Sliders over a generator's latent space.

    ``num_directions`` sliders move a base latent vector along orthonormal
    directions; a ninth control interpolates (spherically) between two random
    samples ``A`` and ``B``; a button draws new ones.

    Args:
        generator: a trained generator with ``latent_dim`` and ``sample_latent``.
        num_directions: how many direction sliders.
        seed: seed of the first pair of samples and of the directions.

    Returns:
        An ``ipywidgets.VBox`` to display.
    """
    widgets = _ipywidgets()
    import matplotlib.pyplot as plt
    from IPython.display import display

    device = next(generator.parameters()).device
    directions = latent_directions(generator.latent_dim, num_directions, seed).to(device)
    g = torch.Generator().manual_seed(seed)
    state = {"a": generator.sample_latent(1, generator=g)[0].to(device),
             "b": generator.sample_latent(1, generator=g)[0].to(device)}

    sliders = [widgets.FloatSlider(value=0.0, min=-3.0, max=3.0, step=0.25, description=f"direction {i + 1}",
                                   continuous_update=False) for i in range(num_directions)]
    mix = widgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05, description="A → B", continuous_update=False)
    redraw = widgets.Button(description="new A and B")
    out = widgets.Output()

    def render(*_):
        z = slerp(state["a"], state["b"], mix.value)[0]
        for slider, direction in zip(sliders, directions):
            z = z + slider.value * direction
        path = slerp(state["a"], state["b"], torch.linspace(0, 1, nrow, device=device))
        images = torch.cat([sample(generator, z[None]), sample(generator, path)])
        with out:
            out.clear_output(wait=True)
            for fig in (show_images(images[:1], nrow=1, title="current", scale=2.0),
                        show_images(images[1:], nrow=nrow, title="path from A to B")):
                display(fig)
                plt.close(fig)

    def new_pair(_):
        state["a"] = generator.sample_latent(1, generator=g)[0].to(device)
        state["b"] = generator.sample_latent(1, generator=g)[0].to(device)
        render()

    for control in sliders + [mix]:
        control.observe(render, names="value")
    redraw.on_click(new_pair)
    render()
    return widgets.VBox([widgets.HBox([mix, redraw]), *sliders, out])
