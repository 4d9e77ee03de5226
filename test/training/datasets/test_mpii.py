import json

import numpy as np
import pytest

from pose3d_ros.skeleton import DETECTED_JOINTS, JOINT_NAMES
from training.datasets.h36m import DEFAULT_ROOT
from training.datasets.mpii import load_mpii

SAMPLES = DEFAULT_ROOT.parent / 'mpii-samples' / 'test_mpii.json'
needs_samples = pytest.mark.skipif(not SAMPLES.is_file(), reason=f'MPII samples not found at {SAMPLES}')
HEAD_TOP = list(DETECTED_JOINTS).index(JOINT_NAMES.index('head'))
R_ANKLE = list(DETECTED_JOINTS).index(JOINT_NAMES.index('r_foot'))


@needs_samples
def test_the_samples_load_in_detected_joint_order_with_their_images():
    people = load_mpii(SAMPLES)
    records = json.loads(SAMPLES.read_text())
    assert len(people) == len(records) == 5
    first = people[0]
    np.testing.assert_allclose(first.joints_2d[HEAD_TOP], records[0]['joints'][9])   # MPII 9: head top
    np.testing.assert_allclose(first.joints_2d[R_ANKLE], records[0]['joints'][0])    # MPII 0: r-ankle
    image = first.read_image()
    assert image.ndim == 3 and image.shape[2] == 3
    assert all(person.image_path.is_file() for person in people)


def test_malformed_records_are_named(tmp_path):
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps([{'image': 'a.jpg', 'center': [1, 2], 'scale': 1.0, 'joints': [[0, 0]] * 16}]))
    with pytest.raises(ValueError, match=r"bad\.json: record 0: missing or malformed field \(KeyError\('joints_vis'\)\)"):
        load_mpii(path)
    path.write_text(json.dumps([{'image': 'a.jpg', 'center': [1, 2], 'scale': 1.0, 'joints': [[0, 0]] * 15,
                                 'joints_vis': [1] * 16}]))
    with pytest.raises(ValueError, match=r'bad\.json: record 0: expected 16 joints'):
        load_mpii(path)
    path.write_text('{')
    with pytest.raises(ValueError, match=r'bad\.json: cannot read MPII annotations'):
        load_mpii(path)
