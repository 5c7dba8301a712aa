#!/usr/bin/env python
"""The README's timeline picture: the offline demo's model on a synthetic recording whose emotion changes every
few seconds, with the synthesised classes drawn above the predictions for comparison.

    python training/demo.py --output-dir /tmp/demo                # trains the model, 1.5-3 minutes on 2 cores
    python docs/timeline_example.py --model /tmp/demo/stage2 --output docs/timeline_example.png --overwrite

The recording is one speaker the model never heard (`exhubert_hf.data.synthetic`), six 4 s stretches, one per
class, in an order where arousal and valence both change; it is predicted in 1.5 s windows (the length of the
demo's training clips) every 0.5 s. Prints how many windows get the class synthesised at their centre.
`--audio FILE` also writes the recording, e.g. for `exhubert predict FILE --model M --window 1.5 --hop 0.5 --plot DIR`.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile

try:
    import exhubert_hf  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exhubert_hf import EXHUBERT_LABELS
from exhubert_hf.configuration_exhubert import SAMPLING_RATE
from exhubert_hf.data.synthetic import make_speakers, synthesize_clip
from exhubert_hf.inference import EmotionPredictor
from exhubert_hf.inference.timeline import save_png, timeline_figure

ORDER = (1, 3, 5, 0, 4, 2)  # neutral, anger-like, joy-like, sadness-like, surprise-like, calm
SECONDS = 4.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="the offline demo's stage-2 model folder")
    parser.add_argument("--output", default="docs/timeline_example.png", help="the PNG to write")
    parser.add_argument("--audio", help="also write the recording to this WAV file")
    parser.add_argument("--overwrite", action="store_true", help="replace --output (and --audio) if they exist")
    args = parser.parse_args()

    speaker, rng = make_speakers("timeline", 1, seed=3)[0], np.random.default_rng(0)
    signal = np.concatenate([synthesize_clip(label, speaker, rng, duration=SECONDS) for label in ORDER])
    reference = [(number * SECONDS, (number + 1) * SECONDS, EXHUBERT_LABELS[label]) for number, label in enumerate(ORDER)]
    if args.audio:
        if Path(args.audio).exists() and not args.overwrite:
            parser.error(f"{args.audio} exists; pass --overwrite")
        soundfile.write(args.audio, signal, SAMPLING_RATE, subtype="PCM_16")

    predictor = EmotionPredictor(args.model, window=1.5, hop=0.5, show_progress=False)
    item = predictor.predict_signal(signal, SAMPLING_RATE, file="emotion_course.wav").files[0]
    hits = sum(
        predictor.labels[int(np.argmax(window.probabilities))] == EXHUBERT_LABELS[ORDER[int((window.start + window.end) / 2 // SECONDS)]]
        for window in item.windows
    )
    save_png(timeline_figure(item, predictor.labels, args.model, reference=reference), args.output, args.overwrite)
    print(f"{hits} of {len(item.windows)} windows get the class synthesised at their centre; wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
