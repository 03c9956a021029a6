# %% [markdown]
# # Assignment 3: backpropagation through time
#
# You will write the backward pass of one LSTM step, then of a whole sequence (BPTT), and
# a centred-difference gradient check to trust them. This practises the chapter
# *Backpropagation through time*; read it first. Each section below names the equation
# labels it practises and the address of that place in the book's HTML. Names and
# signatures are those of `lstm_ref.numpy_lstm`; the forward passes come from the reference,
# so a mistake in a test can only be in your backward pass. Do not call
# `lstm_ref.numpy_lstm`'s backward functions or `lstm_ref.gradcheck` from your answers: an
# answer that does gets no points.
#
# **Notation**, the book's: $L$ is the loss, $\delta v = \mathrm{d}L/\mathrm{d}v$ is the
# **total** derivative of $L$ with respect to $v$ (every path from $v$ to $L$), and the
# code calls it `dv`; $\partial$ is a local partial derivative of one equation. What step
# $t + 1$ sends back to step $t$ are the two messages $\delta^{+} h_t$ and $\delta^{+} c_t$:
# the parts of $\delta h_t$ and $\delta c_t$ that arrive through step $t + 1$.
#
# Section 5 asks for four numbers you compute by hand from a small case. Validate with
# `nbgrader validate bptt.ipynb`; question 4 is graded by hand.

# %% [readonly] id=setup
import numpy as np

from lstm_ref import LSTMParams, grading, rel_error
from lstm_ref.numpy_lstm import StepCache, lstm_forward, lstm_step

# %% [markdown]
# ## 1. One step backward
#
# **Book:** *Backpropagation through time*, equations (eq:bptt-dh) to (eq:bptt-dh-prev) and
# (eq:bptt-dW), from `book/bptt.html#equation-eq-bptt-dh` on.
#
# `lstm_step(x, h_prev, c_prev, params)` returns `(h, c, cache)` with
# `cache = StepCache(x, h_prev, c_prev, i, f, g, o, tanh_c, params)` (all $(N, \cdot)$ arrays,
# `tanh_c` $= \tanh(c_t)$). `lstm_step_backward(dh, dc, cache)` receives:
#
# - `dh` $= \delta h_t = \partial \ell_t / \partial h_t + \delta^{+} h_t$, already total: the
#   loss's own term at step $t$ plus the message from step $t + 1$ (eq:bptt-dh);
# - `dc` $= \delta^{+} c_t$, the message from step $t + 1$ along the cell state; the path
#   from $c_t$ through $h_t$ is still to be added, by this step (eq:bptt-dc).
#
# The chapter's equations, elementwise:
#
# - $\delta o_t = \delta h_t \odot \tanh(c_t)$ (eq:bptt-do)
# - $\delta c_t = \delta h_t \odot o_t \odot (1 - \tanh^2 c_t) + \delta^{+} c_t$: both paths
#   into $c_t$ (eq:bptt-dc)
# - $\delta f_t = \delta c_t \odot c_{t-1}$, $\delta i_t = \delta c_t \odot g_t$,
#   $\delta g_t = \delta c_t \odot i_t$ (eq:bptt-gates)
# - $\delta^{+} c_{t-1} = f_t \odot \delta c_t$, the message along the cell state to step
#   $t - 1$, returned as `dc_prev` (eq:bptt-dc-prev)
# - $\delta a_t = [\delta i_t \odot i_t (1 - i_t),\; \delta f_t \odot f_t (1 - f_t),\; \delta g_t \odot (1 - g_t^2),\; \delta o_t \odot o_t (1 - o_t)]$,
#   of shape $(N, 4H)$ in the order $i, f, g, o$ (eq:bptt-preactivation)
# - $\delta x_t = W_{ih}^{\top} \delta a_t$ (eq:bptt-dx) and
#   $\delta^{+} h_{t-1} = W_{hh}^{\top} \delta a_t$ (eq:bptt-dh-prev), returned as `dx` and
#   `dh_prev`; with a batch of rows they are `da @ W_ih` and `da @ W_hh`
# - $\delta W_{ih} = \delta a_t\, x_t^{\top}$, $\delta W_{hh} = \delta a_t\, h_{t-1}^{\top}$,
#   $\delta b = \delta a_t$, summed over the batch: `da.T @ x`, `da.T @ h_prev`,
#   `da.sum(axis=0)` (this step's terms of eq:bptt-dW)
#
# Return `(dx, dh_prev, dc_prev, grads)` with `grads = LSTMParams(dW_ih, dW_hh, db)`.

# %% [solution] id=lstm_step_backward
def lstm_step_backward(dh, dc, cache):
    """Backward pass of one LSTM step: returns (dx, dh_prev, dc_prev, grads)."""
    ### BEGIN SOLUTION
    x, h_prev, c_prev, i, f, g, o, tanh_c, params = cache
    do = dh * tanh_c
    dc = dc + dh * o * (1.0 - tanh_c**2)
    df, di, dg = dc * c_prev, dc * g, dc * i
    dc_prev = dc * f
    da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)], axis=1)
    grads = LSTMParams(da.T @ x, da.T @ h_prev, da.sum(axis=0))
    return da @ params.W_ih, da @ params.W_hh, dc_prev, grads
    ### END SOLUTION

# %% [tests] id=test_lstm_step_backward points=3
grading.check_function(lstm_step_backward, "lstm_step_backward")
### BEGIN HIDDEN TESTS
grading.check_function(lstm_step_backward, "lstm_step_backward", hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. The whole sequence
#
# **Book:** *Backpropagation through time*, equations (eq:bptt-dh), (eq:bptt-dc) and
# (eq:bptt-dW), `book/bptt.html#equation-eq-bptt-dw`.
#
# `lstm_forward(x, params, h0, c0)` returns `(hs, (h_T, c_T), cache)` with a
# `SequenceCache` whose fields are `x` $(T, N, D)$, `h0`, `c0` $(N, H)$,
# `gates` $(T, N, 4H)$ ($i, f, g, o$ after their nonlinearities), `cs`, `tanh_cs`, `hs`
# $(T, N, H)$ ($c_1, \dots, c_T$, their tanh, $h_1, \dots, h_T$) and `params`.
#
# Walk $t = T, \dots, 1$. At each step, $\delta h_t$ is the loss's own term `dhs[t]`
# **plus** the message $\delta^{+} h_t$ that step $t + 1$ sent back (eq:bptt-dh); what
# arrives for $c_t$ is the message $\delta^{+} c_t$ (eq:bptt-dc). At $t = T$ the messages
# are `dh_T` and `dc_T`, the derivatives of a loss on the final states (zeros when `None`).
# Each parameter gradient is **summed** over all steps (eq:bptt-dW). Return
# `(dx, dh0, dc0, grads)`, with `dx` of shape $(T, N, D)$: after $t = 1$ the messages are
# $\delta h_0$ and $\delta c_0$, which are total because $h_0$ and $c_0$ have no other use.
#
# You may use your `lstm_step_backward` with a `StepCache(...)` that you build for each $t$.

# %% [solution] id=lstm_backward
def lstm_backward(dhs, cache, dh_T=None, dc_T=None):
    """BPTT over a sequence: returns (dx, dh0, dc0, grads), grads summed over time."""
    ### BEGIN SOLUTION
    T = cache.x.shape[0]
    dh_next = np.zeros_like(cache.h0) if dh_T is None else dh_T
    dc_next = np.zeros_like(cache.c0) if dc_T is None else dc_T
    dx = np.empty_like(cache.x)
    grads = LSTMParams(*(np.zeros_like(p) for p in cache.params))
    for t in reversed(range(T)):
        i, f, g, o = np.split(cache.gates[t], 4, axis=1)
        h_prev = cache.hs[t - 1] if t > 0 else cache.h0
        c_prev = cache.cs[t - 1] if t > 0 else cache.c0
        step = StepCache(cache.x[t], h_prev, c_prev, i, f, g, o, cache.tanh_cs[t], cache.params)
        dx[t], dh_next, dc_next, step_grads = lstm_step_backward(dhs[t] + dh_next, dc_next, step)
        grads = LSTMParams(*(a + b for a, b in zip(grads, step_grads)))
    return dx, dh_next, dc_next, grads
    ### END SOLUTION

# %% [tests] id=test_lstm_backward points=3
grading.check_function(lstm_backward, "lstm_backward")
### BEGIN HIDDEN TESTS
grading.check_function(lstm_backward, "lstm_backward", hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. A numerical gradient check
#
# **Book:** *Backpropagation through time*, section "Three ways to trust it",
# `book/bptt.html#three-ways-to-trust-it`.
#
# `numerical_gradient(f, x, h=1e-6)` returns the centred-difference gradient of the scalar
# `f()` with respect to the array `x`, which `f` reads. For each entry $k$: set
# `x[k] += h`, evaluate, set `x[k] -= 2h`, evaluate, **restore** `x[k]`, and use
#
# $$\frac{f(x + h e_k) - f(x - h e_k)}{2h},$$
#
# whose error is $O(h^2)$ ($e_k$ is the array with a 1 at entry $k$ and zeros elsewhere).
# `np.ndindex(x.shape)` walks every index.

# %% [solution] id=numerical_gradient
def numerical_gradient(f, x, h=1e-6):
    """Centred-difference gradient of f() with respect to x (same shape as x)."""
    ### BEGIN SOLUTION
    grad = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        old = x[k]
        x[k] = old + h
        f_plus = f()
        x[k] = old - h
        f_minus = f()
        x[k] = old
        grad[k] = (f_plus - f_minus) / (2 * h)
    return grad
    ### END SOLUTION

# %% [tests] id=test_numerical_gradient points=1
grading.check_numerical_gradient(numerical_gradient)
### BEGIN HIDDEN TESTS
grading.check_numerical_gradient(numerical_gradient, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# Now check your BPTT with it on a small problem. The loss is
# $L = \sum_t \ell_t$ with $\ell_t = \sum_{n, j} w_{t,n,j}\, h_{t,n,j}$ for a fixed random
# `w`, so the loss's own term at step $t$ is $\partial \ell_t / \partial h_t = w_t$, passed as
# `dhs`. With $h = 10^{-5}$, relative errors
# below $10^{-5}$ mean your gradients are right: the answer key reaches $10^{-7}$ at worst
# (on `dW_hh`, whose entries near zero make the relative error large), while a backward pass
# with one mistake in it gives errors of $10^{-2}$ or more.

# %% [code]
rng = np.random.default_rng(0)
T, N, D, H = 4, 2, 3, 5
params = LSTMParams.init(D, H, seed=0)
x, w = rng.normal(size=(T, N, D)), rng.normal(size=(T, N, H))
loss = lambda: float(np.sum(lstm_forward(x, params)[0] * w))  # noqa: E731
dx, dh0, dc0, grads = lstm_backward(w, lstm_forward(x, params)[2])
for name, value, analytic in [("x", x, dx), ("W_ih", params.W_ih, grads.W_ih), ("W_hh", params.W_hh, grads.W_hh), ("b", params.b, grads.b)]:
    print(f"d{name}: relative error {rel_error(numerical_gradient(loss, value, 1e-5), analytic):.1e}")

# %% [markdown]
# ## 4. Why the gradient survives (written answer, graded by hand)
#
# **Book:** *Backpropagation through time*, equations (eq:bptt-dc-prev),
# `book/bptt.html#equation-eq-bptt-dc-prev`, and (eq:bptt-dc-unrolled); *Recurrent networks
# and their limit*, equation (eq:rnn-jacobian-product), `book/rnn.html#equation-eq-rnn-jacobian-product`.
#
# Using (eq:bptt-dc-prev), explain in a few sentences what happens, as $k$ grows, to the
# part of $\delta c_t$ that reaches $c_{t-k}$ along the cell state when the forget gates
# stay close to 1, and why a vanilla RNN, whose $h_{t-1}$ reaches $h_t$ only through
# $W_{hh}$ and a tanh, behaves differently.

# %% [manual] id=written_forget_gate points=2
# ### BEGIN SOLUTION
# Along the cell path, step $t$ sends back $\delta^{+} c_{t-1} = f_t \odot \delta c_t$
# (eq:bptt-dc-prev), so the part of $\delta c_t$ that reaches $c_{t-k}$ along the cell state
# alone is $f_t \odot f_{t-1} \odot \dots \odot f_{t-k+1} \odot \delta c_t$ (eq:bptt-dc-unrolled
# adds the other paths). With forget gates near 1 that product stays near 1: the gradient is
# carried back almost unchanged, with no weight matrix and no squashing derivative in the way
# (the constant error carousel). In a vanilla RNN every step multiplies the gradient by
# $W_{hh}^{\top} \operatorname{diag}(1 - h_t^2)$; its norm is at most a product of factors
# $\gamma\, \sigma_{\max}(W_{hh})$ with $\gamma \le 1$ (eq:rnn-bound), so it typically
# shrinks exponentially in $k$, and it can explode only when $\sigma_{\max}(W_{hh}) > 1$.
# ### END SOLUTION

# %% [markdown]
# ## 5. Numbers by hand
#
# **Book:** *Backpropagation through time*, section "A backward pass by hand",
# `book/bptt.html#a-backward-pass-by-hand`, and equations (eq:bptt-dh) to (eq:bptt-dW);
# *Why the LSTM keeps gradients alive*, equation (eq:bias-decay),
# `book/gradient_flow.html#equation-eq-bias-decay`.
#
# The chapter works one backward pass by hand. Here is another, with other weights, nonzero
# initial states $h_0$ and $c_0$, and a loss at **both** steps,
# $L = \tfrac12 (h_1 - y_1)^2 + \tfrac12 (h_2 - y_2)^2$: one unit and one input
# ($H = D = 1$), two steps, one number per gate and matrix. The cell below prints the case
# and its forward pass. Compute the answers with pencil and paper or with Python as a
# calculator, from these numbers and the chapter's equations; keep four significant digits
# in each intermediate value (answers within 0.5 % are accepted). You may call your own
# `lstm_step_backward` to check yourself; calling `lstm_ref`'s backward functions instead
# would skip the skill this section is about, which is why (a) and (b) ask for quantities
# that no function returns as such.

# %% [readonly] id=worked_case
case = grading.worked.LSTM_CASE
print(case.table())
v = grading.worked.lstm_forward_values()  # every forward quantity of both steps
for t in (1, 2):
    print(f"step {t}: " + ", ".join(f"{q}_{t} = {v[f'{q}{t}']:.6f}" for q in ("i", "f", "g", "o", "c", "tanh_c", "h")))

# %% [markdown]
# **(a)** $\delta c_1$, the total derivative of $L$ with respect to $c_1$.

# %% [solution] id=dc_1
dc_1 = None  # replace None by your number
### BEGIN SOLUTION
dh2 = v["h2"] - case.y[1]  # nothing arrives from a step 3
dc2 = dh2 * v["o2"] * (1 - v["tanh_c2"] ** 2)
da2 = {  # δa^k_2 for the gates i, f, g, o
    "i": dc2 * v["g2"] * v["i2"] * (1 - v["i2"]),
    "f": dc2 * v["c1"] * v["f2"] * (1 - v["f2"]),
    "g": dc2 * v["i2"] * (1 - v["g2"] ** 2),
    "o": dh2 * v["tanh_c2"] * v["o2"] * (1 - v["o2"]),
}
dh1 = (v["h1"] - case.y[0]) + sum(W * da2[k] for W, k in zip(case.W_hh, "ifgo"))  # loss term + δ⁺h_1
dc_1 = dh1 * v["o1"] * (1 - v["tanh_c1"] ** 2) + v["f2"] * dc2  # through h_1 + along the cell lane
### END SOLUTION

# %% [tests] id=test_dc_1 points=2
grading.check_number(dc_1, "bptt_dc_1")

# %% [markdown]
# **(b)** The forget gate's recurrent weight $W_{hf}$ (the $f$ entry of $W_{hh}$) is used at
# both steps, so its total derivative $\delta W_{hf} = \mathrm{d}L/\mathrm{d}W_{hf}$ is a sum
# of one term per step, $\delta a^f_t\, h_{t-1}$ (eq:bptt-dW), where $\delta a^f_t$ is the
# total derivative of $L$ with respect to the forget gate's pre-activation at step $t$. Give
# step 1's term, $\delta a^f_1\, h_0$. No function of `lstm_ref` returns it on its own.

# %% [solution] id=dW_hf_1
dW_hf_1 = None  # replace None by your number
### BEGIN SOLUTION
da_f1 = dc_1 * case.c0 * v["f1"] * (1 - v["f1"])  # δf_1 = δc_1 c_0, then σ'
dW_hf_1 = da_f1 * case.h0  # ∂a^f_1/∂W_hf = h_0
### END SOLUTION

# %% [tests] id=test_dW_hf_1 points=2
grading.check_number(dW_hf_1, "bptt_dW_hf_1")

# %% [markdown]
# **(c)** $\delta W_{hf}$ itself, summed over both steps.

# %% [solution] id=dW_hf
dW_hf = None  # replace None by your number
### BEGIN SOLUTION
dW_hf = da_f1 * case.h0 + da2["f"] * v["h1"]  # one weight, two uses: Σ_t δa^f_t h_{t-1}
### END SOLUTION

# %% [tests] id=test_dW_hf points=1
grading.check_number(dW_hf, "bptt_dW_hf")

# %% [markdown]
# **(d)** An untrained LSTM has forget-gate bias $b_f = 3$ and weights near zero. After how
# many steps has the cell path kept half of a gradient? (A number of steps, not rounded to
# an integer.)

# %% [solution] id=half_life
half_life = None  # replace None by your number
### BEGIN SOLUTION
f = 1 / (1 + np.exp(-3.0))  # f_t ≈ σ(b_f)
half_life = np.log(2) / np.log(1 / f)  # f^k = 1/2
### END SOLUTION

# %% [tests] id=test_half_life points=1
grading.check_number(half_life, "bptt_half_life")
