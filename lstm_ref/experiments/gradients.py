"""Gradient probes: how much of the loss at step T reaches step T − k.

For a loss ``L`` on the last step only, :func:`gradient_norms_by_lag` measures the
norms of the total derivatives δh_{T−k} = dL/dh_{T−k} (and δc_{T−k} = dL/dc_{T−k} for
an LSTM) for every lag k, with autograd through the step-by-step cores
:class:`~lstm_ref.rnn.VanillaRNN` and :class:`~lstm_ref.variants.VariantLSTM` (the
fused library modules do not expose their intermediate states).
:func:`forget_gate_products` gives the product of the local partials
∂c_t/∂c_{t−1} = diag(f_t) along the cell path alone: the running product of forget
gates (eq:cec-product).
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..params import LSTMParams
from ..rnn import VanillaRNN
from ..train import TASKS, SequenceModel, build_model
from ..variants import VariantLSTM

__all__ = ["forget_gate_products", "gradient_norms_by_lag", "load_core"]


def forget_gate_products(f: Tensor) -> Tensor:
    """Running products P_k = ∏_{j=0}^{k−1} f_{T−j}, k = 0..T−1 (eq:cec-product).

    diag(P_k) is the product of the partials ∂c_t/∂c_{t−1} = diag(f_t) along the cell
    path from c_T back to c_{T−k} (diagonal, so computed elementwise); P_0 = 1.

    f : (T, N, H) tensor of forget gates f_1 .. f_T -> (T, N, H) tensor, row k = P_k
    """
    if f.ndim != 3:
        raise ValueError(f"f has shape {tuple(f.shape)}; expected (T, N, H)")
    backwards = torch.flip(f, dims=[0])  # f_T, f_{T-1}, ..., f_1
    ones = torch.ones_like(f[:1])
    products = torch.cumprod(backwards, dim=0)[:-1]  # P_1 .. P_{T-1}
    return torch.cat([ones, products], dim=0)  # (T, N, H)


def gradient_norms_by_lag(
    model: SequenceModel, x: Tensor, y: Tensor, task: str = "adding"
) -> dict[str, Tensor]:
    """G_h(k) and G_c(k), the batch means of ‖δh_{T−k}‖ and ‖δc_{T−k}‖ (eq:grad-by-lag).

    δh_t = dL_n/dh_t is the total derivative of sequence n's loss L_n, at its last step
    (squared error for ``adding``, cross-entropy otherwise). Sequences are independent,
    so ``d(Σ_n L_n)/dh_t[n] = dL_n/dh_t[n]``: one backward pass gives all of them.

    Parameters
    ----------
    model : SequenceModel whose core is a VanillaRNN or a VariantLSTM
        (see :func:`load_core`)
    x : (T, N, D) tensor; y : its targets

    Returns
    -------
    {"h": (T,) tensor, "c": (T,) tensor for an LSTM}, entry k for lag k (k = 0: h_T)
    """
    out = model(x)
    if task == "adding":
        loss = ((out - y) ** 2).sum()
    else:
        loss = torch.nn.functional.cross_entropy(out, y, reduction="sum")
    core = model.core
    if isinstance(core, VanillaRNN):
        states = {"h": core.steps}
    elif isinstance(core, VariantLSTM):
        states = {"h": core.trace.hs, "c": core.trace.cs}
    else:
        raise ValueError(
            f"model.core is a {type(core).__name__}; "
            "expected VanillaRNN or VariantLSTM (use load_core)"
        )
    names = list(states)
    flat = [s for name in names for s in states[name]]
    grads = torch.autograd.grad(loss, flat, allow_unused=True)
    T, result = x.shape[0], {}
    for k, name in enumerate(names):
        # δ of the state at steps 1 .. T (total dL/dh_t or dL/dc_t), each (N, H)
        per_step = grads[k * T : (k + 1) * T]
        zero = x.new_zeros(())  # a state the loss does not reach
        norms = torch.stack(
            [zero if g is None else g.norm(dim=1).mean() for g in per_step]
        )
        result[name] = torch.flip(norms, dims=[0]).detach()  # index k = lag
    return result


def load_core(
    model: str, weights: dict | None, hidden_size: int, task: str = "adding",
    forget_bias: float = 0.0, seed: int = 0, input_bias: float = 0.0,
) -> SequenceModel:
    """A step-by-step SequenceModel for probes, with trained ``weights`` (a state dict).

    ``model`` is a name of ``lstm_ref.train.MODELS``: ``rnn`` loads into a VanillaRNN
    (same parameter names as ``nn.RNN``), ``lstm`` into a plain VariantLSTM (biases
    summed, as ``LSTMParams.from_torch``), a variant into its VariantLSTM.
    ``weights=None`` gives the untrained model that ``train`` would start from with
    ``seed`` (and the same ``forget_bias`` and ``input_bias``).
    """
    D, n_out = TASKS[task]
    if weights is None:
        torch.manual_seed(seed)  # as lstm_ref.train.train does before build_model
        untrained = build_model(model, D, hidden_size, n_out, forget_bias, input_bias)
        weights = untrained.state_dict()
    w = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in weights.items()}
    if model in ("rnn", "rnn-ref"):  # same parameter names as nn.RNN
        probe = SequenceModel(VanillaRNN(D, hidden_size), hidden_size, n_out)
    else:
        variant = "plain" if model == "lstm" else model
        core = VariantLSTM(D, hidden_size, variant, forget_bias)
        probe = SequenceModel(core, hidden_size, n_out)
    if model == "lstm":  # nn.LSTM's names and two biases -> LSTMParams layout
        b = w["core.bias_ih_l0"] + w["core.bias_hh_l0"]
        params = LSTMParams(w["core.weight_ih_l0"], w["core.weight_hh_l0"], b)
        w = {"core.W_ih": params.W_ih, "core.W_hh": params.W_hh, "core.b": params.b,
             "head.weight": w["head.weight"], "head.bias": w["head.bias"]}
    probe.load_state_dict(w)
    return probe
