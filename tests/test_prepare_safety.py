"""`exhubert prepare` never destroys input or a concurrent run's work, cleans up after killed runs, bounds what one
file can cost, and says in one line why it did nothing (exit 2) or what it skipped (exit 1)."""

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import DATA, run_cli

from exhubert_hf.data.cache import read_info
from exhubert_hf.data.prepare import prepare_corpora
from exhubert_hf.data.schema import SPLITS

EMODB = DATA / "emodb" / "wav"
pytestmark = pytest.mark.skipif(not EMODB.is_dir(), reason=f"EMO-DB not found under {DATA}")


@pytest.fixture
def corpus(tmp_path):
    """An EMO-DB-layout corpus of 12 real clips (4 speakers) COPIED into tmp_path: tests may try to destroy it."""
    root = tmp_path / "emodb"
    (root / "wav").mkdir(parents=True)
    for speaker in ("03", "08", "09", "10"):
        for source in sorted(EMODB.glob(f"{speaker}a0*.wav"))[:3]:
            shutil.copy(source, root / "wav" / source.name)
    return root


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def cache_entries(cache: Path) -> list[str]:
    return sorted(path.name for path in cache.iterdir() if not path.name.startswith(".")) if cache.is_dir() else []


def one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("exhubert prepare: error: ") and "Traceback" not in stderr, stderr
    return lines[0]


# --- outputs that would destroy input ----------------------------------------------------------------
@pytest.mark.parametrize(
    "output, problem",
    [
        ("{root}", "is the root of the corpus emodb"),
        ("{root}/wav", "lies inside the root of the corpus emodb"),
        ("{tmp}", "contains the root of the corpus emodb"),
        ("{clips}", "contains the manifest of mine"),
        ("{tmp}/listed", "contains {tmp}/listed/a.wav, a file of the corpora"),
        ("{tmp}/cache", "is the prepare cache"),
        ("{tmp}/cache/inside", "lies inside the prepare cache"),
        (".", "is the current folder or a folder above it"),
        ("..", "is the current folder or a folder above it"),
    ],
)
def test_an_output_that_would_destroy_input_is_refused_before_decoding(
    corpus, tmp_path, tmp_path_factory, monkeypatch, capsys, output, problem
):
    (tmp_path / "clips").mkdir()
    (tmp_path / "listed").mkdir()
    shutil.copy(next(EMODB.glob("*.wav")), tmp_path / "listed" / "a.wav")
    (tmp_path / "clips" / "m.csv").write_text("path,label,speaker\n../listed/a.wav,happy,s1\n")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work" if output in (".", "..") else tmp_path_factory.mktemp("elsewhere"))
    before = files_under(tmp_path)
    fill = {"root": corpus, "tmp": tmp_path, "clips": tmp_path / "clips"}
    argv = [f"emodb={corpus}", f"manifest:mine={tmp_path / 'clips' / 'm.csv'}", "--cache-dir", tmp_path / "cache"]
    status = run_cli(monkeypatch, "prepare", *argv, "--output", output.format(**fill), "--overwrite", "--no-progress")
    assert status == 2
    assert problem.format(**fill) in one_line_error(capsys.readouterr().err)
    assert files_under(tmp_path) == before  # nothing deleted, nothing decoded into the cache


# --- leftovers of killed runs and runs in other containers -------------------------------------------
def held_lock(path: Path) -> subprocess.Popen:
    """Another process holding the lock file `path` (as a live prepare in another container would)."""
    code = (
        "import sys; from filelock import FileLock; lock = FileLock(sys.argv[1]); lock.acquire(); "
        "print('held', flush=True); sys.stdin.read()"
    )
    command = [sys.executable, "-c", code, str(path)]
    holder = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def leftover(folder: Path) -> Path:
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "train.arrow").write_bytes(b"\0" * 1000)
    Path(f"{folder}.lock").touch()
    return folder


def test_killed_runs_leave_nothing_for_long_and_live_runs_are_never_touched(corpus, tmp_path, monkeypatch):
    cache, output = tmp_path / "cache", tmp_path / "out"
    cache.mkdir()
    key = "0123456789abcdef0123456789abcdef"
    # killed runs (the pid is one of this process's, alive here: judging by pid would keep them)
    dead = [
        leftover(tmp_path / f".tmp-out-{os.getpid()}-0123abcd"),  # `--output out --overwrite` killed while writing
        leftover(tmp_path / f".tmp-old-out-{os.getpid()}-89abcdef"),  # ... or while deleting the output it replaced
        leftover(cache / f".tmp-{key}-{os.getpid()}-00000000"),  # a cache entry being built
    ]
    # live runs in another PID namespace (the pid means nothing here: judging by pid would delete them)
    live = [leftover(tmp_path / ".tmp-out-999999999-fedcba98"), leftover(cache / f".tmp-{key}-999999999-11111111")]
    unrelated = [leftover(tmp_path / ".tmp-out2-1-22222222"), tmp_path / ".tmp-out-no-lock"]  # another target; not ours
    unrelated[1].mkdir()
    holders = [held_lock(Path(f"{folder}.lock")) for folder in live]
    try:
        argv = [f"emodb={corpus}", "--cache-dir", cache, "--output", output, "--no-progress"]
        assert run_cli(monkeypatch, "prepare", *argv) == 0
        for folder in dead:
            assert not folder.exists() and not Path(f"{folder}.lock").exists(), folder
        for folder in live + unrelated:
            assert folder.is_dir(), folder
    finally:
        for holder in holders:
            holder.stdin.close()
            holder.wait(timeout=30)
    assert (output / "dataset_dict.json").is_file()


def test_two_rebuilds_of_one_entry_at_the_same_moment(corpus, tmp_path, monkeypatch):
    """Both publish at once (a barrier before publishing): the entry lock serialises them, both results load."""
    import exhubert_hf.data.prepare as prepare_module

    barrier = threading.Barrier(2, timeout=120)
    real_publish = prepare_module.publish_entry

    def publish_together(*args, **kwargs):
        barrier.wait()
        return real_publish(*args, **kwargs)

    monkeypatch.setattr(prepare_module, "publish_entry", publish_together)
    for round_number in range(2):  # the entry is new in the first round, replaced in the second
        results, errors = [], []

        def rebuild():
            try:
                result = prepare_corpora({"emodb": corpus}, cache_dir=tmp_path / "cache", rebuild=True, show_progress=False)
                results.append(result)
            except Exception as error:  # noqa: BLE001 - reported by the assertion below
                errors.append(error)

        threads = [threading.Thread(target=rebuild) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, (round_number, errors)
        for result in results:  # every row of both results readable, the same data
            assert [len(a) for split in SPLITS for a in result.dataset[split]["audio"]] == [
                len(a) for split in SPLITS for a in results[0].dataset[split]["audio"]
            ]
        assert cache_entries(tmp_path / "cache") == [results[0].entries["emodb"].name]
        assert not list((tmp_path / "cache").glob(".tmp-*"))


# --- nothing done: one line, exit 2 --------------------------------------------------------------------
@contextmanager
def files_limited_to(size: int):
    """Files may not grow beyond `size` bytes while the block runs: writes fail half-way, as on a full disk (the
    kernel refuses with EFBIG where a full disk gives ENOSPC)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


@pytest.mark.parametrize("num_proc", [1, 2])
def test_writes_that_fail_half_way_leave_nothing(corpus, tmp_path, monkeypatch, capsys, num_proc):
    cache, output = tmp_path / "cache", tmp_path / "out"
    argv = [f"emodb={corpus}", "--cache-dir", cache, "--output", output, "--num-proc", num_proc, "--no-progress"]
    with files_limited_to(200_000):
        status = run_cli(monkeypatch, "prepare", *argv)
    assert status == 2
    assert "File too large" in one_line_error(capsys.readouterr().err)
    assert not output.exists() and not list(tmp_path.glob(".tmp-*")) and not list(cache.glob(".tmp-*"))
    # the cache holds complete entries only (smaller shards may fit where the output's files do not)
    assert all(read_info(cache / name) is not None for name in cache_entries(cache))


@pytest.mark.parametrize(
    "output, problem",
    [("/proc/exhubert-test-output", "cannot write /proc/exhubert-test-output"), ("{file}/sub", "cannot write {file}/sub")],
)
def test_an_output_that_cannot_be_written_fails_before_decoding(corpus, tmp_path, monkeypatch, capsys, output, problem):
    (tmp_path / "a file").write_text("x")
    fill = {"file": tmp_path / "a file"}
    argv = [f"emodb={corpus}", "--cache-dir", tmp_path / "cache", "--output", output.format(**fill), "--no-progress"]
    assert run_cli(monkeypatch, "prepare", *argv) == 2
    assert problem.format(**fill) in one_line_error(capsys.readouterr().err)
    assert cache_entries(tmp_path / "cache") == []


def garbage(folder: Path, names) -> None:
    for name in names:
        (folder / name).write_text("this is not audio\n" * 20)


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda root: None, "emodb: no audio files found in {root}"),
        (
            lambda root: garbage(root / "wav", ["notes.wav", "x.wav"]),
            "emodb: all 2 file(s) in {root} were skipped (e.g. {root}/wav/notes.wav: file name does not follow",
        ),
        (
            lambda root: garbage(root / "wav", ["03a01Fa.wav", "08a01Wa.wav"]),
            "emodb: none of its 2 file(s) could be decoded (e.g. {root}/wav/03a01Fa.wav: not a readable audio file",
        ),
    ],
    ids=["no files", "no file named as the corpus names them", "no file decodes"],
)
def test_a_corpus_without_a_usable_clip_writes_nothing(corpus, tmp_path, monkeypatch, capsys, make, problem):
    bad = tmp_path / "bad" / "emodb"
    (bad / "wav").mkdir(parents=True)
    make(bad)
    cache, output = tmp_path / "cache", tmp_path / "out"
    for argv in ([f"emodb={bad}"], [f"emodb={bad}", f"manifest:good={corpus / 'm.csv'}"]):
        listed = "".join(f"wav/{p.name},angry\n" for p in sorted((corpus / "wav").iterdir()))
        (corpus / "m.csv").write_text("path,label\n" + listed)
        status = run_cli(monkeypatch, "prepare", *argv, "--cache-dir", cache, "--output", output, "--no-progress")
        assert status == 2
        assert problem.format(root=bad.resolve()) in one_line_error(capsys.readouterr().err)
        assert not output.exists() and not list(tmp_path.glob(".tmp-*"))
    assert len(cache_entries(cache)) <= 1  # at most the good corpus's entry, ready for the next run


# --- files skipped with the reason ------------------------------------------------------------------------
def test_broken_links_folders_hostile_headers_and_overlong_files_are_skipped_with_the_reason(
    corpus, tmp_path, monkeypatch, capsys
):
    wav = corpus / "wav"
    (wav / "11a01Wa.wav").symlink_to(tmp_path / "gone.wav")
    (wav / "12a01Wa.wav").mkdir()
    soundfile.write(wav / "13a01Wa.wav", np.zeros(10_000, dtype=np.int16), 1, subtype="PCM_16")  # 20 KB "lasting" 2.8 h
    soundfile.write(wav / "14a01Wa.wav", np.zeros(16000 * 4, dtype=np.int16), 16000, subtype="PCM_16")  # clips here: <= 2.7 s
    reasons = {
        "11a01Wa.wav": f"broken symbolic link (its target {tmp_path / 'gone.wav'} does not exist)",
        "12a01Wa.wav": "not a file",
        "13a01Wa.wav": "sampling rate 1 Hz is below 1000 Hz",
        "14a01Wa.wav": "lasts 4.0 s, longer than the limit of 3.5 s",
    }
    argv = [f"emodb={corpus}", "--cache-dir", tmp_path / "cache", "--max-seconds", "3.5", "--no-progress"]
    assert run_cli(monkeypatch, "prepare", *argv) == 1
    err = capsys.readouterr().err
    for name, reason in reasons.items():
        assert f"{wav.resolve() / name}: {reason}" in err, name
    result = prepare_corpora({"emodb": corpus}, cache_dir=tmp_path / "cache", max_seconds=3.5, show_progress=False)
    assert result.from_cache and {Path(path).name for path, _ in result.skipped} == set(reasons)
    assert sum(len(result.dataset[split]) for split in SPLITS) == 12


# --- progress: one bar per long step ----------------------------------------------------------------------
def test_one_progress_bar_per_step_and_no_library_bars(corpus, tmp_path, monkeypatch, capsys):
    argv = [f"emodb={corpus}", "--cache-dir", tmp_path / "cache", "--output", tmp_path / "out"]
    assert run_cli(monkeypatch, "prepare", *argv) == 0
    err = capsys.readouterr().err
    assert "Saving the dataset" not in err and "Loading" not in err and "Warning" not in err
    finished = re.findall(r"(exhubert prepare: [a-z ]+): 100%", err)
    assert sorted(set(finished)) == ["exhubert prepare: decoding", "exhubert prepare: writing the output"]
    assert all(len(re.findall(rf"{name}:\s+0%", err)) == 1 for name in set(finished)), err
    info = json.loads((tmp_path / "out" / "prepare_info.json").read_text())
    assert info["audio_dtype"] == "int16" and info["corpora"]["emodb"]["splits"]["train"]["clips"] > 0
