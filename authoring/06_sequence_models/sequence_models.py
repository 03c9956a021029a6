# %% [markdown]
# # Assignment 6: an LSTM that solves a task
#
# So far you have written the LSTM's equations. Here you use an LSTM: design a model,
# train it, and reach a threshold on data you never see. The task is the temporal-order
# problem of Hochreiter & Schmidhuber (1997, experiment 6a), `lstm_ref.tasks.temporal_order`:
# a sequence of $T = 50$ symbols starts with E and ends with B; in between are random
# symbols a, b, c, d, except at two steps, one in the first fifth and one just after the
# middle, which hold X or Y. The class is their order: XX, XY, YX or YY. Everything between
# the two symbols and after the second one is noise, so a model must carry the first symbol
# across about 20 steps and both to the end.
#
# **Book:** *Long-range dependencies, reproduced*, section "How the experiments were run",
# `book/experiments.html#how-the-experiments-were-run`; *Why the LSTM keeps gradients
# alive*, equation (eq:bias-decay), `book/gradient_flow.html#equation-eq-bias-decay`.
#
# **How it is graded.** The grader runs your notebook, then measures the trained model on
# 2000 fresh sequences drawn with a seed that only the grader knows: at least 95 % of them
# must be classified right, and training must take at most 100 s of CPU time (the answer
# key needs about 5). The visible test measures the same on validation sequences,
# and reports the figure and the threshold. Any PyTorch code is allowed here, `torch.nn.LSTM`
# included. Validate with `nbgrader validate sequence_models.ipynb`.

# %% [readonly] id=setup
import time

import matplotlib.pyplot as plt
import torch
from torch import nn

from lstm_ref import grading
from lstm_ref.tasks import ORDER_SYMBOLS, make_generator, temporal_order

torch.set_num_threads(1)  # small tensors: one thread is fastest and keeps runs reproducible
T = grading.sequence_checks.T  # 50 steps
batch = temporal_order(T, 2, make_generator(0))
print("symbols:", ORDER_SYMBOLS)
print("one sequence:", "".join(ORDER_SYMBOLS[k] for k in batch.x[:, 0].argmax(dim=1)), "class", int(batch.y[0]))

# %% [markdown]
# ## 1. A model
#
# Write `OrderClassifier()`, an `nn.Module` whose `forward(x)` takes a batch of one-hot
# sequences `x` $(L, N, 8)$ (time-major, float32) and returns logits $(N, 4)$, one row per
# sequence, computed from the **last** step, whatever the length $L$. A recurrent layer of a
# few dozen units and a linear read-out are enough. Think about how the forget gates start:
# the gradient that must reach the first X/Y symbol crosses about 40 steps of the cell
# path.

# %% [solution] id=model
class OrderClassifier(nn.Module):
    """Your classifier: x (L, N, 8) one-hot -> logits (N, 4), from the last step."""

    def __init__(self):
        super().__init__()
        ### BEGIN SOLUTION
        H = 32
        self.lstm = nn.LSTM(len(ORDER_SYMBOLS), H)
        self.head = nn.Linear(H, 4)
        with torch.no_grad():  # forget gates open at the start: σ(2) ≈ 0.88 (eq:bias-decay)
            self.lstm.bias_ih_l0[H : 2 * H] += 2.0
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        hs, _ = self.lstm(x)  # (L, N, H)
        return self.head(hs[-1])  # (N, 4)
        ### END SOLUTION

# %% [tests] id=test_model points=1
grading.check_order_model(OrderClassifier)

# %% [markdown]
# ## 2. Training
#
# Write `train(model, seed=0)`: train `model` on fresh batches of the task,
# `temporal_order(T, 64, gen)` with `gen = make_generator(seed)` (the batch's `x` and `y`),
# and return the list of the training losses, one float per step. Show progress while it
# runs (a line every few hundred steps). You choose the optimiser, the learning rate, the
# number of steps and when to stop; stopping once the loss has stayed low for a while saves
# time. The cell after it trains one model and plots the loss.

# %% [solution] id=train
def train(model, seed=0):
    """Train model on fresh batches of the task; returns the loss of every step."""
    ### BEGIN SOLUTION
    max_steps = 2000
    gen = make_generator(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for step in range(max_steps):
        batch = temporal_order(T, 64, gen)
        loss = nn.functional.cross_entropy(model(batch.x), batch.y)
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        losses.append(loss.item())
        if step % 200 == 0:
            print(f"step {step:4d}  loss {loss.item():.3f}")
        if len(losses) >= 20 and sum(losses[-20:]) / 20 < 0.01:  # solved: stop
            print(f"step {step:4d}  loss {loss.item():.3f}  (mean of the last 20 below 0.01: stop)")
            break
    return losses
    ### END SOLUTION

# %% [readonly] id=run_training
torch.manual_seed(0)
model = OrderClassifier()
start = time.process_time()  # CPU time: what the grader bounds
losses = train(model)
seconds = time.process_time() - start
print(f"{len(losses)} steps in {seconds:.1f} CPU seconds")
print(f"validation accuracy {grading.order_accuracy(model):.3f}")
plt.figure(figsize=(5, 2.5))
plt.semilogy(losses)
plt.xlabel("training step")
plt.ylabel("cross-entropy (nats)")
plt.title(f"temporal order, T = {T}")
plt.show()

# %% [tests] id=test_order_training points=1
grading.check_order_training(losses, seconds)

# %% [tests] id=test_order_held_out points=3
grading.check_order_accuracy(model)  # validation sequences; the grader's hidden test uses others
### BEGIN HIDDEN TESTS
grading.check_order_accuracy(model, seed=7301, seconds=seconds)
### END HIDDEN TESTS
