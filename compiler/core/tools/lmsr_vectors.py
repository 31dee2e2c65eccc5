#!/usr/bin/env python3
"""Writes compiler/core/tests/data/lmsr_vectors.txt: exact LMSR potentials and the lmsr.md §8.3
trade checks, from mpmath at 300 bits, for compiler/core/tests/lmsr_reference.rs (the MARKET
reference model's own tests). Re-bless by running `python3 compiler/core/tools/lmsr_vectors.py`
from the workspace root.

Lines (decimal integers unless marked hex; every value is floor(exact × 2^64), 64 bits below the
base unit):
- `phi <b> <n> <Φ, hex> <r_0 … r_(n−1), hex>`: Φ(r) = m + b·ln Σ_w e^((r_w − m)/b), m = max r.
- `check <id> cost <shares> <cost, hex>`: the exact charge of a check of lmsr.md §8.3.
- `check <id> proceeds <shares> <proceeds, hex>`, `check <id> shares <x, hex>` (a spend's
  exact share count), `check <id> price <yes_mask> <no_mask> <price, hex>` (the basket's exact
  price after the check's trade).
The checks use b = 100·10^6 base units (1 unit = 10^6 base units) and 10 units = 10·10^6 shares,
the exact prior q0_w = b·ln p_w, index = 4A + 2B + C."""
import random
from mpmath import mp, mpf, exp, log, floor, fsum

mp.prec = 300
SCALE = mpf(2) ** 64
rng = random.Random(0x15_4D5B_EC70)


def phi(b, q):
    """The exact LMSR potential of share vector q (mpf or int values)."""
    b = mpf(b)
    m = max(q)
    return m + b * log(fsum(exp((mpf(x) - m) / b) for x in q))


def fx(value):
    """floor(value × 2^64) as hex (a leading '-' for negatives)."""
    v = int(floor(value * SCALE))
    return f"{v:#x}" if v >= 0 else f"-{-v:#x}"


lines = []

# (a) Random states. n = 1024 gets fewer states; b is log-uniform in [1, 2^40] with the edges and
# the §8 value b = 100·10^6 always present; r_w is uniform in [0, 30·b].
plan = [(2, 27), (3, 27), (5, 27), (8, 27), (16, 27), (64, 27), (256, 27), (1024, 8)]
for n, count in plan:
    for k in range(count):
        if k == 0:
            b = 1
        elif k == 1:
            b = 1 << 40
        elif k in (2, 3):
            b = 100 * 10**6
        else:
            b = max(1, int(2 ** (rng.random() * 40)))
        r = [rng.randrange(0, 30 * b + 1) for _ in range(n)]
        if k % 5 == 4:
            r[rng.randrange(n)] = 0  # a shifted state: some world at 0
        lines.append(f"phi {b} {n} {fx(phi(b, r))} " + " ".join(f"{x:#x}" for x in r))
# A few wide states (spread up to 60·b, past the template's 45·b cut-off): the fixed-point
# potential drops the far worlds, the test widens its lower bound by b·e^-45 per dropped world.
for k in range(8):
    n = [2, 8, 64][k % 3]
    b = [1, 1000, 100 * 10**6, 1 << 40][k % 4]
    r = [rng.randrange(0, 60 * b + 1) for _ in range(n)]
    lines.append(f"phi {b} {n} {fx(phi(b, r))} " + " ".join(f"{x:#x}" for x in r))

# (b) lmsr.md §8.3 T1–T7, recomputed from the definitions.
B = 100 * 10**6
X = 10 * 10**6
seed_p = [mpf(k) / 20 for k in (4, 1, 3, 2, 2, 1, 5, 2)]  # 0.20, 0.05, 0.15, 0.10, …
uniform2 = [mpf(0), mpf(0)]
uniform8 = [mpf(0)] * 8
seed_q0 = [B * log(p) for p in seed_p]


def bump(q, worlds, x):
    return [v + x if w in worlds else v for w, v in enumerate(q)]


def cost(q, worlds, x):
    return phi(B, bump(q, worlds, x)) - phi(B, q)


def price(q, worlds):
    m = max(q)
    terms = [exp((v - m) / B) for v in q]
    return fsum(terms[w] for w in worlds) / fsum(terms)


def joint(yes, no, events=3):
    return [w for w in range(1 << events) if w & yes == yes and w & no == 0]


def check(name, kind, *fields):
    lines.append(f"check {name} {kind} " + " ".join(str(f) for f in fields))


A, AB, C101 = joint(4, 0), joint(6, 0), joint(5, 2)
NOT_A = joint(0, 4)

# T1: binary, uniform, buy 10 of outcome 0 (world 0 = (yes 0, no 1)).
t1 = cost(uniform2, [0], X)
check("T1", "cost", X, fx(t1))
check("T1", "price", 0, 1, fx(price(bump(uniform2, [0], X), [0])))
assert abs(t1 / 10**6 - mpf("5.12494795136255854")) < mpf(10) ** -15

# T2: 8 worlds uniform, buy 10 of slice A: equals T1 (lumpability).
t2 = cost(uniform8, A, X)
check("T2", "cost", X, fx(t2))
check("T2", "price", 4, 0, fx(price(bump(uniform8, A, X), A)))
assert abs(t2 - t1) < mpf(10) ** -60

# T3: seed table, buy 10 of slice A∧B; T3a: the prices afterwards.
t3 = cost(seed_q0, AB, X)
check("T3", "cost", X, fx(t3))
assert abs(t3 - B * log(1 + mpf("0.35") * (exp(mpf(X) / B) - 1))) < mpf(10) ** -60
after = bump(seed_q0, AB, X)
for yes, no in [(6, 0), (4, 0), (2, 0), (1, 0)] + [(w, 7 & ~w) for w in range(8)]:
    check("T3a", "price", yes, no, fx(price(after, joint(yes, no))))
assert abs(price(after, AB) - mpf("0.373076926327336319")) < mpf(10) ** -17

# T4: seed, spend 10 on A: x = b·ln(1 + (e^(c/b) − 1)/P(A)) with P(A) = 1/2; the cost of ⌊x⌋.
x4 = B * log(1 + (exp(mpf(X) / B) - 1) / price(seed_q0, A))
check("T4", "shares", fx(x4))
check("T4", "cost", int(floor(x4)), fx(cost(seed_q0, A, int(floor(x4)))))
assert abs(cost(seed_q0, A, x4) - X) < mpf(10) ** -60

# T5: seed, move P(A) 0.5 → 0.6: x = b·ln 1.5; the cost and price of the nearest integer.
x5 = B * log(mpf(3) / 2)
n5 = int(floor(x5 + mpf(1) / 2))
check("T5", "shares", fx(x5))
check("T5", "cost", n5, fx(cost(seed_q0, A, n5)))
check("T5", "price", 4, 0, fx(price(bump(seed_q0, A, n5), A)))
assert abs(cost(seed_q0, A, x5) - B * log(mpf(5) / 4)) < mpf(10) ** -60

# T6: seed, buy 10 of corner 101 (yes 101, no 010).
check("T6", "cost", X, fx(cost(seed_q0, C101, X)))
check("T6", "price", 5, 2, fx(price(bump(seed_q0, C101, X), C101)))

# T7: seed, sell 10 of A: Φ(q0) − Φ(q0 − 10·1_A).
t7 = phi(B, seed_q0) - phi(B, bump(seed_q0, A, -X))
check("T7", "proceeds", X, fx(t7))
assert abs(t7 + cost(seed_q0, NOT_A, X) - X) < mpf(10) ** -60

with open("compiler/core/tests/data/lmsr_vectors.txt", "w") as out:
    out.write("# generated by compiler/core/tools/lmsr_vectors.py (mpmath, 300 bits): do not edit;"
              " re-bless with `python3 compiler/core/tools/lmsr_vectors.py` from the workspace root\n")
    for line in lines:
        out.write(line + "\n")
