"""OpenFace's nn4.small2 network in PyTorch: 96x96 RGB in [0, 1] -> 128-d L2-normalised embedding.

The layer list follows OpenFace's ``models/openface/nn4.small2.def.lua`` (Brandon Amos, 2016; FaceNet's NN4
with inception 4b-4d removed and smaller 5 layers), with dpnn's ``nn.Inception`` blocks (``batchNorm = true``):

* stem: 7x7/2 conv 64 + BN + ReLU, 3x3/2 max pool (pad 1), cross-map LRN (size 5, alpha 1e-4, beta 0.75, k 1),
  1x1 conv 64 + BN + ReLU, 3x3 conv 192 + BN + ReLU, LRN, 3x3/2 max pool (pad 1): 192 x 12 x 12;
* every inception block concatenates, in this order, its k x k columns (1x1 reduce + BN + ReLU, then k x k conv
  with padding k // 2 + BN + ReLU), its pooling column (pool, then an optional 1x1 projection + BN + ReLU) and
  an optional 1x1 column. Columns whose output is smaller are zero-padded to the largest, placed at offset
  floor((H - h) / 2) as Torch's ``nn.DepthConcat`` does;
* 3a (192 -> 256, 12x12): 3x3 96->128, 5x5 16->32, 3x3/2 max pool -> 32, 1x1 64;
* 3b (256 -> 320): 3x3 96->128, 5x5 32->64, 3x3/3 L2 pool -> 64, 1x1 64;
* 3c (320 -> 640, 6x6): 3x3/2 128->256, 5x5/2 32->64, 3x3/2 max pool (no projection);
* 4a (640 -> 640): 3x3 96->192, 5x5 32->64, 3x3/3 L2 pool -> 128, 1x1 256;
* 4e (640 -> 1024, 3x3): 3x3/2 160->256, 5x5/2 64->128, 3x3/2 max pool (no projection);
* 5a (1024 -> 736): 3x3 96->384, 3x3/3 L2 pool -> 96, 1x1 256;
* 5b (736 -> 736): 3x3 96->384, 3x3/2 max pool -> 96, 1x1 256;
* 3x3 average pool, linear 736 -> 128, L2 normalisation.

3,733,968 parameters (the count in the .def.lua header). L2 pooling is Torch's ``nn.SpatialLPPooling(p=2)``:
sqrt of the 3x3 sum of squares. Batch norm uses Torch's eps 1e-5. Module registration order equals the order of
the layers in Torch's module tree, so `parameter_layers` lines up with a depth-first walk of the .t7 file.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "INPUT_SIZE",
    "EMBEDDING_DIM",
    "NUM_PARAMETERS",
    "BN_EPS",
    "NN4Small2",
    "ConvBNReLU",
    "InceptionBlock",
    "L2Pool2d",
    "depth_concat",
    "state_shapes",
]

INPUT_SIZE = 96
EMBEDDING_DIM = 128
NUM_PARAMETERS = 3_733_968
"""Trainable parameters of nn4.small2 with a 128-d embedding, as stated in OpenFace's nn4.small2.def.lua."""
BN_EPS = 1e-5
"""Torch7's SpatialBatchNormalization default eps."""


class ConvBNReLU(nn.Module):
    """Convolution (with bias, as Torch's SpatialConvolution) + batch norm + ReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=padding, bias=True)
        self.bn = nn.BatchNorm2d(out_ch, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class L2Pool2d(nn.Module):
    """Power-2 pooling (Torch's SpatialLPPooling with p = 2): sqrt of the sum of squares in each window.

    The sum is floored at 1e-30 before the square root so that all-zero windows (common after ReLU and
    zero padding) give a finite gradient instead of NaN; the output there is 1e-15 instead of 0.
    """

    def __init__(self, kernel: int = 3, stride: int | None = None) -> None:
        super().__init__()
        self.kernel = kernel
        self.stride = stride or kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.avg_pool2d(x * x, self.kernel, self.stride) * float(self.kernel * self.kernel)
        return s.clamp_min(1e-30).sqrt()

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}"


def depth_concat(outputs: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate (N, C_i, H_i, W_i) maps on channels, zero-padding smaller ones as Torch's nn.DepthConcat.

    A map smaller than the largest is placed at offset floor((H - h) / 2) (and likewise for the width).
    """
    h = max(o.shape[2] for o in outputs)
    w = max(o.shape[3] for o in outputs)
    padded = []
    for o in outputs:
        dh, dw = h - o.shape[2], w - o.shape[3]
        if dh or dw:
            top, left = dh // 2, dw // 2
            o = F.pad(o, (left, dw - left, top, dh - top))
        padded.append(o)
    return torch.cat(padded, dim=1)


class InceptionBlock(nn.Module):
    """dpnn's nn.Inception with batch norm: k x k columns, a pooling column, an optional 1x1 column.

    Args:
        in_ch: input channels.
        convs: one (kernel, reduce_channels, out_channels, stride) per k x k column, in Torch's order.
        pool: the pooling layer of the pooling column.
        pool_proj: output channels of the 1x1 projection after the pool, or None for none.
        proj_1x1: output channels of the plain 1x1 column, or None for none.
    """

    def __init__(
        self,
        in_ch: int,
        convs: tuple[tuple[int, int, int, int], ...],
        pool: nn.Module,
        pool_proj: int | None,
        proj_1x1: int | None,
    ) -> None:
        super().__init__()
        self.out_channels = 0
        self.columns = nn.ModuleDict()
        for kernel, reduce, out, stride in convs:
            self.columns[f"{kernel}x{kernel}"] = nn.Sequential(
                OrderedDict(
                    reduce=ConvBNReLU(in_ch, reduce, 1),
                    conv=ConvBNReLU(reduce, out, kernel, stride=stride, padding=kernel // 2),
                )
            )
            self.out_channels += out
        pool_layers: OrderedDict[str, nn.Module] = OrderedDict(pool=pool)
        if pool_proj is not None:
            pool_layers["proj"] = ConvBNReLU(in_ch, pool_proj, 1)
        self.columns["pool"] = nn.Sequential(pool_layers)
        self.out_channels += pool_proj if pool_proj is not None else in_ch
        if proj_1x1 is not None:
            self.columns["1x1"] = ConvBNReLU(in_ch, proj_1x1, 1)
            self.out_channels += proj_1x1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return depth_concat([column(x) for column in self.columns.values()])


class NN4Small2(nn.Module):
    """OpenFace nn4.small2: (N, 3, 96, 96) float RGB in [0, 1] -> (N, 128) unit-length embeddings.

    Built untrained (PyTorch's default initialisation) for training; load pretrained weights with
    `faceprint.models.openface.load_weights` (OpenFace .t7 or the Keras-OpenFace CSV directory).

    >>> net = NN4Small2().eval()
    >>> net(torch.rand(2, 3, 96, 96)).shape
    torch.Size([2, 128])
    """

    def __init__(self, embedding_dim: int = EMBEDDING_DIM) -> None:
        super().__init__()
        self.conv1 = ConvBNReLU(3, 64, 7, stride=2, padding=3)
        self.pool1 = nn.MaxPool2d(3, stride=2, padding=1)
        self.lrn1 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)
        self.conv2 = ConvBNReLU(64, 64, 1)
        self.conv3 = ConvBNReLU(64, 192, 3, padding=1)
        self.lrn2 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)
        self.pool2 = nn.MaxPool2d(3, stride=2, padding=1)
        self.inception_3a = InceptionBlock(192, ((3, 96, 128, 1), (5, 16, 32, 1)), nn.MaxPool2d(3, 2), 32, 64)
        self.inception_3b = InceptionBlock(256, ((3, 96, 128, 1), (5, 32, 64, 1)), L2Pool2d(3), 64, 64)
        self.inception_3c = InceptionBlock(320, ((3, 128, 256, 2), (5, 32, 64, 2)), nn.MaxPool2d(3, 2), None, None)
        self.inception_4a = InceptionBlock(640, ((3, 96, 192, 1), (5, 32, 64, 1)), L2Pool2d(3), 128, 256)
        self.inception_4e = InceptionBlock(640, ((3, 160, 256, 2), (5, 64, 128, 2)), nn.MaxPool2d(3, 2), None, None)
        self.inception_5a = InceptionBlock(1024, ((3, 96, 384, 1),), L2Pool2d(3), 96, 256)
        self.inception_5b = InceptionBlock(736, ((3, 96, 384, 1),), nn.MaxPool2d(3, 2), 96, 256)
        self.avgpool = nn.AvgPool2d(3)
        self.linear = nn.Linear(736, embedding_dim)
        self.embedding_dim = embedding_dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 736-d pooled features before the embedding layer, (N, 736)."""
        if x.ndim != 4 or x.shape[1:] != (3, INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"NN4Small2 takes (N, 3, {INPUT_SIZE}, {INPUT_SIZE}) input, got {tuple(x.shape)}")
        x = self.lrn1(self.pool1(self.conv1(x)))
        x = self.pool2(self.lrn2(self.conv3(self.conv2(x))))
        for block in (
            self.inception_3a,
            self.inception_3b,
            self.inception_3c,
            self.inception_4a,
            self.inception_4e,
            self.inception_5a,
            self.inception_5b,
        ):
            x = block(x)
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.linear(self.features(x)), p=2.0, dim=1)

    def parameter_layers(self) -> Iterator[tuple[str, nn.Module]]:
        """(module path, module) of every Conv2d, BatchNorm2d and Linear, in Torch's module order."""
        for name, module in self.named_modules():
            if isinstance(module, (nn.Conv2d, nn.BatchNorm2d, nn.Linear)):
                yield name, module


@lru_cache(maxsize=1)
def state_shapes() -> dict[str, tuple[int, ...]]:
    """Shape of every parameter and running statistic of nn4.small2, by state-dict key."""
    return {k: tuple(v.shape) for k, v in NN4Small2().state_dict().items() if not k.endswith("num_batches_tracked")}
