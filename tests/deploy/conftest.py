"""Fixtures of the deployment tests: ONNX Runtime on the CPU."""
import pytest

ort = pytest.importorskip('onnxruntime')


@pytest.fixture(scope='session')
def run_onnx():
    """run_onnx(program, *tensors): the outputs (numpy arrays) of an
    exported ``ONNXProgram`` run by ONNX Runtime's CPU provider."""

    def run_onnx(program, *tensors):
        session = ort.InferenceSession(
            program.model_proto.SerializeToString(),
            providers=['CPUExecutionProvider'])
        feeds = {
            i.name: t.detach().numpy()
            for i, t in zip(session.get_inputs(), tensors)
        }
        return session.run(None, feeds)

    return run_onnx
