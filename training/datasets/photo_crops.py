"""Real training images for the hourglass and PRCNN: crops of annotated photos (LSP / LSP Extended).

A crop frames what the drpose3d front end gives the hourglass: mostly the square around the
annotated joints grown by its tracking margin (the box it follows a person with), sometimes the
whole photo (its crop before it has found anyone), resized to the network's input size. Targets:
Gaussian heatmaps of the DETECTED_JOINTS, formed from the 14 LSP joints by
skeleton.LSP_TO_DETECTED (the pelvis and thorax are midpoints of the hips and shoulders), each
with a loss weight: 1 where annotated; where not, the BlazePose teacher's joint (its landmarks
through the shipped joint regressor) at a lower weight when the teacher's person agrees with the
annotation, else 0, so the loss neither trains the joint nor teaches an empty map. A pelvis or
thorax weighs what its lighter side does. Training items are augmented (scale, rotation, shift,
horizontal flip with the left and right joints swapped, colour); item i of epoch e is drawn from
the seed sequence [seed, e, i] alone, as for the renders, so a run resumes exactly for any
worker count. Without `count`, item i is photo i (the fixed evaluation sets), else a random photo.

For PRCNN, photos carry no depth: its ranking targets come from the teacher's per-joint depths
(teacher_depths: BlazePose's world landmarks through the same joint regressor, as the blazepose
front end ranks; with several landmark caches, their mean: teacher_landmarks), by eq. 1 with ties
within tie_mm; a pair with a joint the teacher lacks (nobody found, a person disagreeing with the
annotation, or that joint itself off its annotation) weighs 0.
A flip renames the joints, so the depths follow the left/right swap.
"""
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from pose3d_ros.crop import crop_transform, warp_crop
from pose3d_ros.heatmaps import HEATMAP_STRIDE, crop_to_heatmap, gaussian_heatmaps
from pose3d_ros.inference.blazepose import JointRegressor, joint_depths_mm
from pose3d_ros.inference.drpose3d import TRACKING_MARGIN, whole_frame_box
from pose3d_ros.ranking import TIE, ranking_matrix
from pose3d_ros.skeleton import DETECTED_FLIP_PERMUTATION, LSP_FLIP_PERMUTATION, LSP_TO_DETECTED
from training.datasets.keypoints import load_lsp
from training.evaluate_2d import person_size
from training.fit_joint_regressor import PIXEL_FIELDS, WORLD_FIELDS, read_landmark_cache

# The teacher's joints of a photo are used when their median distance to the annotated ones is
# at most this many person sizes (torso lengths): a found person who is someone else, or whose
# left and right are exchanged, teaches nothing.
TEACHER_AGREEMENT = 0.2


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the random changes to a training crop."""
    scale: tuple = (0.75, 1.25)   # crop side x this: above 1 the person looks smaller
    rotation_deg: float = 30.0    # uniform in +-this
    shift: float = 0.1            # crop centre moved by up to this x the side, per axis
    flip: float = 0.5             # probability of a horizontal flip
    colour: float = 0.3           # brightness, contrast and saturation factors in 1 +- this
    whole_photo: float = 0.0      # probability of framing the whole photo instead of the person

    def __post_init__(self):
        low, high = self.scale
        if not 0 < low <= high:
            raise ValueError(f'augmentation scale must be 0 < low <= high, got {self.scale}')
        if not (self.rotation_deg >= 0 and self.shift >= 0 and 0 <= self.flip <= 1 and 0 <= self.colour < 1
                and 0 <= self.whole_photo <= 1):
            raise ValueError(f'augmentation out of range: {self}')


# No change to a crop: with whole_photo 1, the front end's crop before it has found anyone.
WHOLE_PHOTO = Augmentation(scale=(1.0, 1.0), rotation_deg=0.0, shift=0.0, flip=0.0, colour=0.0, whole_photo=1.0)


def regressed_lsp_joints(landmarks, regressor):
    """(N, 33, 2) BlazePose landmarks and a JointRegressor -> (N, 14, 2) LSP joints."""
    return np.einsum('jl,nlc->njc', regressor.lsp_weights, landmarks)


def teacher_joints(images, landmarks, regressor):
    """(N, 33, 2) BlazePose landmarks of `images` (NaN: nobody found) and a
    pose3d_ros.inference.blazepose.JointRegressor -> (N, 14, 2) the teacher's LSP joints, NaN for
    a photo whose teacher disagrees with the annotation (TEACHER_AGREEMENT)."""
    joints = regressed_lsp_joints(landmarks, regressor)
    for row, image in enumerate(images):
        person = image.people[0]
        distances = np.linalg.norm(joints[row][person.annotated] - person.joints[person.annotated], axis=1)
        if not np.median(distances) <= TEACHER_AGREEMENT * person_size(person):  # NaN: nobody found
            joints[row] = np.nan
    return joints


def sided_by_teacher(images, landmarks, regressor):
    """`images` and their (N, 33, 2) BlazePose landmarks (NaN: nobody found) with a JointRegressor
    -> (images with each person's left and right labels exchanged where the teacher's LSP joints lie
    nearer the exchanged labels (median over the annotated joints), how many were exchanged).
    LSP Extended's crowd-sourced labels name the sides from the viewer in about an eighth of the
    photos, which teaches a network both conventions. Photos the teacher found nobody in stay."""
    joints = regressed_lsp_joints(landmarks, regressor)
    sided, exchanged = [], 0
    for row, image in enumerate(images):
        person = image.people[0]
        mirrored = replace(person, joints=person.joints[LSP_FLIP_PERMUTATION],
                           annotated=person.annotated[LSP_FLIP_PERMUTATION])
        def distance(labels):
            return np.median(np.linalg.norm(joints[row][labels.annotated] - labels.joints[labels.annotated], axis=1))
        swap = bool(distance(mirrored) < distance(person))  # False where the teacher found nobody (NaN)
        exchanged += swap
        sided.append(replace(image, people=[mirrored, *image.people[1:]]) if swap else image)
    return sided, exchanged


def teacher_depths(images, teacher, landmarks, regressor):
    """`images`, their teacher_joints (N, 14, 2), their (N, 33, 6) landmark values in
    fit_joint_regressor.WORLD_FIELDS order (NaN: nobody found) and a JointRegressor -> (N, 16) the
    teacher's DETECTED_JOINTS depths, mm relative to its hips (camera-aligned axes), NaN for a photo
    whose teacher disagrees with the annotation (teacher_joints) and for a joint made of an LSP
    joint the teacher places farther than TEACHER_AGREEMENT person sizes from its annotation."""
    sizes = np.array([person_size(image.people[0]) for image in images])
    annotated = np.stack([image.people[0].joints for image in images])
    off = np.linalg.norm(teacher - annotated, axis=-1) > TEACHER_AGREEMENT * sizes[:, None]  # NaN: not off
    lsp_known = np.isfinite(teacher).all(axis=-1) & ~off
    known = np.all(lsp_known[:, None, :] | (LSP_TO_DETECTED == 0), axis=-1)  # (N, 16): every part known
    depths = joint_depths_mm(regressor.matrix, landmarks[..., WORLD_FIELDS.index('world_z')])
    return np.where(known, depths, np.nan)


def teacher_landmarks(paths, images, fields=PIXEL_FIELDS):
    """The teacher's (N, 33, F) landmark values of `images`: pose3d_fit_joint_regressor's landmark
    cache `paths`, or the mean of several caches (an ensemble of landmark models, e.g. BlazePose
    full and heavy) over those that found someone in each photo; NaN where none did."""
    caches = np.stack([read_landmark_cache(path, images, fields)
                       for path in ([paths] if isinstance(paths, (str, Path)) else paths)])
    found = np.isfinite(caches)
    count = found.sum(axis=0)
    return np.where(count > 0, np.where(found, caches, 0.0).sum(axis=0) / np.maximum(count, 1), np.nan)


def sided_by_teacher_cache(images, paths):
    """sided_by_teacher with the teacher_landmarks of `paths` and the shipped joint regressor."""
    return sided_by_teacher(images, teacher_landmarks(paths, images)[..., :2], JointRegressor())


def teacher_arguments(paths, images, depths=False):
    """PhotoCrops' teacher arguments for `images` from the teacher_landmarks of `paths` (None: no
    teacher) and the shipped joint regressor: {'teacher': teacher_joints} [with depths (caches
    with world landmarks): 'depths': teacher_depths]."""
    if not paths:
        return {}
    regressor = JointRegressor()
    landmarks = teacher_landmarks(paths, images, WORLD_FIELDS if depths else PIXEL_FIELDS)
    arguments = {'teacher': teacher_joints(images, landmarks[..., :2], regressor)}
    if depths:
        arguments['depths'] = teacher_depths(images, arguments['teacher'], landmarks, regressor)
    return arguments


def detected_joints(person, teacher=None, teacher_weight=0.0):
    """An AnnotatedPerson [and the teacher's (14, 2) LSP joints] -> ((16, 2) DETECTED_JOINTS image
    pixels, (16,) loss weights: 1 annotated, teacher_weight from the teacher, 0 neither; a joint
    made of two LSP joints takes the smaller). Joints of weight 0 are 0, never NaN."""
    lsp = np.where(person.annotated[:, None], person.joints, np.nan if teacher is None else teacher)
    lsp_weights = np.where(person.annotated, 1.0, np.where(np.isfinite(lsp).all(axis=1), teacher_weight, 0.0))
    weights = np.where(LSP_TO_DETECTED != 0, lsp_weights, np.inf).min(axis=1)
    joints = np.einsum('jk,kc->jc', LSP_TO_DETECTED, np.nan_to_num(lsp))
    return joints * (weights > 0)[:, None], weights


def person_box(person, margin=TRACKING_MARGIN):
    """(centre, side) of the square around the annotated joints grown by `margin`."""
    points = person.joints[person.annotated]
    low, high = points.min(0), points.max(0)
    return (low + high) / 2, float((high - low).max() * margin)


def jitter_colour(rng, image, amount):
    """(S, S, 3) uint8 -> the same with brightness, contrast and saturation each scaled by a
    factor in 1 +- amount."""
    brightness, contrast, saturation = rng.uniform(1 - amount, 1 + amount, 3)
    pixels = image.astype(np.float32) * brightness
    pixels = (pixels - pixels.mean()) * contrast + pixels.mean()
    grey = pixels.mean(axis=2, keepdims=True)
    pixels = grey + (pixels - grey) * saturation
    return np.clip(pixels + 0.5, 0, 255).astype(np.uint8)


class PhotoCrops(torch.utils.data.Dataset):
    """Crops of annotated photos, one person per photo (the first annotated one).

    Items: image (3, S, S) uint8, heatmaps (J, S/4, S/4) float32, joint_weights (J,) float32 (1:
    annotated, teacher_weight: from the teacher, 0: neither), visible (J,) bool (annotated),
    joints_2d (J, 2) crop pixels (0 where the weight is 0) and torso_size (the LSP PCK reference in
    crop pixels, from the annotation; NaN without a shoulder-to-opposite-hip pair), J =
    DETECTED_JOINTS; with depths also ranking (J, J) (eq. 1 on the depths, ties within tie_mm 0.5,
    and 0.5 where either joint has no depth: not scored) and pair_weights (J, J) float32 (0 there).
    With `count` there are that many items of random photos per epoch; without, one per photo, in
    order. augmentation: None (the person's box, unchanged) or an Augmentation. teacher: None or (N, 14, 2) LSP joints per
    image (teacher_joints; NaN rows where there is none). depths: None or (N, J) mm per image
    (teacher_depths; NaN where unknown).
    """

    def __init__(self, images, size=128, count=None, augmentation=None, seed=0, heatmap_sigma=1.0,
                 margin=TRACKING_MARGIN, teacher=None, teacher_weight=0.5, depths=None, tie_mm=20.0):
        if size % HEATMAP_STRIDE:
            raise ValueError(f'image size must be a multiple of {HEATMAP_STRIDE}, got {size}')
        for name, value, shape in (('teacher joints', teacher, (len(images), len(LSP_TO_DETECTED[0]), 2)),
                                   ('depths', depths, (len(images), len(LSP_TO_DETECTED)))):
            if value is not None and np.shape(value) != shape:
                raise ValueError(f'{name} must have shape {shape}, got {np.shape(value)}')
        if not 0 <= teacher_weight <= 1:
            raise ValueError(f'teacher_weight must lie in [0, 1], got {teacher_weight}')
        # A box needs two annotated joints apart; such photos have nothing to learn from anyway.
        self.people = [(image, image.people[0], None if teacher is None else teacher[row],
                        None if depths is None else np.asarray(depths[row], np.float64))
                       for row, image in enumerate(images)
                       if image.people and image.people[0].annotated.sum() >= 2
                       and person_box(image.people[0], margin)[1] > 0]
        if not self.people:
            raise ValueError(f'none of the {len(images)} photos has a person with two annotated joints')
        self.size, self.seed, self.heatmap_sigma, self.margin = int(size), int(seed), heatmap_sigma, margin
        self.teacher_weight, self.tie_mm = float(teacher_weight), float(tie_mm)
        self.augmentation = augmentation
        self.in_order = count is None
        self.count = len(self.people) if count is None else int(count)
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def __len__(self):
        return self.count

    def crop_transform(self, rng, person, photo_shape):
        """The 2x3 affine from photo to crop pixels and whether it mirrors: the person's box (or
        the whole photo), changed at random when augmenting."""
        if self.augmentation is None:
            return crop_transform(*person_box(person, self.margin), self.size), False
        augmentation = self.augmentation
        whole = rng.random() < augmentation.whole_photo
        centre, side = whole_frame_box(photo_shape) if whole else person_box(person, self.margin)
        side *= rng.uniform(*augmentation.scale)
        centre = centre + rng.uniform(-augmentation.shift, augmentation.shift, 2) * side
        rotation = np.radians(rng.uniform(-augmentation.rotation_deg, augmentation.rotation_deg))
        transform = crop_transform(centre, side, self.size, rotation)
        flipped = rng.random() < augmentation.flip
        if flipped:  # x -> S - 1 - x after the crop
            transform = np.array([[-1.0, 0.0, self.size - 1], [0.0, 1.0, 0.0]]) @ np.vstack([transform, [0, 0, 1]])
        return transform, flipped

    def __getitem__(self, index):
        if not 0 <= index < self.count:
            raise IndexError(f'item {index} of {self.count}')
        rng = np.random.default_rng([self.seed, self.epoch, index])
        image, person, teacher, depths = self.people[index if self.in_order else rng.integers(len(self.people))]
        pixels = image.read_image()
        transform, flipped = self.crop_transform(rng, person, pixels.shape)
        crop = warp_crop(pixels, transform, self.size)
        if self.augmentation is not None and self.augmentation.colour:
            crop = jitter_colour(rng, crop, self.augmentation.colour)
        joints, weights = detected_joints(person, teacher, self.teacher_weight)
        joints = joints @ transform[:, :2].T + transform[:, 2]
        if flipped:  # the person's left is now on the image's right: swap the joints' names
            joints, weights = joints[DETECTED_FLIP_PERMUTATION], weights[DETECTED_FLIP_PERMUTATION]
            depths = None if depths is None else depths[DETECTED_FLIP_PERMUTATION]
        joints = (joints * (weights > 0)[:, None]).astype(np.float32)
        heatmaps = gaussian_heatmaps(crop_to_heatmap(joints, HEATMAP_STRIDE), self.size // HEATMAP_STRIDE,
                                     self.heatmap_sigma, present=weights > 0)
        crop_scale = float(np.hypot(*transform[:, 0]))  # crop pixels per photo pixel
        item = {
            'image': torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1))),
            'heatmaps': torch.from_numpy(heatmaps.astype(np.float32)),
            'joint_weights': torch.from_numpy(weights.astype(np.float32)),
            'visible': torch.from_numpy(weights == 1),
            'joints_2d': torch.from_numpy(joints),
            'torso_size': torch.tensor(person.torso_size() * crop_scale, dtype=torch.float32),
        }
        if depths is not None:
            known = np.isfinite(depths)
            pairs = known[:, None] & known[None, :]
            item['ranking'] = torch.from_numpy(np.where(pairs, ranking_matrix(np.nan_to_num(depths), self.tie_mm), TIE))
            item['pair_weights'] = torch.from_numpy(pairs.astype(np.float32))
        return item


def lsp_validation_photos(joints_mat, count=None):
    """The LSP Extended validation split's photos whose person has a torso (PCK@0.2 needs it), all
    of them or `count` evenly spaced (the same ones every time)."""
    people = [image for image in load_lsp(joints_mat, split='validation') if np.isfinite(image.people[0].torso_size())]
    if count is not None:
        people = [people[int(k)] for k in np.unique(np.linspace(0, len(people) - 1, min(count, len(people))).round())]
    return people


def lsp_validation_crops(joints_mat, size, count=None, heatmap_sigma=1.0):
    """lsp_validation_photos -> {'lsp': PhotoCrops of the person's box, 'lsp_whole_photo':
    PhotoCrops of the whole photos}: the front end's crops once it follows the person, and before."""
    people = lsp_validation_photos(joints_mat, count)
    return {'lsp': PhotoCrops(people, size, heatmap_sigma=heatmap_sigma),
            'lsp_whole_photo': PhotoCrops(people, size, augmentation=WHOLE_PHOTO, heatmap_sigma=heatmap_sigma)}


class Mixture(torch.utils.data.Dataset):
    """`count` items per epoch, each a photo crop with probability `photo_share`, else a render
    (the choice drawn from the seed sequence [seed, epoch, index, 1]); item i of the chosen set is
    item i of the mixture, so both need `count` items. Items keep only `keys`, which both sets give
    (KEYS: the hourglass's; PRCNN_KEYS: PRCNN's)."""

    KEYS = ('image', 'heatmaps', 'joint_weights')
    PRCNN_KEYS = ('image', 'joints_2d', 'visible', 'joint_weights', 'ranking', 'pair_weights')

    def __init__(self, renders, photos, photo_share, count, seed=0, keys=KEYS):
        if not 0 <= photo_share <= 1:
            raise ValueError(f'photo_share must lie in [0, 1], got {photo_share}')
        for name, part in (('renders', renders), ('photos', photos)):
            if len(part) < count:
                raise ValueError(f'{len(part)} {name} per epoch cannot fill a mixture of {count}')
        self.renders, self.photos = renders, photos
        self.photo_share, self.count, self.seed = float(photo_share), int(count), int(seed)
        self.keys = tuple(keys)
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = int(epoch)
        self.renders.set_epoch(epoch)
        self.photos.set_epoch(epoch)

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        if not 0 <= index < self.count:
            raise IndexError(f'item {index} of {self.count}')
        photo = np.random.default_rng([self.seed, self.epoch, index, 1]).random() < self.photo_share
        item = (self.photos if photo else self.renders)[index]
        return {key: item[key] for key in self.keys}
