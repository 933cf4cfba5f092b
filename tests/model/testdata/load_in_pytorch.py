#!/usr/bin/env python3
"""Loads a TorchScript file written by Tessera in PyTorch and prints its outputs.

Usage: load_in_pytorch.py MODEL INPUTS [WIDTHS]
  MODEL   a file written by Model::SaveTorchScriptFile
  INPUTS  a text file with one example per line (features separated by spaces)
  WIDTHS  optional, e.g. 30,64,32,1: also load the module's state_dict into
          the equivalent torch.nn.Sequential of Linear and ReLU layers
          (strictly: every key must match) and print its outputs too.
Prints one line per example: the module's output(s), then the Sequential's.
"""

import sys

import torch


def main() -> None:
    module = torch.jit.load(sys.argv[1])
    module.eval()
    with open(sys.argv[2]) as f:
        rows = [[float(v) for v in line.split()] for line in f if line.strip()]
    inputs = torch.tensor(rows, dtype=torch.float32)
    with torch.no_grad():
        columns = [module(inputs).reshape(len(rows), -1)]
        if len(sys.argv) > 3:
            widths = [int(w) for w in sys.argv[3].split(",")]
            layers = []
            for i in range(len(widths) - 1):
                layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
                if i + 2 < len(widths):
                    layers.append(torch.nn.ReLU())
            sequential = torch.nn.Sequential(*layers)
            sequential.load_state_dict(module.state_dict(), strict=True)
            columns.append(sequential(inputs).reshape(len(rows), -1))
    table = torch.cat(columns, dim=1)
    for row in table:
        print(" ".join("%.9g" % float(v) for v in row))


if __name__ == "__main__":
    main()
