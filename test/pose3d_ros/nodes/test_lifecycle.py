import logging

from pose3d_ros.nodes.lifecycle import library_logs_to


class RosLogger:
    def __init__(self):
        self.lines = []

    def __getattr__(self, level):
        return lambda text: self.lines.append((level, text))


def test_library_logs_reach_the_node_logger_only_while_inside(capsys):
    ros = RosLogger()
    engines = logging.getLogger('pose3d_ros.engines')
    with library_logs_to(ros):
        engines.warning('%s is damaged; building', 'prcnn.fp16.engine')
        engines.info('built')
        logging.getLogger('somebody.else').warning('not ours')
    engines.warning('after')
    assert ros.lines == [('warning', 'pose3d_ros.engines: prcnn.fp16.engine is damaged; building'),
                         ('info', 'pose3d_ros.engines: built')]
    assert 'damaged' not in capsys.readouterr().err  # not also printed raw
