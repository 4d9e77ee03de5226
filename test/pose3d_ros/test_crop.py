import numpy as np

from pose3d_ros.crop import crop_to_image, crop_transform, warp_crop


def test_crop_maps_the_box_centre_to_the_crop_centre_and_back():
    transform = crop_transform(center=(300.0, 200.0), side=250.0, size=128)
    np.testing.assert_allclose(transform[:, :2] @ [300.0, 200.0] + transform[:, 2], [63.5, 63.5])
    points = np.array([[10.0, 20.0], [127.0, 0.0]])
    image_points = crop_to_image(points, transform)
    np.testing.assert_allclose(image_points @ transform[:, :2].T + transform[:, 2], points)


def test_warp_takes_the_pixel_under_the_mapped_point():
    image = np.zeros((100, 200, 3), np.uint8)
    image[40, 150] = 255
    transform = crop_transform(center=(150.0, 40.0), side=33.0, size=33)  # scale 1
    crop = warp_crop(image, transform, 33)
    assert crop.shape == (33, 33, 3)
    assert tuple(np.argwhere(crop[..., 0] == 255)[0]) == (16, 16)
    assert warp_crop(image, crop_transform((-500.0, -500.0), 50.0, 16), 16).max() == 0  # outside: black
