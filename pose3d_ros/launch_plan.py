"""What launch/pose3d.launch.py starts, decided here as plain data: the `launch` packages exist only
on a ROS install, and this is what can be tested without one.

`node_specs` turns the launch arguments into the nodes to start, in order, each as the keyword
arguments of launch_ros.actions.Node. Everything that can refuse the launch (a flag that is not
true or false, rviz:=true without rviz2) is checked before any node is returned, so a refused
launch starts nothing (RViz used to be resolved after the other nodes had started, and its
failure left them running).
"""
import os

NAMESPACE = 'pose3d'


def launch_flag(name, value):
    """A true/false launch argument (any case) -> bool; ValueError naming it otherwise."""
    if value.lower() not in ('true', 'false'):
        raise ValueError(f'{name}:={value!r}: give true or false')
    return value.lower() == 'true'


def node_specs(arguments, share, package_installed):
    """The nodes to start from the launch arguments ({name: value as text}: params_file,
    overlay_params_file, model_bundle, front_end, source, image_topic, camera_info_topic, rviz),
    the package's share folder and package_installed(name) -> bool (the ament index's answer)."""
    use_source, rviz = launch_flag('source', arguments['source']), launch_flag('rviz', arguments['rviz'])
    if rviz and not package_installed('rviz2'):
        raise ValueError('rviz:=true, but the rviz2 package is not installed, so nothing was started: install it '
                         '(apt install ros-$ROS_DISTRO-rviz2) or launch with rviz:=false')
    params = [arguments['params_file']]
    if arguments['overlay_params_file']:
        params.append(arguments['overlay_params_file'])
    lifecycle_params = params + [{'autostart': True}]
    if arguments['model_bundle']:
        lifecycle_params.append({'model_bundle': arguments['model_bundle']})
    image_topic = arguments['image_topic']
    # Without the source, the driver's topics (image_transport's names for raw and compressed).
    camera_remaps = [] if use_source else [('image', image_topic), ('image/compressed', f'{image_topic}/compressed')]
    lifter_remaps = [] if use_source else [('camera_info', arguments['camera_info_topic'])]
    front_end = arguments['front_end']
    camera_params = lifecycle_params + ([{'front_end': front_end}] if front_end else [])
    specs = [
        dict(package='pose3d_ros', executable='camera', name='camera', namespace=NAMESPACE,
             parameters=camera_params, remappings=camera_remaps),
        dict(package='pose3d_ros', executable='lifter', name='lifter', namespace=NAMESPACE,
             parameters=lifecycle_params, remappings=lifter_remaps),
    ]
    if use_source:
        specs.append(dict(package='pose3d_ros', executable='image_source', name='image_source', namespace=NAMESPACE,
                          parameters=params))
    if rviz:
        specs.append(dict(package='rviz2', executable='rviz2', name='rviz2',
                          arguments=['-d', os.path.join(share, 'config', 'pose3d.rviz')]))
    return specs
