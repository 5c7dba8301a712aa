"""ExHuBERT: HuBERT with backbone block expansion (Amiriparian et al., Interspeech 2024).

Built on transformers' HuBERT modules (encoder layers and encoder; feature encoder, feature projection and
positional conv embedding of the source family: HuBERT, wav2vec 2.0 or data2vec-audio), so SDPA / flash attention
and gradient checkpointing behave as in HuBERT. Self-contained on purpose: `save_pretrained` copies this file and
`configuration_exhubert.py` into every checkpoint for `trust_remote_code=True`.
"""

import copy
import os
import re
import warnings
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint
from transformers import (
    Data2VecAudioForCTC,
    Data2VecAudioForSequenceClassification,
    Data2VecAudioModel,
    HubertForCTC,
    HubertForSequenceClassification,
    HubertModel,
    PreTrainedConfig,
    Wav2Vec2ForCTC,
    Wav2Vec2ForSequenceClassification,
    Wav2Vec2Model,
)
from transformers import initialization as init
from transformers.backbone_utils import filter_output_hidden_states
from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled
from transformers.integrations.fsdp import is_fsdp_managed_module
from transformers.masking_utils import create_bidirectional_mask
from transformers.modeling_outputs import BaseModelOutput, SequenceClassifierOutput
from transformers.models.data2vec.modeling_data2vec_audio import (
    Data2VecAudioFeatureEncoder,
    Data2VecAudioFeatureProjection,
    Data2VecAudioPositionalConvEmbedding,
)
from transformers.models.hubert.modeling_hubert import (
    HubertEncoder,
    HubertEncoderLayer,
    HubertEncoderLayerStableLayerNorm,
    HubertEncoderStableLayerNorm,
    HubertFeatureEncoder,
    HubertFeatureProjection,
    HubertPositionalConvEmbedding,
    HubertPreTrainedModel,
)
from transformers.models.wav2vec2.modeling_wav2vec2 import (
    Wav2Vec2FeatureEncoder,
    Wav2Vec2FeatureProjection,
    Wav2Vec2PositionalConvEmbedding,
)
from transformers.utils.generic import can_return_tuple

from .configuration_exhubert import (
    EXHUBERT_LABELS,
    ExHubertConfig,
    default_feature_extractor,
    looks_like_local_path,
    not_expandable_error,
)

FEATURE_EXTRACTOR_FILE = "preprocessor_config.json"
HEAD_MODULES = ("projector", "classifier", "dimension_regressor", "layer_weights")
# The Auto classes a saved folder maps to this file's classes (its `auto_map`, for trust_remote_code=True).
AUTO_MAP = {
    "AutoConfig": "configuration_exhubert.ExHubertConfig",
    "AutoModel": "modeling_exhubert.ExHubertModel",
    "AutoModelForAudioClassification": "modeling_exhubert.ExHubertForSequenceClassification",
}
_LAYER_KEY = re.compile(r"(?:^|\.)encoder\.layers\.(\d+)\.")


@dataclass
class ExHubertClassifierOutput(SequenceClassifierOutput):
    """`SequenceClassifierOutput` plus `dimensions`: (batch, len(config.dimensions)) in [0, 1]; None without them."""

    dimensions: torch.FloatTensor | None = None


def concordance_loss(predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Sum over dimensions (columns) of 1 - CCC, the concordance correlation coefficient 2 cov / (var_p + var_t +
    (mean_p - mean_t)^2) (Lin 1989; population moments) over the rows whose target is known (not NaN). A dimension
    known for fewer than two rows of the batch adds nothing."""
    known = ~torch.isnan(targets)
    count = known.sum(dim=0).clamp(min=1)
    mean_p, mean_t = (torch.where(known, values, 0.0).sum(dim=0) / count for values in (predictions, targets))
    p, t = torch.where(known, predictions - mean_p, 0.0), torch.where(known, targets - mean_t, 0.0)
    variances = ((p**2).sum(dim=0) + (t**2).sum(dim=0)) / count + (mean_p - mean_t) ** 2
    ccc = 2 * (p * t).sum(dim=0) / count / variances.clamp(min=1e-8)
    return torch.where(known.sum(dim=0) >= 2, 1 - ccc, 0.0).sum()


class ExHubertGate(nn.Linear):
    """The square linear map after a layer: zero for copies (the block starts as an identity), identity
    for original layers that carry a gate."""

    def __init__(self, hidden_size: int, starts_as_identity: bool):
        super().__init__(hidden_size, hidden_size)
        self.starts_as_identity = starts_as_identity

    def reset_to_initial(self):
        with torch.no_grad():
            if self.starts_as_identity:
                init.eye_(self.weight)
            else:
                init.zeros_(self.weight)
            init.zeros_(self.bias)


class _BlockExpansionMixin:
    """Turns a HuBERT encoder layer into an ExHuBERT block: a copy computes `h + gate(layer(h))`; an original
    `layer(h)`, or `gate(layer(h))` when the config gives originals a gate (the layer keeps its residuals, norms)."""

    def __init__(self, config: ExHubertConfig, is_copy: bool):
        super().__init__(config)
        self.is_copy = is_copy
        needs_gate = is_copy or config.original_layer_gates
        self.gate = ExHubertGate(config.hidden_size, starts_as_identity=not is_copy) if needs_gate else None

    def forward(self, hidden_states, attention_mask=None, **kwargs):
        output = super().forward(hidden_states, attention_mask=attention_mask, **kwargs)
        if self.gate is not None:
            output = self.gate(output)
        return hidden_states + output if self.is_copy else output


class ExHubertEncoderLayer(_BlockExpansionMixin, HubertEncoderLayer):
    """Post-LN block (HuBERT Base)."""


class ExHubertEncoderLayerStableLayerNorm(_BlockExpansionMixin, HubertEncoderLayerStableLayerNorm):
    """Pre-LN block (HuBERT Large / XLarge)."""


def _without_layers(config: ExHubertConfig) -> ExHubertConfig:
    """A shallow copy of `config` with no encoder layers: transformers' encoder constructor builds everything
    but the layers from it (whatever attributes a future version adds), and we add the expanded layers."""
    empty = copy.copy(config)
    empty.num_hidden_layers = 0
    return empty


class _BlockLayerDropMixin:
    """The encoder's forward with layer drop over whole blocks.

    transformers' encoder skips each layer on its own with probability `config.layerdrop`; after expansion that
    would run a copy whose original was skipped, or skip a copy alone. Here an original and its copies (a block)
    are skipped together or not at all, with probability `config.layerdrop` per block. The rest mirrors
    HubertEncoder.forward (post-LN) and HubertEncoderStableLayerNorm.forward (pre-LN) of transformers 5.24;
    tests/test_drift.py fails when transformers changes them.
    """

    def forward(self, hidden_states, attention_mask=None, **kwargs):
        if attention_mask is not None:
            # make sure padded tokens output 0
            expand_attention_mask = attention_mask.unsqueeze(-1).repeat(1, 1, hidden_states.shape[2])
            hidden_states[~expand_attention_mask] = 0
        attention_mask = create_bidirectional_mask(
            config=self.config, inputs_embeds=hidden_states, attention_mask=attention_mask
        )
        position_embeddings = self.pos_conv_embed(hidden_states)
        hidden_states = hidden_states + position_embeddings.to(hidden_states.device)
        if not self.config.do_stable_layer_norm:
            hidden_states = self.layer_norm(hidden_states)
        hidden_states = self.dropout(hidden_states)
        synced_gpus = is_deepspeed_zero3_enabled() or is_fsdp_managed_module(self)
        block_size = 1 + self.config.num_copies_per_layer
        for start in range(0, len(self.layers), block_size):
            skip_the_block = False
            if self.training and self.config.layerdrop > 0.0:
                skip_the_block = torch.rand([]) < self.config.layerdrop
            if not skip_the_block or synced_gpus:
                # under fsdp or deepspeed zero3 all gpus must run in sync
                for layer in self.layers[start : start + block_size]:
                    hidden_states = layer(hidden_states, attention_mask=attention_mask, **kwargs)
        if self.config.do_stable_layer_norm:
            hidden_states = self.layer_norm(hidden_states)
        return BaseModelOutput(last_hidden_state=hidden_states)


class ExHubertEncoder(_BlockLayerDropMixin, HubertEncoder):
    def __init__(self, config: ExHubertConfig):
        super().__init__(_without_layers(config))
        _complete_encoder(self, config, ExHubertEncoderLayer)


class ExHubertEncoderStableLayerNorm(_BlockLayerDropMixin, HubertEncoderStableLayerNorm):
    def __init__(self, config: ExHubertConfig):
        super().__init__(_without_layers(config))
        _complete_encoder(self, config, ExHubertEncoderLayerStableLayerNorm)


def _complete_encoder(encoder: nn.Module, config: ExHubertConfig, layer_class: type) -> None:
    """Gives an encoder that transformers' constructor built without layers its config, the expanded layers and the
    source family's positional embedding in place of HuBERT's (in data2vec-audio, a stack of convolutions)."""
    encoder.config = config
    positional_embedding = _SOURCE_FAMILIES[config.source_model_type]["positional_embedding"]
    if type(encoder.pos_conv_embed) is not positional_embedding:
        encoder.pos_conv_embed = positional_embedding(config)
    encoder.layers = nn.ModuleList(
        layer_class(config, is_copy=config.is_copy(index)) for index in range(config.num_hidden_layers)
    )


class _ProjectedFeaturesOnly:
    """A wav2vec2 or data2vec-audio feature projection returning the projected features alone, as HuBERT's does:
    ExHubertModel runs HubertModel.forward for every family (theirs also return the normalised features, which only
    wav2vec2's pre-training quantizer uses)."""

    def forward(self, hidden_states):
        return super().forward(hidden_states)[0]


class ExHubertWav2Vec2FeatureProjection(_ProjectedFeaturesOnly, Wav2Vec2FeatureProjection):
    pass


class ExHubertData2VecAudioFeatureProjection(_ProjectedFeaturesOnly, Data2VecAudioFeatureProjection):
    pass


# Per source family (its model type): the model classes expansion loads (base model, the one whose head it keeps, the
# CTC model) and the modules in which the families differ. Encoder layers and the encoder forward are the same code in
# all three (transformers generates HuBERT's and data2vec-audio's from wav2vec2's), so every family gets HuBERT's;
# tests/test_drift.py fails if that changes.
_SOURCE_FAMILIES = {
    "hubert": dict(base_model=HubertModel, sequence_classification=HubertForSequenceClassification, ctc=HubertForCTC,
                   feature_encoder=HubertFeatureEncoder, feature_projection=HubertFeatureProjection,
                   positional_embedding=HubertPositionalConvEmbedding),
    "wav2vec2": dict(base_model=Wav2Vec2Model, sequence_classification=Wav2Vec2ForSequenceClassification,
                     ctc=Wav2Vec2ForCTC, feature_encoder=Wav2Vec2FeatureEncoder,
                     feature_projection=ExHubertWav2Vec2FeatureProjection,
                     positional_embedding=Wav2Vec2PositionalConvEmbedding),
    "data2vec-audio": dict(base_model=Data2VecAudioModel,
                           sequence_classification=Data2VecAudioForSequenceClassification,
                           ctc=Data2VecAudioForCTC, feature_encoder=Data2VecAudioFeatureEncoder,
                           feature_projection=ExHubertData2VecAudioFeatureProjection,
                           positional_embedding=Data2VecAudioPositionalConvEmbedding),
}  # fmt: skip


class ExHubertPreTrainedModel(HubertPreTrainedModel):
    config_class = ExHubertConfig
    config: ExHubertConfig
    _no_split_modules = ["ExHubertEncoderLayer", "ExHubertEncoderLayerStableLayerNorm", "ParametrizedConv1d"]

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, ExHubertGate):
            module.reset_to_initial()

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """As `PreTrainedModel.from_pretrained`, but weights that do not fit the model are an error, not a warning
        (a missing, unexpected or mismatched tensor would load as a silently part-random model), except where the
        caller asked for it: the encoder (`ExHubertModel`) from a classifier's folder leaves the head out, and
        `ignore_mismatched_sizes=True` initialises head tensors (a new head) that are missing or of another shape."""
        wants_loading_info = kwargs.pop("output_loading_info", False)
        new_head = kwargs.get("ignore_mismatched_sizes", False)
        model, loading_info = super().from_pretrained(*args, output_loading_info=True, **kwargs)
        is_encoder = not hasattr(model, "hubert")
        allowed = {"missing_keys": new_head, "unexpected_keys": is_encoder, "mismatched_keys": new_head}
        problems = {}
        for kind, head_is_allowed in allowed.items():
            keys = [key if isinstance(key, str) else key[0] for key in loading_info.get(kind) or ()]
            keys = sorted(key for key in keys if not (head_is_allowed and _is_head_key(key)))
            if keys:
                problems[kind.replace("_", " ")] = keys
        if problems:
            config = model.config
            details = "; ".join(f"{kind}: {', '.join(keys[:6])}{' ...' * (len(keys) > 6)}"
                                for kind, keys in problems.items())
            if any(_LAYER_KEY.search(key) for keys in problems.values() for key in keys):
                raise ValueError(
                    f"the checkpoint's encoder layers do not match its config ({config.num_hidden_layers} layers = "
                    f"{config.num_source_layers} originals x (1 + {config.num_copies_per_layer} copies), "
                    f"original_layer_gates={config.original_layer_gates}): {details}"
                )
            raise ValueError(f"the checkpoint's weights do not fit the {cls.__name__} model: {details}")
        model._apply_config_freezing()  # loading replaces the parameters, and with them requires_grad
        return (model, loading_info) if wants_loading_info else model

    def save_pretrained(self, save_directory, *args, **kwargs):
        """As `PreTrainedModel.save_pretrained`, with an `auto_map` naming exactly this file's classes (the folder
        loads with `trust_remote_code=True` where this package is not installed) and, where the folder has none, a
        default `preprocessor_config.json` (for `pipeline("audio-classification", ...)`; an existing one is kept)."""
        if self._auto_class is not None:  # the remote-code files are copied: point every Auto class at them
            self.config.auto_map = dict(AUTO_MAP)
        super().save_pretrained(save_directory, *args, **kwargs)
        is_main_process = kwargs.get("is_main_process", True)
        if is_main_process and not os.path.exists(os.path.join(save_directory, FEATURE_EXTRACTOR_FILE)):
            default_feature_extractor(self.config).save_pretrained(save_directory)

    def _apply_config_freezing(self):
        base = self.hubert if hasattr(self, "hubert") else self
        if self.config.freeze_feature_encoder:
            base.feature_extractor._freeze_parameters()
        base._set_original_layers_trainable(not self.config.freeze_original_layers)
        if self.config.num_labels == 0 and hasattr(self, "classifier"):  # empty: DDP would wait for its gradient
            self.classifier.requires_grad_(False)

    def freeze_feature_encoder(self):
        """No gradient for the CNN feature encoder (the paper's setting); recorded in the config."""
        self.config.freeze_feature_encoder = True
        self._apply_config_freezing()

    def freeze_original_layers(self):
        """No gradient for the original encoder layers (and their gates); copies keep training."""
        self.config.freeze_original_layers = True
        self._apply_config_freezing()

    def unfreeze_original_layers(self):
        """Train the original layers too (the paper's "Non-Frozen" ablation)."""
        self.config.freeze_original_layers = False
        self._apply_config_freezing()

    def recompute_frozen_layers(self, enabled: bool = True):
        """Keep no activations of the frozen original layers for backward; recompute them there instead. Backward
        still runs through them (the copies below need the gradient), and with attention dropout SDPA's math path
        keeps the attention matrices: at larger batches these activations dominate memory. Recomputing costs one
        extra forward pass of the originals and gives the same gradients (dropout masks are replayed)."""
        if enabled and not self.config.freeze_original_layers:
            raise ValueError("the original layers are trained; use gradient_checkpointing_enable() to recompute all layers")
        base = self.hubert if hasattr(self, "hubert") else self
        recompute = partial(checkpoint, use_reentrant=False)
        for layer in base.encoder.layers:
            if not layer.is_copy:
                layer.gradient_checkpointing = enabled
                layer._gradient_checkpointing_func = recompute

    def trainable_parameter_summary(self) -> dict:
        """Parameter counts `{group: (trainable, total)}` for the feature encoder, the original layers, the
        copies, the gates, the classification head and the rest (feature projection, positional conv
        embedding, encoder layer norm, masked-spec embedding), plus "all"."""
        summary = {}
        for name, parameter in self.named_parameters():
            group = _parameter_group(name, self.config)
            trainable, total = summary.get(group, (0, 0))
            summary[group] = (trainable + parameter.numel() * parameter.requires_grad, total + parameter.numel())
        summary["all"] = tuple(map(sum, zip(*summary.values())))
        return summary

    def print_trainable_parameters(self) -> None:
        for group, (trainable, total) in self.trainable_parameter_summary().items():
            print(f"{group:>16}: {trainable:>13,} trainable of {total:>13,} ({100 * trainable / max(total, 1):.2f} %)")


def _parameter_group(name: str, config: ExHubertConfig) -> str:
    if "feature_extractor." in name:
        return "feature encoder"
    layer = _LAYER_KEY.search(name)
    if layer is None:
        return "head" if _is_head_key(name) else "other"
    if ".gate." in name:
        return "gates"
    return "copies" if config.is_copy(int(layer.group(1))) else "original layers"


def _is_head_key(name: str) -> bool:
    """Whether a parameter of the classifier belongs to its head (not to the encoder)."""
    return name.split(".")[0] in HEAD_MODULES


class ExHubertModel(ExHubertPreTrainedModel, HubertModel):
    """The ExHuBERT encoder: the source family's feature encoder and projection, then the expanded transformer."""

    def __init__(self, config: ExHubertConfig):
        # Mirrors HubertModel.__init__ of transformers 5.24 (tests/test_drift.py) with the expanded encoder (calling
        # it would build a second, plain encoder first) and the source family's feature encoder and projection.
        ExHubertPreTrainedModel.__init__(self, config)
        self.config = config
        family = _SOURCE_FAMILIES[config.source_model_type]
        self.feature_extractor = family["feature_encoder"](config)
        self.feature_projection = family["feature_projection"](config)
        if config.mask_time_prob > 0.0 or config.mask_feature_prob > 0.0:
            self.masked_spec_embed = nn.Parameter(torch.Tensor(config.hidden_size).uniform_())
        encoder_class = ExHubertEncoderStableLayerNorm if config.do_stable_layer_norm else ExHubertEncoder
        self.encoder = encoder_class(config)
        self.post_init()
        self._apply_config_freezing()

    def _set_original_layers_trainable(self, trainable: bool):
        for layer in self.encoder.layers:
            if not layer.is_copy:
                layer.requires_grad_(trainable)


class ExHubertForSequenceClassification(ExHubertPreTrainedModel, HubertForSequenceClassification):
    """ExHuBERT with HuBERT's classification head: projector, masked mean pooling over time, classifier
    (optionally over a learned weighted sum of all layers' hidden states). `forward(labels=...)` returns
    the cross-entropy loss, so the Trainer works unchanged. With `config.dimensions`, a regression head on the
    same pooled output (`dimension_regressor`, a linear map and a sigmoid) predicts them in [0, 1]."""

    def __init__(self, config: ExHubertConfig):
        # Mirrors HubertForSequenceClassification.__init__ of transformers 5.24 (tests/test_drift.py).
        ExHubertPreTrainedModel.__init__(self, config)
        self.hubert = ExHubertModel(config)
        if config.use_weighted_layer_sum:
            num_hidden_states = config.num_hidden_layers + 1
            self.layer_weights = nn.Parameter(torch.ones(num_hidden_states) / num_hidden_states)
        self.projector = nn.Linear(config.hidden_size, config.classifier_proj_size)
        with warnings.catch_warnings():  # the empty classifier of a model without classes (num_labels=0)
            warnings.filterwarnings("ignore", message="Initializing zero-element tensors is a no-op")
            self.classifier = nn.Linear(config.classifier_proj_size, config.num_labels)
        if config.dimensions:
            self.dimension_regressor = nn.Linear(config.classifier_proj_size, len(config.dimensions))
        self.post_init()
        self._apply_config_freezing()

    @can_return_tuple
    @filter_output_hidden_states
    def forward(self, input_values, attention_mask=None, labels=None, dimension_targets=None, **kwargs):
        """HubertForSequenceClassification.forward of transformers 5.24 (tests/test_drift.py) with the dimensional
        head; `dimension_targets`: (batch, dimensions) in [0, 1], NaN where unknown. Loss: cross-entropy (`labels`, if
        the model has classes) + dimension_loss_weight x `concordance_loss` (over this process's part of the batch)."""
        if self.config.use_weighted_layer_sum:
            kwargs["output_hidden_states"] = True
        outputs = self.hubert(input_values, attention_mask=attention_mask, **kwargs)
        if self.config.use_weighted_layer_sum:
            hidden_states = torch.stack(outputs.hidden_states, dim=1)
            norm_weights = nn.functional.softmax(self.layer_weights, dim=-1)
            hidden_states = (hidden_states * norm_weights.view(-1, 1, 1)).sum(dim=1)
        else:
            hidden_states = outputs.last_hidden_state
        hidden_states = self.projector(hidden_states)
        if attention_mask is None:
            pooled_output = hidden_states.mean(dim=1)
        else:
            padding_mask = self._get_feature_vector_attention_mask(hidden_states.shape[1], attention_mask)
            expand_padding_mask = padding_mask.unsqueeze(-1).repeat(1, 1, hidden_states.shape[2])
            hidden_states[~expand_padding_mask] = 0.0
            pooled_output = hidden_states.sum(dim=1) / padding_mask.sum(dim=1).view(-1, 1)
        logits = self.classifier(pooled_output)
        dimensions = torch.sigmoid(self.dimension_regressor(pooled_output)) if self.config.dimensions else None
        loss = None
        if labels is not None and self.config.num_labels > 0:
            loss = nn.functional.cross_entropy(logits.view(-1, self.config.num_labels), labels.view(-1))
        if dimension_targets is not None and dimensions is not None:
            concordance = self.config.dimension_loss_weight * concordance_loss(dimensions, dimension_targets)
            loss = concordance if loss is None else loss + concordance
        return ExHubertClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                        attentions=outputs.attentions, dimensions=dimensions)  # fmt: skip

    @classmethod
    def from_hubert(
        cls,
        source,
        num_copies_per_layer: int = 1,
        freeze_original_layers: bool = True,
        freeze_feature_encoder: bool = True,
        original_layer_gates: bool = False,
        num_labels: int | None = None,
        id2label: dict | None = None,
        revision: str | None = None,
        **config_overrides,
    ) -> "ExHubertForSequenceClassification":
        """Block expansion of a HuBERT, wav2vec 2.0 or data2vec-audio encoder: `source` is a model of one of these
        families (`HubertModel`, `Wav2Vec2ForSequenceClassification`, `Data2VecAudioForCTC`, or any model built on
        such a base model), or a folder / Hub id holding one (`revision` pins a commit; an architecture other than the
        family's base, sequence-classification or CTC model loads as the base model). Each encoder layer is followed
        by `num_copies_per_layer` copies, each `h + gate(copy(h))` with a zero gate, so the result computes what the
        source computes, with its feature encoder, projection and positional embedding (`config.source_model_type`
        names the family; SpecAugment in training follows HubertModel's). The source's `...ForSequenceClassification`
        head is kept unless `num_labels` / `id2label` ask for another (six placeholder labels `LABEL_i` are taken to
        be the ExHuBERT classes); else a new head is initialised (the six classes by default; `num_labels=0`: none),
        as is a dimensional head (`dimensions=[...]` among `config_overrides`)."""
        source = _load_source(source, revision)
        family = _expandable_family(source)
        if num_copies_per_layer < 1:
            raise ValueError(f"num_copies_per_layer must be at least 1, got {num_copies_per_layer}")
        source_config = source.config
        keeps_head = isinstance(source, family["sequence_classification"]) and (
            id2label is None and (num_labels is None or num_labels == source_config.num_labels)
        )
        num_labels = source_config.num_labels if keeps_head else num_labels
        placeholder_labels = all(label == f"LABEL_{index}" for index, label in source_config.id2label.items())
        labels = {}
        if not keeps_head or placeholder_labels:
            six = num_labels in (None, len(EXHUBERT_LABELS))
            new_labels = dict(enumerate(EXHUBERT_LABELS)) if six else {i: f"LABEL_{i}" for i in range(num_labels)}
            labels.update(id2label=id2label or new_labels, label2id=None)
        if not keeps_head:
            labels["problem_type"] = None  # the source's (e.g. "regression") describes the head left behind
        expansion = dict(num_copies_per_layer=num_copies_per_layer, freeze_original_layers=freeze_original_layers,
                         freeze_feature_encoder=freeze_feature_encoder, original_layer_gates=original_layer_gates)
        config = ExHubertConfig.from_hubert_config(source_config, **expansion, **{**labels, **config_overrides})
        config._attn_implementation = source_config._attn_implementation
        model = cls(config).to(dtype=source.dtype)
        model.load_state_dict(_expanded_state_dict(source, model, keeps_head), strict=True)
        return model.train(source.training)


def _expanded_layer_weights(layer_weights: torch.Tensor, num_copies_per_layer: int) -> torch.Tensor:
    """Weighted-layer-sum logits for the expanded hidden states. At expansion the 1 + num_copies_per_layer
    states of a source layer are equal, so giving each the source logit minus log(1 + num_copies_per_layer)
    keeps the softmax mass of every source layer, and the weighted sum, unchanged."""
    block = 1 + num_copies_per_layer
    per_layer = layer_weights[1:] - torch.log(torch.tensor(float(block), dtype=layer_weights.dtype))
    return torch.cat([layer_weights[:1], per_layer.repeat_interleave(block)])


def _load_source(source, revision):
    """`source` itself, or the model a folder / Hub id holds (its config is read as data first: no code runs)."""
    if not isinstance(source, (str, os.PathLike)):
        return source
    if looks_like_local_path(source) and not os.path.exists(os.path.expanduser(source)):
        raise FileNotFoundError(f"{os.fspath(source)}: folder not found")
    config, _ = PreTrainedConfig.get_config_dict(source, revision=revision)
    model_type = config.get("model_type")
    if model_type not in _SOURCE_FAMILIES:
        raise not_expandable_error(f"{source}, which holds a {model_type!r} model", model_type)
    family = _SOURCE_FAMILIES[model_type]
    by_name = {cls.__name__: cls for cls in (family["base_model"], family["sequence_classification"], family["ctc"])}
    # Any other architecture (pre-training, a custom head such as audeering's regression head) loads as the base
    # model: its encoder is all that expansion takes.
    model_class = by_name.get((config.get("architectures") or [""])[0], family["base_model"])
    return model_class.from_pretrained(source, revision=revision)


def _expandable_family(source) -> dict:
    """The family of `source`, a model whose base model is a HuBERT, wav2vec2 or data2vec-audio model that expansion
    reproduces exactly; else an error naming what differs."""
    model_type = getattr(getattr(source, "config", None), "model_type", None)
    family = _SOURCE_FAMILIES.get(model_type)
    if family is None or not isinstance(getattr(source, "base_model", None), family["base_model"]):
        kind = f" (model type {model_type!r})" if model_type else ""
        raise not_expandable_error(f"{type(source).__name__}{kind}", model_type)
    if getattr(source.config, "add_adapter", False):
        raise ValueError(
            f"this {type(source).__name__} cannot be expanded exactly: its adapter after the encoder "
            "(add_adapter=True, convolutions that downsample the encoder output) has no counterpart in ExHuBERT"
        )
    return family


def _expanded_state_dict(source: nn.Module, model: "ExHubertForSequenceClassification", keeps_head: bool) -> dict:
    """The expanded model's full state dict: source weights at their new layer indices (each copy shares its
    original's tensor here; `load_state_dict` copies them into separate parameters), gates at their initial
    values, head from the source or as freshly initialised."""
    config = model.config
    source_state = source.state_dict()
    prefix = "" if source.base_model is source else f"{source.base_model_prefix}."
    expanded = {}
    for key, tensor in source_state.items():
        if not key.startswith(prefix):
            continue  # a head: taken below when kept, else the CTC head that a classifier has no use for
        key = "hubert." + key[len(prefix) :]
        layer = _LAYER_KEY.search(key)
        if layer is None:
            expanded[key] = tensor
            continue
        source_index = int(layer.group(1))
        start, end = layer.span(1)
        first = source_index * (1 + config.num_copies_per_layer)
        for new_index in range(first, first + 1 + config.num_copies_per_layer):
            expanded[key[:start] + str(new_index) + key[end:]] = tensor  # load_state_dict copies
    head_source, head_prefix = (source_state, prefix) if keeps_head else (model.state_dict(), "hubert.")
    for key, tensor in head_source.items():
        if not key.startswith(head_prefix):
            expanded[key] = tensor
    # no source family has a dimensional head: it starts as initialised
    expanded.update((key, tensor) for key, tensor in model.state_dict().items() if key.startswith("dimension_"))
    if keeps_head and "layer_weights" in source_state:
        expanded["layer_weights"] = _expanded_layer_weights(source_state["layer_weights"], config.num_copies_per_layer)
    for name, module in model.named_modules():
        if isinstance(module, ExHubertGate):
            module.reset_to_initial()
            expanded[f"{name}.weight"] = module.weight.detach()
            expanded[f"{name}.bias"] = module.bias.detach()
    expected = set(model.state_dict())
    unplaced, lacking = sorted(set(expanded) - expected), sorted(expected - set(expanded))
    if unplaced or lacking:
        raise ValueError(
            f"this {type(source).__name__} cannot be expanded exactly: its weights differ from those of a "
            f"{config.source_model_type} encoder (with the expanded names: weights with no place in ExHuBERT "
            f"{unplaced[:6]}, weights it lacks {lacking[:6]})"
        )
    return expanded


__all__ = [
    "AUTO_MAP",
    "ExHubertClassifierOutput",
    "ExHubertForSequenceClassification",
    "ExHubertModel",
    "ExHubertPreTrainedModel",
    "concordance_loss",
    "default_feature_extractor",
    "looks_like_local_path",
]
