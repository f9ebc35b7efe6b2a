"""Plotting helpers: each returns a matplotlib Figure (and never shows it)."""
import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure

from facelab import plotting
from facelab.data.toy import mixture_1d
from facelab.train.gan import GANHistory


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def history(probabilistic=True):
    steps = list(range(10, 110, 10))
    return GANHistory(step=steps, loss_d=[1.0] * 10, loss_g=[0.7] * 10, d_real=[0.6] * 10, d_fake=[0.4] * 10,
                      sample_steps=[50, 100], samples=[torch.zeros(4, 3, 8, 8)] * 2, probabilistic=probabilistic)


def test_to_image_maps_minus_one_one_to_unit_range():
    grid = plotting.to_image(torch.tensor([-1.0, 1.0]).view(2, 1, 1, 1).expand(2, 3, 4, 4), nrow=2, padding=0)
    assert grid.shape == (4, 8, 3)
    assert grid.min() == 0.0 and grid.max() == 1.0


def test_show_images():
    assert isinstance(plotting.show_images(torch.rand(10, 3, 8, 8) * 2 - 1, nrow=5, title="t"), Figure)
    fig, ax = plt.subplots()
    assert plotting.show_images(torch.zeros(2, 3, 8, 8), ax=ax) is fig


def test_show_image_rows():
    fig = plotting.show_image_rows([torch.zeros(3, 3, 8, 8), torch.ones(2, 3, 8, 8)], ["a", "b"])
    assert isinstance(fig, Figure) and len(fig.axes) == 2


@pytest.mark.parametrize("probabilistic", [True, False])
def test_plot_gan_history(probabilistic):
    assert isinstance(plotting.plot_gan_history(history(probabilistic), title="run"), Figure)


def test_plot_density_1d():
    mixture = mixture_1d()
    grid = torch.linspace(-4, 4, 50)
    p = mixture.pdf(grid)
    assert isinstance(plotting.plot_density_1d(grid, p), Figure)
    fig = plotting.plot_density_1d(grid, p, p_model=p, discriminator=torch.full((50,), 0.5),
                                   samples=mixture.sample(100), title="t")
    assert isinstance(fig, Figure)


def test_plot_samples_2d_and_panels():
    real, fake = torch.randn(20, 2), torch.randn(20, 2)
    assert isinstance(plotting.plot_samples_2d(real, fake, title="t"), Figure)
    fig = plotting.plot_panels(lambda item, ax, title: plotting.plot_samples_2d(*item, ax=ax, title=title),
                               [(real, fake)] * 3, ["a", "b", "c"], ncols=2)
    assert isinstance(fig, Figure) and len(fig.axes) == 4


def test_live_gan_plot_runs_outside_a_notebook():
    live = plotting.LiveGANPlot(max_images=4)
    live(history(), 100)
    live(history(), 100)  # the second call updates the same display


def test_live_gan_plot_frame_names_its_step_and_total():
    live = plotting.LiveGANPlot(max_images=4, total_steps=1000)
    frame = live.frame(history(), 1000)
    assert 'data-live-step="1000"' in frame["text/html"] and 'data-live-total="1000"' in frame["text/html"]
    assert frame["text/plain"] == "Live training plot, step 1,000 of 1,000"
    import base64
    assert base64.b64decode(frame["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"


def test_book_style_narrows_wide_figures_to_the_page_and_keeps_fonts_readable():
    from facelab import style
    fig, _ = plt.subplots(1, 3, figsize=(13, 4))
    width, height = fig.get_size_inches()
    assert width == style.PAGE_WIDTH_IN and height == pytest.approx(4 * (style.PAGE_WIDTH_IN / 13) ** 0.5)
    fig.axes[0].set_title("small", fontsize=7)
    fig.canvas.draw()
    assert fig.axes[0].title.get_fontsize() == style.MIN_FONT_PT  # raised when drawn
    narrow, _ = plt.subplots(figsize=(4, 3))
    assert tuple(narrow.get_size_inches()) == (4, 3)  # figures that fit are left alone
    from matplotlib import rcParams
    from matplotlib.font_manager import FontProperties
    for key in ("font.size", "axes.labelsize", "axes.titlesize", "xtick.labelsize", "ytick.labelsize",
                "legend.fontsize"):
        assert FontProperties(size=rcParams[key]).get_size_in_points() >= style.MIN_FONT_PT, key


def test_plot_panels_puts_at_most_three_side_by_side():
    real, fake = torch.randn(20, 2), torch.randn(20, 2)
    draw = lambda item, ax, title: plotting.plot_samples_2d(*item, ax=ax, title=title)  # noqa: E731
    five = plotting.plot_panels(draw, [(real, fake)] * 5, list("abcde"))
    assert len({round(ax.get_position().x0, 3) for ax in five.axes}) == 3  # 3 columns, 2 rows
    four = plotting.plot_panels(draw, [(real, fake)] * 4, list("abcd"))
    assert len({round(ax.get_position().x0, 3) for ax in four.axes}) == 2
    with pytest.raises(ValueError, match="ncols <= 3"):
        plotting.plot_panels(draw, [(real, fake)] * 5, list("abcde"), ncols=5)


def test_nbval_stores_the_last_frame_of_a_live_display():
    """chapters/conftest.py applies update_display_data (which nbval drops) to the output it updates."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "facelab_chapters_conftest", Path(__file__).resolve().parents[1] / "chapters" / "conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    import sys
    sys.modules[spec.name] = conftest  # its dataclasses look their module up
    spec.loader.exec_module(conftest)
    updates, outputs = conftest.DisplayUpdates(), []

    def message(kind, step, display_id="live"):
        return {"msg_type": kind, "content": {"data": {"text/plain": f"step {step}"}, "metadata": {},
                                              "transient": {"display_id": display_id}}}

    updates.observe(message("display_data", 200), outputs)
    outputs.append({"output_type": "display_data", "data": {"text/plain": "step 200"}, "metadata": {}})
    for step in (400, 1000):
        updates.observe(message("update_display_data", step), outputs)
    updates.observe(message("update_display_data", 5, display_id="another"), outputs)  # unknown id: ignored
    assert [out["data"]["text/plain"] for out in outputs] == ["step 1000"]
