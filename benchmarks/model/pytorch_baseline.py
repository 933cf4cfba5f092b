#!/usr/bin/env python3
"""PyTorch baseline for benchmarks/model/: the training loop an ML lead would
write in PyTorch for the same model and settings as tessera_model_bench.

Usage: pytorch_baseline.py ROWS FEATURES HIDDEN BATCH EPOCHS REPEATS LR
  HIDDEN is a comma-separated list of widths (e.g. 64,32).
Trains torch.nn.Sequential(Linear, ReLU, ..., Linear) with BCEWithLogitsLoss
and torch.optim.SGD on one thread, shuffling every epoch, REPEATS times from
the same start; prints "seconds <s>" per run (process CPU time of the
training loop only; data and model set-up are not timed) and
"torch <version>".
"""

import sys
import time

import torch


def main() -> None:
    rows, features = int(sys.argv[1]), int(sys.argv[2])
    hidden = [int(h) for h in sys.argv[3].split(",") if h]
    batch, epochs, repeats = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    lr = float(sys.argv[7])
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.randn(rows, features)
    y = (x[:, 0] - 0.5 * x[:, 1] + 0.25 > 0).float().reshape(-1, 1)
    widths = [features] + hidden + [1]
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i + 2 < len(widths):
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    loss_fn = torch.nn.BCEWithLogitsLoss()
    print("torch %s" % torch.__version__)
    for _ in range(repeats):
        model.load_state_dict(start)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        began = time.process_time()
        for _ in range(epochs):
            order = torch.randperm(rows)
            for i in range(0, rows, batch):
                index = order[i:i + batch]
                optimizer.zero_grad()
                loss = loss_fn(model(x[index]), y[index])
                loss.backward()
                optimizer.step()
        print("seconds %.6f" % (time.process_time() - began))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
