"""A Hugging Face Space running the ExHuBERT web demo (exhubert_hf.app), as is.

Space layout (see README "Try it in the browser"): this file, the `exhubert_hf/` package beside it, a
requirements.txt and the Space's README.md (`sdk: gradio`, `app_file: app.py`). The model is the Space variable
EXHUBERT_MODEL (a Hub id or folder; default: the folder `model/` beside this file), pinned with
EXHUBERT_REVISION; EXHUBERT_WINDOW / EXHUBERT_HOP set the windows (seconds); EXHUBERT_TRUST_REMOTE_CODE=1 lets a
model folder of a type this package does not know run its own code. Example clips: `examples/*.wav` beside this
file, else EMO-DB clips from ../shared/data when present. Locally: `python app.py` (or `exhubert app`).
"""

import os
from pathlib import Path

from exhubert_hf.app import build_demo, default_examples, serve
from exhubert_hf.inference import EmotionPredictor

HERE = Path(__file__).resolve().parent
MODEL = os.environ.get("EXHUBERT_MODEL") or str(HERE / "model")
predictor = EmotionPredictor(
    MODEL,
    revision=os.environ.get("EXHUBERT_REVISION") or None,
    window=os.environ.get("EXHUBERT_WINDOW") or 3.0,
    hop=os.environ.get("EXHUBERT_HOP") or None,
    show_progress=False,
    trust_remote_code=os.environ.get("EXHUBERT_TRUST_REMOTE_CODE") == "1",
)
examples = [str(path) for path in sorted(HERE.glob("examples/*.wav"))] or default_examples()
demo = build_demo(predictor, MODEL, examples)

if __name__ == "__main__":
    serve(demo, examples)
