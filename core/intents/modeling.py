"""A BERT sequence classifier that classifies the mean of the token vectors.

``BertForSequenceClassification`` classifies BERT's pooler output: the ``[CLS]`` vector through
a dense + tanh layer pre-trained for next-sentence prediction. The bundled all-MiniLM-L6-v2 was
trained as a sentence encoder with *mean pooling*, so its ``[CLS]`` vector is not a sentence
summary and its pooler never saw sentence-embedding training. Classifying the mean-pooled
vector instead starts fine-tuning from the very features the sentence model was trained to make
(the same ones the frozen-embedding baseline uses), which is what lets fine-tuning improve on
that baseline rather than first re-learn a summary in ``[CLS]``.

The model is a normal transformers model: it has its own config type (``packdesk-bert-mean``)
registered with ``AutoConfig`` and ``AutoModelForSequenceClassification`` when this module is
imported, so a saved directory loads with ``AutoModelForSequenceClassification.from_pretrained``
and base BERT weights load into it by path (the pooler weights are simply not used).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification, BertConfig
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.models.bert.modeling_bert import BertModel, BertPreTrainedModel

POOLINGS = ("mean", "cls")


class BertMeanPoolingConfig(BertConfig):
    """BertConfig under its own model type, so the Auto classes pick the mean-pooling head."""

    model_type = "packdesk-bert-mean"


class BertMeanPoolingForSequenceClassification(BertPreTrainedModel):
    """BERT encoder, attention-masked mean of the last hidden states, dropout, linear head."""

    config_class = BertMeanPoolingConfig

    def __init__(self, config: BertMeanPoolingConfig) -> None:
        super().__init__(config)
        self.num_labels = int(config.num_labels)  # type: ignore[arg-type]  # set by the caller
        self.bert = BertModel(config, add_pooling_layer=False)
        dropout = config.classifier_dropout
        self.dropout = nn.Dropout(config.hidden_dropout_prob if dropout is None else dropout)
        self.classifier = nn.Linear(config.hidden_size, self.num_labels)
        self.post_init()

    def pooled(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """The sentence vector the head classifies: the mean over the non-padding tokens."""
        hidden = self.bert(
            input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
            return_dict=True, **kwargs,
        ).last_hidden_state
        if attention_mask is None:
            return hidden.mean(dim=1)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> SequenceClassifierOutput:
        kwargs.pop("return_dict", None)
        kwargs.pop("num_items_in_batch", None)  # the Trainer passes it for its own loss
        logits = self.classifier(self.dropout(
            self.pooled(input_ids, attention_mask, token_type_ids, **kwargs)
        ))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))
        return SequenceClassifierOutput(loss=loss, logits=logits)


AutoConfig.register(BertMeanPoolingConfig.model_type, BertMeanPoolingConfig, exist_ok=True)
AutoModelForSequenceClassification.register(
    BertMeanPoolingConfig, BertMeanPoolingForSequenceClassification, exist_ok=True
)


def load_for_training(base_model: str, pooling: str, **config_overrides: Any) -> Any:
    """A classifier for fine-tuning from BERT weights at ``base_model``, by path.

    ``mean`` loads :class:`BertMeanPoolingForSequenceClassification` through
    ``AutoModelForSequenceClassification`` (the config type selects it); ``cls`` is transformers'
    own ``BertForSequenceClassification``.
    """
    if pooling == "mean":
        config = BertMeanPoolingConfig.from_pretrained(base_model, **config_overrides)
        return AutoModelForSequenceClassification.from_pretrained(base_model, config=config)
    return AutoModelForSequenceClassification.from_pretrained(base_model, **config_overrides)


def pooled_features(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The vectors ``model``'s classification head sees, for fitting a linear probe."""
    if isinstance(model, BertMeanPoolingForSequenceClassification):
        return model.pooled(**batch)
    return model.base_model(**batch).pooler_output
