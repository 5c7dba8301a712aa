"""Adapters of the corpora that are part of EmoSet++, the paper's stage-1 fine-tuning set (see corpus_roles.yaml).

Each reads one corpus as its authors distribute it (file names, folder names, shipped metadata) and yields
`ClipRecord`s or, for files that do not follow the corpus's convention, `SkippedFile`s with the reason. The
registry is `exhubert_hf.data.corpora.CORPORA`.
"""

import csv
import re
from pathlib import Path

from .audio import AUDIO_SUFFIXES
from .records import (
    ClipRecord,
    SkippedFile,
    ancestor,
    audio_files,
    by_name,
    normalise_gender,
    not_matching,
    unit_interval,
)

# --- EMO-DB ------------------------------------------------------------------------------------------
EMODB_EMOTIONS = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness", "T": "sadness", "N": "neutral"}
EMODB_MALE = {"03", "10", "11", "12", "15"}


def _scan_emodb(root):
    """Berlin EMO-DB (Burkhardt et al., Interspeech 2005): `wav/SSTTTEV.wav`, e.g. `03a01Fa.wav`.

    Speaker SS, text TTT, emotion letter E (German initials), version V. Source: the corpus's
    erklaerung.txt / http://emodb.bilderbar.info/docu/ ; also /work/shared/data/README.md.
    """
    yield from by_name(
        root,
        r"(\d\d)([a-z]\d\d)([A-Z])([a-z]?)",
        "EMO-DB",
        "SSTTTEV, e.g. 03a01Fa",
        lambda m, p: ClipRecord(
            str(p), EMODB_EMOTIONS.get(m[3], m[3]), m[1], "male" if m[1] in EMODB_MALE else "female", "de"
        ),
    )


# --- URDU --------------------------------------------------------------------------------------------
URDU_EMOTIONS = {"A": "angry", "H": "happy", "N": "neutral", "S": "sad"}


def _scan_urdu(root):
    """URDU (Latif et al. 2018, https://github.com/siddiquelatif/URDU-Dataset): `{Angry,Happy,Neutral,Sad}/SGX_FYY_EZZ.wav`.

    Speaker SGX (G = M/F gender), file number FYY, emotion letter E. The label comes from the emotion
    folder, falling back to the letter.
    """

    def make(m, path):
        folder = path.parent.name.lower()
        label = folder if folder in URDU_EMOTIONS.values() else URDU_EMOTIONS.get(m[3], m[3])
        return ClipRecord(str(path), label, m[1], normalise_gender(m[2]), "ur")

    yield from by_name(root, r"(S([MF])\d+)_F\d+_([A-Z])\d+", "URDU", "SGX_FYY_EZZ, e.g. SM1_F10_A010", make)


# --- RAVDESS -----------------------------------------------------------------------------------------
RAVDESS_EMOTIONS = {
    "01": "neutral", "02": "calm", "03": "happy", "04": "sad",
    "05": "angry", "06": "fearful", "07": "disgust", "08": "surprised",
}  # fmt: skip


def _scan_ravdess(root):
    """RAVDESS (Livingstone & Russo 2018, https://zenodo.org/record/1188976), speech audio only.

    `Actor_XX/MM-VV-EE-II-SS-RR-AA.wav`: modality MM (03 = audio-only), vocal channel VV (01 = speech,
    02 = song), emotion EE, intensity II, statement SS, repetition RR, actor AA (odd = male). Song and
    video files are not part of the speech corpus and are ignored.
    """
    regex = re.compile(r"(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)")
    for path in audio_files(root):
        m = regex.fullmatch(path.stem)
        if not m:
            yield not_matching(path, "RAVDESS", "MM-VV-EE-II-SS-RR-AA, e.g. 03-01-06-01-02-01-12")
        elif m[1] == "03" and m[2] == "01":
            actor = m[7]
            yield ClipRecord(str(path), RAVDESS_EMOTIONS.get(m[3], m[3]), actor, "male" if int(actor) % 2 else "female", "en")


# --- TESS --------------------------------------------------------------------------------------------
def _scan_tess(root):
    """Toronto Emotional Speech Set (Pichora-Fuller & Dupuis 2020, https://doi.org/10.5683/SP2/E8H2MF).

    Folders `OAF_angry/`, `YAF_pleasant_surprised/`, ...; files `OAF_back_angry.wav`: speaker (OAF = older,
    YAF = younger adult female), word, emotion (`ps` = pleasant surprise). Both speakers are female.
    """

    def make(m, path):
        emotion = m[2].lower()
        return ClipRecord(str(path), "pleasant_surprise" if emotion == "ps" else emotion, m[1].upper(), "female", "en")

    yield from by_name(root, r"([OoYy][Aa][Ff])_[^_]+_([A-Za-z]+)", "TESS", "OAF_word_emotion, e.g. OAF_back_angry", make)


# --- SAVEE -------------------------------------------------------------------------------------------
SAVEE_EMOTIONS = {"a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "n": "neutral", "sa": "sadness", "su": "surprise"}
SAVEE_SPEAKERS = ("DC", "JE", "JK", "KL")


def _scan_savee(root):
    """SAVEE (Haq & Jackson 2009, http://kahlan.eps.surrey.ac.uk/savee/): `AudioData/DC/a01.wav`.

    Speaker folder DC/JE/JK/KL (four male speakers), emotion prefix a d f h n sa su, sentence number
    (AudioData/Info.txt). The flattened `DC_a01.wav` naming of some mirrors is accepted too.
    """

    def make(m, path):
        speaker = m[1] or (path.parent.name if path.parent.name in SAVEE_SPEAKERS else None)
        if speaker is None:
            return None
        return ClipRecord(str(path), SAVEE_EMOTIONS.get(m[2], m[2]), speaker, "male", "en")

    yield from by_name(root, r"(?:(DC|JE|JK|KL)_)?([a-z]{1,2})(\d\d)", "SAVEE", "speaker folder DC/JE/JK/KL and e.g. a01", make)


# --- CREMA-D -----------------------------------------------------------------------------------------
CREMA_EMOTIONS = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}


def _crema_genders(root: Path) -> dict[str, str]:
    demographics = sorted(root.rglob("VideoDemographics.csv"), key=lambda p: len(p.parts))
    if not demographics:
        return {}
    with open(demographics[0], newline="", encoding="utf-8-sig", errors="replace") as handle:
        return {row.get("ActorID", "").strip(): normalise_gender(row.get("Sex")) for row in csv.DictReader(handle)}


def _scan_crema_d(root):
    """CREMA-D (Cao et al. 2014, https://github.com/CheyneyComputerScience/CREMA-D): `AudioWAV/1001_DFA_ANG_XX.wav`.

    Actor, sentence, emotion (ANG DIS FEA HAP NEU SAD), level. Gender from the shipped
    VideoDemographics.csv (ActorID, Sex) when present. Only AudioWAV is read when it exists, so the
    AudioMP3/AudioMP4 copies of the same clips are not counted twice.
    """
    genders = _crema_genders(root)
    wav_folder = root / "AudioWAV"
    files = audio_files(wav_folder) if wav_folder.is_dir() else None
    yield from by_name(
        root,
        r"(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})",
        "CREMA-D",
        "1001_DFA_ANG_XX",
        lambda m, p: ClipRecord(str(p), CREMA_EMOTIONS.get(m[3], m[3]), m[1], genders.get(m[1], ""), "en"),
        files,
    )


# --- EMOVO / DEMoS (Italian) -------------------------------------------------------------------------
ITALIAN_EMOTIONS = {
    "dis": "disgusto", "gio": "gioia", "neu": "neutro", "pau": "paura",
    "rab": "rabbia", "sor": "sorpresa", "tri": "tristezza", "col": "colpa",
}  # fmt: skip


def _scan_emovo(root):
    """EMOVO (Costantini et al., LREC 2014, http://voice.fub.it/activities/corpora/emovo/): `f1/dis-f1-b1.wav`.

    Emotion code (dis gio neu pau rab sor tri), speaker f1 f2 f3 m1 m2 m3, sentence code.
    """
    yield from by_name(
        root,
        r"([a-z]{3})-([fm]\d)-(\w+)",
        "EMOVO",
        "emo-speaker-sentence, e.g. dis-f1-b1",
        lambda m, p: ClipRecord(str(p), ITALIAN_EMOTIONS.get(m[1], m[1]), m[2], normalise_gender(m[2][0]), "it"),
    )


def _scan_demos(root):
    """DEMoS (Parada-Cabaleiro et al. 2020, https://zenodo.org/record/2544829): `DEMOS/PR_f_01_rab001.wav`.

    Legend shipped with the corpus: NP/PR (non-prototypical/prototypical) prefix, speaker gender f/m after
    the first '_', speaker number after the second, emotion code (col dis gio pau rab sor tri neu) after
    the last '_'. The neutral samples (NEU folder) follow the same pattern, with or without the prefix.
    """
    yield from by_name(
        root,
        r"(?:(?:NP|PR)_)?([fm])_(\d+)_([a-z]{3})\w*",
        "DEMoS",
        "PR_g_SS_emoNNN, e.g. PR_f_01_rab001",
        lambda m, p: ClipRecord(str(p), ITALIAN_EMOTIONS.get(m[3], m[3]), m[2], normalise_gender(m[1]), "it"),
    )


# --- SUBESCO -----------------------------------------------------------------------------------------
def _scan_subesco(root):
    """SUBESCO (Sultana et al. 2021, https://doi.org/10.5281/zenodo.4526477): `M_01_MONI_S_1_ANGRY_1.wav`.

    Gender M/F, speaker number, speaker name, sentence S_n, emotion, take. Bangla.
    """
    yield from by_name(
        root,
        r"([MF])_(\d+)_([A-Za-z]+)_S_(\d+)_([A-Za-z]+)_(\d+)",
        "SUBESCO",
        "M_01_MONI_S_1_ANGRY_1",
        lambda m, p: ClipRecord(str(p), m[5].lower(), f"{m[1]}_{m[2]}", normalise_gender(m[1]), "bn"),
    )


# --- ShEMO -------------------------------------------------------------------------------------------
SHEMO_EMOTIONS = {"A": "anger", "S": "sadness", "H": "happiness", "W": "surprise", "F": "fear", "N": "neutral"}


def _scan_shemo(root):
    """ShEMO (Mohamad Nezami et al. 2019, https://github.com/mansourehk/ShEMO): `female/F01A01.wav`.

    Gender F/M, speaker number, emotion letter (A S H W=surprise F N), utterance number. Persian.
    """
    yield from by_name(
        root,
        r"(([FM])\d\d)([A-Z])(\d+)",
        "ShEMO",
        "F01A01",
        lambda m, p: ClipRecord(str(p), SHEMO_EMOTIONS.get(m[3], m[3]), m[1], normalise_gender(m[2]), "fa"),
    )


# --- MESD --------------------------------------------------------------------------------------------
def _scan_mesd(root):
    """MESD (Duville et al. 2021, https://data.mendeley.com/datasets/cy34mh68j9): `Anger_C_A_abajo.wav`.

    Emotion, voice type (F female adult, M male adult, C child), word corpus (A/B), word. Speakers are not
    identified, so MESD gets a random split. Mexican Spanish.
    """
    yield from by_name(
        root,
        r"([A-Za-z]+)_([CFM])_([A-Za-z])_(.+)",
        "MESD",
        "Emotion_V_C_word, e.g. Anger_C_A_abajo",
        lambda m, p: ClipRecord(str(p), m[1].lower(), "", normalise_gender(m[2]), "es"),
    )


# --- ESD ---------------------------------------------------------------------------------------------
ESD_EMOTIONS = ("angry", "happy", "neutral", "sad", "surprise")
ESD_MALE = {4, 5, 6, 8, 10, 11, 12, 13, 14, 20}  # from the corpus ReadMe speaker list
ESD_SPLIT_FOLDERS = {"train": "train", "evaluation": "validation", "test": "test"}


def esd_split(utterance: int) -> str:
    """ESD's own split for an utterance number when the split folders are flattened away.

    Each speaker has 350 utterances per emotion, numbered in consecutive blocks of 350; within a block,
    utterances 1-20 are the evaluation set, 21-50 the test set and 51-350 the training set (e.g. speaker
    0011: evaluation 0011_000001, test 0011_000021, train 0011_000051; the split folders of the original
    archive hold exactly these).
    """
    position = (utterance - 1) % 350 + 1
    return "validation" if position <= 20 else "test" if position <= 50 else "train"


def _scan_esd(root):
    """ESD (Zhou et al., ICASSP 2021, https://github.com/HLTSingapore/Emotional-Speech-Data).

    `0011/Angry/train/0011_000351.wav`: speaker (0001-0010 Mandarin, 0011-0020 English), emotion folder
    (Angry Happy Neutral Sad Surprise), the corpus's own split folder (train / evaluation / test; 300 / 20 /
    30 utterances per speaker and emotion), speaker_utterance. Split folders missing (flattened mirrors):
    the split follows from the utterance number, see `esd_split`. Genders from the ReadMe.
    """

    def make(m, path):
        speaker, utterance = m[1], int(m[2])
        emotion = ancestor(path, root, ESD_EMOTIONS)
        if emotion is None:
            return None
        split = ESD_SPLIT_FOLDERS.get(path.parent.name.lower()) or esd_split(utterance)
        number = int(speaker)
        return ClipRecord(str(path), emotion, speaker, "male" if number in ESD_MALE else "female", "zh" if number <= 10 else "en", split)

    yield from by_name(root, r"(\d{4})_(\d{6})", "ESD", "SSSS/Emotion/[split/]SSSS_NNNNNN", make)


# --- eNTERFACE'05 ------------------------------------------------------------------------------------
ENTERFACE_EMOTIONS = {"an": "anger", "di": "disgust", "fe": "fear", "ha": "happiness", "sa": "sadness", "su": "surprise"}


def _scan_enterface(root):
    """eNTERFACE'05 (Martin et al. 2006, http://www.enterface.net/enterface05/): `subject 1/anger/sentence 1/s1_an_1.avi`.

    Label from the emotion folder (else the file's code an di fe ha sa su), speaker from the `subject N`
    folder (the file-name prefix is wrong for a few subjects). The corpus ships .avi video; a .wav with
    the same name next to it (audio extracted beforehand) is used instead; an .avi without one is read
    through librosa/audioread, which needs FFmpeg, and is reported as skipped if that fails.
    """
    media = [
        p for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in AUDIO_SUFFIXES + (".avi",)
    ]  # fmt: skip
    extracted = {(p.parent, p.stem) for p in media if p.suffix.lower() != ".avi"}
    folder_emotions = set(ENTERFACE_EMOTIONS.values())
    file_code = re.compile(r"(s_?\d+)_([a-z]{2})_?\w*")
    for path in media:
        if path.suffix.lower() == ".avi" and (path.parent, path.stem) in extracted:
            continue
        code = file_code.fullmatch(path.stem)
        label = ancestor(path, root, folder_emotions) or (ENTERFACE_EMOTIONS.get(code[2]) if code else None)
        subjects = [re.fullmatch(r"subject\s*(\d+)", p.name, re.I) for p in path.parents if p != root and root in p.parents]
        subject = next((s for s in subjects if s), None)
        speaker = f"s{int(subject[1])}" if subject else (code[1].replace("_", "") if code else "")
        if label is None or not speaker:
            yield not_matching(path, "eNTERFACE'05", "subject N/emotion/sentence N/sN_em_N")
        else:
            yield ClipRecord(str(path), label, speaker, "", "en")


# --- IEMOCAP -----------------------------------------------------------------------------------------
IEMOCAP_LINE = re.compile(r"\[\s*[\d.]+\s*-\s*[\d.]+\s*\]\t(\S+)\t(\S+)\t\[([^\]]*)\]")
IEMOCAP_SCALE = (1.0, 5.0)  # the self-assessment-manikin ratings, averaged over the evaluators (Busso et al. 2008)


def _scan_iemocap(root):
    """IEMOCAP (Busso et al. 2008, https://sail.usc.edu/iemocap/): `Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav`.

    Labels from `Session*/dialog/EmoEvaluation/*.txt`, lines `[start - end]<TAB>TURN_NAME<TAB>EMOTION<TAB>[V, A, D]`
    (neu hap exc sad ang fru sur fea dis oth xxx; oth and xxx are unlabeled in label_mapping.yaml), with the turn's
    valence, activation (arousal) and dominance on the 1-5 scale, mapped to [0, 1]; a turn whose ratings cannot be
    read or lie outside the scale is skipped with the reason. Speaker = session + the gender letter of the turn (Ses01M
    is the male actor of session 1).
    """
    labels, ratings = {}, {}
    for text_file in sorted(root.glob("Session*/dialog/EmoEvaluation/*.txt")):
        with open(text_file, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                match = IEMOCAP_LINE.match(line.strip("\r\n"))
                if match:
                    labels[match[1]] = match[2]
                    ratings[match[1]] = _iemocap_ratings(match[3])
    wav_files = [p for folder in sorted(root.glob("Session*/sentences/wav")) for p in audio_files(folder)]
    for path in wav_files:
        match = re.fullmatch(r"(Ses\d\d)[FM]_\w+_([FM])\w*", path.stem)
        if not match:
            yield not_matching(path, "IEMOCAP", "Ses01F_impro01_F000")
        elif path.stem not in labels:
            yield SkippedFile(str(path), "no label for this turn in the EmoEvaluation files")
        elif isinstance(ratings[path.stem], str):
            yield SkippedFile(str(path), ratings[path.stem])
        else:
            speaker, gender = match[1] + match[2], normalise_gender(match[2])
            yield ClipRecord(str(path), labels[path.stem], speaker, gender, "en", **ratings[path.stem])


def _iemocap_ratings(text: str) -> dict | str:
    """{"valence", "arousal", "dominance"} in [0, 1] from an EmoEvaluation line's `V, A, D`, or why it is unusable."""
    try:
        values = [float(value) for value in text.split(",")]
        if len(values) != 3:
            raise ValueError(f"{len(values)} values")
        names = ("valence", "arousal", "dominance")
        return {name: unit_interval(value, IEMOCAP_SCALE) for name, value in zip(names, values)}
    except ValueError as error:
        return f"its [valence, activation, dominance] rating [{text}] is not three values on the 1-5 scale ({error})"


# --- MELD --------------------------------------------------------------------------------------------
MELD_SPLITS = {
    "train": ("train", ("train_splits",)),
    "dev": ("validation", ("dev_splits_complete", "dev_splits")),
    "test": ("test", ("output_repeated_splits_test", "test_splits")),
}


def _scan_meld(root):
    """MELD (Poria et al., ACL 2019, https://affective-meld.github.io/): `{train,dev,test}_sent_emo.csv` and clips.

    CSV columns Dialogue_ID, Utterance_ID, Emotion, Speaker; clips `dia{D}_utt{U}.mp4` in train_splits/,
    dev_splits_complete/, output_repeated_splits_test/. A .wav with the same name is preferred (MP4 needs
    FFmpeg); a row without a clip is reported as skipped. MELD's own train/dev/test split is kept.
    """
    folders = {p.name: p for p in sorted(root.rglob("*"), key=lambda p: len(p.parts)) if p.is_dir()}
    for name, (split, folder_names) in MELD_SPLITS.items():
        tables = sorted(root.rglob(f"{name}_sent_emo.csv"), key=lambda p: len(p.parts))
        if not tables:
            continue
        folder = next((folders[n] for n in folder_names if n in folders), tables[0].parent / folder_names[0])
        with open(tables[0], newline="", encoding="utf-8", errors="replace") as handle:
            for row in csv.DictReader(handle):
                stem = f"dia{row['Dialogue_ID'].strip()}_utt{row['Utterance_ID'].strip()}"
                candidates = [folder / f"{stem}{suffix}" for suffix in (".wav", ".flac", ".mp4")]
                path = next((c for c in candidates if c.is_file()), candidates[-1])
                yield ClipRecord(str(path), row["Emotion"].strip().lower(), row["Speaker"].strip(), "", "en", split)


# (registry name, title, language, scan function) for exhubert_hf.data.corpora.CORPORA
ADAPTERS = (
    ("emodb", "Berlin Database of Emotional Speech (EMO-DB)", "de", _scan_emodb),
    ("urdu", "URDU", "ur", _scan_urdu),
    ("ravdess", "RAVDESS (speech)", "en", _scan_ravdess),
    ("tess", "Toronto Emotional Speech Set (TESS)", "en", _scan_tess),
    ("savee", "Surrey Audio-Visual Expressed Emotion (SAVEE)", "en", _scan_savee),
    ("crema_d", "CREMA-D", "en", _scan_crema_d),
    ("emovo", "EMOVO", "it", _scan_emovo),
    ("demos", "DEMoS", "it", _scan_demos),
    ("subesco", "SUST Bangla Emotional Speech Corpus (SUBESCO)", "bn", _scan_subesco),
    ("shemo", "Sharif Emotional Speech Database (ShEMO)", "fa", _scan_shemo),
    ("mesd", "Mexican Emotional Speech Database (MESD)", "es", _scan_mesd),
    ("esd", "Emotional Speech Dataset (ESD)", "en", _scan_esd),
    ("enterface", "eNTERFACE'05", "en", _scan_enterface),
    ("iemocap", "IEMOCAP", "en", _scan_iemocap),
    ("meld", "MELD", "en", _scan_meld),
)

__all__ = ["ADAPTERS", "esd_split"]
