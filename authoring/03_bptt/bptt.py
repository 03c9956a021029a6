# %% [markdown]
# # Assignment 3: backpropagation through time
#
# You will write the backward pass of one LSTM step, then of a whole sequence (BPTT), and
# a centred-difference gradient check to trust them. Names and signatures are those of
# `lstm_ref.numpy_lstm`; the forward passes come from the reference, so a mistake in a test
# can only be in your backward pass. Do not call `lstm_ref.numpy_lstm`'s backward functions
# or `lstm_ref.gradcheck` from your answers: an answer that does gets no points.
#
# Validate with `nbgrader validate bptt.ipynb`; the last question is graded by hand.

# %% [readonly] id=setup
import numpy as np

from lstm_ref import LSTMParams, grading, rel_error
from lstm_ref.numpy_lstm import StepCache, lstm_forward, lstm_step

# %% [markdown]
# ## 1. One step backward
#
# `lstm_step(x, h_prev, c_prev, params)` returns `(h, c, cache)` with
# `cache = StepCache(x, h_prev, c_prev, i, f, g, o, tanh_c, params)` (all `(N, ·)` arrays,
# `tanh_c = tanh(c_t)`). Given `dh = ∂L/∂h_t` and `dc = ∂L/∂c_t` arriving from outside the
# step (the loss at t and the step t+1), the chapter's equations are:
#
# - do = dh ⊙ tanh(c_t) (eq:bptt-do)
# - dc_total = dc + dh ⊙ o ⊙ (1 − tanh²(c_t)): both paths into c_t (eq:bptt-dc)
# - df = dc_total ⊙ c_{t−1}, di = dc_total ⊙ g, dg = dc_total ⊙ i (eq:bptt-gates)
# - dc_prev = dc_total ⊙ f (eq:bptt-dc-prev)
# - da = [di ⊙ i(1−i), df ⊙ f(1−f), dg ⊙ (1−g²), do ⊙ o(1−o)], shape (N, 4H), order i, f, g, o (eq:bptt-preactivation)
# - dx = da W_ih, dh_prev = da W_hh (eq:bptt-dx, eq:bptt-dh-prev)
# - dW_ih = daᵀ x, dW_hh = daᵀ h_{t−1}, db = Σ_n da (eq:bptt-dW)
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
# `lstm_forward(x, params, h0, c0)` returns `(hs, (h_T, c_T), cache)` with a
# `SequenceCache` whose fields are `x (T, N, D)`, `h0`, `c0 (N, H)`,
# `gates (T, N, 4H)` (i, f, g, o after their nonlinearities), `cs`, `tanh_cs`, `hs (T, N, H)`
# (c_1 .. c_T, their tanh, h_1 .. h_T) and `params`.
#
# Walk t = T .. 1. At each step, the gradient on h_t is the loss's own `dhs[t]` **plus**
# what step t+1 sent back (eq:bptt-dh); the gradient on c_t is what step t+1 sent back;
# at t = T these are `dh_T` and `dc_T` (zeros when `None`). Each parameter gradient is
# **summed** over all steps. Return `(dx (T, N, D), dh0, dc0, grads)`.
#
# You may use your `lstm_step_backward` with a `StepCache(...)` that you build for each t.

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
# `numerical_gradient(f, x, h=1e-6)` returns the centred-difference gradient of the scalar
# `f()` with respect to the array `x`, which `f` reads: for each entry k, set
# `x[k] += h`, evaluate, set `x[k] -= 2h`, evaluate, **restore** `x[k]`, and use
# (f(x + h e_k) − f(x − h e_k)) / 2h, whose error is O(h²). `np.ndindex(x.shape)` walks
# every index.

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
# Now check your BPTT with it on a small problem. The loss is L = Σ_t Σ w_t ⊙ h_t for a
# fixed random `w`, so ∂L/∂h_t = w_t. With h = 1e-5, relative errors below 1e-5 mean your
# gradients are right: the answer key reaches 1e-7 at worst (on `dW_hh`, whose entries near
# zero make the relative error large), while a backward pass with one mistake in it gives
# errors of 1e-2 or more.

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
# Using the equation for dc_prev (eq:bptt-dc-prev), explain in a few sentences what
# happens to ∂L/∂c_{t−k} as k grows when the forget gates stay close to 1, and why a
# vanilla RNN, whose h_{t−1} reaches h_t only through W_hh and a tanh, behaves differently.

# %% [manual] id=written_forget_gate points=2
# ### BEGIN SOLUTION
# Along the cell path, dc_prev = dc ⊙ f_t, so the gradient reaching c_{t−k} is the product
# f_t ⊙ f_{t−1} ⊙ … ⊙ f_{t−k+1} times ∂L/∂c_t (plus other paths). With forget gates near 1
# that product stays near 1: the gradient is carried back almost unchanged, with no weight
# matrix and no squashing derivative in the way (the constant error carousel). In a vanilla
# RNN every step multiplies the gradient by W_hhᵀ diag(1 − h_t²); its size behaves like a
# power of the largest singular value times tanh' ≤ 1, so it shrinks (or explodes)
# exponentially in k.
# ### END SOLUTION
