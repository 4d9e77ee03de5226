"""A node in the test process that drives a lifecycle node running in another process over DDS:
its lifecycle and parameter services, and what it reports on /diagnostics and /rosout."""
import contextlib
import subprocess
import sys
import time
from pathlib import Path

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.msg import Log
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_rosout_default
from rclpy.time import Time

NS = '/pose3d'
BIN = Path(sys.executable).parent
TRANSITIONS = {'configure': Transition.TRANSITION_CONFIGURE, 'activate': Transition.TRANSITION_ACTIVATE,
               'deactivate': Transition.TRANSITION_DEACTIVATE, 'cleanup': Transition.TRANSITION_CLEANUP}
# Path through the lifecycle from each primary state to 'active'.
TO_ACTIVE = {'unconfigured': ['configure', 'activate'], 'inactive': ['activate'], 'active': []}
# The primary state each transition ends in when it succeeds.
TARGET = {'configure': 'inactive', 'activate': 'active', 'deactivate': 'inactive', 'cleanup': 'unconfigured'}
SPIN_PERIOD_S = 0.02


def call_service(node, client, request, timeout_s=30.0, resend_after_s=5.0):
    """The response to an idempotent request, re-sent every `resend_after_s`: a response can be
    lost after wait_for_service says the server is there, while the server's response writer has
    not yet matched our reader (a DDS discovery race, ros2/rmw_fastrtps#842; seen in CI as a
    lifter whose first get_state never answered)."""
    assert client.wait_for_service(timeout_sec=timeout_s), f'{client.srv_name} not available'
    deadline = time.monotonic() + timeout_s
    while True:
        future = client.call_async(request)
        resend_at = min(deadline, time.monotonic() + resend_after_s)
        while not future.done() and time.monotonic() < resend_at:
            rclpy.spin_once(node, timeout_sec=SPIN_PERIOD_S)
        if future.done():
            return future.result()
        client.remove_pending_request(future)
        assert time.monotonic() < deadline, f'timed out after {timeout_s} s waiting for {client.srv_name}'


def stamp_ns(msg):
    return Time.from_msg(msg.header.stamp).nanoseconds


class LifecycleProbe:
    """Clients of the node `NS/<node_name>`; its diagnostics status `diagnostic_name` and its
    /rosout lines are collected in `diagnostics` and `logs`."""

    def __init__(self, probe_name, node_name, diagnostic_name, spin_period_s=SPIN_PERIOD_S):
        self.node = rclpy.create_node(probe_name)
        self.spin_period_s = spin_period_s
        self.diagnostics, self.logs = [], []
        logger_name = f'{NS[1:]}.{node_name}'
        self.node.create_subscription(DiagnosticArray, '/diagnostics', lambda m: self.diagnostics.extend(
            s for s in m.status if s.name == diagnostic_name), 50)
        self.node.create_subscription(Log, '/rosout', lambda m: self.logs.append(m.msg) if m.name == logger_name
                                      else None, qos_profile_rosout_default)
        self.change_state = self.node.create_client(ChangeState, f'{NS}/{node_name}/change_state')
        self.get_state = self.node.create_client(GetState, f'{NS}/{node_name}/get_state')
        self.set_parameters = self.node.create_client(SetParameters, f'{NS}/{node_name}/set_parameters')

    def spin_until(self, predicate, timeout_s, what):
        deadline = time.monotonic() + timeout_s
        while not predicate():
            assert time.monotonic() < deadline, f'timed out after {timeout_s} s waiting for {what}'
            rclpy.spin_once(self.node, timeout_sec=self.spin_period_s)

    def spin_for(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=self.spin_period_s)

    def call(self, client, request, timeout_s=30.0):
        """For idempotent requests only: they may be sent more than once."""
        return call_service(self.node, client, request, timeout_s)

    def state(self):
        return self.call(self.get_state, GetState.Request()).current_state.label

    def transition(self, label, timeout_s=30.0):
        """Whether the transition succeeded. Sent once (a second configure would fail); if its
        response is lost (see call_service), the state the node is in answers instead."""
        request = ChangeState.Request()
        request.transition.id = TRANSITIONS[label]
        assert self.change_state.wait_for_service(timeout_sec=timeout_s), 'change_state not available'
        future = self.change_state.call_async(request)
        deadline = time.monotonic() + timeout_s
        while not future.done() and time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=self.spin_period_s)
        if future.done():
            return future.result().success
        self.change_state.remove_pending_request(future)
        return self.state() == TARGET[label]

    def set_parameters_(self, **values):
        result = self.call(self.set_parameters, SetParameters.Request(
            parameters=[Parameter(name, value=value).to_parameter_msg() for name, value in values.items()]))
        assert all(r.successful for r in result.results), [r.reason for r in result.results]

    def to_unconfigured(self):
        """From whatever state a previous test left, through deactivate and cleanup as needed."""
        for label in {'active': ['deactivate', 'cleanup'], 'inactive': ['cleanup'], 'unconfigured': []}[self.state()]:
            assert self.transition(label), label

    def to_active(self):
        for label in TO_ACTIVE[self.state()]:
            assert self.transition(label), label

    def logged(self, text):
        return any(text in line for line in self.logs)

    def next_diagnostics(self):
        seen = len(self.diagnostics)
        self.spin_until(lambda: len(self.diagnostics) > seen, 5.0, 'diagnostics')
        return {kv.key: kv.value for kv in self.diagnostics[-1].values}


@contextlib.contextmanager
def node_process(executable, make_probe, log_path, *parameters, state='unconfigured'):
    """Start a node executable in NS with `-p` parameters ('name:=value'), and yield the probe
    (made after rclpy.init; its `process` is the node's Popen) once the node reports `state`;
    afterwards kill it and check that its output holds no traceback."""
    rclpy.init()
    arguments = [str(BIN / executable), '--ros-args', '-r', f'__ns:={NS}']
    for parameter in parameters:
        arguments += ['-p', parameter]
    with open(log_path, 'w') as log:
        process = subprocess.Popen(arguments, stdout=log, stderr=subprocess.STDOUT)
    probe = make_probe()
    probe.process = process
    try:
        assert probe.state() == state
        yield probe
    finally:
        probe.node.destroy_node()
        rclpy.try_shutdown()
        process.kill()
        process.wait()
        output = Path(log_path).read_text()
        assert 'Traceback' not in output, output
