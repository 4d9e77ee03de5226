"""recorder: writes topics to a rosbag2 recording with MCAP storage, as `ros2 bag record -s mcap`
does on a ROS install; the pose3d_run runner uses it where ros2cli cannot be installed.

Messages are written as they arrive, still serialized (raw subscriptions: nothing is decoded
and encoded again), with their arrival time on the node clock as the log time, like ros2 bag.
The recording is a rosbag2 folder (metadata.yaml + <folder name>.mcap) that `ros2 bag play`,
Foxglove and the rosbags library read. Message definitions come from rosbags' ROS 2 Kilted type
store and, for pose3d_ros's interfaces, from the installed .msg files.
"""
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

# Reliable and deep: the recorded publishers are reliable and nothing should be missed.
RECORD_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)


def ros_type_name(msg_class):
    """'pkg/msg/Name' of a generated message class (its module is pkg.msg._name)."""
    return f'{msg_class.__module__.split(".")[0]}/msg/{msg_class.__name__}'


def kilted_typestore():
    """rosbags' ROS 2 Kilted types plus pose3d_ros's own, read from the installed .msg files."""
    from ament_index_python.packages import get_package_share_directory

    typestore = get_typestore(Stores.ROS2_KILTED)
    msg_dir = Path(get_package_share_directory('pose3d_ros')) / 'msg'
    for path in sorted(msg_dir.glob('*.msg')):
        typestore.register(get_types_from_msg(path.read_text(), f'pose3d_ros/msg/{path.stem}'))
    return typestore


class Recorder(Node):
    """Records `topics` ({absolute topic name: message class}) into the rosbag2 folder `path`,
    which must not exist yet (FileExistsError names it). `close()` finishes the recording."""

    def __init__(self, path, topics, **node_options):
        super().__init__('recorder', **node_options)
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f'recording folder already exists: {self.path}')
        typestore = kilted_typestore()
        self.counts = dict.fromkeys(topics, 0)
        self._writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        for topic, msg_class in topics.items():
            connection = self._writer.add_connection(topic, ros_type_name(msg_class), typestore=typestore)
            # The node's default callback group is mutually exclusive: one write at a time.
            self.create_subscription(msg_class, topic, lambda data, topic=topic, connection=connection:
                                     self._write(topic, connection, data), RECORD_QOS, raw=True)

    def _write(self, topic, connection, data):
        if self._writer is None:
            return
        self._writer.write(connection, self.get_clock().now().nanoseconds, data)
        self.counts[topic] += 1

    def close(self):
        """Finish the file (MCAP summary, metadata.yaml); later messages are ignored."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()

    def destroy_node(self):
        self.close()
        super().destroy_node()
