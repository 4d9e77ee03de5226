"""Rate-limited logging shared by the nodes."""
import time
from collections import OrderedDict


class RateLimitedWarnings:
    """Warnings keyed by their text: each distinct problem is logged at most once per period,
    with the number of repeats held back since. (rclpy's throttle_duration_sec throttles per call
    site, so one problem could hide another that goes through the same logging line.)"""

    MAX_KEYS = 256

    def __init__(self, logger, period_s):
        self.logger, self.period_s = logger, period_s
        self.last = OrderedDict()  # text -> [monotonic time logged, repeats held back]

    def warn(self, text):
        now = time.monotonic()
        entry = self.last.get(text)
        if entry is not None and now - entry[0] < self.period_s:
            entry[1] += 1
            return
        held = f' ({entry[1]} more since the last report)' if entry and entry[1] else ''
        self.logger.warning(text + held)
        self.last[text] = [now, 0]
        self.last.move_to_end(text)
        while len(self.last) > self.MAX_KEYS:
            self.last.popitem(last=False)
