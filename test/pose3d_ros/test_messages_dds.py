"""Each custom message crosses a real DDS graph between two processes, content, ids and headers
intact."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import message_samples  # noqa: E402

PEER = str(HERE / 'dds_peer.py')


@pytest.mark.parametrize('type_name', message_samples.TYPES)
def test_message_crosses_dds_between_processes(type_name, start_process):
    receiver = start_process(PEER, 'receive', type_name)
    start_process(PEER, 'publish', type_name)
    out, err = receiver.communicate(timeout=60)
    assert receiver.returncode == 0, f'receiver exited {receiver.returncode}: {err[-2000:]}'
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary['type'] == type_name
    assert summary['stamp'] == [1_700_000_000, 123_456_789]
    assert summary['frame_id'] == 'camera_optical_frame'
    assert summary['equal_to_sample'] and summary['problems'] == []
    is_array = type_name.endswith('Array')
    ids = message_samples.ARRAY_IDS if is_array else (message_samples.PERSON_ID,)
    assert [int(i) for i in summary['people']] == list(ids)  # in id order
    for k, person_id in enumerate(ids):
        person = summary['people'][str(person_id)]
        assert person['id'] == person_id
        shift = k * message_samples.ARRAY_OFFSET_PX
        if type_name.startswith('Keypoints2D'):
            pixels = message_samples.PIXELS + (shift, 0.0)
            np.testing.assert_allclose(person['pixels'], pixels, atol=1e-4)
            np.testing.assert_allclose(person['box'], [*pixels.min(0), *pixels.max(0)], atol=1e-4)
            assert person['score'] == 0.875
        elif type_name.startswith('DepthRanking'):
            np.testing.assert_allclose(person['probabilities'], message_samples.PROBABILITIES, atol=1e-6)
            behind = np.array(person['ranking']) == 1.0
            np.testing.assert_array_equal(behind, message_samples.PROBABILITIES > 0.6)
        else:
            np.testing.assert_allclose(person['positions'], message_samples.POSITIONS_M + (shift / 1000, 0, 0),
                                       atol=1e-12)
