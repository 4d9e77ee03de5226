"""Rate-limited logging shared by the nodes."""
import time


class RateLimitedWarnings:
    """Warnings keyed by a short reason ('image_truncated', ...), not by their text: the text names
    the bad value, so a stream of malformed messages would make every line new. Each reason is
    logged at most once per period, with the number of its warnings held back since. (rclpy's
    throttle_duration_sec throttles per call site, so one reason could hide another that goes
    through the same logging line.)"""

    def __init__(self, logger, period_s):
        self.logger, self.period_s = logger, period_s
        self.last = {}  # reason -> [monotonic time logged, warnings held back since]

    def warn(self, reason, text):
        now = time.monotonic()
        entry = self.last.get(reason)
        if entry is not None and now - entry[0] < self.period_s:
            entry[1] += 1
            return
        held = f' ({entry[1]} more {reason} since the last report)' if entry and entry[1] else ''
        self.logger.warning(text + held)
        self.last[reason] = [now, 0]
