"""A synthetic annotated photo: a person facing the camera, a coloured disc on each LSP joint."""
import cv2
import numpy as np

from pose3d_ros.skeleton import DETECTED_JOINTS, JOINT_NAMES, LSP_JOINT_NAMES
from training.datasets.keypoints import AnnotatedImage, AnnotatedPerson

LSP = {name: k for k, name in enumerate(LSP_JOINT_NAMES)}
DETECTED = {JOINT_NAMES[joint]: k for k, joint in enumerate(DETECTED_JOINTS)}
# A person facing the camera in a 240 x 320 photo: their right side on the image's left.
FACING = dict(r_ankle=(100, 290), r_knee=(102, 240), r_hip=(105, 190), l_hip=(135, 190), l_knee=(138, 240),
              l_ankle=(140, 290), r_wrist=(70, 190), r_elbow=(80, 150), r_shoulder=(95, 110),
              l_shoulder=(145, 110), l_elbow=(160, 150), l_wrist=(170, 190), neck=(120, 100), head_top=(120, 60))


def marker_colour(lsp_index):
    """A distinct colour per LSP joint, far from black (the crop's border)."""
    return tuple(int(value) for value in cv2.cvtColor(np.uint8([[[lsp_index * 12, 255, 255]]]), cv2.COLOR_HSV2RGB)[0, 0])


def photo(tmp_path, annotated=None, name='photo.png'):
    """The FACING person as an AnnotatedImage whose PNG has a coloured disc on each joint."""
    joints = np.array([FACING[name] for name in LSP_JOINT_NAMES], np.float64)
    annotated = np.ones(len(joints), bool) if annotated is None else annotated
    image = np.zeros((320, 240, 3), np.uint8)
    for index, (x, y) in enumerate(joints):
        cv2.circle(image, (int(x), int(y)), 5, marker_colour(index), -1)
    path = tmp_path / name
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return AnnotatedImage(path, [AnnotatedPerson(np.where(annotated[:, None], joints, np.nan), annotated)])
