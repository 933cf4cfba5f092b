#!/usr/bin/env python3
"""Loads a TorchScript file written by Tessera in PyTorch and prints its outputs.

Usage: load_in_pytorch.py MODEL INPUTS [--as-sequential]
  MODEL            a file written by Model::SaveTorchScriptFile
  INPUTS           a text file with one example per line (features separated
                   by spaces)
  --as-sequential  also load the module's state_dict strictly into a
                   torch.nn.Sequential with a Linear layer at every index that
                   has a "<index>.weight" key and a ReLU at every index
                   between them (the layout of Tessera's built-in models),
                   and print its outputs too
Prints one line per example: the module's output(s), then the Sequential's.
"""

import sys

import torch


def sequential_like(state):
    """The nn.Sequential whose Linear layers sit where `state` has weights."""
    linear = {int(key.split(".")[0]): value.shape for key, value in state.items()
              if key.endswith(".weight")}
    layers = []
    for index in range(max(linear) + 1):
        if index in linear:
            out_features, in_features = linear[index]
            layers.append(torch.nn.Linear(in_features, out_features))
        else:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def main() -> None:
    module = torch.jit.load(sys.argv[1])
    module.eval()
    with open(sys.argv[2]) as f:
        rows = [[float(v) for v in line.split()] for line in f if line.strip()]
    inputs = torch.tensor(rows, dtype=torch.float32)
    with torch.no_grad():
        columns = [module(inputs).reshape(len(rows), -1)]
        if "--as-sequential" in sys.argv[3:]:
            sequential = sequential_like(module.state_dict())
            sequential.load_state_dict(module.state_dict(), strict=True)
            columns.append(sequential(inputs).reshape(len(rows), -1))
    for row in torch.cat(columns, dim=1):
        print(" ".join("%.9g" % float(v) for v in row))


if __name__ == "__main__":
    main()
