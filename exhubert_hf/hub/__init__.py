"""The Hugging Face Hub side: `push` (checked uploads), `pull` (pinned downloads), `model_card` (the README.md of a
model folder) and `convert` (the published `amiriparian/ExHuBERT` checkpoint into this package's format)."""
