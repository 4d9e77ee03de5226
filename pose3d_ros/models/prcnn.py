"""PRCNN (DRPose3D section 3.1): image + joint heatmaps -> one depth score per joint.

A ResNet (BasicBlock, the 18 / 34 layouts; written here because torchvision does not import
beside this torch) reads the RGB crop concatenated with the hourglass heatmaps upsampled to the
crop size (3 + J channels) and outputs one scalar F_i per joint. P_ij = sigmoid(F_i - F_j) is
the probability that joint i is behind joint j (pose3d_ros.ranking: M_ij = 1 means behind);
training applies binary cross-entropy to F_i - F_j against the ground-truth ranking.
"""
import torch
from torch import nn
from torch.nn import functional

from pose3d_ros.models.checkpoint import build_model, load_checkpoint
from pose3d_ros.models.hourglass import IMAGE_MEAN, IMAGE_STD
from pose3d_ros.skeleton import DETECTED_JOINTS

CHECKPOINT_FORMAT = 'pose3d_ros.prcnn/1'
LAYOUTS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


class BasicBlock(nn.Module):
    def __init__(self, channels_in, channels_out, stride):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels_in, channels_out, 3, stride, 1, bias=False), nn.BatchNorm2d(channels_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels_out, channels_out, 3, 1, 1, bias=False), nn.BatchNorm2d(channels_out))
        self.skip = nn.Identity()
        if stride != 1 or channels_in != channels_out:
            self.skip = nn.Sequential(nn.Conv2d(channels_in, channels_out, 1, stride, bias=False),
                                      nn.BatchNorm2d(channels_out))

    def forward(self, x):
        return functional.relu(self.body(x) + self.skip(x))


class PRCNN(nn.Module):
    def __init__(self, depth=18, width=64, joints=len(DETECTED_JOINTS)):
        super().__init__()
        if depth not in LAYOUTS:
            raise ValueError(f'depth must be one of {sorted(LAYOUTS)}, got {depth!r}')
        if width < 1:
            raise ValueError(f'width must be positive, got {width!r}')
        self.joints = joints
        self.register_buffer('image_mean', torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1))
        self.register_buffer('image_std', torch.tensor(IMAGE_STD).view(1, 3, 1, 1))
        self.stem = nn.Sequential(
            nn.Conv2d(3 + joints, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1))
        stages, channels = [], width
        for index, blocks in enumerate(LAYOUTS[depth]):
            out = width * 2 ** index
            stages += [BasicBlock(channels, out, 1 if index == 0 else 2)]
            stages += [BasicBlock(out, out, 1) for _ in range(blocks - 1)]
            channels = out
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(channels, joints)

    def forward(self, image, heatmaps):
        """(B, 3, S, S) in [0, 1] and (B, J, h, w) heatmaps -> (B, J) depth scores F."""
        heatmaps = functional.interpolate(heatmaps, size=image.shape[-2:], mode='bilinear', align_corners=False)
        x = torch.cat([(image - self.image_mean) / self.image_std, heatmaps], dim=1)
        x = self.stages(self.stem(x))
        return self.head(torch.flatten(functional.adaptive_avg_pool2d(x, 1), 1))


def pair_logits(scores):
    """(B, J) depth scores -> (B, J, J) logits F_i - F_j of 'joint i is behind joint j'."""
    return scores[:, :, None] - scores[:, None, :]


PRCNNS = {'prcnn': PRCNN}


def build_prcnn(spec):
    """{'type': 'prcnn', 'depth': 18 | 34, 'width'} -> PRCNN."""
    return build_model(PRCNNS, spec)


def load_prcnn(path, device='cpu'):
    """Read a PRCNN checkpoint -> (PRCNN in eval mode, checkpoint)."""
    return load_checkpoint(path, CHECKPOINT_FORMAT, build_prcnn, ('model', 'state_dict', 'input_size'), device)
