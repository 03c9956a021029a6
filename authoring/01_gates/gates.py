# %% [markdown]
# # Assignment 1: the gates of one LSTM cell
#
# You will write the LSTM cell piece by piece in NumPy, one function per equation of the
# chapter *The LSTM cell*, then one fused time step as in *Running an LSTM over a sequence*.
# Read those two chapters of the book first; each section below names the equations it
# practises, by their label in the book, and the address of that place in the book's HTML
# (relative to the book's root, e.g. `_build/html/`). Every function has exactly the name
# and signature of `lstm_ref.numpy_lstm`, and each test compares yours with the reference on
# the same random inputs (several shapes, $N = 1$, $D \neq H$, large inputs, float64).
#
# **Notation** (the book's *Notation* page, `book/notation.html`): $N$ sequences in a batch,
# $D$ input features, $H$ hidden units; the four layers in the order $i, f, g, o$. The book
# writes its equations for one example, with column vectors; your functions get a batch of
# $N$ rows, so a product $W v$ is written `v @ W.T`.
#
# - Fill in every cell that says `YOUR CODE HERE` (delete the `raise NotImplementedError()`).
# - Run the test cell under it. A failing test says which output is wrong, by how much,
#   and, when your answer matches a known mistake, which one and which equation of the book
#   to read again.
# - Do not call `lstm_ref.numpy_lstm` from your answers: an answer that calls the
#   reference gets no points.
# - When all visible tests pass, validate: `nbgrader validate gates.ipynb` (or the
#   *Validate* button). The grader runs further hidden tests with other sizes.

# %% [readonly] id=setup
import numpy as np

from lstm_ref import LSTMParams, grading

rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The sigmoid
#
# **Book:** *The LSTM cell*, equation (eq:sigmoid), `book/cell.html#equation-eq-sigmoid`.
#
# $$\sigma(z) = \frac{1}{1 + e^{-z}}.$$
#
# Written like that, `np.exp(-z)` overflows for $z = -1000$. Make it stable: with
# `e = np.exp(-np.abs(z))`, that is $e^{-|z|}$, which is never above 1,
#
# $$\sigma(z) = \frac{1}{1 + e^{-|z|}} \text{ where } z \ge 0,
# \qquad \sigma(z) = \frac{e^{-|z|}}{1 + e^{-|z|}} \text{ where } z < 0.$$

# %% [solution] id=sigmoid
def sigmoid(z):
    """σ(z) for an array z of any shape, without overflow for any finite z."""
    ### BEGIN SOLUTION
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    ### END SOLUTION

# %% [tests] id=test_sigmoid points=1
grading.check_function(sigmoid, "sigmoid")
### BEGIN HIDDEN TESTS
grading.check_function(sigmoid, "sigmoid", hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. The four gates
#
# **Book:** *The LSTM cell*, equations (eq:forget-gate), (eq:input-gate), (eq:candidate)
# and (eq:output-gate), from `book/cell.html#equation-eq-forget-gate` on.
#
# Each of the four layers reads the concatenation $[h_{t-1}, x_t]$ (hidden state first)
# through its own weights $W$ of shape $(H, H + D)$ and bias $b$ of shape $(H,)$:
#
# - forget gate $f_t = \sigma(W_f [h_{t-1}, x_t] + b_f)$ (eq:forget-gate)
# - input gate $i_t = \sigma(W_i [h_{t-1}, x_t] + b_i)$ (eq:input-gate)
# - candidate values $g_t = \tanh(W_g [h_{t-1}, x_t] + b_g)$ (eq:candidate)
# - output gate $o_t = \sigma(W_o [h_{t-1}, x_t] + b_o)$ (eq:output-gate)
#
# `x` is $(N, D)$ and `h_prev` is $(N, H)$, one row per sequence of the batch, so the
# product is `np.concatenate([h_prev, x], axis=1) @ W.T`. Use your `sigmoid`.

# %% [solution] id=forget_gate
def forget_gate(x, h_prev, W_f, b_f):
    """f_t, shape (N, H)."""
    ### BEGIN SOLUTION
    return sigmoid(np.concatenate([h_prev, x], axis=1) @ W_f.T + b_f)
    ### END SOLUTION

# %% [tests] id=test_forget_gate points=1
grading.check_function(forget_gate, "forget_gate")
### BEGIN HIDDEN TESTS
grading.check_function(forget_gate, "forget_gate", hidden=True)
### END HIDDEN TESTS

# %% [solution] id=input_gate
def input_gate(x, h_prev, W_i, b_i):
    """i_t, shape (N, H)."""
    ### BEGIN SOLUTION
    return sigmoid(np.concatenate([h_prev, x], axis=1) @ W_i.T + b_i)
    ### END SOLUTION

# %% [tests] id=test_input_gate points=1
grading.check_function(input_gate, "input_gate")
### BEGIN HIDDEN TESTS
grading.check_function(input_gate, "input_gate", hidden=True)
### END HIDDEN TESTS

# %% [solution] id=candidate
def candidate(x, h_prev, W_g, b_g):
    """g_t (the seeds' C̃_t), shape (N, H)."""
    ### BEGIN SOLUTION
    return np.tanh(np.concatenate([h_prev, x], axis=1) @ W_g.T + b_g)
    ### END SOLUTION

# %% [tests] id=test_candidate points=1
grading.check_function(candidate, "candidate")
### BEGIN HIDDEN TESTS
grading.check_function(candidate, "candidate", hidden=True)
### END HIDDEN TESTS

# %% [solution] id=output_gate
def output_gate(x, h_prev, W_o, b_o):
    """o_t, shape (N, H)."""
    ### BEGIN SOLUTION
    return sigmoid(np.concatenate([h_prev, x], axis=1) @ W_o.T + b_o)
    ### END SOLUTION

# %% [tests] id=test_output_gate points=1
grading.check_function(output_gate, "output_gate")
### BEGIN HIDDEN TESTS
grading.check_function(output_gate, "output_gate", hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Cell state and hidden state
#
# **Book:** *The LSTM cell*, equations (eq:cell-state), `book/cell.html#equation-eq-cell-state`,
# and (eq:hidden-state), `book/cell.html#equation-eq-hidden-state`.
#
# $$c_t = f_t \odot c_{t-1} + i_t \odot g_t, \qquad h_t = o_t \odot \tanh(c_t).$$
#
# $\odot$ is the elementwise product (`*` in NumPy).

# %% [solution] id=cell_state
def cell_state(f, c_prev, i, g):
    """c_t, shape (N, H)."""
    ### BEGIN SOLUTION
    return f * c_prev + i * g
    ### END SOLUTION

# %% [tests] id=test_cell_state points=1
grading.check_function(cell_state, "cell_state")
### BEGIN HIDDEN TESTS
grading.check_function(cell_state, "cell_state", hidden=True)
### END HIDDEN TESTS

# %% [solution] id=hidden_state
def hidden_state(o, c):
    """h_t, shape (N, H)."""
    ### BEGIN SOLUTION
    return o * np.tanh(c)
    ### END SOLUTION

# %% [tests] id=test_hidden_state points=1
grading.check_function(hidden_state, "hidden_state")
### BEGIN HIDDEN TESTS
grading.check_function(hidden_state, "hidden_state", hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. One fused time step
#
# **Book:** *Running an LSTM over a sequence*, equations (eq:fused-preactivation),
# `book/sequence.html#equation-eq-fused-preactivation`, and (eq:concat-split).
#
# Real implementations stack the four layers' weights into one matrix, in the order
# $i, f, g, o$ (PyTorch's): `params.W_ih` $(4H, D)$, `params.W_hh` $(4H, H)$, `params.b`
# $(4H,)$. One product gives all four pre-activations at once:
#
# $$a_t = W_{ih} x_t + W_{hh} h_{t-1} + b \in \mathbb{R}^{4H},$$
#
# in code `a = x @ params.W_ih.T + h_prev @ params.W_hh.T + params.b`, of shape $(N, 4H)$.
# Its four slices of $H$ columns are, in order, the pre-activations $a^i_t, a^f_t, a^g_t, a^o_t$:
# $i_t = \sigma(a^i_t)$ from `a[:, 0:H]`, $f_t = \sigma(a^f_t)$ from `a[:, H:2H]`,
# $g_t = \tanh(a^g_t)$ from `a[:, 2H:3H]` and $o_t = \sigma(a^o_t)$ from `a[:, 3H:4H]`;
# then $c_t$ and $h_t$ as in section 3.
#
# Return `(h, c, cache)`; the tests only read `h` and `c`, so `cache` may be anything
# (`None` is fine) until assignment 3. Use the functions you wrote above where they help.
# The cell below shows how the per-gate weights relate to the stacked ones: $W_f$ is the
# $f$ rows of $W_{hh}$ and $W_{ih}$ side by side, $[W_{hf} \mid W_{if}]$ (eq:concat-split).

# %% [code]
params = LSTMParams.init(input_size=3, hidden_size=2, seed=0)
W_f, b_f = params.gate("f")  # rows H:2H of the stacked weights, columns [h | x]
print("W_ih", params.W_ih.shape, "W_hh", params.W_hh.shape, "b", params.b.shape, "-> W_f", W_f.shape)

# %% [solution] id=lstm_step
def lstm_step(x, h_prev, c_prev, params):
    """One LSTM step: returns (h, c, cache) with h, c of shape (N, H)."""
    ### BEGIN SOLUTION
    H = h_prev.shape[1]
    a = x @ params.W_ih.T + h_prev @ params.W_hh.T + params.b  # (N, 4H)
    i = sigmoid(a[:, :H])
    f = sigmoid(a[:, H : 2 * H])
    g = np.tanh(a[:, 2 * H : 3 * H])
    o = sigmoid(a[:, 3 * H :])
    c = f * c_prev + i * g
    h = o * np.tanh(c)
    return h, c, None
    ### END SOLUTION

# %% [tests] id=test_lstm_step points=2
grading.check_function(lstm_step, "lstm_step")
### BEGIN HIDDEN TESTS
grading.check_function(lstm_step, "lstm_step", hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Numbers by hand
#
# **Book:** *The LSTM cell*, equations (eq:forget-gate), (eq:cell-state) and
# (eq:hidden-state), `book/cell.html#equation-eq-cell-state`.
#
# Five numbers that no function above returns: compute each with pencil and paper or with
# Python as a calculator (`np.log`, `np.tanh`), from the equations. Answers within 0.5 %
# are accepted.
#
# **(a)** A unit's weights are near zero, so its forget gate is $f_t = \sigma(b_f)$ at every
# step. Which bias $b_f$ makes the cell keep exactly 95 % of $c_{t-1}$ at each step?

# %% [solution] id=b_f
b_f = None  # replace None by your number
### BEGIN SOLUTION
b_f = np.log(0.95 / (1 - 0.95))  # σ(b_f) = 0.95
### END SOLUTION

# %% [tests] id=test_b_f points=2
grading.check_number(b_f, "gates_b_f")

# %% [markdown]
# **(b)** Another unit has the same gate values at every step, $f_t = 0.75$, $i_t = 0.6$,
# $g_t = 0.7$, and starts from $c_0 = 0$. What value does $c_t$ approach as $t$ grows?

# %% [solution] id=c_limit
c_limit = None  # replace None by your number
### BEGIN SOLUTION
c_limit = 0.6 * 0.7 / (1 - 0.75)  # the fixed point of c = f c + i g
### END SOLUTION

# %% [tests] id=test_c_limit points=2
grading.check_number(c_limit, "gates_c_limit")

# %% [markdown]
# **(c)** The same unit's output gate is $o_t = 0.5$. What value does $h_t$ approach?

# %% [solution] id=h_limit
h_limit = None  # replace None by your number
### BEGIN SOLUTION
h_limit = 0.5 * np.tanh(c_limit)  # h = o tanh(c) at the limit of c
### END SOLUTION

# %% [tests] id=test_h_limit points=2
grading.check_number(h_limit, "gates_h_limit")

# %% [markdown]
# **(d)** A unit with one input ($H = D = 1$) has the forget-gate weights
# $W_f = [2, 4]$, acting on $[h_{t-1}, x_t]$ (eq:forget-gate), and the bias $b_f = 0.5$.
# Its previous hidden state is $h_{t-1} = 0.5$. Which input $x_t$ makes the gate keep only
# 10 % of the cell, $f_t = 0.1$?

# %% [solution] id=x_close
x_close = None  # replace None by your number
### BEGIN SOLUTION
a_f = np.log(0.1 / (1 - 0.1))  # σ(a_f) = 0.1
x_close = (a_f - 2 * 0.5 - 0.5) / 4  # a_f = 2 h_{t-1} + 4 x_t + b_f
### END SOLUTION

# %% [tests] id=test_x_close points=2
grading.check_number(x_close, "gates_x_close")

# %% [markdown]
# **(e)** A cell holds $c_0 = 2$. For the next ten steps its input gate is closed,
# $i_t = 0$, and its forget gate is $f_t = 0.9$. What is $c_{10}$?

# %% [solution] id=c_10
c_10 = None  # replace None by your number
### BEGIN SOLUTION
c_10 = 2 * 0.9**10  # c_t = f c_{t-1} + 0 · g, ten times
### END SOLUTION

# %% [tests] id=test_c_10 points=2
grading.check_number(c_10, "gates_c_10")
