# %% [markdown]
# # Assignment 4: the LSTM in PyTorch, on any device
#
# The same cell again, now in PyTorch: a device-agnostic `lstm_step` that autograd can
# differentiate, an `nn.Module` cell that is a drop-in for `torch.nn.LSTMCell`, a tiny
# long-range memory task to train it on, and a look at why its gradients survive where a
# vanilla RNN's fade. Sections 1 and 2 need the first part of the book, up to *Running an
# LSTM over a sequence*; sections 3 and 4 are easiest after *Why the LSTM keeps gradients
# alive*; section 5 asks for three numbers you work out by hand. Each section names the chapter and the equation labels or section it practises,
# and the address of that place in the book's HTML. Everything here runs in seconds on a
# CPU; on a machine with a GPU the same code runs there unchanged.
#
# Do not call `lstm_ref.torch_lstm` or `torch.nn.LSTM`/`nn.LSTMCell` from your answers:
# an answer that does gets no points. Validate with `nbgrader validate pytorch.ipynb`.

# %% [readonly] id=setup
import matplotlib.pyplot as plt
import torch
from torch import nn

from lstm_ref import LSTMParams, grading

torch.set_num_threads(1)  # tiny tensors: one thread is fastest and keeps timings steady
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
print("device:", device)

# %% [markdown]
# ## 1. One step on tensors
#
# **Book:** *Running an LSTM over a sequence*, equation (eq:fused-preactivation),
# `book/sequence.html#equation-eq-fused-preactivation`, and *The LSTM cell*, equations
# (eq:cell-state) and (eq:hidden-state).
#
# Write `lstm_step(x, h_prev, c_prev, params)` with torch operations: `params` is an
# `LSTMParams` of tensors (`W_ih` $(4H, D)$, `W_hh` $(4H, H)$, `b` $(4H,)$, gate order
# $i, f, g, o$) and the result is `(h, c, cache)` (`cache` may be `None`).
#
# Device-agnostic means: never name a device or dtype. Every tensor you create must take
# them from the inputs (`torch.zeros_like(h_prev)`, `x.new_zeros(...)`). The test runs
# your function on the `meta` device (shapes only) to catch a hidden `device="cpu"`.

# %% [solution] id=lstm_step
def lstm_step(x, h_prev, c_prev, params):
    """One LSTM step on tensors: returns (h, c, cache)."""
    ### BEGIN SOLUTION
    a = x @ params.W_ih.T + h_prev @ params.W_hh.T + params.b  # (N, 4H)
    i, f, g, o = a.chunk(4, dim=1)
    c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c, None
    ### END SOLUTION

# %% [tests] id=test_lstm_step points=2
grading.check_function(lstm_step, "lstm_step", backend="torch")
### BEGIN HIDDEN TESTS
grading.check_function(lstm_step, "lstm_step", backend="torch", hidden=True)
### END HIDDEN TESTS

# %% [tests] id=test_lstm_step_autograd points=1
grading.check_torch_autograd(lstm_step)

# %% [tests] id=test_lstm_step_device points=1
grading.check_device_agnostic(lstm_step)

# %% [markdown]
# ## 2. The cell as an `nn.Module`
#
# **Book:** *Running an LSTM over a sequence*, section "Exactly `torch.nn.LSTM`",
# `book/sequence.html#exactly-torch-nn-lstm` (PyTorch's two biases).
#
# Write `LSTMCell(input_size, hidden_size)` with the parameters of `torch.nn.LSTMCell`:
# `weight_ih` $(4H, D)$, `weight_hh` $(4H, H)$, `bias_ih` $(4H,)$, `bias_hh` $(4H,)$, each an
# `nn.Parameter` drawn from $U(-1/\sqrt{H}, 1/\sqrt{H})$. `forward(x, state=None)` takes
# `x` $(N, D)$ and `state = (h, c)` (zeros of the right device and dtype when `None`) and
# returns the new `(h, c)`. Remember that the cell adds **both** biases,
# $b = b_{ih} + b_{hh}$. With the same parameter names, `load_state_dict` moves weights
# between your cell and PyTorch's.

# %% [solution] id=lstm_cell
class LSTMCell(nn.Module):
    """A drop-in for torch.nn.LSTMCell, written with the step above."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        ### BEGIN SOLUTION
        D, H = input_size, hidden_size
        k = 1.0 / H**0.5
        self.weight_ih = nn.Parameter(torch.empty(4 * H, D).uniform_(-k, k))
        self.weight_hh = nn.Parameter(torch.empty(4 * H, H).uniform_(-k, k))
        self.bias_ih = nn.Parameter(torch.empty(4 * H).uniform_(-k, k))
        self.bias_hh = nn.Parameter(torch.empty(4 * H).uniform_(-k, k))
        ### END SOLUTION

    def forward(self, x, state=None):
        ### BEGIN SOLUTION
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.weight_hh.shape[1])
            state = (zeros, zeros)
        params = LSTMParams(self.weight_ih, self.weight_hh, self.bias_ih + self.bias_hh)
        h, c, _ = lstm_step(x, *state, params)
        return h, c
        ### END SOLUTION

# %% [tests] id=test_lstm_cell points=2
grading.check_lstm_cell(LSTMCell)
### BEGIN HIDDEN TESTS
grading.check_lstm_cell(LSTMCell, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Train it on a long-range task
#
# **Book:** *Why the LSTM keeps gradients alive*, equation (eq:bias-decay),
# `book/gradient_flow.html#equation-eq-bias-decay` (why the classifier below starts with a
# forget-gate bias of 1), and *Long-range dependencies, reproduced*, section "How the
# experiments were run", `book/experiments.html#how-the-experiments-were-run` (Adam and
# the training loop).
#
# `grading.memory_task(T, N, seed)` makes $N$ sequences of $T$ steps, `x` $(T, N, 2)$: the
# first step holds a bit ($\pm 1$) in channel 0, every step holds noise in channel 1, and the
# label is the bit. The classifier below runs your cell over the sequence and reads the
# last hidden state. Write `train(model, steps, lr)`: Adam on `model.parameters()`,
# one fresh batch of 64 sequences of length 20 per step (`seed=step`), cross-entropy loss;
# return the list of losses (`steps` numbers, `loss.item()`). It should take a few seconds.
# The test checks this loop on a model of its own, then your trained model on 512 sequences
# it has never seen: at least 90 % of them must be classified right.

# %% [readonly] id=classifier
class MemoryClassifier(nn.Module):
    """Your LSTMCell over the sequence, then a linear read-out of h_T."""

    def __init__(self, hidden_size=16, forget_bias=1.0):
        super().__init__()
        self.cell = LSTMCell(2, hidden_size)
        self.head = nn.Linear(hidden_size, 2)
        with torch.no_grad():  # start by remembering: forget gates open (bias slice f of i, f, g, o)
            self.cell.bias_ih[hidden_size : 2 * hidden_size] += forget_bias

    def forward(self, x):
        state = None
        for x_t in x:  # x: (T, N, 2)
            state = self.cell(x_t, state)
        return self.head(state[0])  # (N, 2) logits

# %% [solution] id=train
def train(model, steps=150, lr=0.01):
    """Train model on the memory task; returns the list of losses."""
    ### BEGIN SOLUTION
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for step in range(steps):
        x, y = grading.memory_task(20, 64, seed=step, device=device)
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
    ### END SOLUTION

# %% [readonly] id=run_training
torch.manual_seed(0)
model = MemoryClassifier().to(device)
losses = train(model)
plt.figure(figsize=(5, 2.5))
plt.semilogy(losses)
plt.xlabel("training step")
plt.ylabel("cross-entropy")
plt.title("LSTM on the memory task (T = 20)")
plt.show()

# %% [tests] id=test_memory_task points=1
grading.check_training(train, model.cpu(), losses)

# %% [markdown]
# ## 4. Gradient flow: LSTM against a vanilla RNN
#
# **Book:** *Why the LSTM keeps gradients alive*, equations (eq:grad-by-lag),
# `book/gradient_flow.html#equation-eq-grad-by-lag`, and (eq:cec-product).
#
# Write `hidden_grad_norms(loss, hs)`: given a scalar `loss` $L$ and the list `hs` of hidden
# states $h_1, \dots, h_T$ it was computed from, return a tensor of shape $(T,)$ holding
# $\lVert \delta h_t \rVert$, the norm over all entries of the total derivative
# $\delta h_t = \mathrm{d}L/\mathrm{d}h_t$. `torch.autograd.grad(loss, hs, retain_graph=True)`
# returns all $T$ of them at once: autograd adds up every path from $h_t$ to $L$, which is
# what makes them total.

# %% [solution] id=hidden_grad_norms
def hidden_grad_norms(loss, hs):
    """(T,) tensor of the norms of d loss / d h_t."""
    ### BEGIN SOLUTION
    grads = torch.autograd.grad(loss, hs, retain_graph=True)
    return torch.stack([g.norm() for g in grads])
    ### END SOLUTION

# %% [tests] id=test_hidden_grad_norms points=1
grading.check_hidden_grad_norms(hidden_grad_norms)

# %% [markdown]
# The loss below, $L = \lVert h_T \rVert^2$, depends only on $h_T$. How much of its gradient
# reaches $h_t$, $T - t$ steps earlier? In the vanilla RNN every step back multiplies
# $\delta h$ by $W_{hh}^{\top} \operatorname{diag}(1 - h_t^2)$ (eq:rnn-jacobian). At PyTorch's
# default initialisation $\sigma_{\max}(W_{hh})$ is a little above 1 (print
# `torch.linalg.matrix_norm(cell.weight_hh, 2)` to see it), so the bound (eq:rnn-bound)
# would allow growth. What sets the rate at which the gradient actually fades is mostly the
# spectral radius $\rho(W_{hh})$, the largest $\lvert\lambda\rvert$ over its eigenvalues, about
# 0.6 here (`torch.linalg.eigvals(cell.weight_hh).abs().max()`): by Gelfand's formula
# (eq:rnn-spectral-radius), the powers of $W_{hh}^{\top}$ shrink like $\rho^k$. The $\tanh'$
# factors $1 - h_t^2$, close to 1 for the small hidden states of an untrained network, take
# off only a little more per step.
# Your LSTM has a second way back: along the cell state, each step multiplies the message
# $\delta^{+} c$ by the forget gate $f_t$ alone (eq:bptt-dc-prev), about $\sigma(1) \approx 0.73$
# with this forget-gate bias, so its curve falls far more slowly. A larger bias makes it
# reach further still (eq:bias-decay).

# %% [code]
torch.manual_seed(0)
T, N, D, H = 50, 8, 2, 16
x = torch.randn(T, N, D)
for name, cell in [("LSTM (your cell, forget bias 1)", MemoryClassifier(H).cell), ("vanilla RNN (nn.RNNCell)", nn.RNNCell(D, H))]:
    state, hs = None, []
    for x_t in x:
        state = cell(x_t, state)
        hs.append(state[0] if isinstance(state, tuple) else state)
    norms = hidden_grad_norms(hs[-1].pow(2).sum(), hs).detach()
    plt.semilogy(range(1, T + 1), norms, label=name)
plt.xlabel("step $t$")
plt.ylabel(r"$\Vert \delta h_t \Vert$ for $L = \Vert h_T \Vert^2$")
plt.legend()
plt.show()

# %% [markdown]
# ## 5. Numbers by hand
#
# **Book:** *Running an LSTM over a sequence*, sections "Both directions" and "Every
# `nn.LSTM` from one layer and one direction", `book/sequence.html#both-directions`;
# *Backpropagation through time*, equation (eq:bptt-dc-prev); *Why the LSTM keeps
# gradients alive*, equations (eq:cec-product) and (eq:bias-decay),
# `book/gradient_flow.html#equation-eq-bias-decay`.
#
# Three numbers, from the chapters' shapes and equations: work them out with pencil and
# paper or with Python as a calculator, keeping four significant digits. Answers within
# 0.5 % are accepted.
#
# **(a)** How many trainable numbers does `torch.nn.LSTM(3, 4, proj_size=2)` hold? ($D = 3$,
# $H = 4$, one layer, one direction, a projection to $P = 2$.)

# %% [solution] id=count_proj
count_proj = None  # replace None by your number
### BEGIN SOLUTION
count_proj = 4 * 4 * 3 + 4 * 4 * 2 + 2 * 4 * 4 + 2 * 4  # W_ih (4H, D), W_hh (4H, P), 2 biases, W_hr (P, H)
### END SOLUTION

# %% [tests] id=test_count_proj points=2
grading.check_number(count_proj, "pytorch_count_proj")

# %% [markdown]
# **(b)** A bidirectional `torch.nn.LSTM(D, H, bidirectional=True)` reads a sequence of
# $T = 100$ steps, `x[0]`, ..., `x[99]`, and returns `output` of shape $(T, N, 2H)$. On how
# many of the 100 input steps does the reverse half `output[20, 0, H:]` depend?

# %% [solution] id=reverse_reads
reverse_reads = None  # replace None by your number
### BEGIN SOLUTION
reverse_reads = 100 - 20  # the reverse direction reads x[99], ..., x[20] before it reaches position 20
### END SOLUTION

# %% [tests] id=test_reverse_reads points=2
grading.check_number(reverse_reads, "pytorch_reverse_reads")

# %% [markdown]
# **(c)** In section 4's LSTM ($T = 50$, forget-gate bias 1), suppose every forget gate is
# exactly $f_t = \sigma(1)$. Along the cell path alone, where each step back multiplies the
# message by $f_t$ (eq:bptt-dc-prev), what share of $\delta c_{50}$ reaches $c_{40}$?

# %% [solution] id=cell_path
cell_path = None  # replace None by your number
### BEGIN SOLUTION
cell_path = (1 / (1 + torch.e**-1.0)) ** 10  # f_50 ... f_41: ten gates between c_50 and c_40
### END SOLUTION

# %% [tests] id=test_cell_path points=2
grading.check_number(cell_path, "pytorch_cell_path")
