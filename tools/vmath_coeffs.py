#!/usr/bin/python3
"""vmath_coeffs.py - the polynomial coefficients of runtime/vmath.c.

Each polynomial is fitted by weighted least squares at Chebyshev nodes
against mpmath's 40-digit functions, the weight making the error relative to
the final result (not to the polynomial's own value); the coefficients are
rounded to float one at a time, from the constant term up, refitting the
higher ones after each rounding. Prints the C initialisers vmath.c holds and
the fitted relative error of each (the float arithmetic that evaluates them
adds its own rounding; tests/runtime/test_vmath.c measures the whole).

Needs numpy and mpmath (Debian: python3-numpy, python3-mpmath); netc's build
and tests do not run it.
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 40


def fit(f, a, b, deg, var, weight, nodes=3000):
    """Float coefficients c with sum c[i] var(z)^i ~ f(z) on [a, b]."""
    k = np.arange(nodes)
    z = (a + b) / 2 + (b - a) / 2 * np.cos(np.pi * (k + 0.5) / nodes)
    y = np.array([float(f(mp.mpf(float(v)))) for v in z])
    t = var(z)
    w = weight(z)
    basis = np.vstack([t**i for i in range(deg + 1)]).T
    c = np.zeros(deg + 1)
    rest = y.copy()
    for j in range(deg + 1):
        cj, *_ = np.linalg.lstsq(basis[:, j:] * w[:, None], rest * w, rcond=None)
        c[j] = np.float32(cj[0])
        rest = rest - c[j] * basis[:, j]
    return c, np.max(np.abs((basis @ c - y) * w))


def show(name, c, err, note):
    print(f"/* {note}: fitted relative error {err:.2e} */")
    print(f"static const float {name}[{len(c)}] = {{")
    print("    " + ", ".join(f"{np.float32(v).item():.9e}f" for v in c) + ",")
    print("};")


LN2_2 = float(mp.log(2) / 2)
erfc_np = np.vectorize(lambda v: float(mp.erfc(v)))

# expm1(r) = r + r^2 Q(r), |r| <= ln2/2
c, e = fit(lambda r: (mp.expm1(r) - r) / r**2 if r != 0 else mp.mpf(1) / 2, -LN2_2, LN2_2, 5,
           lambda r: r, lambda r: r**2 / np.abs(np.expm1(r)))
show("EXPM1_Q", c, e, "expm1(r) = r + r^2 Q(r) on |r| <= ln2/2")

# tanh(x) = x + x s P(s), s = x^2, 0 <= x <= 0.625
c, e = fit(lambda x: (mp.tanh(x) / x - 1) / x**2, 1e-4, 0.625, 5,
           lambda x: x * x, lambda x: x**3 / np.tanh(x))
show("TANH_P", c, e, "tanh(x) = x + x s P(s), s = x^2, |x| < 0.625")

# erf(z) = z + z Y(s), s = z^2, |z| < 0.75 (error relative to erfc = 1 - erf)
c, e = fit(lambda z: mp.erf(z) / z - 1, 1e-6, 0.75, 6,
           lambda z: z * z, lambda z: z / erfc_np(z))
show("ERF_Y", c, e, "erf(z) = z + z Y(s), s = z^2, |z| < 0.75")

# erfc(z) = exp(-z^2) R(z): R(z) = ERFC_P(z - ERFC_Z0) for 0.75 <= z < 2.5,
# R(z) = ERFC_S(1 / z^2) / z for 2.5 <= z <= 11 (the asymptotic series'
# shape; erfc(11) is far below the smallest float)
R = lambda z: mp.erfc(z) * mp.exp(z * z)
z0 = float(np.float32(1.625))
c, e = fit(R, 0.75, 2.5, 10, lambda z: z - z0,
           lambda z: 1 / np.array([float(R(mp.mpf(v))) for v in z]))
print(f"#define ERFC_Z0 {z0}f")
show("ERFC_P", c, e, "erfc(z) = exp(-z^2) P(z - ERFC_Z0), 0.75 <= z < 2.5")
c, e = fit(lambda z: R(z) * z, 2.5, 11, 7, lambda z: 1 / (z * z),
           lambda z: 1 / np.array([float(R(mp.mpf(v)) * v) for v in z]))
show("ERFC_S", c, e, "erfc(z) = exp(-z^2) S(1/z^2) / z, 2.5 <= z <= 11")
