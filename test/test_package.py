"""The ROS package itself: package.xml and the Python requirements of a ROS install, and the
`colcon build` that a ROS 2 user runs."""
import ast
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
from catkin_pkg.package import parse_package

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)
ROS_PARAMETERS = {'use_sim_time', 'start_type_description_service'}  # every rclpy node declares them
# Top-level modules that package.xml declares under another name: their rosdep keys.
ROSDEP_KEYS = {'numpy': 'python3-numpy', 'yaml': 'python3-yaml', 'cv2': 'python3-opencv',
               'onnxruntime': 'python3-onnxruntime-pip', 'matplotlib': 'python3-matplotlib',
               'tqdm': 'python3-tqdm'}
# Modules that neither package.xml nor requirements-ros.txt brings, and why.
INSTALLED_APART = {
    'tensorrt': 'the tensorrt backend only; TensorRT comes with JetPack (python3-libnvinfer)',
    'cuda': "the tensorrt backend only; NVIDIA's CUDA runtime bindings of the device's CUDA version "
            '(pip install cuda-python; README, Jetson)',
    'h5py': 'pose3d_ros.camera.load_cameras reads Human3.6M cameras.h5 for training/ only',
}
# The pose3d_ros executables of setup.py: {name: module}.
EXECUTABLES = dict(re.findall(r"^    '(\w+) = (pose3d_ros[\w.]*):\w+',$", (ROOT / 'setup.py').read_text(),
                              re.MULTILINE))


def third_party_imports():
    """{top-level module: the first file that imports it} over pose3d_ros/ and launch/, without the
    standard library and pose3d_ros itself."""
    found = {}
    for source in sorted([*(ROOT / 'pose3d_ros').rglob('*.py'), *(ROOT / 'launch').glob('*.py')]):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for top in {name.split('.')[0] for name in names} - set(sys.stdlib_module_names) - {'pose3d_ros'}:
                found.setdefault(top, source.relative_to(ROOT))
    return found


def requirement_names(path):
    """The lower-case distribution names a pip requirements file lists, those of its -r files too."""
    names = set()
    for line in path.read_text().splitlines():
        line = line.split('#')[0].strip()
        if line.startswith('-r '):
            names |= requirement_names(path.parent / line[3:].strip())
        elif line:
            names.add(re.match(r'[\w.-]+', line).group().lower())
    return names


def test_package_xml_parses_and_declares_what_the_code_uses():
    package = parse_package(ROOT / 'package.xml')
    package.validate()
    assert package.name == 'pose3d_ros' and package.package_format == 3
    assert [str(license) for license in package.licenses] == ['Apache-2.0']
    assert package.get_build_type() == 'ament_cmake'
    declared = {d.name for d in package.build_depends + package.exec_depends
                + package.buildtool_depends + package.test_depends}
    from_pip = requirement_names(ROOT / 'requirements-ros.txt')
    missing = [f'{module} (imported by {source})' for module, source in third_party_imports().items()
               if ROSDEP_KEYS.get(module, module) not in declared and module not in from_pip
               and module not in INSTALLED_APART]
    assert not missing, f'neither in package.xml nor in requirements-ros.txt: {missing}'


def test_ros_requirements_are_the_venvs_pinned_packages_without_ros_wheels_or_torch_for_bundles():
    """What pip installs on a ROS machine is what the tests here run with (requirements.txt pins
    it); the ROS install brings ROS, and a robot running a model bundle needs no PyTorch."""
    ros = requirement_names(ROOT / 'requirements-ros.txt')
    bundle = requirement_names(ROOT / 'requirements-ros-bundle.txt')
    assert bundle < ros
    assert not {name for name in ros if name.startswith('ros-')}
    assert not {'torch', 'onnx', 'tflite'} & bundle
    assert ros <= requirement_names(ROOT / 'requirements.txt'), ros - requirement_names(ROOT / 'requirements.txt')


def test_cmake_generates_every_message_in_msg():
    listed = set(re.findall(r'"(msg/\w+\.msg)"', (ROOT / 'CMakeLists.txt').read_text()))
    assert listed == {f'msg/{p.name}' for p in (ROOT / 'msg').glob('*.msg')}


@pytest.fixture(scope='module')
def colcon_install(tmp_path_factory):
    """`colcon build` in a scratch workspace, as a ROS 2 user runs it, here in a shell with the
    venv (the Kilted wheels) activated: (the package's install prefix, the environment that
    `source install/setup.bash` gives).

    The package is copied out of the checkout because the checkout holds .venv, and CMake
    refuses to export include directories (the venv's numpy) from inside the source tree.
    """
    workspace = tmp_path_factory.mktemp('workspace')
    shutil.copytree(ROOT, workspace / 'src' / 'pose3d_ros', ignore=shutil.ignore_patterns(
        '.venv', 'build', '.git', '__pycache__', '*.egg-info', '.pytest_cache'))
    shell = dict(os.environ, VIRTUAL_ENV=str(VENV), AMENT_PREFIX_PATH=str(VENV),
                 PATH=os.pathsep.join([str(VENV / 'bin'), os.environ['PATH']]))
    build = subprocess.run(
        ['colcon', '--log-base', 'log', 'build', '--base-paths', 'src', '--build-base', 'build',
         '--install-base', 'install', '--event-handlers', 'console_direct+', '--cmake-args', '-DBUILD_TESTING=OFF'],
        capture_output=True, text=True, env=shell, cwd=workspace)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    sourced = subprocess.run(['bash', '-c', 'source install/setup.bash && env -0'], capture_output=True,
                             text=True, env=shell, cwd=workspace, check=True)
    environment = dict(entry.split('=', 1) for entry in sourced.stdout.split('\0') if entry)
    return workspace / 'install' / 'pose3d_ros', environment


def test_install_space_holds_library_interfaces_weights_and_executables(colcon_install):
    prefix, _ = colcon_install
    package_dir = prefix / Path(sysconfig.get_paths()['purelib']).relative_to(VENV) / 'pose3d_ros'
    assert 'extend_path' in (package_dir / '__init__.py').read_text()  # ours, not rosidl's
    assert (package_dir / 'msg' / '_skeleton3_d.py').is_file()
    assert (package_dir / 'nodes' / 'skeleton_replay.py').is_file()
    assert {'camera', 'lifter', 'image_source', 'skeleton_replay', 'pose3d_run'} <= set(EXECUTABLES)
    weights = {path.name for path in (ROOT / 'pose3d_ros' / 'weights').iterdir() if path.is_file()}
    assert weights and weights <= {path.name for path in (package_dir / 'weights').iterdir()}
    for executable in EXECUTABLES:
        launcher = prefix / 'lib' / 'pose3d_ros' / executable
        assert os.access(launcher, os.X_OK), launcher
        # the interpreter the build found, which has the dependencies (not `env python3`)
        assert Path(launcher.read_text().splitlines()[0][2:]).parent == VENV / 'bin', launcher
    for shared in ('package.xml', 'config/pose3d.yaml', 'config/jetson.yaml', 'config/pose3d.rviz',
                   'launch/pose3d.launch.py'):
        assert (prefix / 'share' / 'pose3d_ros' / shared).is_file()
    assert (prefix / 'share/ament_index/resource_index/packages/pose3d_ros').is_file()


def test_installed_executables_start_and_messages_import_from_the_install_space(colcon_install, rclpy_init, tmp_path):
    """`ros2 run pose3d_ros <executable>` after `source install/setup.bash`: every node joins the
    graph and exits cleanly on Ctrl-C; every command prints its usage."""
    import rclpy

    prefix, environment = colcon_install
    nodes = {name for name, module in EXECUTABLES.items() if module.startswith('pose3d_ros.nodes.')}
    started = {name: subprocess.Popen([prefix / 'lib' / 'pose3d_ros' / name, *([] if name in nodes else ['--help'])],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
               for name in EXECUTABLES}
    messages = subprocess.run(
        [sys.executable, '-c', 'import pose3d_ros.nodes.lifter, rclpy.serialization; '
         'from pose3d_ros.msg import Skeleton3DArray; '
         'rclpy.serialization.serialize_message(Skeleton3DArray()); '
         'print(pose3d_ros.msg.__file__, pose3d_ros.nodes.lifter.__file__)'],
        capture_output=True, text=True, env=environment, cwd=tmp_path)  # not the checkout's pose3d_ros
    assert messages.returncode == 0, messages.stderr[-3000:]
    assert all(Path(file).is_relative_to(prefix) for file in messages.stdout.split()), messages.stdout
    probe = rclpy.create_node('install_space_probe')
    try:
        deadline = time.monotonic() + 60
        seen = set()
        while not nodes <= seen and time.monotonic() < deadline:
            rclpy.spin_once(probe, timeout_sec=0.2)
            seen = {name for name, _ in probe.get_node_names_and_namespaces()}
    finally:
        for name in nodes:
            started[name].send_signal(signal.SIGINT)
        probe.destroy_node()
    results = {name: process.communicate(timeout=60) for name, process in started.items()}
    assert nodes <= seen, f'nodes not in the graph: {nodes - seen}; stderr: {[results[n][1][-1000:] for n in nodes - seen]}'
    for name, (stdout, stderr) in results.items():
        assert started[name].returncode == 0, (name, stderr[-3000:])
        assert 'Traceback' not in stderr, (name, stderr[-3000:])
        if name not in nodes:
            assert stdout.startswith(f'usage: {name}'), (name, stdout[:300])


def test_installed_runner_works_from_the_install_space(colcon_install, tmp_path):
    prefix, environment = colcon_install
    result = subprocess.run(
        [prefix / 'lib' / 'pose3d_ros' / 'pose3d_run', '--input', 'replay', '--frames', '2', '--timeout', '60'],
        capture_output=True, text=True, env=environment, cwd=tmp_path, timeout=90)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count('| 1 person (skeletons by dpnet:lifter_dpnet_video_noise.pt) | id 0: 16 joints') == 2


def test_launch_file_starts_the_runners_nodes_from_config_files_that_exist():
    """launch/pose3d.launch.py cannot run here (no `launch`): check what it names and the nodes
    pose3d_ros.launch_plan gives it (the source tree has the install share's config/ layout)."""
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
