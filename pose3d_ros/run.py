"""pose3d_run: start the pose3d_ros node graph in one process and print what it publishes.

The same nodes and parameter file that launch/pose3d.launch.py uses on a ROS install, for
machines without `launch` (ROS 2 from PyPI wheels, CI). Nodes run in a MultiThreadedExecutor
and talk over the real DDS graph: skeleton_replay feeds the lifter (a lifecycle node, configured
and activated here), and a printer node subscribes to the /pose3d topics and prints one line per
frame once every topic has delivered that frame: the 2D input, the ground truth, the lifted
skeleton's error against it (MPJPE after root alignment), and the latency from the frame's stamp
to the lifted skeleton's arrival.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.node import Node
from rclpy.time import Time

from pose3d_ros import messages
from pose3d_ros.msg import DepthRanking, Keypoints2D, Skeleton3D
from pose3d_ros.nodes.lifter import LifterNode
from pose3d_ros.nodes.skeleton_replay import SkeletonReplay
from pose3d_ros.ranking import behind_front_edges
from pose3d_ros.skeleton import ROOT

NAMESPACE = 'pose3d'
# topic (relative to NAMESPACE) -> message type the printer waits for on every frame
PRINTED_TOPICS = {
    'keypoints_2d': Keypoints2D,
    'ranking': DepthRanking,
    'ground_truth/skeleton': Skeleton3D,
    'skeleton': Skeleton3D,
}


class ExecutorJoiningWorkers(MultiThreadedExecutor):
    """MultiThreadedExecutor whose shutdown lets callbacks in flight finish first.

    rclpy 9 destroys the executor's guard condition before joining its worker threads, so a
    callback still running at shutdown fails with InvalidHandle when it signals that guard.
    Only safe when no other thread is spinning this executor (the runner spins from main).
    """

    def shutdown(self, timeout_sec=None, *, wait_for_threads=True):
        self._executor.shutdown(wait=True)  # the worker pool
        return super().shutdown(timeout_sec, wait_for_threads=wait_for_threads)


def default_params_file():
    """config/pose3d.yaml of the source checkout, else the installed share/pose3d_ros copy."""
    source = Path(__file__).resolve().parents[1] / 'config' / 'pose3d.yaml'
    if source.is_file():
        return source
    from ament_index_python.packages import get_package_share_directory
    return Path(get_package_share_directory('pose3d_ros')) / 'config' / 'pose3d.yaml'


def mpjpe_mm(skeleton, ground_truth):
    """Mean per-joint position error of a skeleton against the ground truth after root
    alignment, in millimetres, over the joints both carry."""
    indices, positions, _ = messages.skeleton_from_msg(skeleton)
    truth_indices, truth, _ = messages.skeleton_from_msg(ground_truth)
    if ROOT not in indices or ROOT not in truth_indices:
        raise ValueError('both skeletons need the root joint')
    _, mine, theirs = np.intersect1d(indices, truth_indices, return_indices=True)
    error = ((positions[mine] - positions[indices == ROOT])
             - (truth[theirs] - truth[truth_indices == ROOT]))
    return float(np.linalg.norm(error, axis=1).mean() * 1000)


def describe_frame(frame):
    """One line summarising the messages of one frame."""
    _, pixels, _ = messages.keypoints_from_msg(frame['keypoints_2d'])
    _, _, ranking = messages.ranking_from_msg(frame['ranking'])
    truth = frame['ground_truth/skeleton']
    indices, positions, _ = messages.skeleton_from_msg(truth)
    root = truth.root_position
    lifted = frame['skeleton']
    width, height = pixels.max(axis=0) - pixels.min(axis=0)
    return (f'keypoints_2d: {len(pixels)} joints in {width:.0f}x{height:.0f} px | '
            f'ranking: {len(ranking)}x{len(ranking)}, {len(behind_front_edges(ranking))} '
            f'behind->front edges | ground_truth/skeleton ({truth.model}): {len(indices)} joints, '
            f'root ({root.x:.2f}, {root.y:.2f}, {root.z:.2f}) m, '
            f'height {positions[:, 1].max() - positions[:, 1].min():.2f} m | '
            f'skeleton ({lifted.model}): {len(lifted.positions)} joints, '
            f'MPJPE {mpjpe_mm(lifted, truth):.1f} mm')


class TopicPrinter(Node):
    """Collects the messages of each frame (keyed by header stamp) and prints complete frames."""

    def __init__(self, max_frames, output=sys.stdout):
        super().__init__('printer', namespace=NAMESPACE)
        self.max_frames = max_frames
        self.output = output
        self.printed = 0
        self.pending = {}  # stamp in ns -> {topic: message}
        self.skeleton_arrival = {}  # stamp in ns -> clock time in ns the lifted skeleton arrived
        for topic, msg_type in PRINTED_TOPICS.items():
            self.create_subscription(
                msg_type, topic, lambda msg, topic=topic: self.on_message(topic, msg), 10)

    @property
    def done(self):
        return 0 < self.max_frames <= self.printed

    def on_message(self, topic, msg):
        stamp = Time.from_msg(msg.header.stamp).nanoseconds
        if topic == 'skeleton':
            self.skeleton_arrival[stamp] = self.get_clock().now().nanoseconds
        frame = self.pending.setdefault(stamp, {})
        frame[topic] = msg
        if len(frame) < len(PRINTED_TOPICS) or self.done:
            return
        del self.pending[stamp]
        for old in [s for s in self.pending if s < stamp]:  # frames that will never complete
            del self.pending[old]
        latency_ms = (self.skeleton_arrival.pop(stamp) - stamp) / 1e6
        for old in [s for s in self.skeleton_arrival if s < stamp]:
            del self.skeleton_arrival[old]
        self.printed += 1
        print(f'frame {self.printed:4d}  stamp {stamp / 1e9:.3f}  latency {latency_ms:5.1f} ms | '
              f'{describe_frame(frame)}', file=self.output, flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--params-file', type=Path, default=None,
                        help='ROS 2 parameter file (default: config/pose3d.yaml)')
    parser.add_argument('--frames', type=int, default=0,
                        help='stop after printing this many frames (default: run until Ctrl-C)')
    parser.add_argument('--timeout', type=float, default=0.0,
                        help='stop after this many seconds (default: no limit)')
    args = parser.parse_args(argv)
    params_file = args.params_file or default_params_file()
    if not params_file.is_file():
        parser.error(f'parameter file not found: {params_file}')

    rclpy.init()
    ros_args = ['--ros-args', '--params-file', str(params_file)]
    lifter = LifterNode(namespace=NAMESPACE, cli_args=ros_args)
    nodes = [SkeletonReplay(namespace=NAMESPACE, cli_args=ros_args), lifter,
             TopicPrinter(args.frames)]
    executor = ExecutorJoiningWorkers()
    for node in nodes:
        executor.add_node(node)
    try:
        for transition in (lifter.trigger_configure, lifter.trigger_activate):
            if transition() != TransitionCallbackReturn.SUCCESS:
                print(f'pose3d_run: the lifter failed to {transition.__name__[len("trigger_"):]} '
                      '(see its log above)', file=sys.stderr)
                return 1
        # After configure: its first run exports the lifter to ONNX (seconds).
        deadline = time.monotonic() + args.timeout if args.timeout > 0 else float('inf')
        while rclpy.ok() and not nodes[-1].done and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown()
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()
    if args.frames and not nodes[-1].done:
        print(f'pose3d_run: only {nodes[-1].printed} of {args.frames} frames arrived',
              file=sys.stderr)
        return 1
    return 0
