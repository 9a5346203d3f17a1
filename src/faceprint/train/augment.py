"""Batch augmentation in plain torch (no torchvision): horizontal flip, small affine jitter, colour jitter.

Works on a whole batch at once on the training device. The random draws come from a CPU `torch.Generator`, so
a seeded run augments the same way on a CPU and on a GPU.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

__all__ = ["Augmentation"]


@dataclass(frozen=True)
class Augmentation:
    """How much to jitter each training crop.

    Attributes:
        flip: probability of a horizontal flip.
        rotate: maximum rotation, degrees (uniform in [-rotate, rotate]).
        scale: maximum relative zoom (uniform in [1 - scale, 1 + scale]).
        shift: maximum translation as a fraction of the crop side, per axis.
        brightness, contrast, saturation: maximum relative change of each (uniform factor in [1 - v, 1 + v]).

    >>> aug = Augmentation()
    >>> aug(torch.rand(4, 96, 96, 3) * 255, torch.Generator().manual_seed(0)).shape
    torch.Size([4, 96, 96, 3])
    """

    flip: float = 0.5
    rotate: float = 10.0
    scale: float = 0.08
    shift: float = 0.06
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def __call__(self, crops: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Jitter a float batch (N, S, S, 3) of RGB values in 0..255; returns the same layout and range."""
        n = crops.shape[0]
        x = crops.permute(0, 3, 1, 2)
        x = self._affine(x, n, gen)
        x = self._colour(x, n, gen)
        return x.clamp(0.0, 255.0).permute(0, 2, 3, 1).contiguous()

    def _uniform(self, n: int, half_width: float, gen: torch.Generator, device: torch.device) -> torch.Tensor:
        return ((torch.rand(n, generator=gen) * 2.0 - 1.0) * half_width).to(device)

    def _affine(self, x: torch.Tensor, n: int, gen: torch.Generator) -> torch.Tensor:
        dev = x.device
        angle = self._uniform(n, math.radians(self.rotate), gen, dev)
        zoom = 1.0 + self._uniform(n, self.scale, gen, dev)
        tx = self._uniform(n, 2.0 * self.shift, gen, dev)  # affine_grid coordinates span [-1, 1]
        ty = self._uniform(n, 2.0 * self.shift, gen, dev)
        flip = (torch.rand(n, generator=gen) < self.flip).to(dev)
        sx = torch.where(flip, -1.0, 1.0) / zoom
        cos, sin = torch.cos(angle), torch.sin(angle)
        # theta maps output coordinates to input coordinates: rotate, zoom (1/zoom), mirror, shift
        theta = torch.stack(
            [
                torch.stack([cos * sx, -sin / zoom, tx], dim=1),
                torch.stack([sin * sx, cos / zoom, ty], dim=1),
            ],
            dim=1,
        ).to(x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    def _colour(self, x: torch.Tensor, n: int, gen: torch.Generator) -> torch.Tensor:
        dev = x.device
        shape = (n, 1, 1, 1)
        b = (1.0 + self._uniform(n, self.brightness, gen, dev)).view(shape).to(x.dtype)
        c = (1.0 + self._uniform(n, self.contrast, gen, dev)).view(shape).to(x.dtype)
        s = (1.0 + self._uniform(n, self.saturation, gen, dev)).view(shape).to(x.dtype)
        x = x * b
        grey = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
        x = (x - grey.mean(dim=(2, 3), keepdim=True)) * c + grey.mean(dim=(2, 3), keepdim=True)
        grey = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
        return (x - grey) * s + grey
