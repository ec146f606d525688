"""pytorch_check.py - run by test_pytorch with /usr/bin/python3 (Debian's
torch): loads a netc checkpoint into the module `netc emit --pytorch`
wrote and checks that
  - the module's state_dict keys are the checkpoint's tensor names, in order
    (momentum buffers aside);
  - its eval-mode logits on a batch equal the trainer's --infer logits
    within 1e-4 of the largest |logit|;
  - TorchScript (torch.jit.script) gives the same logits, and
    torch.onnx.export writes a model (unless --no-onnx: PyTorch 1.13 cannot
    export adaptive pooling to sizes that do not divide the input).
usage: pytorch_check.py MODULE.py NET CHECKPOINT X.npy TRAINER_LOGITS.npy [--no-onnx]
Prints the errors; exits 1 on a failed check."""
import importlib.util
import io
import sys

import numpy as np
import torch


def main():
    path, net, ckpt, x_path, ref_path = sys.argv[1:6]
    spec = importlib.util.spec_from_file_location(net, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    model = getattr(mod, net)()
    names = [k for k in mod.read_safetensors(ckpt) if not k.startswith('momentum.')]
    keys = list(model.state_dict().keys())
    if keys != names:
        print(f'state_dict keys differ from the checkpoint:\n {keys}\n {names}')
        return 1
    mod.load_netc_checkpoint(model, ckpt).eval()
    x = torch.from_numpy(np.load(x_path))
    ref = np.load(ref_path)
    with torch.no_grad():
        y = model(x).numpy()
        scripted = torch.jit.script(model)(x).numpy()
    err = float(np.abs(y - ref).max() / np.abs(ref).max())
    print(f'{net}: {len(keys)} tensors; logits within {err:.3g} of the largest |logit|')
    if not err <= 1e-4:
        print(f'{net}: logits differ from the trainer: {err:.3g} > 1e-4')
        return 1
    if not np.array_equal(scripted, y):
        print(f'{net}: TorchScript gives other logits')
        return 1
    if '--no-onnx' in sys.argv[6:]:
        return 0
    onnx = io.BytesIO()
    torch.onnx.export(model, x[:1], onnx)
    if len(onnx.getvalue()) < 1000:
        print(f'{net}: torch.onnx.export wrote {len(onnx.getvalue())} bytes')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
