"""Plausible wrong answers to the exercise of lessons/09_debugging.ipynb (see test_exercises.py).

Exercise 1 is a pipeline whose ``split`` gives every partition an offset one too high:
the last ``weigh`` task reads past the end of ``WEIGHTS`` and fails, the seven others
silently use their neighbour's weights. Each wrong answer replaces the solution cell.
"""

_PIPELINE = '''
partitions = split(VALUES, N_PARTS)
weighed = [weigh.remote(part, offset) for part, offset in partitions]
try:
    result = ray.get(add_up.remote(*weighed))
except IndexError as error:
    result = None
'''

_BUGGY_SPLIT = '''
def split(values, n_parts):
    size = len(values) // n_parts
    return [(values[p * size:(p + 1) * size], p * size + 1) for p in range(n_parts)]
'''

WRONG_ANSWERS = {
    "ex1": {
        # The symptom hidden where it shows: the index clamped in weigh, split left as it was.
        "clamp the index in weigh": _BUGGY_SPLIT + '''
@ray.remote
def weigh(part, offset):
    return [x * WEIGHTS[min(offset + i, len(WEIGHTS) - 1)] for i, x in enumerate(part)]

failed_partition = 7
''' + _PIPELINE,
        # The failing task's error caught and its partition counted as zero.
        "catch the error in weigh": _BUGGY_SPLIT + '''
@ray.remote
def weigh(part, offset):
    try:
        return [x * WEIGHTS[offset + i] for i, x in enumerate(part)]
    except IndexError:
        return [0] * len(part)

failed_partition = 7
''' + _PIPELINE,
        # Only the partition that failed is repaired; the seven others keep the shifted weights.
        "fix the last partition only": '''
def split(values, n_parts):
    size = len(values) // n_parts
    return [(values[p * size:(p + 1) * size], p * size + (1 if p < n_parts - 1 else 0))
            for p in range(n_parts)]

failed_partition = 7
''' + _PIPELINE,
        # The partitions shifted to match the offsets: consistent, but value 0 is lost.
        "shift the partitions instead": '''
def split(values, n_parts):
    size = len(values) // n_parts
    return [(values[p * size + 1:(p + 1) * size + 1], p * size + 1) for p in range(n_parts)]

failed_partition = 7
''' + _PIPELINE,
        # The right fix, but the wrong partition named.
        "right fix, wrong partition": '''
def split(values, n_parts):
    size = len(values) // n_parts
    return [(values[p * size:(p + 1) * size], p * size) for p in range(n_parts)]

failed_partition = 0
''' + _PIPELINE,
        # The total computed in the driver; the tasks still fail.
        "compute the total locally": _BUGGY_SPLIT + '''
failed_partition = 7
partitions = split(VALUES, N_PARTS)
weighed = [weigh.remote(part, offset) for part, offset in partitions]
result = sum(v * w for v, w in zip(VALUES, WEIGHTS))
''',
    },
}
