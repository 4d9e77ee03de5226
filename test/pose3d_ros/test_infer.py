"""pose3d_infer on real photos and a video made of them: the JSON it writes, the video it draws,
and how it names bad input. In-process on the pytorch backend (no ONNX export)."""
import json

import cv2
import numpy as np
import pytest

from pose3d_ros.camera import default_intrinsics
from pose3d_ros.infer import main
from pose3d_ros.root import ANKLE_HEIGHT_M
from pose3d_ros.skeleton import DETECTED_JOINTS, JOINT_NAMES, ROOT
from training.datasets.h36m import DEFAULT_ROOT

TWO_PEOPLE = DEFAULT_ROOT.parent / 'mpii-samples' / '052475643.jpg'
pytestmark = pytest.mark.skipif(not TWO_PEOPLE.is_file(), reason=f'MPII samples not found at {TWO_PEOPLE}')


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    """The photo with two people, and a 3-frame video of it slowly panned."""
    folder = tmp_path_factory.mktemp('infer')
    bgr = cv2.imread(str(TWO_PEOPLE))
    video = folder / 'panned.mp4'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'mp4v'), 10, (bgr.shape[1], bgr.shape[0]))
    for shift in range(3):
        writer.write(np.roll(bgr, 4 * shift, axis=1))
    writer.release()
    return folder, video


def test_photos_and_videos_give_every_persons_2d_and_3d_joints_in_json(inputs, capsys):
    folder, video = inputs
    out, drawn = folder / 'poses.json', folder / 'drawn.mp4'
    assert main([str(TWO_PEOPLE), str(video), '--json', str(out), '--video-out', str(drawn),
                 '--backend', 'pytorch', '--landmark-model', 'lite', '--quiet']) == 0
    assert 'pose3d_infer: 4 frames, 8 people found' in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result['joint_names_2d'] == [JOINT_NAMES[j] for j in DETECTED_JOINTS]
    assert result['joint_names_3d'] == list(JOINT_NAMES)
    assert [frame['source'] for frame in result['frames']] == [str(TWO_PEOPLE)] + [f'{video}#{k}' for k in range(3)]
    for frame in result['frames']:
        assert [person['id'] for person in frame['people']] == [0, 1]  # tracked through the video
        for person in frame['people']:
            keypoints, joints = np.array(person['keypoints_2d']), np.array(person['joints_3d'])
            assert keypoints.shape == (16, 3) and joints.shape == (17, 3)
            x0, y0, x1, y1 = person['box']
            # Where they stand: the placed skeleton projects onto their 2D joints (default pinhole).
            root, root_std = np.array(person['root']), np.array(person['root_std'])
            intrinsics = default_intrinsics(frame['width'], frame['height'])
            placed = joints[DETECTED_JOINTS] + root
            projected = placed[:, :2] / placed[:, 2:] * intrinsics['focal'] + intrinsics['center']
            assert 0.5 < root[2] < 30 and np.median(np.linalg.norm(projected - keypoints[:, :2], axis=1)) < 0.1 * (y1 - y0)
            assert np.all(root_std > 0) and np.argmax(root_std) == 2  # most uncertain along the view
            assert x0 < x1 and y0 < y1 and 0 < person['score'] <= 1
            assert np.all((keypoints[:, 2] >= 0) & (keypoints[:, 2] <= 1))
            thigh = np.linalg.norm(joints[JOINT_NAMES.index('r_knee')] - joints[JOINT_NAMES.index('r_hip')])
            assert np.all(joints[ROOT] == 0) and 0.3 < thigh < 0.6  # metres
    capture = cv2.VideoCapture(str(drawn))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 4


def test_the_default_camera_is_a_60_degree_pinhole():
    intrinsics = default_intrinsics(640, 480)
    assert intrinsics['focal'][0] == pytest.approx(320 / np.tan(np.radians(30)))
    assert intrinsics['center'] == (319.5, 239.5)


def test_a_floor_moves_the_people_along_their_rays(tmp_path):
    def people(*options):
        out = tmp_path / 'poses.json'
        assert main([str(TWO_PEOPLE), '--json', str(out), '--backend', 'pytorch', '--landmark-model', 'lite',
                     '--quiet', *options]) == 0
        return json.loads(out.read_text())['frames'][0]['people']

    alone = people()
    first = np.array(alone[0]['joints_3d']) + alone[0]['root']
    ankle_y = max(first[JOINT_NAMES.index(name), 1] for name in ('r_foot', 'l_foot'))  # y down: the lower one
    # A level camera whose floor puts the first person 10 % further away than the image alone does.
    on_floor = people('--ground-plane', '0', '-1', '0', str(1.1 * ankle_y + ANKLE_HEIGHT_M))
    before, after = np.array(alone[0]['root']), np.array(on_floor[0]['root'])
    assert 1.02 < after[2] / before[2] < 1.1
    np.testing.assert_allclose(after / after[2], before / before[2], atol=1e-4)  # the JSON rounds


def test_bad_inputs_are_named(inputs, capsys):
    folder, _ = inputs
    assert main([str(folder / 'missing.jpg'), '--quiet', '--backend', 'pytorch']) == 2
    assert f'input {folder / "missing.jpg"} does not exist' in capsys.readouterr().err
    calibration = folder / 'camera.yaml'
    calibration.write_text('image_width: 640\nimage_height: 480\ncamera_matrix: {rows: 3, cols: 3, data: '
                           '[500, 0, 320, 0, 500, 240, 0, 0, 1]}\ndistortion_model: plumb_bob\n'
                           'distortion_coefficients: {rows: 1, cols: 5, data: [0, 0, 0, 0, 0]}\n')
    assert main([str(TWO_PEOPLE), '--camera-info', str(calibration), '--quiet', '--backend', 'pytorch']) == 2
    assert f'is 854x480 px but --camera-info {calibration} is calibrated for 640x480' in capsys.readouterr().err
    assert main([str(TWO_PEOPLE), '--ground-plane', '0', '0', '0', '1.5', '--quiet', '--backend', 'pytorch']) == 2
    assert '--ground-plane: the floor plane [0.0, 0.0, 0.0, 1.5] has no normal' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(TWO_PEOPLE), '--max-people', '0'])
