"""Digits: the course's net on scikit-learn's 8x8 digits, against the linear baseline.
===================================================================================

The course trained 400-25-10 sigmoid (course cross-entropy, l2=1, U(±0.12) weights, TNC) on 5,000
digits of 20x20 pixels, labelled 1..10. Those are not available; ``load_digits`` (1,797 digits of
8x8, values 0..16, scaled to [0, 1]) gives the same task at 64 inputs. Split 1,297 / 500 (seed 0).
The three rows: the course net through the estimator (labels 1..10 as in the course), the same
net built from ``models.course_digits`` and trained with ``tg.fit``, and ``models.linear``'s
softmax regression. Run: ``python examples/digits.py``.
"""
import sys
import time
from pathlib import Path

from sklearn.datasets import load_digits

import tinygraph as tg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # models/ sits at the repo root
from models import course_digits, linear


def main(max_iter=250, threads=1, random_state=0):
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = tg.datasets.train_test_split(X / 16.0, y, test_size=500, random_state=0)
    print(f"load_digits: {len(Xtr)} train / {len(Xte)} held out, 64 inputs, max_iter={max_iter}")
    print(f"{'model':34} {'seconds':>8} {'train acc':>9} {'test acc':>9}")
    results = {}

    def report(name, seconds, train, test):
        results[name] = test
        print(f"{name:34} {seconds:8.2f} {train:9.3f} {test:9.3f}")

    clf = tg.NeuralNetClassifier((25,), "sigmoid", output="sigmoid", l2=1.0, init="uniform",
                                 optimizer="TNC", max_iter=max_iter, threads=threads, random_state=random_state)
    t0 = time.perf_counter()
    clf.fit(Xtr, ytr + 1)  # the course's labels: 1..10
    report("course net, estimator, TNC", time.perf_counter() - t0, clf.score(Xtr, ytr + 1),
           clf.score(Xte, yte + 1))
    for name, model, training in [
            ("course net, models/, L-BFGS-B", course_digits.digit_net(64, random_state=random_state),
             course_digits.TRAINING),
            ("softmax regression, models/", linear.softmax_regression(64, 10, random_state=random_state),
             linear.TRAINING)]:
        t0 = time.perf_counter()
        tg.fit(model, Xtr, ytr, **{**training, "maxiter": max_iter}, threads=threads)
        report(name, time.perf_counter() - t0, model.score(Xtr, ytr), model.score(Xte, yte))
    return results


if __name__ == "__main__":
    # Quick at full size: the example gallery (TINYGRAPH_GALLERY=1) runs it as it is.
    main()
