"""Corpus adapters on tiny file trees that follow each corpus's documented layout, the label mapping, manifests."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile

from exhubert_hf.configuration_exhubert import emotion_class
from exhubert_hf.data import emoset_corpora, other_corpora
from exhubert_hf.data.corpora import CORPORA, scan_corpus
from exhubert_hf.data.emoset_corpora import esd_split
from exhubert_hf.data.labels import MANIFEST_SECTION, UnknownLabelError, load_label_mapping
from exhubert_hf.data.manifest import read_manifest
from exhubert_hf.data.plan import plan_corpora
from exhubert_hf.data.records import ManifestError
from exhubert_hf.data.roles import EMOSET, UNSEEN, corpus_role, load_corpus_roles, unseen_corpora


def write_wav(path: Path, seconds: float = 0.005, rate: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), np.full(max(1, int(seconds * rate)), 0.1, dtype=np.float32), rate, subtype="PCM_16")
    return path


def touch(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


IEMOCAP_EVALUATION = (
    "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
    "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n"
    "C-E2:\tNeutral;\t()\n\n"
    "[10.0100 - 11.3925]\tSes01F_impro01_M001\txxx\t[2.5000, 3.0000, 3.0000]\n\n"
    "[14.8872 - 18.0175]\tSes01F_impro01_F002\tfru\t[2.0000, 3.5000, 3.5000]\n"
)
MELD_HEADER = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n"

# corpus: (files to create, extra text files, expected {relative path: (original_label, speaker, gender, language, split)})
CASES = {
    "ravdess": (
        ["Actor_01/03-01-05-01-01-01-01.wav", "Actor_02/03-01-02-02-02-01-02.wav", "Actor_02/03-01-08-01-01-02-02.wav",
         "Actor_01/03-02-05-01-01-01-01.wav"],  # song: not part of the speech corpus
        {},
        {"Actor_01/03-01-05-01-01-01-01.wav": ("angry", "01", "male", "en", None),
         "Actor_02/03-01-02-02-02-01-02.wav": ("calm", "02", "female", "en", None),
         "Actor_02/03-01-08-01-01-02-02.wav": ("surprised", "02", "female", "en", None)},
    ),
    "tess": (
        ["OAF_angry/OAF_back_angry.wav", "YAF_pleasant_surprised/YAF_bite_ps.wav", "YAF_neutral/YAF_youth_neutral.wav"],
        {},
        {"OAF_angry/OAF_back_angry.wav": ("angry", "OAF", "female", "en", None),
         "YAF_pleasant_surprised/YAF_bite_ps.wav": ("pleasant_surprise", "YAF", "female", "en", None),
         "YAF_neutral/YAF_youth_neutral.wav": ("neutral", "YAF", "female", "en", None)},
    ),
    "savee": (
        ["AudioData/DC/a01.wav", "AudioData/KL/sa03.wav", "AudioData/JE/su15.wav", "AudioData/JK/n30.wav"],
        {"AudioData/Info.txt": "speakers"},
        {"AudioData/DC/a01.wav": ("anger", "DC", "male", "en", None),
         "AudioData/KL/sa03.wav": ("sadness", "KL", "male", "en", None),
         "AudioData/JE/su15.wav": ("surprise", "JE", "male", "en", None),
         "AudioData/JK/n30.wav": ("neutral", "JK", "male", "en", None)},
    ),
    "crema_d": (
        ["AudioWAV/1001_DFA_ANG_XX.wav", "AudioWAV/1002_IEO_HAP_HI.wav", "AudioWAV/1003_TIE_NEU_XX.wav"],
        {"VideoDemographics.csv": "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n1002,21,Female,Caucasian,Not Hispanic\n",
         "AudioMP3/1001_DFA_ANG_XX.mp3": ""},  # the MP3 copy is not read when AudioWAV exists
        {"AudioWAV/1001_DFA_ANG_XX.wav": ("anger", "1001", "male", "en", None),
         "AudioWAV/1002_IEO_HAP_HI.wav": ("happy", "1002", "female", "en", None),
         "AudioWAV/1003_TIE_NEU_XX.wav": ("neutral", "1003", "", "en", None)},
    ),
    "emovo": (
        ["f1/dis-f1-b1.wav", "m3/rab-m3-l4.wav", "f2/gio-f2-n5.wav"],
        {},
        {"f1/dis-f1-b1.wav": ("disgusto", "f1", "female", "it", None),
         "m3/rab-m3-l4.wav": ("rabbia", "m3", "male", "it", None),
         "f2/gio-f2-n5.wav": ("gioia", "f2", "female", "it", None)},
    ),
    "demos": (
        ["DEMOS/PR_f_01_rab001.wav", "DEMOS/NP_m_12_col003.wav", "NEU/m_05_neu001.wav"],
        {},
        {"DEMOS/PR_f_01_rab001.wav": ("rabbia", "01", "female", "it", None),
         "DEMOS/NP_m_12_col003.wav": ("colpa", "12", "male", "it", None),
         "NEU/m_05_neu001.wav": ("neutro", "05", "male", "it", None)},
    ),
    "cafe": (
        ["Colère/Faible/01-C-1-01.wav", "Neutre/02-N-03.wav", "Joie/Fort/04-J-2-06.wav"],
        {},
        {"Colère/Faible/01-C-1-01.wav": ("colère", "01", "male", "fr", None),
         "Neutre/02-N-03.wav": ("neutre", "02", "female", "fr", None),
         "Joie/Fort/04-J-2-06.wav": ("joie", "04", "female", "fr", None)},
    ),
    "aesdd": (
        ["anger/a01 (1).wav", "sadness/s12 (5).wav", "fear/f20 (3).wav"],
        {},
        {"anger/a01 (1).wav": ("anger", "1", "", "el", None),
         "sadness/s12 (5).wav": ("sadness", "5", "", "el", None),
         "fear/f20 (3).wav": ("fear", "3", "", "el", None)},
    ),
    "jl_corpus": (
        ["JL(wav+txt)/female1_angry_1a_1.wav", "JL(wav+txt)/male2_apologetic_10b_2.wav", "JL(wav+txt)/female2_excited_3a_1.wav"],
        {"JL(wav+txt)/female1_angry_1a_1.txt": "transcript"},
        {"JL(wav+txt)/female1_angry_1a_1.wav": ("angry", "female1", "female", "en", None),
         "JL(wav+txt)/male2_apologetic_10b_2.wav": ("apologetic", "male2", "male", "en", None),
         "JL(wav+txt)/female2_excited_3a_1.wav": ("excited", "female2", "female", "en", None)},
    ),
    "subesco": (
        ["M_01_MONI_S_1_ANGRY_1.wav", "F_10_TITHI_S_10_SURPRISE_5.wav"],
        {},
        {"M_01_MONI_S_1_ANGRY_1.wav": ("angry", "M_01", "male", "bn", None),
         "F_10_TITHI_S_10_SURPRISE_5.wav": ("surprise", "F_10", "female", "bn", None)},
    ),
    "shemo": (
        ["female/F01A01.wav", "male/M12W03.wav", "male/M02N11.wav"],
        {},
        {"female/F01A01.wav": ("anger", "F01", "female", "fa", None),
         "male/M12W03.wav": ("surprise", "M12", "male", "fa", None),
         "male/M02N11.wav": ("neutral", "M02", "male", "fa", None)},
    ),
    "mesd": (
        ["Anger_C_A_abajo.wav", "Happiness_F_B_casa.wav", "Sadness_M_A_dolor.wav"],
        {},
        {"Anger_C_A_abajo.wav": ("anger", "", "", "es", None),
         "Happiness_F_B_casa.wav": ("happiness", "", "female", "es", None),
         "Sadness_M_A_dolor.wav": ("sadness", "", "male", "es", None)},
    ),
    "esd": (
        ["0011/Angry/train/0011_000351.wav", "0001/Neutral/evaluation/0001_000001.wav", "0001/Neutral/test/0001_000021.wav",
         "0015/Sad/0015_001071.wav", "0015/Sad/0015_001101.wav", "0015/Surprise/0015_001420.wav"],
        {"0011/0011.txt": "0011_000351\ttext\tAngry\n"},
        {"0011/Angry/train/0011_000351.wav": ("angry", "0011", "male", "en", "train"),
         "0001/Neutral/evaluation/0001_000001.wav": ("neutral", "0001", "female", "zh", "validation"),
         "0001/Neutral/test/0001_000021.wav": ("neutral", "0001", "female", "zh", "test"),
         "0015/Sad/0015_001071.wav": ("sad", "0015", "female", "en", "test"),  # flattened: 21st of its block
         "0015/Sad/0015_001101.wav": ("sad", "0015", "female", "en", "train"),
         "0015/Surprise/0015_001420.wav": ("surprise", "0015", "female", "en", "validation")},
    ),
    "enterface": (
        ["subject 1/anger/sentence 1/s1_an_1.wav", "subject 11/fear/sentence 2/s12_fe_2.wav",
         "subject 6/happiness/s6_ha_3.avi", "subject 6/happiness/s6_ha_3.wav", "subject 2/surprise/sentence 5/s2_su_5.avi"],
        {},
        {"subject 1/anger/sentence 1/s1_an_1.wav": ("anger", "s1", "", "en", None),
         "subject 11/fear/sentence 2/s12_fe_2.wav": ("fear", "s11", "", "en", None),  # folder beats the wrong file prefix
         "subject 6/happiness/s6_ha_3.wav": ("happiness", "s6", "", "en", None),  # extracted audio replaces the video
         "subject 2/surprise/sentence 5/s2_su_5.avi": ("surprise", "s2", "", "en", None)},
    ),
    "iemocap": (
        ["Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav", "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_M001.wav",
         "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F002.wav", "Session1/dialog/wav/Ses01F_impro01.wav"],
        {"Session1/dialog/EmoEvaluation/Ses01F_impro01.txt": IEMOCAP_EVALUATION},
        {"Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav": ("neu", "Ses01F", "female", "en", None),
         "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_M001.wav": ("xxx", "Ses01M", "male", "en", None),
         "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F002.wav": ("fru", "Ses01F", "female", "en", None)},
    ),
    "meld": (
        ["train_splits/dia0_utt0.wav", "train_splits/dia0_utt1.mp4", "dev_splits_complete/dia1_utt0.wav",
         "output_repeated_splits_test/dia2_utt0.wav"],
        {"train_sent_emo.csv": MELD_HEADER + '1,"Oh, hi",Chandler,neutral,neutral,0,0,8,21,0,1\n2,Wow,Monica,joy,positive,0,1,8,21,1,2\n',
         "dev_sent_emo.csv": MELD_HEADER + "1,No,Ross,anger,negative,1,0,1,1,0,1\n",
         "test_sent_emo.csv": MELD_HEADER + "1,Yes,Rachel,surprise,positive,2,0,1,1,0,1\n"},
        {"train_splits/dia0_utt0.wav": ("neutral", "Chandler", "", "en", "train"),
         "train_splits/dia0_utt1.mp4": ("joy", "Monica", "", "en", "train"),
         "dev_splits_complete/dia1_utt0.wav": ("anger", "Ross", "", "en", "validation"),
         "output_repeated_splits_test/dia2_utt0.wav": ("surprise", "Rachel", "", "en", "test")},
    ),
    "asvp_esd": (
        ["Audio/actor_01/03-01-05-02-01-02-01-03-01-16.wav", "Audio/actor_02/03-02-11-01-02-02-02-03-04-10.wav",
         "Audio/actor_02/03-02-13-01-01-01-02.wav"],
        {},
        {"Audio/actor_01/03-01-05-02-01-02-01-03-01-16.wav": ("angry", "", "", "en", None),
         "Audio/actor_02/03-02-11-01-02-02-02-03-04-10.wav": ("pain", "", "", "", None),
         "Audio/actor_02/03-02-13-01-01-01-02.wav": ("others", "", "", "", None)},
    ),
    "vivae": (
        ["full_set/S01_achievement_low_01.wav", "full_set/S05_pain_peak_07.wav", "core_set/S01_achievement_low_01.wav"],
        {},
        {"full_set/S01_achievement_low_01.wav": ("achievement", "S01", "", "", None),
         "full_set/S05_pain_peak_07.wav": ("pain", "S05", "", "", None)},
    ),
    "mlend": (
        ["MLEndSND_Public/00001.wav", "MLEndSND_Public/00002.wav", "MLEndSND_Public/00417.wav"],
        {"MLEndSND_Audio_Attributes.csv": "Public filename,Numeral,Intonation,Speaker\n1,1,excited,12\n00002,2,Question,7\n"},
        {"MLEndSND_Public/00001.wav": ("excited", "12", "", "en", None),
         "MLEndSND_Public/00002.wav": ("question", "7", "", "en", None)},
    ),
    "syntact": (
        ["synthesized_audio/de6_sad_p000012_-1.000.wav", "synthesized_audio/de1_angry_p000003_-1.000.wav",
         "demo_wavs/de7_happy_p000001.wav", "synthesized_audio/de2_p000004.wav"],
        {"db.files.csv": "file,speaker\n"},
        {"synthesized_audio/de6_sad_p000012_-1.000.wav": ("sad", "de6", "", "de", None),
         "synthesized_audio/de1_angry_p000003_-1.000.wav": ("angry", "de1", "", "de", None),
         "demo_wavs/de7_happy_p000001.wav": ("happy", "de7", "", "de", None)},
    ),
}  # fmt: skip


def build_tree(root: Path, corpus: str) -> Path:
    files, texts, _ = CASES[corpus]
    for name in files:
        write_wav(root / name) if name.endswith(".wav") else touch(root / name)
    for name, text in texts.items():
        touch(root / name, text)
    return root


def test_every_adapter_has_a_case_and_a_label_section():
    assert set(CASES) | {"emodb", "urdu"} == set(CORPORA)
    assert set(CORPORA) | {MANIFEST_SECTION} == set(load_label_mapping().sections)


@pytest.mark.parametrize("corpus", sorted(CASES))
def test_adapter_reads_documented_layout(tmp_path, corpus):
    root = build_tree(tmp_path / corpus, corpus)
    scan = scan_corpus(corpus, root)
    expected = CASES[corpus][2]
    got = {str(Path(r.path).relative_to(root)): (r.original_label, r.speaker, r.gender, r.language, r.split) for r in scan.records}
    assert got == expected
    assert [r.path for r in scan.records] == sorted(r.path for r in scan.records)
    mapping = load_label_mapping()
    for record in scan.records:  # every label the adapter emits has an entry (None = explicitly unlabeled)
        mapping.lookup(corpus, record.original_label)


def test_iemocap_turn_without_label_is_skipped_with_reason(tmp_path):
    root = build_tree(tmp_path / "iemocap", "iemocap")
    orphan = write_wav(root / "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_M003.wav")
    scan = scan_corpus("iemocap", root)
    assert [(s.path, "no label" in s.reason) for s in scan.skipped] == [(str(orphan), True)]


def test_badly_named_files_are_reported_not_guessed(tmp_path):
    root = tmp_path / "emodb"
    good = write_wav(root / "wav/03a01Fa.wav")
    bad = write_wav(root / "wav/notes.wav")
    touch(root / "erkennung.txt", "not audio")
    scan = scan_corpus("emodb", root)
    assert [r.path for r in scan.records] == [str(good)]
    assert len(scan.skipped) == 1 and scan.skipped[0].path == str(bad) and "naming" in scan.skipped[0].reason
    path, reason = scan.skipped[0]  # unpacks as (path, reason)
    assert path == str(bad)


def test_mlend_reports_unlisted_files_and_rows_without_a_file(tmp_path):
    root = build_tree(tmp_path / "mlend", "mlend")
    table = root / "MLEndSND_Audio_Attributes.csv"
    table.write_text(table.read_text() + "9,9,bored,3\n00417,417,,3\n")
    scan = scan_corpus("mlend", root)
    assert [Path(r.path).name for r in scan.records] == ["00001.wav", "00002.wav"]
    assert sorted(scan.skipped) == [
        (f"{table}:4", f"no audio file named '9' under {root}"),
        (str(root / "MLEndSND_Public/00417.wav"), "no Intonation value in MLEndSND_Audio_Attributes.csv:5"),
    ]
    table.write_text(table.read_text().replace("00417,417,,3\n", ""))
    assert (str(root / "MLEndSND_Public/00417.wav"), "not listed in MLEndSND_Audio_Attributes.csv") in scan_corpus("mlend", root).skipped
    # the benchmark subset of the GitHub repository: another file name and a filename column with the extension
    bench = tmp_path / "bench"
    write_wav(bench / "MLEndSND_audiofiles/0003.wav")
    touch(bench / "MLEndSND_audio_attributes_benchmark.csv", "filename,Numeral,Intonation,Speaker\n0003.wav,3,neutral,40\n")
    assert [(r.original_label, r.speaker) for r in scan_corpus("mlend", bench).records] == [("neutral", "40")]
    (bench / "MLEndSND_audio_attributes_benchmark.csv").unlink()
    assert "no MLEnd attributes file" in scan_corpus("mlend", bench).skipped[0].reason


def test_missing_root_and_unknown_corpus(tmp_path):
    with pytest.raises(NotADirectoryError):
        scan_corpus("emodb", tmp_path / "nope")
    with pytest.raises(KeyError, match="unknown corpus"):
        scan_corpus("emodbx", tmp_path)


def test_esd_split_blocks():
    assert [esd_split(n) for n in (1, 20, 21, 50, 51, 350, 351, 370, 371, 401, 1750)] == [
        "validation", "validation", "test", "test", "train", "train", "validation", "validation", "test", "train", "train",
    ]  # fmt: skip


# --- the paper's corpus roles ------------------------------------------------------------------------
def test_every_adapter_has_the_role_the_paper_gives_it():
    roles = load_corpus_roles()
    assert set(roles.corpora) == set(CORPORA) | {"aesi"}  # AESI: no public layout, read from a manifest
    assert roles.unseen_test_corpora == ("aesi", "asvp_esd", "jl_corpus", "mlend", "syntact", "vivae")
    assert len(roles.emoset_plus_plus) == len(set(roles.emoset_plus_plus)) == 37
    emoset = {key for key, role in roles.corpora.items() if role.role == EMOSET}
    assert {role.paper_name for key, role in roles.corpora.items() if key in emoset} <= set(roles.emoset_plus_plus)
    assert {name for name, *_ in emoset_corpora.ADAPTERS} == emoset  # the modules follow the roles
    assert {name for name, *_ in other_corpora.ADAPTERS} == set(CORPORA) - emoset
    assert {key for key, role in roles.corpora.items() if role.role == "extra"} == {"cafe", "aesdd"}


def test_corpus_names_are_matched_to_their_role_however_they_are_given():
    given = ["emodb", "manifest:AESI", "JL-Corpus", "manifest:jl", "asvp_esd", "manifest:mlendsnd", "syntact", "Vivae"]
    assert unseen_corpora(given) == given[1:]
    assert corpus_role("manifest:casia").role == EMOSET  # an EmoSet++ corpus without an adapter
    assert corpus_role("SUBESCO").key == "subesco" and corpus_role("subesco").paper_name == "SUBSECO"
    assert corpus_role("manifest:my_corpus") is None and corpus_role("cafe").role == "extra"
    assert corpus_role("mlend").role == UNSEEN


# --- label mapping -----------------------------------------------------------------------------------
INVARIANTS = {
    ("low", "neutral"): {"neutral", "neutro", "neutre", "neu"},
    ("low", "positive"): {"calm"},
    ("low", "negative"): {"boredom", "sadness", "sad", "tristezza", "tristesse", "disgust", "disgusto", "dégoût", "dis"},
    ("high", "negative"): {"anger", "angry", "rabbia", "colère", "ang", "fear", "fearful", "paura", "peur", "fea"},
    ("high", "positive"): {"happiness", "happy", "joy", "gioia", "joie", "hap", "excitement", "excited", "exc", "pleasant_surprise"},
    ("high", "neutral"): {"surprise", "surprised", "sorpresa", "sur"},
}


def test_canonical_emotions_follow_the_circumplex():
    emotions = load_label_mapping().emotions
    for pair, names in INVARIANTS.items():
        for name in names & set(emotions):
            assert emotions[name] == pair, name
    for name in ("neutral", "calm", "boredom", "sadness", "disgust", "anger", "fear", "happiness", "joy", "excitement", "surprise"):
        assert name in emotions
    assert emotions["pleasant surprise"] == ("high", "positive")


@pytest.mark.parametrize("section", sorted(CORPORA) + [MANIFEST_SECTION])
def test_every_corpus_section_follows_the_invariants(section):
    mapping = load_label_mapping()
    checked = 0
    for pair, names in INVARIANTS.items():
        for name in names:
            try:
                got = mapping.lookup(section, name)
            except KeyError:
                continue
            assert got == pair, (section, name, got)
            checked += 1
    assert checked > 0
    for label, pair in mapping.sections[section].items():
        assert pair is None or emotion_class(*pair) in range(6), (section, label)


def test_unlabeled_labels_are_explicit():
    mapping = load_label_mapping()
    assert mapping.class_index("iemocap", "xxx") is None and mapping.class_index("iemocap", "oth") is None
    assert mapping.class_index("iemocap", "neu") == emotion_class("low", "neutral")
    assert mapping.class_index("manifest", "high arousal, positive valence") == emotion_class("high", "positive")


def test_unknown_labels_error_lists_every_label_and_file():
    mapping = load_label_mapping()
    items = [("emodb", "anger", "a.wav"), ("emodb", "grumpy", "b.wav"), ("ravdess", "grumpy", "c.wav"),
             ("emodb", "grumpy", "d.wav"), ("ravdess", "meh", "e.wav")]  # fmt: skip
    with pytest.raises(UnknownLabelError) as caught:
        mapping.map_labels(items)
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.unknown == {("emodb", "grumpy"): ["b.wav", "d.wav"], ("ravdess", "grumpy"): ["c.wav"], ("ravdess", "meh"): ["e.wav"]}
    for text in ("grumpy", "meh", "b.wav", "c.wav", "d.wav", "e.wav"):
        assert text in str(error)
    assert "a.wav" not in str(error)


def test_unknown_labels_in_a_manifest_stop_prepare_before_decoding(tmp_path):
    rows = ["path,label", "a.wav,angry", "b.wav,grumpy", "c.wav,meh", "d.wav,grumpy", "e.wav,grumpy"]
    manifest = touch(tmp_path / "m.csv", "\n".join(rows) + "\n")
    with pytest.raises(UnknownLabelError) as caught:
        plan_corpora({"manifest:mine": manifest})
    assert sorted(caught.value.unknown) == [("manifest", "grumpy"), ("manifest", "meh")]
    assert sorted(Path(p).name for p in caught.value.files) == ["b.wav", "c.wav", "d.wav", "e.wav"]


# --- manifests ---------------------------------------------------------------------------------------
def test_manifest_csv(tmp_path):
    write_wav(tmp_path / "clips/a.wav")
    absolute = write_wav(tmp_path / "elsewhere/b.wav")
    manifest = touch(
        tmp_path / "data/manifest.csv",
        "path,label,speaker,split,language,gender\n"
        "../clips/a.wav,happy,spk1,dev,EN,F\n"
        f"{absolute},Sad,,,,\n",
    )
    scan = read_manifest(manifest)
    got = {Path(r.path).name: (r.original_label, r.speaker, r.gender, r.language, r.split) for r in scan.records}
    assert got == {"a.wav": ("happy", "spk1", "female", "en", "validation"), "b.wav": ("Sad", "", "", "", None)}
    assert all(Path(r.path).is_absolute() for r in scan.records)
    assert Path(next(r.path for r in scan.records if r.path.endswith("a.wav"))).resolve() == (tmp_path / "clips/a.wav").resolve()


def test_manifest_jsonl(tmp_path):
    write_wav(tmp_path / "a.wav")
    lines = [{"path": "a.wav", "label": "neutral", "speaker": "x", "split": "test"}, {"path": "b.wav", "label": "fear"}]
    manifest = touch(tmp_path / "m.jsonl", "\n".join(json.dumps(line) for line in lines) + "\n\n")
    records = read_manifest(manifest).records
    assert [(Path(r.path).name, r.original_label, r.speaker, r.split) for r in records] == [
        ("a.wav", "neutral", "x", "test"), ("b.wav", "fear", "", None),
    ]  # fmt: skip


def test_manifest_errors_list_every_bad_row(tmp_path):
    with pytest.raises(ManifestError, match="missing column"):
        read_manifest(touch(tmp_path / "a.csv", "file,label\nx.wav,happy\n"))
    bad = touch(tmp_path / "b.csv", "path,label,split\nx.wav,happy,holdout\ny.wav,,train\nz.wav,sad,train\n")
    with pytest.raises(ManifestError) as caught:
        read_manifest(bad)
    assert "b.csv:2" in str(caught.value) and "b.csv:3" in str(caught.value) and "b.csv:4" not in str(caught.value)
    with pytest.raises(FileNotFoundError):
        read_manifest(tmp_path / "missing.csv")


@pytest.mark.parametrize(
    "name, text",
    [
        ("csv path", "path,label,speaker\nclips/a.wav,happy,s1\n"),
        ("csv file_name (audiofolder)", "file_name,label,speaker\nclips/a.wav,happy,s1\n"),
        ("jsonl path", '{"path": "clips/a.wav", "label": "happy", "speaker": "s1"}\n'),
        ("jsonl file_name", '{"file_name": "clips/a.wav", "label": "happy", "speaker": "s1"}\n'),
        ("jsonl both, the same file", '{"file_name": "clips/a.wav", "path": "clips/a.wav", "label": "happy", "speaker": "s1"}\n'),
    ],
)
def test_manifest_names_files_by_path_or_file_name(tmp_path, name, text):
    write_wav(tmp_path / "clips/a.wav")
    manifest = touch(tmp_path / ("m.jsonl" if name.startswith("jsonl") else "m.csv"), text)
    (record,) = read_manifest(manifest).records
    assert (Path(record.path).resolve(), record.original_label, record.speaker) == ((tmp_path / "clips/a.wav").resolve(), "happy", "s1")


@pytest.mark.parametrize(
    "file, text, problem",
    [
        ("m.csv", "path,file_name,label\na.wav,a.wav,happy\n", "both 'path' and 'file_name'"),
        ("m.csv", "name,label\na.wav,happy\n", "missing column(s): needs 'label' and 'path' (or 'file_name')"),
        (
            "m.jsonl",
            '{"path": "a.wav", "file_name": "b.wav", "label": "happy"}\n',
            "m.jsonl:1: 'path' and 'file_name' name different files",
        ),
        ("m.jsonl", '{"file_name": "", "label": "happy"}\n', "m.jsonl:1: needs a non-empty"),
    ],
)
def test_manifest_path_column_errors(tmp_path, file, text, problem):
    with pytest.raises(ManifestError, match=re.escape(problem)):
        read_manifest(touch(tmp_path / file, text))


def test_a_file_listed_twice_with_two_labels_is_an_error_naming_both_rows(tmp_path):
    """However the path is spelled (relative, ./, absolute, through a symbolic link), one file is one clip: with two
    labels it would land in train under one and in test under the other."""
    a = write_wav(tmp_path / "clips/a.wav")
    write_wav(tmp_path / "clips/b.wav")
    (tmp_path / "link").symlink_to(tmp_path / "clips")
    rows = ["path,label,split", "clips/a.wav,happy,train", "clips/b.wav,sad,train", f"{a},angry,test", "./link/b.wav,Sad,test"]
    with pytest.raises(ManifestError) as caught:
        read_manifest(touch(tmp_path / "m.csv", "\n".join(rows) + "\n"))
    message = str(caught.value)
    assert f"m.csv:2 and {tmp_path / 'm.csv'}:4 list the same file {a.resolve()}" in message and "('happy', 'angry')" in message
    assert "m.csv:5" not in message  # b.wav again with the same label (another case) is no conflict


def test_a_file_listed_twice_with_one_label_is_kept_once_and_reported(tmp_path):
    write_wav(tmp_path / "clips/a.wav")
    write_wav(tmp_path / "clips/b.wav")
    rows = ["path,label,split", "clips/a.wav,happy,train", "clips/b.wav,sad,train", "./clips/a.wav,Happy,test"]
    manifest = touch(tmp_path / "m.csv", "\n".join(rows) + "\n")
    scan = read_manifest(manifest)
    assert [(Path(r.path).name, r.split) for r in scan.records] == [("a.wav", "train"), ("b.wav", "train")]
    (skipped,) = scan.skipped
    assert Path(skipped.path).resolve() == (tmp_path / "clips/a.wav").resolve()
    assert skipped.reason == f"listed again in {manifest}:4 (row 2 is kept)"
    plan = plan_corpora({"manifest:mine": manifest})
    assert len(plan.records) == 2 and plan.skipped == [skipped] and plan.skipped_corpus == {skipped.path: "mine"}
