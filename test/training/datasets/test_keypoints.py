import json

import cv2
import numpy as np
import pytest
from scipy.io import savemat

from pose3d_ros.skeleton import LSP_JOINT_NAMES
from training.datasets.h36m import DEFAULT_ROOT
from training.datasets.keypoints import AnnotatedPerson, load_coco_keypoints, load_lsp

DATA = DEFAULT_ROOT.parent
LSPET = DATA / 'lspet' / 'joints.mat'
MULTI_PERSON = DATA / 'multi-person'
needs_lspet = pytest.mark.skipif(not LSPET.is_file(), reason=f'LSP Extended not found at {LSPET}')
needs_multi_person = pytest.mark.skipif(not MULTI_PERSON.is_dir(), reason=f'no multi-person photos at {MULTI_PERSON}')
JOINT = {name: k for k, name in enumerate(LSP_JOINT_NAMES)}


@needs_lspet
def test_lsp_extended_loads_with_its_split_and_images():
    validation = load_lsp(LSPET, split='validation')
    train = load_lsp(LSPET, split='train')
    assert len(validation) == 1600 and len(train) == 8000
    assert validation[0].path.name == 'im08401.jpg' and train[-1].path.name == 'im08400.jpg'
    person = train[0].people[0]
    np.testing.assert_allclose(person.joints[JOINT['r_ankle']], [143.74, 80.84], atol=0.01)  # column 0 of joints.mat
    assert 20 < person.torso_size() < 200
    assert train[0].read_image().shape[2] == 3


def test_upright_means_torso_near_vertical_head_up_and_legs_below_the_hips():
    standing = np.zeros((14, 2))
    for name, (x, y) in dict(r_ankle=(45, 200), r_knee=(45, 150), r_hip=(45, 100), l_hip=(55, 100),
                             l_knee=(55, 150), l_ankle=(55, 200), r_wrist=(30, 100), r_elbow=(35, 75),
                             r_shoulder=(40, 50), l_shoulder=(60, 50), l_elbow=(65, 75), l_wrist=(70, 100),
                             neck=(50, 45), head_top=(50, 20)).items():
        standing[JOINT[name]] = x, y
    everything = np.ones(14, bool)
    assert AnnotatedPerson(standing, everything).is_upright()
    upside_down = standing * [1, -1]
    assert not AnnotatedPerson(upside_down, everything).is_upright()
    leaning = standing.copy()  # shoulders 40 px right of the hips over 50 px: 39 degrees
    leaning[[JOINT['r_shoulder'], JOINT['l_shoulder']], 0] += 40
    assert not AnnotatedPerson(leaning, everything).is_upright()
    assert AnnotatedPerson(leaning, everything).is_upright(max_lean_deg=45)
    kicking = standing.copy()  # a foot above the hips
    kicking[JOINT['l_ankle']] = 90, 95
    assert not AnnotatedPerson(kicking, everything).is_upright()
    no_knee = everything.copy()
    no_knee[JOINT['l_knee']] = False
    assert not AnnotatedPerson(standing, no_knee).is_upright()


def write_lsp(folder, joints):
    (folder / 'images').mkdir()
    for number in range(401, 401 + joints.shape[2]):
        cv2.imwrite(str(folder / 'images' / f'im{number:05d}.jpg'), np.zeros((8, 8, 3), np.uint8))
    savemat(folder / 'joints.mat', {'joints': joints})
    return folder / 'joints.mat'


def test_unannotated_lsp_joints_are_left_out_and_bad_files_named(tmp_path):
    joints = np.ones((14, 3, 2))
    joints[JOINT['neck'], :, 0] = (0, 0, 1)       # (0, 0): unannotated
    joints[JOINT['l_wrist'], 2, 1] = 0            # not visible
    (first,), (second,) = (image.people for image in load_lsp(write_lsp(tmp_path, joints)))
    assert not first.annotated[JOINT['neck']] and np.isnan(first.joints[JOINT['neck']]).all()
    assert not second.annotated[JOINT['l_wrist']] and second.annotated.sum() == 13
    savemat(tmp_path / 'joints.mat', {'joints': np.ones((14, 2, 2))})
    with pytest.raises(ValueError, match=r'joints\.mat: `joints` must have shape \(14, 3, N\), got \(14, 2, 2\)'):
        load_lsp(tmp_path / 'joints.mat')
    savemat(tmp_path / 'joints.mat', {'joints': np.ones((14, 3, 5))})
    with pytest.raises(ValueError, match=r'images: 2 im\*\.jpg images for 5 columns'):
        load_lsp(tmp_path / 'joints.mat')
    (tmp_path / 'joints.mat').write_text('not a mat file')
    with pytest.raises(ValueError, match=r'joints\.mat: cannot read an LSP `joints` matrix'):
        load_lsp(tmp_path / 'joints.mat')


@needs_multi_person
def test_coco_and_crowdpose_keypoints_map_onto_lsp_joints():
    coco = load_coco_keypoints(MULTI_PERSON / 'coco' / 'test_coco.json')
    crowdpose = load_coco_keypoints(MULTI_PERSON / 'crowdpose' / 'test_crowdpose.json')
    assert sum(len(image.people) for image in coco) == 12 and all(image.path.is_file() for image in coco)
    # COCO has no neck or head top; CrowdPose has both
    assert not any(person.annotated[JOINT['neck']] for image in coco for person in image.people)
    assert any(person.annotated[JOINT['head_top']] for image in crowdpose for person in image.people)


def test_malformed_coco_files_are_named(tmp_path):
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps({'images': [], 'annotations': []}))
    with pytest.raises(ValueError, match=r"bad\.json: not a COCO keypoint file \(KeyError\('categories'\)\)"):
        load_coco_keypoints(path)
    path.write_text(json.dumps({'categories': [{'keypoints': ['left_knee']}], 'images': [{'id': 1, 'file_name': 'a.jpg'}],
                                'annotations': [{'image_id': 2, 'keypoints': [1, 2, 2]}]}))
    with pytest.raises(ValueError, match=r'bad\.json: annotation 0: unknown image_id 2'):
        load_coco_keypoints(path)
