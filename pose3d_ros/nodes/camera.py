"""camera: a lifecycle node that runs the pipeline's image stages (hourglass + PRCNN) on a camera.

Subscribes (relative names; the runner and launch files put the node in the /pose3d namespace)
  image              sensor_msgs/Image            with image_transport `raw`
  image/compressed   sensor_msgs/CompressedImage  with image_transport `compressed` (JPEG / PNG)
Publishes, each with the source image's header unchanged (stamp and optical frame_id)
  keypoints_2d   pose3d_ros/Keypoints2D   the 16 DETECTED_JOINTS in image pixels, their heatmap
                                          confidence, and the square crop the hourglass saw
  ranking        pose3d_ros/DepthRanking  PRCNN's 16x16 probabilities, discretized with tie_band
  /diagnostics   diagnostic_msgs/DiagnosticArray  once a second: rates, per-stage latency, drops,
                                          rejections, backend and precision

Newest frame first: the subscription callback only puts the message in a one-slot mailbox (a
message still waiting there is replaced, and counted as a dropped frame) and a worker thread
takes the newest message, converts it (pose3d_ros.images), runs the pipeline and publishes. Under
overload the node runs back to back on the newest frame: the output rate holds and the latency
stays at about two frame-processing times, with no queue anywhere. Malformed images (unknown
encoding, wrong step, zero size, truncated data, absurd sizes, corrupt compressed data) are
rejected with a rate-limited warning naming the problem, and counted; the node keeps running.

Lifecycle: `configure` reads the parameters marked "at configure" and loads the two networks
(missing checkpoints fail it, naming the file, and the node stays unconfigured); `activate`
subscribes and starts the worker and the diagnostics; `deactivate` unsubscribes, stops the
worker (after the frame in progress) and forgets the person tracker's box; `cleanup` releases the
networks and the publishers. With `autostart` the executable configures and activates itself.
"""
import threading
import time
from collections import deque
from pathlib import Path

import cv2
import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from pose3d_ros import images, messages
from pose3d_ros.inference.pipeline import STAGES, PersonTracker, build_pipeline
from pose3d_ros.paths import WEIGHTS_DIR
from pose3d_ros.msg import DepthRanking, Keypoints2D
from pose3d_ros.nodes.lifecycle import AT_CONFIGURE, InferenceNode, logged_transition, spin
from pose3d_ros.nodes.parameters import declare
from pose3d_ros.nodes.rate_limit import RateLimitedWarnings
from pose3d_ros.skeleton import DETECTED_JOINTS

DEFAULT_HOURGLASS = WEIGHTS_DIR / 'hourglass_small.pt'
DEFAULT_PRCNN = WEIGHTS_DIR / 'prcnn_small.pt'
IMAGE_TRANSPORTS = {'raw': (Image, 'image'), 'compressed': (CompressedImage, 'image/compressed')}
RELIABILITY = {'best_effort': ReliabilityPolicy.BEST_EFFORT, 'reliable': ReliabilityPolicy.RELIABLE}
OUTPUT_DEPTH = 10
LATENCY_WINDOW = 100  # frames in the latency medians
IMAGE_STAGES = ('convert',) + tuple(stage for stage in STAGES if stage != 'lifter')

# The DiagnosticStatus values, in order (keys are part of the node's interface).
DIAGNOSTIC_KEYS = (
    'input rate (Hz)', 'output rate (Hz)',
    *(f'{stage} latency median (ms)' for stage in IMAGE_STAGES),
    'processing latency median (ms)', 'receipt to output latency median (ms)',
    'stamp to output latency median (ms)', 'frames processed', 'frames dropped (stale)',
    'messages rejected', 'internal errors', 'topic', 'backend', 'precision', 'device', 'model')


def crop_box(detection):
    """(x_min, y_min, width, height) of the square crop a Detection2D was found in."""
    side = detection.crop_side
    x, y = np.asarray(detection.crop_center, dtype=np.float64) - side / 2
    return x, y, side, side


def detection_msgs(header, detection, tie_band):
    """(Keypoints2D, DepthRanking) for one Detection2D, both with `header`."""
    keypoints = messages.keypoints_msg(header, DETECTED_JOINTS, detection.joints_2d,
                                       detection.confidence, crop_box(detection))
    ranking = messages.ranking_msg(header, DETECTED_JOINTS, detection.probabilities, tie_band)
    return keypoints, ranking


def image_qos(depth, reliability):
    """Sensor-data QoS (keep last, volatile) with the given depth and reliability."""
    if reliability not in RELIABILITY:
        raise ValueError(f'qos_reliability must be one of {sorted(RELIABILITY)}, got {reliability!r}')
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=RELIABILITY[reliability],
                      durability=DurabilityPolicy.VOLATILE)


def checkpoint_path(value, default, kind):
    """The checkpoint a parameter names (empty: the shipped default); FileNotFoundError naming it."""
    path = Path(value).expanduser() if value else default
    if not path.is_file():
        shipped = (f' (the shipped default; set {kind}_checkpoint to a trained {kind} checkpoint)'
                   if not value else '')
        raise FileNotFoundError(f'{kind} checkpoint {path} does not exist{shipped}')
    return path


class CameraNode(InferenceNode):
    def __init__(self, **node_options):
        super().__init__('camera', **node_options)
        declare(self, 'hourglass_checkpoint', '',
                f'Hourglass checkpoint (.pt); empty: the shipped {DEFAULT_HOURGLASS.name}.' + AT_CONFIGURE)
        declare(self, 'prcnn_checkpoint', '',
                f'PRCNN checkpoint (.pt); empty: the shipped {DEFAULT_PRCNN.name}.' + AT_CONFIGURE)
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
                'Images claiming more pixels (width x height) are rejected before anything is '
                'allocated.' + AT_CONFIGURE, 1, 1 << 31)
        declare(self, 'tie_band', 0.1,
                'Half-width of the band around P = 0.5 that discretizes to a tie in the ranking.',
                0.0, 0.5)
        # OpenCV's decoder warnings for corrupt data would bypass the rate-limited log.
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        self._mailbox_lock = threading.Lock()
        self._wake = threading.Event()
        self.pipeline = None
        self._subscription = None
        self._timer = None
        self._worker = None
        self._running = False
        self._reset_state()

    # -- lifecycle -------------------------------------------------------------------------------

    def _reset_state(self):
        self._mailbox = None  # (message, receipt perf_counter) waiting for the worker
        self.counts = dict.fromkeys(('inputs', 'outputs', 'dropped', 'rejected', 'errors'), 0)
        self._counts_at_last_report = dict(self.counts)
        self._last_report = time.monotonic()
        self.latency_ms = {key: deque(maxlen=LATENCY_WINDOW) for key in
                           (*IMAGE_STAGES, 'processing', 'receipt', 'stamp')}

    @logged_transition
    def on_configure(self, state):
        with self._lock:
            try:
                hourglass = checkpoint_path(self._param('hourglass_checkpoint'), DEFAULT_HOURGLASS, 'hourglass')
                prcnn = checkpoint_path(self._param('prcnn_checkpoint'), DEFAULT_PRCNN, 'prcnn')
                transport = self._param('image_transport')
                if transport not in IMAGE_TRANSPORTS:
                    raise ValueError(f'image_transport must be one of {sorted(IMAGE_TRANSPORTS)}, '
                                     f'got {transport!r}')
                qos = image_qos(self._param('qos_depth'), self._param('qos_reliability'))
                self.backend_name, self.precision = self._param('backend'), self._param('precision')
                self.device = self._param('device')
                started = time.perf_counter()
                self.pipeline = build_pipeline(
                    hourglass, prcnn, backend=self.backend_name, precision=self.precision,
                    device=self.device, threads=self._param('threads') or None,
                    cache_dir=self._param('cache_dir'), tie_band=self._param('tie_band'))
            except Exception as error:  # a missing checkpoint, a bad backend or value: stay unconfigured
                self.pipeline = None
                self.get_logger().error(f'configure failed: {error}')
                return TransitionCallbackReturn.FAILURE
            self.model = f'hourglass:{hourglass.name}, prcnn:{prcnn.name}'
            self.transport, self.qos = transport, qos
            self.max_pixels = self._param('max_image_pixels')
            self._warnings = RateLimitedWarnings(self.get_logger(), self._param('log_period_s'))
            self._publishers_out = [
                self.create_lifecycle_publisher(Keypoints2D, 'keypoints_2d', OUTPUT_DEPTH),
                self.create_lifecycle_publisher(DepthRanking, 'ranking', OUTPUT_DEPTH),
                self.create_lifecycle_publisher(DiagnosticArray, '/diagnostics', OUTPUT_DEPTH)]
            self.keypoints_pub, self.ranking_pub, self.diagnostics_pub = self._publishers_out
            self._reset_state()
            self.get_logger().info(
                f'configured: {self.model} on {self.backend_name} {self.precision} ({self.device}), '
                f'input {self.pipeline.input_size} px, loaded in '
                f'{(time.perf_counter() - started) * 1000:.0f} ms; images: {transport}')
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
            self.pipeline.tracker = PersonTracker()  # a new session: no stale box
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
                self._warnings.warn(f'internal error while detecting: {type(error).__name__}: {error}')

    def _process(self, msg, received):
        started = time.perf_counter()
        try:
            if self.transport == 'raw':
                rgb = images.rgb_from_image_msg(msg, self.max_pixels)
            else:
                rgb = images.rgb_from_compressed_msg(msg, self.max_pixels)
        except ValueError as error:
            self.counts['rejected'] += 1
            self._warnings.warn(f'rejected an image on {self.topic}: {error}')
            return
        converted = time.perf_counter()
        detection = self.pipeline.detect(rgb)
        keypoints, ranking = detection_msgs(msg.header, detection, self._param('tie_band'))
        if not self._running:  # deactivated meanwhile: the lifecycle publishers are off
            return
        self.keypoints_pub.publish(keypoints)
        self.ranking_pub.publish(ranking)
        done = time.perf_counter()
        self.counts['outputs'] += 1
        latency = self.latency_ms
        latency['convert'].append((converted - started) * 1000)
        for stage in IMAGE_STAGES[1:]:
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
            self._warnings.warn(f'internal error in diagnostics: {type(error).__name__}: {error}')

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
        for key, what in (('rejected', 'images rejected'), ('errors', 'internal errors')):
            if since[key]:
                problems.append(f'{since[key]} {what}')
        values = (f'{since["inputs"] / elapsed:.2f}', f'{since["outputs"] / elapsed:.2f}',
                  *(median(stage) for stage in IMAGE_STAGES), median('processing'), median('receipt'),
                  median('stamp'), str(counts['outputs']), str(counts['dropped']), str(counts['rejected']),
                  str(counts['errors']), self.topic, self.backend_name, self.precision, self.device,
                  self.model)
        message = '; '.join(problems) if problems else 'detecting'
        if since['dropped'] and not problems:
            message += f' (newest frame first: {since["dropped"]} stale frames dropped)'
        return DiagnosticStatus(
            level=DiagnosticStatus.WARN if problems else DiagnosticStatus.OK,
            name=f'{self.get_name()}: detection', hardware_id=self.device, message=message,
            values=[KeyValue(key=key, value=value) for key, value in zip(DIAGNOSTIC_KEYS, values)])


def main(args=None):
    spin(CameraNode, args)
