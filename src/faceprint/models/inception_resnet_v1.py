"""The FaceNet Inception-ResNet-v1 network in PyTorch (its Keras HDF5 weights are read by `models._keras_h5`).

Architecture (Szegedy et al. 2016, as trained by David Sandberg's facenet, model 20170512-110547, and exported
to Keras 2.1 by nyoki-mtk/keras-facenet as ``facenet_keras.h5``), for a 160x160 RGB input:

* per-image standardisation (facenet's ``prewhiten``): ``(x - mean) / max(std, 1/sqrt(n))`` over all
  ``n = 3*160*160`` values of each image, population std;
* stem: 3x3/2 conv 32 (valid) -> 3x3 conv 32 (valid) -> 3x3 conv 64 (same) -> 3x3/2 max pool -> 1x1 conv 80
  -> 3x3 conv 192 (valid) -> 3x3/2 conv 256 (valid): 17x17x256;
* 5x Block35 (scale 0.17), Mixed_6a (reduction A): 8x8x896;
* 10x Block17 (scale 0.10), Mixed_7a (reduction B): 3x3x1792;
* 5x Block8 (scale 0.20) and a final Block8 with scale 1.0 and no activation;
* global average pool, dropout (p 0.2, inactive at inference), 128-d Linear without bias, BatchNorm1d;
* the Keras model ends there; `InceptionResnetV1` L2-normalises the 128-d output.

The network takes standardised input; `prewhiten` is applied outside it (faceprint.models.facenet.preprocess),
so that training code and the embedder share one preprocessing function.

Every convolution except the up-projections of the residual blocks has no bias and is followed by batch norm
without a learned scale (Keras ``scale=False``: only beta, moving mean and moving variance are stored), with
``epsilon=0.001`` and Keras ``momentum=0.995`` (PyTorch momentum 0.005), then ReLU.

Padding: Keras ``valid`` is no padding. Keras/TensorFlow ``same`` pads ``max(k - s, 0)`` (stride-1) or
``max((ceil(n/s) - 1) * s + k - n, 0)`` pixels in total, the smaller half before (top/left) and the larger after
(bottom/right). In this network every ``same`` convolution has stride 1 and an odd kernel, so the padding is
symmetric and is done by the convolution itself; `TFConv2d` still handles the general, asymmetric case with an
explicit ``F.pad``.

Module names follow facenet-pytorch (``conv2d_1a``, ``repeat_1``, ``mixed_6a``, ``block8``, ``last_linear``,
``last_bn``), which follows facenet's TensorFlow scopes; `faceprint.models._keras_h5.keras_layer_map` lists which
Keras layer fills which module.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "BN_EPS",
    "BN_MOMENTUM",
    "INPUT_SIZE",
    "EMBEDDING_DIM",
    "InceptionResnetV1",
    "TFConv2d",
    "prewhiten",
    "tf_same_padding",
]

INPUT_SIZE = 160
EMBEDDING_DIM = 128
BN_EPS = 1e-3
BN_MOMENTUM = 1.0 - 0.995
"""PyTorch's momentum is the weight of the new batch statistic; Keras's 0.995 is the weight of the old one."""


def prewhiten(x: torch.Tensor) -> torch.Tensor:
    """facenet's per-image standardisation of a (N, ...) batch: zero mean, unit std, std floored at 1/sqrt(n).

    Works on any layout (NCHW or NHWC): the statistics are over all values of each image.
    """
    flat = x.reshape(x.shape[0], -1)
    n = flat.shape[1]
    mean = flat.mean(dim=1, keepdim=True)
    std = flat.std(dim=1, unbiased=False, keepdim=True).clamp(min=1.0 / math.sqrt(n))
    return ((flat - mean) / std).reshape(x.shape)


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding of TensorFlow's 'same' mode along one axis: the larger half goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class TFConv2d(nn.Conv2d):
    """nn.Conv2d with Keras padding semantics: padding='valid' or 'same' (TensorFlow's, asymmetric if need be)."""

    def __init__(
        self, in_ch: int, out_ch: int, kernel_size: int | tuple[int, int], stride: int = 1, padding: str = "valid", bias: bool = False
    ) -> None:
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
        # stride 1 with an odd kernel: TF's 'same' is symmetric, the convolution pads by itself
        self.symmetric = padding == "valid" or (stride == 1 and kh % 2 == 1 and kw % 2 == 1)
        pad = (0, 0) if padding == "valid" or not self.symmetric else (kh // 2, kw // 2)
        super().__init__(in_ch, out_ch, (kh, kw), stride=stride, padding=pad, bias=bias)
        self.tf_padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.symmetric:
            top, bottom = tf_same_padding(x.shape[-2], self.kernel_size[0], self.stride[0])
            left, right = tf_same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


class _NoScaleBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm with a learned shift (beta) but no learned scale (Keras scale=False): gamma is fixed at 1."""

    def __init__(self, num_features: int) -> None:
        super().__init__(num_features, eps=BN_EPS, momentum=BN_MOMENTUM, affine=False)
        self.bias = nn.Parameter(torch.zeros(num_features))


class BatchNorm2dNoScale(_NoScaleBatchNorm):
    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() != 4:
            raise ValueError(f"expected 4D input (got {input.dim()}D input)")


class BatchNorm1dNoScale(_NoScaleBatchNorm):
    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() != 2:
            raise ValueError(f"expected 2D input (got {input.dim()}D input)")


class BasicConv2d(nn.Module):
    """Conv (no bias) -> batch norm without scale -> ReLU: facenet's slim.conv2d with batch_norm."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int | tuple[int, int], stride: int = 1, padding: str = "same") -> None:
        super().__init__()
        self.conv = TFConv2d(in_ch, out_ch, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = BatchNorm2dNoScale(out_ch)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class Block35(nn.Module):
    """Inception-ResNet-A on the 17x17x256 grid."""

    def __init__(self, scale: float = 0.17) -> None:
        super().__init__()
        self.scale = scale
        self.branch0 = BasicConv2d(256, 32, 1)
        self.branch1 = nn.Sequential(BasicConv2d(256, 32, 1), BasicConv2d(32, 32, 3))
        self.branch2 = nn.Sequential(BasicConv2d(256, 32, 1), BasicConv2d(32, 32, 3), BasicConv2d(32, 32, 3))
        self.conv2d = TFConv2d(96, 256, 1, padding="same", bias=True)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = self.conv2d(torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1))
        return self.relu(x + self.scale * up)


class Block17(nn.Module):
    """Inception-ResNet-B on the 8x8x896 grid."""

    def __init__(self, scale: float = 0.10) -> None:
        super().__init__()
        self.scale = scale
        self.branch0 = BasicConv2d(896, 128, 1)
        self.branch1 = nn.Sequential(BasicConv2d(896, 128, 1), BasicConv2d(128, 128, (1, 7)), BasicConv2d(128, 128, (7, 1)))
        self.conv2d = TFConv2d(256, 896, 1, padding="same", bias=True)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = self.conv2d(torch.cat((self.branch0(x), self.branch1(x)), 1))
        return self.relu(x + self.scale * up)


class Block8(nn.Module):
    """Inception-ResNet-C on the 3x3x1792 grid; the last one has scale 1.0 and no ReLU."""

    def __init__(self, scale: float = 0.20, activation: bool = True) -> None:
        super().__init__()
        self.scale = scale
        self.activation = activation
        self.branch0 = BasicConv2d(1792, 192, 1)
        self.branch1 = nn.Sequential(BasicConv2d(1792, 192, 1), BasicConv2d(192, 192, (1, 3)), BasicConv2d(192, 192, (3, 1)))
        self.conv2d = TFConv2d(384, 1792, 1, padding="same", bias=True)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = self.conv2d(torch.cat((self.branch0(x), self.branch1(x)), 1))
        out = x + self.scale * up
        return self.relu(out) if self.activation else out


class Mixed6a(nn.Module):
    """Reduction A: 17x17x256 -> 8x8x896."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = BasicConv2d(256, 384, 3, stride=2, padding="valid")
        self.branch1 = nn.Sequential(
            BasicConv2d(256, 192, 1), BasicConv2d(192, 192, 3), BasicConv2d(192, 256, 3, stride=2, padding="valid")
        )
        self.branch2 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)


class Mixed7a(nn.Module):
    """Reduction B: 8x8x896 -> 3x3x1792."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = nn.Sequential(BasicConv2d(896, 256, 1), BasicConv2d(256, 384, 3, stride=2, padding="valid"))
        self.branch1 = nn.Sequential(BasicConv2d(896, 256, 1), BasicConv2d(256, 256, 3, stride=2, padding="valid"))
        self.branch2 = nn.Sequential(
            BasicConv2d(896, 256, 1), BasicConv2d(256, 256, 3), BasicConv2d(256, 256, 3, stride=2, padding="valid")
        )
        self.branch3 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)), 1)


class InceptionResnetV1(nn.Module):
    """FaceNet Inception-ResNet-v1: (N, 3, 160, 160) standardised RGB in (see `prewhiten`), (N, 128) out.

    Args:
        normalize: L2-normalise the output (the Keras model stops at the bottleneck batch norm).
        dropout: dropout probability before the bottleneck (only active in training mode).

    >>> net = InceptionResnetV1().eval()
    >>> net(prewhiten(torch.rand(2, 3, 160, 160))).shape
    torch.Size([2, 128])
    """

    def __init__(self, normalize: bool = True, dropout: float = 0.2) -> None:
        super().__init__()
        self.normalize = normalize
        self.conv2d_1a = BasicConv2d(3, 32, 3, stride=2, padding="valid")
        self.conv2d_2a = BasicConv2d(32, 32, 3, padding="valid")
        self.conv2d_2b = BasicConv2d(32, 64, 3, padding="same")
        self.maxpool_3a = nn.MaxPool2d(3, stride=2)
        self.conv2d_3b = BasicConv2d(64, 80, 1, padding="valid")
        self.conv2d_4a = BasicConv2d(80, 192, 3, padding="valid")
        self.conv2d_4b = BasicConv2d(192, 256, 3, stride=2, padding="valid")
        self.repeat_1 = nn.Sequential(*[Block35(scale=0.17) for _ in range(5)])
        self.mixed_6a = Mixed6a()
        self.repeat_2 = nn.Sequential(*[Block17(scale=0.10) for _ in range(10)])
        self.mixed_7a = Mixed7a()
        self.repeat_3 = nn.Sequential(*[Block8(scale=0.20) for _ in range(5)])
        self.block8 = Block8(scale=1.0, activation=False)
        self.avgpool_1a = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.last_linear = nn.Linear(1792, EMBEDDING_DIM, bias=False)
        self.last_bn = BatchNorm1dNoScale(EMBEDDING_DIM)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised input -> the 17x17x256 grid fed to the first Block35."""
        x = self.conv2d_2b(self.conv2d_2a(self.conv2d_1a(x)))
        x = self.maxpool_3a(x)
        return self.conv2d_4b(self.conv2d_4a(self.conv2d_3b(x)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised input -> the 1792-d pooled features."""
        x = self.stem(x)
        x = self.mixed_6a(self.repeat_1(x))
        x = self.mixed_7a(self.repeat_2(x))
        x = self.block8(self.repeat_3(x))
        return self.avgpool_1a(x).flatten(1)

    def bottleneck(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised input -> the 128-d bottleneck after its batch norm (the Keras model's output)."""
        return self.last_bn(self.last_linear(self.dropout(self.features(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bottleneck(x)
        return F.normalize(x, p=2.0, dim=1) if self.normalize else x
