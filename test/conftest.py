"""Isolate every test session's DDS traffic: its own domain id, discovery on loopback only."""
import os
import random
import subprocess
import sys

import pytest

# Set before any rclpy context exists; subprocesses started by the tests inherit them. pytest-xdist's
# workers (tools/test) share the run's uid, so each takes its own domain after one base per run.
_WORKER = int(os.environ.get('PYTEST_XDIST_WORKER', 'gw0')[2:])
_RUN = os.environ.get('PYTEST_XDIST_TESTRUNUID') or random.SystemRandom().random()
os.environ['ROS_DOMAIN_ID'] = str(random.Random(_RUN).randint(1, 90) + _WORKER)
if 'PYTEST_XDIST_WORKER' in os.environ:  # one thread each: the workers fill the cores, not each one
    os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'


@pytest.fixture
def rclpy_init():
    """rclpy's default context, initialized for in-process nodes and shut down after the test."""
    import rclpy
    rclpy.init()
    yield
    rclpy.try_shutdown()


@pytest.fixture
def start_process():
    """Start Python subprocesses (`start_process(args...)`) that are killed after the test."""
    processes = []

    def start(*args):
        process = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate()
