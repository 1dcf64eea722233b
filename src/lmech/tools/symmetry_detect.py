"""Find the parameter groups of a model that carry a loss symmetry, from its traced graph.

`detect` traces the model with ``torch.fx`` and reads three patterns off the graph:

- scale: a Linear/Conv whose output reaches a normalisation (BatchNorm, LayerNorm,
  GroupNorm, InstanceNorm, RMSNorm, their functional forms, F.normalize) only through
  positively homogeneous operations; its weight and bias are scale-invariant, L(αθ) = L
  for α > 0 (exact up to the normalisation's ε; BatchNorm in training mode).
- translation: a Linear/Conv whose output goes straight into a softmax / log-softmax over
  its feature dimension (or, with ``loss="cross_entropy"``, is the model's output): adding
  c·1 to its bias, or to any column of its weight along the class axis, changes nothing.
- rescale: a Linear/Conv or affine normalisation (incoming) whose output reaches a
  Linear/Conv (outgoing) only through positively homogeneous operations (ReLU, leaky ReLU,
  identity, pooling, flatten, reshape, dropout): scaling the incoming weights and bias by α
  and the outgoing weights by 1/α changes nothing (per layer, and per unit).

A layer with parameters whose type is not one of these, a layer called more than once,
or a parameter read directly by code, is reported as skipped: its parameters are put in no
group rather than guessed.

Source: Kunin et al., "Neural Mechanics", ICLR 2021 (arXiv:2012.04728), §3 and Table 1.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx, nn

from lmech.errors import LmechError
from lmech.measure.noether import Symmetry

__all__ = ["Detection", "Skipped", "detect"]

_AFFINE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = tuple(
    t for t in (
        nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm,
        nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d, getattr(nn, "RMSNorm", None),
    ) if t is not None
)
_NORM_FUNCS = {
    f for f in (F.batch_norm, F.layer_norm, F.group_norm, F.instance_norm, F.normalize,
                getattr(F, "rms_norm", None)) if f is not None
}
_HOMOGENEOUS = (
    nn.ReLU, nn.LeakyReLU, nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.Flatten,
)
_HOMOGENEOUS_FUNCS = {
    F.relu, torch.relu, F.leaky_relu, torch.flatten, F.dropout, F.max_pool1d, F.max_pool2d,
    F.max_pool3d, F.avg_pool1d, F.avg_pool2d, F.avg_pool3d, F.adaptive_avg_pool1d,
    F.adaptive_avg_pool2d, F.adaptive_avg_pool3d, torch.reshape, torch.mean, torch.sum,
}
_HOMOGENEOUS_METHODS = {"relu", "view", "reshape", "flatten", "contiguous", "mean", "sum"}
_SOFTMAX = (nn.Softmax, nn.LogSoftmax)
_SOFTMAX_FUNCS = {F.softmax, F.log_softmax, torch.softmax, torch.log_softmax}
_SOFTMAX_METHODS = {"softmax", "log_softmax"}
LOSSES = ("cross_entropy",)


@dataclass(frozen=True)
class Skipped:
    """A layer `detect` could not analyse: its parameters are in no group (never guessed)."""

    name: str
    reason: str


@dataclass(frozen=True)
class Detection:
    """What `detect` found: the symmetries (iterate or index like a list) and the skips."""

    symmetries: tuple[Symmetry, ...]
    skipped: tuple[Skipped, ...]

    def __iter__(self):
        return iter(self.symmetries)

    def __len__(self) -> int:
        return len(self.symmetries)

    def __getitem__(self, i: int) -> Symmetry:
        return self.symmetries[i]

    def of_kind(self, kind: str) -> list[Symmetry]:
        """The symmetries of one kind."""
        return [s for s in self.symmetries if s.kind == kind]


class _Tracer(fx.Tracer):
    """Leaves: torch.nn layers and any module holding its own parameters (opaque)."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if any(True for _ in m.parameters(recurse=False)):
            return True
        return super().is_leaf_module(m, module_qualified_name)


def detect(model: nn.Module, example_input, *, loss: str | None = None) -> Detection:
    """The parameter groups of `model` that carry a scale, translation or rescale symmetry.

    Args:
        model: any ``nn.Module`` that ``torch.fx`` can trace (no Python control flow on
            tensor values). It is not modified (a copy is run and traced).
        example_input: a tensor (or tuple of tensors) of the shape the model takes.
        loss: ``"cross_entropy"`` if the model's output is logits fed to softmax
            cross-entropy (then its last layer carries the translation symmetry); None to
            look only for softmax / log-softmax inside the model.
    Returns:
        A :class:`Detection`: ``symmetries`` (each with ``kind``, ``params`` — names as in
        ``model.named_parameters()``, incoming then outgoing for rescale — and ``reason``)
        and ``skipped`` layers.

    Raises:
        LmechError: the model cannot be traced, the example input does not fit it, or
            `loss` is not one of the supported losses.

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> [(s.kind, s.params) for s in detect(net, torch.zeros(2, 4), loss="cross_entropy")]
        [('translation', ('2.weight', '2.bias')), ('rescale', ('0.weight', '0.bias', '2.weight'))]
    """
    if loss is not None and loss not in LOSSES:
        raise LmechError(f"unknown loss {loss!r}; allowed: None, {', '.join(LOSSES)}")
    if not isinstance(model, nn.Module):
        raise LmechError(f"detect needs a torch.nn.Module, got {type(model).__name__}")
    copied = copy.deepcopy(model)
    inputs = example_input if isinstance(example_input, tuple) else (example_input,)
    _check_input_fits(copied, inputs)
    gm = _trace(copied)
    try:
        with torch.no_grad():
            _ShapeRecorder(gm).run(*inputs)
    except Exception as err:  # the module ran, its traced graph did not: fx lost something
        raise LmechError(f"the torch.fx trace of {type(model).__name__} does not run on the "
                         f"example input although the module does: "
                         f"{_first_line(err)}") from None
    return _Analysis(gm, loss).run()


def _check_input_fits(model: nn.Module, inputs: tuple) -> None:
    """Run the plain module once: its own error, in one line, says why the input does not fit.

    (Running the traced graph instead would bury that line under torch.fx's node dump.)
    """
    try:
        with torch.no_grad():
            model(*inputs)
    except Exception as err:  # whatever the model raises, the input does not fit it
        shapes = ", ".join(str(tuple(x.shape)) if torch.is_tensor(x) else type(x).__name__
                           for x in inputs)
        raise LmechError(f"example input of shape {shapes} does not fit "
                         f"{type(model).__name__}: {_first_line(err)}") from None


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class _ShapeRecorder(fx.Interpreter):
    """Runs the graph once and keeps each tensor-valued node's output shape in its meta."""

    def run_node(self, n: fx.Node):
        result = super().run_node(n)
        if torch.is_tensor(result):
            n.meta["shape"] = tuple(result.shape)
        return result


def _trace(model: nn.Module) -> fx.GraphModule:
    try:
        graph = _Tracer().trace(model)
    except Exception as err:  # fx raises many types; all mean "not traceable"
        raise LmechError(
            f"cannot trace {type(model).__name__} with torch.fx ({type(err).__name__}: "
            f"{err}); detect needs a model without Python control flow on tensor values"
        ) from None
    return fx.GraphModule(model, graph)


class _Analysis:
    """One pass over a traced graph (private: holds the lookup tables while it runs)."""

    def __init__(self, gm: fx.GraphModule, loss: str | None) -> None:
        self.gm, self.loss = gm, loss
        self.modules = dict(gm.named_modules())
        self.nodes = list(gm.graph.nodes)

    def run(self) -> Detection:
        skipped, unusable = self._skips()
        found: list[Symmetry] = []
        for node in self.nodes:
            for sym in (self._translation(node), self._scale(node), *self._rescale(node)):
                if sym is not None and not (set(sym.params) & unusable):
                    found.append(sym)
        order = {"translation": 0, "scale": 1, "rescale": 2}
        found.sort(key=lambda s: order[s.kind])
        return Detection(tuple(dict.fromkeys(found)), tuple(skipped))

    # --- what cannot be analysed ---------------------------------------------------
    def _skips(self) -> tuple[list[Skipped], set[str]]:
        skipped, unusable = [], set()
        calls = Counter(n.target for n in self.nodes if n.op == "call_module")
        for name, count in calls.items():
            m = self.modules[name]
            own = [f"{name}.{p}" for p, _ in m.named_parameters(recurse=False)]
            if not own:
                continue
            if not isinstance(m, _AFFINE + _NORMS):
                skipped.append(Skipped(name, f"layer type {type(m).__name__} is not one detect "
                                             f"can analyse; its parameters are in no group"))
                unusable.update(own)
            elif count > 1:
                skipped.append(Skipped(name, f"called {count} times (shared weights)"))
                unusable.update(own)
        for n in self.nodes:
            if n.op == "get_attr":
                skipped.append(Skipped(str(n.target), "read directly by code, not by its layer"))
                unusable.add(str(n.target))
                owner = str(n.target).rsplit(".", 1)[0]
                unusable.update(f"{owner}.{p}" for p, _ in
                                self.modules.get(owner, nn.Module()).named_parameters())
        return skipped, unusable

    # --- node helpers -------------------------------------------------------------------
    def _module(self, node: fx.Node):
        return self.modules[node.target] if node.op == "call_module" else None

    def _is_affine(self, node: fx.Node) -> bool:
        return isinstance(self._module(node), _AFFINE)

    def _is_homogeneous(self, node: fx.Node) -> bool:
        m = self._module(node)
        if m is not None:
            return isinstance(m, _HOMOGENEOUS)
        if node.op == "call_function":
            return node.target in _HOMOGENEOUS_FUNCS
        return node.op == "call_method" and node.target in _HOMOGENEOUS_METHODS

    def _params(self, node: fx.Node, which=("weight", "bias")) -> tuple[str, ...]:
        m = self._module(node)
        return tuple(f"{node.target}.{w}" for w in which if getattr(m, w, None) is not None
                     and isinstance(getattr(m, w), nn.Parameter))

    def _producer_through_chain(self, node: fx.Node) -> tuple[fx.Node | None, list[str]]:
        """Walk back from `node` through single-user homogeneous ops to its producer."""
        chain: list[str] = []
        while isinstance(node, fx.Node) and len(node.users) == 1:
            if self._is_affine(node) or self._affine_norm(node):
                return node, chain
            if not self._is_homogeneous(node):
                return None, chain
            chain.append(_describe(node, self.modules))
            node = node.args[0]
        return None, chain

    def _affine_norm(self, node: fx.Node) -> bool:
        m = self._module(node)
        return isinstance(m, _NORMS) and getattr(m, "weight", None) is not None

    # --- the three patterns -----------------------------------------------------------
    def _scale(self, node: fx.Node) -> Symmetry | None:
        m = self._module(node)
        is_norm = isinstance(m, _NORMS) or (node.op == "call_function"
                                           and node.target in _NORM_FUNCS)
        if not is_norm or not node.args or not isinstance(node.args[0], fx.Node):
            return None
        producer, chain = self._producer_through_chain(node.args[0])
        if producer is None or not self._is_affine(producer):
            return None
        params = self._params(producer)
        via = f" through {', '.join(reversed(chain))}" if chain else ""
        norm = _describe(node, self.modules)
        mode = " (BatchNorm: in training mode, batch statistics)" if isinstance(
            m, nn.modules.batchnorm._BatchNorm) else ""
        reason = (f"{producer.target} feeds {norm}{via}; the normalisation removes any "
                  f"positive scale of its input, so L(α·θ) = L (exact up to its ε){mode}")
        return Symmetry("scale", params, reason)

    def _translation(self, node: fx.Node) -> Symmetry | None:
        m = self._module(node)
        if isinstance(m, _SOFTMAX) or (node.op == "call_function" and node.target in
                                        _SOFTMAX_FUNCS) or (node.op == "call_method" and
                                                            node.target in _SOFTMAX_METHODS):
            src, dim, what = node.args[0], _softmax_dim(node, m), _describe(node, self.modules)
        elif node.op == "output" and self.loss == "cross_entropy":
            src, dim, what = node.args[0], 1, "softmax cross-entropy (the loss)"
        else:
            return None
        if not isinstance(src, fx.Node) or not self._is_affine(src) or len(src.users) != 1:
            return None
        shape = src.meta.get("shape")
        if shape is None or dim is None:
            return None
        feature = len(shape) - 1 if isinstance(self._module(src), nn.Linear) else 1
        if dim % len(shape) != feature:
            return None
        params = self._params(src)
        reason = (f"{src.target} produces the logits of {what}: softmax is unchanged by "
                  f"adding c·1 along the class axis, so ⟨g, 1⟩ = 0 for its bias and for "
                  f"each column of its weight")
        return Symmetry("translation", params, reason)

    def _rescale(self, node: fx.Node) -> list[Symmetry]:
        if not (self._is_affine(node) or self._affine_norm(node)):
            return []
        out, chain, cur = [], [], node
        while len(cur.users) == 1:
            nxt = next(iter(cur.users))
            if self._is_affine(nxt) and nxt.args and nxt.args[0] is cur:
                via = ", ".join(chain) if chain else "no nonlinearity (a linear unit)"
                reason = (f"{node.target} → {via} → {nxt.target}: positively homogeneous in "
                          f"between, so scaling {node.target} by α and {nxt.target}'s input "
                          f"weights by 1/α changes nothing (per layer and per unit)")
                out.append(Symmetry.rescale(self._params(node), self._params(nxt, ("weight",)),
                                            reason))
                break
            if not self._is_homogeneous(nxt) or nxt.args[0] is not cur:
                break
            chain.append(_describe(nxt, self.modules))
            cur = nxt
        return out


def _softmax_dim(node: fx.Node, module) -> int | None:
    if module is not None:
        return module.dim
    dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else None)
    return dim if isinstance(dim, int) else None


def _describe(node: fx.Node, modules: dict) -> str:
    if node.op == "call_module":
        return f"{node.target} ({type(modules[node.target]).__name__})"
    if node.op == "call_function":
        return getattr(node.target, "__name__", str(node.target))
    return str(node.target)

