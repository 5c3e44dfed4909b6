"""Large pretrained audio encoders as feature extractors: MERT, OpenJMLA, any local
Hugging Face audio model.

Weights are never downloaded: each backbone reads a local folder, by default
``$RECLASS_BACKBONES_DIR/<name>`` (``RECLASS_BACKBONES_DIR`` defaults to
``<data dir>/backbones``), and says what is missing and where to put it when the
folder is incomplete. Registered extractor names (``--features``):

``mert``        MERT-v1-95M  (folder ``MERT-v1-95M``; ``RECLASS_MERT_DIR`` overrides)
``mert-330m``   MERT-v1-330M (folder ``MERT-v1-330M``; ``RECLASS_MERT_330M_DIR``)
``openjmla``    OpenJMLA's ViT audio encoder (folder ``OpenJMLA``; ``RECLASS_OPENJMLA_DIR``)
``hf:PATH``     a Hugging Face audio model saved in folder PATH (no remote code is run)

Each gives one vector per track: the mean over time of every hidden layer, then a
weighted mean over layers (uniform by default, as the learnable layer weights of MERT's
probes start; ``layer_weights`` or ``layers`` choose others). ``transformers`` is an
optional dependency: ``pip install 'music-reclass[backbones]'``.
"""

from __future__ import annotations

__all__ = ["backbones_dir"]

from music_reclass.features.backbones.common import backbones_dir
