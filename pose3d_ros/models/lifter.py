"""2D-to-3D lifters and their checkpoints.

- `baseline`: the residual MLP of Martinez et al. 2017 (2D joints -> 3D pose).
- `dpnet`: DRPose3D's DPNet. DepthNet turns the N x N ranking matrix into a coarse depth O (the
  normalized depth order); PoseNet's first stage regresses the pose from the 2D joints and O and
  its second stage regresses a residual on top. With `depthnet: false` it is the paper's ablation
  that feeds the ranking matrix straight to PoseNet.
- `ordinal`: Ordinal Depth Supervision's reconstruction component (Pavlakos et al. 2018, 3.4): a
  depth head reads the ranking matrix and outputs one ordinal depth z_i per joint (trained with the
  ordinal ranking loss, so only its order means anything), and a residual MLP reconstructs the 3D
  pose from the 2D joints and z.

Inputs: the DETECTED_JOINTS' undistorted normalized image coordinates (x/z, y/z; intrinsics-free)
and, except for `baseline`, the ranking matrix M over the same joints (M_ij = 1 when joint i is
behind joint j, 0 in front, 0.5 tie; probabilities work too). Output: NON_ROOT_JOINTS relative to
the root, camera optical frame, standardized; `to_millimetres` gives (B, 17, 3) mm with the root
at the origin. The normalization statistics are buffers, so they travel in every checkpoint.
"""

import torch
from torch import nn

from pose3d_ros.models.checkpoint import build_model, load_checkpoint
from pose3d_ros.skeleton import DETECTED_FLIP_PERMUTATION, DETECTED_JOINTS, FLIP_PERMUTATION, NON_ROOT_JOINTS, ROOT

CHECKPOINT_FORMAT = 'pose3d_ros.lifter/1'
NUM_INPUT_JOINTS = len(DETECTED_JOINTS)
NUM_OUTPUT_JOINTS = len(NON_ROOT_JOINTS)
_ROOT_FIRST_TO_JOINT_ORDER = torch.tensor([ROOT, *NON_ROOT_JOINTS]).argsort()


class ResidualMLP(nn.Module):
    """Linear -> `blocks` residual blocks of two (linear, batch norm, ReLU, dropout) -> linear."""

    def __init__(self, inputs, outputs, width, blocks, dropout):
        super().__init__()

        def layer(size_in):
            return [nn.Linear(size_in, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Dropout(dropout)]

        self.stem = nn.Sequential(*layer(inputs))
        self.blocks = nn.ModuleList(nn.Sequential(*layer(width), *layer(width)) for _ in range(blocks))
        self.head = nn.Linear(width, outputs)

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = x + block(x)
        return self.head(x)


class Lifter(nn.Module):
    """Common part: normalization buffers and the conversion back to millimetres."""

    uses_ranking = True

    def __init__(self):
        super().__init__()
        self.register_buffer('input_mean', torch.zeros(NUM_INPUT_JOINTS * 2))
        self.register_buffer('input_std', torch.ones(NUM_INPUT_JOINTS * 2))
        self.register_buffer('target_mean', torch.zeros(NUM_OUTPUT_JOINTS * 3))
        self.register_buffer('target_std', torch.ones(NUM_OUTPUT_JOINTS * 3))

    def set_normalization(self, input_mean, input_std, target_mean, target_std):
        for name, value in (('input_mean', input_mean), ('input_std', input_std),
                            ('target_mean', target_mean), ('target_std', target_std)):
            buffer = getattr(self, name)
            buffer.copy_(torch.as_tensor(value, dtype=buffer.dtype).reshape(buffer.shape))

    def _joints(self, joints_2d):
        return (joints_2d.flatten(1) - self.input_mean) / self.input_std

    @staticmethod
    def _ranking(ranking):
        # M in {0, 0.5, 1} -> {-1, 0, 1}: ties and the diagonal carry no signal.
        return (2 * ranking - 1).flatten(1)

    def to_millimetres(self, standardized):
        """(B, 48) standardized output -> (B, 17, 3) mm, root at the origin."""
        relative = (standardized * self.target_std + self.target_mean).unflatten(1, (NUM_OUTPUT_JOINTS, 3))
        # Prepend the root's zeros and gather into joint order: no batch size in the graph (ONNX export).
        return nn.functional.pad(relative, (0, 0, 1, 0))[:, _ROOT_FIRST_TO_JOINT_ORDER]

    def standardize_targets(self, poses_mm):
        """(B, 17, 3) root-relative poses (mm) -> (B, 48) standardized regression targets."""
        relative = poses_mm - poses_mm[:, ROOT:ROOT + 1]
        return (relative[:, NON_ROOT_JOINTS].reshape(len(poses_mm), -1) - self.target_mean) / self.target_std

    def predict(self, joints_2d, ranking=None, mirror_average=False):
        """Forward pass -> (B, 17, 3) mm (for inference, put the model in eval mode first).

        mirror_average: also lift the mirrored input (a mirrored camera: x -> -x, left and right
        swap) and average the two poses, the test-time flip of VideoPose3D; one batch of 2B.
        """
        if not mirror_average:
            return self.to_millimetres(self(joints_2d, ranking)['pose'])
        mirrored_joints = joints_2d[:, DETECTED_FLIP_PERMUTATION] * joints_2d.new_tensor([-1, 1])
        if ranking is not None:
            mirrored_ranking = ranking[:, DETECTED_FLIP_PERMUTATION][:, :, DETECTED_FLIP_PERMUTATION]
            ranking = torch.cat([ranking, mirrored_ranking])
        poses = self.to_millimetres(self(torch.cat([joints_2d, mirrored_joints]), ranking)['pose'])
        direct, mirrored = poses.unflatten(0, (2, -1)).unbind()
        return (direct + mirrored[:, FLIP_PERMUTATION] * direct.new_tensor([-1, 1, 1])) / 2


class BaselineLifter(Lifter):
    """Martinez et al. 2017: 2D joints -> 3D pose."""

    uses_ranking = False

    def __init__(self, width=1024, blocks=2, dropout=0.5):
        super().__init__()
        self.net = ResidualMLP(NUM_INPUT_JOINTS * 2, NUM_OUTPUT_JOINTS * 3, width, blocks, dropout)

    def forward(self, joints_2d, ranking=None):
        pose = self.net(self._joints(joints_2d))
        return {'pose': pose, 'stages': [pose]}


class DPNet(Lifter):
    """DRPose3D's DPNet (section 3.2); depthnet=False is the "w/o DepthNet" ablation."""

    def __init__(self, width=1024, blocks=2, dropout=0.3, depthnet=True, depthnet_width=None):
        super().__init__()
        joints, outputs = NUM_INPUT_JOINTS, NUM_OUTPUT_JOINTS * 3
        self.depthnet = (ResidualMLP(joints * joints, joints, depthnet_width or width, blocks, dropout)
                         if depthnet else None)
        depth_features = joints if depthnet else joints * joints
        self.stage1 = ResidualMLP(joints * 2 + depth_features, outputs, width, blocks, dropout)
        self.stage2 = ResidualMLP(joints * 2 + depth_features + outputs, outputs, width, blocks, dropout)

    def forward(self, joints_2d, ranking):
        features = self._ranking(ranking)
        result = {}
        if self.depthnet is not None:
            features = result['coarse_depth'] = self.depthnet(features)
        x = torch.cat([self._joints(joints_2d), features], dim=1)
        first = self.stage1(x)
        pose = first + self.stage2(torch.cat([x, first], dim=1))
        result.update(pose=pose, stages=[first, pose])
        return result


class OrdinalLifter(Lifter):
    """Pavlakos et al. 2018's reconstruction component fed by ordinal depths read from M."""

    def __init__(self, width=1024, blocks=2, dropout=0.5, depth_width=None):
        super().__init__()
        joints = NUM_INPUT_JOINTS
        self.depth_head = ResidualMLP(joints * joints, joints, depth_width or width, blocks, dropout)
        self.reconstruction = ResidualMLP(joints * 3, NUM_OUTPUT_JOINTS * 3, width, blocks, dropout)

    def forward(self, joints_2d, ranking):
        depths = self.depth_head(self._ranking(ranking))
        # Only the order of z is learned; standardizing it per pose hands the reconstruction
        # an input of fixed scale whatever margin the ranking loss settled on.
        depths_in = (depths - depths.mean(1, keepdim=True)) / (depths.std(1, keepdim=True) + 1e-6)
        pose = self.reconstruction(torch.cat([self._joints(joints_2d), depths_in], dim=1))
        return {'pose': pose, 'stages': [pose], 'ordinal_depth': depths}


class LifterInference(nn.Module):
    """The lifter as deployed: joints_2d [, ranking] -> (B, 17, 3) mm, mirror-averaged."""

    def __init__(self, lifter):
        super().__init__()
        self.lifter = lifter

    def forward(self, joints_2d, ranking=None):
        return self.lifter.predict(joints_2d, ranking, mirror_average=True)


LIFTERS = {'baseline': BaselineLifter, 'dpnet': DPNet, 'ordinal': OrdinalLifter}


def build_lifter(spec):
    """{'type': one of LIFTERS, **constructor arguments} -> a Lifter."""
    return build_model(LIFTERS, spec)


def load_lifter(path, device='cpu'):
    """Read a lifter checkpoint (training's or a shipped one) -> (Lifter in eval mode, checkpoint).

    Anything that is not such a checkpoint raises ValueError naming the file and what is wrong.
    """
    return load_checkpoint(path, CHECKPOINT_FORMAT, build_lifter, ('model', 'state_dict', 'data'), device)
