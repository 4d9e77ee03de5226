"""image_source: publishes images from a built-in demo, a video file, an image folder or a rosbag2
recording, so the camera node runs with or without a camera.

Publishes (relative names; the runner and launch files put the node in the /pose3d namespace)
  camera_info            sensor_msgs/CameraInfo   the camera of each image, same header, first
  image                  sensor_msgs/Image        rgb8
  ground_truth/skeleton  pose3d_ros/Skeleton3D    source `demo` only: the drawn pose (id 0, 17
                                                  joints, root-relative, root known), same header
  depth                  sensor_msgs/Image        source `demo` with `publish_depth`: the depth
                                                  image registered to `image` (16UC1, mm along
                                                  the optical axis: the walker's surface, a wall
                                                  at DEMO_WALL_MM behind), same header

`source` selects the input:
  demo    the built-in walker (pose3d_ros.demo_motion) drawn by the project's renderer
          (pose3d_ros.render) into image_width x image_height frames seen by a fixed pinhole camera
          (focal_length_px, principal point at the centre), with one appearance and background per
          `seed`; the loop is rendered lazily during its first pass and kept in memory.
  video   a video file read with OpenCV; rate_hz 0 plays it at the file's frame rate.
  folder  the .jpg/.jpeg/.png/.bmp images of a folder, in sorted order of their names.
  rosbag  a rosbag2 recording (a directory with metadata.yaml, or one .mcap / .db3 file; MCAP or
          sqlite3) read with the rosbags library: the sensor_msgs/Image or CompressedImage topic
          `bag_topic`, converted to rgb8; rate_hz 0 keeps the recorded timing. Camera info comes
          from `bag_camera_info_topic` when given (the latest one at each image).
video, folder and rosbag publish the camera_info of `camera_info_file` (the camera_calibration
YAML format) when given, else (rosbag) that of bag_camera_info_topic when given, else a
distortion-free pinhole camera with focal_length_px and the principal point at the image centre.

Stamps are the node clock's now at publish, or the recording's header stamps with
`use_recorded_stamps` (rosbag). Problems found at startup (a missing file, an unreadable video, an
empty folder, a bag without the topic) raise SourceError naming the file or topic: the executable
logs it and exits with status 1. Problems with one frame later on (a corrupt image, an unsupported
encoding) are logged as rate-limited warnings and the frame is skipped; the node keeps running.
Without `loop` the node stops publishing at the end of the input and the executable exits.
"""
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import rclpy
import yaml
from builtin_interfaces.msg import Time as TimeMsg
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, RegionOfInterest
from std_msgs.msg import Header

from pose3d_ros import images, messages
from pose3d_ros.camera import check_camera_info
from pose3d_ros.demo_motion import walking_clip
from pose3d_ros.msg import Skeleton3D
from pose3d_ros.nodes.parameters import declare
from pose3d_ros.nodes.rate_limit import RateLimitedWarnings
from pose3d_ros.nodes.skeleton_replay import pinhole_camera_info
from pose3d_ros.render import Appearance, background, render_person
from pose3d_ros.skeleton import NUM_JOINTS, ROOT

SOURCES = ('demo', 'video', 'folder', 'rosbag')
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')
IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')
CAMERA_INFO_TYPE = 'sensor_msgs/msg/CameraInfo'
DEFAULT_FRAME_ID = 'camera_optical_frame'
PUBLISH_DEPTH = 5
DEMO_CACHE_BYTES = 512 << 20  # demo loops larger than this are rendered again on every pass
MIN_TIMER_NS = 1_000_000      # recorded timing: shortest wait between two frames
DEMO_PERSON_ID = 0            # the ground truth's id: the walker is the only person in the demo
DEMO_WALL_MM = 6000           # the demo's depth image: a wall behind the walker


class SourceError(Exception):
    """An input the node cannot start with; the message names the file or topic."""


class FrameError(Exception):
    """One frame that cannot be published (it is skipped); the message names the file or topic."""


@dataclass
class Frame:
    rgb: np.ndarray                  # (H, W, 3) uint8
    depth_mm: np.ndarray = None      # (H, W) uint16, registered to rgb (demo)
    camera_info: CameraInfo = None   # None: the node's camera_info for the image's size
    stamp: TimeMsg = None            # the recording's stamp, where it has one
    frame_id: str = None             # the recording's frame_id, where it has one
    time_ns: int = None              # position in the recording (its own clock), for its timing
    ground_truth_mm: np.ndarray = None  # (17, 3) camera-frame joints (demo)
    origin: str = 'the image'        # where it comes from, for messages


# --- camera_info ---------------------------------------------------------------------------------

def _matrix(calibration, key, rows, cols, path):
    entry = calibration.get(key)
    data = entry.get('data') if isinstance(entry, dict) else None
    if not isinstance(data, list) or len(data) != rows * cols:
        raise SourceError(f'camera_info_file {path}: {key} must be a mapping with {rows * cols} '
                          f'values in data ({rows}x{cols}), got {entry!r}')
    try:
        values = [float(value) for value in data]
    except (TypeError, ValueError):
        raise SourceError(f'camera_info_file {path}: {key}.data holds non-numbers: {data!r}') from None
    if not all(math.isfinite(value) for value in values):
        raise SourceError(f'camera_info_file {path}: {key}.data holds NaN or infinite values')
    return values


def camera_info_from_file(path):
    """sensor_msgs/CameraInfo from a camera_calibration YAML file (image_width, image_height,
    camera_matrix, distortion_model, distortion_coefficients, rectification_matrix,
    projection_matrix; the last two default to identity and [K | 0]); SourceError naming the file
    and the key for anything missing or malformed."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise SourceError(f'camera_info_file {path} does not exist')
    try:
        calibration = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise SourceError(f'camera_info_file {path} is not readable YAML: {error}') from None
    if not isinstance(calibration, dict):
        raise SourceError(f'camera_info_file {path} does not hold a calibration mapping')
    size = []
    for key in ('image_width', 'image_height'):
        value = calibration.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise SourceError(f'camera_info_file {path}: {key} must be a positive integer, got {value!r}')
        size.append(value)
    k = _matrix(calibration, 'camera_matrix', 3, 3, path)
    model = calibration.get('distortion_model', 'plumb_bob')
    if not isinstance(model, str):
        raise SourceError(f'camera_info_file {path}: distortion_model must be a string, got {model!r}')
    coefficients = calibration.get('distortion_coefficients', {'data': []})
    count = len(coefficients.get('data') or []) if isinstance(coefficients, dict) else -1
    d = _matrix(calibration, 'distortion_coefficients', 1, count, path) if count else []
    r = (_matrix(calibration, 'rectification_matrix', 3, 3, path)
         if 'rectification_matrix' in calibration else [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0])
    p = (_matrix(calibration, 'projection_matrix', 3, 4, path) if 'projection_matrix' in calibration
         else k[0:3] + [0.0] + k[3:6] + [0.0] + k[6:9] + [0.0])
    try:
        return check_camera_info(CameraInfo(width=size[0], height=size[1], distortion_model=model, d=d, k=k, r=r,
                                            p=p))
    except ValueError as error:
        raise SourceError(f'camera_info_file {path}: {error}') from None


def _camera_info_from_bag(msg):
    """A rosbags sensor_msgs/CameraInfo -> the rclpy message."""
    roi = msg.roi
    return CameraInfo(
        height=int(msg.height), width=int(msg.width), distortion_model=str(msg.distortion_model),
        d=[float(v) for v in msg.d], k=[float(v) for v in msg.k], r=[float(v) for v in msg.r],
        p=[float(v) for v in msg.p], binning_x=int(msg.binning_x), binning_y=int(msg.binning_y),
        roi=RegionOfInterest(x_offset=int(roi.x_offset), y_offset=int(roi.y_offset),
                             height=int(roi.height), width=int(roi.width),
                             do_rectify=bool(roi.do_rectify)))


def _decode_file(path):
    """(H, W, 3) uint8 RGB of an image file; FrameError naming it when it does not decode."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as error:
        raise FrameError(f'cannot read image {path}: {error}') from None
    bgr, warnings = images.decode_capturing_warnings(data) if data.size else (None, [])
    if bgr is None or warnings:  # libjpeg / libpng decode a cut file with a warning only
        said = '; '.join(warnings) or 'corrupt or not an image'
        raise FrameError(f'cannot decode image {path} ({data.size} bytes): {said}')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


# --- sources -------------------------------------------------------------------------------------

class DemoSource:
    """The walking clip drawn into full camera frames; every frame carries its ground truth."""

    name = 'demo'

    def __init__(self, width, height, focal_px, rate_hz, clip_s, distance_m, seed):
        if rate_hz <= 0:
            raise SourceError('source demo needs rate_hz > 0 (0 means the input\'s own timing: '
                              'video and rosbag only)')
        count = max(1, int(round(clip_s * rate_hz)))
        self.joints_mm = walking_clip(count, rate_hz, camera_distance_mm=distance_m * 1000.0)
        self.size = (width, height)
        self.intrinsics = (focal_px, (width / 2, height / 2))
        rng = np.random.default_rng(seed)
        self.appearance = Appearance.sample(rng)
        self.background = background(rng, self.size)
        self.cache = [None] * count if count * width * height * 5 <= DEMO_CACHE_BYTES else None  # rgb + uint16 depth
        self.index = 0
        self.render_ms = []  # time of each render
        self.report = None   # a line for the log once the first pass is rendered

    def render(self, k):
        """(rgb, depth image in mm: the walker's surface, the wall elsewhere) of clip frame k."""
        started = time.perf_counter()
        rendering = render_person(None, self.joints_mm[k], self.size, self.appearance,
                                  intrinsics=self.intrinsics, background_image=self.background,
                                  camera_effects=False)
        self.render_ms.append((time.perf_counter() - started) * 1000)
        depth = np.minimum(rendering.surface_mm, DEMO_WALL_MM).round().astype(np.uint16)
        return rendering.image, depth

    def next_frame(self):
        k = self.index % len(self.joints_mm)
        self.index += 1
        rendered = self.cache[k] if self.cache is not None else None
        if rendered is None:
            rendered = self.render(k)
            if self.cache is not None:
                self.cache[k] = rendered
            if len(self.render_ms) == len(self.joints_mm):
                cached = 'kept in memory' if self.cache is not None else 'not kept (too large)'
                self.report = (f'demo loop rendered: {len(self.render_ms)} frames, '
                               f'{np.mean(self.render_ms):.1f} ms per frame (median '
                               f'{np.median(self.render_ms):.1f}), {cached}')
        rgb, depth_mm = rendered
        return Frame(rgb=rgb, depth_mm=depth_mm, ground_truth_mm=self.joints_mm[k])

    def describe(self):
        return (f'demo: walking clip of {len(self.joints_mm)} frames, {self.size[0]}x{self.size[1]} '
                f'px, focal length {self.intrinsics[0]:g} px')


class VideoSource:
    """A video file read with OpenCV."""

    name = 'video'

    def __init__(self, path, loop):
        self.path, self.loop = path, loop
        if not path.is_file():
            raise SourceError(f'video file {path} does not exist' if not path.exists()
                              else f'video {path} is not a file')
        self.capture = cv2.VideoCapture(str(path))
        if not self.capture.isOpened():
            raise SourceError(f'cannot open video {path}: OpenCV finds no decoder for it')
        ok, first = self.capture.read()
        if not ok or first is None:
            raise SourceError(f'cannot read a frame from video {path}: empty or corrupt')
        self.first_size = (first.shape[1], first.shape[0])
        self.fps = float(self.capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.frame_count = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.read = 0
        self._rewind()  # reopening is more reliable than seeking back, whatever the codec

    def _rewind(self):
        self.capture.release()
        self.capture = cv2.VideoCapture(str(self.path))
        if not self.capture.isOpened():
            raise FrameError(f'cannot reopen video {self.path}')

    def next_frame(self):
        ok, bgr = self.capture.read()
        if not ok:
            if not self.loop:
                return None
            if self.read == 0:
                raise FrameError(f'no frame could be read from video {self.path} in a whole pass')
            self.read = 0
            self._rewind()
            ok, bgr = self.capture.read()
            if not ok:
                raise FrameError(f'cannot read the first frame of video {self.path} after rewinding')
        self.read += 1
        return Frame(rgb=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
                     origin=f'frame {self.read} of video {self.path}')

    def describe(self):
        return (f'video {self.path}: {self.first_size[0]}x{self.first_size[1]} px, '
                f'{self.frame_count} frames at {self.fps:g} fps')


class FolderSource:
    """The images of a folder in sorted order of their names."""

    name = 'folder'

    def __init__(self, path, loop):
        self.path, self.loop = path, loop
        if not path.is_dir():
            raise SourceError(f'image folder {path} does not exist' if not path.exists()
                              else f'image folder {path} is not a directory')
        self.files = sorted(f for f in path.iterdir()
                            if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
        if not self.files:
            raise SourceError(f'image folder {path} holds no images ({", ".join(IMAGE_SUFFIXES)})')
        self.index = 0
        first = self.files[0]
        self.first_size = None
        try:
            rgb = _decode_file(first)
            self.first_size = (rgb.shape[1], rgb.shape[0])
        except FrameError:
            pass  # reported when its turn comes

    def next_frame(self):
        if self.index >= len(self.files):
            if not self.loop:
                return None
            self.index = 0
        file = self.files[self.index]
        self.index += 1
        return Frame(rgb=_decode_file(file), origin=f'image {file}')

    def describe(self):
        return f'folder {self.path}: {len(self.files)} images'


class RosbagSource:
    """One image topic of a rosbag2 recording (or a ROS 1 .bag), read with rosbags."""

    name = 'rosbag'

    def __init__(self, path, topic, camera_info_topic, loop):
        from rosbags.highlevel import AnyReader
        from rosbags.typesys import Stores, get_typestore

        self.path, self.topic, self.loop = path, topic, loop
        if not path.exists():
            raise SourceError(f'rosbag {path} does not exist')
        try:
            self.reader = AnyReader([path], default_typestore=get_typestore(Stores.LATEST))
            self.reader.open()
        except Exception as error:  # rosbags raises several kinds for unreadable recordings
            raise SourceError(f'cannot open rosbag {path}: {error}') from None
        topics = {c.topic: c.msgtype for c in self.reader.connections}
        image_topics = sorted(t for t, msgtype in topics.items() if msgtype in IMAGE_TYPES)
        listing = ', '.join(image_topics) or 'none'
        if not topic:
            raise SourceError(f'source rosbag needs bag_topic; image topics in {path}: {listing}')
        self.connections = [c for c in self.reader.connections if c.topic == topic]
        if not self.connections:
            raise SourceError(f'rosbag {path} has no topic {topic} (image topics: {listing})')
        msgtype = self.connections[0].msgtype
        if msgtype not in IMAGE_TYPES:
            raise SourceError(f'bag_topic {topic} in {path} has type {msgtype}; an image topic needs '
                              f'{" or ".join(IMAGE_TYPES)} (image topics: {listing})')
        self.compressed = msgtype == IMAGE_TYPES[1]
        self.count = sum(c.msgcount for c in self.connections)
        if not self.count:
            raise SourceError(f'topic {topic} in rosbag {path} holds no messages')
        self.info_connections, self.camera_info = [], None
        if camera_info_topic:
            self.info_connections = [c for c in self.reader.connections if c.topic == camera_info_topic]
            if not self.info_connections:
                raise SourceError(f'rosbag {path} has no topic {camera_info_topic} '
                                  '(bag_camera_info_topic)')
            if self.info_connections[0].msgtype != CAMERA_INFO_TYPE:
                raise SourceError(f'bag_camera_info_topic {camera_info_topic} in {path} has type '
                                  f'{self.info_connections[0].msgtype}, not {CAMERA_INFO_TYPE}')
            # The first one serves the images recorded before it.
            for connection, _, raw in self.reader.messages(self.info_connections):
                self.camera_info = self._camera_info(connection, raw, startup=True)
                break
            if self.camera_info is None:
                raise SourceError(f'topic {camera_info_topic} in rosbag {path} holds no messages')
        self.messages = None

    def _camera_info(self, connection, raw, startup=False):
        try:
            return check_camera_info(_camera_info_from_bag(self.reader.deserialize(raw, connection.msgtype)))
        except Exception as error:  # deserialization errors, ValueError naming the field
            message = f'cannot use a message of {connection.topic} in rosbag {self.path}: {error}'
            raise (SourceError if startup else FrameError)(message) from None

    def next_frame(self):
        while True:
            if self.messages is None:
                self.messages = self.reader.messages(self.connections + self.info_connections)
            try:
                connection, time_ns, raw = next(self.messages)
            except StopIteration:
                self.messages = None
                if not self.loop:
                    return None
                continue
            if connection.topic != self.topic:
                self.camera_info = self._camera_info(connection, raw)
                continue
            return self._frame(connection, time_ns, raw)

    def _frame(self, connection, time_ns, raw):
        where = f'{self.topic} in rosbag {self.path} at {time_ns * 1e-9:.3f} s'
        try:
            msg = self.reader.deserialize(raw, connection.msgtype)
        except Exception as error:
            raise FrameError(f'cannot deserialize a message of {where}: {error}') from None
        try:
            rgb = (images.rgb_from_compressed_msg(msg) if self.compressed
                   else images.rgb_from_image_msg(msg))
        except Exception as error:  # ValueError naming the field, or the converter's own errors
            raise FrameError(f'cannot convert the message of {where}: {error}') from None
        stamp = msg.header.stamp
        stamp = (TimeMsg(sec=int(stamp.sec), nanosec=int(stamp.nanosec)) if stamp.sec or stamp.nanosec
                 else TimeMsg(sec=time_ns // 10**9, nanosec=time_ns % 10**9))
        return Frame(rgb=rgb, camera_info=self.camera_info, stamp=stamp,
                     frame_id=msg.header.frame_id or None, time_ns=time_ns,
                     origin=f'the message of {where}')

    def describe(self):
        kind = 'CompressedImage' if self.compressed else 'Image'
        info = f', camera_info from {self.info_connections[0].topic}' if self.info_connections else ''
        return f'rosbag {self.path}: {self.topic} ({kind}, {self.count} messages){info}'

    def close(self):
        self.reader.close()


# --- the node ------------------------------------------------------------------------------------

class ImageSource(Node):
    def __init__(self, **node_options):
        super().__init__('image_source', **node_options)
        source = declare(self, 'source', 'demo',
                         'Input: demo (built-in walker), video (file), folder (of images) or rosbag '
                         '(rosbag2 directory, .mcap or .db3).', read_only=True)
        path = declare(self, 'path', '', 'Video file, image folder or rosbag for source video, '
                       'folder, rosbag.', read_only=True)
        rate_hz = declare(self, 'rate_hz', 10.0,
                          'Frames published per second; 0: the input\'s own timing (the video\'s '
                          'frame rate, the rosbag\'s recorded timing).', 0.0, 1000.0, read_only=True)
        declare(self, 'frame_id', DEFAULT_FRAME_ID,
                'frame_id of every header (the camera\'s optical frame); empty: the recording\'s '
                f'(rosbag), else {DEFAULT_FRAME_ID}.')
        declare(self, 'use_recorded_stamps', False,
                'Stamp with the recording\'s header stamps (rosbag) instead of the clock\'s now.')
        declare(self, 'loop', True, 'Start again at the end of a video, folder or rosbag; '
                'without it the node stops at the end.')
        focal_px = declare(self, 'focal_length_px', 600.0,
                           'Focal length of the demo camera, and of the camera_info published for '
                           'video / folder / rosbag input without a camera_info_file or '
                           'bag_camera_info_topic (principal point at the image centre), pixels.',
                           1.0, 1e5, read_only=True)
        width = declare(self, 'image_width', 640, 'Demo image width, pixels.', 16, 8192, read_only=True)
        height = declare(self, 'image_height', 480, 'Demo image height, pixels.', 16, 8192,
                         read_only=True)
        distance_m = declare(self, 'camera_distance_m', 4.0,
                             'Demo: distance from the camera to the walker, metres.', 1.0, 50.0,
                             read_only=True)
        clip_s = declare(self, 'clip_seconds', 12.0, 'Demo: length of the looped clip, seconds.',
                         1.0, 3600.0, read_only=True)
        seed = declare(self, 'seed', 0, 'Demo: seed of the walker\'s appearance and the background.',
                       0, 2**31 - 1, read_only=True)
        publish_depth = declare(self, 'publish_depth', False,
                                'Demo: also publish the registered depth image on `depth` (16UC1, mm).',
                                read_only=True)
        camera_info_file = declare(
            self, 'camera_info_file', '',
            'camera_calibration YAML file with the intrinsics of the video / folder / rosbag '
            'camera; empty: a pinhole camera with focal_length_px.', read_only=True)
        bag_topic = declare(self, 'bag_topic', '',
                            'rosbag: the sensor_msgs/Image or CompressedImage topic to publish.',
                            read_only=True)
        bag_info_topic = declare(self, 'bag_camera_info_topic', '',
                                 'rosbag: its sensor_msgs/CameraInfo topic (optional).',
                                 read_only=True)
        log_period_s = declare(self, 'log_period_s', 5.0,
                               'Each kind of frame problem (unreadable, of another size than the calibration) '
                               'is logged at most this often, seconds, with the number held back since.',
                               0.0, 3600.0, read_only=True)
        self.warnings = RateLimitedWarnings(self.get_logger(), log_period_s)

        try:
            self.source = self._open(source, Path(path).expanduser(), rate_hz, width, height,
                                     focal_px, clip_s, distance_m, seed, bag_topic, bag_info_topic)
            self.camera_info_path = Path(camera_info_file).expanduser()
            self.file_camera_info = camera_info_from_file(camera_info_file) if camera_info_file else None
            first_size = getattr(self.source, 'first_size', None)
            if self.file_camera_info is not None and first_size:
                self._check_calibrated_size(first_size, SourceError, f'the first image of {path}')
            if rate_hz == 0:
                if source == 'folder':
                    raise SourceError('source folder needs rate_hz > 0 (0 means the input\'s own '
                                      'timing: video and rosbag only)')
                if source == 'video':
                    if not (math.isfinite(self.source.fps) and 0 < self.source.fps <= 1000):
                        raise SourceError(f'video {self.source.path} reports no usable frame rate '
                                          f'({self.source.fps}); set rate_hz')
                    rate_hz = self.source.fps
        except SourceError as error:
            self.get_logger().error(str(error))
            close = getattr(getattr(self, 'source', None), 'close', None)
            if close is not None:
                close()
            # The half-built node goes now, while its context is valid: left to the garbage
            # collector after rclpy's shutdown, its handles once hung the process at exit.
            self.destroy_node()
            raise
        if self.get_parameter('use_recorded_stamps').value and source != 'rosbag':
            self.get_logger().warning(f'use_recorded_stamps: source {source} has no recorded stamps; '
                                      'stamping with the clock')

        self.camera_info_pub = self.create_publisher(CameraInfo, 'camera_info', PUBLISH_DEPTH)
        self.image_pub = self.create_publisher(Image, 'image', PUBLISH_DEPTH)
        self.skeleton_pub = (self.create_publisher(Skeleton3D, 'ground_truth/skeleton', PUBLISH_DEPTH)
                             if source == 'demo' else None)
        self.depth_pub = (self.create_publisher(Image, 'depth', PUBLISH_DEPTH)
                          if source == 'demo' and publish_depth else None)
        self.focal_px = focal_px
        self.pinhole_infos = {}
        self.published = self.skipped = 0
        self.finished = False
        self.recorded_timing = rate_hz == 0
        self.pending = None       # recorded timing: the frame to publish on the next tick
        self.due_ns = None        # recorded timing: monotonic time of that tick
        if self.recorded_timing:
            self.timer = self.create_timer(MIN_TIMER_NS * 1e-9, self._recorded_tick)
        else:
            self.timer = self.create_timer(1.0 / rate_hz, self._tick)
        timing = 'the recorded timing' if self.recorded_timing else f'{rate_hz:g} Hz'
        self.get_logger().info(f'publishing {self.source.describe()} on '
                               f'{self.image_pub.topic_name} at {timing}')

    def _open(self, source, path, rate_hz, width, height, focal_px, clip_s, distance_m, seed,
              bag_topic, bag_info_topic):
        if source not in SOURCES:
            raise SourceError(f'source {source!r} is not one of {", ".join(SOURCES)}')
        if source == 'demo':
            return DemoSource(width, height, focal_px, rate_hz, clip_s, distance_m, seed)
        if not str(path) or str(path) == '.':
            raise SourceError(f'source {source} needs the parameter path')
        if source == 'video':
            return VideoSource(path, self.get_parameter('loop').value)
        if source == 'folder':
            return FolderSource(path, self.get_parameter('loop').value)
        return RosbagSource(path, bag_topic, bag_info_topic, self.get_parameter('loop').value)

    def _check_calibrated_size(self, size, error_type, what='the image'):
        info = self.file_camera_info
        if tuple(size) != (info.width, info.height):
            raise error_type(f'{what} is {size[0]}x{size[1]} px but camera_info_file '
                             f'{self.camera_info_path} is for {info.width}x{info.height}')

    def _camera_info(self, frame):
        if self.file_camera_info is not None:
            self._check_calibrated_size((frame.rgb.shape[1], frame.rgb.shape[0]), FrameError,
                                        frame.origin)
            return self.file_camera_info
        if frame.camera_info is not None:
            return frame.camera_info
        size = (frame.rgb.shape[1], frame.rgb.shape[0])
        if size not in self.pinhole_infos:
            self.pinhole_infos[size] = pinhole_camera_info(self.focal_px, *size)
        return self.pinhole_infos[size]

    def _next(self):
        """The next frame, None at the end (without loop), or None after a logged problem."""
        try:
            self.source.loop = self.get_parameter('loop').value
            frame = self.source.next_frame()
        except FrameError as error:
            self.skipped += 1
            self.warnings.warn('unreadable_frame', f'skipped a frame: {error}')
            return None
        if frame is None:
            self._finish()
        return frame

    def _finish(self):
        self.finished = True
        self.timer.cancel()
        self.get_logger().info(f'end of the input: published {self.published} frames, '
                               f'skipped {self.skipped}')

    def _tick(self):
        if not self.context.ok():  # shutting down (Ctrl-C, SIGTERM): the publishers are gone
            return
        frame = self._next()
        if frame is not None:
            self.publish(frame)
        if getattr(self.source, 'report', None):
            self.get_logger().info(self.source.report)
            self.source.report = None

    def _recorded_tick(self):
        """Recorded timing: publish the pending frame, fetch the next and wait until it is due,
        keeping the recording's intervals (a jump back, where the recording loops, waits one
        mean frame interval)."""
        if not self.context.ok():
            return
        now = time.monotonic_ns()
        if self.pending is not None:
            self.publish(self.pending)
        previous = self.pending
        self.pending = None
        frame = None
        for _ in range(100):  # give up for this tick after many problem frames in a row
            frame = self._next()
            if frame is not None or self.finished:
                break
        if frame is None:
            if not self.finished:  # try again soon
                self.timer.timer_period_ns = MIN_TIMER_NS
                self.timer.reset()
            return
        if previous is None or self.due_ns is None:
            self.due_ns = now
        else:
            interval = frame.time_ns - previous.time_ns
            if interval < 0:
                interval = self._mean_interval_ns()
            self.due_ns += interval
        self.pending = frame
        self.timer.timer_period_ns = max(self.due_ns - time.monotonic_ns(), MIN_TIMER_NS)
        self.timer.reset()

    def _mean_interval_ns(self):
        reader = getattr(self.source, 'reader', None)
        count = getattr(self.source, 'count', 0)
        if reader is not None and count > 1:
            return reader.duration // (count - 1)
        fps = getattr(self.source, 'fps', 0.0)
        return int(1e9 / fps) if fps and math.isfinite(fps) else 100_000_000

    def publish(self, frame):
        try:
            camera_info = self._camera_info(frame)
        except FrameError as error:
            self.skipped += 1
            self.warnings.warn('calibration_size', f'skipped a frame: {error}')
            return
        if self.get_parameter('use_recorded_stamps').value and frame.stamp is not None:
            stamp = frame.stamp
        else:
            stamp = self.get_clock().now().to_msg()
        frame_id = self.get_parameter('frame_id').value or frame.frame_id or DEFAULT_FRAME_ID
        header = Header(stamp=stamp, frame_id=frame_id)
        camera_info.header = header
        self.camera_info_pub.publish(camera_info)
        self.image_pub.publish(images.image_to_msg(header, frame.rgb))
        if self.depth_pub is not None and frame.depth_mm is not None:
            self.depth_pub.publish(images.depth_to_msg(header, frame.depth_mm))
        if self.skeleton_pub is not None and frame.ground_truth_mm is not None:
            joints_m = frame.ground_truth_mm / 1000.0
            self.skeleton_pub.publish(messages.skeleton_msg(
                header, DEMO_PERSON_ID, np.arange(NUM_JOINTS), joints_m - joints_m[ROOT], np.ones(NUM_JOINTS),
                model='ground_truth:walking_clip', root_position_m=joints_m[ROOT]))
        self.published += 1

    def destroy_node(self):
        close = getattr(getattr(self, 'source', None), 'close', None)
        if close is not None:
            close()
        return super().destroy_node()


def main(args=None):
    rclpy.init(args=args)
    node = None
    try:
        node = ImageSource()  # a signal while it loads (seconds for a video) is a stop, too
        while rclpy.ok() and not node.finished:
            rclpy.spin_once(node, timeout_sec=0.1)
        if node.finished:  # let subscribers receive the last frames before the publishers go
            deadline = time.monotonic() + 1.0
            while rclpy.ok() and time.monotonic() < deadline:
                rclpy.spin_once(node, timeout_sec=0.1)
    except SourceError:  # already logged by the node, naming the file or topic
        rclpy.try_shutdown()
        sys.exit(1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise  # a real failure; otherwise a callback raced the shutdown by a signal
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
