"""Each custom message crosses a real DDS graph between two processes, content and header intact."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import message_samples  # noqa: E402

PEER = str(HERE / 'dds_peer.py')


@pytest.mark.parametrize('type_name', ['Keypoints2D', 'DepthRanking', 'Skeleton3D'])
def test_message_crosses_dds_between_processes(type_name, start_process):
    receiver = start_process(PEER, 'receive', type_name)
    start_process(PEER, 'publish', type_name)
    out, err = receiver.communicate(timeout=60)
    assert receiver.returncode == 0, f'receiver exited {receiver.returncode}: {err[-2000:]}'
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary['type'] == type_name
    assert summary['stamp'] == [1_700_000_000, 123_456_789]
    assert summary['frame_id'] == 'camera_optical_frame'
    assert summary['equal_to_sample']
    expected = message_samples.build(type_name)
    assert summary['joint_indices'] == list(expected.joint_indices)
    if type_name == 'Keypoints2D':
        np.testing.assert_allclose(summary['arrays'][0], message_samples.PIXELS, atol=1e-4)
    elif type_name == 'DepthRanking':
        np.testing.assert_allclose(summary['arrays'][0], message_samples.PROBABILITIES, atol=1e-6)
        behind = np.array(summary['arrays'][1]) == 1.0
        np.testing.assert_array_equal(behind, message_samples.PROBABILITIES > 0.6)
    else:
        np.testing.assert_allclose(summary['arrays'][0], message_samples.POSITIONS_M, atol=1e-12)
