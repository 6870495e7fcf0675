"""The moons net: 2-3-2 sigmoid, l2=0.001, on make_moons(200, noise=0.2), trained by scipy.
========================================================================================

The older blog post called ``fmin_cg`` with cost and gradient as two functions, running the net
forward twice; here ``loss_and_grad`` gives both from one pass. Run: ``python examples/moons_scipy.py``.
"""
import scipy.optimize as so
from sklearn.datasets import make_moons

import tinygraph as tg


def main(methods=("L-BFGS-B", "CG", "TNC"), maxiter=2000):
    X, y = make_moons(200, noise=0.2, random_state=0)
    print(f"{'method':10} {'loss':>9} {'accuracy':>9}")
    results = {}
    for method in methods:
        model = tg.Sequential([tg.Dense(2, 3), tg.Sigmoid(), tg.Dense(3, 2), tg.Sigmoid(), tg.CrossEntropy()],
                              l2=0.001, init="sigmoid", random_state=0)
        options = {"maxfun": maxiter} if method == "TNC" else {"maxiter": maxiter}
        res = so.minimize(model.loss_and_grad, model.theta, args=(X, y), jac=True, method=method,
                          options=options)
        model.theta[:] = res.x
        results[method] = model.score(X, y)
        print(f"{method:10} {res.fun:9.6f} {results[method]:9.3f}")
    return results


if __name__ == "__main__":
    # Quick at full size: the example gallery (TINYGRAPH_GALLERY=1) runs it as it is.
    main()
