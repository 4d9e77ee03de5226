import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pose3d_ros.heatmaps import HEATMAP_STRIDE, decode_heatmaps, heatmap_to_crop
from pose3d_ros.ranking import BEHIND, FRONT, ranking_matrix
from pose3d_ros.skeleton import DETECTED_FLIP_PERMUTATION, LSP_FLIP_PERMUTATION, LSP_JOINT_NAMES, LSP_TO_DETECTED
from training.datasets.keypoints import AnnotatedImage, AnnotatedPerson
from training.datasets.photo_crops import (WHOLE_PHOTO, Augmentation, Mixture, PhotoCrops, sided_by_teacher,
                                           teacher_depths, teacher_joints, teacher_landmarks)
from training.fit_joint_regressor import WORLD_FIELDS, landmark_cache

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from photo_samples import DETECTED, FACING, LSP, marker_colour, photo  # noqa: E402

STILL = Augmentation(scale=(1, 1), rotation_deg=0, shift=0, flip=0, colour=0)


def colour_under(item, detected_index):
    x, y = np.round(item['joints_2d'][detected_index].numpy()).astype(int)
    return tuple(int(value) for value in item['image'][:, y, x])


def test_crops_and_heatmaps_land_on_the_annotated_joints(tmp_path):
    augmentation = Augmentation(scale=(0.8, 1.2), rotation_deg=30, shift=0.05, flip=0, colour=0)
    dataset = PhotoCrops([photo(tmp_path)], size=128, count=6, augmentation=augmentation, seed=1)
    for index in range(len(dataset)):
        item = dataset[index]
        assert item['image'].shape == (3, 128, 128) and item['heatmaps'].shape == (16, 32, 32)
        joints = item['joints_2d'].numpy()
        inside = np.all((joints > 4) & (joints < 123), axis=1)  # away from the border, peaks are whole
        assert inside.sum() >= 10
        for name, lsp_index in LSP.items():
            detected = DETECTED[{'r_ankle': 'r_foot', 'l_ankle': 'l_foot', 'neck': 'neck_nose',
                                 'head_top': 'head'}.get(name, name)]
            if inside[detected]:
                assert np.abs(np.subtract(colour_under(item, detected), marker_colour(lsp_index))).max() < 40, name
        peaks, _ = decode_heatmaps(item['heatmaps'].numpy())
        np.testing.assert_allclose(heatmap_to_crop(peaks, HEATMAP_STRIDE)[inside], joints[inside], atol=0.1)
        # the pelvis and thorax LSP lacks are the midpoints of the hips and shoulders
        np.testing.assert_allclose(joints[DETECTED['hip']], joints[[DETECTED['r_hip'], DETECTED['l_hip']]].mean(0),
                                   atol=1e-4)
        assert item['joint_weights'].tolist() == [1.0] * 16
    # without augmentation: the tracker's box, the person upright and centred
    plain = PhotoCrops([photo(tmp_path)], size=128)[0]
    joints = plain['joints_2d'].numpy()
    assert len(PhotoCrops([photo(tmp_path)], size=128)) == 1
    np.testing.assert_allclose((joints.min(0) + joints.max(0)) / 2, [63.5, 63.5], atol=0.5)
    np.testing.assert_allclose((joints.max(0) - joints.min(0)).max(), 128 / 1.3, atol=0.5)
    torso = np.linalg.norm(np.subtract(FACING['r_shoulder'], FACING['l_hip']))
    assert plain['torso_size'] == pytest.approx(torso * 128 / 1.3 / 230, rel=1e-4)  # 230: the joints' height


def test_a_whole_photo_crop_frames_the_photo_as_the_front_end_does_before_it_finds_anyone(tmp_path):
    whole = PhotoCrops([photo(tmp_path)], size=128, augmentation=WHOLE_PHOTO)
    assert len(whole) == 1  # no count: one item per photo, in order
    item = whole[0]
    # the 240 x 320 photo: centre (119.5, 159.5), side 320, 0.4 crop pixels per photo pixel
    expected = (np.array(FACING['l_wrist']) - [119.5, 159.5]) * 0.4 + 63.5
    np.testing.assert_allclose(item['joints_2d'][DETECTED['l_wrist']], expected, atol=1e-4)
    assert np.abs(np.subtract(colour_under(item, DETECTED['l_wrist']), marker_colour(LSP['l_wrist']))).max() < 40
    torso = np.linalg.norm(np.subtract(FACING['r_shoulder'], FACING['l_hip']))
    assert item['torso_size'] == pytest.approx(0.4 * torso, rel=1e-4)
    assert float(item['image'][:, :, :8].float().max()) == 0  # the black border beside the portrait photo


def test_a_flip_mirrors_the_crop_and_swaps_left_and_right(tmp_path):
    image = photo(tmp_path)
    plain = PhotoCrops([image], size=128, count=1, augmentation=STILL)[0]
    mirrored = PhotoCrops([image], size=128, count=1, augmentation=Augmentation(
        scale=(1, 1), rotation_deg=0, shift=0, flip=1, colour=0))[0]
    assert torch.equal(mirrored['image'], plain['image'].flip(-1))
    for side in ('shoulder', 'wrist', 'hip', 'foot'):
        right, left = DETECTED['r_' + side], DETECTED['l_' + side]
        # still a person facing the camera: the joints named right are on the image's left ...
        assert mirrored['joints_2d'][right, 0] < mirrored['joints_2d'][left, 0]
        # ... and they sit where the other side's joints were mirrored to
        np.testing.assert_allclose(mirrored['joints_2d'][right], [127 - plain['joints_2d'][left, 0],
                                                                  plain['joints_2d'][left, 1]], atol=1e-3)
    assert np.abs(np.subtract(colour_under(mirrored, DETECTED['r_wrist']), marker_colour(LSP['l_wrist']))).max() < 40
    torch.testing.assert_close(mirrored['heatmaps'][DETECTED['r_wrist']],
                               plain['heatmaps'][DETECTED['l_wrist']].flip(-1))


def test_unannotated_joints_weigh_nothing_and_have_empty_maps(tmp_path):
    annotated = np.ones(14, bool)
    annotated[[LSP['l_hip'], LSP['r_elbow']]] = False
    item = PhotoCrops([photo(tmp_path, annotated)], size=64)[0]
    missing = [DETECTED[name] for name in ('l_hip', 'r_elbow', 'hip')]  # the pelvis needs both hips
    assert (item['joint_weights'][missing] == 0).all() and item['joint_weights'].sum() == 13
    assert (item['heatmaps'][missing] == 0).all() and (item['joints_2d'][missing] == 0).all()
    # the torso is the one shoulder-to-opposite-hip pair left, as in AnnotatedPerson
    scale = 64 / 1.3 / 230  # crop pixels per photo pixel: the joints are 230 px tall
    left_torso = np.linalg.norm(np.subtract(FACING['l_shoulder'], FACING['r_hip']))
    assert item['torso_size'] == pytest.approx(left_torso * scale, rel=1e-4)
    annotated[LSP['r_hip']] = False
    assert torch.isnan(PhotoCrops([photo(tmp_path, annotated)], size=64)[0]['torso_size'])


def test_the_teacher_fills_unannotated_joints_at_its_weight_when_it_agrees(tmp_path):
    annotated = np.ones(14, bool)
    annotated[[LSP['l_hip'], LSP['r_elbow']]] = False
    image = photo(tmp_path, annotated)
    truth = np.array([FACING[name] for name in LSP_JOINT_NAMES], np.float64)
    # a regressor taking LSP joint k from landmark k
    regressor = SimpleNamespace(lsp_weights=np.eye(14, 33))
    landmarks = np.zeros((3, 33, 2))
    landmarks[0, :14] = truth + 2.0                      # agrees (2 px off; torso ~89 px)
    landmarks[1, :14] = truth + [60.0, 0.0]              # someone else: 0.7 torso off
    landmarks[2] = np.nan                                # nobody found
    teacher = teacher_joints([image] * 3, landmarks, regressor)
    assert np.isfinite(teacher[0]).all() and np.isnan(teacher[1:]).all()

    item = PhotoCrops([image], size=128, teacher=teacher[:1], teacher_weight=0.4)[0]
    weights = item['joint_weights'].numpy()
    taught = [DETECTED[name] for name in ('l_hip', 'r_elbow', 'hip')]  # the pelvis: its lighter side
    np.testing.assert_allclose(weights[taught], 0.4)
    assert (np.delete(weights, taught) == 1).all()
    plain = PhotoCrops([image], size=128)[0]  # annotated joints alone: same crop, same targets
    scale = 128 / 1.3 / 230
    np.testing.assert_allclose(item['joints_2d'][DETECTED['r_elbow']], plain['joints_2d'][DETECTED['r_shoulder']] +
                               (truth[LSP['r_elbow']] + 2 - truth[LSP['r_shoulder']]) * scale, atol=1e-3)
    assert item['heatmaps'][DETECTED['l_hip']].max() > 0.5 and plain['heatmaps'][DETECTED['l_hip']].max() == 0
    disagreeing = PhotoCrops([image], size=128, teacher=teacher[1:2])[0]
    assert torch.equal(disagreeing['joint_weights'], plain['joint_weights'])
    with pytest.raises(ValueError, match=r'teacher joints must have shape \(1, 14, 2\), got \(3, 14, 2\)'):
        PhotoCrops([image], size=128, teacher=teacher)


def test_labels_naming_sides_as_the_viewer_does_are_exchanged_where_the_teacher_says_so(tmp_path):
    annotated = np.ones(14, bool)
    annotated[LSP['l_knee']] = False
    image = photo(tmp_path, annotated)
    truth = np.array([FACING[name] for name in LSP_JOINT_NAMES], np.float64)
    regressor = SimpleNamespace(lsp_weights=np.eye(14, 33))  # LSP joint k from landmark k
    landmarks = np.zeros((3, 33, 2))
    landmarks[0, :14] = truth + 2.0                         # agrees with the labels
    landmarks[1, :14] = truth[LSP_FLIP_PERMUTATION] + 2.0   # agrees with them exchanged
    landmarks[2] = np.nan                                   # nobody found
    sided, exchanged = sided_by_teacher([image] * 3, landmarks, regressor)
    assert exchanged == 1 and sided[0] is image and sided[2] is image
    person = sided[1].people[0]
    np.testing.assert_array_equal(person.joints[LSP['r_knee']], image.people[0].joints[LSP['l_knee']])
    assert not person.annotated[LSP['r_knee']] and person.annotated[LSP['l_knee']]
    np.testing.assert_array_equal(person.joints[LSP['neck']], image.people[0].joints[LSP['neck']])
    assert np.isfinite(teacher_joints(sided[1:2], landmarks[1:2], regressor)).all()  # now the teacher agrees


def test_the_teachers_depths_rank_photo_crops_and_a_flip_swaps_left_and_right(tmp_path):
    annotated = np.ones(14, bool)
    annotated[LSP['l_knee']] = False
    image = photo(tmp_path, annotated)
    truth = np.array([FACING[name] for name in LSP_JOINT_NAMES], np.float64)
    regressor = SimpleNamespace(lsp_weights=np.eye(14, 33), matrix=LSP_TO_DETECTED @ np.eye(14, 33))
    landmarks = np.zeros((3, 33, len(WORLD_FIELDS)))
    landmarks[:, :14, :2] = truth
    landmarks[:, :14, WORLD_FIELDS.index('world_z')] = np.arange(14) * 0.05  # m: LSP joint k 50 k mm deep
    landmarks[0, LSP['r_wrist'], :2] += 60  # that joint is placed elsewhere: its depth is not trusted
    landmarks[1, :14, :2] += [60.0, 0.0]    # someone else: nothing is
    landmarks[2] = np.nan                   # nobody found
    teachers = teacher_joints([image] * 3, landmarks[..., :2], regressor)
    depths = teacher_depths([image] * 3, teachers, landmarks, regressor)
    assert np.isnan(depths[1:]).all()
    expected = LSP_TO_DETECTED @ (np.arange(14) * 50.0)
    unknown = DETECTED['r_wrist']
    np.testing.assert_allclose(np.delete(depths[0], unknown), np.delete(expected, unknown))
    assert np.isnan(depths[0, unknown])  # the unannotated left knee keeps the teacher's depth

    teacher = teachers[:1]
    plain = PhotoCrops([image], size=64, count=1, augmentation=STILL, teacher=teacher, depths=depths[:1], tie_mm=20)[0]
    known = np.isfinite(depths[0])
    np.testing.assert_array_equal(plain['pair_weights'], np.outer(known, known))
    target = ranking_matrix(expected, 20.0)
    np.testing.assert_array_equal(plain['ranking'][np.ix_(known, known)], target[np.ix_(known, known)])
    assert plain['ranking'][DETECTED['l_foot'], DETECTED['r_foot']] == BEHIND  # LSP's l_ankle is 250 mm deeper
    assert plain['joint_weights'][DETECTED['l_knee']] == 0.5 and not plain['visible'][DETECTED['l_knee']]
    mirrored = PhotoCrops([image], size=64, count=1, augmentation=Augmentation(
        scale=(1, 1), rotation_deg=0, shift=0, flip=1, colour=0), teacher=teacher, depths=depths[:1])[0]
    swap = DETECTED_FLIP_PERMUTATION
    np.testing.assert_array_equal(mirrored['ranking'], plain['ranking'][swap][:, swap])
    np.testing.assert_array_equal(mirrored['pair_weights'], plain['pair_weights'][swap][:, swap])
    assert mirrored['ranking'][DETECTED['r_foot'], DETECTED['l_foot']] == BEHIND  # the deeper foot is now named right
    assert mirrored['ranking'][DETECTED['l_foot'], DETECTED['r_foot']] == FRONT
    with pytest.raises(ValueError, match=r'depths must have shape \(1, 16\), got \(3, 16\)'):
        PhotoCrops([image], size=64, depths=depths)


def test_several_landmark_caches_teach_their_mean_where_they_found_someone(tmp_path):
    images = [AnnotatedImage(tmp_path / f'im{k:05d}.jpg', [AnnotatedPerson(np.zeros((14, 2)), np.ones(14, bool))])
              for k in range(3)]
    for image in images:
        image.read_image = lambda: np.zeros((4, 4, 3), np.uint8)
    found = {'full': [1.0, 2.0, None], 'heavy': [3.0, None, None]}  # per photo: every value, or nobody
    for model, values in found.items():
        answers = iter(values)
        landmark_cache(images, model, tmp_path, lambda rgb: [] if (value := next(answers)) is None
                       else [np.full((33, len(WORLD_FIELDS)), value)], WORLD_FIELDS)
    paths = [str(tmp_path / f'landmarks-{model}.npz') for model in found]
    mean = teacher_landmarks(paths, images, WORLD_FIELDS)
    assert mean.shape == (3, 33, len(WORLD_FIELDS))
    np.testing.assert_array_equal(mean[:, 0, 0], [2.0, 2.0, np.nan])  # both; only full; neither
    np.testing.assert_array_equal(teacher_landmarks(paths[0], images), teacher_landmarks(paths[:1], images))


def test_items_are_fixed_by_seed_epoch_and_index(tmp_path):
    images = [photo(tmp_path, name=f'{k}.png') for k in range(3)]
    dataset = PhotoCrops(images, size=64, count=4, augmentation=Augmentation(), seed=2)
    first = dataset[3]
    assert all(torch.equal(first[key], dataset[3][key]) for key in first)
    dataset.set_epoch(1)
    assert not torch.equal(dataset[3]['image'], first['image'])
    with pytest.raises(IndexError):
        dataset[4]
    with pytest.raises(ValueError, match='none of the 1 photos has a person with two annotated joints'):
        PhotoCrops([photo(tmp_path, np.eye(14, dtype=bool)[0])], size=64)
    with pytest.raises(ValueError, match=r'augmentation scale must be 0 < low <= high, got \(1.2, 0.8\)'):
        Augmentation(scale=(1.2, 0.8))


class Constant(torch.utils.data.Dataset):
    """`count` items whose image is all `value`, with extra keys a mixture drops."""

    def __init__(self, value, count):
        self.value, self.count, self.epochs = value, count, []

    def set_epoch(self, epoch):
        self.epochs.append(epoch)

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        return {'image': torch.full((1,), self.value), 'heatmaps': torch.zeros(1), 'joint_weights': torch.ones(1),
                'ranking': torch.zeros(1)}


def test_a_mixture_draws_photos_at_its_share_and_the_same_each_time():
    renders, photos = Constant(0, 2000), Constant(1, 2000)
    mixture = Mixture(renders, photos, 0.8, 2000, seed=0)
    drawn = [float(mixture[index]['image']) for index in range(2000)]
    assert 0.77 < np.mean(drawn) < 0.83 and set(mixture[0]) == {'image', 'heatmaps', 'joint_weights'}
    assert set(Mixture(renders, photos, 0.8, 2000, keys=('image', 'ranking'))[0]) == {'image', 'ranking'}
    assert drawn == [float(mixture[index]['image']) for index in range(2000)]
    mixture.set_epoch(3)
    assert renders.epochs == photos.epochs == [3]
    assert [float(mixture[index]['image']) for index in range(2000)] != drawn
    with pytest.raises(ValueError, match='10 photos per epoch cannot fill a mixture of 20'):
        Mixture(Constant(0, 20), Constant(1, 10), 0.5, 20)
