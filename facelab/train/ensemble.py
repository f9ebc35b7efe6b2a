"""Ensembles as one computation: K independent copies of a model trained by one batched program.

Small models are overhead-bound on a CPU: a toy GAN step launches a few hundred tiny
operations, and their cost barely depends on the batch. Training K copies *as one
model* pays the per-operation overhead once for all K. The tools (PyTorch's
``torch.func``; see https://pytorch.org/docs/stable/func.html and the tutorial
"Model ensembling", https://pytorch.org/tutorials/intermediate/ensembling.html):

* :func:`torch.func.stack_module_state` turns K modules of the same architecture into
  one dict of stacked parameters ``(K, ...)`` (and buffers);
* :func:`torch.func.functional_call` runs a module with given parameters;
* :func:`torch.vmap` maps that call over the leading ``K`` dimension, so every layer
  becomes one batched operation (a linear layer becomes one ``bmm``).

The members stay independent: the ensemble's loss is the *sum* of the members' losses,
so the gradient with respect to member k's stacked slice is exactly member k's gradient.
:class:`StackedAdam` is Adam (Kingma & Ba 2015, as ``torch.optim.Adam`` computes it) on
the stacked tensors, with a per-member learning rate. Batch norm under ``vmap`` works when
its running statistics are stacked too (they are: ``Stack.buffers``) and in train mode
each member normalises with its own batch's statistics, as it would alone; see
:mod:`facelab.train.ensemble_gan` for the GAN loop and the measurements of where it pays.
"""
from __future__ import annotations

import copy
import math
import numbers
from typing import Any, Iterable, Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state

Tensor = torch.Tensor

__all__ = ["Stack", "StackedAdam", "member_values"]


def member_values(value: Any, k: int, name: str, *, positive: bool = True) -> list[float]:
    """A per-member hyper-parameter as a list of ``k`` floats (a number is repeated ``k`` times).

    Raises a ``ValueError`` naming ``name`` when the length is wrong or a value is not a
    finite number (``> 0`` when ``positive``).
    """
    values = [value] * k if isinstance(value, numbers.Real) else list(value)
    if len(values) != k:
        raise ValueError(f"{name} must be one number or one per member ({k} values), got {len(values)}: "
                         f"{values!r}; e.g. {name}=[1e-3] * {k}.")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or (positive and v <= 0) \
                or v < 0:
            raise ValueError(f"{name} must hold finite numbers {'> 0' if positive else '>= 0'}, got {v!r} "
                             f"in {values!r}.")
    return [float(v) for v in values]


class Stack:
    """K modules of one architecture as one: stacked parameters and buffers, called under ``vmap``.

    Args:
        modules: K modules with the same structure (e.g. built with K different seeds).
        randomness: ``vmap``'s ``randomness`` argument; ``"error"`` (default) refuses random
            operations inside the call (dropout), ``"different"`` draws them per member.

    Attributes:
        params: name -> stacked parameter ``(K, ...)``, a leaf tensor with ``requires_grad``.
        buffers: name -> stacked buffer ``(K, ...)`` (batch norm's running statistics).
        base: a copy of the first module on the ``meta`` device: the architecture only.
    """

    def __init__(self, modules: Sequence[nn.Module], *, randomness: str = "error", batching: str = "auto"):
        modules = list(modules)
        if not modules:
            raise ValueError("Stack needs at least one module; got an empty list.")
        shapes = [[(n, tuple(p.shape)) for n, p in m.named_parameters()] for m in modules]
        if any(s != shapes[0] for s in shapes):
            raise ValueError("Stack needs modules of one architecture (the same parameter names and shapes); "
                             f"{type(modules[0]).__name__} members differ. Build every member with the same sizes.")
        params, buffers = stack_module_state(modules)
        self.params: dict[str, Tensor] = {n: p.detach().clone().requires_grad_(True) for n, p in params.items()}
        self.buffers: dict[str, Tensor] = {n: b.detach().clone() for n, b in buffers.items()}
        self.base = copy.deepcopy(modules[0]).to("meta")
        self.k = len(modules)
        self.randomness = randomness
        self.training = True
        if batching not in ("auto", "vmap", "bmm"):
            raise ValueError(f"batching must be 'auto', 'vmap' or 'bmm', got {batching!r}.")
        eligible = _bmm_eligible(self.base)
        if batching == "bmm" and not eligible:
            raise ValueError(f"batching='bmm' needs a row-wise MLP ({', '.join(t.__name__ for t in _ROWWISE)} made of "
                             f"Linear layers and elementwise activations); {type(self.base).__name__} is not one. "
                             "Use batching='vmap' (any module).")
        self.batching = "bmm" if batching == "bmm" or (batching == "auto" and eligible) else "vmap"
        self.twin = _bmm_twin(self.base) if self.batching == "bmm" else None
        self._out_shapes: dict[tuple, torch.Size] = {}

    def __call__(self, *inputs: Tensor, in_dims: int | None | tuple = 0, method: str | None = None) -> Tensor:
        """Run every member on its own input: ``inputs`` are ``(K, B, ...)``; returns ``(K, ...)``.

        ``in_dims=None`` for an input shared by all members (``(B, ...)``). ``method`` calls
        another method of the module instead of ``forward`` (e.g. ``"features"``).
        """
        dims = in_dims if isinstance(in_dims, tuple) else (in_dims,) * len(inputs)
        if self.twin is not None and method is None and len(inputs) == 1 and dims == (0,):
            return self._bmm_call(inputs[0])
        if self.base.training != self.training:
            self.base.train(self.training)

        def one(params: dict, buffers: dict, *xs: Tensor) -> Tensor:
            if method is None:
                return functional_call(self.base, (params, buffers), xs)
            bound = getattr(self.base, method)
            # functional_call swaps the tensors in for the call; route it through the method
            return functional_call(_MethodCall(self.base, bound.__name__), (
                {f"m.{n}": v for n, v in params.items()}, {f"m.{n}": v for n, v in buffers.items()}), xs)

        return torch.vmap(one, in_dims=(0, 0, *dims), randomness=self.randomness)(self.params, self.buffers, *inputs)

    def _bmm_call(self, x: Tensor) -> Tensor:
        """The MLP as batched matrix products (``torch.baddbmm``), no ``vmap``: ``(K, B, in) -> (K, ...)``."""
        key = tuple(x.shape[1:])
        if key not in self._out_shapes:  # one member's output shape, from the architecture on the meta device
            self._out_shapes[key] = self.base(torch.empty(key, device="meta")).shape
        for layer in self.twin:  # (weight name, bias name) of a Linear, or an elementwise module
            if isinstance(layer, tuple):
                weight, bias = self.params[layer[0]], self.params.get(layer[1])
                x = (torch.bmm(x, weight.transpose(1, 2)) if bias is None
                     else torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2)))
            else:
                x = layer(x)
        return x.reshape(self.k, *self._out_shapes[key])

    def train(self, mode: bool = True) -> "Stack":
        self.training = mode
        return self

    def eval(self) -> "Stack":
        return self.train(False)

    def member(self, i: int, template: nn.Module | None = None) -> nn.Module:
        """Member ``i`` as an ordinary module (a copy of ``template``, default the architecture, on the CPU)."""
        if not -self.k <= i < self.k:
            raise IndexError(f"member {i} out of range for an ensemble of {self.k}.")
        module = copy.deepcopy(template) if template is not None else copy.deepcopy(self.base).to_empty(device="cpu")
        state = {n: t[i].detach().clone() for n, t in {**self.params, **self.buffers}.items()}
        module.load_state_dict(state, strict=True)
        return module.train(self.training)

    def members(self, template: nn.Module | None = None) -> list[nn.Module]:
        """Every member as an ordinary module."""
        return [self.member(i, template) for i in range(self.k)]


# modules whose forward acts on each row of the batch alone (so K stacked batches can run through one call)
def _rowwise_types() -> tuple[type, ...]:
    from ..models.toy import ToyDiscriminator, ToyGenerator

    return (ToyGenerator, ToyDiscriminator, nn.Sequential, nn.Linear)


_ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.Identity, nn.ELU, nn.SiLU, nn.GELU, nn.Softplus)
_ROWWISE = (nn.Sequential, nn.Linear)  # and the toy GAN networks


def _bmm_eligible(module: nn.Module) -> bool:
    """A module the bmm path computes exactly: a row-wise MLP of Linear layers and elementwise activations."""
    if type(module) not in _rowwise_types():
        return False
    return all(isinstance(m, (nn.Linear, *_ELEMENTWISE)) or type(m) in _rowwise_types()
               for m in module.modules())


def _bmm_twin(base: nn.Module) -> list:
    """The layers of a row-wise MLP in order: ``(weight name, bias name)`` for a Linear, else the module."""
    layers: list = []
    for name, module in base.named_modules():
        if isinstance(module, nn.Linear):
            prefix = f"{name}." if name else ""
            layers.append((f"{prefix}weight", f"{prefix}bias" if module.bias is not None else None))
        elif isinstance(module, _ELEMENTWISE):
            layers.append(module)
    return layers


class _MethodCall(nn.Module):
    """Wraps ``module.<name>`` as a ``forward`` so ``functional_call`` can run a method other than forward."""

    def __init__(self, module: nn.Module, name: str):
        super().__init__()
        self.m, self.name = module, name

    def forward(self, *xs: Tensor) -> Tensor:
        return getattr(self.m, self.name)(*xs)


class StackedAdam:
    """Adam on stacked tensors ``(K, ...)`` with a learning rate per member.

    The update is ``torch.optim.Adam``'s (``foreach`` implementation, no weight decay, no
    amsgrad): ``m <- lerp(m, g, 1 - b1)``, ``v <- b2 v + (1 - b2) g^2``, ``p <- p - lr_k /
    (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``; one member's slice sees exactly the
    arithmetic its own ``torch.optim.Adam`` would do (up to rounding of the learning-rate product
    when the members' rates differ).

    Args:
        params: the stacked tensors to update (``Stack.params.values()``).
        lr: one learning rate, or one per member.
        betas, eps: as in ``torch.optim.Adam``.
    """

    def __init__(self, params: Iterable[Tensor], lr: float | Sequence[float], betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        self.params = list(params)
        if not self.params:
            raise ValueError("StackedAdam got no parameters.")
        k = self.params[0].shape[0]
        if any(p.shape[0] != k for p in self.params):
            raise ValueError("StackedAdam: every tensor must have the same leading (member) dimension "
                             f"{k}; got {sorted({p.shape[0] for p in self.params})}.")
        self.lrs = member_values(lr, k, "lr")
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f"Adam's betas must lie in [0, 1), got {betas!r}; e.g. (0.5, 0.999).")
        self.beta1, self.beta2, self.eps = float(betas[0]), float(betas[1]), float(eps)
        self.uniform = len(set(self.lrs)) == 1
        self.lr = torch.tensor(self.lrs, dtype=torch.float64)
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.step_count = 0

    @torch.no_grad()
    def step(self, grads: Sequence[Tensor]) -> None:
        """One Adam update with the gradients ``grads`` (one per parameter, same shapes)."""
        grads = list(grads)
        self.step_count += 1
        b1, b2, t = self.beta1, self.beta2, self.step_count
        torch._foreach_lerp_(self.exp_avg, grads, 1 - b1)
        torch._foreach_mul_(self.exp_avg_sq, b2)
        torch._foreach_addcmul_(self.exp_avg_sq, grads, grads, 1 - b2)
        denom = torch._foreach_sqrt(self.exp_avg_sq)
        torch._foreach_div_(denom, (1 - b2**t) ** 0.5)
        torch._foreach_add_(denom, self.eps)
        if self.uniform:  # the very operation torch.optim.Adam does
            torch._foreach_addcdiv_(self.params, self.exp_avg, denom, -self.lrs[0] / (1 - b1**t))
            return
        step = (-self.lr / (1 - b1**t)).to(self.params[0].dtype)
        for p, m, d in zip(self.params, self.exp_avg, denom):
            p.add_(m / d * step.view(-1, *([1] * (p.ndim - 1))).to(p.device))
