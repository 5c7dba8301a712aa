"""Data: audio files -> corpora -> the prepared dataset -> training batches.

`audio` reads any file as 16 kHz mono; `corpora` (the registry of adapters, in `emoset_corpora` and
`other_corpora`), `manifest` and `records` list a corpus's clips; `roles` says which part each corpus plays in
the paper (EmoSet++, Table 2's unseen test corpora, extras); `labels` maps their labels to the six classes; `splits` makes speaker-independent splits; `plan`, `cache`,
`build` and `prepare` turn corpora into a cached `datasets.DatasetDict` with the columns of `schema`;
`sampler` and `collator` make round-robin training batches of it; `synthetic` writes small synthetic corpora.
"""
