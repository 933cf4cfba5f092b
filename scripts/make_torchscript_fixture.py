#!/usr/bin/env python3
"""Makes the TorchScript fixture of tests/model/ with PyTorch (Debian's python3-torch).

Writes, into tests/model/testdata/ (or the folder given as the only argument):
  tiny_net.pt          a small module scripted with torch.jit.script and saved
                       with torch.jit.save: tanh(x W1^T + b1) W2^T + b2, times a
                       learnable scalar, so it is neither a built-in model nor a
                       plain nn.Sequential, and it has a 0-dimensional parameter.
  tiny_net_outputs.txt inputs and the outputs PyTorch computes for them, one
                       example per line: x0 x1 x2 x3 output. The C++ tests check
                       that libtorch gives the same outputs for the same file.

The result is deterministic (fixed seed). Run it again only when the fixture
must change, and commit both files together:
  /usr/bin/python3 scripts/make_torchscript_fixture.py
"""

import os
import sys

import torch

FEATURES = 4
HIDDEN = 6


class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(FEATURES, HIDDEN)
        self.fc2 = torch.nn.Linear(HIDDEN, 1)
        self.scale = torch.nn.Parameter(torch.tensor(1.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.tanh(self.fc1(x))) * self.scale


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "tests", "model", "testdata")
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(20240601)
    module = torch.jit.script(TinyNet())
    module.eval()
    torch.jit.save(module, os.path.join(folder, "tiny_net.pt"))

    # Inputs on a small grid in [-1, 1], written exactly as they are used.
    rows = 8
    inputs = torch.tensor([[((3 * i + 5 * j) % 11) / 5.0 - 1.0 for j in range(FEATURES)]
                           for i in range(rows)], dtype=torch.float32)
    with torch.no_grad():
        outputs = module(inputs).reshape(-1)
    with open(os.path.join(folder, "tiny_net_outputs.txt"), "w") as out:
        out.write("# x0 x1 x2 x3 output: PyTorch %s, scripts/make_torchscript_fixture.py\n"
                  % torch.__version__)
        for i in range(rows):
            values = [float(v) for v in inputs[i]] + [float(outputs[i])]
            out.write(" ".join("%.9g" % v for v in values) + "\n")


if __name__ == "__main__":
    main()
