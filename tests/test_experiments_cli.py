"""The experiments command line end to end, and the training loop on a setting it must solve."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lstm_ref.experiments import parse_model, summarise
from lstm_ref.experiments.__main__ import main
from lstm_ref.train import TrainConfig, train

TINY = ["--T", "22", "--seeds", "2", "--max-sequences", "64", "--window", "32", "--test-size", "40", "--no-progress"]


@pytest.fixture(scope="module")
def cli_result(tmp_path_factory):
    out = tmp_path_factory.mktemp("results") / "adding.json"
    cmd = [sys.executable, "-m", "lstm_ref.experiments", "adding", *TINY, "--models", "rnn", "lstm:3", "nfg",
           "--save-weights", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads(out.read_text()), proc.stdout


def test_cli_writes_json_with_its_command(cli_result):
    out, result, stdout = cli_result
    assert result["command"].startswith("python -m lstm_ref.experiments adding --T 22 --seeds 2")
    assert result["command"].endswith(f"--out {out}")
    runs = result["runs"]
    assert [(r["config"]["model"], r["config"]["seed"]) for r in runs] == [
        ("rnn", 0), ("rnn", 1), ("lstm", 0), ("lstm", 1), ("nfg", 0), ("nfg", 1)]
    assert {r["config"]["forget_bias"] for r in runs if r["config"]["model"] == "lstm"} == {3.0}
    for r in runs:  # 64 sequences cannot solve T = 22: every run uses its budget
        assert r["solved"] is False and r["sequences"] == 64 and r["updates"] == 2
        assert r["test"]["n"] == 40 and 0 <= r["test"]["wrong"] <= 40
    assert ("weights" in runs[0]) and ("weights" not in runs[1]), "weights of seed 0 only"
    assert "solved 0/2" in stdout


def test_cli_summary_table(cli_result):
    _, result, _ = cli_result
    rows = {row["label"]: row for row in result["summary"]}
    assert set(rows) == {"rnn", "lstm b_f=3", "nfg"}
    assert rows["rnn"]["runs"] == 2 and rows["rnn"]["solved"] == 0 and rows["rnn"]["sequences_median"] is None
    assert result["summary"] == summarise(result["runs"])


def test_cli_resume_keeps_finished_runs(cli_result, tmp_path):
    out, result, _ = cli_result
    copy = tmp_path / "copy.json"
    copy.write_text(out.read_text())
    argv = ["adding", *TINY, "--models", "rnn", "lstm:3", "nfg", "--save-weights", "--resume", "--out", str(copy)]
    again = main(argv)
    assert [r["seconds"] for r in again["runs"]] == [r["seconds"] for r in result["runs"]], "nothing retrained"


def test_cli_rejects_unknown_model(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["adding", "--models", "gru", "--out", str(tmp_path / "x.json")])
    assert exit_info.value.code == 2 and "model 'gru'" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_parse_model():
    assert parse_model("lstm", 1.0) == ("lstm", 1.0)
    assert parse_model("plain:0", 1.0) == ("plain", 0.0)
    with pytest.raises(ValueError, match="not a number"):
        parse_model("plain:x", 1.0)


def test_training_solves_a_short_adding_problem():
    """The loop learns: an LSTM solves T = 22 by the stopping rule (window of 256) in budget."""
    cfg = TrainConfig(model="lstm", T=22, forget_bias=3.0, window=256, max_sequences=40_000, test_size=512, seed=0)
    _, record = train(cfg, device="cpu", progress=False)
    assert record["solved"], f"not solved after {record['sequences']} sequences: {record['curve'][-3:]}"
    assert record["sequences"] < 40_000
    assert record["test"]["wrong"] / record["test"]["n"] < 0.05


def test_cli_temporal_order_task(tmp_path):
    out = tmp_path / "order.json"
    result = main(["temporal-order", "--T", "20", "--seeds", "1", "--models", "lstm", "cifg", "--max-sequences", "32",
                   "--window", "32", "--test-size", "16", "--no-progress", "--out", str(out)])
    assert json.loads(out.read_text()) == result
    assert [r["config"]["task"] for r in result["runs"]] == ["temporal-order"] * 2
    for r in result["runs"]:  # 4 classes: cross-entropy starts near ln 4
        assert r["test"]["n"] == 16 and abs(r["test"]["loss"] - 1.386) < 0.3


@pytest.mark.parametrize("model", ["lstm", "cifg", "rnn"])
def test_build_model_gate_biases(model):
    import torch

    from lstm_ref.train import build_model

    torch.manual_seed(0)
    base = build_model(model, 2, 4, 1, forget_bias=0.0)
    torch.manual_seed(0)
    shifted = build_model(model, 2, 4, 1, forget_bias=2.0, input_bias=-3.0)
    name = {"lstm": "core.bias_ih_l0", "cifg": "core.b", "rnn": "core.bias_ih_l0"}[model]
    diff = shifted.state_dict()[name] - base.state_dict()[name]
    expected = {"lstm": [-3.0] * 4 + [2.0] * 4 + [0.0] * 8,  # rows i, f, g, o
                "cifg": [-5.0] * 4 + [2.0] * 4 + [0.0] * 8,  # cifg also moves b_f into the input gate
                "rnn": [0.0] * 4}[model]
    torch.testing.assert_close(diff, torch.tensor(expected), atol=1e-6, rtol=0)


def test_cli_first_seed_and_input_bias(tmp_path):
    result = main(["adding", "--T", "22", "--seeds", "2", "--first-seed", "5", "--models", "lstm", "--input-bias", "-2",
                   "--max-sequences", "32", "--window", "32", "--test-size", "8", "--no-progress", "--out", str(tmp_path / "s.json")])
    assert [r["config"]["seed"] for r in result["runs"]] == [5, 6]
    assert {r["config"]["input_bias"] for r in result["runs"]} == {-2.0}
    assert result["summary"][0]["label"] == "lstm b_f=1 b_i=-2"


def test_html_table():
    from lstm_ref.experiments import html_table

    html = html_table(["T", "model"], [[100, "lstm b_i=-5 <x>"]], align="rl")
    assert html.count("<tr>") == 2 and '<td style="text-align:right">100</td>' in html
    assert "lstm b_i=-5 &lt;x&gt;" in html  # escaped
    with pytest.raises(ValueError, match="2 entries"):
        html_table(["T", "model"], [[1, 2, 3]])
