"""Resident memory of the camera and lifter nodes at steady state, and whether PyTorch is in them.

    PYTHONPATH=. .venv/bin/python bench/node_memory.py [--seconds 30] [--cache-dir ~/.cache/pose3d_ros] \
        [--model-bundle DIR]

The nodes run the pose3d_ros that `python -c` imports in the current folder: run it from the
checkout to measure (another commit: from its worktree, with this script's path).

Starts image_source (the demo walker, 10 Hz), camera and lifter as separate processes, as the launch
file does (config/pose3d.yaml: the BlazePose front end and DPNet on ONNX Runtime; autostart), in a
private ROS domain on localhost, and counts the skeletons published. After --seconds, with
skeletons flowing (every network loaded and run), it reads each node's VmRSS and VmHWM from /proc
and whether a PyTorch library is mapped, then stops the nodes with SIGINT and reports their exit
codes. The ONNX exports come from --cache-dir (made there first if missing, with PyTorch).
"""
import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODES = ('image_source', 'camera', 'lifter')


def memory(pid):
    """{'VmRSS': MiB, 'VmHWM': MiB} and whether libtorch is mapped, from /proc."""
    status = Path(f'/proc/{pid}/status').read_text().splitlines()
    values = {line.split(':')[0]: int(line.split()[1]) / 1024 for line in status
              if line.startswith(('VmRSS', 'VmHWM'))}
    torch = any('libtorch' in line for line in Path(f'/proc/{pid}/maps').read_text().splitlines())
    return values, torch


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--seconds', type=float, default=30.0, help='run this long before measuring')
    parser.add_argument('--cache-dir', default='~/.cache/pose3d_ros')
    parser.add_argument('--model-bundle', default='', help='camera and lifter run this bundle')
    args = parser.parse_args(argv)
    os.environ.update(ROS_DOMAIN_ID=str(random.randint(1, 101)), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')

    import rclpy
    from pose3d_ros.msg import Skeleton3DArray

    rclpy.init()
    probe = rclpy.create_node('node_memory_probe')
    skeletons = []
    probe.create_subscription(Skeleton3DArray, '/pose3d/skeleton', skeletons.append, 10)
    processes, logs = {}, {name: tempfile.TemporaryFile('w+') for name in NODES}
    for name in NODES:
        parameters = ['--params-file', str(ROOT / 'config' / 'pose3d.yaml')]
        if name != 'image_source':
            parameters += ['-p', 'autostart:=true', '-p', f'cache_dir:={Path(args.cache_dir).expanduser()}']
            parameters += ['-p', f'model_bundle:={args.model_bundle}'] if args.model_bundle else []
        processes[name] = subprocess.Popen(
            [sys.executable, '-c', f'from pose3d_ros.nodes.{name} import main; main()', '--ros-args',
             '-r', '__ns:=/pose3d', *parameters], stdout=logs[name], stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            rclpy.spin_once(probe, timeout_sec=0.1)
        before = len(skeletons)
        for _ in range(20):  # still flowing at the moment of measuring
            rclpy.spin_once(probe, timeout_sec=0.1)
        print(f'{len(skeletons)} skeletons in {args.seconds:.0f} s, {len(skeletons) - before} in the last 2 s')
        for name in ('camera', 'lifter'):
            if processes[name].poll() is not None:
                print(f'{name} exited ({processes[name].returncode}) before the measurement')
                continue
            values, torch = memory(processes[name].pid)
            print(f'{name}: VmRSS {values["VmRSS"]:.0f} MiB, VmHWM {values["VmHWM"]:.0f} MiB, '
                  f'PyTorch {"loaded" if torch else "not loaded"}')
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGINT)
        for name, process in processes.items():
            try:
                returncode = process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                returncode = 'killed after 20 s'
            logs[name].seek(0)
            output = logs[name].read()
            print(f'{name} exit code {returncode}' + (f'; log: {output[-1500:]}' if returncode else ''))
        probe.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
