"""The Hugging Face Hub side: `push` (checked uploads), `scan` (pickles, secrets and links found by content),
`model_folder` (a training run turned into the clean folder that is published), `pull` (pinned downloads),
`model_card` (the README.md of a model folder) and `convert` (the published `amiriparian/ExHuBERT` checkpoint into
this package's format)."""
