"""Plausible wrong answers to the exercises of lessons/05_tasks_revisited.ipynb (see test_exercises.py).

Exercise 1 is an exploration without a check, so it has no entry.
"""

_LAUNCH = '''slow_square_task = ray.remote(slow_square)

start = time.time()
refs = [slow_square_task.remote(n) for n in range(4)]
'''

WRONG_ANSWERS = {
    "ex2": {
        # The wait loop, but each square is appended as it arrives: the finishing order.
        "arrival order": _LAUNCH + '''squares = []
remaining = refs
while remaining:
    ready, remaining = ray.wait(remaining, num_returns=1, timeout=10.0)
    for ref in ready:
        squares.append(ray.get(ref))
        handle(len(squares) - 1, squares[-1])
duration = time.time() - start
''',
        # Right values in input order, but nothing is handled until the slowest is done.
        "plain get": _LAUNCH + '''squares = ray.get(refs)
for n, square in enumerate(squares):
    handle(n, square)
duration = time.time() - start
''',
        # Tasks, but each one is waited for before the next is submitted.
        "get inside the loop": '''slow_square_task = ray.remote(slow_square)

start = time.time()
squares = [None] * 4
for n in range(4):
    squares[n] = ray.get(slow_square_task.remote(n))
    handle(n, squares[n])
duration = time.time() - start
''',
        # wait() until everything is ready, then handle all the results at once.
        "wait, then get on the whole list": _LAUNCH + '''remaining = refs
while remaining:
    ready, remaining = ray.wait(remaining, num_returns=1, timeout=10.0)
squares = ray.get(refs)
for n, square in enumerate(squares):
    handle(n, square)
duration = time.time() - start
''',
    },
    "ex3": {
        # The exact bug from issue #18: placeholder timings that make every check on values pass.
        "constant lists": '''ns_doubled = [2 * n for n in ns]
local_doubled = remote_doubled = [1.0] * len(ns_doubled)
crossover_doubled = crossover_size(ns_doubled, local_doubled, remote_doubled)
''',
        "first sweep's timings reused": '''ns_doubled = [2 * n for n in ns]
local_doubled, remote_doubled = list(local_times), list(remote_times)
crossover_doubled = crossover_size(ns_doubled, local_doubled, remote_doubled)
''',
        "local version timed twice": '''ns_doubled = [2 * n for n in ns]
local_doubled = [time_local(n) for n in ns_doubled]
remote_doubled = [time_local(n) for n in ns_doubled]
crossover_doubled = crossover_size(ns_doubled, local_doubled, remote_doubled)
''',
        "sizes not doubled": '''ns_doubled = list(ns)
local_doubled = [time_local(n) for n in ns_doubled]
remote_doubled = [time_remote(n) for n in ns_doubled]
crossover_doubled = crossover_size(ns_doubled, local_doubled, remote_doubled)
''',
    },
}
