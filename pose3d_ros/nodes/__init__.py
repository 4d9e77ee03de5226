"""ROS 2 nodes of pose3d_ros; each module has a main() for `ros2 run pose3d_ros <executable>`."""
