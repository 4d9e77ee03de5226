"""SIGINT and SIGTERM stop the camera and lifter executables with exit code 0, within 2 s and
without a traceback, in every lifecycle state: unconfigured, after a failed configure, active
under load, and while a configure is still running. One process per case (their start is the
slow part); the signals alternate among the cases, and some are sent twice, as a Ctrl-C under
ros2 launch arrives (the terminal signals the process group, and launch forwards its own).
bench/stops.py repeats these stops many times (docs/performance.md).
"""
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
import torch
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from pose3d_ros import messages
from pose3d_ros.images import image_to_msg
from pose3d_ros.msg import DepthRankingArray, Keypoints2DArray, Skeleton3DArray
from pose3d_ros.nodes.skeleton_replay import pinhole_camera_info
from pose3d_ros.ranking import ranking_matrix
from pose3d_ros.skeleton import DETECTED_JOINTS

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
from lifecycle_probe import NS, TRANSITIONS, LifecycleProbe, node_process  # noqa: E402
from random_networks import write_networks  # noqa: E402

STOP_BOUND_S = 2.0
LOAD_S = 1.0  # input before the signal, in the loaded cases (and until the node's outputs flow)
OUTPUTS_BEFORE_STOP = 5
LIFTER_RATE_HZ, CAMERA_RATE_HZ = 500.0, 100.0  # the lifter's input rate of issue 17; the camera's: overload
CONFIGURE_STARTED_S = 1.5  # 'configuring': the request has reached the node; its ONNX export takes longer
DIAGNOSTIC_NAMES = {'lifter': 'lifter: lifting', 'camera': 'camera: detection'}
HOURGLASS_CHECKPOINT = Path(__file__).resolve().parents[3] / 'pose3d_ros' / 'weights' / 'hourglass_small.pt'


class Probe(LifecycleProbe):
    """The node's lifecycle clients and, for the loaded cases, publishers of its input."""

    def __init__(self, node_name):
        super().__init__(f'{node_name}_stop_probe', node_name, DIAGNOSTIC_NAMES[node_name])
        create = self.node.create_publisher
        self.outputs = 0
        output_type, output_topic = (Skeleton3DArray, 'skeleton') if node_name == 'lifter' else (Keypoints2DArray,
                                                                                                 'keypoints_2d')
        self.node.create_subscription(output_type, f'{NS}/{output_topic}', self._count_output, 10)
        self.inputs = ({'camera_info': create(CameraInfo, f'{NS}/camera_info', 10),
                        'keypoints': create(Keypoints2DArray, f'{NS}/keypoints_2d', 10),
                        'ranking': create(DepthRankingArray, f'{NS}/ranking', 10)}
                       if node_name == 'lifter' else {'image': create(Image, f'{NS}/image', 10)})

    def _count_output(self, msg):
        self.outputs += 1

    def load_frame(self):
        """Publish one input frame (the lifter's three messages, or the camera's image)."""
        header = Header(stamp=self.node.get_clock().now().to_msg(), frame_id='stop_test_frame')
        if 'image' in self.inputs:
            self.inputs['image'].publish(image_to_msg(header, IMAGE))
            return
        self.inputs['camera_info'].publish(CAMERA_INFO)
        for kind, array in (('keypoints', KEYPOINTS), ('ranking', RANKING)):
            array.header = header
            for person in array.people:
                person.header = header
            self.inputs[kind].publish(array)


def _lifter_inputs():
    header = Header(frame_id='stop_test_frame')
    pixels = np.random.default_rng(0).uniform(100, 600, (len(DETECTED_JOINTS), 2))
    keypoints = messages.keypoints_array_msg(header, [messages.keypoints_msg(
        header, 0, 0.9, (*pixels.min(0), *pixels.max(0)), DETECTED_JOINTS, pixels, np.ones(len(pixels)),
        (0, 0, 500, 500))])
    depths = np.linspace(3900, 4100, len(DETECTED_JOINTS))
    ranking = messages.ranking_array_msg(header, [messages.ranking_msg(
        header, 0, DETECTED_JOINTS, ranking_matrix(depths, 20.0), 0.1)])
    return keypoints, ranking


KEYPOINTS, RANKING = _lifter_inputs()
CAMERA_INFO = pinhole_camera_info(1000.0, 1280, 720)
IMAGE = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    """Random-weight drpose3d networks for the camera, and a PRCNN of another architecture."""
    folder = tmp_path_factory.mktemp('networks')
    networks = write_networks(folder, 64)
    wrong = torch.load(networks['prcnn'], weights_only=True)
    wrong['model'] = dict(wrong['model'], depth=34)
    networks['wrong_prcnn'] = folder / 'prcnn_depth_34.pt'
    torch.save(wrong, networks['wrong_prcnn'])
    return networks


def parameters(node_name, state, checkpoints, cache_dir):
    """The -p parameters that bring a node to `state` (autostart does the transitions)."""
    common = ['backend:=pytorch'] if state != 'configuring' else ['backend:=onnxruntime', f'cache_dir:={cache_dir}']
    if node_name == 'camera':
        common += ['front_end:=drpose3d', f'hourglass_checkpoint:={checkpoints["hourglass"]}',
                   f'prcnn_checkpoint:={checkpoints["wrong_prcnn" if state == "failed_configure" else "prcnn"]}']
    elif state == 'failed_configure':
        common += [f'lifter_checkpoint:={HOURGLASS_CHECKPOINT}']  # an hourglass is no lifter
    return common + ([] if state in ('unconfigured', 'configuring') else ['autostart:=true'])


# (node, state, signal, sent twice): one process each.
CASES = [('lifter', 'unconfigured', signal.SIGINT, False), ('lifter', 'unconfigured', signal.SIGTERM, True),
         ('lifter', 'failed_configure', signal.SIGINT, True), ('lifter', 'loaded', signal.SIGTERM, False),
         ('lifter', 'loaded', signal.SIGINT, True), ('lifter', 'configuring', signal.SIGTERM, False),
         ('camera', 'unconfigured', signal.SIGTERM, False), ('camera', 'failed_configure', signal.SIGTERM, False),
         ('camera', 'loaded', signal.SIGINT, True)]


@pytest.mark.parametrize('node_name, state, signum, twice', CASES,
                         ids=[f'{n}-{s}-{signal.Signals(g).name}{"-twice" if t else ""}' for n, s, g, t in CASES])
def test_a_signal_stops_the_node_with_exit_code_0_within_2_s(node_name, state, signum, twice, checkpoints,
                                                             tmp_path, tmp_path_factory):
    cache_dir = tmp_path_factory.mktemp('empty_cache')  # 'configuring': the ONNX export takes seconds
    log_path = tmp_path / 'output.log'
    expected = {'loaded': 'active', 'failed_configure': 'unconfigured'}.get(state, 'unconfigured')
    with node_process(node_name, lambda: Probe(node_name), log_path,
                      *parameters(node_name, state, checkpoints, cache_dir), state=expected) as probe:
        process = probe.process
        if state == 'failed_configure':
            probe.spin_until(lambda: probe.logged('configure failed'), 10.0, 'the configure failure')
        if state == 'configuring':
            configure = probe.change_state.call_async(ChangeState.Request(
                transition=Transition(id=TRANSITIONS['configure'])))
            probe.spin_for(CONFIGURE_STARTED_S)
            assert not configure.done(), 'the configure ended before the signal'
        rate_hz = LIFTER_RATE_HZ if node_name == 'lifter' else CAMERA_RATE_HZ
        due = start = time.monotonic()
        while state == 'loaded' and (time.monotonic() < start + LOAD_S or probe.outputs < OUTPUTS_BEFORE_STOP):
            assert time.monotonic() < start + 10.0, f'{probe.outputs} outputs after 10 s of input'
            probe.load_frame()
            due += 1.0 / rate_hz
            rclpy.spin_once(probe.node, timeout_sec=max(0.0, due - time.monotonic()))
        started = time.monotonic()
        process.send_signal(signum)
        if twice:
            time.sleep(0.05)
            process.send_signal(signum)
        while process.poll() is None and time.monotonic() < started + 10.0:
            if state == 'loaded':  # the load goes on while the node stops
                probe.load_frame()
            time.sleep(1.0 / rate_hz)
        stopped_s = time.monotonic() - started
    output = log_path.read_text()
    assert process.returncode == 0, output
    assert stopped_s < STOP_BOUND_S, (stopped_s, output)
    assert 'Traceback' not in output and 'RCLError' not in output, output
