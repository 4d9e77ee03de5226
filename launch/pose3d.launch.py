"""Start the pose3d_ros graph on a ROS 2 install: `ros2 launch pose3d_ros pose3d.launch.py`.

The nodes and parameter files of the `pose3d_run` runner, in the /pose3d namespace: camera
(BlazePose, or hourglass + PRCNN with front_end:=drpose3d; every camera parameter comes from the
parameter files) -> lifter (DPNet), the camera's images from image_source (source:=true, the
built-in demo unless its parameters say otherwise) or from a camera driver's `image_topic`, and
RViz with config/pose3d.rviz (rviz:=true). The lifecycle nodes configure and activate themselves
(autostart). On a Jetson: `overlay_params_file:=$(ros2 pkg prefix pose3d_ros)/share/pose3d_ros/config/jetson.yaml`
selects the TensorRT backend in FP16 (engines are built on the first start, minutes).

    ros2 launch pose3d_ros pose3d.launch.py source:=false image_topic:=/camera/color/image_raw \
        camera_info_topic:=/camera/color/camera_info rviz:=true
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

NAMESPACE = 'pose3d'


def _nodes(context):
    def argument(name):
        return LaunchConfiguration(name).perform(context)

    params = [argument('params_file')] + ([argument('overlay_params_file')] if argument('overlay_params_file') else [])
    lifecycle_params = params + [{'autostart': True}]
    use_source = argument('source').lower() == 'true'
    image_topic, camera_info_topic = argument('image_topic'), argument('camera_info_topic')
    # Without the source, the driver's topics (image_transport's names for raw and compressed).
    camera_remaps = [] if use_source else [('image', image_topic), ('image/compressed', f'{image_topic}/compressed')]
    lifter_remaps = [] if use_source else [('camera_info', camera_info_topic)]
    front_end = argument('front_end')
    camera_params = lifecycle_params + ([{'front_end': front_end}] if front_end else [])
    nodes = [
        Node(package='pose3d_ros', executable='camera', name='camera', namespace=NAMESPACE,
             parameters=camera_params, remappings=camera_remaps, output='screen'),
        Node(package='pose3d_ros', executable='lifter', name='lifter', namespace=NAMESPACE,
             parameters=lifecycle_params, remappings=lifter_remaps, output='screen'),
    ]
    if use_source:
        nodes.append(Node(package='pose3d_ros', executable='image_source', name='image_source',
                          namespace=NAMESPACE, parameters=params, output='screen'))
    return nodes


def generate_launch_description():
    share = get_package_share_directory('pose3d_ros')
    return LaunchDescription([
        DeclareLaunchArgument('params_file', default_value=os.path.join(share, 'config', 'pose3d.yaml'),
                              description='ROS 2 parameter file of the pose3d_ros nodes'),
        DeclareLaunchArgument('overlay_params_file', default_value='',
                              description='a second parameter file whose values win, e.g. config/jetson.yaml'),
        DeclareLaunchArgument('front_end', default_value='', choices=['', 'blazepose', 'drpose3d'],
                              description='the camera\'s front end: blazepose or drpose3d; empty: the '
                                          'parameter files\''),
        DeclareLaunchArgument('source', default_value='true',
                              description='start image_source (demo, video, folder or rosbag input)'),
        DeclareLaunchArgument('image_topic', default_value='/camera/image_raw',
                              description='source:=false: the camera driver\'s image topic'),
        DeclareLaunchArgument('camera_info_topic', default_value='/camera/camera_info',
                              description='source:=false: the camera driver\'s camera_info topic'),
        DeclareLaunchArgument('rviz', default_value='false', description='start RViz with config/pose3d.rviz'),
        OpaqueFunction(function=_nodes),
        Node(package='rviz2', executable='rviz2', name='rviz2', output='screen',
             arguments=['-d', os.path.join(share, 'config', 'pose3d.rviz')],
             condition=IfCondition(LaunchConfiguration('rviz'))),
    ])
