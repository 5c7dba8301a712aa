"""Data: audio files -> corpora -> the prepared dataset -> training batches.

`audio` reads any file as 16 kHz mono; `corpora` (adapters), `manifest` and `records` list a corpus's clips;
`labels` maps their labels to the six classes; `splits` makes speaker-independent splits; `plan`, `cache`,
`build` and `prepare` turn corpora into a cached `datasets.DatasetDict` with the columns of `schema`;
`sampler` and `collator` make round-robin training batches of it; `synthetic` writes small synthetic corpora.
"""
