"""Image features: the offline pretrained backbone (ImageNet EfficientNet-Lite0), its ONNX
Runtime engine (and ONNX files at their lowest level: the exporter of torch modules,
sessions, metadata, which the model export also uses) and the embedding cache keyed by
image content. A service of its own: the lite0 model, the fine-tuned backbone, the
audit's label model, the stress test's "none of these" distance and the studio all read
it."""

from ._backbone import (ARCH, DEFAULT_SIZE, MEAN, STD, Embedder, EmbeddingCache, build_backbone, cache_dir, describe,
                        embed, weights_file)
from ._embedding import PROBE_C, embedding_features, probe, train_views
from ._onnx_files import OPSET, read_onnx_meta, session_of, torch_to_onnx

__all__ = ["ARCH", "DEFAULT_SIZE", "MEAN", "STD", "Embedder", "EmbeddingCache", "PROBE_C", "build_backbone", "cache_dir",
           "describe", "embed", "embedding_features", "probe", "train_views", "weights_file", "OPSET", "read_onnx_meta",
           "session_of", "torch_to_onnx"]
