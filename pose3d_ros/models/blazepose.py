"""BlazePose's person detector and landmark model as deployed modules of the project.

The networks are Google's (MediaPipe Pose, Apache-2.0; fetched by
pose3d_ros.models.blazepose_release); pose3d_ros.models.tflite_graph runs their .tflite graphs
with PyTorch operators, and these wrappers give them the project's network interface: an `image`
input (B, 3, S, S) RGB in [0, 1] like the other image networks, named outputs
(pose3d_ros.inference.networks), activations applied, and only the outputs the pipeline reads
(the landmark model's segmentation decoder is left out, so it never runs).
"""
import torch
from torch import nn

from pose3d_ros.inference.networks import DETECTOR_INPUT, LANDMARK_INPUT
from pose3d_ros.models.tflite_graph import load_tflite_graph

NUM_LANDMARK_OUTPUTS = 39  # 33 landmarks, 2 that place the next ROI, 4 unused
# The release's output tensors: detector (regressions, score logits); landmark model (landmarks,
# pose presence, heatmaps, world landmarks; Identity_2 is the segmentation mask).
DETECTOR_OUTPUTS = ('Identity', 'Identity_1')
LANDMARK_OUTPUTS = ('Identity', 'Identity_1', 'Identity_3', 'Identity_4')


class BlazePoseDetector(nn.Module):
    """image (B, 3, 224, 224) in [0, 1] (the whole frame, letterboxed) -> regressions (B, 2254, 12):
    per SSD anchor the face box centre and size and 4 body keypoints, in input pixels relative to
    the anchor; scores (B, 2254): probability of a person."""

    input_size = DETECTOR_INPUT

    def __init__(self, graph):
        super().__init__()
        self.tflite = graph  # not `graph`: torch.export's modules have their own `graph`

    def forward(self, image):
        regressions, logits = self.tflite(image * 2 - 1)  # the detector takes [-1, 1]
        return regressions, torch.sigmoid(logits.clamp(-100, 100))[..., 0]


class BlazePoseLandmarks(nn.Module):
    """image (B, 3, 256, 256) in [0, 1] (a person's rotated crop) -> landmarks (B, 39, 5): x, y, z
    in input pixels, visibility and presence probabilities; presence (B,): probability that a
    person is in the crop; heatmaps (B, 39, 64, 64) logits; world_landmarks (B, 39, 3): metres
    around the hip centre, in the crop's axes."""

    input_size = LANDMARK_INPUT

    def __init__(self, graph):
        super().__init__()
        self.tflite = graph

    def forward(self, image):
        landmarks, presence, heatmaps, world = self.tflite(image)
        landmarks = landmarks.reshape(-1, NUM_LANDMARK_OUTPUTS, 5)
        landmarks = torch.cat([landmarks[..., :3], torch.sigmoid(landmarks[..., 3:])], dim=-1)
        return landmarks, presence[:, 0], heatmaps, world.reshape(-1, NUM_LANDMARK_OUTPUTS, 3)


def load_blazepose(kind, path):
    """`blazepose_detector` or `blazepose_landmarks` from a release .tflite file."""
    if kind == 'blazepose_detector':
        return BlazePoseDetector(load_tflite_graph(path, DETECTOR_OUTPUTS)).eval()
    if kind == 'blazepose_landmarks':
        return BlazePoseLandmarks(load_tflite_graph(path, LANDMARK_OUTPUTS)).eval()
    raise ValueError(f'BlazePose network kind must be blazepose_detector or blazepose_landmarks, got {kind!r}')
