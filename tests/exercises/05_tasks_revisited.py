"""Plausible wrong answers to the exercises of lessons/05_tasks_revisited.ipynb (see test_exercises.py).

Exercise 1 is an exploration without a check, so it has no entry.
Exercise 3 batches 10,000 tiny pieces of work; each wrong answer below is a whole solution cell.
"""

_LAUNCH = '''slow_square_task = ray.remote(slow_square)

start = time.time()
refs = [slow_square_task.remote(n) for n in range(4)]
'''

# The learner's measuring loop, shared by the wrong answers that differ elsewhere.
_TIME_EVERY_SIZE = '''timings = {}
for size in CHUNK_SIZES:
    begin = time.perf_counter()
    run_chunked(size)
    timings[size] = time.perf_counter() - begin
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
        # Timing stops before the results are back: the biggest chunk "wins" by submitting fastest.
        "measuring without get": '''def run_chunked(size):
    return [process_chunk.remote(ITEMS[i:i + size]) for i in range(0, len(ITEMS), size)]

''' + _TIME_EVERY_SIZE + '''best_chunk = min(timings, key=timings.get)
''',
        # Every chunk is waited for before the next is submitted: chunks run one after another.
        "get inside the loop": '''def run_chunked(size):
    results = []
    for i in range(0, len(ITEMS), size):
        results += ray.get(process_chunk.remote(ITEMS[i:i + size]))
    return results

''' + _TIME_EVERY_SIZE + '''best_chunk = min(timings, key=timings.get)
''',
        # len(ITEMS) // size chunks: the shorter last chunk is dropped for 300 and 3,000.
        "last chunk dropped": '''def run_chunked(size):
    refs = [process_chunk.remote(ITEMS[k * size:(k + 1) * size]) for k in range(len(ITEMS) // size)]
    return [y for part in ray.get(refs) for y in part]

''' + _TIME_EVERY_SIZE + '''best_chunk = min(timings, key=timings.get)
''',
        # No chunking at all: the whole list goes to one task, whatever the size.
        "one giant chunk": '''def run_chunked(size):
    return ray.get(process_chunk.remote(ITEMS))

''' + _TIME_EVERY_SIZE + '''best_chunk = min(timings, key=timings.get)
''',
        # "More tasks, more parallelism": chunks of one item are declared the winner without looking.
        "chunk of 1 declared the winner": '''def run_chunked(size):
    refs = [process_chunk.remote(ITEMS[i:i + size]) for i in range(0, len(ITEMS), size)]
    return [y for part in ray.get(refs) for y in part]

''' + _TIME_EVERY_SIZE + '''best_chunk = 1
''',
        # Only the extremes and one middle size are tried.
        "too few sizes": '''def run_chunked(size):
    refs = [process_chunk.remote(ITEMS[i:i + size]) for i in range(0, len(ITEMS), size)]
    return [y for part in ray.get(refs) for y in part]

timings = {}
for size in [1, 100, 10_000]:
    begin = time.perf_counter()
    run_chunked(size)
    timings[size] = time.perf_counter() - begin
best_chunk = min(timings, key=timings.get)
''',
    },
}
