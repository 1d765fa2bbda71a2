"""Exact pycls complexity (flops, params, acts) of AnyNetX genomes, without building a network.

Counting conventions (pycls's `complexity` functions, `pycls/models/blocks.py`), which
`docs/space.md` restates:
- flops are multiply-adds. A k x k conv from w_in to w_out channels with g groups at output size
  h x w costs k*k*w_in*w_out*h*w / g; a bias (only the head's FC has one) adds w_out*h*w.
- params are learned weights: conv and FC weights, the FC bias, and 2 per batch-norm channel
  (gamma and beta; running statistics are buffers, not parameters). Batch norm costs no flops.
- acts count the output elements of every conv and FC layer (batch norm, ReLU, the residual
  addition and the average pool add none).
- Output size of a conv with stride s on an h x h input is (h - 1) // s + 1 (3x3 convs pad 1).

The network, in the order its module runs (torchvision's RegNet, which is pycls's AnyNetX):
stem (3x3 conv, stride 2 or 1 for the "small" stem, + BN + ReLU) -> stages of X blocks -> head
(global average pool + FC with bias). An X block is 1x1 conv -> 3x3 group conv (stage stride on
the first block) -> 1x1 conv, each followed by BN, plus a 1x1 strided conv + BN projection on the
shortcut when the width or the resolution changes.

`anynetx_complexity` follows that structure one layer at a time; `anynetx_complexity_arrays` is
the same arithmetic in closed form over numpy arrays of genomes (the sampler's hot path). Tests
check the two agree exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from proxystore.space.genome import Genome


@dataclass(frozen=True)
class Complexity:
    """flops (multiply-adds), params and acts of a network at one resolution and class count."""

    flops: int
    params: int
    acts: int

    def as_dict(self) -> dict[str, int]:
        """Return {"flops", "params", "acts"} as plain ints."""
        return asdict(self)


# A running count, as in pycls: spatial size h x w of the current tensor plus the three totals.
Cx = dict[str, int]


def conv2d_cx(cx: Cx, w_in: int, w_out: int, k: int, *, stride: int = 1, groups: int = 1,
              bias: bool = False) -> Cx:
    """Add a k x k conv (odd k, padding k // 2) to the running count."""
    h, w = (cx["h"] - 1) // stride + 1, (cx["w"] - 1) // stride + 1
    flops = k * k * w_in * w_out * h * w // groups + (w_out * h * w if bias else 0)
    params = k * k * w_in * w_out // groups + (w_out if bias else 0)
    return {"h": h, "w": w, "flops": cx["flops"] + flops, "params": cx["params"] + params,
            "acts": cx["acts"] + w_out * h * w}


def norm2d_cx(cx: Cx, w_in: int) -> Cx:
    """Add a batch norm: 2 parameters per channel, no flops or acts."""
    return {**cx, "params": cx["params"] + 2 * w_in}


def gap2d_cx(cx: Cx) -> Cx:
    """Add a global average pool: the spatial size becomes 1 x 1, nothing counted."""
    return {**cx, "h": 1, "w": 1}


def linear_cx(cx: Cx, w_in: int, w_out: int, *, bias: bool = False) -> Cx:
    """Add a fully connected layer."""
    return {**cx, "flops": cx["flops"] + w_in * w_out + (w_out if bias else 0),
            "params": cx["params"] + w_in * w_out + (w_out if bias else 0),
            "acts": cx["acts"] + w_out}


def stem_cx(cx: Cx, in_channels: int, stem_width: int, stem_type: str) -> Cx:
    """Stem: 3x3 conv (stride 2, or 1 for the small stem) + BN + ReLU."""
    cx = conv2d_cx(cx, in_channels, stem_width, 3, stride=1 if stem_type == "small" else 2)
    return norm2d_cx(cx, stem_width)


def bottleneck_transform_cx(cx: Cx, w_in: int, w_out: int, stride: int,
                            bottleneck_ratio: int | float, group_width: int) -> Cx:
    """X block body: 1x1 conv + BN, 3x3 group conv + BN (stride here), 1x1 conv + BN."""
    w_b = int(round(w_out / bottleneck_ratio))
    groups = w_b // group_width
    cx = norm2d_cx(conv2d_cx(cx, w_in, w_b, 1), w_b)
    cx = norm2d_cx(conv2d_cx(cx, w_b, w_b, 3, stride=stride, groups=groups), w_b)
    return norm2d_cx(conv2d_cx(cx, w_b, w_out, 1), w_out)


def res_bottleneck_block_cx(cx: Cx, w_in: int, w_out: int, stride: int,
                            bottleneck_ratio: int | float, group_width: int) -> Cx:
    """X block: projection shortcut (when shape changes) in parallel with the transform."""
    if w_in != w_out or stride != 1:
        h, w = cx["h"], cx["w"]
        cx = norm2d_cx(conv2d_cx(cx, w_in, w_out, 1, stride=stride), w_out)
        cx = {**cx, "h": h, "w": w}  # the shortcut is a parallel branch from the same input
    return bottleneck_transform_cx(cx, w_in, w_out, stride, bottleneck_ratio, group_width)


def stage_cx(cx: Cx, w_in: int, w_out: int, stride: int, depth: int,
             bottleneck_ratio: int | float, group_width: int) -> Cx:
    """A stage: `depth` X blocks, only the first one changing width and resolution."""
    for i in range(depth):
        cx = res_bottleneck_block_cx(cx, w_in if i == 0 else w_out, w_out,
                                     stride if i == 0 else 1, bottleneck_ratio, group_width)
    return cx


def head_cx(cx: Cx, w_in: int, num_classes: int) -> Cx:
    """Head: global average pool + FC with bias."""
    return linear_cx(gap2d_cx(cx), w_in, num_classes, bias=True)


def anynetx_complexity(genome: Genome, image_size: int, num_classes: int,
                       in_channels: int = 3) -> Complexity:
    """Return pycls's flops, params and acts of `genome` on square images, layer by layer.

    Args:
        genome: a valid AnyNetX genome.
        image_size: input height and width in pixels.
        num_classes: outputs of the head.
        in_channels: input channels (3 for RGB, 1 for grey).
    """
    genome.validate()
    cx: Cx = {"h": int(image_size), "w": int(image_size), "flops": 0, "params": 0, "acts": 0}
    cx = stem_cx(cx, int(in_channels), genome.stem_width, genome.stem_type)
    w_in = genome.stem_width
    for d, w, b, g, s in zip(genome.depths, genome.widths, genome.bottleneck_ratios,
                             genome.group_widths, genome.strides, strict=True):
        cx = stage_cx(cx, w_in, w, s, d, b, g)
        w_in = w
    cx = head_cx(cx, w_in, int(num_classes))
    return Complexity(flops=cx["flops"], params=cx["params"], acts=cx["acts"])


INT64_MAX = int(np.iinfo(np.int64).max)


def _bound(d: np.ndarray, w: np.ndarray, w_b: np.ndarray, g: np.ndarray, stem: np.ndarray,
           area: int, in_channels: int, num_classes: int) -> int:
    """An upper bound (Python int) on every flops, params and acts count and partial sum of the
    closed form below, from the largest depth, width, bottleneck and group width present."""
    def top(a: np.ndarray) -> int:
        return int(np.max(a, initial=0))

    width, inner, group = max(top(w), top(stem)), top(w_b), top(g)
    blocks = d.shape[1] * top(d) if d.ndim == 2 else 0
    # Any one block (projection included): its 1x1, 3x3 and 1x1 convs, shortcut and norms.
    block = 3 * width * inner + 9 * inner * group + width * width + 4 * inner + 4 * width
    return ((area + 1) * (9 * in_channels * width + 2 * width + blocks * block)
            + (width + 1) * num_classes)


def _stage(w_in: np.ndarray, h_in: np.ndarray, wi: np.ndarray, wbi: np.ndarray, gi: np.ndarray,
           di: np.ndarray, si: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(flops, params, acts, output size) of one stage for every genome, elementwise."""
    h_out = (h_in - 1) // si + 1
    area_in, area = h_in * h_in, h_out * h_out
    # First block: 1x1 at the input resolution, 3x3 (stride) and 1x1 at the output one.
    flops = w_in * wbi * area_in + 9 * wbi * gi * area + wbi * wi * area
    params = w_in * wbi + 9 * wbi * gi + wbi * wi + 4 * wbi + 2 * wi
    acts = wbi * area_in + wbi * area + wi * area
    proj = (w_in != wi) | (si != 1)
    flops = flops + proj * (w_in * wi * area)
    params = params + proj * (w_in * wi + 2 * wi)
    acts = acts + proj * (wi * area)
    # The other d - 1 blocks: width wi in and out, stride 1, no projection.
    rest = di - 1
    flops = flops + rest * (2 * wi * wbi + 9 * wbi * gi) * area
    params = params + rest * (2 * wi * wbi + 9 * wbi * gi + 4 * wbi + 2 * wi)
    acts = acts + rest * (2 * wbi + wi) * area
    return flops, params, acts, h_out


def anynetx_complexity_arrays(
    depths: npt.ArrayLike,
    widths: npt.ArrayLike,
    bottleneck_ratios: npt.ArrayLike,
    group_widths: npt.ArrayLike,
    strides: npt.ArrayLike,
    *,
    stem_width: npt.ArrayLike = 32,
    stem_type: str = "standard",
    image_size: int = 224,
    num_classes: int = 1000,
    in_channels: int = 3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (flops, params, acts) arrays for N genomes given as (N, S) stage arrays.

    The closed form of `anynetx_complexity` (same conventions, exactly equal results) so the
    sampler can score millions of candidates at once. Genomes must be valid. The arrays are
    int64 when the largest count these genomes could reach fits in one; otherwise (the genome
    bounds at thousands of pixels reach 1e22 flops) they hold Python ints, slower but exact,
    never a silently wrapped int64.

    Args:
        depths: (N, S) ints, blocks per stage.
        widths: (N, S) ints, stage widths.
        bottleneck_ratios: (N, S) numbers, b_i with bottleneck width w_i / b_i.
        group_widths: (N, S) ints.
        strides: (S,) or (N, S) ints.
        stem_width: an int or (N,) ints.
        stem_type: "standard" (stride 2) or "small" (stride 1).
        image_size: input height and width.
        num_classes: outputs of the head.
        in_channels: input channels.
    """
    d = np.asarray(depths, dtype=np.int64)
    w = np.asarray(widths, dtype=np.int64)
    w_b = np.rint(w / np.asarray(bottleneck_ratios, dtype=np.float64)).astype(np.int64)
    g = np.asarray(group_widths, dtype=np.int64)
    s = np.broadcast_to(np.asarray(strides, dtype=np.int64), d.shape)
    n = d.shape[0]
    w_in = np.broadcast_to(np.asarray(stem_width, dtype=np.int64), (n,))
    h = (int(image_size) - 1) // (1 if stem_type == "small" else 2) + 1
    hh = np.full(n, h * h, dtype=np.int64)
    h_in = np.full(n, h, dtype=np.int64)
    if _bound(d, w, w_b, g, w_in, h * h, int(in_channels), int(num_classes)) > INT64_MAX:
        d, w, w_b, g, s, w_in = (a.astype(object) for a in (d, w, w_b, g, s, w_in))
        hh, h_in = hh.astype(object), h_in.astype(object)
    flops = 9 * int(in_channels) * w_in * hh
    params = 9 * int(in_channels) * w_in + 2 * w_in
    acts = w_in * hh
    for i in range(d.shape[1]):
        wi = w[:, i]
        f, p, a, h_out = _stage(w_in, h_in, wi, w_b[:, i], g[:, i], d[:, i], s[:, i])
        flops, params, acts = flops + f, params + p, acts + a
        w_in, h_in = wi, h_out
    flops = flops + w_in * int(num_classes) + int(num_classes)
    params = params + w_in * int(num_classes) + int(num_classes)
    acts = acts + int(num_classes)
    return flops, params, acts
