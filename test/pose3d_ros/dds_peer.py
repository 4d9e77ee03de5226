"""A separate process on the DDS graph: `publish TYPE` or `receive TYPE` one sample message.

`publish` sends the sample every 50 ms until killed. `receive` waits for one message, checks it
equals the sample field by field, prints a JSON summary (header, and every person read back by
pose3d_ros.messages) and exits 0 (1 on a mismatch, 2 when nothing arrived within the timeout).
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import rclpy

sys.path.insert(0, str(Path(__file__).parent))
import message_samples  # noqa: E402
from pose3d_ros import messages  # noqa: E402
from pose3d_ros import msg as pose3d_msg  # noqa: E402

TOPIC = '/pose3d_test/sample'
READERS = {'Keypoints2D': messages.keypoints_from_msg, 'DepthRanking': messages.ranking_from_msg,
           'Skeleton3D': messages.skeleton_from_msg}


def read_people(msg):
    """{id: person read back} and the problems found."""
    if type(msg).__name__.endswith('Array'):
        return messages.people_from_array(msg)
    return {msg.id: READERS[type(msg).__name__](msg)}, []


def main(mode, type_name, timeout_s=20.0):
    msg_type = getattr(pose3d_msg, type_name)
    expected = message_samples.build(type_name)
    rclpy.init()
    node = rclpy.create_node(f'dds_peer_{mode}')
    try:
        if mode == 'publish':
            publisher = node.create_publisher(msg_type, TOPIC, 10)
            while True:
                publisher.publish(expected)
                time.sleep(0.05)
        received = []
        node.create_subscription(msg_type, TOPIC, received.append, 10)
        deadline = time.monotonic() + timeout_s
        while not received and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
        if not received:
            return 2
        msg = received[0]
        people, problems = read_people(msg)
        summary = {
            'type': type(msg).__name__,
            'stamp': [msg.header.stamp.sec, msg.header.stamp.nanosec],
            'frame_id': msg.header.frame_id,
            'equal_to_sample': msg == expected,
            'people': {str(person_id): {field: np.asarray(value).tolist() for field, value in person._asdict().items()}
                       for person_id, person in people.items()},
            'problems': problems,
        }
        print(json.dumps(summary), flush=True)
        return 0 if summary['equal_to_sample'] else 1
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    sys.exit(main(sys.argv[1], sys.argv[2]))
