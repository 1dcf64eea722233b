"""Coordinate check: does each layer's output keep its size as the network widens?

Each width is built from ``model_fn(width)`` (in μP against a base width, or as the
factory builds it: the standard parametrisation), trained a few steps full-batch on one
fixed batch with a learning rate held fixed across widths, and every layer's output is
recorded at each step: its size RMS(h_t) and its change since initialisation
RMS(h_t − h_0). The exponent s of RMS(h_k − h_0) ∝ widthˢ is ≈ 0 for every layer under
μP; under the standard parametrisation it is positive (SGD: ½ for hidden layers, 1 for the
readout; Adam: 1), which is why the learning rate tuned on a narrow model blows up a wide
one. A flat check is necessary, not sufficient, for transfer (Yang, Hu et al. 2022, §D.1).

Source: Yang, Hu et al., "Tensor Programs V" (arXiv:2203.03466), §D.1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator
from torch import nn

from lmech.errors import LmechError
from lmech.measure.coordinates import WidthExponent, module_outputs, rms, width_exponent
from lmech.tools.hparams.parametrise import mup_model, mup_param_groups
from lmech.tools.hparams.wrappers import module_name
from lmech.tools.user_model import model_from

__all__ = ["GROWS", "PARAMETRISATIONS", "CoordCheck", "coord_check"]

PARAMETRISATIONS = ("mup", "standard")
# A layer is flagged when its update grows at least as n^¼: halfway between μP's 0 and the
# smallest exponent the standard parametrisation gives (½, hidden layers under SGD).
GROWS = 0.25
_LR = {"sgd": 0.1, "adam": 0.01}


@dataclass(frozen=True)
class CoordCheck:
    """Per-layer coordinate sizes across widths and steps.

    Attributes:
        widths: the widths, increasing.
        modules: recorded modules (names as in the factory's model; ``""`` the output).
        size: ``(W, T+1, M)``: RMS(h_t) of module m at width w before update t.
        change: ``(W, T+1, M)``: RMS(h_t − h_0) on the same batch (0 at t = 0).
        parametrisation, optimizer, lr, base_width: how it was trained.
    """

    widths: tuple[int, ...]
    modules: tuple[str, ...]
    size: np.ndarray
    change: np.ndarray
    parametrisation: str
    optimizer: str
    lr: float
    base_width: int

    def exponents(self, step: int | None = None, *, of: str = "change"
                  ) -> dict[str, WidthExponent]:
        """Module → exponent s of ``of`` (``change`` or ``size``) ∝ widthˢ at `step`
        (default the last); NaN where a value is zero or not finite."""
        values = self.change if of == "change" else self.size
        t = values.shape[1] - 1 if step is None else step
        out = {}
        for m, name in enumerate(self.modules):
            y = values[:, t, m]
            if np.all(np.isfinite(y)) and np.all(y > 0):
                out[name] = width_exponent(self.widths, y)
            else:
                out[name] = WidthExponent(float("nan"), float("nan"))
        return out

    def lines(self) -> list[str]:
        """The summary `lmech coord-check` prints: one line per layer."""
        head = (f"{self.parametrisation}, {self.optimizer} lr={self.lr:g}, base width "
                f"{self.base_width}, widths {','.join(map(str, self.widths))}, "
                f"{self.change.shape[1] - 1} steps")
        out = [head, f"{'layer':<28} {'RMS h_0':>9} {'s(h_0)':>7} {'RMS Δh':>9} "
                     f"{'s(Δh) ± se':>14}"]
        s0, sk = self.exponents(0, of="size"), self.exponents()
        for m, name in enumerate(self.modules):
            e = sk[name]
            flag = "  grows with width" if e.slope >= GROWS else ""
            out.append(f"{name or '(output)':<28} {self.size[-1, 0, m]:>9.3g} "
                       f"{s0[name].slope:>7.2f} {self.change[-1, -1, m]:>9.3g} "
                       f"{e.slope:>7.2f} ± {e.stderr:<5.2f}{flag}")
        return out

    def figure(self) -> Figure:
        """Size at initialisation and change after steps, against width, per layer."""
        steps = self.change.shape[1] - 1
        shown = sorted({1, (steps + 1) // 2, steps})
        fig = Figure(figsize=(3.6 * (len(shown) + 1), 3.4), layout="constrained")
        axes = fig.subplots(1, len(shown) + 1, squeeze=False)[0]
        panels = [(axes[0], self.size[:, 0], "RMS h at init")]
        panels += [(ax, self.change[:, t], f"RMS(h_t − h_0), t = {t}")
                   for ax, t in zip(axes[1:], shown, strict=True)]
        for ax, values, title in panels:
            for m, name in enumerate(self.modules):
                ax.plot(self.widths, values[:, m], marker="o", label=name or "(output)")
            ax.set(xscale="log", yscale="log", xlabel="width", title=title)
            ax.set_xticks(self.widths, labels=[str(w) for w in self.widths])
            ax.xaxis.set_minor_locator(NullLocator())
            _at_least_a_decade(ax, values)
        axes[-1].legend(fontsize=7, loc="best")
        fig.suptitle(f"coordinate check: {self.parametrisation}, {self.optimizer} "
                     f"lr={self.lr:g}, base width {self.base_width}")
        return fig


def _at_least_a_decade(ax, values: np.ndarray) -> None:
    """A y range of ≥ 10×, so that noise of a few per cent does not look like a trend."""
    shown = values[np.isfinite(values) & (values > 0)]
    if shown.size:
        low, high = float(shown.min()), float(shown.max())
        pad = max(1.0, np.sqrt(10 * low / high))
        ax.set_ylim(low / pad, high * pad)


def _check_widths(widths: Sequence[int], base_width: int | None) -> tuple[list[int], int]:
    widths = list(widths)
    if len(widths) < 2 or any(isinstance(w, bool) or not isinstance(w, int) or w < 1
                              for w in widths):
        raise LmechError(f"widths must be at least two positive integers, got {widths}")
    if any(b <= a for a, b in zip(widths, widths[1:], strict=False)):
        raise LmechError(f"widths must be strictly increasing, got {widths}")
    base = widths[0] if base_width is None else base_width
    if isinstance(base, bool) or not isinstance(base, int) or base < 1:
        raise LmechError(f"base_width must be a positive integer, got {base!r}")
    if base > widths[0]:
        raise LmechError(f"base width {base} is larger than the target width {widths[0]}; "
                         f"the base is the narrow model whose hyperparameters were tuned")
    return widths, base


def _probe_inputs(model: nn.Module, batch: int, gen: torch.Generator) -> torch.Tensor:
    """A Gaussian batch for a Linear or Conv first layer, tokens for an Embedding (the
    first module, in definition order, that owns a parameter)."""
    first = next((m for m in model.modules() if any(True for _ in m.parameters(False))), None)
    if isinstance(first, nn.Linear):
        return torch.randn(batch, first.in_features, generator=gen, device=gen.device)
    if isinstance(first, nn.Conv1d | nn.Conv2d | nn.Conv3d):
        spatial = [16] * (first.weight.dim() - 2)
        return torch.randn(batch, first.in_channels, *spatial, generator=gen,
                           device=gen.device)
    if isinstance(first, nn.Embedding):
        return torch.randint(0, first.num_embeddings, (batch, 16), generator=gen,
                             device=gen.device)
    raise LmechError(f"cannot guess an input for {type(model).__name__}: its first layer "
                     f"({type(first).__name__}) is not nn.Linear, nn.Conv or nn.Embedding; "
                     f"pass data=(inputs, targets)")


def _loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if target.is_floating_point():
        return F.mse_loss(output, target)
    return F.cross_entropy(output.flatten(0, -2), target.flatten())


def _build(model_fn, width, parametrisation, base, gen, init, optimizer, lr, device):
    if parametrisation == "mup":
        model, plan = mup_model(model_fn, width, base_width=base, generator=gen, **init)
        groups = mup_param_groups(model.to(device), plan, lr=lr, optimizer=optimizer)
    else:
        seed = int(torch.randint(0, 2**62, (1,), generator=gen, device=gen.device))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = model_from(model_fn, width, what=f"model_fn({width})").to(device)
        groups = [{"params": list(model.parameters()), "lr": lr}]
    opt = torch.optim.SGD(groups, lr=lr) if optimizer == "sgd" else torch.optim.Adam(groups, lr=lr)
    return model, opt


def coord_check(model_fn: Callable[[int], nn.Module], widths: Sequence[int], *,
                base_width: int | None = None, parametrisation: str = "mup",
                optimizer: str = "adam", lr: float | None = None, steps: int = 3,
                data: torch.Tensor | tuple[torch.Tensor, torch.Tensor | None] | None = None,
                loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                batch_size: int = 64, generator: torch.Generator | None = None,
                weight_variance: float = 1.0, zero_readout: bool = False,
                device: str | torch.device = "cpu") -> CoordCheck:
    """Train ``model_fn(width)`` for `steps` steps at each width; record every layer.

    Args:
        model_fn: builds the network at a width (``nn.Module``; same names at every width).
        widths: at least two, strictly increasing.
        base_width: the width whose hyperparameters were tuned (default ``widths[0]``).
        parametrisation: ``mup`` (`mup_model` against `base_width`) or ``standard`` (as
            the factory builds it, one learning rate for every parameter).
        optimizer: ``sgd`` or ``adam``; lr: its base learning rate (default 0.1 / 0.01).
        steps: optimizer steps, ≥ 1.
        data: inputs, or (inputs, targets); default: a Gaussian batch (tokens for an
            embedding) and Gaussian targets of the output's shape. The same batch every
            step and width.
        loss_fn: ``loss_fn(output, targets)``; default MSE (cross-entropy for integer
            targets).
        batch_size: of the default inputs.
        generator: every random draw (default: seeded with 0). The global RNG is untouched.
        weight_variance: σ² of the μP initialisation.
        zero_readout: start μP readouts at zero. Their output at initialisation is
            otherwise ∝ 1/√m_in, and the part of the first updates it drives shrinks with
            width too: a finite-width transient that tilts the exponents below 0 at small
            widths (Yang, Hu et al. 2022, §D.2 recommend the zero readout).
        device: where the networks train (built on the CPU, then moved).

    Raises:
        LmechError: bad widths (fewer than two, not increasing), a base width above the
            smallest width, an unknown parametrisation or optimizer, lr ≤ 0, steps < 1, a
            factory that fails or returns no ``nn.Module``, or an input that cannot be
            guessed.
    """
    widths, base = _check_widths(widths, base_width)
    if parametrisation not in PARAMETRISATIONS:
        raise LmechError(f"parametrisation must be mup or standard, got {parametrisation!r}")
    opt_name = str(optimizer).lower()
    if opt_name not in _LR:
        raise LmechError(f"optimizer must be sgd or adam, got {optimizer!r}")
    lr = _LR[opt_name] if lr is None else lr
    if not lr > 0 or isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise LmechError(f"lr must be > 0 and steps a positive integer; got lr={lr!r}, "
                         f"steps={steps!r}")
    if not callable(model_fn):
        raise LmechError(f"model_fn must be a callable width → nn.Module, got {model_fn!r}")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    inputs, targets = data if isinstance(data, tuple | list) else (data, None)
    inputs = inputs.to(device) if isinstance(inputs, torch.Tensor) else inputs
    targets = targets.to(device) if isinstance(targets, torch.Tensor) else targets
    modules: list[str] = []
    size, change = [], []
    for i, width in enumerate(widths):
        model, opt = _build(model_fn, width, parametrisation, base, gen,
                            {"weight_variance": weight_variance,
                             "zero_readout": zero_readout}, opt_name, lr, device)
        if inputs is None:
            inputs = _probe_inputs(model, batch_size, gen).to(device)
        if targets is None:
            with torch.no_grad():
                shape = _forward(model, inputs, width).shape
            targets = torch.randn(shape, generator=gen, device=gen.device).to(device)
        s, c, names = _train(model, opt, inputs, targets, loss_fn or _loss, steps, width)
        modules = names if i == 0 else modules
        if names != modules:
            raise LmechError(f"model_fn({width}) has other layers than model_fn({widths[0]}):"
                             f" {sorted(set(names) ^ set(modules))[:3]}")
        size.append(s)
        change.append(c)
    return CoordCheck(tuple(widths), tuple(modules), np.stack(size), np.stack(change),
                      parametrisation, opt_name, float(lr), base)


def _forward(model: nn.Module, inputs: torch.Tensor, width: int) -> torch.Tensor:
    try:
        output = model(inputs)
    except Exception as err:  # the user's network: its error is theirs to read
        raise LmechError(f"model_fn({width}) failed on inputs of shape {tuple(inputs.shape)}"
                         f": {type(err).__name__}: {err}") from err
    if not isinstance(output, torch.Tensor):
        raise LmechError(f"model_fn({width}) returned {type(output).__name__} from forward; "
                         f"a coordinate check needs one output tensor")
    return output


def _without_repeated_output(first: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The records without the model's output where a layer's output is the same tensor
    (a readout at the end of a Sequential)."""
    root = first.get("")
    if root is not None and any(n and v.shape == root.shape and torch.equal(v, root)
                                for n, v in first.items()):
        del first[""]
    return first


def _train(model, opt, inputs, targets, loss_fn, steps, width):
    """(size, change, module names) of `steps` full-batch steps on one batch."""
    first: dict[str, torch.Tensor] = {}
    size, change = [], []
    with module_outputs(model, rename=lambda n: module_name(n, model)) as out:
        for t in range(steps + 1):
            loss = loss_fn(_forward(model, inputs, width), targets)
            if t == 0:
                first = _without_repeated_output(dict(out))
            size.append([rms(out[n]) for n in first])
            change.append([rms(out[n] - first[n]) for n in first])
            if t < steps:
                opt.zero_grad()
                loss.backward()
                opt.step()
    return np.array(size), np.array(change), list(first)
