"""lifter: a lifecycle node that lifts everyone's 2D joints and depth ranking to 3D (DPNet).

Subscribes (relative names; the runner and launch files put the node in the /pose3d namespace)
  keypoints_2d   pose3d_ros/Keypoints2DArray   everyone's 2D joints in one image; each person must
                                               hold the 16 DETECTED_JOINTS
  ranking        pose3d_ros/DepthRankingArray  their depth rankings (same ids, same 16 joints)
  camera_info    sensor_msgs/CameraInfo        the camera's intrinsics (the latest one is used)
  depth          sensor_msgs/Image             (use_depth; optional) a depth image registered to
                                               the camera's image (16UC1 mm or 32FC1 m, same
                                               optical frame): the one nearest a frame's stamp
                                               (within depth_max_offset_s) refines where each
                                               person stands (pose3d_ros.root.refine_with_depth)
Publishes one message per frame, with the input's header (image stamp, optical frame)
  skeleton       pose3d_ros/Skeleton3DArray    per person (same ids): 17 joints in metres,
                                               root-relative, and where the person stands: the
                                               root position in the optical frame with its
                                               covariance (root_known; pose3d_ros/root.py, from
                                               the joints with confidence >= 0.2; refined by the
                                               depth image, or else by the floor, ground_plane), both smoothed
                                               over time per id (One-Euro, `smoothing`); empty
                                               when the frame had nobody
  markers        visualization_msgs/MarkerArray  a DELETEALL marker (people who left disappear),
                                               then per person, in namespaces person_<id>/joints,
                                               person_<id>/bones and (show_ranking_edges)
                                               person_<id>/ranking_edges: joints (spheres, left
                                               blue, right red), bones (a line list in the id's
                                               palette colour) and the behind -> front ranking
                                               edges; each skeleton is drawn at its root, or at
                                               the back-projection of its 2D root at
                                               `display_depth_m` when the root could not be placed
  /tf            tf2_msgs/TFMessage            (publish_tf) per placed person, one frame per
                                               joint, `<tf_prefix>/<id>/<joint name>`, child of
                                               the image's optical frame (translation only)
  /diagnostics   diagnostic_msgs/DiagnosticArray  once a second: rates, people per frame, latency,
                                               drops, rejected messages and people, every dropped
                                               message by reason (DROP_REASONS), backend

Every message is checked before it is used, so a malformed one never displaces a valid one. A
keypoints_2d, ranking or depth with an empty frame_id or an impossible stamp (negative, nanosec
>= 10^9), an array whose people are all malformed, a camera_info the lifter cannot use (the last
valid one stays in use) and a depth image it cannot read are rejected. Within an array, a
malformed person, or one without a partner of the same id in the other array, is rejected on its
own and the frame's other people are still lifted. Each rejection is logged as a rate-limited
warning naming the problem; the node keeps running.

keypoints_2d and ranking are paired by identical header stamp in a small buffer that only valid
arrays enter. A second array of a kind for a stamp is dropped, unless it has fewer malformed
people than the one waiting, which it then supersedes. When a frame completes, older incomplete
ones can no longer complete (each topic arrives in order) and are dropped as unmatched, as is the
oldest entry when the buffer is full; an array for a frame already lifted or dropped comes late
and is dropped. Frames that complete before any valid camera_info are dropped. Messages that never
reached the node's callbacks (a full subscription queue, or lost on the way) are counted from the
gaps in each publisher's sequence numbers.

Lifecycle: `configure` reads the parameters marked "at configure" and loads the lifter backend;
`activate` subscribes and enables the publishers and the diagnostics timer; `deactivate` destroys
the subscriptions and forgets the pending frames and the camera_info; `cleanup` releases the
lifter and the publishers. With `autostart` the executable configures and activates itself.
"""
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point, TransformStamped
from rclpy.duration import Duration
from rcl_interfaces.msg import SetParametersResult
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import ColorRGBA, Header
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import Marker, MarkerArray

from pose3d_ros import images, messages
from pose3d_ros.camera import back_project, check_camera_info, pixels_to_normalized
from pose3d_ros.inference.backends import make_backend
from pose3d_ros.inference.pipeline import lift_person
from pose3d_ros.paths import DEFAULT_LIFTER
from pose3d_ros.msg import DepthRankingArray, Keypoints2DArray, Skeleton3DArray
from pose3d_ros.nodes.lifecycle import AT_CONFIGURE, InferenceNode, logged_transition, spin
from pose3d_ros.nodes.parameters import declare
from pose3d_ros.nodes.qos import image_qos
from pose3d_ros.nodes.rate_limit import RateLimitedWarnings
from pose3d_ros.ranking import behind_front_edges
from pose3d_ros.root import floor_plane, refine_with_depth
from pose3d_ros.skeleton import BONES, DETECTED_JOINTS, JOINT_NAMES, NUM_JOINTS, ROOT
from pose3d_ros.smoothing import DEFAULT_BETA, DEFAULT_MIN_CUTOFF_HZ, TrackSmoother

# Inputs: best effort is compatible with reliable and best-effort publishers alike. Depth 100 per
# topic (about 1 s of the fuzz rates: 30 valid frames a second, ~100 messages a second on each
# topic with the malformed ones; the arrays are small): one message takes the node at most ~10 ms,
# so few wait at a time, and the queue holds the stalls a busy 2-core machine gives the executor.
# Depth 10 (a 100 ms stall) lost 2 valid frames in each of two 10-minute bench/fuzz_soak.py runs.
# What still overflows is counted ('lost in queue or transport').
INPUT_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT)
OUTPUT_DEPTH = 10
# tf2 broadcasters' queue depth (tf2_ros.TransformBroadcaster).
TF_DEPTH = 100
DEPTH_BUFFER = 10  # recent depth images kept for pairing by stamp
DEPTH_QOS_DEPTH = 2
LATENCY_WINDOW = 100  # frames in the latency medians
FINISHED_FRAMES = 100  # stamps of lifted or dropped frames remembered, to drop their late arrays
PUBLISHERS_TRACKED = 64  # publishers whose sequence numbers are followed, per input topic
SPINE = JOINT_NAMES.index('spine')
_ROOT_IN_DETECTED = int(np.searchsorted(DETECTED_JOINTS, ROOT))

# Marker look: sizes in metres, colours RGBA. Left and right joints keep their side's colour; a
# person's centre joints and bones take the palette colour of their id, so a tracked person keeps
# one colour from frame to frame.
JOINT_DIAMETER_M, BONE_WIDTH_M, EDGE_WIDTH_M = 0.05, 0.02, 0.005
LEFT_COLOUR, RIGHT_COLOUR = (0.2, 0.5, 1.0, 1.0), (1.0, 0.3, 0.2, 1.0)
PERSON_PALETTE = ((0.2, 0.9, 0.3, 1.0), (0.95, 0.6, 0.05, 1.0), (0.85, 0.4, 0.85, 1.0), (0.1, 0.85, 0.85, 1.0),
                  (0.95, 0.95, 0.3, 1.0), (0.6, 0.45, 0.25, 1.0), (0.9, 0.9, 0.9, 1.0), (0.5, 0.55, 1.0, 1.0))
BEHIND_COLOUR, FRONT_COLOUR = (0.1, 0.1, 0.6, 0.8), (1.0, 0.9, 0.1, 0.8)
# Marker kinds drawn per person, each in its own namespace person_<id>/<kind>.
MARKER_KINDS = {'joints': Marker.SPHERE, 'bones': Marker.LINE_LIST, 'ranking_edges': Marker.LINE_LIST}

# Why a message is dropped: the rejections (a malformed message), then the others.
REJECTION_REASONS = ('invalid header', 'no valid people', 'invalid camera_info', 'invalid depth')
DROP_REASONS = REJECTION_REASONS + (
    'late',              # a keypoints_2d / ranking for a frame already lifted or dropped
    'duplicate stamp',   # a second one of a kind for a waiting stamp, with no fewer malformed people
    'superseded',        # a waiting one replaced by a later one with fewer malformed people
    'unmatched',         # waited for its partner while a newer frame completed
    'buffer full',       # the oldest waiting, when pair_buffer_size frames wait
    'no camera_info',    # both of a frame that completed before any valid camera_info
    'lost in queue or transport',  # never reached the callbacks: sequence number gaps
    'internal error')    # its handling raised

# The DiagnosticStatus values, in order (keys are part of the node's interface).
DIAGNOSTIC_KEYS = (
    'input rate (Hz)', 'output rate (Hz)', 'people per frame (mean)', 'lifter latency median (ms per person)',
    'stamp to output latency median (ms)', 'frames lifted', 'people lifted', 'frames dropped (no camera_info)',
    'frames unmatched', 'messages rejected', 'people rejected', 'internal errors', 'people placed with depth',
    *(f'messages dropped: {reason}' for reason in DROP_REASONS),
    'camera_info', 'backend', 'precision', 'device', 'model')


@dataclass(frozen=True)
class Intrinsics:
    """A CameraInfo as pose3d_ros.camera uses it, plus the binning / ROI of the published image."""
    focal: tuple       # fx, fy, full-resolution pixels
    center: tuple      # cx, cy
    radial: tuple      # k1, k2, k3
    tangential: tuple  # p1, p2
    binning: tuple = (1, 1)
    offset: tuple = (0, 0)
    size: tuple = (0, 0)  # width, height of the full-resolution image (0: not given)

    def to_full_resolution(self, pixels):
        """(..., 2) pixels of the published (binned, ROI-cropped) image -> full-resolution pixels,
        which K refers to (pixel centres at integers)."""
        return (np.asarray(pixels, np.float64) + 0.5) * self.binning - 0.5 + self.offset


def intrinsics_from_camera_info(msg):
    """A CameraInfo -> Intrinsics; ValueError naming the field for what the lifter cannot use:
    intrinsics out of their sane ranges (pose3d_ros.camera.check_camera_info), a lens model it lacks.

    D follows ROS's layout: plumb_bob [k1, k2, p1, p2, k3], rational_polynomial [k1, k2, p1, p2,
    k3, k4, k5, k6]; pose3d_ros.camera takes radial (k1, k2, k3) and tangential (p1, p2) and has no
    rational part, so non-zero k4..k6 are refused. An empty or all-zero D means no distortion
    whatever the model.
    """
    check_camera_info(msg)
    fx, fy, cx, cy = (float(msg.k[index]) for index in (0, 4, 2, 5))
    d = np.asarray(msg.d, dtype=np.float64)
    radial, tangential = (0.0, 0.0, 0.0), (0.0, 0.0)
    model = msg.distortion_model
    if np.any(d):
        sizes = {'plumb_bob': (5,), 'rational_polynomial': (8,)}
        if model not in sizes:
            raise ValueError(f'CameraInfo.distortion_model {model!r} with non-zero D is not supported '
                             '(plumb_bob, rational_polynomial)')
        if d.size not in sizes[model]:
            raise ValueError(f'CameraInfo.d has {d.size} coefficients; {model} has {sizes[model][0]}')
        if np.any(d[5:]):
            raise ValueError('CameraInfo.d has non-zero rational_polynomial k4..k6, which the lens '
                             'model of pose3d_ros.camera does not include')
        radial, tangential = (d[0], d[1], d[4]), (d[2], d[3])
    return Intrinsics(focal=(fx, fy), center=(cx, cy), radial=tuple(map(float, radial)),
                      tangential=tuple(map(float, tangential)),
                      binning=(max(msg.binning_x, 1), max(msg.binning_y, 1)),
                      offset=(msg.roi.x_offset, msg.roi.y_offset), size=(msg.width, msg.height))


def checked_stamp(msg):
    """The header stamp of a message the lifter pairs, in ns; ValueError naming the field if the
    header is unusable (empty frame_id, negative stamp, nanosec out of range)."""
    name, header = type(msg).__name__, msg.header
    if not header.frame_id:
        raise ValueError(f'{name}.header.frame_id is empty')
    if header.stamp.sec < 0 or header.stamp.nanosec >= 10**9:
        raise ValueError(f'{name}.header.stamp is not a time: sec={header.stamp.sec}, nanosec={header.stamp.nanosec}')
    return Time.from_msg(header.stamp).nanoseconds


class SequenceGaps:
    """Messages a subscription never received, from the gaps in each publisher's publication
    sequence numbers (DDS numbers every sample a writer sends): those its full queue dropped and
    those lost on the way. Where the middleware does not number them, none are seen."""

    def __init__(self):
        self.last = OrderedDict()  # publisher gid -> last sequence number received

    def missed(self, info):
        """The messages missed before this one, from its MessageInfo (rclpy's dict)."""
        number = info.get('publication_sequence_number')
        if not number or number >= 2**63:  # absent, or rmw's "unsupported"
            return 0
        gid = bytes(info['publisher_gid']['data'])
        previous = self.last.pop(gid, None)
        self.last[gid] = number
        while len(self.last) > PUBLISHERS_TRACKED:
            self.last.popitem(last=False)
        return number - previous - 1 if previous is not None and number > previous else 0


@dataclass
class ArrayHalf:
    """One of a frame's two arrays as the pairing buffer holds it."""
    header: Header
    people: dict       # id -> its DETECTED_JOINTS data
    ids: set           # every id the array holds, malformed people's too
    problems: int      # malformed people


def _detected_rows(indices, what):
    missing = np.setdiff1d(DETECTED_JOINTS, indices)
    if missing.size:
        raise ValueError(f'{what} has {len(indices)} joints {indices.tolist()}; the lifter needs '
                         f'the 16 DETECTED_JOINTS, missing {missing.tolist()}')
    return np.searchsorted(indices, DETECTED_JOINTS)


def detected_keypoints(person):
    """messages.PersonKeypoints -> ((16, 2) pixels, (16,) confidence) of the DETECTED_JOINTS;
    ValueError if not all present (extra joints, such as the spine, are ignored)."""
    rows = _detected_rows(person.joint_indices, 'Keypoints2D')
    return person.pixels[rows].astype(np.float64), person.confidence[rows]


def detected_ranking(person):
    """messages.PersonRanking -> the (16, 16) discretized ranking of the DETECTED_JOINTS."""
    rows = _detected_rows(person.joint_indices, 'DepthRanking')
    return person.ranking[np.ix_(rows, rows)]


def skeleton_confidence(confidence_2d):
    """(16,) 2D confidences of the DETECTED_JOINTS -> (17,) per-joint confidence in [0, 1]; the
    undetected spine gets the lower of its neighbours (hip, thorax)."""
    confidence = np.zeros(NUM_JOINTS)
    confidence[DETECTED_JOINTS] = np.clip(confidence_2d, 0.0, 1.0)
    confidence[SPINE] = min(confidence[ROOT], confidence[JOINT_NAMES.index('thorax')])
    return confidence


def person_colour(person_id):
    """The palette colour (RGBA) of a track id."""
    return PERSON_PALETTE[person_id % len(PERSON_PALETTE)]


def marker_namespace(person_id, kind):
    return f'person_{person_id}/{kind}'


def _colour(rgba):
    return ColorRGBA(r=rgba[0], g=rgba[1], b=rgba[2], a=rgba[3])


def _point(xyz):
    return Point(x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))


def person_markers(header, person_id, joints_m, lifetime, ranking=None):
    """Markers of one person: (17, 3) joint positions in metres in header.frame_id.

    ns person_<id>/joints: one SPHERE per joint, marker id = canonical joint index; ns
    person_<id>/bones: one LINE_LIST, marker id 0; ns person_<id>/ranking_edges (when a (16, 16)
    ranking of the DETECTED_JOINTS is given): one LINE_LIST, marker id 0, from each behind joint
    (dark) to the joint in front of it (light).
    """
    colour = person_colour(person_id)

    def marker(kind, marker_id, scale):
        m = Marker(header=header, ns=marker_namespace(person_id, kind), id=marker_id, type=MARKER_KINDS[kind],
                   action=Marker.ADD, lifetime=lifetime)
        m.pose.orientation.w = 1.0
        m.scale.x = m.scale.y = m.scale.z = scale
        return m

    markers = []
    for joint, name in enumerate(JOINT_NAMES):
        m = marker('joints', joint, JOINT_DIAMETER_M)
        m.pose.position = _point(joints_m[joint])
        m.color = _colour(LEFT_COLOUR if name.startswith('l_') else
                          RIGHT_COLOUR if name.startswith('r_') else colour)
        markers.append(m)
    bones = marker('bones', 0, BONE_WIDTH_M)
    bones.color = _colour(colour)
    bones.points = [_point(joints_m[j]) for bone in BONES for j in bone]
    markers.append(bones)
    if ranking is not None:
        edges = marker('ranking_edges', 0, EDGE_WIDTH_M)
        edges.color = _colour(BEHIND_COLOUR)
        for behind, front in behind_front_edges(ranking):
            edges.points += [_point(joints_m[DETECTED_JOINTS[joint]]) for joint in (behind, front)]
            edges.colors += [_colour(BEHIND_COLOUR), _colour(FRONT_COLOUR)]
        markers.append(edges)
    return markers


def person_transforms(header, prefix, person_id, joints_m):
    """TransformStamped per joint of one placed person: frame `<prefix>/<id>/<joint name>` at
    (17, 3) joints_m (metres, header.frame_id), with the optical frame's orientation."""
    transforms = []
    for name, (x, y, z) in zip(JOINT_NAMES, joints_m.tolist()):
        transform = TransformStamped(header=header, child_frame_id=f'{prefix}/{person_id}/{name}')
        transform.transform.translation.x, transform.transform.translation.y = x, y
        transform.transform.translation.z = z
        transform.transform.rotation.w = 1.0
        transforms.append(transform)
    return transforms


def frame_markers(header, people, lifetime_s):
    """The MarkerArray of one frame: a DELETEALL marker first, so that the markers of people who
    left (or of edges turned off) disappear at once, then person_markers of each (id, (17, 3)
    joints in metres, ranking or None) in `people`."""
    lifetime = Duration(seconds=lifetime_s).to_msg()
    markers = [Marker(header=header, action=Marker.DELETEALL)]
    for person_id, joints_m, ranking in people:
        markers += person_markers(header, person_id, joints_m, lifetime, ranking)
    return MarkerArray(markers=markers)


class LifterNode(InferenceNode):
    def __init__(self, **node_options):
        super().__init__('lifter', **node_options)
        declare(self, 'lifter_checkpoint', '',
                'Lifter checkpoint (.pt); empty: the shipped ' + DEFAULT_LIFTER.name + '.' + AT_CONFIGURE)
        declare(self, 'pair_buffer_size', 10,
                'Frames waiting for their keypoints_2d / ranking partner (same stamp) before the '
                'oldest is dropped.' + AT_CONFIGURE, 1, 1000)
        declare(self, 'show_ranking_edges', False,
                'Draw the behind -> front ranking edges in the markers.')
        declare(self, 'marker_lifetime_s', 0.3,
                'Lifetime of the markers, seconds (a few frame periods); 0: until replaced.', 0.0, 3600.0)
        declare(self, 'display_depth_m', 3.0,
                'Depth at which the markers place a skeleton whose root could not be placed (on the ray '
                'through the 2D root), metres.', 0.1, 1000.0)
        declare(self, 'body_height_m', 0.0,
                'Standing height of the people in view, metres, when known (a body-height prior for the '
                'root position: poses are rescaled to it); 0: the lifter\'s own scale (Human3.6M adults).',
                0.0, 3.0)
        declare(self, 'ground_plane', [0.0, 0.0, 0.0, 0.0],
                'The floor people stand on, [a, b, c, d]: a x + b y + c z + d = 0 in the image\'s optical '
                'frame, metres, (a, b, c) pointing up (a level camera 1.2 m above the floor: [0.0, -1.0, '
                '0.0, 1.2]); it refines how far away each person is where no depth image does '
                '(pose3d_ros.root.refine_with_ground). All zeros: no floor.')
        declare(self, 'use_depth', True,
                'Subscribe to `depth` (a registered depth image) and place people with it when one is '
                'near the frame\'s stamp.' + AT_CONFIGURE)
        declare(self, 'depth_qos_reliability', 'best_effort',
                'Reliability of the depth subscription: best_effort (matches any publisher) or reliable '
                '(a reliable driver across processes: Fast DDS drops large best-effort images).' + AT_CONFIGURE)
        declare(self, 'depth_max_offset_s', 0.05,
                'Largest stamp difference between a frame and the depth image used for it, seconds.',
                0.0, 10.0)
        declare(self, 'publish_tf', True,
                'Broadcast every placed person\'s joints on /tf as <tf_prefix>/<id>/<joint> frames.')
        declare(self, 'tf_prefix', 'person', 'First part of the joints\' TF frame names.')
        declare(self, 'smoothing', True,
                'Smooth each person\'s pose and root over time (One-Euro filter per id, by the header stamps; '
                'docs/results.md: jitter and lag on real video).' + AT_CONFIGURE)
        declare(self, 'smoothing_min_cutoff_hz', DEFAULT_MIN_CUTOFF_HZ,
                'One-Euro cutoff at rest, Hz: lower removes more jitter and adds lag.' + AT_CONFIGURE, 0.01, 100.0)
        declare(self, 'smoothing_beta', DEFAULT_BETA,
                'One-Euro speed coefficient, 1/m: the cutoff rises by beta Hz per m/s of motion, keeping '
                'the lag small in fast motion.' + AT_CONFIGURE, 0.0, 1000.0)
        self.add_on_set_parameters_callback(self._check_parameters)
        self.lifter = self.smoother = None
        self._subscriptions_in = []
        self._timer = None
        self._active = False
        self._reset_state()

    @staticmethod
    def _check_parameters(parameters):
        """Refuse a ground_plane that is not a plane, naming the value."""
        for parameter in parameters:
            if parameter.name == 'ground_plane':
                try:
                    floor_plane(parameter.value)
                except ValueError as error:
                    return SetParametersResult(successful=False, reason=f'ground_plane: {error}')
        return SetParametersResult(successful=True)

    # -- lifecycle -------------------------------------------------------------------------------

    def _reset_state(self):
        self.camera = None
        self.camera_problem = 'none received yet'
        self.pending = OrderedDict()  # stamp ns -> {'keypoints' / 'ranking': ArrayHalf}, oldest first
        self.finished = OrderedDict()  # stamps ns of the last FINISHED_FRAMES frames lifted or dropped
        self.counts = dict.fromkeys(('inputs', 'outputs', 'people', 'dropped', 'frames_unmatched', 'rejected',
                                     'people_rejected', 'errors', 'depth_placed', *DROP_REASONS), 0)
        self._counts_at_last_report = dict(self.counts)
        self._last_report = time.monotonic()
        self.lifter_ms = deque(maxlen=LATENCY_WINDOW)
        self.stamp_to_output_ms = deque(maxlen=LATENCY_WINDOW)
        self.depth_images = deque(maxlen=DEPTH_BUFFER)  # (stamp ns, (H, W) metres), newest last
        if self.smoother is not None:
            self.smoother.reset()

    def _lifter_model(self):
        """The lifter checkpoint, or the OnnxModel of `model_bundle`."""
        bundle, checkpoint = self._model_bundle(), self._param('lifter_checkpoint')
        if bundle is None:
            return Path(checkpoint or DEFAULT_LIFTER).expanduser()
        if checkpoint:
            raise ValueError('model_bundle replaces lifter_checkpoint: set one or the other')
        return bundle.model('lifter')

    @logged_transition
    def on_configure(self, state):
        with self._lock:
            try:
                model = self._lifter_model()
                threads = self._backend_threads()
                self.backend_name, self.precision = self._param('backend'), self._param('precision')
                self.device = self._param('device')
                started = time.perf_counter()
                self.lifter = make_backend('lifter', model, self.backend_name, self.precision,
                                           self.device, threads, self._param('cache_dir'))
                self.model = self.lifter.label
            except Exception as error:  # a bad checkpoint, backend or precision: stay unconfigured
                self.lifter = None
                self.get_logger().error(f'configure failed: cannot load the lifter: {error}')
                return TransitionCallbackReturn.FAILURE
            try:
                parameter = 'depth_qos_reliability'
                self.depth_qos = image_qos(DEPTH_QOS_DEPTH, self._param(parameter))
                parameter = 'ground_plane'
                floor_plane(self._param(parameter))
            except ValueError as error:
                self.lifter = None
                self.get_logger().error(f'configure failed: {parameter}: {error}')
                return TransitionCallbackReturn.FAILURE
            self.pair_buffer_size = self._param('pair_buffer_size')
            self.smoother = (TrackSmoother(self._param('smoothing_min_cutoff_hz'), self._param('smoothing_beta'))
                             if self._param('smoothing') else None)
            self._warnings = RateLimitedWarnings(self.get_logger(), self._param('log_period_s'))
            self._publishers_out = [
                self.create_lifecycle_publisher(Skeleton3DArray, 'skeleton', OUTPUT_DEPTH),
                self.create_lifecycle_publisher(MarkerArray, 'markers', OUTPUT_DEPTH),
                self.create_lifecycle_publisher(DiagnosticArray, '/diagnostics', OUTPUT_DEPTH),
                self.create_lifecycle_publisher(TFMessage, '/tf', TF_DEPTH)]
            self.skeleton_pub, self.markers_pub, self.diagnostics_pub, self.tf_pub = self._publishers_out
            self._reset_state()
            self.get_logger().info(
                f'configured: {self.model} on {self.backend_name} {self.precision} ({self.device}), '
                f'loaded in {(time.perf_counter() - started) * 1000:.0f} ms')
            return super().on_configure(state)

    @logged_transition
    def on_activate(self, state):
        with self._lock:
            # camera_info first: rclpy's executors serve ready subscriptions in creation order, so a
            # frame's camera_info is used for it when all three are waiting.
            self._gaps = {kind: SequenceGaps() for kind in ('camera_info', 'keypoints', 'ranking', 'depth')}
            self._subscriptions_in = [
                self.create_subscription(CameraInfo, 'camera_info', self._on_camera_info, INPUT_QOS),
                self.create_subscription(Keypoints2DArray, 'keypoints_2d',
                                         lambda msg, info: self._on_input('keypoints', msg, info), INPUT_QOS),
                self.create_subscription(DepthRankingArray, 'ranking',
                                         lambda msg, info: self._on_input('ranking', msg, info), INPUT_QOS)]
            if self._param('use_depth'):
                self._subscriptions_in.append(self.create_subscription(Image, 'depth', self._on_depth, self.depth_qos))
            self.topics = {kind: sub.topic_name for kind, sub in
                           zip(('camera_info', 'keypoints', 'ranking', 'depth'), self._subscriptions_in)}
            self._timer = self.create_timer(1.0, self._publish_diagnostics)
            self._last_report = time.monotonic()
            self._counts_at_last_report = dict(self.counts)
            self._active = True
            return super().on_activate(state)

    def _release_network(self):
        self.lifter = None

    def _stop(self):
        self._active = False
        for subscription in self._subscriptions_in:
            self.destroy_subscription(subscription)
        self._subscriptions_in = []
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None
        self.camera, self.camera_problem = None, 'none received yet'
        self.pending.clear()
        self.finished.clear()

    # -- inputs ----------------------------------------------------------------------------------

    def _drop(self, reason, count=1):
        self.counts[reason] += count

    def _reject(self, kind, reason, error):
        self._drop(reason)
        self.counts['rejected'] += 1
        self._warnings.warn(f'{kind}: {reason}', f'rejected a message on {self.topics[kind]}: {error}')

    def _reject_person(self, kind, problem):
        self.counts['people_rejected'] += 1
        self._warnings.warn(f'{kind}_person', f'rejected a person on {self.topics[kind]}: {problem}')

    def _received(self, kind, info):
        """Whether the node is active (the message is for it); counts what the queue missed before."""
        if not self._active:
            return False
        self._drop('lost in queue or transport', self._gaps[kind].missed(info))
        return True

    def _on_camera_info(self, msg, info):
        with self._lock:
            if not self._received('camera_info', info):
                return
            try:
                self.camera, self.camera_problem = intrinsics_from_camera_info(msg), None
            except ValueError as error:
                # Wrong intrinsics would give wrong poses: the last valid ones stay (frames are
                # dropped until a first valid one arrives).
                if self.camera is None:
                    self.camera_problem = f'invalid: {error}'
                self._reject('camera_info', 'invalid camera_info', error)
            except Exception as error:  # never let a callback raise
                self._input_error(error)

    def _on_depth(self, msg, info):
        with self._lock:
            if not self._received('depth', info):
                return
            try:
                stamp = checked_stamp(msg)
            except ValueError as error:
                self._reject('depth', 'invalid header', error)
                return
            try:
                self.depth_images.append((stamp, images.depth_from_msg(msg)))
            except ValueError as error:
                self._reject('depth', 'invalid depth', error)
            except Exception as error:  # never let a callback raise
                self._input_error(error)

    def _depth_for(self, header):
        """The depth image (metres) whose stamp is nearest the header's, within depth_max_offset_s."""
        if not self.depth_images:
            return None
        stamp = Time.from_msg(header.stamp).nanoseconds
        offset, depth = min((abs(depth_stamp - stamp), depth) for depth_stamp, depth in self.depth_images)
        return depth if offset <= self._param('depth_max_offset_s') * 1e9 else None

    def _on_input(self, kind, msg, info):
        with self._lock:
            if not self._received(kind, info):
                return
            try:
                self._handle_input(kind, msg)
            except Exception as error:  # never let a callback raise
                self._input_error(error)

    def _internal_error(self, error):
        self.counts['errors'] += 1
        self._warnings.warn('internal_error', f'internal error while lifting: {type(error).__name__}: {error}')

    def _input_error(self, error):
        """An input callback raised: the message is dropped."""
        self._drop('internal error')
        self._internal_error(error)

    def _read_people(self, kind, msg):
        """An input array -> ArrayHalf; the problems of malformed people are rejected (the frame's
        other people stay)."""
        people, problems = messages.people_from_array(msg)
        detected = {}
        for person_id, person in people.items():
            try:
                detected[person_id] = detected_keypoints(person) if kind == 'keypoints' else detected_ranking(person)
            except ValueError as error:
                problems.append(f'{type(msg).__name__} person id {person_id}: {error}')
        for problem in problems:
            self._reject_person(kind, problem)
        return ArrayHalf(msg.header, detected, {person.id for person in msg.people}, len(problems))

    def _handle_input(self, kind, msg):
        """Check an array, then pair it by stamp (see the module's docstring); lift complete frames."""
        if kind == 'keypoints':
            self.counts['inputs'] += 1
        try:
            stamp = checked_stamp(msg)
        except ValueError as error:
            self._reject(kind, 'invalid header', error)
            return
        half = self._read_people(kind, msg)
        if msg.people and not half.people:
            self._reject(kind, 'no valid people', f'none of the {len(msg.people)} people of the '
                                                  f'{type(msg).__name__} is valid')
            return
        if stamp in self.finished:
            self._drop('late')
            return
        entry = self.pending.get(stamp)
        if entry is None:
            entry = self.pending[stamp] = {}
            while len(self.pending) > self.pair_buffer_size:
                self._drop_waiting(*self.pending.popitem(last=False), 'buffer full')
        elif kind in entry:
            if half.problems >= entry[kind].problems:
                self._drop('duplicate stamp')
                return
            self._drop('superseded')
        entry[kind] = half
        if len(entry) < 2:
            return
        # Complete: older incomplete frames can no longer complete (each topic arrives in order).
        while True:
            old_stamp, old = self.pending.popitem(last=False)
            if old_stamp == stamp:
                break
            self._drop_waiting(old_stamp, old, 'unmatched')
        self._finish(stamp)
        if self.camera is None:
            self.counts['dropped'] += 1
            self._drop('no camera_info', 2)
            self._warnings.warn('no_camera_info', f'dropping frames: no valid camera_info on '
                                                  f'{self.topics["camera_info"]} ({self.camera_problem})')
            return
        keypoints, ranking = entry['keypoints'], entry['ranking']
        self._lift_frame(keypoints.header, self._pair_people(keypoints, ranking))

    def _finish(self, stamp):
        self.finished[stamp] = None
        while len(self.finished) > FINISHED_FRAMES:
            self.finished.popitem(last=False)

    def _drop_waiting(self, stamp, entry, reason):
        """Drop a buffered frame that did not complete: its arrays, for `reason`."""
        self.counts['frames_unmatched'] += 1
        self._drop(reason, len(entry))
        self._finish(stamp)

    def _pair_people(self, keypoints, rankings):
        """The frame's two ArrayHalf -> [(id, pixels, confidence, ranking)] in id order; a valid
        half whose id is absent from the other array is rejected."""
        for person_id in sorted(keypoints.people.keys() - rankings.ids):
            self._reject_person('keypoints', f'person id {person_id} has no ranking partner (no DepthRanking '
                                             'with that id in the frame)')
        for person_id in sorted(rankings.people.keys() - keypoints.ids):
            self._reject_person('ranking', f'person id {person_id} has no keypoints_2d partner (no '
                                           'Keypoints2D with that id in the frame)')
        return [(person_id, *keypoints.people[person_id], rankings.people[person_id])
                for person_id in sorted(keypoints.people.keys() & rankings.people.keys())]

    # -- lifting and outputs ---------------------------------------------------------------------

    def _lift(self, pixels, confidence, ranking, ground_plane):
        """(16, 2) full-resolution pixels, (16,) confidences and their (16, 16) ranking, and the
        floor plane or None -> pipeline.LiftedPerson."""
        camera = self.camera
        started = time.perf_counter()
        lifted = lift_person(self.lifter, pixels, confidence, ranking, camera.focal, camera.center,
                             camera.radial, camera.tangential, self._param('body_height_m'), ground_plane)
        self.lifter_ms.append((time.perf_counter() - started) * 1000)
        return lifted

    def _place_with_depth(self, lifted, pixels, confidence, depth):
        """Refine a placed person with the depth image (full-resolution pixels scaled to its size)."""
        width, height = self.camera.size
        to_depth = (depth.shape[1] / width, depth.shape[0] / height) if width and height else (1.0, 1.0)
        refined = refine_with_depth(lifted.pose_m, lifted.root, lifted.covariance,
                                    (pixels + 0.5) * to_depth - 0.5, confidence, depth)
        if refined is not None:
            lifted.pose_m, lifted.root, lifted.covariance = refined
            self.counts['depth_placed'] += 1

    def _lift_frame(self, header, people):
        """Lift every (id, pixels, confidence, ranking) of one frame; publish its Skeleton3DArray
        and MarkerArray (both also when `people` is empty)."""
        camera = self.camera
        display_depth_m = self._param('display_depth_m')
        show_edges = self._param('show_ranking_edges')
        publish_tf = self._param('publish_tf')
        skeletons, drawn, transforms = [], [], []
        stamp_s = Time.from_msg(header.stamp).nanoseconds / 1e9
        depth = self._depth_for(header)
        # A depth image measures the scale the floor would estimate: one or the other.
        ground_plane = floor_plane(self._param('ground_plane')) if depth is None else None
        for person_id, pixels, confidence, ranking in people:
            pixels = camera.to_full_resolution(pixels)
            lifted = self._lift(pixels, confidence, ranking, ground_plane)
            if depth is not None and lifted.root is not None:
                self._place_with_depth(lifted, pixels, confidence, depth)
            if self.smoother is not None:
                lifted.pose_m = self.smoother(person_id, 'pose', stamp_s, lifted.pose_m)
                if lifted.root is not None:
                    lifted.root = self.smoother(person_id, 'root', stamp_s, lifted.root)
            if lifted.root is None:  # drawn on the ray through its 2D root
                root_ray = pixels_to_normalized(pixels[_ROOT_IN_DETECTED], camera.focal, camera.center,
                                                camera.radial, camera.tangential)
                shown = lifted.pose_m + back_project(root_ray, display_depth_m)
            else:
                shown = lifted.pose_m + lifted.root
                if publish_tf:
                    transforms += person_transforms(header, self._param('tf_prefix'), person_id, shown)
            skeletons.append(messages.skeleton_msg(header, person_id, np.arange(NUM_JOINTS), lifted.pose_m,
                                                   skeleton_confidence(confidence), model=self.model,
                                                   root_position_m=lifted.root, root_covariance=lifted.covariance))
            drawn.append((person_id, shown, ranking if show_edges else None))
        self.skeleton_pub.publish(messages.skeleton_array_msg(header, skeletons))
        self.markers_pub.publish(frame_markers(header, drawn, self._param('marker_lifetime_s')))
        if transforms:
            self.tf_pub.publish(TFMessage(transforms=transforms))
        self.counts['outputs'] += 1
        self.counts['people'] += len(skeletons)
        self.stamp_to_output_ms.append(
            (self.get_clock().now().nanoseconds - Time.from_msg(header.stamp).nanoseconds) / 1e6)

    def _publish_diagnostics(self):
        with self._lock:
            try:
                if self._active:
                    self.diagnostics_pub.publish(DiagnosticArray(
                        header=Header(stamp=self.get_clock().now().to_msg()),
                        status=[self.diagnostic_status()]))
            except Exception as error:
                self._internal_error(error)

    def diagnostic_status(self):
        """The node's DiagnosticStatus since the last call (rates over that interval)."""
        now = time.monotonic()
        elapsed = max(now - self._last_report, 1e-9)
        since = {key: self.counts[key] - self._counts_at_last_report[key] for key in self.counts}
        self._last_report, self._counts_at_last_report = now, dict(self.counts)

        def median(values):
            return f'{np.median(values):.2f}' if values else 'n/a'

        problems = []
        if since['inputs'] == 0:
            problems.append(f'no input on {self.topics["keypoints"]}')
        if self.camera is None:
            problems.append(f'no valid camera_info ({self.camera_problem})')
        for key, what in (('dropped', 'frames dropped'), ('frames_unmatched', 'frames unmatched'),
                          ('rejected', 'messages rejected'), ('people_rejected', 'people rejected'),
                          ('errors', 'internal errors'), ('lost in queue or transport', 'messages lost')):
            if since[key]:
                problems.append(f'{since[key]} {what}')
        people_per_frame = f'{since["people"] / since["outputs"]:.2f}' if since['outputs'] else 'n/a'
        counts = self.counts
        values = (f'{since["inputs"] / elapsed:.2f}', f'{since["outputs"] / elapsed:.2f}', people_per_frame,
                  median(self.lifter_ms), median(self.stamp_to_output_ms), str(counts['outputs']),
                  str(counts['people']), str(counts['dropped']), str(counts['frames_unmatched']),
                  str(counts['rejected']), str(counts['people_rejected']), str(counts['errors']),
                  str(counts['depth_placed']),
                  *(str(counts[reason]) for reason in DROP_REASONS), 'valid' if self.camera else self.camera_problem,
                  self.backend_name, self.precision, self.device, self.model)
        return DiagnosticStatus(
            level=DiagnosticStatus.WARN if problems else DiagnosticStatus.OK,
            name=f'{self.get_name()}: lifting', hardware_id=self.device,
            message='; '.join(problems) if problems else 'lifting',
            values=[KeyValue(key=key, value=value) for key, value in zip(DIAGNOSTIC_KEYS, values, strict=True)])


def main(args=None):
    spin(LifterNode, args)
