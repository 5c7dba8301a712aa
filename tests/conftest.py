"""Shared test fixtures: the real corpora's location, a tiny saved ExHuBERT, and the command line."""

import os
from pathlib import Path

import pytest
import torch
from transformers import HubertForSequenceClassification

from exhubert_hf import ExHubertForSequenceClassification
from exhubert_hf.commands import main as exhubert_main
from exhubert_hf.testing import tiny_hubert_config

# The real corpora beside the checkout (../shared/data); EXHUBERT_TEST_DATA points elsewhere (e.g. from a worktree).
DATA = Path(os.environ.get("EXHUBERT_TEST_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")


def save_tiny_model(folder, stable_layer_norm=True, seed=0, **head):
    """A tiny random ExHuBERT with HuBERT's 320-sample frame step (so 3 s give 150 frames, as in the real
    model; the default tiny config's step of 64 makes attention 25 times dearer). `head`: config overrides such as
    `dimensions=[...]` (a dimensional head, drawn wide enough that its outputs differ between windows) or
    `num_labels=0`."""
    torch.manual_seed(seed)
    config = tiny_hubert_config(stable_layer_norm, conv_stride=(8, 8, 5), conv_kernel=(10, 8, 5))
    model = ExHubertForSequenceClassification.from_hubert(HubertForSequenceClassification(config), **head).eval()
    if head.get("dimensions"):
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            model.dimension_regressor.weight.normal_(std=5.0, generator=generator)
            model.dimension_regressor.bias.normal_(std=0.5, generator=generator)
    model.save_pretrained(folder)
    return Path(folder)


def random_audio(batch=2, samples=4000, seed=0):
    """Random audio and an attention mask whose last row is padded with zeros after 5/8 of its length."""
    generator = torch.Generator().manual_seed(seed)
    audio = torch.randn(batch, samples, generator=generator)
    attention_mask = torch.ones(batch, samples, dtype=torch.long)
    attention_mask[-1, samples * 5 // 8 :] = 0
    audio[-1, samples * 5 // 8 :] = 0.0
    return audio, attention_mask


def run_cli(monkeypatch, *argv) -> int:
    """`exhubert ARGV...` in this process."""
    return exhubert_main([str(arg) for arg in argv])


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models gain nothing from threads, and on a small shared CPU two threads can be 50 times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model"))
