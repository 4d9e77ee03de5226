"""QoS of the nodes' image subscriptions (the camera's images, the lifter's depth images)."""
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

RELIABILITY = {'best_effort': ReliabilityPolicy.BEST_EFFORT, 'reliable': ReliabilityPolicy.RELIABLE}


def image_qos(depth, reliability):
    """Sensor-data QoS (keep last, volatile) with the given depth and reliability. Best effort
    matches any publisher, but Fast DDS loses most best-effort samples of a megabyte or more sent
    between processes: reliable suits a reliable driver."""
    if reliability not in RELIABILITY:
        raise ValueError(f'qos_reliability must be one of {sorted(RELIABILITY)}, got {reliability!r}')
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=RELIABILITY[reliability],
                      durability=DurabilityPolicy.VOLATILE)
