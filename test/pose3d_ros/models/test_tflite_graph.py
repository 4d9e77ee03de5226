"""load_tflite_graph: the BlazePose .tflite networks in PyTorch and ONNX Runtime, checked against
the TFLite interpreter (ai-edge-litert) on crops of real photos; single-operator graphs written
here check the operator options BlazePose does not use. Run with -s to see the errors."""
import json
import re
from pathlib import Path

import cv2
import flatbuffers
import numpy as np
import onnx
import onnxruntime
import pytest
import tflite
import torch
from ai_edge_litert.interpreter import Interpreter

from pose3d_ros.models.blazepose_release import model_path
from pose3d_ros.models.tflite_graph import ResizeBilinear, SparseDimension, densify, load_tflite_graph
from training.datasets.h36m import DEFAULT_ROOT as H36M_ROOT

MPII_SAMPLES = H36M_ROOT.parent / 'mpii-samples'  # ../shared/data/mpii-samples beside the checkout
needs_photos = pytest.mark.skipif(not (MPII_SAMPLES / 'test_mpii.json').is_file(),
                                  reason=f'MPII sample photos not found in {MPII_SAMPLES}')
DETECTOR = 'pose_detection.tflite'
LANDMARK_MODELS = ('pose_landmark_lite.tflite', 'pose_landmark_full.tflite', 'pose_landmark_heavy.tflite')
# model -> (input side, crop side / MPII person height, input value range)
MODEL_INPUTS = {DETECTOR: (224, 2.0, (-1.0, 1.0)), **{name: (256, 1.25, (0.0, 1.0)) for name in LANDMARK_MODELS}}
# output -> (meaning, largest |PyTorch - TFLite| allowed), 3 to 6 times what these crops give (up to
# 2e-3 px landmarks, 1e-3 heatmaps, 3e-5 world landmarks, 3e-6 presence, 3e-3 px detector boxes):
# float32 rounding, as large as between TFLite's own XNNPACK and reference kernels, and between
# either and this graph run in float64.
TOLERANCES = {
    DETECTOR: {'Identity': ('boxes and keypoints (px)', 1e-2), 'Identity_1': ('score logits', 5e-3)},
    'landmarks': {'Identity': ('landmarks (px, z, visibility logits)', 6e-3), 'Identity_1': ('presence', 2e-5),
                  'Identity_2': ('segmentation logits', None), 'Identity_3': ('heatmaps', 3e-3),
                  'Identity_4': ('world landmarks (m)', 1e-4)},
}
# The segmentation logits reach +-1600, and fp32 rounding alone moves them by up to 0.7 (a float64
# run of this graph is as far from TFLite's XNNPACK as ours is), the mask (their sigmoid) by up to
# 2e-3: the logits are held to a fraction of their range, the mask to an absolute tolerance.
SEGMENTATION_RELATIVE_TOLERANCE = 2e-3
SEGMENTATION_MASK_TOLERANCE = 1e-2


def tolerances(name):
    return TOLERANCES[DETECTOR if name == DETECTOR else 'landmarks']


@pytest.fixture(scope='module', autouse=True)
def one_torch_thread():
    """PyTorch on one thread here: on a 2-core machine with other work running, two OpenMP threads
    wait for each other at every operator and a frame takes seconds instead of tens of ms."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def blazepose():
    """name -> the TFLiteGraph of that BlazePose model, built once per module."""
    graphs = {}

    def load(name):
        if name not in graphs:
            graphs[name] = load_tflite_graph(model_path(name))  # says to run tools/setup when absent
        return graphs[name]
    return load


@pytest.fixture(scope='module')
def photo_crops():
    """name -> (N, H, W, 3) float32 crops around the MPII people, as that model expects them."""
    records = json.loads((MPII_SAMPLES / 'test_mpii.json').read_text())
    crops = {}

    def crop(name):
        side, context, (low, high) = MODEL_INPUTS[name]
        if MODEL_INPUTS[name] not in crops:
            images = []
            for record in records:
                image = cv2.imread(str(MPII_SAMPLES / record['image']))
                assert image is not None, f'cannot read {MPII_SAMPLES / record["image"]}'
                scale = side / (record['scale'] * 200 * context)
                (x, y) = record['center']
                to_crop = np.array([[scale, 0, side / 2 - scale * x], [0, scale, side / 2 - scale * y]])
                pixels = cv2.warpAffine(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), to_crop, (side, side),
                                        flags=cv2.INTER_LINEAR)
                images.append(low + (high - low) * pixels.astype(np.float32) / 255)
            crops[MODEL_INPUTS[name]] = np.stack(images)
        return crops[MODEL_INPUTS[name]]
    return crop


def run_tflite(model, images):
    """The interpreter's outputs {name: array} for each NHWC image (the models take batch 1)."""
    interpreter = Interpreter(model_path=str(model), num_threads=2) if isinstance(model, Path) \
        else Interpreter(model_content=model, num_threads=2)
    interpreter.allocate_tensors()
    (image_input,) = interpreter.get_input_details()
    results = []
    for image in images:
        interpreter.set_tensor(image_input['index'], image[None])
        interpreter.invoke()
        results.append({output['name']: interpreter.get_tensor(output['index']).copy()
                        for output in interpreter.get_output_details()})
    return results


def escaped(path):
    return re.escape(str(path))


def nchw(images):
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def as_tflite_layout(array):
    return array.transpose(0, 2, 3, 1) if array.ndim == 4 else array


def assert_outputs_match(name, graph, outputs, references, what):
    """outputs: per image, the graph's outputs in its layout; references: per image, {output
    name: array} in TFLite's layout (NHWC)."""
    for index, output_name in enumerate(graph.output_names):
        ours = np.stack([as_tflite_layout(np.asarray(output[index])) for output in outputs])
        theirs = np.stack([reference[output_name] for reference in references])
        error = float(np.abs(ours - theirs).max())
        meaning, tolerance = tolerances(name)[output_name]
        if tolerance is None:
            tolerance = SEGMENTATION_RELATIVE_TOLERANCE * float(np.abs(theirs).max())
            mask_error = float((torch.sigmoid(torch.from_numpy(ours)) - torch.sigmoid(torch.from_numpy(theirs)))
                               .abs().max())
            print(f'{name} {what} {meaning}: mask (sigmoid) max abs error {mask_error:.2e}')
            assert mask_error <= SEGMENTATION_MASK_TOLERANCE, \
                f'{name} {output_name} ({meaning}): mask max abs error {mask_error:.3g} > {SEGMENTATION_MASK_TOLERANCE}'
        print(f'{name} {what} {output_name} {meaning}: max abs error {error:.2e} (tolerance {tolerance:.1e}, '
              f'values up to {float(np.abs(theirs).max()):.3g})')
        assert error <= tolerance, \
            f'{name} {output_name} ({meaning}): {what} max abs error {error:.3g} > {tolerance:.3g}'


@needs_photos
@pytest.mark.parametrize('name', (DETECTOR, *LANDMARK_MODELS))
def test_blazepose_matches_the_tflite_interpreter_on_real_photos(name, blazepose, photo_crops):
    graph, images = blazepose(name), photo_crops(name)
    references = run_tflite(model_path(name), images)
    assert graph.output_names == tuple(references[0])
    with torch.no_grad():
        outputs = [[output.numpy() for output in graph(nchw(image[None]))] for image in images]
    for output, name_in_tflite in zip(outputs[0], graph.output_names):
        shape = references[0][name_in_tflite].shape
        assert output.shape == (shape if len(shape) != 4 else (shape[0], shape[3], shape[1], shape[2]))
    assert_outputs_match(name, graph, outputs, references, 'PyTorch')
    # each crop holds a person, and the networks say so
    for reference in references:
        assert reference['Identity_1'].max() > (0.0 if name == DETECTOR else 0.5)


@needs_photos
def test_selected_outputs_run_only_their_operators_and_give_the_same_values(blazepose, photo_crops):
    name = 'pose_landmark_full.tflite'
    full = blazepose(name)
    landmarks = load_tflite_graph(model_path(name), outputs=['Identity_4', 'Identity'])
    by_index = load_tflite_graph(model_path(name), outputs=[4, 0])
    images = nchw(photo_crops(name)[:2])
    with torch.no_grad():
        everything = dict(zip(full.output_names, full(images)))
        selected = landmarks(images)
        selected_by_index = by_index(images)
    assert landmarks.output_names == by_index.output_names == ('Identity_4', 'Identity')
    for output_name, value, value_by_index in zip(landmarks.output_names, selected, selected_by_index):
        assert torch.equal(value, everything[output_name]) and torch.equal(value_by_index, value), output_name
    # the heatmap and segmentation decoders (all the upsampling) are left out
    assert len(landmarks.operators) < len(full.operators)
    assert not any(isinstance(operator, ResizeBilinear) for operator in landmarks.operators)
    assert any(isinstance(operator, ResizeBilinear) for operator in full.operators)


@needs_photos
@pytest.mark.parametrize('name', (DETECTOR, 'pose_landmark_full.tflite'))
def test_a_batch_of_two_equals_two_single_images(name, blazepose, photo_crops):
    graph = blazepose(name)
    images = nchw(photo_crops(name)[:2])
    with torch.no_grad():
        batched = graph(images)
        singles = [graph(images[:1]), graph(images[1:])]
    for index, output_name in enumerate(graph.output_names):
        expected = torch.cat([single[index] for single in singles])
        assert batched[index].shape == expected.shape and batched[index].shape[0] == 2
        # a batch may pick other convolution kernels: equal up to float32 rounding
        torch.testing.assert_close(batched[index], expected, rtol=0, atol=2e-4, msg=lambda m: f'{output_name}: {m}')


@needs_photos
def test_onnx_export_of_the_full_landmark_model_matches_pytorch_in_onnx_runtime(blazepose, photo_crops, tmp_path):
    name = 'pose_landmark_full.tflite'
    graph = blazepose(name)
    images = photo_crops(name)
    batch = torch.export.Dim('batch', min=1, max=8)
    with torch.no_grad():  # traced at batch 2: torch.export specializes size-1 dimensions
        program = torch.onnx.export(graph, (nchw(images[:2]),), None, dynamo=True, opset_version=18,
                                    input_names=['image'], output_names=list(graph.output_names),
                                    dynamic_shapes=({0: batch},), verbose=False)
    path = tmp_path / 'pose_landmark_full.onnx'
    program.save(str(path))
    operator_types = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert 'Transpose' not in operator_types, 'activations should stay NCHW from end to end'
    session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    onnx_outputs = session.run(None, {'image': nchw(images).numpy()})
    with torch.no_grad():
        torch_outputs = [output.numpy() for output in graph(nchw(images))]
    per_image = [dict(zip(graph.output_names, (as_tflite_layout(output[i:i + 1]) for output in torch_outputs)))
                 for i in range(len(images))]
    outputs = [[output[i:i + 1] for output in onnx_outputs] for i in range(len(images))]
    assert_outputs_match(name, graph, outputs, per_image, 'ONNX Runtime vs PyTorch')


def test_densify_rebuilds_hand_made_sparse_tensors():
    dense = np.array([[1, 0, 2, 3],
                      [0, 4, 0, 0],
                      [0, 0, 5, 0],
                      [0, 0, 0, 6]], np.float32)
    # CSR: rows dense, the columns of each row's non-zeros
    rows = [SparseDimension(dense_size=4), SparseDimension(segments=[0, 3, 4, 5, 6], indices=[0, 2, 3, 1, 2, 3])]
    np.testing.assert_array_equal(densify([1, 2, 3, 4, 5, 6], (4, 4), [0, 1], [], rows), dense)
    # traversed column by column (CSC)
    columns = [SparseDimension(dense_size=4), SparseDimension(segments=[0, 1, 2, 4, 6], indices=[0, 1, 0, 2, 0, 3])]
    np.testing.assert_array_equal(densify([1, 4, 2, 5, 3, 6], (4, 4), [1, 0], [], columns), dense)
    # 2 x 2 blocks: block rows dense, non-zero block columns sparse, each block stored whole;
    # the all-zero block (1, 0) is not stored
    blocks = [SparseDimension(dense_size=2), SparseDimension(segments=[0, 2, 3], indices=[0, 1, 1]),
              SparseDimension(dense_size=2), SparseDimension(dense_size=2)]
    stored = [1, 0, 0, 4, 2, 3, 0, 0, 5, 0, 0, 6]
    np.testing.assert_array_equal(densify(stored, (4, 4), [0, 1, 2, 3], [0, 1], blocks), dense)
    with pytest.raises(ValueError, match='11 stored values for 12 positions'):
        densify(stored[:-1], (4, 4), [0, 1, 2, 3], [0, 1], blocks)


# ---- small models written here with the tflite package's flatbuffer builders ----

TENSOR_TYPES = {np.dtype(np.float32): tflite.TensorType.FLOAT32, np.dtype(np.float16): tflite.TensorType.FLOAT16,
                np.dtype(np.int32): tflite.TensorType.INT32}


def tflite_model(tensors, operators, subgraph_count=1):
    """.tflite bytes of one subgraph (repeated subgraph_count times) whose first tensor is the
    input and last tensor the output.

    tensors: (shape, None for an activation | a constant array | (stored values, traversal
    order, block map, [SparseDimension]) for a sparse constant). operators: (builtin operator
    name, input indices, output indices, None | (options table name, {field: value})).
    """
    builder = flatbuffers.Builder(1024)

    def table(name, **fields):  # every field value must be built before the table starts
        getattr(tflite, f'{name}Start')(builder)
        for field, value in fields.items():
            getattr(tflite, f'{name}Add{field}')(builder, value)
        return getattr(tflite, f'{name}End')(builder)

    def tables(items):
        builder.StartVector(4, len(items), 4)
        for item in reversed(items):
            builder.PrependUOffsetTRelative(item)
        return builder.EndVector()

    def ints(values):
        return builder.CreateNumpyVector(np.asarray(values, np.int32))

    def int_vector(values):
        return table('Int32Vector', Values=ints(values))

    def sparsity(traversal_order, block_map, dimensions):
        metadata = [table('DimensionMetadata', Format=tflite.DimensionType.DENSE, DenseSize=d.dense_size)
                    if d.segments is None else
                    table('DimensionMetadata', Format=tflite.DimensionType.SPARSE_CSR,
                          ArraySegmentsType=tflite.SparseIndexVector.Int32Vector, ArraySegments=int_vector(d.segments),
                          ArrayIndicesType=tflite.SparseIndexVector.Int32Vector, ArrayIndices=int_vector(d.indices))
                    for d in dimensions]
        return table('SparsityParameters', TraversalOrder=ints(traversal_order), BlockMap=ints(block_map),
                     DimMetadata=tables(metadata))

    buffers = [table('Buffer')]
    tensor_tables = []
    for index, (shape, value) in enumerate(tensors):
        fields = {'Shape': ints(shape), 'Name': builder.CreateString(f'tensor_{index}'),
                  'Type': tflite.TensorType.FLOAT32}
        if value is not None:
            stored, sparse = (value[0], value[1:]) if isinstance(value, tuple) else (value, None)
            stored = np.asarray(stored)
            buffers.append(table('Buffer', Data=builder.CreateNumpyVector(np.frombuffer(stored.tobytes(), np.uint8))))
            fields.update(Type=TENSOR_TYPES[stored.dtype], Buffer=len(buffers) - 1)
            if sparse:
                fields['Sparsity'] = sparsity(*sparse)
        tensor_tables.append(table('Tensor', **fields))

    codes = list(dict.fromkeys(name for name, *_ in operators))
    operator_tables = []
    for name, inputs, outputs, options in operators:
        fields = {'OpcodeIndex': codes.index(name), 'Inputs': ints(inputs), 'Outputs': ints(outputs)}
        if options:
            options_name, options_fields = options
            fields.update(BuiltinOptionsType=getattr(tflite.BuiltinOptions, options_name),
                          BuiltinOptions=table(options_name, **options_fields))
        operator_tables.append(table('Operator', **fields))
    subgraph = table('SubGraph', Tensors=tables(tensor_tables), Inputs=ints([0]), Outputs=ints([len(tensors) - 1]),
                     Operators=tables(operator_tables))
    code_tables = [table('OperatorCode', BuiltinCode=getattr(tflite.BuiltinOperator, name),
                         DeprecatedBuiltinCode=min(getattr(tflite.BuiltinOperator, name), 127), Version=1)
                   for name in codes]
    model = table('Model', Version=3, OperatorCodes=tables(code_tables), Subgraphs=tables([subgraph] * subgraph_count),
                  Buffers=tables(buffers))
    builder.Finish(model, file_identifier=b'TFL3')
    return bytes(builder.Output())


def single_operator_model(input_shape, name, options, constants=(), output_shape=None):
    """input -> operator(input, *constants) -> output."""
    tensors = [(input_shape, None)] + [(np.shape(c), c) for c in constants] + [(output_shape or input_shape, None)]
    return tflite_model(tensors, [(name, list(range(len(tensors) - 1)), [len(tensors) - 1], options)])


RANDOM = np.random.default_rng(0)
WEIGHTS = RANDOM.normal(size=(6, 3, 3, 4)).astype(np.float32)
DEPTHWISE_WEIGHTS = RANDOM.normal(size=(1, 3, 3, 8)).astype(np.float32)
BIAS = RANDOM.normal(size=6).astype(np.float32)
# operator options BlazePose does not use, each in a one-operator model (input 1 x 9 x 11 x 4)
SINGLE_OPERATOR_CASES = {
    'conv SAME stride 2 (odd sizes: asymmetric padding), RELU_N1_TO_1': (
        'CONV_2D', ('Conv2DOptions', dict(Padding=tflite.Padding.SAME, StrideH=2, StrideW=2, DilationHFactor=1,
                                          DilationWFactor=1, FusedActivationFunction=2)),
        (WEIGHTS, BIAS), (1, 5, 6, 6)),
    'conv dilation 2, VALID': (
        'CONV_2D', ('Conv2DOptions', dict(Padding=tflite.Padding.VALID, StrideH=1, StrideW=1, DilationHFactor=2,
                                          DilationWFactor=2, FusedActivationFunction=0)),
        (WEIGHTS, BIAS), (1, 5, 7, 6)),
    'depthwise conv, depth multiplier 2, SAME, dilation 2, RELU': (
        'DEPTHWISE_CONV_2D', ('DepthwiseConv2DOptions', dict(Padding=tflite.Padding.SAME, StrideH=1, StrideW=1,
                                                             DepthMultiplier=2, DilationHFactor=2, DilationWFactor=2,
                                                             FusedActivationFunction=1)),
        (DEPTHWISE_WEIGHTS, np.zeros(8, np.float32)), (1, 9, 11, 8)),
    'max pool 3 x 3 SAME stride 2': (
        'MAX_POOL_2D', ('Pool2DOptions', dict(Padding=tflite.Padding.SAME, StrideH=2, StrideW=2, FilterHeight=3,
                                              FilterWidth=3)), (), (1, 5, 6, 4)),
    'resize bilinear, legacy (neither flag)': (
        'RESIZE_BILINEAR', ('ResizeBilinearOptions', dict(AlignCorners=False, HalfPixelCenters=False)),
        (np.array([14, 17], np.int32),), (1, 14, 17, 4)),
    'resize bilinear, align_corners': (
        'RESIZE_BILINEAR', ('ResizeBilinearOptions', dict(AlignCorners=True, HalfPixelCenters=False)),
        (np.array([14, 17], np.int32),), (1, 14, 17, 4)),
    'resize bilinear, half_pixel_centers, downscaling': (
        'RESIZE_BILINEAR', ('ResizeBilinearOptions', dict(AlignCorners=False, HalfPixelCenters=True)),
        (np.array([4, 5], np.int32),), (1, 4, 5, 4)),
    'pad, asymmetric on height, width and channels': (
        'PAD', None, (np.array([[0, 0], [1, 2], [0, 3], [2, 1]], np.int32),), (1, 12, 14, 7)),
    'reshape 4-D to 4-D in NHWC order': (
        'RESHAPE', None, (np.array([1, 11, 9, 4], np.int32),), (1, 11, 9, 4)),
    'reshape 4-D to 3-D': (
        'RESHAPE', None, (np.array([1, 99, 4], np.int32),), (1, 99, 4)),
    'depth to space, block 2 (DCR order)': (
        'DEPTH_TO_SPACE', ('DepthToSpaceOptions', dict(BlockSize=2)), (), (1, 18, 22, 1)),
    'add a per-channel constant, RELU6': (
        'ADD', ('AddOptions', dict(FusedActivationFunction=3)), (RANDOM.normal(size=4).astype(np.float32) * 3,), None),
    'add a constant row (1 x 11 x 4)': (
        'ADD', ('AddOptions', dict(FusedActivationFunction=0)), (RANDOM.normal(size=(1, 11, 4)).astype(np.float32),),
        None),
}


@pytest.mark.parametrize('case', SINGLE_OPERATOR_CASES)
def test_single_operators_match_the_tflite_interpreter(case, tmp_path):
    name, options, constants, output_shape = SINGLE_OPERATOR_CASES[case]
    model = single_operator_model((1, 9, 11, 4), name, options, constants, output_shape)
    (tmp_path / 'model.tflite').write_bytes(model)
    image = RANDOM.normal(size=(1, 9, 11, 4)).astype(np.float32) * 2
    (reference,) = run_tflite(model, image)
    with torch.no_grad():
        (output,) = load_tflite_graph(tmp_path / 'model.tflite')(nchw(image))
    np.testing.assert_allclose(as_tflite_layout(output.numpy()), reference['tensor_' + str(len(constants) + 1)],
                               rtol=1e-5, atol=1e-5, err_msg=case)


def test_concatenation_axes_are_taken_in_nhwc(tmp_path):
    for axis, output_shape in ((3, (1, 9, 11, 8)), (-2, (1, 9, 22, 4)), (1, (1, 18, 11, 4))):
        tensors = [((1, 9, 11, 4), None), ((1, 9, 11, 4), None), (output_shape, None)]
        operators = [('LOGISTIC', [0], [1], None),
                     ('CONCATENATION', [0, 1], [2], ('ConcatenationOptions', dict(Axis=axis)))]
        model = tflite_model(tensors, operators)
        (tmp_path / 'model.tflite').write_bytes(model)
        image = RANDOM.normal(size=(1, 9, 11, 4)).astype(np.float32)
        (reference,) = run_tflite(model, image)
        with torch.no_grad():
            (output,) = load_tflite_graph(tmp_path / 'model.tflite')(nchw(image))
        np.testing.assert_allclose(as_tflite_layout(output.numpy()), reference['tensor_2'], rtol=1e-6, atol=1e-6,
                                   err_msg=f'axis {axis}')


def test_densify_and_dequantize_of_constants_match_the_tflite_interpreter(tmp_path):
    """A block-sparse float16 constant, densified and dequantized, added to a zero input."""
    blocks = [SparseDimension(dense_size=2), SparseDimension(segments=[0, 2, 3], indices=[0, 1, 1]),
              SparseDimension(dense_size=2), SparseDimension(dense_size=2)]
    stored = np.array([1, 0, 0, 4, 2, 3, 0, 0, 5, 0, 0, 6], np.float16) / 8
    tensors = [((1, 3, 4, 4), None), ((4, 4), (stored, [0, 1, 2, 3], [0, 1], blocks)), ((4, 4), None),
               ((4, 4), None), ((1, 3, 4, 4), None)]
    operators = [('DENSIFY', [1], [2], None), ('DEQUANTIZE', [2], [3], None),
                 ('ADD', [0, 3], [4], ('AddOptions', dict(FusedActivationFunction=0)))]
    model = tflite_model(tensors, operators)
    (tmp_path / 'model.tflite').write_bytes(model)
    zeros = np.zeros((1, 3, 4, 4), np.float32)
    (reference,) = run_tflite(model, zeros)
    with torch.no_grad():
        (output,) = load_tflite_graph(tmp_path / 'model.tflite')(nchw(zeros))
    dense = np.array([[1, 0, 2, 3], [0, 4, 0, 0], [0, 0, 5, 0], [0, 0, 0, 6]], np.float32) / 8
    np.testing.assert_array_equal(reference['tensor_4'], np.broadcast_to(dense, zeros.shape))
    np.testing.assert_array_equal(as_tflite_layout(output.numpy()), reference['tensor_4'])


def test_errors_name_the_file_and_what_is_wrong(tmp_path):
    missing = tmp_path / 'missing.tflite'
    with pytest.raises(ValueError, match=f'{escaped(missing)}: TFLite model not found'):
        load_tflite_graph(missing)
    with pytest.raises(ValueError, match=f'{escaped(tmp_path)}: TFLite model not found'):
        load_tflite_graph(tmp_path)
    not_a_model = tmp_path / 'not_a_model.tflite'
    not_a_model.write_bytes(b'PK\x03\x04 a zip file, not a flatbuffer')
    with pytest.raises(ValueError, match=f'{escaped(not_a_model)}: not a TFLite flatbuffer'):
        load_tflite_graph(not_a_model)
    truncated = tmp_path / 'truncated.tflite'
    truncated.write_bytes(model_path('pose_landmark_lite.tflite').read_bytes()[:100_000])
    with pytest.raises(ValueError, match=f'{escaped(truncated)}: truncated or corrupt TFLite flatbuffer'):
        load_tflite_graph(truncated)

    tensors = [((1, 4), None), ((1, 4), None), ((1, 4), None)]
    unsupported = tmp_path / 'unsupported.tflite'
    unsupported.write_bytes(tflite_model(tensors, [('LOGISTIC', [0], [1], None), ('TANH', [1], [2], None)]))
    with pytest.raises(ValueError, match=rf'{escaped(unsupported)}: operator 1 \(TANH\) is not supported; '
                                         r'supported: .*CONV_2D'):
        load_tflite_graph(unsupported)
    tanh_conv = tmp_path / 'tanh_conv.tflite'  # TFLite's kernels would skip the TANH silently
    tanh = ('Conv2DOptions', dict(Padding=tflite.Padding.VALID, StrideH=1, StrideW=1,
                                  FusedActivationFunction=tflite.ActivationFunctionType.TANH))
    tanh_conv.write_bytes(single_operator_model((1, 9, 11, 4), 'CONV_2D', tanh, (WEIGHTS, BIAS), (1, 7, 9, 6)))
    with pytest.raises(ValueError, match=rf'{escaped(tanh_conv)}: operator 0 \(CONV_2D\) has the unsupported '
                                         r'fused activation TANH; supported: NONE, RELU, RELU_N1_TO_1, RELU6'):
        load_tflite_graph(tanh_conv)
    two_subgraphs = tmp_path / 'two_subgraphs.tflite'
    two_subgraphs.write_bytes(tflite_model(tensors[:2], [('LOGISTIC', [0], [1], None)], subgraph_count=2))
    with pytest.raises(ValueError, match=f'{escaped(two_subgraphs)}: has 2 subgraphs; only single-subgraph'):
        load_tflite_graph(two_subgraphs)

    landmarks = model_path('pose_landmark_full.tflite')
    with pytest.raises(ValueError, match=rf"{escaped(landmarks)}: unknown output 'landmarks'; the model outputs "
                                         rf"\['Identity', 'Identity_1', 'Identity_2', 'Identity_3', 'Identity_4'\]"):
        load_tflite_graph(landmarks, outputs=['landmarks'])
    with pytest.raises(ValueError, match=f'{escaped(landmarks)}: output index 5 out of range; the model has 5 outputs'):
        load_tflite_graph(landmarks, outputs=[5])
