"""The Hub model card: YAML front matter with a model-index from results.json, a ModelCard.load round
trip, and usage snippets that really run against a local folder."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import yaml
from huggingface_hub import ModelCard
from transformers import HubertForSequenceClassification

from exhubert_hf import EXHUBERT_LABELS, ExHubertForSequenceClassification
from exhubert_hf.commands import main as exhubert_main
from exhubert_hf.hub.model_card import TAGS, load_template, render_model_card, write_model_card
from exhubert_hf.testing import tiny_hubert_config

RESULTS = {
    "split": "test",
    "per_corpus": {
        "emodb": {"uar": 0.7125, "wa": 0.7402, "num_clips": 107},
        "ravdess": {"uar": 0.5833, "wa": 0.6011, "num_clips": 288},
        "urdu": {"uar": 0.655, "wa": 0.66, "num_clips": 80},
    },
    "mean": {"uar": 0.6503, "wa": 0.6671},
}


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("card") / "exhubert-tiny"
    torch.manual_seed(0)
    ExHubertForSequenceClassification.from_hubert(HubertForSequenceClassification(tiny_hubert_config())).save_pretrained(folder)
    return folder


def front_matter(text: str) -> dict:
    match = re.match(r"^---\n(.*?)\n---\n", text, re.DOTALL)
    assert match, "no YAML front matter"
    return yaml.safe_load(match.group(1))


def test_front_matter_has_a_model_index_entry_per_corpus(model_folder):
    text = render_model_card(model_folder, results=RESULTS, base_model="facebook/hubert-large-ls960-ft", datasets=["org/emoset"], repo_id="org/exhubert-tiny")
    metadata = front_matter(text)
    assert metadata["library_name"] == "transformers"
    assert metadata["pipeline_tag"] == "audio-classification"
    assert set(TAGS) <= set(metadata["tags"])
    assert metadata["license"] == "apache-2.0"
    assert metadata["base_model"] == "facebook/hubert-large-ls960-ft"
    assert metadata["datasets"] == ["org/emoset"]
    assert "recall" in metadata["metrics"]
    (index,) = metadata["model-index"]
    assert index["name"] == "exhubert-tiny"
    assert len(index["results"]) == len(RESULTS["per_corpus"])
    for result, (corpus, metrics) in zip(index["results"], RESULTS["per_corpus"].items()):
        assert result["task"]["type"] == "audio-classification"
        assert result["dataset"]["name"] == corpus and result["dataset"]["split"] == "test"
        values = {metric["type"]: metric["value"] for metric in result["metrics"]}
        assert values == {"uar": metrics["uar"], "accuracy": metrics["wa"]}
    assert "{{" not in text and "}}" not in text


def test_model_card_load_round_trip(model_folder, tmp_path):
    results_file = tmp_path / "results.json"
    results_file.write_text(json.dumps(RESULTS))
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_bytes((model_folder / "config.json").read_bytes())
    path = write_model_card(folder, results=results_file, license="mit", repo_id="org/name")
    card = ModelCard.load(path)
    assert card.data.license == "mit" and card.data.library_name == "transformers"
    uar = {result.dataset_name: result.metric_value for result in card.data.eval_results if result.metric_type == "uar"}
    assert uar == {corpus: metrics["uar"] for corpus, metrics in RESULTS["per_corpus"].items()}
    assert ModelCard(str(card)).data.to_dict() == card.data.to_dict()
    # The evaluation table and the class table are in the body.
    for corpus, metrics in RESULTS["per_corpus"].items():
        assert f"| {corpus} | {metrics['uar']:.4f} | {metrics['wa']:.4f} | {metrics['num_clips']} |" in card.text
    assert "| **mean over corpora** | 0.6503 | 0.6671 | |" in card.text
    for index, label in enumerate(EXHUBERT_LABELS):
        assert f"| {index} | {label} |" in card.text


def test_a_card_without_results_has_no_model_index(model_folder):
    metadata = front_matter(render_model_card(model_folder))
    assert "model-index" not in metadata and "base_model" not in metadata
    assert metadata["pipeline_tag"] == "audio-classification"


def test_the_base_model_comes_from_the_conversion_record(model_folder, tmp_path):
    config = json.loads((model_folder / "config.json").read_text())
    config["converted_from"] = {"source": "amiriparian/ExHuBERT", "revision": "a" * 40}
    (tmp_path / "config.json").write_text(json.dumps(config))
    text = render_model_card(tmp_path)
    assert front_matter(text)["base_model"] == "amiriparian/ExHuBERT"
    assert "Converted losslessly from `amiriparian/ExHuBERT`" in text


def test_bad_results_are_a_clear_error(model_folder):
    with pytest.raises(ValueError, match="per_corpus"):
        render_model_card(model_folder, results={"split": "test"})
    with pytest.raises(ValueError, match="numeric 'uar' or dimensions"):
        render_model_card(model_folder, results={"per_corpus": {"emodb": {"wa": 0.5}}})


def test_usage_snippets_are_present_and_run(model_folder, tmp_path, monkeypatch, capsys):
    text = render_model_card(model_folder, repo_id="org/exhubert-tiny")
    assert 'AutoModelForAudioClassification.from_pretrained(repo, trust_remote_code=True)' in text
    assert 'pipeline("audio-classification", model="org/exhubert-tiny", trust_remote_code=True)' in text
    assert "exhubert predict recordings/ --model org/exhubert-tiny" in text
    assert "exhubert embed recordings/ --model org/exhubert-tiny" in text
    assert "## Limitations" in text and "## Training" in text
    soundfile.write(tmp_path / "speech.wav", np.sin(np.arange(24000) / 9).astype(np.float32), 16000)
    monkeypatch.chdir(tmp_path)
    snippets = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert len(snippets) == 2
    for snippet in snippets:
        exec(snippet.replace("org/exhubert-tiny", str(model_folder)), {})
    printed = capsys.readouterr().out
    for label in EXHUBERT_LABELS:
        assert label in printed


def test_only_one_template_exists():
    repository = Path(__file__).resolve().parents[1]
    assert load_template().startswith("---\n{{ card_data }}\n---\n")
    pointer = (repository / "model_card" / "README.md").read_text()
    assert "exhubert_hf/hub/templates/model_card.md" in pointer and "{{" not in pointer


def test_model_card_command(model_folder, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_bytes((model_folder / "config.json").read_bytes())
    (tmp_path / "results.json").write_text(json.dumps(RESULTS))
    arguments = ["model-card", str(folder), "--results", str(tmp_path / "results.json"), "--repo-id", "org/x"]
    assert exhubert_main(arguments) == 0
    assert len(front_matter((folder / "README.md").read_text())["model-index"][0]["results"]) == 3
    assert exhubert_main(arguments) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert exhubert_main([*arguments, "--overwrite"]) == 0


def test_the_base_model_is_the_runs_nearest_hub_model_and_no_local_path_is_published(model_folder, tmp_path):
    from types import SimpleNamespace

    from exhubert_hf.train.run_info import RUN_INFO_FILE, describe_run

    stage1 = tmp_path / "runs" / "stage1"
    stage1.mkdir(parents=True)
    (stage1 / RUN_INFO_FILE).write_text(json.dumps({"base_model": "facebook/hubert-large-ll60k", "hub_base_model": "facebook/hubert-large-ll60k"}))
    model_args = SimpleNamespace(tiny=False, model_name_or_path=str(stage1), model_revision=None, stage="stage2", num_copies_per_layer=1)
    data_args = SimpleNamespace(corpora=["emodb=/data/emodb", "manifest:mine=/data/mine.csv"], train_corpora=None)
    run = describe_run(model_args, data_args, SimpleNamespace(load_best_model_at_end=True))
    assert run["hub_base_model"] == "facebook/hubert-large-ll60k" and run["base_model"] == str(stage1)
    assert run["corpora"] == ["emodb", "mine"] and run["stage"] == "stage2"
    text = render_model_card(model_folder, run=run, repo_id="org/x")
    assert front_matter(text)["base_model"] == "facebook/hubert-large-ll60k"
    assert "- Starting point: `facebook/hubert-large-ll60k` (through a local model trained from it)" in text
    assert "- Corpora: emodb, mine" in text and str(tmp_path) not in text
    config = json.loads((model_folder / "config.json").read_text())
    config["converted_from"] = {"source": str(tmp_path / "ExHuBERT"), "revision": None}
    (tmp_path / "config.json").write_text(json.dumps(config))
    text = render_model_card(tmp_path)
    assert "base_model" not in front_matter(text) and str(tmp_path) not in text


def test_a_stage1_hubert_card_says_what_it_is_and_needs_no_remote_code(tmp_path):
    torch.manual_seed(0)
    HubertForSequenceClassification(tiny_hubert_config()).save_pretrained(tmp_path)
    text = render_model_card(tmp_path, repo_id="org/stage1", figures=["figures/validation_uar.png"])
    assert "stage 1 of the ExHuBERT recipe" in text and "no block expansion" in text
    assert "trust_remote_code" not in text.split("### command line")[0]
    assert 'AutoModelForAudioClassification.from_pretrained(repo).eval()' in text
    assert "![Validation UAR per corpus during training](figures/validation_uar.png)" in text


@pytest.mark.parametrize("classes", [True, False], ids=["classes and dimensions", "dimensions only"])
def test_a_model_with_dimensions_gets_their_ccc_in_the_model_index_and_a_table(tmp_path, classes):
    from exhubert_hf.train.evaluation import results_dict

    folder = tmp_path / "exhubert-dims"
    head = dict(dimensions=["arousal", "valence"]) | ({} if classes else {"num_labels": 0})
    ExHubertForSequenceClassification.from_hubert(HubertForSequenceClassification(tiny_hubert_config()), **head).save_pretrained(folder)
    ratings = {"arousal": {"ccc": 0.81, "pearson": 0.83, "num_clips": 40}, "valence": {"ccc": 0.62, "pearson": 0.7, "num_clips": 40}}
    corpus = {"num_clips": 40, "dimensions": ratings} | ({"uar": 0.5, "wa": 0.55} if classes else {})
    results = results_dict({"msp": corpus})
    (folder / "validation_ccc.png").write_bytes(b"png")
    text = render_model_card(folder, results=results, figures=["validation_ccc.png"])
    (index,) = front_matter(text)["model-index"]
    metrics = {(metric["type"], metric.get("config")): metric["value"] for metric in index["results"][0]["metrics"]}
    assert metrics[("ccc", "arousal")] == 0.81 and metrics[("ccc", "valence")] == 0.62
    assert (("uar", None) in metrics) == classes
    assert "| msp | 0.8100 / 0.8300 | 0.6200 / 0.7000 |" in text
    assert "Validation CCC" in text
    assert ("six classes:" in text) == classes and ("rates the dimensions only" in text) == (not classes)
    assert "a linear map and a sigmoid to arousal, valence in [0, 1]" in text
