"""Real photos with annotated 2D joints, in the LSP joint order (skeleton.LSP_JOINT_NAMES):
LSP / LSP Extended (`joints.mat`) and COCO-format keypoint JSON (COCO, CrowdPose, OCHuman).

Joints a dataset does not annotate are NaN with `annotated` False, so every set can be scored
on the joints it has.
"""
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose3d_ros.images import read_rgb
from pose3d_ros.skeleton import LSP_JOINT_NAMES

# LSP Extended as shipped here (im00401-im10000): the project's split, by image number.
LSPET_VALIDATION_FIRST = 8401  # im08401-im10000 (1,600 photos) validate; im00401-im08400 train
UPRIGHT_MAX_LEAN_DEG = 25.0
# COCO-format keypoint names -> LSP joint names (CrowdPose's `head` is the top of the head).
COCO_NAMES = {f'{side}_{part}': f'{side[0]}_{part}' for side in ('left', 'right')
              for part in ('shoulder', 'elbow', 'wrist', 'hip', 'knee', 'ankle')}
COCO_NAMES.update(head='head_top', neck='neck')


@dataclass
class AnnotatedPerson:
    joints: np.ndarray     # (14, 2) pixels, LSP order; NaN where not annotated
    annotated: np.ndarray  # (14,) bool

    def torso_size(self):
        """Distance from a shoulder to the opposite hip (the LSP PCK reference), or NaN."""
        index = {name: k for k, name in enumerate(LSP_JOINT_NAMES)}
        sizes = [np.linalg.norm(self.joints[index[a]] - self.joints[index[b]])
                 for a, b in (('r_shoulder', 'l_hip'), ('l_shoulder', 'r_hip'))
                 if self.annotated[index[a]] and self.annotated[index[b]]]
        return float(np.mean(sizes)) if sizes else float('nan')

    def is_upright(self, max_lean_deg=UPRIGHT_MAX_LEAN_DEG):
        """Standing or walking in the picture: hips, shoulders, knees and ankles annotated, the
        hips-to-shoulders line within max_lean_deg of the image's vertical (head up), and both knees
        and ankles below the hips: the people a robot mostly sees, unlike LSP's acrobats."""
        index = {name: k for k, name in enumerate(LSP_JOINT_NAMES)}
        needed = [index[side + part] for side in ('l_', 'r_') for part in ('hip', 'shoulder', 'knee', 'ankle')]
        if not self.annotated[needed].all():
            return False
        def middle(part):
            return (self.joints[index['l_' + part]] + self.joints[index['r_' + part]]) / 2
        hips, up = middle('hip'), middle('shoulder') - middle('hip')
        lean = np.degrees(np.arctan2(abs(up[0]), -up[1]))
        legs = [self.joints[index[side + part], 1] for side in ('l_', 'r_') for part in ('knee', 'ankle')]
        return bool(lean < max_lean_deg and min(legs) > hips[1])


@dataclass
class AnnotatedImage:
    path: Path
    people: list  # AnnotatedPerson

    def read_image(self):
        """RGB uint8."""
        return read_rgb(self.path)


def _image_number(path):
    return int(path.stem[2:])


def load_lsp(joints_mat, images_dir=None, split='all'):
    """LSP / LSP Extended: `joints` of shape (14, 3, N) (x, y, visible) in joints.mat, the images
    im<number>.jpg in images_dir (default: images/ beside it), in number order, one per column.
    split: all, or train / validation (LSP Extended's split at LSPET_VALIDATION_FIRST).
    Unannotated joints ((0, 0) or not visible) are left out of scoring."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    joints_mat = Path(joints_mat)
    images_dir = Path(images_dir) if images_dir else joints_mat.parent / 'images'
    try:
        joints = np.asarray(loadmat(str(joints_mat))['joints'], np.float64)
    except (OSError, ValueError, KeyError, MatReadError) as error:
        raise ValueError(f'{joints_mat}: cannot read an LSP `joints` matrix ({error!r})') from None
    if joints.ndim != 3 or joints.shape[:2] != (len(LSP_JOINT_NAMES), 3):
        raise ValueError(f'{joints_mat}: `joints` must have shape (14, 3, N), got {joints.shape}')
    paths = sorted(images_dir.glob('im*.jpg'), key=_image_number)
    if len(paths) != joints.shape[2]:
        raise ValueError(f'{images_dir}: {len(paths)} im*.jpg images for {joints.shape[2]} columns of {joints_mat}')
    if split not in ('all', 'train', 'validation'):
        raise ValueError(f'split must be all, train or validation, got {split!r}')
    images = []
    for column, path in enumerate(paths):
        validation = _image_number(path) >= LSPET_VALIDATION_FIRST
        if split != 'all' and validation != (split == 'validation'):
            continue
        xy, visible = joints[:, :2, column], joints[:, 2, column]
        annotated = (visible > 0) & np.any(xy != 0, axis=1)
        images.append(AnnotatedImage(path, [AnnotatedPerson(np.where(annotated[:, None], xy, np.nan), annotated)]))
    return images


def load_coco_keypoints(path, min_keypoints=1):
    """A COCO-format keypoint file (images, annotations with x, y, v triples, categories with the
    keypoint names) -> AnnotatedImage per image, with every non-crowd person that has at least
    min_keypoints labelled joints among the LSP ones (v > 0); images beside the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        names = data['categories'][0]['keypoints']
        files = {image['id']: image['file_name'] for image in data['images']}
        annotations = data['annotations']
    except (OSError, ValueError, KeyError, IndexError, TypeError) as error:
        raise ValueError(f'{path}: not a COCO keypoint file ({error!r})') from None
    lsp_index = {name: k for k, name in enumerate(LSP_JOINT_NAMES)}
    columns = [(position, lsp_index[COCO_NAMES[name]]) for position, name in enumerate(names) if name in COCO_NAMES]
    people = {image_id: [] for image_id in files}
    for number, annotation in enumerate(annotations):
        try:
            triples = np.asarray(annotation['keypoints'], np.float64).reshape(len(names), 3)
            image_id, crowd = annotation['image_id'], annotation.get('iscrowd', 0)
        except (KeyError, ValueError, TypeError) as error:
            raise ValueError(f'{path}: annotation {number}: malformed ({error!r})') from None
        if image_id not in files:
            raise ValueError(f'{path}: annotation {number}: unknown image_id {image_id}')
        joints, annotated = np.full((len(LSP_JOINT_NAMES), 2), np.nan), np.zeros(len(LSP_JOINT_NAMES), bool)
        for position, joint in columns:
            if triples[position, 2] > 0:
                joints[joint], annotated[joint] = triples[position, :2], True
        if not crowd and annotated.sum() >= min_keypoints:
            people[image_id].append(AnnotatedPerson(joints, annotated))
    return [AnnotatedImage(path.parent / files[image_id], found) for image_id, found in people.items()]
