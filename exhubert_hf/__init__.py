"""ExHuBERT for speech emotion recognition, native to Hugging Face transformers.

Importing the package registers the ExHuBERT config and models with the Auto classes, so saved
folders load with `AutoModelForAudioClassification.from_pretrained(folder)` without
`trust_remote_code`.
"""

from transformers import AutoConfig, AutoModel, AutoModelForAudioClassification

from .configuration_exhubert import AROUSAL_LEVELS, EXHUBERT_LABELS, VALENCE_LEVELS, ExHubertConfig, emotion_class
from .modeling_exhubert import ExHubertForSequenceClassification, ExHubertModel, ExHubertPreTrainedModel

AutoConfig.register(ExHubertConfig.model_type, ExHubertConfig, exist_ok=True)
AutoModel.register(ExHubertConfig, ExHubertModel, exist_ok=True)
AutoModelForAudioClassification.register(ExHubertConfig, ExHubertForSequenceClassification, exist_ok=True)
ExHubertConfig.register_for_auto_class()
ExHubertModel.register_for_auto_class("AutoModel")
ExHubertForSequenceClassification.register_for_auto_class("AutoModelForAudioClassification")

__version__ = "0.1.0"

__all__ = [
    "AROUSAL_LEVELS",
    "EXHUBERT_LABELS",
    "VALENCE_LEVELS",
    "ExHubertConfig",
    "ExHubertForSequenceClassification",
    "ExHubertModel",
    "ExHubertPreTrainedModel",
    "emotion_class",
]
