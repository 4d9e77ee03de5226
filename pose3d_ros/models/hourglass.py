"""The stacked hourglass (Newell et al. 2016): an image crop -> one heatmap per detected joint.

Input: (B, 3, S, S) RGB in [0, 1] (the mean/std normalization is inside the network, so every
backend feeds the same tensor). Output: one (B, J, S/4, S/4) heatmap tensor per stack; the last
is the prediction, the others carry the intermediate supervision. Heatmap pixel (u, v) covers
crop pixels 4u .. 4u + 3 (see pose3d_ros.heatmaps for the coordinate convention).
"""
import torch
from torch import nn
from torch.nn import functional

from pose3d_ros.models.checkpoint import build_model, load_checkpoint
from pose3d_ros.skeleton import DETECTED_JOINTS

CHECKPOINT_FORMAT = 'pose3d_ros.hourglass/1'
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)


class Residual(nn.Module):
    """Pre-activation bottleneck: BN-ReLU-1x1 (half), BN-ReLU-3x3, BN-ReLU-1x1, plus a skip."""

    def __init__(self, channels_in, channels_out):
        super().__init__()
        middle = channels_out // 2
        self.body = nn.Sequential(
            nn.BatchNorm2d(channels_in), nn.ReLU(inplace=True), nn.Conv2d(channels_in, middle, 1),
            nn.BatchNorm2d(middle), nn.ReLU(inplace=True), nn.Conv2d(middle, middle, 3, padding=1),
            nn.BatchNorm2d(middle), nn.ReLU(inplace=True), nn.Conv2d(middle, channels_out, 1))
        self.skip = nn.Identity() if channels_in == channels_out else nn.Conv2d(channels_in, channels_out, 1)

    def forward(self, x):
        return self.body(x) + self.skip(x)


class Hourglass(nn.Module):
    """One hourglass of `depth` halvings: at each scale a skip branch plus down-process-up."""

    def __init__(self, depth, channels):
        super().__init__()
        self.skip = Residual(channels, channels)
        self.down = Residual(channels, channels)
        self.inner = Hourglass(depth - 1, channels) if depth > 1 else Residual(channels, channels)
        self.up = Residual(channels, channels)

    def forward(self, x):
        low = self.up(self.inner(self.down(functional.max_pool2d(x, 2))))
        return self.skip(x) + functional.interpolate(low, scale_factor=2, mode='nearest')


class StackedHourglass(nn.Module):
    def __init__(self, stacks=2, channels=64, depth=4, joints=len(DETECTED_JOINTS)):
        super().__init__()
        if stacks < 1 or channels < 2 or depth < 1:
            raise ValueError(f'stacks, channels and depth must be positive, got {stacks}, {channels}, {depth}')
        self.joints = joints
        self.register_buffer('image_mean', torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1))
        self.register_buffer('image_std', torch.tensor(IMAGE_STD).view(1, 3, 1, 1))
        stem = max(channels // 2, 16)
        # Stride 4 before the first hourglass: a 7x7 stride-2 convolution, then max pooling.
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem, 7, stride=2, padding=3), nn.BatchNorm2d(stem), nn.ReLU(inplace=True),
            Residual(stem, channels), nn.MaxPool2d(2), Residual(channels, channels))
        self.hourglasses = nn.ModuleList(Hourglass(depth, channels) for _ in range(stacks))
        self.features = nn.ModuleList(nn.Sequential(
            Residual(channels, channels), nn.Conv2d(channels, channels, 1), nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True)) for _ in range(stacks))
        self.heads = nn.ModuleList(nn.Conv2d(channels, joints, 1) for _ in range(stacks))
        # Between stacks the features and the heatmaps are mapped back and added (Newell fig. 4).
        self.remap_features = nn.ModuleList(nn.Conv2d(channels, channels, 1) for _ in range(stacks - 1))
        self.remap_heatmaps = nn.ModuleList(nn.Conv2d(joints, channels, 1) for _ in range(stacks - 1))

    def forward(self, image):
        """(B, 3, S, S) in [0, 1] -> list of (B, J, S/4, S/4) heatmaps, one per stack."""
        x = self.stem((image - self.image_mean) / self.image_std)
        heatmaps = []
        for index, (hourglass, features, head) in enumerate(zip(self.hourglasses, self.features, self.heads)):
            y = features(hourglass(x))
            heatmaps.append(head(y))
            if index < len(self.remap_features):
                x = x + self.remap_features[index](y) + self.remap_heatmaps[index](heatmaps[-1])
        return heatmaps


class LastStack(nn.Module):
    """The hourglass as deployed: only the last stack's heatmaps (B, J, S/4, S/4)."""

    def __init__(self, hourglass):
        super().__init__()
        self.hourglass = hourglass

    def forward(self, image):
        return self.hourglass(image)[-1]


HOURGLASSES = {'hourglass': StackedHourglass}


def build_hourglass(spec):
    """{'type': 'hourglass', 'stacks', 'channels', 'depth'} -> StackedHourglass."""
    return build_model(HOURGLASSES, spec)


def load_hourglass(path, device='cpu'):
    """Read a hourglass checkpoint -> (StackedHourglass in eval mode, checkpoint)."""
    return load_checkpoint(path, CHECKPOINT_FORMAT, build_hourglass, ('model', 'state_dict', 'input_size'),
                           device)
