"""Preparing real EMO-DB and URDU, splits, bad files, caching and the `exhubert prepare` command."""

import csv
import json
import re
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from audio_matrix import bad_files, write_good_files

from exhubert_hf.commands import main as exhubert_main
from exhubert_hf.configuration_exhubert import EXHUBERT_LABELS, emotion_class
from exhubert_hf.data.audio import audio_info
from exhubert_hf.data.cache import PrepareSettings, cache_key
from exhubert_hf.data.plan import CorpusSpecError, plan_corpora
from exhubert_hf.data.prepare import prepare_corpora
from exhubert_hf.data.sampler import RoundRobinBatchSampler
from exhubert_hf.data.schema import SPLITS, prepared_features
from exhubert_hf.data.splits import assign_splits, random_split, speaker_split

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
EMODB = DATA / "emodb"
URDU = DATA / "urdu"
needs_data = pytest.mark.skipif(not (EMODB / "wav").is_dir() or not URDU.is_dir(), reason=f"real corpora not found under {DATA}")


@pytest.fixture(scope="session")
def prepared(tmp_path_factory):
    """EMO-DB prepared alone, then EMO-DB + URDU, then the pair again from the cache; decodes counted per corpus
    (`read_audio` calls, in this process: num_proc=1), each step timed."""
    if not (EMODB / "wav").is_dir() or not URDU.is_dir():
        pytest.skip(f"real corpora not found under {DATA}")
    import exhubert_hf.data.build as build

    cache = tmp_path_factory.mktemp("prepared-cache")
    corpora = {"emodb": EMODB, "urdu": URDU}
    decodes, steps = Counter(), {}
    real_read_audio = build.read_audio

    def counting(path, *args, **kwargs):
        decodes[(len(steps), "urdu" if "urdu" in Path(path).parts else "emodb")] += 1
        return real_read_audio(path, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(build, "read_audio", counting)
        for step, chosen in (("emodb", {"emodb": EMODB}), ("both", corpora), ("cached", corpora)):
            start = time.perf_counter()
            result = prepare_corpora(chosen, cache_dir=cache, show_progress=False)
            steps[step] = (result, time.perf_counter() - start)
    print(f"\nprepare EMO-DB {steps['emodb'][1]:.1f} s, + URDU {steps['both'][1]:.1f} s, cached rerun {steps['cached'][1]:.2f} s")
    return {
        "emodb_only": steps["emodb"][0], "first": steps["both"][0], "second": steps["cached"][0], "decodes": decodes,
        "cached": steps["cached"][1], "cache": cache, "corpora": corpora,
    }  # fmt: skip


def rows(dataset, corpus):
    """All rows of one corpus without the audio column, over the three splits, with their split."""
    out = []
    for split in SPLITS:
        part = dataset[split].remove_columns("audio")
        out += [dict(row, split=split) for row in part if row["corpus"] == corpus]
    return out


@needs_data
def test_adding_a_corpus_decodes_only_that_corpus(prepared):
    # each corpus is cached on its own: EMO-DB is decoded once, by the first prepare, and URDU once, by the second
    assert prepared["decodes"] == {(0, "emodb"): 535, (1, "urdu"): 400}
    assert prepared["emodb_only"].decoded == ["emodb"] and prepared["first"].decoded == ["urdu"]
    assert prepared["second"].from_cache and prepared["cached"] < 5, prepared["cached"]
    assert prepared["first"].entries["emodb"] == prepared["emodb_only"].entries["emodb"] == prepared["second"].entries["emodb"]
    # the training set concatenates the corpora's own datasets (EMO-DB's rows are those prepared alone)
    alone, both = prepared["emodb_only"].dataset["train"], prepared["second"].dataset["train"]
    assert both["corpus"] == ["emodb"] * len(alone) + ["urdu"] * (len(both) - len(alone))
    assert both["path"][: len(alone)] == alone["path"]
    np.testing.assert_array_equal(both[len(alone) - 1]["audio"], alone[len(alone) - 1]["audio"])
    # the round-robin sampler works over the concatenation's indices through the corpus column
    sampler = RoundRobinBatchSampler.from_corpus_column(both["corpus"], 8, seed=0, num_steps=6)
    corpus = np.asarray(both["corpus"])
    assert [set(corpus[batch]) for batch in sampler] == [{"emodb"}, {"urdu"}] * 3


@needs_data
def test_dataset_layout(prepared):
    dataset = prepared["second"].dataset
    assert list(dataset) == list(SPLITS)
    for split in SPLITS:
        assert dataset[split].features == prepared_features()
        assert len(dataset[split]) > 0
    assert prepared["first"].skipped == [] and prepared["first"].unlabeled == []


@needs_data
def test_emodb(prepared):
    emodb = rows(prepared["second"].dataset, "emodb")
    assert len(emodb) == 535
    assert len({row["speaker"] for row in emodb}) == 10
    assert Counter(row["original_label"] for row in emodb) == {
        "anger": 127, "boredom": 81, "neutral": 79, "happiness": 71, "fear": 69, "sadness": 62, "disgust": 46,
    }  # fmt: skip
    assert Counter(row["label"] for row in emodb) == {
        emotion_class("low", "negative"): 81 + 62 + 46,
        emotion_class("low", "neutral"): 79,
        emotion_class("high", "negative"): 127 + 69,
        emotion_class("high", "positive"): 71,
    }
    assert {row["language"] for row in emodb} == {"de"}
    assert {row["speaker"]: row["gender"] for row in emodb}["03"] == "male"
    assert {row["speaker"]: row["gender"] for row in emodb}["08"] == "female"
    assert {row["split_source"] for row in emodb} == {"speaker"}
    speakers = {split: {row["speaker"] for row in emodb if row["split"] == split} for split in SPLITS}
    assert all(speakers[split] for split in SPLITS), speakers
    assert not (speakers["train"] & speakers["validation"] or speakers["train"] & speakers["test"] or speakers["validation"] & speakers["test"])
    sizes = Counter(row["split"] for row in emodb)
    print(f"\nEMO-DB split sizes: {dict(sizes)}; speakers: { {s: sorted(v) for s, v in speakers.items()} }")
    assert sizes["train"] > 0.7 * 535


@needs_data
def test_urdu(prepared):
    dataset = prepared["second"].dataset
    urdu = rows(dataset, "urdu")
    assert len(urdu) == 400
    assert Counter(row["original_label"] for row in urdu) == {"angry": 100, "happy": 100, "neutral": 100, "sad": 100}
    speakers = {row["speaker"] for row in urdu}
    assert all(re.fullmatch(r"S[MF]\d+", s) for s in speakers)
    # The data's README says 38 speakers; the file names carry 29 distinct speaker ids.
    assert len(speakers) == 29
    assert {row["gender"] for row in urdu if row["speaker"].startswith("SF")} == {"female"}
    split_speakers = {split: {row["speaker"] for row in urdu if row["split"] == split} for split in SPLITS}
    assert all(split_speakers.values())
    assert not (split_speakers["train"] & split_speakers["test"] or split_speakers["train"] & split_speakers["validation"])
    assert not split_speakers["validation"] & split_speakers["test"]
    sizes = Counter(row["split"] for row in urdu)
    print(f"\nURDU split sizes: {dict(sizes)}")
    assert sizes == {"train": 318, "validation": 40, "test": 42}
    # URDU's talk-show speakers carry mostly one emotion each (anger: 4 of 29 speakers); every emotion that at
    # least three speakers carry is in every split, and none fills more than 60 % of validation or test
    assert {emotion: len({row["speaker"] for row in urdu if row["original_label"] == emotion}) for emotion in
            ("angry", "happy", "neutral", "sad")} == {"angry": 4, "happy": 15, "neutral": 6, "sad": 8}  # fmt: skip
    for split in SPLITS:
        emotions = Counter(row["original_label"] for row in urdu if row["split"] == split)
        assert set(emotions) == {"angry", "happy", "neutral", "sad"}, (split, emotions)
        assert split == "train" or max(emotions.values()) <= 0.6 * sum(emotions.values()), (split, emotions)
    # resampled from 44.1 kHz: 16000 samples per second of the original
    test = dataset["test"]
    indices = [i for i, corpus in enumerate(test["corpus"]) if corpus == "urdu"][:5]
    for row in test.select(indices):
        info = audio_info(row["path"])
        assert info.sampling_rate == 44100
        assert abs(len(row["audio"]) - info.duration * 16000) <= 2
        assert row["duration"] == pytest.approx(len(row["audio"]) / 16000, abs=1e-4)
        assert np.isfinite(row["audio"]).all()


@needs_data
def test_split_assignment_is_recorded(prepared):
    result = prepared["second"]
    assignment = result.split_assignment
    assert len(assignment) == 935
    for split in SPLITS:
        assert all(assignment[path] == split for path in result.dataset[split]["path"])
    info = json.loads((result.entries["emodb"] / "prepare_info.json").read_text())
    assert info["seed"] == 0 and info["summary"]["splits"]["train"]["clips"] == len(
        [p for p, s in assignment.items() if s == "train" and "/emodb/" in p]
    )
    summary = result.summary()
    assert "emodb" in summary and "urdu" in summary and "total" in summary and "935" in summary


@needs_data
def test_records_without_decoding_match_the_dataset(prepared):
    plan = plan_corpora(prepared["corpora"], seed=0)
    assert {r.path: r.split for r in plan.records} == prepared["second"].split_assignment
    other = plan_corpora(prepared["corpora"], seed=1)
    assert {r.path: r.split for r in other.records} != prepared["second"].split_assignment
    emodb = plan.for_corpus(plan.specs[0])
    settings = PrepareSettings(0, "int16", 600.0)
    assert cache_key(emodb, settings) == prepared["second"].entries["emodb"].name
    assert cache_key(other.for_corpus(other.specs[0]), PrepareSettings(1, "int16", 600.0)) != cache_key(emodb, settings)
    assert cache_key(emodb, PrepareSettings(0, "float32", 600.0)) != cache_key(emodb, settings)
    assert cache_key(emodb, PrepareSettings(0, "int16", 5.0)) != cache_key(emodb, settings)


# --- splits ------------------------------------------------------------------------------------------
def test_speaker_split_small_and_deterministic():
    counts = {f"s{i:02d}": 50 + i for i in range(10)}
    first = speaker_split(counts, seed=3, corpus="x")
    assert first == speaker_split(counts, seed=3, corpus="x")
    assert Counter(first.values()) == {"train": 8, "validation": 1, "test": 1}
    with pytest.raises(ValueError):
        speaker_split({"a": 3, "b": 4})
    three = speaker_split({"a": 1, "b": 1, "c": 100}, seed=0)
    assert set(three.values()) == {"train", "validation", "test"}


def test_speaker_split_many_speakers_is_about_80_10_10():
    rng = np.random.default_rng(0)
    counts = {f"s{i}": int(n) for i, n in enumerate(rng.integers(20, 80, size=60))}
    assignment = speaker_split(counts, seed=0)
    total = sum(counts.values())
    shares = {split: sum(n for s, n in counts.items() if assignment[s] == split) / total for split in SPLITS}
    assert shares["validation"] == pytest.approx(0.1, abs=0.03) and shares["test"] == pytest.approx(0.1, abs=0.03)


def test_label_balanced_speaker_split_beats_the_first_speaker_order():
    # 30 speakers with one emotion each: a split by speaker order alone easily gets one emotion per split
    speaker_labels = {f"s{index}": Counter({index % 4: 10}) for index in range(30)}
    counts = {speaker: 10 for speaker in speaker_labels}
    balanced = speaker_split(counts, seed=0, speaker_labels=speaker_labels)
    assert balanced == speaker_split(counts, seed=0, speaker_labels=speaker_labels)
    for split in ("validation", "test"):
        emotions = {index % 4 for index in range(30) if balanced[f"s{index}"] == split}
        assert len(emotions) >= 3, (split, emotions)
    labels = [index % 4 for index in range(30) for _ in range(10)]
    speakers = [f"s{index}" for index in range(30) for _ in range(10)]
    by_clip = assign_splits(speakers, [None] * 300, seed=0, labels=labels)
    assert {speaker: split for speaker, (split, _) in zip(speakers, by_clip)} == balanced


@pytest.mark.parametrize("seed", range(8))
def test_a_class_carried_by_three_speakers_is_in_every_split(seed):
    # 20 speakers of class 0; a rare class 1 (one clip each) from three of them, too small to sway the balance
    speaker_labels = {f"s{i:02d}": Counter({0: 10 + i, **({1: 1} if i in (4, 11, 17) else {})}) for i in range(20)}
    counts = {speaker: sum(labels.values()) for speaker, labels in speaker_labels.items()}
    assignment = speaker_split(counts, seed=seed, corpus="rare", speaker_labels=speaker_labels)
    assert {assignment[speaker] for speaker in ("s04", "s11", "s17")} == set(SPLITS)
    two = {speaker: Counter({0: 5, 1: 1}) if speaker in ("s04", "s11") else labels for speaker, labels in speaker_labels.items()}
    assert len(set(speaker_split(counts, seed=seed, speaker_labels=two).values())) == 3  # two carriers: no constraint


def test_an_own_split_that_shares_speakers_is_made_speaker_independent():
    speakers = [f"spk{i}" for i in range(5) for _ in range(6)]
    own = ["train", "train", "train", "train", "validation", "test"] * 5  # ESD-like: every speaker in every part
    labels = [clip % 3 for clip in range(30)]
    resplit = assign_splits(speakers, own, seed=0, corpus="esd", labels=labels)
    assert {source for _, source in resplit} == {"resplit"}
    by_speaker = {}
    for speaker, (split, _) in zip(speakers, resplit):
        assert by_speaker.setdefault(speaker, split) == split
    assert assign_splits(speakers, own, seed=0, labels=labels, keep_own=True) == [(split, "corpus") for split in own]
    independent = ["train"] * 18 + ["validation"] * 6 + ["test"] * 6  # speakers 0-2 / 3 / 4: kept as it is
    assert assign_splits(speakers, independent, labels=labels) == [(split, "corpus") for split in independent]
    assert {s for _, s in assign_splits(["x"] * 3, ["train", "validation", "test"])} == {"corpus"}  # cannot do better


def test_esd_is_resplit_by_default_and_its_own_split_kept_on_request(tmp_path):
    import soundfile

    for speaker in ("0011", "0012", "0013", "0014"):
        for block, emotion in enumerate(("Angry", "Happy", "Neutral", "Sad", "Surprise")):
            for folder, position in (("evaluation", 1), ("test", 21), ("train", 51)):
                path = tmp_path / "esd" / speaker / emotion / folder / f"{speaker}_{350 * block + position:06d}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                soundfile.write(str(path), np.full(400, 0.1, dtype=np.float32), 16000)
    corpora = {"esd": tmp_path / "esd"}
    records = plan_corpora(corpora).records
    assert {r.split_source for r in records} == {"resplit"}
    assert all(len({r.split for r in records if r.speaker == s}) == 1 for s in ("0011", "0012", "0013", "0014"))
    own = plan_corpora(corpora, own_splits=["esd"]).records
    assert Counter((r.split, r.split_source) for r in own) == {("train", "corpus"): 20, ("validation", "corpus"): 20, ("test", "corpus"): 20}
    with pytest.raises(CorpusSpecError, match="esdx"):
        plan_corpora(corpora, own_splits=["esdx"])
    summary = prepare_corpora(corpora, cache_dir=tmp_path / "cache", show_progress=False).summary()
    assert "resplit: the own split of esd puts speakers in more than one of train/validation/test" in summary
    assert "resplit" not in prepare_corpora(corpora, cache_dir=tmp_path / "cache", show_progress=False, own_splits=["esd"]).summary()


def test_assign_splits_sources():
    assert assign_splits(["a", "b"], ["train", "test"]) == [("train", "corpus"), ("test", "corpus")]
    by_speaker = assign_splits(["a", "a", "b", "c", "d"], [None] * 5, seed=0)
    assert {source for _, source in by_speaker} == {"speaker"}
    assert by_speaker[0] == by_speaker[1]
    randomly = assign_splits([""] * 100, [None] * 100, seed=0)
    assert {source for _, source in randomly} == {"random"}
    assert Counter(split for split, _ in randomly) == {"train": 80, "validation": 10, "test": 10}
    assert randomly == assign_splits([""] * 100, [None] * 100, seed=0) != assign_splits([""] * 100, [None] * 100, seed=1)
    assert {source for _, source in assign_splits(["a", "b"] * 5, [None] * 10)} == {"random"}  # too few speakers
    assert Counter(random_split(3)) == {"train": 1, "validation": 1, "test": 1}


# --- bad files, cache safety, CLI --------------------------------------------------------------------
@pytest.fixture
def broken_emodb(tmp_path):
    """An EMO-DB-named folder with real clips of 4 speakers COPIED into tmp_path, plus three bad files."""
    if not (EMODB / "wav").is_dir():
        pytest.skip("EMO-DB not found")
    root = tmp_path / "emodb"
    (root / "wav").mkdir(parents=True)
    good = []
    for speaker in ("03", "08", "09", "10"):
        for source in sorted((EMODB / "wav").glob(f"{speaker}a0*.wav"))[:3]:
            shutil.copy(source, root / "wav" / source.name)
            good.append(str((root / "wav" / source.name).resolve()))
    empty = root / "wav" / "11a01Wz.wav"
    empty.write_bytes(b"")
    truncated = root / "wav" / "12a01Wz.wav"
    truncated.write_bytes((EMODB / "wav" / "03a01Fa.wav").read_bytes()[:30])
    text = root / "wav" / "13a01Wz.wav"
    text.write_text("this is not audio\n" * 20)
    bad = {str(p.resolve()): p.name for p in (empty, truncated, text)}
    return root, good, bad


def test_bad_files_are_skipped_and_reported(broken_emodb, tmp_path):
    root, good, bad = broken_emodb
    result = prepare_corpora({"emodb": root}, cache_dir=tmp_path / "cache", show_progress=False)
    reasons = dict(result.skipped)
    assert set(reasons) == set(bad)
    assert "empty" in reasons[next(p for p, n in bad.items() if n == "11a01Wz.wav")]
    assert all(reason for reason in reasons.values())
    kept = [p for split in SPLITS for p in result.dataset[split]["path"]]
    assert sorted(kept) == sorted(good)
    assert result.info["corpora"]["emodb"]["skipped"] == 3
    info = json.loads((result.entries["emodb"] / "prepare_info.json").read_text())
    assert {path for path, _ in info["skipped"]} == set(bad)
    again = prepare_corpora({"emodb": root}, cache_dir=tmp_path / "cache", show_progress=False)
    assert again.from_cache and dict(again.skipped) == reasons


def test_changed_files_invalidate_the_cache(broken_emodb, tmp_path):
    root, good, _ = broken_emodb
    first = prepare_corpora({"emodb": root}, cache_dir=tmp_path / "cache", show_progress=False)
    Path(good[0]).unlink()
    second = prepare_corpora({"emodb": root}, cache_dir=tmp_path / "cache", show_progress=False)
    assert not second.from_cache and second.entries != first.entries
    assert sum(len(second.dataset[s]) for s in SPLITS) == len(good) - 1


def test_interrupted_cache_write_is_not_picked_up(broken_emodb, tmp_path, monkeypatch):
    root, good, _ = broken_emodb
    cache = tmp_path / "cache"
    import exhubert_hf.data.build as build

    real_read_audio = build.read_audio
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real_read_audio(*args, **kwargs)

    monkeypatch.setattr(build, "read_audio", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare_corpora({"emodb": root}, cache_dir=cache, show_progress=False)
    monkeypatch.setattr(build, "read_audio", real_read_audio)
    assert [p.name for p in cache.iterdir()] == []  # nothing left behind, nothing complete

    plan = plan_corpora({"emodb": root})
    key = cache_key(plan.for_corpus(plan.specs[0]), PrepareSettings(0, "int16", 600.0))
    (cache / key / "data").mkdir(parents=True)  # a half-written entry (cannot happen by rename, but still)
    result = prepare_corpora({"emodb": root}, cache_dir=cache, show_progress=False)
    assert not result.from_cache and result.entries["emodb"] == cache / key
    assert sum(len(result.dataset[s]) for s in SPLITS) == len(good)
    assert sorted(p.name for p in cache.iterdir()) == [".locks", key]
    assert prepare_corpora({"emodb": root}, cache_dir=cache, show_progress=False).from_cache


def test_more_processes_give_the_same_dataset(broken_emodb, tmp_path):
    root, good, bad = broken_emodb
    one = prepare_corpora({"emodb": root}, cache_dir=tmp_path / "one", show_progress=False)
    two = prepare_corpora({"emodb": root}, cache_dir=tmp_path / "two", show_progress=False, num_proc=3)
    assert one.entries["emodb"].name == two.entries["emodb"].name and one.skipped == two.skipped
    shards = json.loads((two.entries["emodb"] / "prepare_info.json").read_text())["shards"]
    planned = Counter(record.split for record in plan_corpora({"emodb": root}).records)
    assert [len(shards[split]) for split in SPLITS] == [max(1, min(3, planned[split])) for split in SPLITS]
    for split in SPLITS:
        assert one.dataset[split]["path"] == two.dataset[split]["path"]
        for a, b in zip(one.dataset[split]["audio"], two.dataset[split]["audio"]):
            np.testing.assert_array_equal(a, b)


def test_save_writes_what_load_from_disk_reads_and_never_over_a_corpus(broken_emodb, tmp_path):
    from datasets import load_from_disk

    from exhubert_hf.errors import OutputExistsError, UsageError

    root, good, _ = broken_emodb
    result = prepare_corpora({"emodb": root}, cache_dir=tmp_path / "cache", show_progress=False)
    output = result.save(tmp_path / "out")
    loaded = load_from_disk(str(output))
    for split in SPLITS:
        assert loaded[split]["path"] == result.dataset[split]["path"]
    assert loaded["train"][0]["audio"].dtype == np.int16  # the format (NumPy audio, as stored) travels along
    np.testing.assert_array_equal(loaded["train"][0]["audio"], result.dataset["train"][0]["audio"])
    assert json.loads((output / "prepare_info.json").read_text()) == result.info
    with open(output / "splits.csv", newline="") as handle:
        assert {row["path"]: row["split"] for row in csv.DictReader(handle)} == result.split_assignment
    with pytest.raises(OutputExistsError):
        result.save(output)
    for target in (root, root / "wav", tmp_path):
        with pytest.raises(UsageError, match="root of the corpus emodb"):
            result.save(target, overwrite=True)
    assert all(Path(path).is_file() for path in good)


def test_unknown_corpus_and_missing_root(tmp_path):
    with pytest.raises(CorpusSpecError, match="unknown corpus"):
        plan_corpora({"emodbx": tmp_path})
    with pytest.raises(CorpusSpecError, match="not an existing folder"):
        plan_corpora({"emodb": tmp_path / "missing"})
    with pytest.raises(CorpusSpecError, match="manifest"):
        plan_corpora({"manifest:x": tmp_path / "missing.csv"})


def run_cli(monkeypatch, *argv):
    return exhubert_main(["prepare", *map(str, argv)])


def test_cli_exit_codes(broken_emodb, tmp_path, monkeypatch, capsys):
    root, good, bad = broken_emodb
    cache = tmp_path / "cache"
    output = tmp_path / "out"
    assert run_cli(monkeypatch, f"emodb={root}", "--cache-dir", cache, "--output", output, "--no-progress") == 1
    printed = capsys.readouterr()
    for path in bad:
        assert path in printed.err  # skipped files are reported on stderr, the summary goes to stdout
    assert "emodb" in printed.out and "total" in printed.out
    from datasets import load_from_disk

    written = load_from_disk(str(output))
    assert sum(len(written[s]) for s in SPLITS) == len(good)
    assert (output / "splits.csv").is_file() and (output / "prepare_info.json").is_file()
    with open(output / "splits.csv", newline="") as handle:
        assert {row["label"] for row in csv.DictReader(handle)} <= set(EXHUBERT_LABELS)

    # an existing --output is never replaced without --overwrite
    assert run_cli(monkeypatch, f"emodb={root}", "--cache-dir", cache, "--output", output, "--no-progress") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert run_cli(monkeypatch, f"emodb={root}", "--cache-dir", cache, "--output", output, "--overwrite", "--no-progress") == 1

    assert run_cli(monkeypatch, f"nosuchcorpus={root}", "--cache-dir", cache) == 2
    assert "unknown corpus" in capsys.readouterr().err
    assert run_cli(monkeypatch, f"emodb={tmp_path / 'missing'}", "--cache-dir", cache) == 2
    assert run_cli(monkeypatch, "emodb", "--cache-dir", cache) == 2
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\nx.wav,grumpy\n")
    assert run_cli(monkeypatch, f"manifest:mine={manifest}", "--cache-dir", cache) == 2
    assert "grumpy" in capsys.readouterr().err


@needs_data
def test_cli_all_files_used_exits_0(prepared, monkeypatch, capsys):
    argv = [f"{name}={root}" for name, root in prepared["corpora"].items()]
    assert run_cli(monkeypatch, *argv, "--cache-dir", prepared["cache"], "--no-progress") == 0
    out = capsys.readouterr().out
    assert "loaded from cache" in out and "935" in out


def test_manifest_corpus_prepares(tmp_path):
    if not (EMODB / "wav").is_dir():
        pytest.skip("EMO-DB not found")
    clips = tmp_path / "clips"
    clips.mkdir()
    lines = ["path,label,speaker,split"]
    for i, source in enumerate(sorted((EMODB / "wav").glob("03a0*.wav"))[:4]):
        shutil.copy(source, clips / source.name)
        label = ["angry", "neutral", "happy", '"low arousal, negative valence"'][i]
        lines.append(f"clips/{source.name},{label},x,{SPLITS[i % 3]}")
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    result = prepare_corpora({"manifest:mine": tmp_path / "m.csv"}, cache_dir=tmp_path / "cache", show_progress=False)
    assert [len(result.dataset[s]) for s in SPLITS] == [2, 1, 1]
    train = result.dataset["train"]
    assert set(train["corpus"]) == {"mine"} and set(train["split_source"]) == {"corpus"}
    assert sorted(train["label"]) == sorted([emotion_class("high", "negative"), emotion_class("low", "negative")])


def test_empty_split_and_unlabeled_clips(tmp_path, monkeypatch, capsys):
    """A corpus whose own split leaves validation/test empty still loads; IEMOCAP xxx/oth clips are listed as unlabeled."""
    import soundfile

    def wav(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(str(path), np.full(800, 0.1, dtype=np.float32), 16000)

    wav(tmp_path / "m" / "a.wav")
    (tmp_path / "m" / "m.jsonl").write_text('{"path": "a.wav", "label": "calm", "split": "train"}\n')
    session = tmp_path / "iemocap" / "Session1"
    turns = {"Ses01F_impro01_F000": "neu", "Ses01F_impro01_M001": "xxx", "Ses01F_impro01_F002": "oth", "Ses01F_impro01_M003": "ang"}
    lines = [f"[1.0 - 2.0]\t{turn}\t{label}\t[2.5, 2.5, 2.5]" for turn, label in turns.items()]
    (session / "dialog" / "EmoEvaluation").mkdir(parents=True)
    (session / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt").write_text("\n".join(lines) + "\n")
    for turn in turns:
        wav(session / "sentences" / "wav" / "Ses01F_impro01" / f"{turn}.wav")
    corpora = {"manifest:mine": tmp_path / "m" / "m.jsonl", "iemocap": tmp_path / "iemocap"}
    result = prepare_corpora(corpora, cache_dir=tmp_path / "cache", show_progress=False)
    # two IEMOCAP speakers are too few for a speaker split, and two clips too few for a random 10/10 split
    assert [len(result.dataset[s]) for s in SPLITS] == [3, 0, 0]
    assert set(result.dataset["validation"].features) == set(prepared_features())
    assert sorted((u.corpus, u.original_label) for u in result.unlabeled) == [("iemocap", "oth"), ("iemocap", "xxx")]
    assert result.info["corpora"]["iemocap"]["unlabeled"] == 2
    assert set(result.dataset["train"].filter(lambda corpus: corpus == "mine", input_columns="corpus")["label"]) == {emotion_class("low", "positive")}
    assert prepare_corpora(corpora, cache_dir=tmp_path / "cache", show_progress=False).from_cache
    argv = [f"{name}={root}" for name, root in corpora.items()]
    assert run_cli(monkeypatch, *argv, "--cache-dir", tmp_path / "cache", "--no-progress") == 0
    assert "unlabeled" in capsys.readouterr().out


def test_the_bad_input_matrix_keeps_every_good_file_and_reports_every_bad_one(tmp_path):
    folder = tmp_path / "clips with spaces ü"
    folder.mkdir()
    durations = write_good_files(folder)
    reasons = bad_files(folder)
    names = sorted(durations) + sorted(reasons)
    lines = ["path,label,speaker"] + [f'"{folder.name}/{name}",neutral,s{i % 4}' for i, name in enumerate(names)]
    (tmp_path / "matrix.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = prepare_corpora({"manifest:matrix": tmp_path / "matrix.csv"}, cache_dir=tmp_path / "cache", show_progress=False)

    skipped = {Path(path).name: reason for path, reason in result.skipped}
    assert set(skipped) == set(reasons)
    for name, reason in reasons.items():
        assert reason in skipped[name], (name, skipped[name])
    kept = {Path(row["path"]).name: row for split in SPLITS for row in result.dataset[split]}
    assert set(kept) == set(durations)
    for name, row in kept.items():
        assert row["duration"] == pytest.approx(durations[name], abs=1e-3), name
        assert abs(len(row["audio"]) - durations[name] * 16000) <= 2, name
        assert np.isfinite(row["audio"]).all()


def test_int16_storage_round_trips_16_bit_sources_exactly(tmp_path):
    """16-bit WAV -> prepared as int16 -> AudioCollator gives exactly what the float32 path gives (prepared as
    float32, or read_audio directly) for 16 kHz mono 16-bit sources; resampled or down-mixed sources are rounded
    to 16 bits (at most half a step); the stored audio takes half the bytes."""
    import soundfile
    import torch
    from transformers import Wav2Vec2FeatureExtractor

    from exhubert_hf.data.audio import read_audio
    from exhubert_hf.data.collator import AudioCollator

    if not (EMODB / "wav").is_dir():
        pytest.skip("EMO-DB not found")
    clips = tmp_path / "clips"
    clips.mkdir()
    exact = [shutil.copy(source, clips / source.name) for source in sorted((EMODB / "wav").glob("03a0*.wav"))[:3]]
    extremes = np.concatenate([[-32768, 32767, 0, 1, -1], np.random.default_rng(0).integers(-32768, 32768, 8000)])
    soundfile.write(clips / "extremes.wav", extremes.astype(np.int16), 16000, subtype="PCM_16")
    exact.append(clips / "extremes.wav")
    stereo = np.random.default_rng(1).uniform(-0.9, 0.9, (22050, 2))
    soundfile.write(clips / "stereo 44k.wav", stereo, 44100, subtype="PCM_16")
    names = [Path(path).name for path in exact] + ["stereo 44k.wav"]
    (tmp_path / "m.csv").write_text("path,label,split\n" + "".join(f"clips/{name},neutral,train\n" for name in names))
    corpora = {"manifest:mine": tmp_path / "m.csv"}
    stored = {
        dtype: prepare_corpora(corpora, cache_dir=tmp_path / "cache", audio_dtype=dtype, show_progress=False)
        for dtype in ("int16", "float32")
    }
    rows = {dtype: {Path(row["path"]).name: row for row in result.dataset["train"]} for dtype, result in stored.items()}
    assert stored["int16"].dataset["train"].features["audio"].feature.dtype == "int16"
    assert stored["float32"].dataset["train"].features["audio"].feature.dtype == "float32"
    assert rows["int16"]["extremes.wav"]["audio"].dtype == np.int16
    np.testing.assert_array_equal(rows["int16"]["extremes.wav"]["audio"], extremes)

    extractor = Wav2Vec2FeatureExtractor(do_normalize=False, return_attention_mask=True)  # the scale reaches the model
    collate = AudioCollator(extractor)
    for path in exact:
        name = Path(path).name
        direct = collate([{"audio": read_audio(path), "label": 0}])["input_values"]
        assert torch.equal(collate([rows["int16"][name]])["input_values"], direct), name
        assert torch.equal(collate([rows["float32"][name]])["input_values"], direct), name
    rounded = collate([rows["int16"]["stereo 44k.wav"]])["input_values"]
    full = collate([rows["float32"]["stereo 44k.wav"]])["input_values"]
    assert 0 < (rounded - full).abs().max() <= 0.5 / 32768 + 1e-9

    def audio_bytes(result):
        return sum(path.stat().st_size for path in (result.entries["mine"] / "data").iterdir())

    assert 0.45 < audio_bytes(stored["int16"]) / audio_bytes(stored["float32"]) < 0.55
