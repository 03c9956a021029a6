"""Tests of ``lstm_ref.captioning`` (synthetic scenes, CNN + LSTM, BLEU), run by book/captioning.md.

BLEU is checked against values worked out by hand (and Papineni et al.'s own example),
the scenes against their captions pixel by pixel, and the model by a short training run
whose loss must fall.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_ref import captioning as cap
from lstm_ref.experiments import captioning as exp

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "captioning.json"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def toks(text: str) -> list[str]:
    return text.split()


# --- BLEU against known values -------------------------------------------------------------------
REF = "a red circle left of a blue square"


def test_bleu_of_a_perfect_caption_is_one():
    assert cap.corpus_bleu([toks(REF)], [[toks(REF)]]) == 1.0


def test_bleu_of_one_wrong_word_is_one_over_root_two():
    # p1..p4 = 7/8, 5/7, 4/6, 3/5, whose product is 1/4; BP = 1; BLEU = (1/4)^(1/4)
    cand = toks("a red circle left of a green square")
    assert cap.modified_precision([cand], [[toks(REF)]], 2) == (5, 7)
    assert cap.corpus_bleu([cand], [[toks(REF)]]) == pytest.approx(2 ** -0.5, abs=1e-12)


def test_bleu_brevity_penalty_of_a_short_caption():
    cand = toks("a red circle left of a")  # every n-gram matches; c = 6, r = 8
    assert cap.brevity_penalty(6, 8) == pytest.approx(math.exp(1 - 8 / 6))
    assert cap.corpus_bleu([cand], [[toks(REF)]]) == pytest.approx(math.exp(-1 / 3), abs=1e-12)
    assert cap.brevity_penalty(9, 8) == 1.0 and cap.brevity_penalty(0, 8) == 0.0


def test_modified_precision_clips_repeated_words():
    # Papineni et al. (2002), section 2.1: "the" seven times scores 2/7 against these references
    refs = [toks("the cat is on the mat"), toks("there is a cat on the mat")]
    cand = toks("the the the the the the the")
    assert cap.modified_precision([cand], [refs], 1) == (2, 7)
    assert cap.corpus_bleu([cand], [refs], max_n=1) == pytest.approx(2 / 7)
    assert cap.corpus_bleu([cand], [refs], max_n=2) == 0.0  # no bigram matches: no smoothing


def test_corpus_bleu_pools_counts_before_dividing():
    cands = [toks(REF), toks("a red circle left of a green square")]
    refs = [[toks(REF)], [toks(REF)]]
    p = [(8 + 7) / 16, (7 + 5) / 14, (6 + 4) / 12, (5 + 3) / 10]  # pooled matches / pooled n-grams
    assert cap.corpus_bleu(cands, refs) == pytest.approx(math.prod(p) ** 0.25, abs=1e-12)
    assert cap.corpus_bleu(cands, refs) != pytest.approx((1 + 2 ** -0.5) / 2)  # not a mean of sentences


def test_reference_length_is_the_closest_one():
    cand = toks("a b c d")  # every word in a reference: p1 = 1, so BLEU-1 is the brevity penalty
    refs = [[toks("a b c d e f"), toks("a b c d e")]]  # r = 5, the closer
    assert cap.corpus_bleu([cand], refs, max_n=1) == pytest.approx(math.exp(1 - 5 / 4))
    tie = [[toks("a b c d e"), toks("a b c")]]  # |5 - 4| = |3 - 4|: the shorter, r = 3 < c
    assert cap.corpus_bleu([cand], tie, max_n=1) == 1.0
    with pytest.raises(ValueError, match="1 candidates and 2 reference lists"):
        cap.corpus_bleu([cand], refs * 2)
    with pytest.raises(ValueError, match="no reference"):
        cap.corpus_bleu([cand], [[]])


# --- scenes --------------------------------------------------------------------------------------
def test_scenes_match_their_captions():
    rng = np.random.default_rng(0)
    for _ in range(200):
        scene = cap.random_scene(rng)
        a, b = scene.first, scene.second
        words = scene.caption.split()
        assert words[0] == "a" and words[1:3] == [a.colour, a.shape] and words[-2:] == [b.colour, b.shape]
        along, across = (b.x - a.x, b.y - a.y) if scene.relation == "left of" else (b.y - a.y, b.x - a.x)
        assert along >= a.r + b.r + 3 and 3 * abs(across) <= along  # clearly left of / above
        for s in (a, b):
            assert s.r <= s.x < cap.SIZE - s.r and s.r <= s.y < cap.SIZE - s.r


def test_rendered_pixels_have_the_objects_colours():
    rng = np.random.default_rng(1)
    scene = cap.random_scene(rng)
    image = cap.render(scene, rng, noise=0.0)
    assert image.shape == (3, cap.SIZE, cap.SIZE) and image.dtype == np.float32
    for s in (scene.first, scene.second):
        centre = image[:, s.y, s.x]
        assert np.abs(centre - np.array(cap.COLOURS[s.colour])).max() <= 0.08 + 1e-6
    corner = image[:, 0, 0]
    assert np.allclose(corner, corner[0]) and 0.1 <= corner[0] <= 0.3  # grey background


def test_shapes_have_the_expected_areas():
    areas = {name: int(cap._mask(cap.Shape("red", name, 16, 16, 6)).sum()) for name in cap.SHAPES}
    assert areas["circle"] == pytest.approx(math.pi * 36, rel=0.1)
    assert areas["square"] == 9 * 9  # |dx|, |dy| <= 4.8
    assert areas["triangle"] == pytest.approx(0.5 * 12 * 12, rel=0.2)


def test_exclude_and_require():
    rng = np.random.default_rng(2)
    banned = [("yellow", "triangle"), ("green", "circle")]
    for _ in range(300):
        scene = cap.random_scene(rng, exclude=banned)
        assert not {(s.colour, s.shape) for s in (scene.first, scene.second)} & set(banned)
        scene = cap.random_scene(rng, require=banned)
        assert {(s.colour, s.shape) for s in (scene.first, scene.second)} & set(banned)
    with pytest.raises(ValueError, match="overlap"):
        cap.random_scene(rng, exclude=banned, require=banned[:1])
    with pytest.raises(ValueError, match=r"\('purple', 'circle'\)"):
        cap.random_scene(rng, exclude=[("purple", "circle")])


def test_caption_encoding_round_trip_and_errors():
    captions = [REF, "a blue square above a red triangle"]
    ids = cap.encode_captions(captions)
    assert ids.shape == (9, 2)  # 8 words + <end>; 7 words + <end> + <pad>
    assert ids[8, 0] == cap.END and ids[7, 1] == cap.END and ids[8, 1] == cap.PAD
    assert cap.decode_captions(ids) == captions
    with pytest.raises(ValueError, match=r"\['purple'\]"):
        cap.encode_captions(["a purple circle left of a red square"])


# --- the model -----------------------------------------------------------------------------------
@pytest.mark.parametrize("image_input", ["every", "first"])
def test_model_shapes_and_greedy_decoding(image_input):
    torch.manual_seed(0)
    model = cap.Captioner(embed_size=8, hidden_size=16, image_input=image_input)
    images, captions = cap.make_batch(3, np.random.default_rng(0))
    assert images.shape == (3, 3, cap.SIZE, cap.SIZE) and images.dtype == torch.float32
    ids = cap.encode_captions(captions)
    assert model(images, ids).shape == (len(ids), 3, len(cap.WORDS))
    generated = cap.generate(model, images, max_words=5)
    assert len(generated) == 3 and all(len(g.split()) <= 6 for g in generated)
    with pytest.raises(ValueError, match=r"\(3, 3, 16, 16\); expected \(N, 3, 32, 32\)"):
        cap.generate(model, images[:, :, :16, :16])
    with pytest.raises(ValueError, match="expected 'every' or 'first'"):
        cap.Captioner(image_input="last")


@pytest.mark.parametrize("image_input", ["every", "first"])
def test_greedy_decoding_agrees_with_teacher_forcing_on_its_own_words(image_input):
    """Fed its own greedy words, the teacher-forced pass predicts the same words (eq:cap-greedy)."""
    torch.manual_seed(1)
    model = cap.Captioner(embed_size=8, hidden_size=16, image_input=image_input)
    images, _ = cap.make_batch(4, np.random.default_rng(3))
    ids = cap.greedy_ids(model, images, max_words=6)  # (L, N)
    inputs = torch.cat([torch.full_like(ids[:1], cap.START), ids[:-1]])  # <start>, then its own words
    with torch.no_grad():
        assert torch.equal(model(images, inputs).argmax(dim=-1), ids)
    assert cap.generate(model, images, max_words=6) == cap.decode_captions(ids)


def test_a_short_training_run_reduces_the_loss():
    torch.manual_seed(0)
    model = cap.Captioner(embed_size=16, hidden_size=32)
    losses = cap.train_captioner(model, steps=30, rng=np.random.default_rng(0), batch_size=16, lr=1e-2)
    assert np.mean(losses[:3]) > 2.0  # about ln 14 at the start
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:3]), losses


def test_scores_of_the_baseline_and_of_the_parts():
    refs = [REF, "a blue square above a red triangle"]
    assert cap.most_frequent_caption([refs[1], refs[0], refs[1]]) == refs[1]
    assert cap.exact_match([REF, REF], refs) == 0.5
    slots = cap.slot_accuracy(["a red circle above a blue square", "a blue square above a red circle"], refs)
    assert slots == {"first object": 1.0, "relation": 0.5, "second object": 0.5}
    with pytest.raises(ValueError, match="no captions"):
        cap.most_frequent_caption([])


# --- the experiment ------------------------------------------------------------------------------
def test_command_line_writes_a_result_file(tmp_path):
    from lstm_ref.experiments.__main__ import main

    out = tmp_path / "captions.json"
    argv = ["captioning", "--seeds", "1", "--steps", "3", "--n-test", "20", "--n-novel", "10", "--n-samples", "2",
            "--eval-size", "10", "--eval-every", "2", "--n-baseline", "200", "--hidden-size", "8", "--embed-size", "4", "--no-progress",
            "--out", str(out)]
    main(argv)
    saved = json.loads(out.read_text())
    assert saved["command"] == "python -m lstm_ref.experiments " + " ".join(argv)
    assert [p[0] for p in saved["runs"][0]["curve"]] == [2, 3]
    assert len(saved["runs"][0]["samples"]["generated"]) == 2
    assert {row["set"] for row in saved["summary"]} == {"test", "novel"}
    assert 0 < saved["baseline"]["test"]["bleu1"] < 1 and saved["baseline"]["test"]["exact_match"] < 0.1


def test_command_line_rejects_unknown_pairs(capsys):
    from lstm_ref.experiments.__main__ import main

    with pytest.raises(SystemExit):
        main(["captioning", "--exclude", "purple:circle"])
    assert "purple" in capsys.readouterr().err


def test_committed_results_match_the_scene_generator():
    """The chapter redraws the sample scenes from their seed: they must be the scenes scored."""
    if not RESULTS.exists():
        pytest.skip("results/captioning.json not made yet")
    saved = json.loads(RESULTS.read_text())
    assert saved["command"].startswith("python -m lstm_ref.experiments captioning")
    cfg = exp.CaptionConfig(**saved["config"])
    _, captions = cap.make_batch(cfg.n_samples, np.random.default_rng(saved["seeds"]["samples"]), exclude=cfg.excluded)
    assert captions == saved["sample_captions"]
    for run in saved["runs"]:
        assert run["config"] == saved["config"] and len(run["samples"]["generated"]) == cfg.n_samples
