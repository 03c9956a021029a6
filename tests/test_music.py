"""Tests of ``lstm_ref.music`` (book/music.md): events, baselines, sampling, sound.

Small chorales are written here by hand, so every expected value is known without
music21; one test reads the shipped data file, and one trains the model for a few
seconds on a repeating phrase it must learn.
"""
from __future__ import annotations

import gzip
import io
import json
import math
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_ref import apps, music

DATA = Path(__file__).resolve().parents[1] / "data" / "bach_chorales.json.gz"

# A C major chord for a quarter note (4 sixteenths), then G under a held C, with a rest.
PHRASE = np.array([[60, 0, 4], [64, 0, 4], [67, 0, 4], [72, 4, 12], [55, 6, 8]])


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- events ---------------------------------------------------------------------------
def test_events_of_a_known_phrase():
    assert music.to_events(PHRASE) == [
        "on:60", "len:4", "on:64", "len:4", "on:67", "len:4", "shift:4",
        "on:72", "len:8", "shift:2", "on:55", "len:2", "end",
    ]


def _in_event_order(notes):
    return notes[np.lexsort((notes[:, 2], notes[:, 0], notes[:, 1]))]


def test_round_trip_notes_events_ids_notes():
    rng = np.random.default_rng(0)
    starts = rng.integers(0, 200, 300)
    notes = np.stack([rng.integers(40, 80, 300), starts, starts + rng.integers(1, 40, 300)], 1)
    vocab = music.EventVocab(40, 79)
    back = music.from_events(vocab.decode(vocab.encode(music.to_events(notes))))
    np.testing.assert_array_equal(back, _in_event_order(notes))  # unisons, overlaps: all kept


def test_long_gaps_and_notes_take_several_steps_and_round_trip():
    notes = np.array([[60, 0, 1], [62, 40, 75]])  # 40 sixteenths apart; 35 long
    events = music.to_events(notes)
    assert events == ["on:60", "len:1", "shift:16", "shift:16", "shift:8",
                      "on:62", "len:16", "len:16", "len:3", "end"]
    np.testing.assert_array_equal(music.from_events(events), notes)


def test_from_events_forgives_what_a_sampler_may_write():
    events = ["len:3", "on:60", "len:4", "on:61", "shift:4", "on:64", "len:2", "end", "on:70", "len:2"]
    np.testing.assert_array_equal(music.from_events(events), [[60, 0, 4], [64, 4, 6]])
    with pytest.raises(ValueError, match="'off:60'"):
        music.from_events(["off:60"])


def test_bad_notes_and_events_are_rejected_with_what_was_expected():
    with pytest.raises(ValueError, match=r"shape \(3,\); expected \(K, 3\)"):
        music.to_events(np.array([60, 0, 4]))
    with pytest.raises(ValueError, match="end > start"):
        music.to_events(np.array([[60, 4, 4]]))
    with pytest.raises(ValueError, match="not in the vocabulary of pitches 60..72"):
        music.EventVocab(60, 72).encode(["on:59"])


def test_vocabulary_layout():
    vocab = music.EventVocab(60, 62)
    assert vocab.size == len(vocab.events) == 1 + 16 + 16 + 3
    assert vocab.events[0] == "end" and vocab.events[-1] == "on:62"


def test_transpose_to_c_major_and_a_minor():
    chorale = music.Chorale("x", "b- major", "4/4", PHRASE)  # B flat: down 10 = up 2
    assert (music.transpose_to_c(chorale)[:, 0] - PHRASE[:, 0] == 2).all()
    chorale = music.Chorale("y", "f# minor", "4/4", PHRASE)  # F sharp minor: up 3 to A minor
    assert (music.transpose_to_c(chorale)[:, 0] - PHRASE[:, 0] == 3).all()
    with pytest.raises(ValueError, match="'H dorian'"):
        music.transpose_to_c(music.Chorale("z", "H dorian", None, PHRASE))


def test_split_is_a_seeded_partition():
    train, val, test = music.split_chorales(50, seed=3)
    assert sorted(train + val + test) == list(range(50))
    assert (len(train), len(val), len(test)) == (40, 5, 5)
    assert music.split_chorales(50, seed=3) == (train, val, test)


# --- baselines ------------------------------------------------------------------------
def test_unigram_is_the_entropy_of_the_counts():
    train = torch.tensor([0, 0, 0, 1])  # p = (3 + a, 1 + a) / (4 + 2a)
    test = torch.tensor([0, 1])
    a = 0.5
    expected = -(math.log(3.5 / 5) + math.log(1.5 / 5)) / 2
    assert music.ngram_loss(train, test, 2, n=1, alpha=a) == pytest.approx(expected)


def test_bigram_learns_an_alternation_the_unigram_cannot():
    train = torch.tensor([0, 1] * 200)
    test = torch.tensor([0, 1] * 20)
    unigram = music.ngram_loss(train, test, 2, n=1, alpha=0.01)
    bigram = music.ngram_loss(train, test, 2, n=2, alpha=0.01)
    assert unigram == pytest.approx(math.log(2), abs=1e-3)
    assert bigram < 0.001
    assert music.choose_alpha(train, test, 2, n=2) == 0.001  # the smallest: no surprise


# --- model and sampling ---------------------------------------------------------------
def test_tiny_training_run_learns_a_repeating_phrase_and_samples_it():
    vocab = music.EventVocab(55, 72)
    ids = music.encode_corpus([PHRASE] * 40, vocab)  # (600,)
    torch.manual_seed(0)
    model = apps.CharLM(vocab.size, embed_size=8, hidden_size=32)
    before = apps.char_loss(model, ids[:45])
    apps.train_char_lm(model, ids, steps=80, T=32, N=8, lr=1e-2)
    after = apps.char_loss(model, ids[:45])
    bigram = music.ngram_loss(ids, ids[:45], vocab.size, n=2, alpha=0.01)
    assert after < bigram / 2 < before, (before, bigram, after)
    events = music.sample_events(model, vocab, temperature=0.5, seed=1)
    np.testing.assert_array_equal(music.from_events(events), _in_event_order(PHRASE))
    longer = music.sample_events(model, vocab, temperature=0.5, seed=1, min_events=20, max_events=40)
    assert 20 <= len(longer) <= 40 and longer[:len(events)] != events + ["end"]


def test_sample_rejects_bad_settings():
    model = apps.CharLM(music.EventVocab(60, 61).size, 4, 4)
    with pytest.raises(ValueError, match="temperature > 0"):
        music.sample_events(model, music.EventVocab(60, 61), temperature=0)
    with pytest.raises(ValueError, match="0 <= min_events <= max_events"):
        music.sample_events(model, music.EventVocab(60, 61), min_events=10, max_events=5)


# --- picture and sound ----------------------------------------------------------------
def test_piano_roll_marks_each_note():
    roll = music.piano_roll(PHRASE, 55, 72)
    assert roll.shape == (18, 12)
    assert roll[72 - 55, 4:12].all() and not roll[72 - 55, :4].any()
    assert roll.sum() == 3 * 4 + 8 + 2


def test_wav_header_and_length():
    rate, step = 8000, 0.15
    sound = music.synthesise(PHRASE, rate=rate, step_seconds=step)
    assert sound.shape == (round(12 * step * rate),) and np.abs(sound).max() == pytest.approx(0.9)
    data = music.wav_bytes(sound, rate)
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt " and len(data) == 44 + 2 * len(sound)
    with wave.open(io.BytesIO(data)) as f:  # the standard library's reader agrees
        assert (f.getnchannels(), f.getsampwidth(), f.getframerate(), f.getnframes()) == (1, 2, rate, len(sound))
        pcm = np.frombuffer(f.readframes(len(sound)), "<i2")
    np.testing.assert_allclose(pcm / 32767, sound, atol=1 / 32767)


def test_a_note_sounds_at_its_pitch():
    rate = 8000
    sound = music.synthesise(np.array([[69, 0, 8]]), rate=rate, step_seconds=0.125)  # A4, 1 s
    spectrum = np.abs(np.fft.rfft(sound))
    assert np.fft.rfftfreq(len(sound), 1 / rate)[spectrum.argmax()] == pytest.approx(440, abs=1)


def test_audio_element_embeds_the_wav():
    wav = music.wav_bytes(np.zeros(10))
    tag = music.audio_html(wav)
    assert tag.startswith("<audio controls") and 'src="data:audio/wav;base64,' in tag
    with pytest.raises(ValueError, match=r"in \[-1, 1\]"):
        music.wav_bytes(np.array([2.0]))


# --- the shipped data -----------------------------------------------------------------
@pytest.mark.skipif(not DATA.exists(), reason="data/bach_chorales.json.gz not written yet")
def test_shipped_chorales_are_four_voice_and_round_trip():
    with gzip.open(DATA, "rt") as f:
        header = json.load(f)
    chorales = music.load_chorales(DATA)
    assert len(chorales) == len(header["chorales"]) > 300
    assert header["command"].startswith("python scripts/convert_chorales.py")
    voices = {v for c in header["chorales"][:20] for v in np.array(c["notes"])[:, 3]}
    assert voices == {0, 1, 2, 3}
    notes = music.transpose_to_c(chorales[0])
    vocab = music.EventVocab.from_notes(notes)
    back = music.from_events(vocab.decode(vocab.encode(music.to_events(notes))))
    np.testing.assert_array_equal(back, _in_event_order(notes))


@pytest.mark.skipif(not DATA.exists(), reason="data/bach_chorales.json.gz not written yet")
def test_no_chorale_is_in_the_file_twice():
    """Not as two encodings of one chorale (bwv277.krn and bwv277.mxl differ note for note,
    so the converter's repeated-notes check alone let three through), not transposed."""
    with gzip.open(DATA, "rt") as f:
        header = json.load(f)
    ids = [c["id"] for c in header["chorales"]]
    assert sorted(i for i in set(ids) if ids.count(i) > 1) == []
    shapes = [tuple((p - min(n[0] for n in c["notes"]), s, e, v) for p, s, e, v in c["notes"])
              for c in header["chorales"]]
    assert len(set(shapes)) == len(shapes)


# --- the experiment command -----------------------------------------------------------
def test_experiment_command_writes_results_and_weights_on_a_tiny_corpus(tmp_path):
    from lstm_ref.experiments.__main__ import main

    rng = np.random.default_rng(0)
    chorales = []
    for k in range(10):  # ten "chorales" of random four-note chords, in C or A minor
        pitches = rng.integers(48, 72, (6, 4))
        notes = [[int(p), 4 * j, 4 * j + 4, v] for j, row in enumerate(pitches) for v, p in enumerate(row)]
        chorales.append({"id": f"c{k}", "key": "C major" if k % 2 else "a minor",
                         "time_signature": "4/4", "notes": notes})
    data = tmp_path / "tiny.json.gz"
    with gzip.open(data, "wt") as f:
        json.dump({"chorales": chorales}, f)
    out = tmp_path / "music.json"
    result = main(["music", "--data", str(data), "--steps", "3", "--eval-every", "2", "--T", "8",
                   "--N", "2", "--hidden-size", "8", "--no-progress", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["command"].startswith("python -m lstm_ref.experiments music --data")
    assert [row[0] for row in saved["curve"]] == [2, 3]
    assert set(saved["baselines"]) == {"unigram", "bigram", "trigram"}
    assert saved["data"]["train_chorales"] + saved["data"]["validation_chorales"] + saved["data"]["test_chorales"] == 10
    assert (tmp_path / saved["weights"]).is_file() and result["lstm_test"] == saved["lstm_test"] > 0


# --- the committed result -------------------------------------------------------------
RESULT = Path(__file__).resolve().parents[1] / "results" / "music.json"


@pytest.mark.skipif(not RESULT.exists(), reason="results/music.json not made yet")
def test_committed_result_reproduces_and_supports_the_chapter():
    """The weights give the recorded test loss, and it beats every counting baseline."""
    from lstm_ref.experiments.music import _loss_from, prepare

    result = json.loads(RESULT.read_text())
    assert result["command"].startswith("python -m lstm_ref.experiments music")
    vocab, ids, names = prepare(DATA, result["config"]["split_seed"])
    assert names["test"] == result["data"]["test_ids"] and vocab.size == result["data"]["vocab_size"]
    model = apps.CharLM(vocab.size, result["config"]["embed_size"], result["config"]["hidden_size"])
    model.load_state_dict(torch.load(RESULT.with_name(result["weights"])))
    assert _loss_from(model, ids["test"], first=2) == pytest.approx(result["lstm_test"], abs=1e-3)
    assert result["lstm_test"] < min(b["test"] for b in result["baselines"].values())


def test_converter_reproduces_a_chorale_of_the_shipped_file():
    """scripts/convert_chorales.py, run on one score, writes what data/ holds for it."""
    pytest.importorskip("music21")
    import sys

    sys.path.insert(0, str(DATA.parents[1] / "scripts"))
    try:
        import convert_chorales
    finally:
        sys.path.pop(0)
    path = next(p for p in convert_chorales.score_paths() if p.stem == "bwv1.6")
    converted = convert_chorales.convert_score(path)
    with gzip.open(DATA, "rt") as f:
        shipped = next(c for c in json.load(f)["chorales"] if c["id"] == "bwv1.6")
    assert converted == shipped
    assert convert_chorales.to_steps(0.25) == 1
    with pytest.raises(ValueError, match="not on a sixteenth"):
        convert_chorales.to_steps(1 / 3)
