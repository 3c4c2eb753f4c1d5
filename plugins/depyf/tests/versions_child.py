"""Run inside another CPython (3.10 to 3.13) by ``test_versions.py``: round-trips a fixed set of
constructs and a seeded sample of the generated corpus through the decompiler of that interpreter,
and prints one JSON line. It imports only the plugin's source (on PYTHONPATH), never the kernel."""

from __future__ import annotations

import json
import random
import sys
from typing import Any

from skyplex_depyf.corpus import gen_function, gen_generator, outcome_of
from skyplex_depyf.decompiler import decompile

# each construct is run on these inputs after the round-trip, and must give the original's results
CONSTRUCTS = {
    "comprehensions": ("def f(a, b):\n    xs = list(range(a % 5 + 2))\n"
                       "    return [x * b for x in xs if x], {x for x in xs}, {x: -x for x in xs}\n"),
    "nested_comprehension": "def f(a, b):\n    return [[y + x for y in range(x)] for x in range(a % 4)]\n",
    "comprehension_in_call": "def f(a, b):\n    return sum([x for x in range(a % 6)]) + len({b})\n",
    "comprehension_stored_over_its_variable": ("def f(a, b):\n    x = b\n    x = [x for x in range(a % 3)]\n"
                                               "    return x\n"),
    "slices": "def f(a, b):\n    xs = list(range(9))\n    xs[1:3] = [a, b]\n    return xs[a % 3:b % 5], xs[::2]\n",
    "return_constant": "def f(a, b):\n    if a > b:\n        return 1\n    return None\n",
    "and_or_values": "def f(a, b):\n    y = a and b\n    z = a or b\n    return y, z\n",
    "fstring_conversions": "def f(a, b):\n    return f'{a!r:>{b % 4 + 1}}|{b!s}|{a:03}'\n",
    "keyword_call": "def f(a, b):\n    return dict(x=a, y=b), sorted([b, a], reverse=True)\n",
    "closure_with_default": ("def f(a, b):\n    def inner(q=1):\n        return a + q\n"
                            "    return inner(b) + inner()\n"),
    "method_call": "def f(a, b):\n    return str(a).replace('1', str(b)).upper()\n",
    "unary_plus_and_tuple_unpack": "def f(a, b):\n    return +a, (*[a], b)\n",
    "generator": "def f(a, b):\n    yield from range(a % 3)\n    x = yield b\n    yield x\n",
    "while_in_for": ("def f(a, b):\n    t = 0\n    for i in range(a % 4):\n        k = 0\n"
                     "        while k < b % 3:\n            k += 1\n            t += k\n    return t\n"),
    "try_returning": ("def f(a, b):\n    try:\n        return a // b\n    except ZeroDivisionError:\n"
                      "        return 0\n"),
    "try_finally_returning": ("def f(a, b):\n    x = 0\n    try:\n        x = a // b\n    finally:\n"
                              "        if b:\n            return 3\n    return x\n"),
    "with_statement": ("def f(a, b):\n    import contextlib\n    with contextlib.nullcontext(a) as v:\n"
                       "        b += v\n    for k in range(2):\n        b += k\n    return b\n"),
    "finally_with_conditional_expression": ("def f(a, b):\n    y = 0\n    for i in range(2):\n        try:\n"
                                            "            y += a // b\n        finally:\n"
                                            "            y = y + 1 if b else y - 1\n    return y\n"),
    "with_then_return": ("def f(a, b):\n    import contextlib\n    with contextlib.nullcontext(a) as v:\n"
                         "        b += v\n    return b\n"),
    # a loop long enough that its back-jump needs an EXTENDED_ARG prefix
    "long_loop": ("def f(a, b):\n    t = 0\n    for i in range(a % 3):\n"
                  + "".join(f"        t += i * {k} - b\n" for k in range(80)) + "    return t\n"),
    # a try body ending in ``return constant`` (3.12+ leaves the load unprotected) before an except clause
    # whose own branch returns: the clause goes after that return, as 3.11 laid it out
    "try_returning_constant_except_returning": ("def f(a, b):\n    x = 0\n    try:\n        x -= a // b\n"
                                                "        return 6 - 7\n"
                                                "    except ZeroDivisionError as err:\n        if a:\n"
                                                "            return x\n    return a, b, x\n"),
    # a try in an if's first arm with an elif after it: 3.12+ moves the except clause past the elif arm
    "try_in_if_before_elif": ("def f(a, b):\n    y = z = 0\n    if a > b:\n        try:\n            y += a // b\n"
                              "        except ZeroDivisionError:\n            y = 1\n    elif b:\n        z *= 2\n"
                              "    return a, b, y, z\n"),
    # a with ending an if arm that has an else: 3.12+ moves the exit handler past the else arm
    "with_in_if_before_else": ("def f(a, b):\n    import contextlib\n    x = 0\n    if a > b:\n"
                               "        with contextlib.nullcontext(b) as v:\n            x = v * 2\n"
                               "    else:\n        x = 1\n    return a, b, x\n"),
    # an if arm ending in ``if c: return``, then an else: 3.12 threads the inner test past the else
    "nested_return_before_else": ("def f(a, b):\n    x = 0\n    if a > 0:\n        if b > a:\n"
                                  "            return x\n    else:\n        x -= 1\n    return a, b, x\n"),
    # a with as a try's whole body: 3.12+ jumps from both of its exits straight past the except clause
    "with_in_try": ("def f(a, b):\n    import contextlib\n    x = 0\n    try:\n"
                    "        with contextlib.nullcontext(b) as w:\n            x += a // w\n"
                    "    except ZeroDivisionError:\n        x = 1\n    return a, b, x\n"),
    # try/except/finally: 3.12+ protects no normal code with the finally handler, it trails the except
    # clauses; 3.11 put it after the normal path's copy of the finally body
    "try_except_finally": ("def f(a, b):\n    x = y = 0\n    try:\n        y = a // b\n"
                           "    except ZeroDivisionError as err:\n        y = 3\n    finally:\n        x *= 9\n"
                           "    k = 0\n    return a, b, x, y, k\n"),
    "try_except_finally_in_loop": ("def f(a, b):\n    x = 0\n    for i in range(a % 3):\n        try:\n"
                                   "            x -= b // i\n        except ZeroDivisionError:\n            x = 1\n"
                                   "        finally:\n            x += a\n        x *= 2\n    return x\n"),
    # a try body that always returns: the code after the statement is reached only from the handler,
    # and 3.12+ lays it out after the handler as 3.11 did
    "try_body_returning_then_code": ("def f(a, b):\n    x = 0\n    try:\n        if 8:\n"
                                     "            return 3 - 9\n    except ZeroDivisionError:\n        x = 3\n"
                                     "    return a, b, x\n"),
    # a try/except/else returning, ending an if arm with an else: its handler goes after the return
    "try_else_returning_in_if_arm": ("def f(a, b):\n    y = z = 0\n    if a > b:\n        try:\n"
                                     "            y = a // b\n        except ZeroDivisionError:\n            pass\n"
                                     "        else:\n            return -1\n    else:\n        z -= 2\n"
                                     "    return a, b, y, z\n"),
    # a while in a constant-true if arm: 3.12 keeps a NOP where the loop's bottom test falls out
    "while_in_constant_if": ("def f(a, b):\n    k = 0\n    if 6:\n        while k < a % 4:\n            k += 1\n"
                             "    else:\n        k = b\n    x = max(k, 0)\n    return a, b, k, x\n"),
    # a with body ending in return: the exit handler goes after the return
    "with_returning": ("def f(a, b):\n    import contextlib\n    with contextlib.nullcontext(b) as w:\n"
                       "        return a & w\n"),
    # an except clause holding a with, before a short returning tail: 3.12+ copies that tail into the
    # clause (3.11 jumped to it), and the with's clean-up comes last
    "with_in_except_before_short_tail": ("def f(a, b):\n    import contextlib\n    k = 0\n    try:\n"
                                         "        k = a // b\n    except ZeroDivisionError:\n"
                                         "        with contextlib.nullcontext(a):\n            k = 1\n"
                                         "    k3 = k\n"),
    # an if ending a finally body: 3.12 copies the handler's re-raise into the arm and keeps a NOP at
    # the arm's end in the normal path's copy
    "if_ending_finally": ("def f(a, b):\n    x = 0\n    try:\n        x = a // b\n    finally:\n"
                          "        if a > b:\n            x *= a\n    y = a\n    return x, y\n"),
    # a try/except/else ending an if arm with an else: 3.11 put the handler after the arm's closing jump
    "try_else_ending_if_arm": ("def f(a, b):\n    y = z = 0\n    if a > b:\n        try:\n            y = a // b\n"
                               "        except ZeroDivisionError:\n            pass\n        else:\n"
                               "            y += 2\n"
                               "    else:\n        z -= 2\n    return a, b, y, z\n"),
    # an if arm that passes ending a finally body: 3.12 copies the handler's re-raise into the arm
    "passing_arm_ending_finally": ("def f(a, b):\n    x = 0\n    try:\n        x = a // b\n    finally:\n"
                                   "        if a > b:\n            pass\n        else:\n            x *= b or a\n"
                                   "    y = a\n    return x, y\n"),
    # an except clause in a while loop that continues on one path and falls out of the try on the
    # other: 3.11 put the handler before the loop's bottom test, where the try ends
    "try_in_while_continuing": ("def f(a, b):\n    k = 0\n    while k < 2:\n        k += 1\n        try:\n"
                                "            b = a // b\n        except ZeroDivisionError:\n            if a:\n"
                                "                continue\n    return k, b\n"),
    # a conditional expression returned: 3.12+ fuses ``return 5`` into RETURN_CONST but not this arm
    "returned_conditional_constant": ("def f(a, b):\n    if a > b:\n        return 5 if b else a\n"
                                      "    return b\n"),
    # an if of a folded constant returning: 3.12+ keeps its line as a NOP the arm above jumps to,
    # where ``return 7`` alone would be copied into that arm
    "folded_if_returning_after_if_else": ("def f(a, b):\n    if a > b:\n        a += 1\n    else:\n"
                                          "        b += 1\n    if (6, -2)[1]:\n        return 7\n"),
    # ``if x: continue`` ending a loop: 3.12+ puts the continue's back-jump second and reverses the test
    "continue_ending_a_loop": ("def f(a, b):\n    t = 0\n    for j in range(a % 4):\n        t += j\n"
                               "        if t > b:\n            continue\n    return t\n"),
    # a comprehension in a finally body left by a continue: 3.12+ inlines it in each of the body's copies
    "comprehension_in_finally_left_by_continue": ("def f(a, b):\n    x = []\n    for i in range(a % 3):\n"
                                                  "        try:\n            b += 1 // (i - 1)\n"
                                                  "        except ZeroDivisionError:\n            if a:\n"
                                                  "                continue\n        finally:\n"
                                                  "            x = [5 + b for j in range(i)]\n    return x\n"),
    # jumps to long jumps (EXTENDED_ARG prefixes) across a folded constant elif's NOP, which moves offsets
    "long_jumps_past_a_folded_elif": ("def f(a, b):\n    t = 0\n    if a > 5:\n        if b:\n"
                                      "            return 1\n    elif (9 or 7):\n        for i in range(a % 3):\n"
                                      + "".join(f"            t += i * {k} - b\n" for k in range(60))
                                      + "    return t\n"),
    # a try whose else clause returns and whose handler carries on to the code after the statement:
    # 3.12+ keeps 3.11's layout (the handler after the else clause's return), nothing moves
    "try_else_returning_handler_carries_on": ("def f(a, b):\n    x = 0\n    try:\n        if a > b:\n"
                                              "            return 0\n    except ZeroDivisionError:\n"
                                              "        x = 1\n    else:\n        return a // b\n"
                                              "    return a, b, x\n"),
    # a try/except/else ending an if arm whose else clause loops before returning, a try/finally in
    # the else arm: 3.11 put the handler after the else clause's return, and it jumps to the end of
    # the if (where the finally handler also goes back) unchanged
    "try_else_looping_then_returning_in_if_arm": ("def f(a, b):\n    x = 0\n    if a > b:\n        try:\n"
                                                  "            x = a // b\n        except ZeroDivisionError:\n"
                                                  "            x = 1\n        else:\n"
                                                  "            for i in range(a % 3):\n                x += i\n"
                                                  "            return x\n    else:\n        try:\n"
                                                  "            x = 4\n        finally:\n            b = 5\n"
                                                  "    return a, b, x\n"),
    # a with ending an if arm whose body ends in ``if c: return v``: the return leaves the protected
    # range; 3.11 put the exit handler after the arm's closing jump
    "with_ending_in_return_in_if_arm": ("def f(a, b):\n    import contextlib\n    x = 0\n    if a > 0:\n"
                                        "        with contextlib.nullcontext(b) as w:\n            if w > a:\n"
                                        "                return w\n    else:\n        x -= b\n"
                                        "    return a, b, x\n"),
    # an if/else ending a finally body, each arm storing the same name, then a return: 3.12+ copies
    # the return into each arm of the normal copy and the re-raise into each arm of the handler's
    "if_else_ending_finally_before_return": ("def f(a, b):\n    x = 0\n    try:\n        x = a // b\n"
                                             "    finally:\n        if a > b:\n            x = 2\n"
                                             "        else:\n            x = 3\n    return x\n"),
    # an if/elif ending a finally body inside an if arm: 3.12+ copies the code after the outer if into
    # every arm's end; 3.11 jumped to it, the elif's test landing on the arm's jump, which was also
    # the jump over the finally handler
    "if_elif_ending_finally_in_if_arm": ("def f(a, b):\n    z = 0\n    if a:\n        try:\n"
                                         "            z = a // b\n        finally:\n            if b > 6:\n"
                                         "                pass\n            elif a > 7:\n                z = 4\n"
                                         "    else:\n        z = -3\n    return a, z\n"),
    # a break out of an inner for loop ending the outer loop's body: 3.12+ copies the outer loop's
    # back-jump into the break, where 3.11 fell into the one after the inner loop
    "break_from_inner_loop_ending_outer": ("def f(a, b):\n    t = 0\n    for i in range(a % 3):\n"
                                           "        for j in range(b % 4):\n            if j > i:\n"
                                           "                break\n            t += j\n    return t\n"),
    # a with ending an except clause: 3.13 gives the with's normal exit its own copy of the clause's
    # ``POP_EXCEPT`` and jump out, where 3.11 and 3.12 jumped to the exit handler's
    "with_ending_except_clause": ("def f(a, b):\n    import contextlib\n    x = 0\n    try:\n"
                                  "        x = a // b\n    except ZeroDivisionError:\n"
                                  "        with contextlib.nullcontext(a) as w:\n            x = w\n"
                                  "    return a, b, x\n"),
    # ``if c: return 5`` in a finally body, copied before the try body's ``return`` as 3.11 copies it:
    # the copies of a finally body are no copied code after an if, and stay as they are
    "if_return_in_finally_copied_before_return": ("def f(a, b):\n    y = 0\n    try:\n        if a > b:\n"
                                                  "            return 6\n        y = a // b\n    finally:\n"
                                                  "        y += 1\n        if b:\n            return 5\n"
                                                  "    return y\n"),
    # an if arm ending in ``if c: return 5`` (RETURN_CONST, read as two instructions at n and n + 1),
    # then an else: the arm's closing jump 3.11 had needs a free offset before the else arm
    "nested_return_constant_before_else": ("def f(a, b):\n    x = 0\n    if a > 0:\n        if b > a:\n"
                                           "            return 5\n    else:\n        x -= 1\n    return a, b, x\n"),
    # a try body ending in ``if c: return v`` that ends an if arm with an else: 3.11 put the handler
    # after the arm's closing jump, which the inner test lands on
    "try_ending_in_return_in_if_arm": ("def f(a, b):\n    x = 0\n    if a > 0:\n        try:\n"
                                       "            if b > a:\n                return b // a\n"
                                       "        except ZeroDivisionError:\n            x = 1\n    else:\n"
                                       "        x -= 1\n    return a, b, x\n"),
    # a while loop after an if, in a folded if: the code after the loop is copied to both of its
    # exits, by 3.11 too; the copy where the bottom test falls out ends no if arm and stays
    "while_after_nested_return_constant": ("def f(a, b):\n    if 2:\n        if b > 5:\n            if a:\n"
                                           "                return 2\n        else:\n            b *= a\n"
                                           "        while a > 99:\n            pass\n"),
    # a try/except/else ending a loop body, its else clause holding a conditional expression: 3.11
    # put the handler (which goes back to the loop's head) after the body's back-jump, not after the
    # expression's jump
    "try_else_with_conditional_expression_ending_loop": ("def f(a, b):\n    x = 0\n    for i in range(a % 3):\n"
                                                         "        try:\n            x += b // i\n"
                                                         "        except ZeroDivisionError:\n            pass\n"
                                                         "        else:\n            x = b if x else a\n"
                                                         "    return x\n"),
    # a try/except nested in a try whose else clause holds a try/finally: 3.12+ lays the outer except
    # clause after the finally handler; 3.11 put it after the else clause, where it leaves to
    "nested_try_then_else_with_finally": ("def f(a, b):\n    x = z = 0\n    try:\n        try:\n"
                                          "            z = a // b\n        except ZeroDivisionError as err:\n"
                                          "            z = 1\n    except TypeError:\n        z = 2\n"
                                          "    else:\n        try:\n            z -= a\n        finally:\n"
                                          "            x ^= a\n        x += z\n    return a, b, x, z\n"),
    # a try whose else clause returns, its body holding a try/finally: the code after the statement
    # is reached only from the except clause, which stays where 3.12+ put it, after the finally handler
    "try_else_returning_around_try_finally": ("def f(a, b):\n    x = 0\n    try:\n"
                                              "        for i in range(a % 3):\n            try:\n"
                                              "                x += b // i\n            finally:\n"
                                              "                x ^= a\n    except ZeroDivisionError as err:\n"
                                              "        pass\n    else:\n        if -3:\n            return a\n"
                                              "    return a, b, x\n"),
    # a with in an if arm followed by an if of a folded constant: the exit handler goes back to the
    # if's NOP, which the with's normal exit runs straight on to; 3.11 put the handler before it
    "with_before_folded_if": ("def f(a, b):\n    import contextlib\n    if a > b:\n"
                              "        with contextlib.nullcontext(a) as w:\n            b += w\n"
                              "        if 5 | 4:\n            pass\n"),
    # an if arm ending in ``if c: break`` before an else arm: 3.12 threads the inner test past the
    # else arm, 3.11 jumped to the arm's closing jump after the break
    "nested_break_before_else": ("def f(a, b):\n    k = 0\n    while k < 5:\n        k += 1\n"
                                 "        if a > k:\n            if b > k:\n                break\n"
                                 "        else:\n            b -= 1\n    return a, b, k\n"),
    # a for loop with a break ending an if arm before an elif: 3.12+ threads the break through the
    # arm's closing jump after the loop, past the elif; 3.11 jumped to the loop's end
    "break_threaded_past_elif": ("def f(a, b):\n    x = 0\n    if a > b:\n        for i in range(a % 4):\n"
                                 "            if i > b:\n                break\n            x += i\n"
                                 "    elif b:\n        x = 2\n    return a, b, x\n"),
    # a boolean operator ending an arm of a conditional expression: 3.12 threads its short-circuit jump
    # through the arm's closing jump; 3.11 jumped to that jump
    "boolean_ending_conditional_arm": ("def f(a, b):\n    k = 0\n    while k < 3:\n        k += 1\n"
                                       "        a = (a and 4) if b > k else (b or -3)\n    return a, b, k\n"),
    # an if arm ending in ``if c: return v`` whose test hops a jump to the elif arm: 3.12 threads the
    # inner test past the elif arm, 3.11 jumped to the arm's closing jump after the return
    "return_ending_negated_arm": ("def f(a, b):\n    x = 0\n    if not (b and -1):\n        b += a\n"
                                  "        if b + a:\n            return 1 >= b\n    elif 5:\n"
                                  "        while b > 0:\n            b -= 2\n    return a, b, x, b, x\n"),
    # an if of a folded constant before a short returning tail that an if arm's closing jump goes to:
    # its NOP keeps 3.12+ from copying the tail into the jump, as it copies it without the statement
    "folded_if_before_returning_tail": ("def f(a, b):\n    x = 0\n    if a > b:\n        while a > 0:\n"
                                        "            a -= 3\n    elif b:\n        x = 2\n"
                                        "    if 5 if 6 else 9:\n        return x\n    return a, b\n"),
    # a double negation nothing tests: 3.13 spells it TO_BOOL alone
    "double_negation": ("def f(a, b):\n    z = not (not a)\n    b = (not not b) + 1\n"
                        "    if not not a:\n        z = b\n    return z, b\n"),
    # an elif arm ending in a folded if: the arm's closing jump carries that if's line, so 3.12 does not
    # thread the loop's exit test through it
    "folded_if_ending_elif_arm": ("def f(a, b):\n    x = 0\n    if a > b:\n        x = 1\n    elif b - x:\n"
                                  "        k = 0\n        while k < a % 3:\n            k += 1\n            x += b\n"
                                  "        if not 6:\n            return 1 + x\n    else:\n        x = 5\n"
                                  "    for i in range(2):\n        x += i\n    return a, b, x\n"),
    # if/elif/else arms ending a for loop's body, one ending in a while loop: 3.12+ copies the loop's
    # closing back-jump into each arm's end (3.13 once per way out of the while loop), where a
    # ``continue`` would keep a line of its own
    "arms_ending_for_body": ("def f(a, b):\n    z = 0\n    for i in range(a % 5):\n        if b < 2:\n"
                             "            z = 1\n        elif i:\n            k = 0\n            while k < 2:\n"
                             "                k += 1\n        else:\n            z -= b\n    return z\n"),
    # a returned boolean operator of constants that a break jumps to: 3.12+ folds the operator after
    # fusing ``return c``, so the constant stays a load the break jumps to, not a copied return
    "folded_boolean_returned_after_break": ("def f(a, b):\n    for i in range(a % 4):\n        b += i\n"
                                            "        break\n    return (-1 and 5)\n"),
    # a for loop's body ending in ``if c: break`` inside a folded if: 3.13 lays the loop's closing
    # back-jump after the break, where the test jumps to it
    "break_in_folded_if_ending_loop": ("def f(a, b):\n    z = 0\n    for i in range(a % 3):\n        if 5:\n"
                                       "            if max(z, b):\n                break\n        else:\n"
                                       "            z = 1\n    return z\n"),
    "cell_comprehension": "def f(a, b):\n    return [(lambda: i)() for i in range(a % 4)]\n",
    # a try statement ending an except clause: 3.13 lets the inner handler's POP_EXCEPT fall into the
    # outer clause's exit; 3.11 and 3.12 jump to that exit after the inner handler's clean-up
    "try_ending_except_clause": ("def f(a, b):\n    if a:\n        try:\n            b = b // (a % 2)\n"
                                 "        except ZeroDivisionError:\n            try:\n"
                                 "                b = a // (b % 3)\n            except ZeroDivisionError:\n"
                                 "                b = a - 1\n    b += 1\n    return b\n"),
    "try_ending_except_clause_in_loop": ("def f(a, b):\n    for j in range(3):\n        try:\n"
                                         "            b = b // (a % 2)\n        except ZeroDivisionError:\n"
                                         "            try:\n                b = a // (b % 3)\n"
                                         "            except ZeroDivisionError as err:\n"
                                         "                b = a + j\n        b += 1\n    return b\n"),
    # a try body ending in ``if c: ... else: pass``: 3.13's then arm jumps past the else arm's NOP to
    # the finally body's normal copy; 3.11 ended both arms in one jump over the handlers
    "try_body_ending_in_else_pass": ("def f(a, b):\n    x = 0\n    try:\n        if a > b:\n"
                                     "            x = a // b\n        else:\n            pass\n"
                                     "    except (ZeroDivisionError, TypeError) as err:\n        x = 2\n"
                                     "    finally:\n        x += 1\n    return x\n"),
    # the same with an ``as`` name on the outer clause: its exit is ``POP_EXCEPT`` and the name's
    # clean-up before the jump
    "try_ending_named_except_clause": ("def f(a, b):\n    try:\n        b = b // (a % 2)\n"
                                       "    except (ZeroDivisionError, TypeError) as err:\n        try:\n"
                                       "            b = a // (b % 3)\n        except ZeroDivisionError as err:\n"
                                       "            b = a - 1\n    b += 1\n    return b\n"),
}
INPUTS = [(0, 0), (1, 2), (-3, 5), (7, -1), (4, 4), (10, 3)]
# methods: only decompiled and proven by the recompile check (a method needs its class to run)
METHODS = {
    "super_method_call": "class K(dict):\n    def f(self, key):\n        return super().get(key, 0)\n",
    "super_attribute": "class K(dict):\n    def f(self):\n        return super().__class__\n",
    "try_in_loop_continuing": ("class K:\n    def f(self, xs):\n        for x in xs:\n            try:\n"
                               "                self.n = 1 // x\n            except ZeroDivisionError:\n"
                               "                continue\n        return self\n"),
}


def judge(source: str) -> str:
    """'ok', 'refused: <why>' or 'wrong: <how>' for the function ``f`` (or ``generated``) in ``source``."""
    namespace: dict = {}
    exec(compile(source, "<case>", "exec", dont_inherit=True), namespace)
    name = "f" if "f" in namespace else "generated"
    original = namespace[name]
    result = decompile(original)
    if not result.ok:
        return f"refused: {result.refusal}"
    rebuilt: dict = {}
    try:
        exec(compile(result.source, "<decompiled>", "exec", dont_inherit=True), rebuilt)
    except SyntaxError as exc:
        return f"wrong: does not compile: {exc}"
    problem = outcome_of(original, INPUTS)(rebuilt[name])
    return f"wrong: {problem}" if problem else "ok"


def proven(source: str) -> str:
    """'ok' when ``K.f`` in ``source`` decompiles (and so recompiles to the same bytecode), else why not."""
    namespace: dict = {}
    exec(compile(source, "<case>", "exec", dont_inherit=True), namespace)
    result = decompile(namespace["K"].f)
    return "ok" if result.ok else f"refused: {result.refusal}"


def _made_jumps_one_further(rule, opname: str = "JUMP_FORWARD"):
    """``rule`` with every ``opname`` jump it made (where the stream held another instruction) landing
    one instruction further on."""

    def broken(stream: list, entries: list) -> list:
        out = rule(stream, entries)
        return [ins._replace(argval=ins.argval + 2) if ins.opname == opname and old.opname != ins.opname
                else ins for ins, old in zip(out, stream)]

    return broken


def mutate(name: str) -> None:
    """Break one front-end rule on purpose: what comes out must still never be wrong (the recompile
    check guards every output), only refused more often."""
    from skyplex_depyf import inlined, opcodes, versions

    if name == "jumps":  # every direction-free conditional jump read with the opposite condition
        table = opcodes.DIRECTIONLESS_JUMPS_312
        table["POP_JUMP_IF_FALSE"], table["POP_JUMP_IF_TRUE"] = "TRUE", "FALSE"
    elif name == "comprehensions":  # folded list comprehensions called set comprehensions
        inlined.COMPREHENSION_NAMES.update({"BUILD_LIST": "<setcomp>", "BUILD_SET": "<listcomp>"})
    elif name == "intrinsics":
        opcodes.INTRINSICS_312["INTRINSIC_UNARY_POSITIVE"] = "UNARY_NEGATIVE"
    elif name == "arms":  # each put-back closing jump of an if arm falls into the else arm instead
        real_arms = versions.close_threaded_arms

        def broken_arms(stream: list) -> tuple[list, int]:
            out, hops = real_arms(stream)
            return [ins._replace(argval=out[k + 1].offset) if ins.offset % 2 and ins.opname == "JUMP_FORWARD"
                    else ins for k, ins in enumerate(out[:-1])] + out[-1:], hops

        versions.close_threaded_arms = broken_arms
    elif name == "with_exits":  # a with's normal exit sent one instruction past the handler's closing jump
        real_exits = versions.thread_with_exits

        def broken_exits(stream: list, entries: list) -> tuple[list, list]:
            out, table = real_exits(stream, entries)
            return [ins._replace(argval=ins.argval + 2) if ins.argval != old.argval else ins
                    for ins, old in zip(out, stream)], table

        versions.thread_with_exits = broken_exits
    elif name == "nested_finally":  # a finally handler around a try/except left before its normal copy
        from skyplex_depyf import layout

        real_nested = layout._nested_finally

        def broken_nested(group: list, entries: list, cold: int, stream: list, position: dict, land: int) -> Any:
            found = real_nested(group, entries, cold, stream, position, land)
            return None if found is None else (found[0], found[1], land)

        layout._nested_finally = broken_nested
    elif name == "carried_on":  # the handler of a try that always returns put before the return's load
        from skyplex_depyf import layout

        real_carried = layout._carried_on

        def broken_carried(group: list, stream: list, position: dict, end: int, cold: int) -> Any:
            return None if real_carried(group, stream, position, end, cold) is None else end

        layout._carried_on = broken_carried
    elif name == "straight_return":  # a handler after a returning arm put between the load and the return
        from skyplex_depyf import layout

        real_straight = layout._straight_return

        def broken_straight(stream: list, k: int, stop: int) -> Any:
            found = real_straight(stream, k, stop)
            return None if found is None else found - 1

        layout._straight_return = broken_straight
    elif name == "lone_nop":  # whatever follows a loop's bottom test dropped, not only a lone NOP
        versions._Reader.lone_nop = lambda self, instrs, k: k < len(instrs)
    elif name == "exit_copies":  # a copied returning block replaced by a jump one instruction too far
        from skyplex_depyf import copies

        versions.share_exit_copies = _made_jumps_one_further(copies.share_exit_copies, "JUMP_BACKWARD")
    elif name == "twin_reraises":  # any re-raise dropped that falls into code, not only a twin
        from skyplex_depyf import tails

        def broken_twins(stream: list, entries: list) -> list:
            return [tails.as_op(ins, tails.DROPPED) if ins.opname == "RERAISE" and k + 1 < len(stream)
                    and stream[k + 1].opname not in ("RERAISE", "COPY") else ins for k, ins in enumerate(stream)]

        versions.drop_twin_reraises = broken_twins
    elif name == "arm_end_nops":  # the instruction before a dropped arm-end NOP dropped with it
        from skyplex_depyf import layout

        real_nops = layout._without_arm_end_nops

        def broken_nops(stream: list, landings: list, removed: dict, added: set) -> list:
            out = real_nops(stream, landings, removed, added)
            kept = {ins.offset for ins in out}
            gone = {stream[k - 1].offset for k, ins in enumerate(stream) if k and ins.offset not in kept}
            return [ins for ins in out if ins.offset not in gone]

        layout._without_arm_end_nops = broken_nops
    elif name == "arm_closing":  # the handler put before the else clause's last instruction, not after the arm
        from skyplex_depyf import layout

        real_closing = layout._arm_closing

        def broken_closing(stream: list, position: dict, k: int, exit: int, cold: int, arm_tests: set) -> Any:
            found = real_closing(stream, position, k, exit, cold, arm_tests)
            return None if found is None else stream[position[found] - 2].offset

        layout._arm_closing = broken_closing
    elif name == "shared_reraises":  # an arm's re-raise made a jump into the next arm
        from skyplex_depyf import tails

        real_shared = tails.share_reraises

        def broken_shared(stream: list, entries: list) -> list:
            out = real_shared(stream, entries)
            return [ins._replace(argval=stream[k + 1].offset)
                    if old.opname == "RERAISE" and ins.opname == "JUMP_FORWARD" else ins
                    for k, (ins, old) in enumerate(zip(out, stream))]

        versions.share_reraises = broken_shared
    elif name == "onward_exit":  # the handler's way back read one instruction past where it goes
        from skyplex_depyf import layout

        real_onward = layout._onward_exit

        def broken_onward(exits: Any, start: int) -> Any:
            found = real_onward(exits, start)
            return None if found is None else found + 2

        layout._onward_exit = broken_onward
    elif name == "return_const":  # the verifier compares RETURN_CONST whole again, not as its parts
        from skyplex_depyf import decompiler

        real_split = decompiler.split_superinstructions

        def whole_returns(instrs: Any) -> list:
            return [part for ins in instrs
                    for part in ([ins] if ins.opname == "RETURN_CONST" else real_split([ins]))]

        decompiler.split_superinstructions = whole_returns
    elif name == "return_jumps":  # the verifier compares a jump to ``return c`` as a jump again
        from skyplex_depyf import jumps312, versions

        versions._constant_returns = lambda instrs: {}
        # and the folded statement before such a return is not spelt out, which reads those functions
        # without comparing the jump as the return
        jumps312.kept_folded_statements = lambda stream, entries: stream
    elif name == "twin_back_jumps":  # a test over a back-jump onto another read like any other hop
        from skyplex_depyf import versions

        versions._Reader.twin_back_jumps = staticmethod(lambda instrs, k: False)
    elif name == "twin_comprehensions":  # each copy of a comprehension given a code object of its own
        inlined.InlinedComprehensions.twin_comprehension = lambda self, body: None
    elif name == "widened_jumps":  # the verifier compares a jump to an EXTENDED_ARG by raw offset again
        versions._widened = lambda instrs: {}
    elif name == "closed_return":  # a handler after a looping else clause put before its return
        from skyplex_depyf import layout

        real_closed = layout._closed_return

        def broken_closed(stream: list, k: int, stop: int, arm_tests: set, exit: int) -> Any:
            found = real_closed(stream, k, stop, arm_tests, exit)
            return None if found is None else found - 1

        layout._closed_return = broken_closed
    elif name == "inner_return":  # a with's exit handler put before its normal exit's last instruction
        from skyplex_depyf import layout

        real_inner = layout._past_inner_return

        def broken_inner(stream: list, position: dict, k: int, returned: int, exit: int, cold: int) -> Any:
            found = real_inner(stream, position, k, returned, exit, cold)
            return None if found is None else stream[position[found] - 2].offset

        layout._past_inner_return = broken_inner
    elif name == "return_copies":  # a copied return in an if arm replaced by a jump one instruction too far
        from skyplex_depyf import copies

        versions.share_return_copies = _made_jumps_one_further(copies.share_return_copies)
    elif name == "one_jump_per_landing":  # the test skipping an arm sent past the arm's jump
        from skyplex_depyf import copies

        def broken_landing(out: list) -> list:
            kept = [k for k, ins in enumerate(out) if ins.opname != copies.DROPPED]
            for a, b in zip(kept, kept[1:]):
                if (out[a].opname == out[b].opname == "JUMP_FORWARD" and out[a].argval == out[b].argval
                        and any(x.opname == copies.DROPPED for x in out[a + 1:b])):
                    out[b] = copies.as_op(out[b], copies.DROPPED)  # jumps to it move on to what follows
            return out

        copies._one_jump_per_landing = broken_landing
    elif name == "twin_jumps":  # a break's copied back-jump sent one instruction past the loop's end
        from skyplex_depyf import tails

        versions.drop_twin_jumps = _made_jumps_one_further(tails.drop_twin_jumps)
    elif name == "with_exit_tails":  # a with's normal exit sent past the handler's POP_EXCEPT
        from skyplex_depyf import tails

        versions.share_with_exit_tails = _made_jumps_one_further(tails.share_with_exit_tails)
    elif name == "whole_if_body":  # a finally body's ``if c: return 5`` taken for a copied return
        from skyplex_depyf import copies

        copies._whole_if_body = lambda stream, p, q: False
    elif name == "same_source":  # branch ends merged without asking whether they are one copied piece
        from skyplex_depyf import tails

        tails._same_source = lambda first, second: True
    elif name == "spaced_arm_jumps":  # the renumbered stream's forward tests sent one instruction further
        from skyplex_depyf import jumps312

        def broken_spaced(stream: list, entries: list) -> Any:
            out, table = jumps312.spaced_for_arm_jumps(stream, entries)
            if table is None:
                return out, table
            return [ins._replace(argval=ins.argval + 2) if ins.opname.startswith("POP_JUMP_FORWARD_IF_") else ins
                    for ins in out], table

        versions.spaced_for_arm_jumps = broken_spaced
    elif name == "closed_after_return":  # the handler put after the next arm's first instruction
        from skyplex_depyf import landings

        real_after = landings.closed_after_return

        def broken_after(stream: list, returned: int, stop: int, exit: int, arm_tests: set) -> Any:
            found = real_after(stream, returned, stop, exit, arm_tests)
            return None if found is None else stream[returned + 3].offset

        landings.closed_after_return = broken_after
    elif name == "loop_exits":  # the copy where a while loop's bottom test falls out taken for an arm's
        from skyplex_depyf import copies

        copies._loop_exits = lambda stream, p, q: False
    elif name == "loop_back_jump":  # the handler put one instruction past the loop body's back-jump
        from skyplex_depyf import landings

        real_back = landings.loop_back_jump

        def broken_back(stream: list, k: int, stop: int, heads: set) -> int:
            found = real_back(stream, k, stop, heads)
            return found if found == k else found + 1

        landings.loop_back_jump = broken_back
    elif name == "outer_landing":  # an outer try's cut-off handler put one instruction past its way out
        from skyplex_depyf import landings

        real_outer = landings.outer_landing

        def broken_outer(group: list, cold: int) -> Any:
            found = real_outer(group, cold)
            return None if found is None else found + 2

        landings.outer_landing = broken_outer
    elif name == "falls_onto":  # every handler put where it goes back, whatever the normal path runs into
        from skyplex_depyf import landings

        landings.falls_onto = lambda stream, k, exit: True
    elif name == "closed_jump_arms":  # an arm's put-back closing jump sent one instruction past its target
        from skyplex_depyf import jumps312

        real_arms = jumps312.closed_jump_arms

        def broken_jump_arms(stream: list) -> tuple[list, int]:
            out, added = real_arms(stream)
            return [ins._replace(argval=ins.argval + 2) if ins.offset % 2 and ins.opname == "JUMP_FORWARD"
                    else ins for ins in out], added

        jumps312.closed_jump_arms = broken_jump_arms
    elif name == "loop_ends":  # a threaded break sent one instruction past the loop's end
        from skyplex_depyf import jumps312

        real_ends = jumps312.breaks_to_loop_ends

        def broken_ends(stream: list) -> list:
            return [ins._replace(argval=ins.argval + 2) if ins.argval != old.argval else ins
                    for ins, old in zip(real_ends(stream), stream)]

        jumps312.breaks_to_loop_ends = broken_ends
    elif name == "nested_clause_exits":  # the inner handler's put-back jump sent past the outer exit's POP_EXCEPT
        from skyplex_depyf import jumps312

        real_exits = jumps312.nested_clause_exits

        def broken_exits(stream: list, entries: list) -> tuple[list, int]:
            out, moved = real_exits(stream, entries)
            return [ins._replace(argval=ins.argval + 2) if ins.offset % 2 and ins.opname == "JUMP_FORWARD"
                    else ins for ins in out], moved

        jumps312.nested_clause_exits = broken_exits
    elif name == "or_pop_arm_ends":  # a boolean operator's jump sent past the arm's closing jump
        from skyplex_depyf import jumps312

        real_or_pops = jumps312.or_pops_to_arm_ends

        def broken_or_pops(stream: list) -> list:
            return [ins._replace(argval=ins.argval + 2) if ins.argval != old.argval else ins
                    for ins, old in zip(real_or_pops(stream), stream)]

        jumps312.or_pops_to_arm_ends = broken_or_pops
    elif name == "negated_arms":  # an arm's put-back closing jump sent one instruction past its target
        from skyplex_depyf import jumps312

        real_negated = jumps312.closed_negated_arms

        def broken_negated(stream: list) -> tuple[list, int]:
            out, added = real_negated(stream)
            return [ins._replace(argval=ins.argval + 2) if ins.offset % 2 and ins.opname == "JUMP_FORWARD"
                    else ins for ins in out], added

        jumps312.closed_negated_arms = broken_negated
    elif name == "folded_statements":  # a folded statement's test sent past the tail's first instruction
        from skyplex_depyf import jumps312

        real_folded = jumps312.kept_folded_statements

        def broken_folded(stream: list, entries: list) -> list:
            out = real_folded(stream, entries)
            after = {ins.offset: stream[k + 1].offset for k, ins in enumerate(stream[:-1])}
            return [ins._replace(argval=after.get(ins.argval, ins.argval))
                    if ins.offset % 2 and ins.opname == "POP_JUMP_FORWARD_IF_FALSE" else ins for ins in out]

        jumps312.kept_folded_statements = broken_folded
    elif name == "double_negation":  # ``not not x`` read as ``not x``
        from skyplex_depyf import versions

        versions.double_negation = lambda ins: [versions._as(ins, "UNARY_NOT")]
    elif name == "folded_arm_ends":  # a put-back folded statement's test sent past the arm's closing jump
        from skyplex_depyf import jumps312

        real_arm_ends = jumps312.folded_arm_ends

        def broken_arm_ends(stream: list, entries: list) -> list:
            out = real_arm_ends(stream, entries)
            return [ins._replace(argval=ins.argval + 1) if ins.opname == "POP_JUMP_FORWARD_IF_FALSE" and k
                    and out[k - 1].offset % 2 and out[k - 1].argval is True else ins for k, ins in enumerate(out)]

        jumps312.folded_arm_ends = broken_arm_ends
    elif name == "loop_end_copies":  # an arm's copied back-jump sent past the loop's closing jump
        from skyplex_depyf import jumps312

        real_copies = jumps312.loop_end_copies

        def broken_copies(stream: list) -> list:
            after = {ins.offset: stream[k + 1].offset for k, ins in enumerate(stream[:-1])}
            return [ins._replace(argval=after.get(ins.argval, ins.argval)) if ins.opname != old.opname else ins
                    for ins, old in zip(real_copies(stream), stream)]

        jumps312.loop_end_copies = broken_copies
    elif name == "folded_constant_returns":  # ``() or c`` read as ``() and c``
        from skyplex_depyf import jumps312

        real_returns = jumps312.folded_constant_returns

        def broken_returns(stream: list) -> tuple[list, int]:
            out, count = real_returns(stream)
            return [versions._as(ins, "JUMP_IF_FALSE_OR_POP") if ins.opname == "JUMP_IF_TRUE_OR_POP"
                    and k and out[k - 1].opname == "BUILD_TUPLE" else ins for k, ins in enumerate(out)], count

        jumps312.folded_constant_returns = broken_returns
    elif name == "closing_after_exits":  # the put-back statement's test sent past the loop's closing jump
        from skyplex_depyf import jumps312

        real_closing = jumps312.closing_after_exits

        def broken_closing(stream: list, entries: list) -> list:
            out = real_closing(stream, entries)
            return [ins._replace(argval=ins.argval + 1) if ins.opname == "POP_JUMP_FORWARD_IF_FALSE" and k
                    and out[k - 1].offset % 2 and out[k - 1].argval is True else ins for k, ins in enumerate(out)]

        jumps312.closing_after_exits = broken_closing
    elif name == "else_pass_anywhere":  # every handler after a jump over it sent past the next instruction
        from skyplex_depyf import layout

        layout._else_pass_before = lambda stream, k, exit, start: True
    elif name != "none":
        raise SystemExit(f"unknown mutation {name!r}")


def main() -> None:
    seed, n_functions, n_generators = (int(a) for a in sys.argv[1:4])
    mutate(sys.argv[4] if len(sys.argv) > 4 else "none")
    rng = random.Random(seed)
    generated = [gen_function(lambda lo, hi: rng.randint(lo, hi)) for _ in range(n_functions)]
    generated += [gen_generator(lambda lo, hi: rng.randint(lo, hi)) for _ in range(n_generators)]
    report = {"python": list(sys.version_info[:2]),
              "constructs": {name: judge(source) for name, source in CONSTRUCTS.items()},
              "generated": [judge(source) for source in generated],
              "methods": {name: proven(source) for name, source in METHODS.items()}}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
