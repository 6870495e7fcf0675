"""The addition problem (Hochreiter & Schmidhuber 1997) solved by an LSTM trained with Adam.
=========================================================================================

Each sequence holds T steps of (value, marker): values U(0, 1), two markers, one in each half; the
target is the sum of the two marked values, read after the last step. Always answering 1 gives MSE
1/6 ≈ 0.167; the problem counts as solved at held-out MSE < 0.01. LSTM(units) → Dense(1) → MSE,
Adam, batch 64, a fixed training set; training stops once the held-out MSE is below ``stop_at``.

    python examples/rnn_addition.py              # T = 100
    python examples/rnn_addition.py --T 50

Recorded output of the full run
-------------------------------

The docs build does not run this example (about 11 minutes at its full settings); this is the output of
``python examples/rnn_addition.py``, recorded on a 2-core machine shared with other jobs (load average
4-12), so the seconds are inflated and noisy::

    T=100, LSTM-64, Adam 3e-3 with clipnorm=1, batch 64, 10,000 training sequences, float32:
    held-out MSE on the plateau of predicting the mean (0.16) for 9 epochs, 0.0065 in epoch 10 (solved: < 0.01),
    held-out MSE 0.0014 after 16 epochs (the script stops below 0.002), 675 s
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import tinygraph as tg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # models/ lives at the repository root
from models.recurrent import addition_problem, sequence_regressor


def main(T: int = 100, units: int = 64, n_train: int = 10_000, n_test: int = 1000, epochs: int = 40,
         batch_size: int = 64, lr: float = 3e-3, stop_at: float = 0.002, dtype=np.float32,
         threads: int | None = 1, verbose: bool = True) -> dict:
    """Train; return {"mse": held-out MSE, "history": per-epoch held-out MSE, "seconds", "epochs"}."""
    Xtr, ytr = addition_problem(n_train, T, random_state=0, dtype=dtype)
    Xte, yte = addition_problem(n_test, T, random_state=1, dtype=dtype)
    model = sequence_regressor((T, 2), 1, cell="lstm", units=units, random_state=0, dtype=dtype)

    def solved(info):
        return info.val_loss is not None and 2 * info.val_loss < stop_at

    res = tg.fit(model, Xtr, ytr, tg.optim.Adam(lr, clipnorm=1.0), batch_size=batch_size,
                 epochs=epochs, validation_data=(Xte, yte), random_state=0, threads=threads,
                 callback=solved, verbose=int(verbose))
    mse = float(np.mean((model.predict(Xte) - yte) ** 2))
    # MeanSquaredError is ½ the mean squared error: the history doubles it into the plain MSE
    history = [2 * v for v in res.history["val_loss"]]
    if verbose:
        print(f"T={T}, LSTM-{units}: held-out MSE {mse:.4f} after {len(history)} epochs "
              f"({res.wall_time:.0f} s); predicting 1 always gives {np.mean((1 - yte) ** 2):.3f}")
    return {"mse": mse, "history": history, "seconds": res.wall_time, "epochs": len(history)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--T", type=int, default=100)
    args = parser.parse_args()
    main(T=args.T)
