"""The web demo: a Gradio app to try a model in the browser, locally or as a Hugging Face Space.

    exhubert app --model M [--host 127.0.0.1 --port 7860] [--window 3 --hop 1] [--trust-remote-code]

Upload or record a clip and the page shows the top class, the six class probabilities, the arousal and valence
marginals (and, for a model with a dimensional head, its whole-file dimensions in the summary line) and the emotion
timeline (`exhubert_hf.inference.timeline`) of the recording; the results are those of
`exhubert predict` with the same window and hop. Example clips from EMO-DB (`../shared/data` beside the
repository) are offered when present, or the files given with `--examples`. The repository's top-level `app.py`
runs the same app as a Space. Needs the `app` extra (`pip install "exhubert-hf[app]"`, i.e. Gradio); nothing is
sent anywhere (Gradio's telemetry is off) and the page is served on 127.0.0.1 unless `--host` says otherwise.
"""

import io
from collections.abc import Sequence
from pathlib import Path

from .configuration_exhubert import VALENCE_LEVELS
from .errors import ExHubertError, UsageError
from .inference.results import EmotionMarginals

# EMO-DB clips offered as examples where the corpus is beside the checkout (speaker 03: anger, happiness, neutral).
EXAMPLE_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
EXAMPLE_CLIPS = ("emodb/wav/03a01Wa.wav", "emodb/wav/03a01Fa.wav", "emodb/wav/03a01Nc.wav")
DESCRIPTION = (
    "Speech emotion recognition with ExHuBERT: six classes, low/high arousal x negative/neutral/positive valence. "
    "Upload or record a clip; long recordings are cut into windows, and the timeline shows how the emotion changes."
)


def default_examples(data: Path = EXAMPLE_DATA) -> list[str]:
    return [str(data / clip) for clip in EXAMPLE_CLIPS if (data / clip).is_file()]


def analyse(predictor, model: str, path: str | None) -> tuple:
    """The page's outputs for one audio file: a one-line summary (with a dimensional head's dimensions), the six
    probabilities (None for a model without classes), the arousal and valence marginals (None for models with other
    labels) and the timeline (a PIL image). `ExHubertError` for a file that cannot be used."""
    from PIL import Image

    from .inference.timeline import png_bytes, timeline_figure

    if not path:
        raise UsageError("upload or record a clip first")
    item = predictor.predict_file(path).files[0]
    if item.error:
        raise ExHubertError(f"{Path(path).name}: {item.error}")
    labels = predictor.labels
    probabilities = {label: float(p) for label, p in zip(labels, item.probabilities)} or None
    marginals = EmotionMarginals(labels).values(item.probabilities)
    arousal = {"high arousal": marginals["arousal"], "low arousal": 1 - marginals["arousal"]} if marginals else None
    valence = {f"{level} valence": marginals[f"valence_{level}"] for level in VALENCE_LEVELS} if marginals else None
    figure = timeline_figure(item, labels, model, item.dimension_series(predictor.dimensions))
    timeline = Image.open(io.BytesIO(png_bytes(figure)))
    windows = len(item.windows)
    parts = []
    if probabilities:
        top = max(probabilities, key=probabilities.get)
        parts.append(f"**{top}** ({probabilities[top]:.0%})")
    parts.append(f"{item.duration:.1f} s, {windows} window{'s' * (windows != 1)}")
    if predictor.dimensions:
        parts += [f"{name} **{value:.2f}**" for name, value in zip(predictor.dimensions, item.dimensions)]
    return ", ".join(parts), probabilities, arousal, valence, timeline


def build_demo(predictor, model: str, examples: Sequence[str] = ()):
    """The Gradio Blocks of the demo for a loaded `EmotionPredictor` (`model` names it on the page)."""
    import gradio as gr

    def run(path):
        if not path:  # the clip was removed: clear the results
            return "", None, None, None, None
        try:
            return analyse(predictor, model, path)
        except ExHubertError as error:
            raise gr.Error(str(error)) from None

    with gr.Blocks(title="ExHuBERT emotion recognition", analytics_enabled=False) as demo:
        gr.Markdown(f"## ExHuBERT emotion recognition\n{DESCRIPTION}\n\nModel: `{model}`; windows of "
                    f"{predictor.window:g} s every {predictor.hop:g} s.")  # fmt: skip
        with gr.Row():
            with gr.Column():
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Speech", elem_id="audio")
                button = gr.Button("Analyse", variant="primary")
                if examples:
                    gr.Examples([[path] for path in examples], inputs=audio, label="EMO-DB examples")
            with gr.Column():
                summary = gr.Markdown(elem_id="top-class")
                classes = gr.Label(num_top_classes=len(predictor.labels), label="Emotion (six classes)", elem_id="classes")
                with gr.Row():
                    arousal = gr.Label(label="Arousal", elem_id="arousal")
                    valence = gr.Label(label="Valence", elem_id="valence")
        timeline = gr.Image(type="pil", format="png", label="Timeline", elem_id="timeline", interactive=False)
        outputs = [summary, classes, arousal, valence, timeline]
        audio.change(run, inputs=audio, outputs=outputs)
        button.click(run, inputs=audio, outputs=outputs)
    return demo


def serve(demo, examples: Sequence[str] = (), host: str | None = None, port: int | None = None, **kwargs) -> None:
    """Serves the demo (blocking; `prevent_thread_lock=True` in `kwargs` returns at once). Host and port default to
    Gradio's (127.0.0.1:7860, or GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, which a Space sets)."""
    allowed = sorted({str(Path(path).resolve().parent) for path in examples})  # Gradio serves only allowed folders
    demo.launch(server_name=host, server_port=port, allowed_paths=allowed, ssr_mode=False, show_error=True, **kwargs)


__all__ = ["DESCRIPTION", "EXAMPLE_CLIPS", "analyse", "build_demo", "default_examples", "serve"]
