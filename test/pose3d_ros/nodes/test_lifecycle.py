import logging

import rclpy

from pose3d_ros.nodes.lifecycle import library_logs_to


def test_library_logs_reach_the_node_logger_only_while_inside(capfd):
    rclpy.init()
    try:
        node = rclpy.create_node('library_logs')
        engines = logging.getLogger('pose3d_ros.engines')
        with library_logs_to(node.get_logger()):
            engines.warning('%s is damaged; building', 'prcnn.fp16.engine')
            engines.info('built')
            engines.error('failed')
            engines.warning('again')
            logging.getLogger('somebody.else').warning('not ours')
        engines.warning('after')
        node.destroy_node()
    finally:
        rclpy.try_shutdown()
    lines = [line for line in capfd.readouterr().err.splitlines() if line]
    assert [(line.split(']')[0], line.split(': ', 1)[1]) for line in lines if '[library_logs]' in line] == [
        ('[WARN', 'pose3d_ros.engines: prcnn.fp16.engine is damaged; building'),
        ('[INFO', 'pose3d_ros.engines: built'), ('[ERROR', 'pose3d_ros.engines: failed'),
        ('[WARN', 'pose3d_ros.engines: again')]
    assert not any('not ours' in line or 'after' in line for line in lines if '[library_logs]' in line)
