# %% [markdown]
# # Assignment 5: the GRU, derived
#
# The chapter *The GRU: an LSTM with coupled gates and no cell* gives the gated recurrent
# unit's equations in PyTorch's form. Here you turn them into code and, above all, into
# gradients: the GRU's step and its pass over a sequence, then its backpropagation through
# time, derived from the forward equations the way the chapter *Backpropagation through
# time* derives the LSTM's. Section 5 asks for a backward pass that the book does not derive
# at all, and section 6 for four numbers you compute by hand from a small case.
#
# Everything is graded against `lstm_ref`'s GRU on the same random inputs, and every
# backward pass also against centred differences of `lstm_ref`'s forward pass. The chapter
# gives the equations and their shapes, not `lstm_ref`'s GRU code: what you write comes from
# the equations. Do not call `lstm_ref.numpy_gru`'s or `lstm_ref.torch_gru`'s functions, `lstm_ref.gradcheck`
# or torch's autograd from your answers: an answer that does gets no points. The classes
# `StepCache` and `SequenceCache` imported below are yours to use.
#
# **Notation**, the book's: $\delta v = \mathrm{d}L/\mathrm{d}v$ is the **total** derivative
# of the loss with respect to $v$ (the code calls it `dv`), $\partial$ a local partial
# derivative of one equation, and $\delta^{+} h_t$ the message that step $t + 1$ sends back
# to step $t$. Validate with `nbgrader validate gru.ipynb`; the last question is graded by
# hand.

# %% [readonly] id=setup
import numpy as np

from lstm_ref import grading, rel_error
from lstm_ref.gradcheck import numerical_gradient
from lstm_ref.gru_params import GRUParams
from lstm_ref.numpy_gru import SequenceCache, StepCache
from lstm_ref.numpy_lstm import sigmoid

# %% [markdown]
# ## 1. One step
#
# **Book:** *The GRU*, equations (eq:gru-reset-gate) to (eq:gru-hidden-state) and
# (eq:gru-fused-preactivation), `book/gru.html#equation-eq-gru-fused-preactivation`.
#
# `params` is a `GRUParams` in `torch.nn.GRU`'s layout: `W_ih` $(3H, D)$, `W_hh` $(3H, H)$,
# and two biases `b_ih`, `b_hh` $(3H,)$, each stacked in the order $r, z, n$. Write
# `gru_step(x, h_prev, params)` for a batch, `x` $(N, D)$ and `h_prev` $(N, H)$. Return
# `(h, cache)` with `cache = StepCache(x, h_prev, r, z, n, u_n, params)`, where `u_n` $(N, H)$
# is $u^n_t = W_{hn} h_{t-1} + b_{hn}$, the term the reset gate scales. `sigmoid` is imported
# above.

# %% [solution] id=gru_step
def gru_step(x, h_prev, params):
    """One GRU step in PyTorch's form: returns (h, cache)."""
    ### BEGIN SOLUTION
    H = h_prev.shape[1]
    a = x @ params.W_ih.T + params.b_ih  # (N, 3H): a_t
    u = h_prev @ params.W_hh.T + params.b_hh  # (N, 3H): u_t
    r = sigmoid(a[:, :H] + u[:, :H])
    z = sigmoid(a[:, H : 2 * H] + u[:, H : 2 * H])
    n = np.tanh(a[:, 2 * H :] + r * u[:, 2 * H :])
    h = (1 - z) * n + z * h_prev
    return h, StepCache(x, h_prev, r, z, n, u[:, 2 * H :], params)
    ### END SOLUTION

# %% [tests] id=test_gru_step points=1
grading.check_gru(gru_step, "gru_step")
### BEGIN HIDDEN TESTS
grading.check_gru(gru_step, "gru_step", hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. A sequence
#
# **Book:** *The GRU*, section "One step in code", `book/gru.html#one-step-in-code`.
#
# Write `gru_forward(x, params, h0=None)` for `x` $(T, N, D)$, time-major, starting from `h0`
# (zeros of shape $(N, H)$ when `None`). Return `(hs, h_T, cache)`: `hs` $(T, N, H)$ holds
# $h_1, \dots, h_T$, and `cache = SequenceCache(x, h0, gates, u_ns, hs, params)` with `gates`
# $(T, N, 3H)$ ($r, z, n$ of every step, concatenated in that order) and `u_ns` $(T, N, H)$.
# The tests compare `hs` and `h_T`; the cache is what a backward pass reads (the tests of
# section 4 give your `gru_backward` the reference's cache, with these fields).

# %% [solution] id=gru_forward
def gru_forward(x, params, h0=None):
    """The GRU over a sequence: returns (hs, h_T, cache)."""
    ### BEGIN SOLUTION
    N, H = x.shape[1], params.W_hh.shape[1]
    h = np.zeros((N, H), dtype=x.dtype) if h0 is None else h0
    first, hs, gates, u_ns = h, [], [], []
    for x_t in x:
        h, step = gru_step(x_t, h, params)
        hs.append(h)
        gates.append(np.concatenate([step.r, step.z, step.n], axis=1))
        u_ns.append(step.u_n)
    hs = np.stack(hs)  # (T, N, H)
    return hs, h, SequenceCache(x, first, np.stack(gates), np.stack(u_ns), hs, params)
    ### END SOLUTION

# %% [tests] id=test_gru_forward points=1
grading.check_gru(gru_forward, "gru_forward")
### BEGIN HIDDEN TESTS
grading.check_gru(gru_forward, "gru_forward", hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. One step backward
#
# **Book:** *The GRU*, section "Backpropagation through a GRU",
# `book/gru.html#backpropagation-through-a-gru`, and, for the method, *Backpropagation
# through time*, equation (eq:bptt-chain-rule), `book/bptt.html#equation-eq-bptt-chain-rule`.
#
# Derive the backward pass of one step from the forward equations, one node of the graph at
# a time, before you read the chapter's. `gru_step_backward(dh, cache)` receives
# `dh` $= \delta h_t$, already total (the loss's own term at step $t$ plus the message from
# step $t + 1$), and the `StepCache` of section 1. Return `(dx, dh_prev, grads)`:
#
# - `dx` $(N, D)$, $\delta x_t$;
# - `dh_prev` $(N, H)$, the message $\delta^{+} h_{t-1}$ to step $t - 1$: **every** way in
#   which $h_{t-1}$ reaches $h_t$;
# - `grads = GRUParams(dW_ih, dW_hh, db_ih, db_hh)`, this step's share of each weight's
#   gradient, summed over the batch.
#
# Two things to watch: $u^n_t$ enters the candidate scaled by $r_t$, and the two biases are
# not interchangeable.

# %% [solution] id=gru_step_backward
def gru_step_backward(dh, cache):
    """Backward pass of one GRU step: returns (dx, dh_prev, grads)."""
    ### BEGIN SOLUTION
    x, h_prev, r, z, n, u_n, params = cache
    dn = dh * (1 - z)
    dz = dh * (h_prev - n)
    da_n = dn * (1 - n**2)
    dr = da_n * u_n
    da_r, da_z = dr * r * (1 - r), dz * z * (1 - z)
    da = np.concatenate([da_r, da_z, da_n], axis=1)  # (N, 3H): δa_t
    du = np.concatenate([da_r, da_z, r * da_n], axis=1)  # (N, 3H): δu_t
    grads = GRUParams(da.T @ x, du.T @ h_prev, da.sum(axis=0), du.sum(axis=0))
    return da @ params.W_ih, z * dh + du @ params.W_hh, grads
    ### END SOLUTION

# %% [tests] id=test_gru_step_backward points=2
grading.check_gru(gru_step_backward, "gru_step_backward")
### BEGIN HIDDEN TESTS
grading.check_gru(gru_step_backward, "gru_step_backward", hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Backpropagation through time
#
# **Book:** *The GRU*, equations (eq:gru-bptt-dh) and (eq:gru-bptt-dW),
# `book/gru.html#equation-eq-gru-bptt-dh`.
#
# `gru_backward(dhs, cache, dh_T=None)` receives `dhs` $(T, N, H)$, the loss's own terms
# $\partial \ell_t / \partial h_t$, the `SequenceCache` of a forward pass, and `dh_T`, the
# derivative of a loss on the final state (zeros when `None`). Walk back from $t = T$ and
# return `(dx, dh0, grads)`: `dx` $(T, N, D)$, `dh0` $= \delta h_0$ $(N, H)$, and `grads`,
# each summed over all steps. You may build a `StepCache` for each $t$ and call your
# `gru_step_backward`.

# %% [solution] id=gru_backward
def gru_backward(dhs, cache, dh_T=None):
    """BPTT through a GRU: returns (dx, dh0, grads), grads summed over time."""
    ### BEGIN SOLUTION
    dh_next = np.zeros_like(cache.h0) if dh_T is None else dh_T
    dx = np.empty_like(cache.x)
    grads = [np.zeros_like(p) for p in (cache.params.W_ih, cache.params.W_hh, cache.params.b_ih, cache.params.b_hh)]
    for t in reversed(range(cache.x.shape[0])):
        h_prev = cache.hs[t - 1] if t > 0 else cache.h0
        r, z, n = np.split(cache.gates[t], 3, axis=1)
        step = StepCache(cache.x[t], h_prev, r, z, n, cache.u_ns[t], cache.params)
        dx[t], dh_next, g = gru_step_backward(dhs[t] + dh_next, step)
        grads = [a + b for a, b in zip(grads, (g.W_ih, g.W_hh, g.b_ih, g.b_hh))]
    return dx, dh_next, GRUParams(*grads)
    ### END SOLUTION

# %% [tests] id=test_gru_backward points=2
grading.check_gru(gru_backward, "gru_backward")
### BEGIN HIDDEN TESTS
grading.check_gru(gru_backward, "gru_backward", hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Cho's candidate, backward (not in the book)
#
# **Book:** *The GRU*, section "Cho's form and PyTorch's form", equation
# (eq:gru-candidate-cho), `book/gru.html#equation-eq-gru-candidate-cho`.
#
# Cho et al.'s candidate resets $h_{t-1}$ *before* the matrix product:
#
# $$\tilde n_t = \tanh\bigl(W_{in} x_t + b_{in} + W_{hn} (r_t \odot h_{t-1}) + b_{hn}\bigr).$$
#
# The book derives the backward pass of PyTorch's form only. Derive this one. Write
# `candidate_cho_backward(dn, x, h_prev, r, W_in, b_in, W_hn, b_hn)`: given
# `dn` $= \delta \tilde n_t$ $(N, H)$ and the forward's inputs (`x` $(N, D)$, `h_prev` and
# `r` $(N, H)$, `W_in` $(H, D)$, `b_in` $(H,)$, `W_hn` $(H, H)$, `b_hn` $(H,)$), return the
# gradients with respect to every input, in the forward's argument order:
# `(dx, dh_prev, dr, dW_in, db_in, dW_hn, db_hn)`, the weights' summed over the batch.

# %% [solution] id=candidate_cho_backward
def candidate_cho_backward(dn, x, h_prev, r, W_in, b_in, W_hn, b_hn):
    """Gradients of Cho's candidate: (dx, dh_prev, dr, dW_in, db_in, dW_hn, db_hn)."""
    ### BEGIN SOLUTION
    s = r * h_prev  # (N, H): what W_hn multiplies
    n = np.tanh(x @ W_in.T + b_in + s @ W_hn.T + b_hn)
    da = dn * (1 - n**2)  # δ of the pre-activation
    ds = da @ W_hn  # δ(r ⊙ h_{t-1})
    return da @ W_in, ds * r, ds * h_prev, da.T @ x, da.sum(axis=0), da.T @ s, da.sum(axis=0)
    ### END SOLUTION

# %% [tests] id=test_candidate_cho_backward points=3
grading.check_gru(candidate_cho_backward, "candidate_cho_backward")
### BEGIN HIDDEN TESTS
grading.check_gru(candidate_cho_backward, "candidate_cho_backward", hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# Check your backward passes yourself before the tests do: centred differences of the
# reference's forward pass (allowed here, outside your answers) against your `gru_backward`.
# Relative errors below $10^{-6}$ mean right; a mistake gives $10^{-3}$ or more.

# %% [code]
from lstm_ref import numpy_gru  # the reference forward pass, for checking only

rng = np.random.default_rng(0)
T, N, D, H = 4, 2, 3, 5
params = GRUParams.init(D, H, seed=0)
x, w = rng.normal(size=(T, N, D)), rng.normal(size=(T, N, H))
loss = lambda: float(np.sum(numpy_gru.gru_forward(x, params)[0] * w))  # noqa: E731
dx, dh0, grads = gru_backward(w, numpy_gru.gru_forward(x, params)[2])
for name, value, analytic in [("x", x, dx), *((k, v, getattr(grads, k)) for k, v in params.items())]:
    print(f"d{name}: relative error {rel_error(numerical_gradient(loss, value), analytic):.1e}")

# %% [markdown]
# ## 6. Numbers by hand
#
# **Book:** *The GRU*, equations (eq:gru-bptt-dh) to (eq:gru-bptt-dW); *Why the LSTM keeps
# gradients alive*, equation (eq:bias-decay), `book/gradient_flow.html#equation-eq-bias-decay`.
#
# One unit and one input ($H = D = 1$), two steps ($T = 2$), the weights in the table below
# (one number per gate and matrix), $h_0$ given, and a loss at both steps,
# $L = \tfrac12 (h_1 - y_1)^2 + \tfrac12 (h_2 - y_2)^2$. The cell prints the case and its
# forward pass. Compute the answers with pencil and paper or with Python as a calculator,
# from these numbers and the equations; keep four significant digits in each intermediate
# value (answers within 0.5 % are accepted). You may call your own backward functions
# from sections 3 and 4 to check yourself; calling `lstm_ref`'s instead would skip the skill
# this section is about, which is why (a) and (b) ask for quantities that no function
# returns as such.

# %% [readonly] id=worked_case
case = grading.worked.GRU_CASE
print(case.table())
v = grading.worked.gru_forward_values()  # every forward quantity; u_n = W_hn h_{t-1} + b_hn
for t in (1, 2):
    print(f"step {t}: " + ", ".join(f"{q}_{t} = {v[f'{q}{t}']:.6f}" for q in ("r", "z", "n", "u_n", "h")))

# %% [markdown]
# **(a)** $\delta h_1$, the total derivative of $L$ with respect to $h_1$.

# %% [solution] id=dh_1
dh_1 = None  # replace None by your number
### BEGIN SOLUTION
W_hr, W_hz, W_hn = case.W_hh
dh2 = v["h2"] - case.y[1]  # nothing arrives from a step 3
da_n2 = dh2 * (1 - v["z2"]) * (1 - v["n2"] ** 2)
da_r2 = da_n2 * v["u_n2"] * v["r2"] * (1 - v["r2"])
da_z2 = dh2 * (v["h1"] - v["n2"]) * v["z2"] * (1 - v["z2"])
direct = v["z2"] * dh2  # through z_2 h_1
dh_1 = (v["h1"] - case.y[0]) + direct + W_hr * da_r2 + W_hz * da_z2 + W_hn * v["r2"] * da_n2
### END SOLUTION

# %% [tests] id=test_dh_1 points=2
grading.check_number(dh_1, "gru_dh_1")

# %% [markdown]
# **(b)** The candidate's recurrent bias $b_{hn}$ (the $n$ entry of $b_{hh}$) is used at both
# steps, so its total derivative $\delta b_{hn} = \mathrm{d}L/\mathrm{d}b_{hn}$ is a sum of one
# term per step (eq:gru-bptt-dW). Give step 1's term: the part of $\delta b_{hn}$ that reaches
# $b_{hn}$ through its use at step 1. No function of `lstm_ref` returns it on its own.

# %% [solution] id=db_hn_1
db_hn_1 = None  # replace None by your number
### BEGIN SOLUTION
da_n1 = dh_1 * (1 - v["z1"]) * (1 - v["n1"] ** 2)  # δa^n_1 = δn_1 (1 - n_1²)
db_hn_1 = v["r1"] * da_n1  # b_hn sits inside r ⊙ (...)
### END SOLUTION

# %% [tests] id=test_db_hn_1 points=1
grading.check_number(db_hn_1, "gru_db_hn_1")

# %% [markdown]
# **(c)** $\delta b_{hn}$ itself, summed over both steps.

# %% [solution] id=db_hn
db_hn = None  # replace None by your number
### BEGIN SOLUTION
db_hn = v["r1"] * da_n1 + v["r2"] * da_n2  # r_t δa^n_t at both steps
### END SOLUTION

# %% [tests] id=test_db_hn points=1
grading.check_number(db_hn, "gru_db_hn")

# %% [markdown]
# **(d)** A GRU unit whose update gate stays at $z_t = \sigma(b_z)$ (weights near zero).
# Which bias $b_z$ makes the gradient along the direct path fall to half in 50 steps?

# %% [solution] id=b_z
b_z = None  # replace None by your number
### BEGIN SOLUTION
z = 0.5 ** (1 / 50)  # z^50 = 1/2 along the direct path
b_z = np.log(z / (1 - z))  # σ(b_z) = z
### END SOLUTION

# %% [tests] id=test_b_z points=1
grading.check_number(b_z, "gru_b_z")

# %% [markdown]
# ## 7. The update gate's gradient path (written answer, graded by hand)
#
# **Book:** *The GRU*, equation (eq:gru-bptt-dh-prev); *Backpropagation through time*,
# equation (eq:bptt-dc-prev).
#
# In a few sentences: which term of $\delta^{+} h_{t-1}$ plays the role of the LSTM's cell
# lane, what it multiplies the gradient by over $k$ steps, and why that lets a GRU carry
# gradients over long lags where a vanilla RNN cannot. Say also what the GRU's version
# lacks that the LSTM's cell lane has.

# %% [manual] id=written_update_gate points=2
# ### BEGIN SOLUTION
# From $h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}$, the old state reaches the new one
# through the term $z_t \odot h_{t-1}$, with no matrix and no squashing slope on the way.
# Its share of the message is $z_t \odot \delta h_t$ (the direct term of eq:gru-bptt-dh-prev),
# the counterpart of $f_t \odot \delta c_t$ in the LSTM (eq:bptt-dc-prev). Over $k$ steps
# the gradient that takes this route alone is scaled by the product $z_t z_{t-1} \cdots
# z_{t-k+1}$, elementwise; with update gates near 1 the product stays near 1, so the signal
# survives long lags, and the bias $b_z$ sets its half-life like $b_f$ does for the LSTM.
# A vanilla RNN has only the route through $W_{hh}^{\top}$ and $\tanh'$ at every step, whose
# product shrinks (or grows) geometrically. What the GRU lacks: its lane carries the
# gradient of the visible output $h$ itself, gated by one coupled $z$; there is no separate
# memory hidden behind an output gate, and keeping ($z \to 1$) means writing nothing new.
# ### END SOLUTION
