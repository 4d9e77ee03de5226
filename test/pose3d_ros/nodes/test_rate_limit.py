"""pose3d_ros.nodes.rate_limit: warnings keyed by reason, not by their text."""
from pose3d_ros.nodes import rate_limit
from pose3d_ros.nodes.rate_limit import RateLimitedWarnings


class Logger:
    def __init__(self):
        self.lines = []

    def warning(self, text):
        self.lines.append(text)


def test_one_line_per_reason_and_period_with_the_count_held_back(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(rate_limit.time, 'monotonic', lambda: now[0])
    logger = Logger()
    warnings = RateLimitedWarnings(logger, period_s=5.0)
    # Texts that differ by their bad values are one reason: one line, not one per value.
    for width in range(1000):
        warnings.warn('image_too_large', f'Image claims {width}x99999 pixels')
    warnings.warn('negative_stamp', 'header.stamp.sec is -1')  # another reason is not hidden
    assert logger.lines == ['Image claims 0x99999 pixels', 'header.stamp.sec is -1']
    now[0] += 4.9
    warnings.warn('image_too_large', 'Image claims 5x99999 pixels')
    assert len(logger.lines) == 2
    now[0] += 0.1  # a period after the first line
    warnings.warn('image_too_large', 'Image claims 7x99999 pixels')
    assert logger.lines[2] == 'Image claims 7x99999 pixels (1000 more image_too_large since the last report)'
    now[0] += 5.0
    warnings.warn('image_too_large', 'Image claims 8x99999 pixels')
    assert logger.lines[3] == 'Image claims 8x99999 pixels'  # nothing held back meanwhile


def test_a_zero_period_logs_everything():
    logger = Logger()
    warnings = RateLimitedWarnings(logger, period_s=0.0)
    for index in range(3):
        warnings.warn('image_decode', f'corrupt {index}')
    assert logger.lines == ['corrupt 0', 'corrupt 1', 'corrupt 2']
