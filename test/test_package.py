"""The ROS package itself: package.xml, and the CMake build that colcon runs on a ROS install."""
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from catkin_pkg.package import parse_package

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)
ROS_PARAMETERS = {'use_sim_time', 'start_type_description_service'}  # every rclpy node declares them


def test_package_xml_parses_and_declares_what_the_code_uses():
    package = parse_package(ROOT / 'package.xml')
    package.validate()
    assert package.name == 'pose3d_ros' and package.package_format == 3
    assert [str(license) for license in package.licenses] == ['Apache-2.0']
    assert package.get_build_type() == 'ament_cmake'
    declared = {d.name for d in package.build_depends + package.exec_depends
                + package.buildtool_depends + package.test_depends}
    used = set()
    for source in (ROOT / 'pose3d_ros').rglob('*.py'):
        used |= set(re.findall(r'^\s*(?:from|import) (\w+_msgs|rclpy|rcl_interfaces)\b',
                               source.read_text(), re.MULTILINE))
    used.discard('rcl_interfaces')  # comes with rclpy
    assert used <= declared, f'imported but not in package.xml: {used - declared}'


def test_cmake_generates_every_message_in_msg():
    listed = set(re.findall(r'"(msg/\w+\.msg)"', (ROOT / 'CMakeLists.txt').read_text()))
    assert listed == {f'msg/{p.name}' for p in (ROOT / 'msg').glob('*.msg')}


@pytest.fixture(scope='module')
def colcon_style_install(tmp_path_factory):
    """What `colcon build` does for this ament_cmake package: a workspace src/, a fresh prefix.

    The package is copied out of the checkout because the checkout holds .venv, and CMake
    refuses to export include directories (the venv's numpy) from inside the source tree.
    """
    workspace = tmp_path_factory.mktemp('workspace')
    source, build, prefix = (workspace / name for name in ('src/pose3d_ros', 'build', 'install'))
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        '.venv', 'build', '.git', '__pycache__', '*.egg-info', '.pytest_cache'))
    env = dict(os.environ, AMENT_PREFIX_PATH=str(VENV))
    for command in (
            ['cmake', '-S', str(source), '-B', str(build), '-DBUILD_TESTING=OFF',
             f'-DCMAKE_INSTALL_PREFIX={prefix}', f'-DCMAKE_PREFIX_PATH={VENV}',
             f'-DPython3_EXECUTABLE={sys.executable}'],
            ['cmake', '--build', str(build), '-j', str(os.cpu_count())],
            ['cmake', '--install', str(build)]):
        result = subprocess.run(command, capture_output=True, text=True, env=env)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    python_dir = prefix / Path(sysconfig.get_paths()['purelib']).relative_to(VENV)
    return prefix, python_dir


def test_install_space_holds_library_interfaces_and_executables(colcon_style_install):
    prefix, python_dir = colcon_style_install
    package_dir = python_dir / 'pose3d_ros'
    assert 'extend_path' in (package_dir / '__init__.py').read_text()  # ours, not rosidl's
    assert (package_dir / 'msg' / '_skeleton3_d.py').is_file()
    assert (package_dir / 'nodes' / 'skeleton_replay.py').is_file()
    for executable in ('pose3d_run', 'skeleton_replay', 'lifter'):
        assert os.access(prefix / 'lib' / 'pose3d_ros' / executable, os.X_OK)
    for shared in ('package.xml', 'config/pose3d.yaml', 'config/jetson.yaml', 'config/pose3d.rviz',
                   'launch/pose3d.launch.py'):
        assert (prefix / 'share' / 'pose3d_ros' / shared).is_file()
    assert (prefix / 'share/ament_index/resource_index/packages/pose3d_ros').is_file()


def test_installed_runner_works_from_the_install_space(colcon_style_install, tmp_path):
    prefix, python_dir = colcon_style_install
    env = dict(os.environ, PYTHONPATH=str(python_dir),
               AMENT_PREFIX_PATH=os.pathsep.join([str(prefix), str(VENV)]))
    result = subprocess.run(
        [sys.executable, str(prefix / 'lib' / 'pose3d_ros' / 'pose3d_run'), '--input', 'replay',
         '--frames', '2', '--timeout', '60'],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=90)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count('| 1 person (skeletons by dpnet:lifter_dpnet.pt) | id 0: 16 joints') == 2


def test_launch_file_starts_the_runners_nodes_from_config_files_that_exist():
    """launch/pose3d.launch.py cannot run here (no `launch`): check what it names and the nodes
    pose3d_ros.launch_plan gives it (the source tree has the install share's config/ layout)."""
    import ast

    from pose3d_ros.inference.pipeline import FRONT_ENDS
    from pose3d_ros.launch_plan import node_specs

    source = (ROOT / 'launch' / 'pose3d.launch.py').read_text()
    tree = ast.parse(source)
    [arguments] = [node.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                   and getattr(node.targets[0], 'id', None) == 'ARGUMENTS']
    declared = {node.args[0].value: node for node in ast.walk(tree) if isinstance(node, ast.Call)
                and getattr(node.func, 'id', None) == 'DeclareLaunchArgument'}
    assert set(ast.literal_eval(arguments)) == set(declared)
    values = {name: ast.literal_eval(next(k.value for k in node.keywords if k.arg == 'default_value'))
              if name != 'params_file' else str(ROOT / 'config' / 'pose3d.yaml') for name, node in declared.items()}
    specs = node_specs({**values, 'rviz': 'true'}, str(ROOT), lambda package: True)
    ours = set(re.findall(r"^    '(\w+) = ", (ROOT / 'setup.py').read_text(), re.MULTILINE))
    assert [spec['executable'] for spec in specs] == ['camera', 'lifter', 'image_source', 'rviz2']
    assert {'camera', 'lifter', 'image_source'} <= ours
    assert Path(specs[-1]['arguments'][1]).is_file()
    for name in re.findall(r"'config', '([\w.]+)'", source):
        assert (ROOT / 'config' / name).is_file(), name
    # front_end:= offers the pipeline's front ends, and '' (the parameter files' choice).
    [front_end] = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
                   and getattr(node.func, 'id', None) == 'DeclareLaunchArgument' and node.args[0].value == 'front_end']
    choices = next(keyword.value for keyword in front_end.keywords if keyword.arg == 'choices')
    assert ast.literal_eval(choices) == ['', *FRONT_ENDS]


def test_parameter_file_lists_every_declared_parameter_with_a_comment(rclpy_init):
    """config/pose3d.yaml holds every parameter each node declares, with its default; the camera's
    front-end parameters each with a comment saying what it is."""
    import yaml

    from pose3d_ros.nodes.camera import CameraNode
    from pose3d_ros.nodes.image_source import ImageSource
    from pose3d_ros.nodes.lifter import LifterNode
    from pose3d_ros.nodes.skeleton_replay import SkeletonReplay

    text = (ROOT / 'config' / 'pose3d.yaml').read_text()
    base = yaml.safe_load(text)
    for node_class in (CameraNode, LifterNode, ImageSource, SkeletonReplay):
        node = node_class(namespace='pose3d')
        try:
            declared = {name: parameter.value for name, parameter in node._parameters.items()
                        if name not in ROS_PARAMETERS}
            listed = base[f'/pose3d/{node.get_name()}']['ros__parameters']
            assert set(listed) == set(declared), (node.get_name(), set(listed) ^ set(declared))
            assert listed == declared, node.get_name()
        finally:
            node.destroy_node()
    camera = text[text.index('/pose3d/camera:'):text.index('/pose3d/lifter:')]
    for name in ('front_end', 'landmark_model', 'max_people', 'min_detection_score', 'min_presence',
                 'redetect_interval', 'detector_turns', 'detector_tiles', 'full_image_fallback', 'joint_regressor',
                 'depth_tie_mm'):
        assert re.search(rf'^    {name}: .+ # \w', camera, re.MULTILINE), name


def test_jetson_overlay_selects_tensorrt_fp16_for_parameters_the_nodes_declare():
    import yaml

    from pose3d_ros.inference.backends import PRECISIONS

    base = yaml.safe_load((ROOT / 'config' / 'pose3d.yaml').read_text())
    overlay = yaml.safe_load((ROOT / 'config' / 'jetson.yaml').read_text())
    assert set(overlay) == {'/pose3d/camera', '/pose3d/lifter'}
    for node, section in overlay.items():
        values = section['ros__parameters']
        assert set(values) <= set(base[node]['ros__parameters']), node
        assert (values['backend'], values['precision']) == ('tensorrt', 'fp16')
        assert values['precision'] in PRECISIONS[values['backend']]


def test_rviz_config_shows_the_published_markers_and_image_in_the_optical_frame():
    import yaml

    rviz = yaml.safe_load((ROOT / 'config' / 'pose3d.rviz').read_text())['Visualization Manager']
    displays = {display['Class']: display for display in rviz['Displays']}
    markers = displays['rviz_default_plugins/MarkerArray']
    assert markers['Topic']['Value'] == '/pose3d/markers'
    # Namespaces are per person (person_<id>/...): a namespace filter would hide new people.
    assert 'Namespaces' not in markers
    assert displays['rviz_default_plugins/Image']['Topic']['Value'] == '/pose3d/image'
    base = yaml.safe_load((ROOT / 'config' / 'pose3d.yaml').read_text())
    assert rviz['Global Options']['Fixed Frame'] == base['/pose3d/image_source']['ros__parameters']['frame_id']
