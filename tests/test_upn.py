"""The UPN check: a hand-worked check letter, and the vectorised check agreeing with the
one-at-a-time check on every kind of UPN an MIS export can hold."""

from __future__ import annotations

import random

from attendance.upn import CHECK_LETTERS, check_letter, make_upn, upn_problem, upn_problems


def test_check_letter_worked_by_hand() -> None:
    # 2*2 + 3*0 + 4*1 + 5*3 + 6*0 + 7*0 + 8*0 + 9*1 + 10*2 + 11*0 + 12*0 + 13*1 = 65;
    # 65 mod 23 = 19 -> W. A temporary UPN ending in A (0): 52 mod 23 = 6 -> G.
    assert check_letter("201300012001") == "W"
    assert upn_problem("W201300012001") is None
    assert upn_problem("G20130001200A") is None
    assert upn_problem("X201300012001") == "UPN check letter is 'X', expected 'W'"
    # Digits of other scripts are digits to str.isdigit, never in a UPN.
    assert (
        upn_problem("W201300012001".replace("0", "\u0660")) == "UPN characters 2-12 must be digits"
    )
    assert upn_problem("W20130001200\u0661") is not None


def test_upn_problems_agree_with_upn_problem_one_at_a_time() -> None:
    rng = random.Random(7)
    valid = [make_upn("201", "3000", 20, serial) for serial in range(200)]
    wrong_letter = [CHECK_LETTERS[(CHECK_LETTERS.index(u[0]) + 1) % 23] + u[1:] for u in valid[:50]]
    temporary = [
        check_letter(u[1:12] + t) + u[1:12] + t
        for u, t in zip(valid[:23], CHECK_LETTERS, strict=True)
    ]
    temporary += ["G20130001200A", "A20130001200I"]
    odd = [
        "",
        "W20130001200",
        "W2013000120011",
        "w201300012001",
        "W20130001200a",
        "W2013000I2001",
        "W20130001200-",
        "W２01300012001",
        "W201300012001 ",
        "1201300012001",
        "W201300012001".replace("0", "٠"),
        "W20130001200S",
        "É201300012001",
    ]
    noise = ["".join(rng.choice("0123456789ABW ") for _ in range(13)) for _ in range(300)]
    upns = valid + wrong_letter + temporary + odd + noise
    rng.shuffle(upns)

    expected = [upn_problem(u) for u in upns]
    assert upn_problems(upns) == expected
    assert upn_problems([]) == []
    assert sum(p is None for p in expected) >= len(valid) + 23  # the valid ones stay valid
