"""What the lifecycle nodes (camera, lifter) share: the backend parameters, logged transitions,
the deactivate / cleanup / shutdown / error transitions, and their executable."""
import contextlib
import functools
import logging
import signal
import threading

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.signals import SignalHandlerOptions

from pose3d_ros.inference.backends import DEFAULT_CACHE_DIR, set_process_threads
from pose3d_ros.inference.bundle import read_bundle
from pose3d_ros.nodes.parameters import declare
from pose3d_ros.nodes.rate_limit import RateLimitedWarnings

AT_CONFIGURE = ' Read at configure (cleanup + configure to change it).'
SPIN_TIMEOUT_S = 0.1  # the longest a stop signal waits for the executor


class RosLogHandler(logging.Handler):
    """Python logging records passed to a node's ROS logger (so they reach /rosout)."""

    def __init__(self, ros_logger):
        super().__init__(logging.INFO)
        self.ros_logger = ros_logger

    def emit(self, record):
        text = f'{record.name}: {record.getMessage()}'
        # One call site per severity: rclpy refuses a call site whose severity changes.
        if record.levelno >= logging.ERROR:
            self.ros_logger.error(text)
        elif record.levelno >= logging.WARNING:
            self.ros_logger.warning(text)
        else:
            self.ros_logger.info(text)


@contextlib.contextmanager
def library_logs_to(ros_logger):
    """While inside: what the library logs under 'pose3d_ros' (an ONNX export made again because
    the cached one was damaged, a TensorRT engine rebuilt) goes to `ros_logger`, not to stderr."""
    library, handler = logging.getLogger('pose3d_ros'), RosLogHandler(ros_logger)
    level, propagate = library.level, library.propagate
    library.addHandler(handler)
    library.setLevel(logging.INFO)
    library.propagate = False
    try:
        yield
    finally:
        library.removeHandler(handler)
        library.setLevel(level)
        library.propagate = propagate


def logged_transition(transition):
    """A transition callback whose exceptions are logged (rclpy turns them into ERROR silently),
    as is what the library logs meanwhile."""
    @functools.wraps(transition)
    def wrapper(self, state):
        try:
            with library_logs_to(self.get_logger()):
                return transition(self, state)
        except Exception as error:
            self.get_logger().error(f'{transition.__name__} failed: {type(error).__name__}: {error}')
            return TransitionCallbackReturn.ERROR
    return wrapper


@contextlib.contextmanager
def stop_on_signals():
    """An Event that the first SIGINT or SIGTERM sets; those signals then get their default
    handlers back, so a second Ctrl-C interrupts at once.

    For processes that start rclpy with SignalHandlerOptions.NO: rclpy's own handlers shut its
    context down from the signal, while the camera's worker thread may be publishing (`RCLError:
    publisher's context is invalid`); with this the loop stops, the nodes stop their workers, and
    only then does rclpy shut down. Spin with a timeout: Python runs the handler between waits.
    """
    stop = threading.Event()
    defaults = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}

    def handle(signum, frame):
        stop.set()
        for number, default in defaults.items():
            signal.signal(number, default)

    previous = {number: signal.signal(number, handle) for number in defaults}
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def spin(node_class, args=None):
    """The executable of a lifecycle node: spin it, configured and activated first with `autostart`,
    until SIGINT or SIGTERM; then the node stops (the camera joins its worker) and rclpy shuts down."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    with stop_on_signals() as stop:
        node = node_class()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        try:
            if node.autostart and node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                node.trigger_activate()
            while not stop.is_set() and rclpy.ok():
                executor.spin_once(timeout_sec=SPIN_TIMEOUT_S)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        finally:
            executor.shutdown()
            node.destroy_node()
            rclpy.try_shutdown()


class InferenceNode(LifecycleNode):
    """A lifecycle node that runs networks through a backend (pose3d_ros.inference.backends).

    Declares the backend parameters (read by the subclass's on_configure) and `log_period_s`
    and `autostart`. Subclasses create their lifecycle publishers in on_configure into
    `_publishers_out` and define `_stop()` (leave the active state: subscriptions, timers,
    workers) and `_release_network()`; transitions hold `_lock`.
    """

    def __init__(self, name, **node_options):
        super().__init__(name, **node_options)
        declare(self, 'backend', 'onnxruntime', 'Inference backend: onnxruntime, pytorch or tensorrt.' + AT_CONFIGURE)
        declare(self, 'precision', 'fp32', 'fp32; fp16 (pytorch, tensorrt); int8 (tensorrt).' + AT_CONFIGURE)
        declare(self, 'device', 'cpu', 'Device of the pytorch backend: cpu or cuda[:N].' + AT_CONFIGURE)
        declare(self, 'threads', 1, 'Intra-op threads of ONNX Runtime, and of PyTorch on CPU (for the '
                'whole process); 0: the runtime\'s default.' + AT_CONFIGURE, 0, 256)
        declare(self, 'cache_dir', str(DEFAULT_CACHE_DIR),
                'Folder of the ONNX exports and TensorRT engines made from checkpoints.' + AT_CONFIGURE)
        declare(self, 'model_bundle', '',
                'Folder of a model bundle (pose3d_export_onnx: ONNX files and manifest.json, each file\'s '
                'sha256 checked) whose networks run instead of the checkpoints, with the onnxruntime or '
                'tensorrt backend and no PyTorch; empty: the checkpoints.' + AT_CONFIGURE)
        declare(self, 'log_period_s', 5.0,
                'Each kind of input problem (its reason, e.g. image_truncated) is logged at most once per '
                'this many seconds, with the number held back since.' + AT_CONFIGURE,
                0.0, 3600.0)
        self.autostart = declare(self, 'autostart', False,
                                 'The executable configures and activates the node at start.', read_only=True)
        self._lock = threading.RLock()
        self._warnings = RateLimitedWarnings(self.get_logger(), 5.0)
        self._publishers_out = []

    def _param(self, name):
        return self.get_parameter(name).value

    def _model_bundle(self):
        """The Bundle `model_bundle` names, or None; ValueError naming the file and field."""
        folder = self._param('model_bundle')
        return read_bundle(folder) if folder else None

    def _backend_threads(self):
        """`threads` for the backend (None: the runtime's default); the pytorch backend gets them
        process-wide."""
        threads = self._param('threads') or None
        set_process_threads(self._param('backend'), threads, self._param('device'))
        return threads

    @logged_transition
    def on_deactivate(self, state):
        with self._lock:
            self._stop()
            return super().on_deactivate(state)

    def _release(self):
        for publisher in self._publishers_out:
            self.destroy_lifecycle_publisher(publisher)
        self._publishers_out = []
        self._release_network()

    @logged_transition
    def on_cleanup(self, state):
        with self._lock:
            self._release()
            return super().on_cleanup(state)

    @logged_transition
    def on_shutdown(self, state):
        with self._lock:
            self._stop()
            self._release()
            return TransitionCallbackReturn.SUCCESS

    def on_error(self, state):
        self.get_logger().error(f'error processing in state {state.label}: releasing everything')
        return self.on_shutdown(state)
