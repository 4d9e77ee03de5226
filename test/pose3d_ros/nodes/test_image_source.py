"""image_source in its own process; this test subscribes over DDS and checks what it publishes.

Inputs (PNG folders, an MJPG video, MCAP and sqlite3 bags written with rosbags) are tiny and
written by the tests; error cases start the executable and read its exit status and log.
"""
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import rclpy
from rcl_interfaces.srv import DescribeParameters
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image

from pose3d_ros import images, messages
from pose3d_ros.msg import Skeleton3D
from pose3d_ros.nodes.image_source import DEMO_WALL_MM, DemoSource, SourceError, camera_info_from_file
from pose3d_ros.skeleton import LEFT_RIGHT_PAIRS, NUM_JOINTS

sys.path.insert(0, str(Path(__file__).parent))
from lifecycle_probe import call_service  # noqa: E402

SOURCE = str(Path(sys.executable).parent / 'image_source')
TOPICS = {'/pose3d/image': Image, '/pose3d/camera_info': CameraInfo,
          '/pose3d/ground_truth/skeleton': Skeleton3D}
# Solid colours of the test frames (RGB), told apart after lossy compression too.
COLOURS = np.array([[230, 30, 30], [30, 230, 30], [30, 30, 230], [230, 230, 30], [30, 230, 230],
                    [230, 30, 230]], dtype=np.uint8)
SMALL = (64, 48)  # width, height of the test frames
CALIBRATION = """\
image_width: 64
image_height: 48
camera_name: test_camera
camera_matrix: {rows: 3, cols: 3, data: [70.0, 0.0, 31.0, 0.0, 71.0, 23.0, 0.0, 0.0, 1.0]}
distortion_model: plumb_bob
distortion_coefficients: {rows: 1, cols: 5, data: [0.1, -0.05, 0.001, 0.002, 0.0]}
rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}
projection_matrix: {rows: 3, cols: 4, data: [70.0, 0, 31.0, 0, 0, 71.0, 23.0, 0, 0, 0, 1, 0]}
"""


def test_a_calibration_file_with_insane_intrinsics_is_refused_naming_the_file_and_value(tmp_path):
    """camera_info_from_file checks what it read with pose3d_ros.camera.check_camera_info, as the
    lifter checks what it receives."""
    path = tmp_path / 'calibration.yaml'
    path.write_text(CALIBRATION)
    assert list(camera_info_from_file(path).k) == [70.0, 0.0, 31.0, 0.0, 71.0, 23.0, 0.0, 0.0, 1.0]
    path.write_text(CALIBRATION.replace('data: [70.0, 0.0, 31.0', 'data: [1.0e-300, 0.0, 31.0'))
    with pytest.raises(SourceError, match=rf'camera_info_file {path}: CameraInfo.k has focal length fx=1e-300, '
                                          r'fy=71; both must lie in \[3.2, 6400\] px'):
        camera_info_from_file(path)


def start_source(start_process, *params):
    args = [SOURCE, '--ros-args', '-r', '__ns:=/pose3d']
    for param in params:
        args += ['-p', param]
    return start_process(*args)


def frame(index, size=SMALL):
    """A solid test frame of COLOURS[index] with a white square whose position encodes it too."""
    width, height = size
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[:] = COLOURS[index]
    rgb[4:12, 4 + 8 * index:12 + 8 * index] = 255
    return rgb


def colour_index(rgb):
    """Which COLOURS a received frame has (median of its pixels, robust to the white square)."""
    median = np.median(rgb.reshape(-1, 3), axis=0)
    return int(np.argmin(np.abs(COLOURS.astype(float) - median).sum(axis=1)))


def pixels(msg):
    assert msg.encoding == 'rgb8' and msg.step == msg.width * 3
    return np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3)


class Collector:
    """Subscribes to the source's topics; messages grouped by header stamp, in arrival order."""

    def __init__(self, name, topics=TOPICS):
        self.node = rclpy.create_node(name)
        self.images, self.arrivals, self.by_stamp = [], [], {}
        for topic, msg_type in topics.items():
            self.node.create_subscription(msg_type, topic,
                                          lambda msg, topic=topic: self._on(topic, msg), 10)

    def _on(self, topic, msg):
        stamp = Time.from_msg(msg.header.stamp).nanoseconds
        self.by_stamp.setdefault(stamp, {})[topic] = msg
        if topic == '/pose3d/image':
            self.images.append(msg)
            self.arrivals.append(time.monotonic())

    def spin_until(self, done, process, timeout_s=30.0):
        deadline = time.monotonic() + timeout_s
        while not done() and time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=0.05)
        if not done():
            if process.poll() is not None:
                pytest.fail(f'image_source exited with {process.returncode}: '
                            f'{process.communicate()[1][-2000:]}')
            pytest.fail(f'timed out after {timeout_s} s with {len(self.images)} images')


def stop(process):
    """Terminate the source and return its log (stderr)."""
    process.terminate()
    return process.communicate(timeout=10)[1]


def follows_in_order(indices, count, skipped=()):
    """Indices seen cycle through range(count) in order, skipping `skipped`."""
    order = [i for i in range(count) if i not in skipped]
    return all(order[(order.index(a) + 1) % len(order)] == b for a, b in zip(indices, indices[1:]))


def test_demo_frames_show_the_ground_truth_at_the_rate(start_process, rclpy_init):
    width, height, focal = 320, 240, 300.0
    process = start_source(start_process, 'rate_hz:=20.0', 'frame_id:=test_optical_frame',
                           f'image_width:={width}', f'image_height:={height}',
                           f'focal_length_px:={focal}', 'seed:=3', 'publish_depth:=true')
    topics = {**TOPICS, '/pose3d/depth': Image}
    collector = Collector('demo_checker', topics)
    complete = lambda: [f for f in collector.by_stamp.values() if len(f) == len(topics)]  # noqa: E731
    collector.spin_until(lambda: len(collector.images) >= 25 and complete(), process)

    # Rate and stamps: 20 Hz from the node clock, strictly increasing.
    stamps = np.array([Time.from_msg(m.header.stamp).nanoseconds for m in collector.images])
    assert np.all(np.diff(stamps) > 0)
    interval_ms = np.diff(stamps).mean() / 1e6
    assert interval_ms == pytest.approx(50.0, rel=0.1)
    arrival_ms = np.diff(collector.arrivals).mean() * 1000
    assert arrival_ms == pytest.approx(50.0, rel=0.25)
    assert abs(stamps[-1] / 1e9 - time.time()) < 5.0  # wall-clock stamps (the node's ROS clock)

    # One frame: image, camera_info and ground truth with the same header.
    frame_msgs = complete()[-1]
    image, info, truth, depth_msg = (frame_msgs[t] for t in topics)
    for msg in (image, info, truth, depth_msg):
        assert msg.header.frame_id == 'test_optical_frame'
    assert (image.width, image.height) == (width, height)
    assert (info.width, info.height) == (width, height)
    assert info.distortion_model == 'plumb_bob' and list(info.d) == [0.0] * 5
    np.testing.assert_array_equal(info.k, [focal, 0, width / 2, 0, focal, height / 2, 0, 0, 1])
    np.testing.assert_array_equal(info.p, [focal, 0, width / 2, 0, 0, focal, height / 2, 0, 0, 0, 1, 0])
    person_id, indices, joints_m, _, root = messages.skeleton_from_msg(truth)
    assert person_id == 0 and indices.tolist() == list(range(NUM_JOINTS)) and truth.root_known
    absolute = joints_m + root

    # The person is drawn where the ground truth projects: the pixels around every projected joint
    # differ from the (seeded, fixed) background, and nothing far from the joints does.
    projected = focal * absolute[:, :2] / absolute[:, 2:] + (width / 2, height / 2)
    assert np.all((projected > 0) & (projected < (width, height)))
    backdrop = DemoSource(width, height, focal, 20.0, 1.0, 4.0, 3).background
    person = np.abs(pixels(image).astype(float) - backdrop * 255).max(axis=2) > 40
    for joint, (x, y) in enumerate(np.round(projected).astype(int)):
        window = person[y - 2:y + 3, x - 2:x + 3]
        assert window.mean() > 0.3, f'joint {joint} at ({x}, {y}): no person drawn there'
    rows, cols = np.nonzero(person)
    margin = 0.25 * focal * 1.0 / absolute[:, 2].mean()  # 25 cm at the walker's depth, in px
    assert cols.min() > projected[:, 0].min() - margin and cols.max() < projected[:, 0].max() + margin
    assert rows.min() > projected[:, 1].min() - 2 * margin and rows.max() < projected[:, 1].max() + margin
    assert person.mean() > 0.02

    # The registered depth image: the walker's surface just in front of each joint, a wall behind.
    assert (depth_msg.encoding, depth_msg.width, depth_msg.height) == ('16UC1', width, height)
    depth = images.depth_from_msg(depth_msg)
    assert np.mean(depth[~person] == np.float32(DEMO_WALL_MM / 1000)) > 0.98  # all but the body's edges
    # Each joint lies behind the nearest surface around it (its own part's, or a limb in front of
    # it), and for the joints of the side nearer the camera that surface is mostly their own, a body
    # part's radius in front (seen side-on, the far side's joints lie behind the near side's limbs:
    # medians up to 0.22 m over all joints, at most 0.11 m over the near side's, in all 240 frames).
    behind = np.array([joint_depth - np.nanmin(depth[y - 2:y + 3, x - 2:x + 3])
                       for (x, y), joint_depth in zip(np.round(projected).astype(int), absolute[:, 2])])
    left, right = np.array(LEFT_RIGHT_PAIRS).T
    near = left if absolute[left, 2].mean() < absolute[right, 2].mean() else right
    assert np.all(behind > 0) and np.median(behind[near]) < 0.15, behind

    describe = collector.node.create_client(DescribeParameters, '/pose3d/image_source/describe_parameters')
    source, rate, frame_id = call_service(collector.node, describe, DescribeParameters.Request(
        names=['source', 'rate_hz', 'frame_id'])).descriptors
    assert source.read_only and source.description
    assert rate.read_only and rate.floating_point_range[0].to_value >= 100
    assert not frame_id.read_only
    collector.node.destroy_node()
    stop(process)


def test_folder_is_replayed_in_order_and_a_corrupt_image_is_skipped(start_process, rclpy_init,
                                                                    tmp_path):
    for index in range(4):
        cv2.imwrite(str(tmp_path / f'img_{index:02d}.png'), frame(index)[..., ::-1])
    (tmp_path / 'img_01b.png').write_bytes(b'\x89PNG\r\n\x1a\n not really a png')
    (tmp_path / 'notes.txt').write_text('ignored')
    (tmp_path / 'calibration.yaml').write_text(CALIBRATION)
    process = start_source(start_process, 'source:=folder', f'path:={tmp_path}', 'rate_hz:=40.0',
                           f'camera_info_file:={tmp_path / "calibration.yaml"}', 'log_period_s:=60.0')
    collector = Collector('folder_checker')
    collector.spin_until(lambda: len(collector.images) >= 10, process)
    log = stop(process)

    received = [pixels(msg) for msg in collector.images]
    indices = [colour_index(rgb) for rgb in received]
    assert follows_in_order(indices, 4) and len(set(indices)) == 4, indices
    for index, rgb in zip(indices, received):
        np.testing.assert_array_equal(rgb, frame(index))  # PNG is lossless
    assert 'img_01b.png' in log and 'skipped a frame' in log
    assert log.count('img_01b.png') == 1  # rate-limited: once per log_period_s
    # What the decoders said about it is in that line, not on stderr by itself.
    assert not [line for line in log.splitlines() if line.startswith(('libpng', '[ WARN:', '[ERROR:'))], log
    info = next(m for stamped in collector.by_stamp.values() for t, m in stamped.items()
                if t == '/pose3d/camera_info')
    np.testing.assert_array_equal(info.k, [70, 0, 31, 0, 71, 23, 0, 0, 1])
    np.testing.assert_allclose(info.d, [0.1, -0.05, 0.001, 0.002, 0.0])
    assert (info.width, info.height) == SMALL
    collector.node.destroy_node()


def test_folder_without_loop_exits_at_the_end(start_process, tmp_path):
    for index in range(3):
        cv2.imwrite(str(tmp_path / f'{index}.jpg'), frame(index)[..., ::-1])
    process = start_source(start_process, 'source:=folder', f'path:={tmp_path}', 'rate_hz:=50.0',
                           'loop:=false')
    _, log = process.communicate(timeout=30)
    assert process.returncode == 0, log
    assert 'published 3 frames, skipped 0' in log


def test_video_is_replayed_at_its_frame_rate_with_a_pinhole_camera_info(start_process, rclpy_init,
                                                                       tmp_path):
    path = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 25.0, SMALL)
    assert writer.isOpened()
    for index in range(6):
        writer.write(frame(index)[..., ::-1])
    writer.release()
    process = start_source(start_process, 'source:=video', f'path:={path}', 'rate_hz:=0.0',
                           'focal_length_px:=50.0')
    collector = Collector('video_checker')
    collector.spin_until(lambda: len(collector.images) >= 14, process)
    stop(process)

    indices = [colour_index(pixels(msg)) for msg in collector.images]
    assert follows_in_order(indices, 6) and len(set(indices)) == 6, indices
    for index, msg in zip(indices, collector.images):
        assert np.abs(pixels(msg).astype(int) - frame(index)).mean() < 12  # MJPG is lossy
    stamps = np.array([Time.from_msg(m.header.stamp).nanoseconds for m in collector.images])
    assert np.diff(stamps).mean() / 1e6 == pytest.approx(40.0, rel=0.1)  # the file's 25 fps
    info = next(m['/pose3d/camera_info'] for m in collector.by_stamp.values()
                if '/pose3d/camera_info' in m)
    np.testing.assert_array_equal(info.k, [50, 0, 32, 0, 50, 24, 0, 0, 1])
    collector.node.destroy_node()


# --- rosbags --------------------------------------------------------------------------------------

BAG_IMAGE_TOPIC, BAG_INFO_TOPIC = '/cam/image_raw', '/cam/camera_info'
BAG_START_NS = 1_700_000_000 * 10**9
BAG_PERIOD_NS = 40_000_000  # recorded at 25 Hz


def write_bag(path, storage, compressed, bad_message_at=None):
    """A bag with 5 frames (COLOURS 0..4, rgb8 or bgr8 alternating, or PNG CompressedImage) plus a
    camera_info topic; the frame at `bad_message_at` has an unsupported encoding. Returns the
    recorded header stamps (ns) of the frames."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.LATEST)
    types = store.types
    header = lambda ns: types['std_msgs/msg/Header'](  # noqa: E731
        stamp=types['builtin_interfaces/msg/Time'](sec=ns // 10**9, nanosec=ns % 10**9),
        frame_id='bag_optical_frame')
    image_type = 'sensor_msgs/msg/CompressedImage' if compressed else 'sensor_msgs/msg/Image'
    stamps = []
    plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        images = writer.add_connection(BAG_IMAGE_TOPIC, image_type, typestore=store)
        infos = writer.add_connection(BAG_INFO_TOPIC, 'sensor_msgs/msg/CameraInfo', typestore=store)
        for index in range(5):
            log_ns = BAG_START_NS + index * BAG_PERIOD_NS
            stamp_ns = log_ns - 5_000_000  # the capture, 5 ms before the recording
            stamps.append(stamp_ns)
            rgb = frame(index)
            if compressed:
                msg = types[image_type](header=header(stamp_ns), format='rgb8; png compressed bgr8',
                                        data=cv2.imencode('.png', rgb[..., ::-1])[1].ravel())
            else:
                encoding = 'rgb8' if index % 2 == 0 else 'bgr8'
                data = rgb if encoding == 'rgb8' else rgb[..., ::-1]
                if index == bad_message_at:
                    encoding = '32FC7'
                msg = types[image_type](header=header(stamp_ns), height=SMALL[1], width=SMALL[0],
                                        encoding=encoding, is_bigendian=0, step=SMALL[0] * 3,
                                        data=np.ascontiguousarray(data).ravel())
            writer.write(images, log_ns, store.serialize_cdr(msg, image_type))
            info = types['sensor_msgs/msg/CameraInfo'](
                header=header(stamp_ns), height=SMALL[1], width=SMALL[0], distortion_model='plumb_bob',
                d=np.zeros(5), k=np.array([55.0, 0, 30, 0, 56, 22, 0, 0, 1]),
                r=np.eye(3).ravel(), p=np.array([55.0, 0, 30, 0, 0, 56, 22, 0, 0, 0, 1, 0]),
                binning_x=0, binning_y=0,
                roi=types['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0,
                                                              width=0, do_rectify=False))
            writer.write(infos, log_ns + 1000, store.serialize_cdr(info, 'sensor_msgs/msg/CameraInfo'))
    return stamps


def test_mcap_bag_is_replayed_with_its_timing_stamps_and_camera_info(start_process, rclpy_init,
                                                                    tmp_path):
    bag = tmp_path / 'raw_bag'
    recorded = write_bag(bag, 'mcap', compressed=False, bad_message_at=3)
    process = start_source(start_process, 'source:=rosbag', f'path:={bag}',
                           f'bag_topic:={BAG_IMAGE_TOPIC}', f'bag_camera_info_topic:={BAG_INFO_TOPIC}',
                           'rate_hz:=0.0', 'use_recorded_stamps:=true', "frame_id:=''")
    collector = Collector('mcap_checker')
    collector.spin_until(lambda: len(collector.images) >= 9, process)
    log = stop(process)

    indices = [colour_index(pixels(msg)) for msg in collector.images]
    assert follows_in_order(indices, 5, skipped=(3,)) and set(indices) == {0, 1, 2, 4}, indices
    for index, msg in zip(indices, collector.images):
        np.testing.assert_array_equal(pixels(msg), frame(index))  # rgb8 and bgr8 both -> rgb8
        assert Time.from_msg(msg.header.stamp).nanoseconds == recorded[index]
        assert msg.header.frame_id == 'bag_optical_frame'
    assert f'{BAG_IMAGE_TOPIC} in rosbag {bag}' in log and '32FC7' in log
    # Recorded timing: 40 ms apart, 80 ms across the skipped frame; the loop from the last frame
    # back to the first waits one mean interval (40 ms).
    gaps = np.diff(collector.arrivals) * 1000
    expected = [40.0 * ((b - a) % 5) for a, b in zip(indices, indices[1:])]
    assert np.median(gaps / np.array(expected)) == pytest.approx(1.0, abs=0.2), (gaps, expected)
    info = next(m['/pose3d/camera_info'] for m in collector.by_stamp.values()
                if '/pose3d/camera_info' in m)
    np.testing.assert_array_equal(info.k, [55, 0, 30, 0, 56, 22, 0, 0, 1])
    assert info.header.frame_id == 'bag_optical_frame'
    collector.node.destroy_node()


def test_sqlite3_bag_of_compressed_images_is_replayed_at_the_rate(start_process, rclpy_init,
                                                                 tmp_path):
    bag = tmp_path / 'compressed_bag'
    write_bag(bag, 'sqlite3', compressed=True)
    process = start_source(start_process, 'source:=rosbag', f'path:={bag}',
                           f'bag_topic:={BAG_IMAGE_TOPIC}', 'rate_hz:=30.0',
                           'frame_id:=replayed_frame', 'focal_length_px:=40.0')
    collector = Collector('sqlite_checker')
    collector.spin_until(lambda: len(collector.images) >= 16, process)
    stop(process)

    indices = [colour_index(pixels(msg)) for msg in collector.images]
    assert follows_in_order(indices, 5) and len(set(indices)) == 5, indices
    for index, msg in zip(indices, collector.images):
        np.testing.assert_array_equal(pixels(msg), frame(index))
        assert msg.header.frame_id == 'replayed_frame'
    stamps = np.array([Time.from_msg(m.header.stamp).nanoseconds for m in collector.images])
    assert np.diff(stamps).mean() / 1e6 == pytest.approx(1000 / 30, rel=0.1)
    info = next(m['/pose3d/camera_info'] for m in collector.by_stamp.values()
                if '/pose3d/camera_info' in m)
    np.testing.assert_array_equal(info.k, [40, 0, 32, 0, 40, 24, 0, 0, 1])  # no camera_info topic
    collector.node.destroy_node()


def test_bad_inputs_exit_at_startup_naming_the_file_or_topic(start_process, tmp_path):
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'broken.mp4').write_bytes(b'\x00\x00\x00\x18ftypmp42 this is no video' * 20)
    write_bag(tmp_path / 'bag', 'mcap', compressed=False)
    bag = next((tmp_path / 'bag').glob('*.mcap'))  # a single .mcap file works as a bag too
    (tmp_path / 'bad_calibration.yaml').write_text('image_width: 64\nimage_height: 48\n')
    cases = {
        'missing video': (['source:=video', f'path:={tmp_path / "missing.mp4"}'],
                          [f'video file {tmp_path / "missing.mp4"} does not exist']),
        'unreadable video': (['source:=video', f'path:={tmp_path / "broken.mp4"}'],
                             [str(tmp_path / 'broken.mp4')]),
        'empty folder': (['source:=folder', f'path:={tmp_path / "empty"}'],
                         [f'image folder {tmp_path / "empty"} holds no images']),
        'bag without the topic': (['source:=rosbag', f'path:={bag}', 'bag_topic:=/front/image'],
                                  [f'rosbag {bag} has no topic /front/image', BAG_IMAGE_TOPIC]),
        'bag topic of another type': (['source:=rosbag', f'path:={bag}', f'bag_topic:={BAG_INFO_TOPIC}'],
                                      [f'bag_topic {BAG_INFO_TOPIC}', 'sensor_msgs/msg/CameraInfo']),
        'missing bag': (['source:=rosbag', f'path:={tmp_path / "nobag"}', 'bag_topic:=/x'],
                        [f'rosbag {tmp_path / "nobag"} does not exist']),
        'bad calibration': (['source:=folder', f'path:={tmp_path}',
                             f'camera_info_file:={tmp_path / "bad_calibration.yaml"}'],
                            [f'camera_info_file {tmp_path / "bad_calibration.yaml"}', 'camera_matrix']),
        'calibration of another size': (
            ['source:=folder', f'path:={tmp_path}', f'camera_info_file:={tmp_path / "vga.yaml"}'],
            [f'the first image of {tmp_path} is 64x48 px but camera_info_file '
             f'{tmp_path / "vga.yaml"} is for 640x480']),
        'unknown source': (['source:=webcam'], ["source 'webcam' is not one of"]),
    }
    (tmp_path / 'vga.yaml').write_text(CALIBRATION.replace('image_width: 64', 'image_width: 640')
                                       .replace('image_height: 48', 'image_height: 480'))
    (tmp_path / 'a.png').write_bytes(cv2.imencode('.png', frame(0))[1].tobytes())
    processes = {name: start_source(start_process, *params) for name, (params, _) in cases.items()}
    for name, process in processes.items():
        _, log = process.communicate(timeout=60)
        assert process.returncode == 1, f'{name}: exit {process.returncode}\n{log}'
        for text in cases[name][1]:
            assert text in log, f'{name}: {text!r} not in\n{log}'
        assert 'Traceback' not in log, f'{name}:\n{log}'
