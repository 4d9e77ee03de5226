"""Start the pose3d_ros graph on a ROS 2 install: `ros2 launch pose3d_ros pose3d.launch.py`.

The nodes and parameter files of the `pose3d_run` runner, in the /pose3d namespace: camera
(BlazePose, or hourglass + PRCNN with front_end:=drpose3d; every camera parameter comes from the
parameter files) -> lifter (DPNet), the camera's images from image_source (source:=true, the
built-in demo unless its parameters say otherwise) or from a camera driver's `image_topic`, and
RViz with config/pose3d.rviz (rviz:=true; without rviz2 the launch is refused before any node
starts). pose3d_ros/launch_plan.py decides which nodes start, with which parameters and remappings.
The lifecycle nodes configure and activate themselves (autostart). On a Jetson:
`overlay_params_file:=$(ros2 pkg prefix pose3d_ros)/share/pose3d_ros/config/jetson.yaml` selects the
TensorRT backend in FP16 (engines are built on the first start, minutes; README: Jetson).

    ros2 launch pose3d_ros pose3d.launch.py source:=false image_topic:=/camera/color/image_raw \
        camera_info_topic:=/camera/color/camera_info rviz:=true
"""
import os

from ament_index_python.packages import PackageNotFoundError, get_package_prefix, get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from pose3d_ros.launch_plan import node_specs

ARGUMENTS = ('params_file', 'overlay_params_file', 'model_bundle', 'front_end', 'source', 'image_topic',
             'camera_info_topic', 'rviz')


def _package_installed(name):
    try:
        get_package_prefix(name)
    except PackageNotFoundError:
        return False
    return True


def _nodes(context):
    # Every node, RViz included, is decided here before any starts (pose3d_ros.launch_plan).
    arguments = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS}
    share = get_package_share_directory('pose3d_ros')
    return [Node(**spec, output='screen') for spec in node_specs(arguments, share, _package_installed)]


def generate_launch_description():
    share = get_package_share_directory('pose3d_ros')
    return LaunchDescription([
        DeclareLaunchArgument('params_file', default_value=os.path.join(share, 'config', 'pose3d.yaml'),
                              description='ROS 2 parameter file of the pose3d_ros nodes'),
        DeclareLaunchArgument('overlay_params_file', default_value='',
                              description='a second parameter file whose values win, e.g. config/jetson.yaml'),
        DeclareLaunchArgument('model_bundle', default_value='',
                              description='camera and lifter: a pose3d_export_onnx bundle folder whose ONNX files '
                                          'run instead of the checkpoints (no PyTorch needed)'),
        DeclareLaunchArgument('front_end', default_value='', choices=['', 'blazepose', 'drpose3d'],
                              description='the camera\'s front end: blazepose or drpose3d; empty: the '
                                          'parameter files\''),
        DeclareLaunchArgument('source', default_value='true',
                              description='start image_source (demo, video, folder or rosbag input)'),
        DeclareLaunchArgument('image_topic', default_value='/camera/image_raw',
                              description='source:=false: the camera driver\'s image topic'),
        DeclareLaunchArgument('camera_info_topic', default_value='/camera/camera_info',
                              description='source:=false: the camera driver\'s camera_info topic'),
        DeclareLaunchArgument('rviz', default_value='false',
                              description='start RViz with config/pose3d.rviz (refused, starting nothing, '
                                          'without rviz2)'),
        OpaqueFunction(function=_nodes),
    ])
