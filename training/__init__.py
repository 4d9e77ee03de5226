"""Training, evaluation and export of the pose3d_ros networks."""
