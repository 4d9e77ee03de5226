"""pip / editable install of the pose3d_ros library, its training code and its executables.

The rosidl interfaces in msg/ are built by CMakeLists.txt (colcon, or tools/setup without a ROS
install); CMakeLists.txt also reads CONSOLE_SCRIPTS below to install the same pose3d_ros
executables for `ros2 run` (training commands run from a checkout set up by tools/setup).
"""
from setuptools import find_packages, setup

CONSOLE_SCRIPTS = [
    'pose3d_run = pose3d_ros.run:main',
    'pose3d_infer = pose3d_ros.infer:main',
    'skeleton_replay = pose3d_ros.nodes.skeleton_replay:main',
    'lifter = pose3d_ros.nodes.lifter:main',
    'camera = pose3d_ros.nodes.camera:main',
    'image_source = pose3d_ros.nodes.image_source:main',
    'pose3d_h36m_stats = training.h36m_stats:main',
    'pose3d_train_lifter = training.train_lifter:main',
    'pose3d_eval_lifter = training.evaluate_lifter:main',
    'pose3d_export_weights = training.export_weights:main',
    'pose3d_plot_lifter = training.plot_lifter:main',
    'pose3d_train_image_model = training.train_image_model:main',
    'pose3d_eval_image_models = training.evaluate_image_models:main',
    'pose3d_export_onnx = training.export_onnx:main',
    'pose3d_render_samples = training.datasets.renders:main',
    'pose3d_build_engines = pose3d_ros.inference.build_engines:main',
    'pose3d_fetch_blazepose = pose3d_ros.models.blazepose_release:main',
    'pose3d_fit_joint_regressor = training.fit_joint_regressor:main',
    'pose3d_fit_front_end_noise = training.fit_front_end_noise:main',
    'pose3d_fit_detector_framing = training.fit_detector_framing:main',
    'pose3d_eval_2d = training.evaluate_2d:main',
    'pose3d_eval_real_3d = training.evaluate_real_3d:main',
]

setup(
    name='pose3d_ros',
    version='0.1.0',
    description='Realtime monocular 3D human pose (DRPose3D, ordinal depth) for ROS 2',
    license='Apache-2.0',
    python_requires='>=3.10',
    packages=find_packages(include=('pose3d_ros', 'pose3d_ros.*', 'training', 'training.*')),
    package_data={'pose3d_ros': ['weights/*.pt', 'weights/*.json', 'weights/*.md', 'weights/SHA256SUMS']},
    install_requires=['numpy', 'pyyaml'],
    entry_points={'console_scripts': CONSOLE_SCRIPTS},
)
