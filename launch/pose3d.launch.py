"""Start the pose3d_ros graph on a ROS 2 install: `ros2 launch pose3d_ros pose3d.launch.py`.

Nodes and parameters are those of the `pose3d_run` runner (config/pose3d.yaml), in the /pose3d
namespace.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    default_params = os.path.join(
        get_package_share_directory('pose3d_ros'), 'config', 'pose3d.yaml')
    params_file = LaunchConfiguration('params_file')
    return LaunchDescription([
        DeclareLaunchArgument('params_file', default_value=default_params,
                              description='ROS 2 parameter file for the pose3d_ros nodes'),
        Node(package='pose3d_ros', executable='skeleton_replay', name='skeleton_replay',
             namespace='pose3d', parameters=[params_file], output='screen'),
    ])
