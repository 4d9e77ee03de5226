"""skeleton_replay: publishes a known 3D motion as the camera node's outputs, plus its ground truth.

It lets the lifter and every /pose3d subscriber run with no camera, no GPU and no dataset: the
built-in walking clip is seen by a virtual pinhole camera, and each frame is published as
  keypoints_2d           pose3d_ros/Keypoints2DArray  one person (id 0, score 1, the box around
                                                      its joints): the 16 detected joints, projected
  ranking                pose3d_ros/DepthRankingArray the same person's ground-truth ranking of
                                                      those 16 joints (eq. 1)
  ground_truth/skeleton  pose3d_ros/Skeleton3D        id 0: all 17 joints, root-relative, root known
  camera_info            sensor_msgs/CameraInfo       the virtual pinhole camera (plumb_bob, no
                                                      distortion), so the lifter needs no camera
(all with the same header; relative names: the runner and launch files put the node in the
/pose3d namespace). camera_info goes out first, so a subscriber has it before the frame's joints.
"""
import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from pose3d_ros import messages
from pose3d_ros.camera import project
from pose3d_ros.demo_motion import walking_clip
from pose3d_ros.msg import DepthRankingArray, Keypoints2DArray, Skeleton3D
from pose3d_ros.nodes.parameters import declare
from pose3d_ros.ranking import ranking_matrix
from pose3d_ros.skeleton import DETECTED_JOINTS, NUM_JOINTS, ROOT

CROP_MARGIN = 1.25  # square crop side = margin x the larger side of the joints' bounding box
PERSON_ID = 0


def pinhole_camera_info(focal_px, width, height):
    """CameraInfo of a distortion-free pinhole camera, principal point at (width / 2, height / 2):
    the camera the replay projects its joints with."""
    cx, cy = width / 2, height / 2
    return CameraInfo(
        width=width, height=height, distortion_model='plumb_bob', d=[0.0] * 5,
        k=[focal_px, 0.0, cx, 0.0, focal_px, cy, 0.0, 0.0, 1.0],
        r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        p=[focal_px, 0.0, cx, 0.0, 0.0, focal_px, cy, 0.0, 0.0, 0.0, 1.0, 0.0])


class SkeletonReplay(Node):
    def __init__(self, **node_options):
        super().__init__('skeleton_replay', **node_options)
        rate_hz = declare(self, 'rate_hz', 10.0, 'Frames published per second.', 0.1, 1000.0)
        self.frame_id = declare(
            self, 'frame_id', 'camera_optical_frame',
            'frame_id of every header: the virtual camera\'s optical frame.')
        focal_px = declare(self, 'focal_length_px', 1000.0,
                           'Focal length of the virtual camera, pixels.', 1.0, 1e5, read_only=True)
        width = declare(self, 'image_width', 1280, 'Virtual image width, pixels.', 1, 100000,
                        read_only=True)
        height = declare(self, 'image_height', 720, 'Virtual image height, pixels.', 1, 100000,
                         read_only=True)
        distance_m = declare(self, 'camera_distance_m', 4.0,
                             'Distance from the camera to the walker, metres.', 1.0, 50.0,
                             read_only=True)
        depth_tie_mm = declare(self, 'depth_tie_mm', 20.0,
                               'Depth difference under which two joints tie (eq. 1 epsilon), mm.',
                               0.0, 1000.0, read_only=True)
        self.tie_band = declare(self, 'tie_band', 0.1,
                                'Half-width of the tie band around 0.5 for the discretized '
                                'ranking.', 0.0, 0.5)
        clip_s = declare(self, 'clip_seconds', 12.0, 'Length of the looped clip, seconds.',
                         1.0, 3600.0, read_only=True)

        # The whole loop is computed once; publishing a frame is then only message filling.
        num_frames = max(1, int(round(clip_s * rate_hz)))
        self.joints_mm = walking_clip(num_frames, rate_hz, camera_distance_mm=distance_m * 1000.0)
        self.pixels = project(self.joints_mm, (focal_px, focal_px), (width / 2, height / 2))
        self.rankings = ranking_matrix(self.joints_mm[:, DETECTED_JOINTS, 2], depth_tie_mm)
        corner_min = self.pixels[:, DETECTED_JOINTS].min(axis=1)
        corner_max = self.pixels[:, DETECTED_JOINTS].max(axis=1)
        self.boxes = np.concatenate([corner_min, corner_max], axis=1)
        side = CROP_MARGIN * (corner_max - corner_min).max(axis=1, keepdims=True)
        centre = (corner_min + corner_max) / 2
        self.crops = np.concatenate([centre - side / 2, side, side], axis=1)

        self.keypoints_pub = self.create_publisher(Keypoints2DArray, 'keypoints_2d', 10)
        self.ranking_pub = self.create_publisher(DepthRankingArray, 'ranking', 10)
        self.skeleton_pub = self.create_publisher(Skeleton3D, 'ground_truth/skeleton', 10)
        self.camera_info_pub = self.create_publisher(CameraInfo, 'camera_info', 10)
        self.camera_info = pinhole_camera_info(focal_px, width, height)
        self.frame = 0
        self.timer = self.create_timer(1.0 / rate_hz, self.publish_frame)

    def publish_frame(self):
        k = self.frame % len(self.joints_mm)
        self.frame += 1
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.frame_id)
        self.camera_info.header = header
        self.camera_info_pub.publish(self.camera_info)
        detected = len(DETECTED_JOINTS)
        self.keypoints_pub.publish(messages.keypoints_array_msg(header, [messages.keypoints_msg(
            header, PERSON_ID, 1.0, self.boxes[k], DETECTED_JOINTS, self.pixels[k, DETECTED_JOINTS],
            np.ones(detected), self.crops[k])]))
        self.ranking_pub.publish(messages.ranking_array_msg(header, [messages.ranking_msg(
            header, PERSON_ID, DETECTED_JOINTS, self.rankings[k], self.tie_band)]))
        joints_m = self.joints_mm[k] / 1000.0
        self.skeleton_pub.publish(messages.skeleton_msg(
            header, PERSON_ID, np.arange(NUM_JOINTS), joints_m - joints_m[ROOT], np.ones(NUM_JOINTS),
            model='ground_truth:walking_clip', root_position_m=joints_m[ROOT]))


def main(args=None):
    rclpy.init(args=args)
    node = None
    try:
        node = SkeletonReplay()  # a signal while it builds the clip is a stop, too
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
