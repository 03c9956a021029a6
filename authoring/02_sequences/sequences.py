# %% [markdown]
# # Assignment 2: a whole sequence, and agreeing with `torch.nn.LSTM`
#
# You will run the LSTM over a batch of sequences, with optional initial states, then port
# weights between `lstm_ref.LSTMParams` and `torch.nn.LSTM` and check that both compute
# the same outputs; section 5 asks for three numbers you work out by hand. This practises the chapter *Running an LSTM over a sequence*; read it
# first. Each section below names the chapter, the equation labels or section it practises,
# and the address of that place in the book's HTML. Names and signatures are those of
# `lstm_ref.numpy_lstm`; the tests compare your functions with the reference on the same
# inputs.
#
# **Notation** (the book's *Notation* page, `book/notation.html`): $T$ steps, $N$ sequences
# in a batch, $D$ inputs, $H$ hidden units. Sequences are time-major: `x` has shape
# $(T, N, D)$, like `torch.nn.LSTM`'s default. The four layers are stacked in the order
# $i, f, g, o$: `params.W_ih` $(4H, D)$, `params.W_hh` $(4H, H)$, `params.b` $(4H,)$.
#
# Do not call `lstm_ref.numpy_lstm` or the conversions of `LSTMParams` from your answers:
# an answer that calls them gets no points. Validate with `nbgrader validate sequences.ipynb`.

# %% [readonly] id=setup
import numpy as np
import torch

from lstm_ref import LSTMParams, grading

torch.set_default_dtype(torch.float64)

# %% [markdown]
# ## 1. The forward pass over a sequence
#
# **Book:** *Running an LSTM over a sequence*, equation (eq:fused-preactivation),
# `book/sequence.html#equation-eq-fused-preactivation`, and the sections "Shapes",
# "Initial states" and "Hoisting the input projection".
#
# For $t = 1, \dots, T$: $a_t = W_{ih} x_t + W_{hh} h_{t-1} + b$ (eq:fused-preactivation),
# then the gates, $c_t$ and $h_t$ exactly as in assignment 1. `h0` and `c0` are $(N, H)$;
# when they are `None`, start from zeros (with the dtype of `x`).
#
# Return `(hs, (h_T, c_T), cache)`: `hs` $(T, N, H)$ stacks $h_1, \dots, h_T$ (not $h_0$),
# and `(h_T, c_T)` are the final states. The tests do not read `cache` (use `None`).
#
# Hint: $W_{ih} x_t$ does not depend on the previous step, so all $T$ of them can be one
# product before the loop (`x @ params.W_ih.T` on the whole $(T, N, D)$ array); only the
# $W_{hh} h_{t-1}$ product has to wait.

# %% [readonly] id=helpers
def sigmoid(z):
    """The stable σ of assignment 1."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))

# %% [solution] id=lstm_forward
def lstm_forward(x, params, h0=None, c0=None):
    """Run the LSTM over x (T, N, D); returns (hs, (h_T, c_T), cache)."""
    ### BEGIN SOLUTION
    T, N, D = x.shape
    H = params.W_hh.shape[1]
    h = np.zeros((N, H), dtype=x.dtype) if h0 is None else h0
    c = np.zeros((N, H), dtype=x.dtype) if c0 is None else c0
    ax = x @ params.W_ih.T + params.b  # (T, N, 4H): the input part of every step at once
    hs = np.empty((T, N, H), dtype=x.dtype)
    for t in range(T):
        a = ax[t] + h @ params.W_hh.T  # (N, 4H)
        i, f = sigmoid(a[:, :H]), sigmoid(a[:, H : 2 * H])
        g, o = np.tanh(a[:, 2 * H : 3 * H]), sigmoid(a[:, 3 * H :])
        c = f * c + i * g
        h = o * np.tanh(c)
        hs[t] = h
    return hs, (h, c), None
    ### END SOLUTION

# %% [tests] id=test_lstm_forward points=3
grading.check_function(lstm_forward, "lstm_forward")
### BEGIN HIDDEN TESTS
grading.check_function(lstm_forward, "lstm_forward", hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. From `torch.nn.LSTM` to `LSTMParams`
#
# **Book:** *Running an LSTM over a sequence*, section "Exactly `torch.nn.LSTM`",
# `book/sequence.html#exactly-torch-nn-lstm`; how other libraries store the same weights is
# in the appendix *Weight layouts across libraries*, `book/layouts.html`.
#
# A one-layer `nn.LSTM(D, H)` holds `weight_ih_l0` $(4H, D)$, `weight_hh_l0` $(4H, H)$, and
# **two** biases `bias_ih_l0` and `bias_hh_l0` of shape $(4H,)$, in the same gate order
# $i, f, g, o$. It adds both biases to every pre-activation,
# $a_t = W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}$, so our one bias is their sum,
# $b = b_{ih} + b_{hh}$.
#
# Write `params_from_torch(lstm)` returning `LSTMParams(W_ih, W_hh, b)` of float64
# NumPy arrays (`tensor.detach().numpy()`).

# %% [solution] id=params_from_torch
def params_from_torch(lstm):
    """LSTMParams (NumPy) holding the weights of a one-layer torch.nn.LSTM."""
    ### BEGIN SOLUTION
    W_ih = lstm.weight_ih_l0.detach().numpy().copy()
    W_hh = lstm.weight_hh_l0.detach().numpy().copy()
    b = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach().numpy()
    return LSTMParams(W_ih, W_hh, b)
    ### END SOLUTION

# %% [tests] id=test_params_from_torch points=1
grading.check_params_from_torch(params_from_torch)
### BEGIN HIDDEN TESTS
grading.check_params_from_torch(params_from_torch, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. From `LSTMParams` to `torch.nn.LSTM`
#
# **Book:** the same section, "Exactly `torch.nn.LSTM`", `book/sequence.html#exactly-torch-nn-lstm`.
#
# Write `params_to_torch(params)` returning a new float64 `nn.LSTM(D, H)` that computes
# the same function. Copy the weights under `torch.no_grad()` (e.g. `module.weight_ih_l0.copy_(...)`);
# remember that `nn.LSTM` starts with random values in *both* biases, and that only their
# sum $b_{ih} + b_{hh}$ has to equal $b$.

# %% [solution] id=params_to_torch
def params_to_torch(params):
    """A float64 torch.nn.LSTM with the weights of params."""
    ### BEGIN SOLUTION
    D, H = params.W_ih.shape[1], params.W_hh.shape[1]
    lstm = torch.nn.LSTM(D, H, dtype=torch.float64)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(params.W_ih))
        lstm.weight_hh_l0.copy_(torch.from_numpy(params.W_hh))
        lstm.bias_ih_l0.copy_(torch.from_numpy(params.b))
        lstm.bias_hh_l0.zero_()
    return lstm
    ### END SOLUTION

# %% [tests] id=test_params_to_torch points=1
grading.check_params_to_torch(params_to_torch)
### BEGIN HIDDEN TESTS
grading.check_params_to_torch(params_to_torch, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Do they agree?
#
# **Book:** *Running an LSTM over a sequence*, section "Exactly `torch.nn.LSTM`",
# `book/sequence.html#exactly-torch-nn-lstm`.
#
# Run your `lstm_forward` and `torch.nn.LSTM` on the same sequence and initial states.
# In float64 the largest difference should be around $10^{-15}$. `nn.LSTM` wants the initial
# states with a leading layer axis, $(1, N, H)$.

# %% [code]
lstm = torch.nn.LSTM(3, 5)
x = np.random.default_rng(0).normal(size=(7, 2, 3))  # (T, N, D)
h0, c0 = np.zeros((2, 5)), np.ones((2, 5))
hs, (h_T, c_T), _ = lstm_forward(x, params_from_torch(lstm), h0, c0)
with torch.no_grad():
    hs_torch, (h_n, c_n) = lstm(torch.from_numpy(x), (torch.from_numpy(h0)[None], torch.from_numpy(c0)[None]))
print("largest |hs - hs_torch|:", np.abs(hs - hs_torch.numpy()).max())
print("largest |c_T - c_n|:    ", np.abs(c_T - c_n[0].numpy()).max())

# %% [markdown]
# ## 5. Numbers by hand
#
# **Book:** *Running an LSTM over a sequence*, sections "Shapes", "Initial states",
# "Stacking layers" (eq:stacked-layers), "Exactly `torch.nn.LSTM`" and "Both directions",
# `book/sequence.html#stacking-layers`.
#
# Three numbers, each from the shapes and equations of the chapter: work them out with
# pencil and paper or with Python as a calculator. Answers within 0.5 % are accepted.
#
# **(a)** How many trainable numbers (weights and biases) does `torch.nn.LSTM(3, 4)` hold,
# $D = 3$ inputs and $H = 4$ hidden units, one layer?

# %% [solution] id=count_1
count_1 = None  # replace None by your number
### BEGIN SOLUTION
count_1 = 4 * 4 * 3 + 4 * 4 * 4 + 2 * 4 * 4  # W_ih (4H, D), W_hh (4H, H), bias_ih and bias_hh (4H,)
### END SOLUTION

# %% [tests] id=test_count_1 points=2
grading.check_number(count_1, "sequences_count_1")

# %% [markdown]
# **(b)** And `torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)`: two layers, each
# with a forward and a reverse direction?

# %% [solution] id=count_2
count_2 = None  # replace None by your number
### BEGIN SOLUTION
layer_1 = 4 * 4 * 3 + 4 * 4 * 4 + 2 * 4 * 4  # per direction, as in (a)
layer_2 = 4 * 4 * 8 + 4 * 4 * 4 + 2 * 4 * 4  # per direction; its input is [h→_t, h←_t], 2H = 8
count_2 = 2 * (layer_1 + layer_2)
### END SOLUTION

# %% [tests] id=test_count_2 points=2
grading.check_number(count_2, "sequences_count_2")

# %% [markdown]
# **(c)** One unit with one input ($H = D = 1$) has the stacked weights
# `W_ih` $= (0, \ln 3, -\ln 3, \ln 4)^\top$ (blocks $i, f, g, o$), `W_hh` $= 0$ and
# `b` $= 0$.
# It reads the sequence `x = np.ones((3, 1, 1))` from `h0 = [[1.0]]` and `c0 = [[3.0]]`.
# What is `hs[1, 0, 0]` of `lstm_forward(x, params, h0, c0)`? (Check it afterwards with
# your function from section 1, if you like; the point is to see why it is what it is.)

# %% [solution] id=hs_1
hs_1 = None  # replace None by your number
### BEGIN SOLUTION
i, f, g, o = 0.5, 0.75, -0.8, 0.8  # σ(0), σ(ln 3), tanh(−ln 3), σ(ln 4): W_hh = 0, so h0 plays no part
c_1 = f * 3.0 + i * g
c_2 = f * c_1 + i * g
hs_1 = o * np.tanh(c_2)  # hs[1] is h_2: hs holds h_1, ..., h_T
### END SOLUTION

# %% [tests] id=test_hs_1 points=2
grading.check_number(hs_1, "sequences_hs_1")
