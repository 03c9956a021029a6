"""Experiments of the course: every training run whose results a chapter shows.

Each experiment is one module with a command line, ``python -m lstm_ref.experiments
<name> [options]`` (``--help`` lists every option with its default). It writes one JSON file
under ``results/`` that records the exact command, the machine (torch version, threads,
load average where the module records it), the configuration of every run and what every
run measured; the chapters read that file instead of rerunning the experiment while the
book is built. The sweeps (``adding``, ``temporal-order``, ``gru``, ``xlstm``, ``seq2seq``,
``captioning``) rewrite the file after every run, so an interrupted sweep keeps what it
finished, and ``--resume`` skips the runs already in it; ``music`` and ``cells`` train one
model and write at the end. Runs use one CPU thread unless ``--threads`` says otherwise.

The commands below (``--no-progress`` and ``--resume`` left out) made the files in
``results/``. The times are those the files record,
on one thread of a 2-core machine shared with other jobs (load average 4 to 13): they
describe that busy machine, not the models, and an idle core is faster.

- :mod:`.runs`, through ``__main__``: the long-lag tasks of Hochreiter & Schmidhuber (1997)
  (``adding``, ``temporal-order``), a sweep over models x lengths x seeds, trained until
  solved or out of budget; :func:`.runs.summarise` makes the solve-rate table
  (book/experiments.md, book/variants.md)::

      python -m lstm_ref.experiments adding --T 50 100 --seeds 3 --models rnn lstm:5 \\
          --max-sequences 100000 --save-weights --out results/adding.json
      # 12 runs, 20 min; default --out results/<task>.json
      python -m lstm_ref.experiments adding --T 30 --seeds 2 --models plain:0 plain:1 \\
          plain:3 nfg cifg:3 noaf:3 peephole:3 --max-sequences 60000 \\
          --out results/ablation.json
      # 14 runs, 25 min
      python -m lstm_ref.experiments adding --T 1000 --seeds 1 --first-seed 0 \\
          --models lstm:5 --input-bias -5 --max-sequences 200000 \\
          --out results/adding_T1000_closed_s0.json
      # one run, 24 min; T = 200 and 500: 1 to 9 min a run

- :mod:`.gradients`: no command line. :func:`.gradients.gradient_norms_by_lag` (how much
  gradient reaches step T - k, vanilla RNN vs LSTM), :func:`.gradients.forget_gate_products`
  (the running product of forget gates along the cell path) and :func:`.gradients.load_core`
  (a trained model from the weights ``--save-weights`` stored) run inside
  book/experiments.md, in seconds.
- :mod:`.gru`: GRU against LSTM at equal parameter count (book/gru.md)::

      python -m lstm_ref.experiments gru adding --T 100 200 --seeds 3 \\
          --max-sequences 60000 --out results/gru_adding.json    # 12 runs, 13 min
      python -m lstm_ref.experiments gru charlm --seeds 3 --steps 1000 \\
          --out results/gru_charlm.json                          # 6 runs, 10 min
      # default --out results/gru_<task>.json

- :mod:`.xlstm`: LSTM vs sLSTM vs mLSTM on associative recall (book/xlstm.md)::

      python -m lstm_ref.experiments xlstm --P 4 8 16 --models lstm slstm mlstm lstm:128 \\
          --seeds 2 --out results/xlstm_recall.json
      # 24 runs of 300,000 sequences, 56 min (0.5 to 7.4 min a run)

- :mod:`.music`: an LSTM over note events of Bach's chorales against n-gram baselines;
  writes the weights beside the JSON as ``<stem>_lstm.pt`` (book/music.md)::

      python -m lstm_ref.experiments music --steps 2000 --T 128 --N 16 \\
          --out results/music.json                 # + results/music_lstm.pt; 1.5 to 8 min

- :mod:`.cells`: interpretable cells of the character model, units chosen on one split of
  the sonnets and reported on another, against an untrained control; writes the weights
  as ``<stem>_charlm.pt`` (book/interpretable.md)::

      python -m lstm_ref.experiments cells --steps 2000 \\
          --out results/cells.json                 # + results/cells_charlm.pt; 18 min

- :mod:`.seq2seq`: encoder-decoder LSTMs with and without attention translating dates,
  against a rule parser (book/translation.md)::

      python -m lstm_ref.experiments seq2seq --seeds 2 --steps 2000 \\
          --out results/seq2seq_dates.json         # 4 runs, 34 min

- :mod:`.captioning`: a CNN + LSTM captioner of synthetic scenes against the most frequent
  caption (book/captioning.md)::

      python -m lstm_ref.experiments captioning --seeds 2 --steps 2000 \\
          --out results/captioning.json            # 2 runs, 17 min
      python -m lstm_ref.experiments captioning --image-input first --seeds 1 \\
          --steps 1000 --out results/captioning_first.json    # 1 min

- :mod:`.report`: :func:`.report.html_table`, the tables the chapters print.

``adding`` and ``temporal-order`` run on CUDA when a GPU is present (``--device``
overrides); every other experiment runs on the CPU, and none needs a GPU.
``tests/test_experiments_cli.py`` and the tests of each application (``test_gru.py``,
``test_xlstm.py``, ``test_music.py``, ``test_interpret.py``, ``test_seq2seq.py``,
``test_captioning.py``) run each experiment on tiny settings, most through its command
line, in seconds.
"""
from .gradients import forget_gate_products, gradient_norms_by_lag, load_core
from .report import html_table
from .runs import PAPER_1997_ADDING, ModelSpec, parse_model, run_label, run_sweep, summarise

__all__ = [
    "PAPER_1997_ADDING",
    "ModelSpec",
    "forget_gate_products",
    "gradient_norms_by_lag",
    "html_table",
    "load_core",
    "parse_model",
    "run_label",
    "run_sweep",
    "summarise",
]
