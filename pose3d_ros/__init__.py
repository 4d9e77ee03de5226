"""pose3d_ros: realtime monocular 3D human pose for ROS 2 (DRPose3D, ordinal depth supervision).

The rosidl-generated interfaces live in `pose3d_ros.msg`. On a colcon install they sit in this
same folder; in the repository's virtual environment (tools/setup) they are installed in the
venv's site-packages while this library is the editable source tree, so the package joins both
folders.
"""
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
