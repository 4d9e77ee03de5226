"""What the lifecycle nodes (camera, lifter) share: the backend parameters, logged transitions,
the deactivate / cleanup / shutdown / error transitions, and their executable."""
import contextlib
import ctypes
import functools
import logging
import os
import signal
import sys
import threading
import time

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.signals import SignalHandlerOptions

from pose3d_ros.inference.backends import DEFAULT_CACHE_DIR, set_process_threads
from pose3d_ros.inference.bundle import read_bundle
from pose3d_ros.nodes.parameters import declare
from pose3d_ros.nodes.rate_limit import RateLimitedWarnings

AT_CONFIGURE = ' Read at configure (cleanup + configure to change it).'
SPIN_TIMEOUT_S = 0.1  # the longest a stop signal waits for the executor between callbacks
STOP_TIMEOUT_S = 0.3  # the longest a stop waits for the callback in progress (a configure loading networks)
DEFAULT_LOG_PERIOD_S = 5.0  # seconds: each input problem is logged at most once per period
SIGNAL_POLL_S = 0.05  # how often the main thread of `spin` looks for a stop signal


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
    as is what the library logs meanwhile; the node's `transition_in_progress` names it while it
    runs."""
    @functools.wraps(transition)
    def wrapper(self, state):
        self.transition_in_progress = transition.__name__
        try:
            with library_logs_to(self.get_logger()):
                return transition(self, state)
        except Exception as error:
            self.get_logger().error(f'{transition.__name__} failed: {type(error).__name__}: {error}')
            return TransitionCallbackReturn.ERROR
        finally:
            self.transition_in_progress = None
    return wrapper


def stop_on_signals():
    """An Event that the first SIGINT or SIGTERM sets; both signals are ignored from then on, until
    the process exits.

    For processes that start rclpy with SignalHandlerOptions.NO: rclpy's own handlers shut its
    context down from the signal, while a callback or the camera's worker thread may still use it
    (`RCLError: publisher's context is invalid`); with this the loop stops, the nodes stop their
    workers, and only then does rclpy shut down. Repeats are ignored because a Ctrl-C under ros2
    launch arrives twice (the terminal signals the process group and launch forwards its own
    SIGINT): with the default handlers back after the first one, the second broke the stop
    wherever it landed (KeyboardInterrupt inside rclpy's take_message: `RuntimeError: Unable to
    convert call argument '0'`; exit codes -2 and -15 while the interpreter finalized). Ignored,
    rather than handled by Python, also through finalization, which puts Python handlers back to
    the defaults. The handler runs in the main thread: poll the Event there with is_set(), as
    Event.wait in that thread could deadlock against the handler.
    """
    stop = threading.Event()

    def handle(signum, frame):
        stop.set()
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_IGN)

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, handle)
    return stop


def _run_executor(node, executor, stop, errors):
    """The executor thread of `spin`: autostart's transitions, then callbacks until `stop` is set;
    sets `stop` itself when it ends otherwise (an exception, kept in `errors`, or rclpy shut down)."""
    try:
        if (node.autostart and not stop.is_set() and node.trigger_configure() == TransitionCallbackReturn.SUCCESS
                and not stop.is_set()):
            node.trigger_activate()
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=SPIN_TIMEOUT_S)
    except ExternalShutdownException:
        pass
    except BaseException as error:
        errors.append(error)
    finally:
        stop.set()


def spin(node_class, args=None):
    """The executable of a lifecycle node: spin it, configured and activated first with `autostart`,
    until SIGINT or SIGTERM; then the executor stops, the node stops (the camera joins its worker)
    and rclpy shuts down, within STOP_TIMEOUT_S plus a frame, and the process exits with status 0
    without the interpreter's finalization.

    The executor runs in its own thread, so that the main thread, where Python runs signal
    handlers, is free to act on a signal whatever the callbacks do. A callback still running
    STOP_TIMEOUT_S after the signal (a configure exporting or loading networks takes up to minutes)
    is not waited for: the process exits at once, with status 0, as a kill would end it (the
    caches are written atomically)."""
    stop = stop_on_signals()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node = node_class()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    errors = []
    spinner = threading.Thread(target=_run_executor, args=(node, executor, stop, errors), name='executor', daemon=True)
    spinner.start()
    while not stop.is_set():
        time.sleep(SIGNAL_POLL_S)
    spinner.join(STOP_TIMEOUT_S + SPIN_TIMEOUT_S)
    if spinner.is_alive():
        node.get_logger().warning(
            f'stopping while {node.transition_in_progress or "a callback"} runs: exiting without waiting for it')
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown()
    if errors:
        raise errors[0]
    # Stopped, shut down, nothing left to write: the interpreter's finalization (module teardown,
    # PyTorch's exit handlers; ~0.4 s where PyTorch was imported, seconds on a loaded machine)
    # would only delay the exit.
    sys.stdout.flush()
    sys.stderr.flush()
    ctypes.CDLL(None).fflush(None)  # the C streams too (rcutils' console output)
    os._exit(0)


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
        declare(self, 'log_period_s', DEFAULT_LOG_PERIOD_S,
                'Each kind of input problem (its reason, e.g. image_truncated) is logged at most once per '
                'this many seconds, with the number held back since.' + AT_CONFIGURE,
                0.0, 3600.0)
        self.autostart = declare(self, 'autostart', False,
                                 'The executable configures and activates the node at start.', read_only=True)
        self._lock = threading.RLock()
        self.transition_in_progress = None
        self._warnings = RateLimitedWarnings(self.get_logger(), DEFAULT_LOG_PERIOD_S)
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
