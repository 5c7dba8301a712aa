"""Adapters of corpora outside EmoSet++: Table 2's unseen test corpora (ASVP-ESD, JL-Corpus, MLEnd, SyntAct,
VIVAE; AESI has no public layout and is read from a manifest) and this package's extra corpora (CaFE, AESDD).
Roles and their sources: corpus_roles.yaml. Conventions as in `exhubert_hf.data.emoset_corpora`.
"""

import csv
from pathlib import Path

from .audio import AUDIO_SUFFIXES
from .records import ClipRecord, SkippedFile, audio_files, by_name


# --- JL corpus ---------------------------------------------------------------------------------------
def _scan_jl_corpus(root):
    """JL-Corpus (James et al., Interspeech 2018, https://www.kaggle.com/tli725/jl-corpus).

    `female1_angry_1a_1.wav`: speaker (female1 female2 male1 male2), emotion (primary: angry sad neutral
    happy excited; secondary: anxious apologetic assertive concerned encouraging), sentence, take.
    """
    yield from by_name(
        root,
        r"((female|male)\d)_([a-z]+)_\w+",
        "JL-Corpus",
        "female1_angry_1a_1",
        lambda m, p: ClipRecord(str(p), m[3], m[1], m[2], "en"),
    )


# --- ASVP-ESD ----------------------------------------------------------------------------------------
ASVP_EMOTIONS = {
    "01": "boredom", "02": "neutral", "03": "happy", "04": "sad", "05": "angry", "06": "fearful", "07": "disgust",
    "08": "surprised", "09": "excited", "10": "pleasure", "11": "pain", "12": "disappointment", "13": "others",
}  # fmt: skip
ASVP_LANGUAGES = {"00": "zh", "01": "en", "02": "fr", "03": "ru"}


def _scan_asvp_esd(root):
    """ASVP-ESD (Landry et al., https://zenodo.org/record/7132783): `Audio/actor_NN/03-01-EE-...wav`.

    RAVDESS-style fields: modality, vocal channel (01 speech, 02 non-speech), emotion EE (01 boredom,
    02 neutral, 03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised, 09 excited, 10 pleasure,
    11 pain, 12 disappointment, 13 others), ..., language (9th field where present: 00 zh, 01 en, 02 fr,
    03 ru). Clips come from films and web videos, so speakers are not identified: random split. Codes as
    in https://github.com/felixbur/nkululeko/blob/main/data/asvp-esd/process_database.py.
    """

    def make(m, path):
        fields = path.stem.split("-")
        language = ASVP_LANGUAGES.get(fields[8], "") if len(fields) > 8 else ""
        return ClipRecord(str(path), ASVP_EMOTIONS.get(fields[2], fields[2]), "", "", language)

    yield from by_name(root, r"\d\d-\d\d-\d\d(?:-\d+)*(?:[_ ].*)?", "ASVP-ESD", "03-01-EE-...", make)


# --- VIVAE -------------------------------------------------------------------------------------------
def _scan_vivae(root):
    """VIVAE (Holz et al. 2022, https://zenodo.org/record/4066235): `full_set/S01_achievement_low_01.wav`.

    Speaker, emotion (achievement anger fear pain pleasure surprise), intensity (low moderate strong peak),
    item. Non-verbal vocalisations: no language. The core_set folder is a subset of full_set, so only
    full_set is read when it exists.
    """
    full_set = root / "full_set"
    files = audio_files(full_set) if full_set.is_dir() else None
    yield from by_name(
        root,
        r"(S\d+)_([a-z]+)_([a-z]+)_(\d+)",
        "VIVAE",
        "S01_achievement_low_01",
        lambda m, p: ClipRecord(str(p), m[2], m[1], "", ""),
        files,
    )


# --- CaFE --------------------------------------------------------------------------------------------
CAFE_EMOTIONS = {"C": "colère", "D": "dégoût", "J": "joie", "N": "neutre", "P": "peur", "S": "surprise", "T": "tristesse"}


def _scan_cafe(root):
    """CaFE (Gournay et al. 2018, https://zenodo.org/record/1478765): `Colère/Faible/01-C-1-01.wav`.

    Speaker (01-12; odd = male, even = female), emotion initial (French), intensity (1 faible,
    2 fort; absent for neutral: `01-N-01.wav`), sentence. Gender rule as used by
    https://github.com/Strong-AI-Lab/emotion/blob/master/datasets/CaFE/process.py.
    """
    yield from by_name(
        root,
        r"(\d\d)-([A-Z])-(?:(\d)-)?(\d\d)",
        "CaFE",
        "SS-E-I-NN, e.g. 01-C-1-01",
        lambda m, p: ClipRecord(str(p), CAFE_EMOTIONS.get(m[2], m[2]), m[1], "male" if int(m[1]) % 2 else "female", "fr"),
    )


# --- AESDD -------------------------------------------------------------------------------------------
AESDD_EMOTIONS = {"a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "s": "sadness"}


def _scan_aesdd(root):
    """AESDD (Vryzas et al. 2018, http://m3c.web.auth.gr/research/aesdd-speech-emotion-recognition/).

    Folders anger/disgust/fear/happiness/sadness; files `a01 (1).wav`: emotion initial, utterance number,
    speaker number in parentheses (README "ORGANISING THE DATABASE"). Greek; speaker genders are not
    given per number, so gender is left empty.
    """
    yield from by_name(
        root,
        r"([adfhs])(\d+)[a-z]?\s*\((\d+)\)",
        "AESDD",
        "xAA (B), e.g. a01 (1)",
        lambda m, p: ClipRecord(str(p), AESDD_EMOTIONS[m[1]], m[3], "", "el"),
    )


# --- MLEnd Spoken Numerals ---------------------------------------------------------------------------
MLEND_ATTRIBUTES = ("MLEndSND_Audio_Attributes.csv", "MLEndSND_audio_attributes_benchmark.csv")


def _mlend_key(name: str) -> str:
    """A clip's name as the attributes file gives it, without extension; numbers compare as numbers (1 = 00001)."""
    stem = Path(name).stem if name.lower().endswith(AUDIO_SUFFIXES) else name
    return str(int(stem)) if stem.isdigit() else stem


def _scan_mlend(root):
    """MLEnd Spoken Numerals (MLEnd datasets, Queen Mary University of London, https://github.com/MLEndDatasets/SpokenNumerals;
    also on Kaggle as mlend-spoken-numerals): English numerals read by many speakers in four intonations.

    The label is not in the file name: an attributes CSV lists every clip. The public distribution has
    `MLEndSND_Public/*.wav` and `MLEndSND_Audio_Attributes.csv` with columns `Public filename` (the file is
    `<Public filename>.wav`), `Numeral`, `Intonation`, `Speaker`, as read by
    https://github.com/felixbur/nkululeko/blob/main/data/mlendsnd/process_database.py and Strong-AI-Lab/emotion's
    datasets/MLEndSND/process.py; the benchmark subset of the GitHub repository has `MLEndSND_audiofiles/*.wav` and
    `MLEndSND_audio_attributes_benchmark.csv` with a `filename` column (with the extension), read by the MLEnd
    downloader. Label = `Intonation` (neutral, bored, excited, question: the values third-party code maps; not
    confirmed from the corpus's own documentation), speaker = `Speaker`, language English, no gender (the
    speakers' demographics file has none). A numeric name matches its file with or without zero padding. Files no
    row lists, rows without a file (reported as `CSV:LINE`) and rows without an intonation are skipped with the reason.
    """
    wanted = {name.lower() for name in MLEND_ATTRIBUTES}
    tables = sorted((p for p in root.rglob("*.csv") if p.name.lower() in wanted), key=lambda p: (len(p.parts), str(p)))
    files = {_mlend_key(path.name): path for path in audio_files(root)}
    if not tables:
        for path in files.values():
            yield SkippedFile(str(path), f"no MLEnd attributes file ({' or '.join(MLEND_ATTRIBUTES)}) under {root}")
        return
    listed = set()
    with open(tables[0], newline="", encoding="utf-8-sig", errors="replace") as handle:
        for line, row in enumerate(csv.DictReader(handle), 2):
            name = str(row.get("Public filename") or row.get("filename") or "").strip()
            path = files.get(_mlend_key(name)) if name else None
            intonation = str(row.get("Intonation") or "").strip().lower()
            if path is None:
                yield SkippedFile(f"{tables[0]}:{line}", f"no audio file named {name!r} under {root}")
                continue
            listed.add(_mlend_key(name))
            if not intonation:
                yield SkippedFile(str(path), f"no Intonation value in {tables[0].name}:{line}")
            else:
                yield ClipRecord(str(path), intonation, str(row.get("Speaker") or "").strip(), "", "en")
    for key, path in files.items():
        if key not in listed:
            yield SkippedFile(str(path), f"not listed in {tables[0].name}")


# --- SyntAct -----------------------------------------------------------------------------------------
def _scan_syntact(root):
    """SyntAct (Burkhardt et al., synthesized database of basic emotions, DCLRL workshop at LREC 2022;
    https://zenodo.org/record/6573016, syntact_cat.zip; generator https://github.com/felixbur/syntAct): German
    sentences synthesised with MARY TTS 4 and MBROLA voices, made emotional with emofilt.

    File names as the generator writes them (scripts/shared.py, make_wav): `{voice}_{emotion}_p{phrase:06d}_{grade:.3f}.wav`,
    e.g. `de6_sad_p000012_-1.000.wav`; the repository's demo files have no grade (`de7_happy_p000001.wav`), which is
    accepted too. Speaker = the MBROLA voice (de1 ... de7), label = the generator's emotion word (happy angry sad
    neutral; bored and scared in its audformat conversion). Not confirmed here: that syntact_cat.zip keeps the
    generator's file names (the archive was not inspected; a renamed copy goes in as a manifest), and the voices'
    genders, on which scripts/constant.py and scripts/make_audformat_db.py disagree, so gender is left empty. The
    archive's own tables split the voices into train (de1-de4) and test (de6, de7) with no validation part; the
    speaker-independent split of exhubert_hf.data.splits is used instead.
    """
    yield from by_name(
        root,
        r"(de\d+)_([a-z]+)_p(\d+)(?:_-?\d+(?:\.\d+)?)?",
        "SyntAct",
        "voice_emotion_pNNNNNN[_grade], e.g. de6_sad_p000012_-1.000",
        lambda m, p: ClipRecord(str(p), m[2], m[1], "", "de"),
    )


# (registry name, title, language, scan function) for exhubert_hf.data.corpora.CORPORA
ADAPTERS = (
    ("cafe", "Canadian French Emotional speech (CaFE)", "fr", _scan_cafe),
    ("aesdd", "Acted Emotional Speech Dynamic Database (AESDD)", "el", _scan_aesdd),
    ("jl_corpus", "JL-Corpus", "en", _scan_jl_corpus),
    ("asvp_esd", "ASVP-ESD", "", _scan_asvp_esd),
    ("vivae", "VIVAE", "", _scan_vivae),
    ("mlend", "MLEnd Spoken Numerals", "en", _scan_mlend),
    ("syntact", "SyntAct", "de", _scan_syntact),
)

__all__ = ["ADAPTERS", "MLEND_ATTRIBUTES"]
