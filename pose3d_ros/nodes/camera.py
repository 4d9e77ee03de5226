"""camera: a lifecycle node that finds people in a camera's images: their 2D joints and depth ranking.

Subscribes (relative names; the runner and launch files put the node in the /pose3d namespace)
  image              sensor_msgs/Image            with image_transport `raw`
  image/compressed   sensor_msgs/CompressedImage  with image_transport `compressed` (JPEG / PNG)
Publishes one message per processed image, with the image's header unchanged (stamp and optical
frame_id), also when nobody is in view (then with no people: joints are never invented)
  keypoints_2d   pose3d_ros/Keypoints2DArray   per person: track id, score, box, the 16
                                               DETECTED_JOINTS in image pixels with their
                                               confidence, and the crop the network saw
  ranking        pose3d_ros/DepthRankingArray  per person (same ids): the 16x16 probabilities
                                               that joint i is behind joint j, discretized with
                                               tie_band
  /diagnostics   diagnostic_msgs/DiagnosticArray  once a second: rates, people per frame,
                                               per-stage latency, drops, rejections, backend
Each person message carries the image's header too, and the people are in id order.

The front end (`front_end`, pose3d_ros.inference.pipeline) finds the people:
  blazepose  BlazePose's detector and landmark model (`landmark_model`), up to `max_people`
             people tracked from frame to frame with stable ids; the 33 landmarks become the 16
             joints through `joint_regressor`, and their depths give the ranking (ties within
             `depth_tie_mm`)
  drpose3d   the stacked hourglass and PRCNN checkpoints (`hourglass_checkpoint`,
             `prcnn_checkpoint`, only read and checked for this front end), one person, id 0,
             cropped where BlazePose's detector finds them every frame
             (`person_detector`; its views and score are the blazepose parameters)
The diagnostics' per-stage latency keys follow the configured front end's stages (blazepose:
detector, landmarks, decode; drpose3d: detector, crop, hourglass, prcnn, decode; each after
`convert`, the image conversion): see `diagnostic_keys`. Stages that do not run on every frame
(the detector) have a median of 0 while they rest.

Newest frame first: the subscription callback only puts the message in a one-slot mailbox (a
message still waiting there is replaced, and counted as a dropped frame) and a worker thread
takes the newest message, converts it (pose3d_ros.images), runs the pipeline and publishes. Under
overload the node runs back to back on the newest frame: the output rate holds and the latency
stays at about two frame-processing times, with no queue anywhere. Malformed images (unknown
encoding, wrong step, zero size, truncated data, sizes over `max_image_pixels` or implausible for
the byte count, corrupt compressed data, data the decoder warns about) and negative header stamps
are rejected with a warning naming the problem, rate-limited by reason (REJECTION_REASONS), and
counted by reason in /diagnostics; the node keeps running.

Lifecycle: `configure` reads the parameters marked "at configure" and loads the front end's
networks (a missing file fails it, naming the file, and the node stays unconfigured); `activate`
subscribes, forgets the tracked people (a new session) and starts the worker and the diagnostics;
`deactivate` unsubscribes and stops the worker (after the frame in progress); `cleanup` releases
the networks and the publishers. With `autostart` the executable configures and activates itself.
"""
import threading
import time
from collections import deque
from pathlib import Path

import cv2
import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.time import Time
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from pose3d_ros import images, messages
from pose3d_ros.inference.blazepose import DEFAULT_JOINT_REGRESSOR, FrontEndSettings
from pose3d_ros.inference.pipeline import FRONT_ENDS, LANDMARK_MODELS, build_pipeline
from pose3d_ros.msg import DepthRankingArray, Keypoints2DArray
from pose3d_ros.nodes.lifecycle import AT_CONFIGURE, InferenceNode, logged_transition, spin
from pose3d_ros.nodes.parameters import declare
from pose3d_ros.nodes.qos import image_qos
from pose3d_ros.nodes.rate_limit import RateLimitedWarnings
from pose3d_ros.paths import DEFAULT_HOURGLASS, DEFAULT_PRCNN
from pose3d_ros.skeleton import DETECTED_JOINTS

IMAGE_TRANSPORTS = {'raw': (Image, 'image'), 'compressed': (CompressedImage, 'image/compressed')}
OUTPUT_DEPTH = 10
LATENCY_WINDOW = 100  # frames in the latency medians
REJECTION_REASONS = ('negative_stamp', *images.REJECTION_REASONS)


def diagnostic_keys(image_stages):
    """The DiagnosticStatus keys, in order, of a camera node whose image stages (`convert`, then
    the front end's stages) are `image_stages`. The keys are part of the node's interface."""
    return ('input rate (Hz)', 'output rate (Hz)', 'people per frame (mean)',
            *(f'{stage} latency median (ms)' for stage in image_stages),
            'processing latency median (ms)', 'receipt to output latency median (ms)',
            'stamp to output latency median (ms)', 'frames processed', 'frames dropped (stale)',
            'messages rejected', *(f'rejected: {reason}' for reason in REJECTION_REASONS), 'internal errors',
            'topic', 'front end', 'backend', 'precision', 'device', 'model')


def people_msgs(header, people, tie_band):
    """(Keypoints2DArray, DepthRankingArray) of one image's Person2D list, every message with
    `header`."""
    keypoints, rankings = [], []
    for person in people:
        keypoints.append(messages.keypoints_msg(header, person.id, person.score, person.box, DETECTED_JOINTS,
                                                person.joints_2d, person.confidence, person.crop_box))
        rankings.append(messages.ranking_msg(header, person.id, DETECTED_JOINTS, person.probabilities, tie_band))
    return messages.keypoints_array_msg(header, keypoints), messages.ranking_array_msg(header, rankings)


def model_file(value, default, what, parameter):
    """The file a parameter names (empty: the shipped default); FileNotFoundError naming it."""
    path = Path(value).expanduser() if value else default
    if not path.is_file():
        shipped = f' (the shipped default; set {parameter} to another {what})' if not value else ''
        raise FileNotFoundError(f'{what} {path} does not exist{shipped}')
    return path


def detector_turns(param):
    turns = list(param('detector_turns'))
    if not turns or len(set(turns)) != len(turns) or not set(turns) <= {0, 1, 2, 3}:
        raise ValueError(f'detector_turns must be distinct quarter turns among 0, 1, 2, 3, got {turns}')
    return tuple(turns)


def detector_options(param):
    """drpose3d's build_pipeline arguments for BlazePose's person detector (none without `person_detector`)."""
    if not param('person_detector'):
        return {}
    return dict(person_detector=True, settings=FrontEndSettings(
        min_detection_score=param('min_detection_score'), detector_turns=detector_turns(param),
        detector_tiles=param('detector_tiles')))


def front_end_options(front_end, param, bundle=None):
    """build_pipeline's front-end arguments and a model description from the node's parameters
    (`param(name)`) and model bundle (pose3d_ros.inference.bundle, or None: the checkpoints);
    ValueError or FileNotFoundError naming the parameter or file."""
    if front_end not in FRONT_ENDS:
        raise ValueError(f'front_end must be one of {FRONT_ENDS}, got {front_end!r}')
    tie_band = param('tie_band')
    if front_end == 'drpose3d' and bundle is not None:
        if param('hourglass_checkpoint') or param('prcnn_checkpoint'):
            raise ValueError('model_bundle replaces hourglass_checkpoint and prcnn_checkpoint: set one or the other')
        hourglass, prcnn = bundle.model('hourglass'), bundle.model('prcnn')
        if param('person_detector') and 'blazepose_detector' not in {model.kind for model in bundle.models}:
            raise ValueError(f'person_detector is true, and the bundle {bundle.folder} has no blazepose_detector '
                             f'network: export the bundle with pose3d_export_onnx --blazepose full (for its detector) '
                             f'too, or set person_detector false')
        return (dict(bundle=bundle, tie_band=tie_band, prcnn_flip_test=param('prcnn_flip_test'),
                     **detector_options(param)),
                f'drpose3d: hourglass:{hourglass.source}, prcnn:{prcnn.source} (bundle {bundle.folder})')
    if front_end == 'drpose3d':
        hourglass = model_file(param('hourglass_checkpoint'), DEFAULT_HOURGLASS, 'hourglass checkpoint',
                               'hourglass_checkpoint')
        prcnn = model_file(param('prcnn_checkpoint'), DEFAULT_PRCNN, 'prcnn checkpoint', 'prcnn_checkpoint')
        return (dict(hourglass=hourglass, prcnn=prcnn, tie_band=tie_band, prcnn_flip_test=param('prcnn_flip_test'),
                     **detector_options(param)),
                f'drpose3d: hourglass:{hourglass.name}, prcnn:{prcnn.name}')
    landmark_model = param('landmark_model')
    if landmark_model not in LANDMARK_MODELS:
        raise ValueError(f'landmark_model must be one of {LANDMARK_MODELS}, got {landmark_model!r}')
    regressor = model_file(param('joint_regressor'), DEFAULT_JOINT_REGRESSOR, 'joint regressor', 'joint_regressor')
    settings = FrontEndSettings(
        max_people=param('max_people'), min_detection_score=param('min_detection_score'),
        min_presence=param('min_presence'), redetect_interval=param('redetect_interval'),
        full_image_fallback=param('full_image_fallback'), depth_tie_mm=param('depth_tie_mm'),
        detector_turns=detector_turns(param), detector_tiles=param('detector_tiles'),
        landmark_flip_test=param('landmark_flip_test'))
    model = f'blazepose: pose_landmark_{landmark_model}.tflite, regressor:{regressor.name}'
    return (dict(landmark_model=landmark_model, settings=settings, joint_regressor=regressor, tie_band=tie_band,
                 bundle=bundle), model + (f' (bundle {bundle.folder})' if bundle is not None else ''))


class CameraNode(InferenceNode):
    def __init__(self, **node_options):
        super().__init__('camera', **node_options)
        declare(self, 'front_end', 'blazepose',
                f'Who finds the people: {" or ".join(FRONT_ENDS)} (blazepose: several people with track '
                'ids; drpose3d: the hourglass and PRCNN checkpoints, one person).' + AT_CONFIGURE)
        declare(self, 'landmark_model', 'full',
                f'blazepose: the landmark model, {", ".join(LANDMARK_MODELS)} (slower and more '
                'accurate in that order).' + AT_CONFIGURE)
        declare(self, 'max_people', 4, 'blazepose: the most people tracked at once.' + AT_CONFIGURE, 1, 64)
        declare(self, 'min_detection_score', 0.5,
                'blazepose and drpose3d\'s person_detector: detector results scoring less are not people.'
                + AT_CONFIGURE, 0.0, 1.0)
        declare(self, 'min_presence', 0.5,
                'blazepose: a person whose landmark presence falls under this is lost.' + AT_CONFIGURE,
                0.0, 1.0)
        declare(self, 'redetect_interval', 5,
                'blazepose: frames between newcomer searches while fewer than max_people are tracked '
                '(each runs the detector on one of its views, in turn).' + AT_CONFIGURE, 1, 100000)
        declare(self, 'detector_turns', [0, 1, 2, 3],
                'blazepose and person_detector: quarter turns (clockwise) of the frame the detector looks at besides '
                'none; it finds people by their face, so people upside down or lying need them.'
                + AT_CONFIGURE)
        declare(self, 'detector_tiles', 2,
                'blazepose and person_detector: the detector also looks at a grid of this many x this many overlapping '
                'tiles, for people far away (1: the whole frame only).' + AT_CONFIGURE, 1, 8)
        declare(self, 'full_image_fallback', True,
                'blazepose: when the detector finds nobody, run the landmark model on the whole image '
                '(finds one person the detector misses).' + AT_CONFIGURE)
        declare(self, 'joint_regressor', '',
                f'blazepose: joint regressor file (33 landmarks -> 16 joints); empty: the shipped '
                f'{DEFAULT_JOINT_REGRESSOR.name}.' + AT_CONFIGURE)
        declare(self, 'depth_tie_mm', 20.0,
                'blazepose: joints closer in depth than this tie in the ranking (eq. 1 epsilon), mm.'
                + AT_CONFIGURE, 0.1, 1000.0)
        declare(self, 'landmark_flip_test', False,
                'blazepose: the landmark model also reads each person\'s crop mirrored and the two are '
                'averaged (better depth ranking and 3D on real video, twice the landmark model\'s time).'
                + AT_CONFIGURE)
        declare(self, 'hourglass_checkpoint', '',
                f'drpose3d: hourglass checkpoint (.pt); empty: the shipped {DEFAULT_HOURGLASS.name}.' + AT_CONFIGURE)
        declare(self, 'prcnn_checkpoint', '',
                f'drpose3d: PRCNN checkpoint (.pt); empty: the shipped {DEFAULT_PRCNN.name}.' + AT_CONFIGURE)
        declare(self, 'person_detector', True,
                'drpose3d: every frame, crop the person BlazePose\'s detector finds (false: the box '
                'around the previous frame\'s joints, the whole frame until someone is found).' + AT_CONFIGURE)
        declare(self, 'prcnn_flip_test', True,
                'drpose3d: average PRCNN\'s depth scores with its scores on the mirrored crop (more pairs '
                'ranked right on real video, twice PRCNN\'s time).' + AT_CONFIGURE)
        declare(self, 'image_transport', 'raw',
                'raw: sensor_msgs/Image on `image`; compressed: sensor_msgs/CompressedImage (JPEG, '
                'PNG) on `image/compressed`.' + AT_CONFIGURE)
        declare(self, 'qos_reliability', 'best_effort',
                'Reliability of the image subscription: best_effort (matches any publisher) or '
                'reliable.' + AT_CONFIGURE)
        declare(self, 'qos_depth', 1,
                'History depth of the image subscription; 1 keeps only the newest frame.' + AT_CONFIGURE,
                1, 100)
        declare(self, 'max_image_pixels', images.DEFAULT_MAX_PIXELS,
                'Images claiming more pixels (width x height, a compressed image in its header) are '
                'rejected before anything is allocated or decoded.' + AT_CONFIGURE, 1, 1 << 31)
        declare(self, 'tie_band', 0.1,
                'Half-width of the band around P = 0.5 that discretizes to a tie in the ranking '
                '(blazepose: in (0, 0.5), as it also scales the probabilities).' + AT_CONFIGURE,
                0.0, 0.5)
        # OpenCV's own warnings for corrupt data would bypass the rate-limited log (libjpeg's and
        # libpng's are captured while decoding: pose3d_ros.images).
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        self._mailbox_lock = threading.Lock()
        self._wake = threading.Event()
        self.pipeline = None
        self.image_stages = ('convert',)
        self._subscription = None
        self._timer = None
        self._worker = None
        self._running = False
        self._reset_state()

    # -- lifecycle -------------------------------------------------------------------------------

    def _reset_state(self):
        self._mailbox = None  # (message, receipt perf_counter) waiting for the worker
        self.counts = dict.fromkeys(('inputs', 'outputs', 'people', 'dropped', 'rejected', 'errors',
                                     *REJECTION_REASONS), 0)
        self._counts_at_last_report = dict(self.counts)
        self._last_report = time.monotonic()
        self.latency_ms = {key: deque(maxlen=LATENCY_WINDOW) for key in
                           (*self.image_stages, 'processing', 'receipt', 'stamp')}

    @logged_transition
    def on_configure(self, state):
        with self._lock:
            try:
                front_end = self._param('front_end')
                options, model = front_end_options(front_end, self._param, self._model_bundle())
                transport = self._param('image_transport')
                if transport not in IMAGE_TRANSPORTS:
                    raise ValueError(f'image_transport must be one of {sorted(IMAGE_TRANSPORTS)}, '
                                     f'got {transport!r}')
                qos = image_qos(self._param('qos_depth'), self._param('qos_reliability'))
                self.backend_name, self.precision = self._param('backend'), self._param('precision')
                self.device = self._param('device')
                started = time.perf_counter()
                self.pipeline = build_pipeline(
                    front_end, **options, backend=self.backend_name, precision=self.precision,
                    device=self.device, threads=self._backend_threads(), cache_dir=self._param('cache_dir'))
            except Exception as error:  # a missing file, a bad backend or value: stay unconfigured
                self.pipeline = None
                self.get_logger().error(f'configure failed: {error}')
                return TransitionCallbackReturn.FAILURE
            self.front_end, self.model, self.tie_band = front_end, model, options['tie_band']
            self.image_stages = ('convert', *(stage for stage in self.pipeline.stages if stage != 'lifter'))
            self.diagnostic_keys = diagnostic_keys(self.image_stages)
            self.transport, self.qos = transport, qos
            self.max_pixels = self._param('max_image_pixels')
            self._warnings = RateLimitedWarnings(self.get_logger(), self._param('log_period_s'))
            self._publishers_out = [
                self.create_lifecycle_publisher(Keypoints2DArray, 'keypoints_2d', OUTPUT_DEPTH),
                self.create_lifecycle_publisher(DepthRankingArray, 'ranking', OUTPUT_DEPTH),
                self.create_lifecycle_publisher(DiagnosticArray, '/diagnostics', OUTPUT_DEPTH)]
            self.keypoints_pub, self.ranking_pub, self.diagnostics_pub = self._publishers_out
            self._reset_state()
            self.get_logger().info(
                f'configured: {model} on {self.backend_name} {self.precision} ({self.device}), stages '
                f'{", ".join(self.image_stages[1:])}, loaded in {(time.perf_counter() - started) * 1000:.0f} ms; '
                f'images: {transport}')
            return super().on_configure(state)

    @logged_transition
    def on_activate(self, state):
        with self._lock:
            message_type, topic = IMAGE_TRANSPORTS[self.transport]
            self._subscription = self.create_subscription(message_type, topic, self._on_image, self.qos)
            self.topic = self._subscription.topic_name
            self._timer = self.create_timer(1.0, self._publish_diagnostics)
            self._last_report = time.monotonic()
            self._counts_at_last_report = dict(self.counts)
            self.pipeline.reset()  # a new session: no stale tracks
            self._running = True
            self._worker = threading.Thread(target=self._work, name='camera_worker', daemon=True)
            self._worker.start()
            return super().on_activate(state)

    def _release_network(self):
        self.pipeline = None

    def _stop(self):
        """Unsubscribe, stop the worker (it finishes the frame in progress) and the diagnostics."""
        self._running = False
        if self._subscription is not None:
            self.destroy_subscription(self._subscription)
            self._subscription = None
        self._wake.set()
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join()
        self._worker = None
        self._wake.clear()
        with self._mailbox_lock:
            self._mailbox = None
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None

    def destroy_node(self):
        self._stop()
        super().destroy_node()

    # -- frames ----------------------------------------------------------------------------------

    def _on_image(self, msg):
        """Subscription callback: only replace the mailbox's content (a replaced one is dropped)."""
        received = time.perf_counter()
        with self._mailbox_lock:
            if not self._running:
                return
            self.counts['inputs'] += 1
            if self._mailbox is not None:
                self.counts['dropped'] += 1
            self._mailbox = (msg, received)
        self._wake.set()

    def _work(self):
        while self._running:
            self._wake.wait()
            with self._mailbox_lock:
                self._wake.clear()
                item, self._mailbox = self._mailbox, None
            if item is None or not self._running:
                continue
            try:
                self._process(*item)
            except Exception as error:  # never let the worker die
                self.counts['errors'] += 1
                self._warnings.warn('internal_error', f'internal error while detecting: {type(error).__name__}: '
                                                      f'{error}')

    def _reject(self, reason, problem):
        self.counts['rejected'] += 1
        self.counts[reason] += 1
        self._warnings.warn(reason, f'rejected an image on {self.topic}: {problem}')

    def _process(self, msg, received):
        started = time.perf_counter()
        stamp = msg.header.stamp
        if stamp.sec < 0:  # before 1970: a ROS Time cannot hold it
            self._reject('negative_stamp', f'{type(msg).__name__}.header.stamp.sec {stamp.sec} is negative '
                                           f'(nanosec {stamp.nanosec})')
            return
        try:
            if self.transport == 'raw':
                rgb = images.rgb_from_image_msg(msg, self.max_pixels)
            else:
                rgb = images.rgb_from_compressed_msg(msg, self.max_pixels)
        except images.ImageRejected as error:
            self._reject(error.reason, error)
            return
        converted = time.perf_counter()
        people = self.pipeline.people(rgb)
        keypoints, ranking = people_msgs(msg.header, people, self.tie_band)
        if not self._running:  # deactivated meanwhile: the lifecycle publishers are off
            return
        self.keypoints_pub.publish(keypoints)
        self.ranking_pub.publish(ranking)
        done = time.perf_counter()
        self.counts['outputs'] += 1
        self.counts['people'] += len(people)
        latency = self.latency_ms
        latency['convert'].append((converted - started) * 1000)
        for stage in self.image_stages[1:]:
            latency[stage].append(self.pipeline.stage_ms[stage])
        latency['processing'].append((done - started) * 1000)
        latency['receipt'].append((done - received) * 1000)
        latency['stamp'].append(
            (self.get_clock().now().nanoseconds - Time.from_msg(msg.header.stamp).nanoseconds) / 1e6)

    # -- diagnostics -----------------------------------------------------------------------------

    def _publish_diagnostics(self):
        try:
            if self._running:
                self.diagnostics_pub.publish(DiagnosticArray(
                    header=Header(stamp=self.get_clock().now().to_msg()), status=[self.diagnostic_status()]))
        except Exception as error:
            self.counts['errors'] += 1
            self._warnings.warn('diagnostics_error', f'internal error in diagnostics: {type(error).__name__}: {error}')

    def diagnostic_status(self):
        """The node's DiagnosticStatus since the last call (rates over that interval)."""
        now = time.monotonic()
        elapsed = max(now - self._last_report, 1e-9)
        counts = dict(self.counts)
        since = {key: counts[key] - self._counts_at_last_report[key] for key in counts}
        self._last_report, self._counts_at_last_report = now, counts

        def median(key):
            values = list(self.latency_ms[key])
            return f'{np.median(values):.2f}' if values else 'n/a'

        problems = []
        if since['inputs'] == 0:
            problems.append(f'no images on {self.topic}')
        if since['rejected']:
            reasons = ', '.join(f'{since[reason]} {reason}' for reason in REJECTION_REASONS if since[reason])
            problems.append(f'{since["rejected"]} images rejected ({reasons})')
        if since['errors']:
            problems.append(f'{since["errors"]} internal errors')
        people_per_frame = f'{since["people"] / since["outputs"]:.2f}' if since['outputs'] else 'n/a'
        values = (f'{since["inputs"] / elapsed:.2f}', f'{since["outputs"] / elapsed:.2f}', people_per_frame,
                  *(median(stage) for stage in self.image_stages), median('processing'), median('receipt'),
                  median('stamp'), str(counts['outputs']), str(counts['dropped']), str(counts['rejected']),
                  *(str(counts[reason]) for reason in REJECTION_REASONS), str(counts['errors']), self.topic,
                  self.front_end, self.backend_name, self.precision, self.device, self.model)
        message = '; '.join(problems) if problems else 'detecting'
        if since['dropped'] and not problems:
            message += f' (newest frame first: {since["dropped"]} stale frames dropped)'
        return DiagnosticStatus(
            level=DiagnosticStatus.WARN if problems else DiagnosticStatus.OK,
            name=f'{self.get_name()}: detection', hardware_id=self.device, message=message,
            values=[KeyValue(key=key, value=value) for key, value in zip(self.diagnostic_keys, values, strict=True)])


def main(args=None):
    spin(CameraNode, args)
