"""Declaring node parameters with descriptors (description, range, read-only)."""
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor


def declare(node, name, default, description, low=None, high=None, read_only=False):
    """Declare one parameter and return its value; numeric ones get an inclusive range."""
    descriptor = ParameterDescriptor(description=description, read_only=read_only)
    if low is not None:
        if isinstance(default, float):
            descriptor.floating_point_range = [FloatingPointRange(from_value=low, to_value=high)]
        else:
            descriptor.integer_range = [IntegerRange(from_value=low, to_value=high, step=1)]
    return node.declare_parameter(name, default, descriptor).value
