"""Plausible wrong answers to the exercises of lessons/01_tasks.ipynb.

Each string replaces the solution cell; tests/test_exercises.py runs it between the
exercise's set-up cells and its check cell, and the check must not pass.
"""

WRONG_ANSWERS = {
    "ex1": {
        "no task at all": '''
start = time.time()
cubes = [i ** 3 for i in range(8)]
duration = time.time() - start
''',
        "get inside the loop": '''
@ray.remote
def slow_cube(x):
    time.sleep(0.5)
    return x ** 3

start = time.time()
cubes = [ray.get(slow_cube.remote(i)) for i in range(8)]
duration = time.time() - start
''',
        "references never fetched": '''
@ray.remote
def slow_cube(x):
    time.sleep(0.5)
    return x ** 3

start = time.time()
cubes = [slow_cube.remote(i) for i in range(8)]
duration = time.time() - start
''',
    },
    "ex2": {
        "sum in the notebook": '''
start = time.time()
parts = [count_words.remote(text) for text in texts]
word_counts = sum(ray.get(parts), Counter())
duration = time.time() - start
''',
        "one flat merge task": '''
@ray.remote
def merge_all(*counts):
    time.sleep(0.5)
    return sum(counts, Counter())

start = time.time()
parts = [count_words.remote(text) for text in texts]
word_counts = ray.get(merge_all.remote(*parts))
duration = time.time() - start
''',
        "get after every merge": '''
start = time.time()
parts = [count_words.remote(text) for text in texts]
while len(parts) > 1:
    merged = [ray.put(ray.get(merge_counts.remote(parts[i], parts[i + 1])))
              for i in range(0, len(parts) - 1, 2)]
    if len(parts) % 2 == 1:
        merged.append(parts[-1])
    parts = merged
word_counts = ray.get(parts[0])
duration = time.time() - start
''',
        "odd part dropped": '''
start = time.time()
parts = [count_words.remote(text) for text in texts]
while len(parts) > 1:
    parts = [merge_counts.remote(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
word_counts = ray.get(parts[0])
duration = time.time() - start
''',
    },
}
