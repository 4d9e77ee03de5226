import sys

import numpy as np
import pytest

from pose3d_ros.inference import cuda_runtime

cudart = pytest.importorskip('cuda.bindings.runtime', reason="NVIDIA's CUDA runtime bindings are not installed")
error, count = cudart.cudaGetDeviceCount()
HAS_GPU = error == cudart.cudaError_t.cudaSuccess and count > 0


def test_without_the_bindings_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, 'cuda.bindings', None)  # `from cuda.bindings import ...` raises ImportError
    with pytest.raises(ValueError, match=r"^the TensorRT backend moves its buffers with NVIDIA's CUDA runtime bindings "
                                         r"\(.+\): python3 -m pip install cuda-python, the version of your CUDA "
                                         r'\(JetPack 6\.1 and 6\.2: "cuda-python>=12\.6,<12\.7"\)$'):
        cuda_runtime.import_cudart()


@pytest.mark.skipif(HAS_GPU, reason='this machine has a CUDA GPU')
def test_without_a_gpu_the_errors_name_the_call_and_the_cuda_error():
    with pytest.raises(ValueError, match=r'^the TensorRT backend needs a CUDA GPU; cudaGetDeviceCount says '
                                         r'cudaError\w+: .+'):
        cuda_runtime.device_identity(cudart)
    with pytest.raises(RuntimeError, match=r'^CUDA cudaMalloc failed \(cudaError\w+: .+\)$'):
        cuda_runtime.DeviceArray(cudart, (2, 3), np.float32)


@pytest.mark.skipif(not HAS_GPU, reason='needs a CUDA GPU')
@pytest.mark.parametrize('dtype', [np.float32, np.float16, np.int32])
def test_arrays_go_to_the_gpu_and_back_unchanged(dtype):
    name, capability = cuda_runtime.device_identity(cudart)
    assert name and '\0' not in name and capability.replace('.', '').isdigit()
    values = np.random.default_rng(0).normal(size=(3, 17, 2)).astype(dtype)
    stream, array = cuda_runtime.Stream(cudart), cuda_runtime.DeviceArray(cudart, values.shape, dtype)
    uploaded = array.upload(values.astype(np.float64), stream)  # converted to the array's dtype
    back = array.download(stream)
    stream.synchronize()
    assert uploaded.dtype == back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, values)
    with pytest.raises(ValueError, match=r'expected shape \(3, 17, 2\), got \(17, 2\)'):
        array.upload(values[0], stream)
