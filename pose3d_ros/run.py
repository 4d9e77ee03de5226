"""pose3d_run: start the pose3d_ros node graph in one process and print what it publishes.

The same nodes and parameter files that launch/pose3d.launch.py uses on a ROS install, for
machines without `launch` (ROS 2 from PyPI wheels, CI). Nodes run in one executor and talk over
the real DDS graph, in the /pose3d namespace:
  --input images (default)  image_source (the built-in demo, or the video, image folder or rosbag
                            its parameters name) -> camera (BlazePose, or hourglass + PRCNN with
                            --front-end drpose3d) -> lifter (DPNet)
  --input replay            skeleton_replay (ground-truth 2D joints and ranking) -> lifter
  --input camera            camera -> lifter on the images of another process (a camera driver;
                            --image-topic names its topic)
The lifecycle nodes (camera, lifter) are configured and activated here. A printer node prints,
once all of a frame's topics have arrived, one line for the frame (the people count and, per
person id, the 2D joints and box, the ranking's edges, the lifted skeleton's height and its error
against the ground truth where the input has one: MPJPE after root alignment) and one line of 3D
joints per person; frames with nobody print "0 people". The frame line starts with the latency
from the frame's stamp to the skeletons' arrival. With --record DIR, the /pose3d topics (all but
the images) go to an MCAP recording DIR/pose3d_<time>/recording and the first person of the last
frame with people to DIR/pose3d_<time>/last_skeleton.png.
"""
import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo
from visualization_msgs.msg import MarkerArray

from pose3d_ros import messages
from pose3d_ros.atomic import atomic_write
from pose3d_ros.msg import DepthRankingArray, Keypoints2DArray, Skeleton3D, Skeleton3DArray
from pose3d_ros.inference.pipeline import FRONT_ENDS
from pose3d_ros.nodes.camera import CameraNode
from pose3d_ros.nodes.image_source import ImageSource, SourceError
from pose3d_ros.nodes.lifecycle import SPIN_TIMEOUT_S, stop_on_signals
from pose3d_ros.nodes.lifter import LifterNode
from pose3d_ros.nodes.recorder import Recorder
from pose3d_ros.nodes.skeleton_replay import SkeletonReplay
from pose3d_ros.ranking import behind_front_edges
from pose3d_ros.skeleton import BONES, JOINT_NAMES, ROOT

NAMESPACE = 'pose3d'
INPUTS = ('images', 'replay', 'camera')
GROUND_TRUTH = 'ground_truth/skeleton'
# topic (relative to NAMESPACE) -> message type the printer waits for on every frame; the
# ground truth too where the input publishes one
PRINTED_TOPICS = {'keypoints_2d': Keypoints2DArray, 'ranking': DepthRankingArray, 'skeleton': Skeleton3DArray}
# recorded besides the printed ones
OTHER_RECORDED_TOPICS = {'markers': MarkerArray, 'camera_info': CameraInfo}


def default_params_file():
    """config/pose3d.yaml of the source checkout, else the installed share/pose3d_ros copy."""
    source = Path(__file__).resolve().parents[1] / 'config' / 'pose3d.yaml'
    if source.is_file():
        return source
    from ament_index_python.packages import get_package_share_directory
    return Path(get_package_share_directory('pose3d_ros')) / 'config' / 'pose3d.yaml'


def _root_relative(person):
    """messages.PersonSkeleton -> (joint indices, (N, 3) positions relative to its root)."""
    if ROOT not in person.joint_indices:
        raise ValueError(f'the skeleton of person {person.id} has no root joint')
    return person.joint_indices, person.positions - person.positions[person.joint_indices == ROOT]


def mpjpe_mm(skeleton, ground_truth):
    """Mean per-joint position error of a skeleton against the ground truth (both
    messages.PersonSkeleton) after root alignment, in millimetres, over the joints both carry."""
    indices, positions = _root_relative(skeleton)
    truth_indices, truth = _root_relative(ground_truth)
    _, mine, theirs = np.intersect1d(indices, truth_indices, return_indices=True)
    return float(np.linalg.norm(positions[mine] - truth[theirs], axis=1).mean() * 1000)


def _read_all(array_msg):
    """{id: person} of an array message; ValueError listing its problems if it has any."""
    people, problems = messages.people_from_array(array_msg)
    if problems:
        raise ValueError('; '.join(problems))
    return people


def ground_truth_partner(skeletons, ground_truth):
    """The id of the lifted person the ground truth describes: the one with its id, else the only
    one; None when neither."""
    if ground_truth.id in skeletons:
        return ground_truth.id
    return next(iter(skeletons)) if len(skeletons) == 1 else None


def describe_frame(frame):
    """Lines summarising the messages of one frame: the people count and per person id its 2D
    joints, box, ranking and lifted skeleton (with its error against the ground truth, where the
    frame has one), then one line of 3D joints per lifted person."""
    keypoints = _read_all(frame['keypoints_2d'])
    rankings = _read_all(frame['ranking'])
    skeletons = _read_all(frame['skeleton'])
    truth_msg = frame.get(GROUND_TRUTH)
    truth = messages.skeleton_from_msg(truth_msg) if truth_msg is not None else None
    measured = ground_truth_partner(skeletons, truth) if truth is not None else None
    count = len(keypoints)
    models = sorted({person.model for person in frame['skeleton'].people})
    parts = [f'{count} {"person" if count == 1 else "people"}'
             + (f' (skeletons by {", ".join(models)})' if models else '')]
    joint_lines = []
    for person_id in sorted(keypoints.keys() | skeletons.keys()):
        part = f'id {person_id}:'
        if person_id in keypoints:
            person = keypoints[person_id]
            x_min, y_min, x_max, y_max = person.box
            part += (f' {len(person.pixels)} joints, box {x_max - x_min:.0f}x{y_max - y_min:.0f} px at '
                     f'({x_min:.0f}, {y_min:.0f}), score {person.score:.2f}')
        if person_id in rankings:
            part += f', {len(behind_front_edges(rankings[person_id].ranking))} behind->front edges'
        if person_id in skeletons:
            indices, positions = _root_relative(skeletons[person_id])
            part += f', skeleton {len(indices)} joints, height {np.ptp(positions[:, 1]):.2f} m'
            root = skeletons[person_id].root
            if root is not None:
                part += f', root at ({root[0]:+.2f} {root[1]:+.2f} {root[2]:+.2f}) m'
                if person_id == measured and truth.root is not None:
                    part += f' ({np.linalg.norm(root - truth.root) * 1000:.0f} mm from the truth)'
            if person_id == measured:
                part += f', MPJPE {mpjpe_mm(skeletons[person_id], truth):.1f} mm against {truth_msg.model}'
            joints = ' '.join(f'{JOINT_NAMES[i]} ({x:+.2f} {y:+.2f} {z:+.2f})'
                              for i, (x, y, z) in zip(indices, positions))
            joint_lines.append(f'    id {person_id} joints (m, root-relative, camera axes x right y down z forward): '
                               f'{joints}')
        else:
            part += ', not lifted'
        parts.append(part)
    return '\n'.join([' | '.join(parts), *joint_lines])


def save_skeleton_figure(path, skeleton, ground_truth=None):
    """PNG of a lifted Skeleton3D (root-relative, seen from beside the camera), with the ground
    truth (a Skeleton3D) in grey where given; written atomically."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=(5, 5.5))
    axis = figure.add_subplot(projection='3d')
    drawn = [(skeleton, 'tab:orange', f'lifted ({skeleton.model}), id {skeleton.id}')]
    if ground_truth is not None:
        drawn.append((ground_truth, 'grey', f'ground truth ({ground_truth.model})'))
    for msg, colour, label in drawn:
        indices, positions = _root_relative(messages.skeleton_from_msg(msg))
        by_joint = dict(zip(indices.tolist(), positions))
        for parent, child in BONES:
            if parent in by_joint and child in by_joint:
                # optical frame (x right, y down, z forward) -> plot axes (x, depth, up)
                x, y, z = np.stack([by_joint[parent], by_joint[child]]).T
                axis.plot(x, z, -y, color=colour, linewidth=2, label=label)
                label = None
    axis.set(xlabel='x (m)', ylabel='z, depth (m)', zlabel='-y, up (m)', xlim=(-1, 1), ylim=(-1, 1), zlim=(-1, 1))
    ticks = np.linspace(-1, 1, 5)
    axis.set(xticks=ticks, yticks=ticks, zticks=ticks)
    axis.tick_params(labelsize=7)
    axis.view_init(elev=15, azim=-70)
    axis.legend(loc='upper left', fontsize=8)
    stamp = Time.from_msg(skeleton.header.stamp).nanoseconds / 1e9
    axis.set_title(f'last skeleton, stamp {stamp:.3f}, frame {skeleton.header.frame_id}', fontsize=9)
    atomic_write(path, lambda file: figure.savefig(file, format='png', dpi=100))
    plt.close(figure)


class TopicPrinter(Node):
    """Collects the messages of `topics` ({relative name: type}) per frame, keyed by header stamp,
    and prints the complete frames."""

    def __init__(self, max_frames, topics, output=sys.stdout):
        super().__init__('printer', namespace=NAMESPACE)
        self.max_frames = max_frames
        self.output = output
        self.printed = 0
        self.last_lifted = None  # (first lifted Skeleton3D, ground truth or None) of the last frame with people
        self.topics = topics
        self.pending = {}  # stamp in ns -> {topic: message}
        self.skeleton_arrival = {}  # stamp in ns -> clock time in ns the lifted skeleton arrived
        for topic, msg_type in self.topics.items():
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
        if len(frame) < len(self.topics) or self.done:
            return
        del self.pending[stamp]
        for old in [s for s in self.pending if s < stamp]:  # frames that will never complete
            del self.pending[old]
        latency_ms = (self.skeleton_arrival.pop(stamp) - stamp) / 1e6
        for old in [s for s in self.skeleton_arrival if s < stamp]:
            del self.skeleton_arrival[old]
        self.printed += 1
        if frame['skeleton'].people:
            self.last_lifted = frame['skeleton'].people[0], frame.get(GROUND_TRUTH)
        print(f'frame {self.printed:4d}  stamp {stamp / 1e9:.3f}  latency {latency_ms:5.1f} ms | '
              f'{describe_frame(frame)}', file=self.output, flush=True)


def build_graph(kind, ros_args, image_topic, camera_info_topic, front_end=None):
    """-> (source node or None, lifecycle nodes in transition order, whether a ground truth is
    published). front_end: the camera's `front_end` parameter (None: the parameter files')."""
    options = {'namespace': NAMESPACE, 'cli_args': ros_args}
    # After the parameter files: a -p override wins over them.
    camera_args = ros_args + (['-p', f'front_end:={front_end}'] if front_end else [])
    if kind == 'replay':
        return SkeletonReplay(**options), [LifterNode(**options)], True
    if kind == 'images':
        source = ImageSource(**options)
        camera = CameraNode(namespace=NAMESPACE, cli_args=camera_args)
        return source, [LifterNode(**options), camera], source.skeleton_pub is not None
    # A camera driver elsewhere: image_transport's names for its raw and compressed topics.
    camera = CameraNode(namespace=NAMESPACE, cli_args=camera_args + [
        '-r', f'image:={image_topic}', '-r', f'image/compressed:={image_topic}/compressed'])
    lifter = LifterNode(namespace=NAMESPACE, cli_args=ros_args + ['-r', f'camera_info:={camera_info_topic}'])
    return None, [lifter, camera], False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--input', choices=INPUTS, default='images',
                        help='what feeds the graph (default: %(default)s; see the module docstring)')
    parser.add_argument('--front-end', choices=FRONT_ENDS, default=None,
                        help='who finds the people in the camera node (its front_end parameter; default: '
                             'the parameter files\' value, blazepose in config/pose3d.yaml)')
    parser.add_argument('--params-file', type=Path, action='append', default=None,
                        help='ROS 2 parameter file (default: config/pose3d.yaml); repeat it to '
                             'overlay files, later ones win (e.g. config/jetson.yaml)')
    parser.add_argument('--image-topic', default='/camera/image_raw',
                        help='--input camera: the driver\'s image topic (default: %(default)s)')
    parser.add_argument('--camera-info-topic', default='/camera/camera_info',
                        help='--input camera: the driver\'s camera_info topic (default: %(default)s)')
    parser.add_argument('--frames', type=int, default=0,
                        help='stop after printing this many frames (default: run until Ctrl-C)')
    parser.add_argument('--timeout', type=float, default=0.0,
                        help='stop after this many seconds (default: no limit)')
    parser.add_argument('--record', type=Path, default=None,
                        help='write an MCAP recording of the /pose3d topics and an image of the last '
                             'skeleton into a new folder DIR/pose3d_<time>')
    args = parser.parse_args(argv)
    if args.front_end and args.input == 'replay':
        parser.error('--front-end sets the camera node, which --input replay does not run')
    params_files = args.params_file or [default_params_file()]
    for params_file in params_files:
        if not params_file.is_file():
            parser.error(f'parameter file not found: {params_file}')
    record_dir = None
    if args.record is not None:
        record_dir = args.record / datetime.now().strftime('pose3d_%Y%m%d-%H%M%S')
        if record_dir.exists():
            parser.error(f'output folder already exists: {record_dir}')
        record_dir.mkdir(parents=True)

    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)  # the nodes stop before rclpy: stop_on_signals
    ros_args = ['--ros-args'] + [arg for path in params_files for arg in ('--params-file', str(path))]
    try:
        source, lifecycle_nodes, ground_truth = build_graph(args.input, ros_args, args.image_topic,
                                                            args.camera_info_topic, args.front_end)
    except SourceError:  # the node has logged it, naming the file or topic
        print('pose3d_run: image_source cannot start (see its log above)', file=sys.stderr)
        rclpy.try_shutdown()
        return 1
    printed_topics = {**PRINTED_TOPICS, **({GROUND_TRUTH: Skeleton3D} if ground_truth else {})}
    printer = TopicPrinter(args.frames, printed_topics)
    nodes = [node for node in (source, *lifecycle_nodes, printer) if node is not None]
    recorder = None
    if record_dir is not None:
        recorded = {**printed_topics, **OTHER_RECORDED_TOPICS}
        recorder = Recorder(record_dir / 'recording', {f'/{NAMESPACE}/{t}': c for t, c in recorded.items()})
        nodes.append(recorder)
    # Single-threaded: rclpy 9's MultiThreadedExecutor re-polls its wait set thousands of times
    # a second while callbacks run, and its GIL contention delayed messages by 0.4-3.4 s here
    # (measured: 10 ms stamp-to-skeleton latency with this executor). Concurrency stays where it
    # matters: the camera node runs its networks in its own worker thread.
    executor = SingleThreadedExecutor()
    for node in nodes:
        executor.add_node(node)
    try:
        for node in lifecycle_nodes:
            for transition in ('configure', 'activate'):
                if getattr(node, f'trigger_{transition}')() != TransitionCallbackReturn.SUCCESS:
                    print(f'pose3d_run: the {node.get_name()} node failed to {transition} '
                          '(see its log above)', file=sys.stderr)
                    return 1
        deadline = time.monotonic() + args.timeout if args.timeout > 0 else float('inf')
        stop = stop_on_signals()
        while rclpy.ok() and not stop.is_set() and not printer.done and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=SPIN_TIMEOUT_S)
        if recorder is not None:  # the printed frames' messages may still wait for the recorder
            settle = time.monotonic() + 0.3
            while rclpy.ok() and time.monotonic() < settle:
                executor.spin_once(timeout_sec=0.05)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown()
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()
    if recorder is not None:
        counts = ', '.join(f'{topic} {count}' for topic, count in recorder.counts.items())
        print(f'recorded {recorder.path} (MCAP): {counts}')
        if printer.last_lifted is not None:
            figure = record_dir / 'last_skeleton.png'
            save_skeleton_figure(figure, *printer.last_lifted)
            print(f'last skeleton: {figure}')
        else:
            print('last skeleton: none (nobody was lifted)')
    if args.frames and not printer.done:
        print(f'pose3d_run: only {printer.printed} of {args.frames} frames arrived', file=sys.stderr)
        return 1
    return 0
