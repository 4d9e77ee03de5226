import pytest

from pose3d_ros.launch_plan import node_specs

ARGUMENTS = {'params_file': '/share/config/pose3d.yaml', 'overlay_params_file': '', 'model_bundle': '', 'front_end': '',
             'source': 'true', 'image_topic': '/camera/image_raw', 'camera_info_topic': '/camera/camera_info',
             'rviz': 'false'}


def installed(*packages):
    return lambda name: name in packages


def test_rviz_without_rviz2_refuses_the_launch_before_any_node():
    with pytest.raises(ValueError, match=r'rviz:=true, but the rviz2 package is not installed, so nothing was '
                                         r'started: install it \(apt install ros-\$ROS_DISTRO-rviz2\) or launch '
                                         r'with rviz:=false'):
        node_specs({**ARGUMENTS, 'rviz': 'true'}, '/share', installed())
    specs = node_specs({**ARGUMENTS, 'rviz': 'True'}, '/share', installed('rviz2'))
    assert [spec['executable'] for spec in specs] == ['camera', 'lifter', 'image_source', 'rviz2']
    assert specs[-1]['arguments'] == ['-d', '/share/config/pose3d.rviz']
    assert [spec['executable'] for spec in node_specs(ARGUMENTS, '/share', installed())] == [
        'camera', 'lifter', 'image_source']
    with pytest.raises(ValueError, match=r"rviz:='yes': give true or false"):
        node_specs({**ARGUMENTS, 'rviz': 'yes'}, '/share', installed('rviz2'))


def test_a_camera_driver_replaces_the_source_and_the_overlay_bundle_and_front_end_come_last():
    arguments = {**ARGUMENTS, 'source': 'false', 'overlay_params_file': '/share/config/jetson.yaml',
                 'model_bundle': '/bundle', 'front_end': 'drpose3d', 'image_topic': '/cam/color'}
    camera, lifter = node_specs(arguments, '/share', installed())
    assert camera['remappings'] == [('image', '/cam/color'), ('image/compressed', '/cam/color/compressed')]
    assert lifter['remappings'] == [('camera_info', '/camera/camera_info')]
    assert camera['parameters'] == ['/share/config/pose3d.yaml', '/share/config/jetson.yaml', {'autostart': True},
                                    {'model_bundle': '/bundle'}, {'front_end': 'drpose3d'}]
    assert lifter['parameters'] == camera['parameters'][:4]
    assert {camera['namespace'], lifter['namespace']} == {'pose3d'}
