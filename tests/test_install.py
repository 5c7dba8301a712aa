"""A non-editable install works on its own: the wheel carries the training command and its bundled configs.

The wheel is built from this checkout and installed (without dependencies) into a fresh virtual environment
that sees the test environment's packages through a .pth file; every command then runs from a folder outside
the repository, so nothing can come from the checkout.
"""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from exhubert_hf.data.synthetic import generate_corpus

ROOT = Path(__file__).resolve().parents[1]


def run(command, cwd, timeout=600) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "WORLD_SIZE")}
    environment.update(OMP_NUM_THREADS="1", EXHUBERT_CACHE=str(cwd / "cache"))
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python, exhubert, outside folder) of a fresh virtual environment with the wheel installed."""
    base = tmp_path_factory.mktemp("install")
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(base / "dist"), str(ROOT)], base)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (base / "dist").glob("exhubert_hf-*.whl")
    venv = base / "venv"
    assert run([sys.executable, "-m", "venv", "--without-pip", str(venv)], base).returncode == 0
    python = venv / "bin" / "python"
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], base).stdout.strip())
    (site / "test-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # dependencies, not exhubert_hf
    installed = run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)], base)
    assert installed.returncode == 0, installed.stderr[-3000:]
    outside = base / "elsewhere"
    outside.mkdir()
    return python, venv / "bin" / "exhubert", outside


def test_the_installed_package_is_the_wheel_not_the_checkout(installed):
    python, _, outside = installed
    location = run([str(python), "-c", "import exhubert_hf; print(exhubert_hf.__file__)"], outside).stdout.strip()
    assert location.startswith(str(python.parents[1])) and not location.startswith(str(ROOT))


def test_train_help_names_config_and_the_bundled_configs(installed):
    python, exhubert, outside = installed
    for command in ([str(exhubert), "train", "--help"], [str(python), "-m", "exhubert_hf", "train", "--help"], [str(python), "-m", "exhubert_hf.train", "--help"]):
        result = run(command, outside)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "--config" in result.stdout and "stage2_exhubert" in result.stdout and "--num_copies_per_layer" in result.stdout


def test_a_tiny_run_with_a_bundled_config_finishes_outside_the_repository(installed):
    python, exhubert, outside = installed
    manifest = generate_corpus(outside / "data", "synth", num_speakers=5, clips_per_class=2, split_speakers=(3, 1, 1), duration=0.5)
    result = run(
        [
            str(exhubert), "train", "--config", "demo", "--tiny", "true",
            "--corpora", f"manifest:synth={manifest}", "--output_dir", "run", "--cache_dir", "prepared",
            "--max_steps", "4", "--eval_steps", "2", "--save_steps", "2", "--per_device_train_batch_size", "4",
            "--disable_tqdm", "true",
        ],
        outside,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert (outside / "run" / "model.safetensors").is_file() and (outside / "run" / "results.json").is_file()
    assert "synth" in result.stdout and "UAR" in result.stdout


def test_the_paper_data_ships_in_the_wheel(installed):
    python, _, outside = installed
    code = (
        "from exhubert_hf.data.roles import load_corpus_roles; from exhubert_hf.train.table2 import load_paper_table2; "
        "print(len(load_corpus_roles().emoset_plus_plus), len(load_paper_table2()['uar']))"
    )
    result = run([str(python), "-c", code], outside)
    assert result.returncode == 0 and result.stdout.split() == ["37", "6"], result.stderr[-2000:]


def test_the_uar_metric_loads_with_evaluate_from_the_installed_package(installed):
    python, _, outside = installed
    script = (
        "import evaluate; from exhubert_hf.train.evaluation import uar_metric_path; "
        "print(uar_metric_path()); print(evaluate.load(uar_metric_path()).compute(references=[0, 0, 1, 1], predictions=[0, 0, 0, 1]))"
    )
    result = run(["env", f"HF_HOME={outside / 'hf'}", "HF_HUB_OFFLINE=1", str(python), "-c", script], outside)
    assert result.returncode == 0, result.stderr[-3000:]
    path, scores = result.stdout.strip().splitlines()[-2:]
    assert path.startswith(str(python.parents[1])) and path.endswith("uar.py")  # the wheel's copy, not the checkout's
    assert scores == "{'uar': 0.75}"
