"""Plausible wrong answers to the exercise of lessons/04_api_tour.ipynb (see test_exercises.py).

Exercise 1: at most two calls to a rate-limited service at a time, and two whenever possible.
"""

WRONG_ANSWERS = {
    "ex1": {
        # Every call submitted at once with the default 1 CPU: up to eight at the same moment.
        "no limit": '''answers = ray.get([call_service.remote(i) for i in range(8)])
''',
        # Half of the CPUs per pair of calls: four calls fit at once.
        "num_cpus=2": '''answers = ray.get([call_service.options(num_cpus=2).remote(i) for i in range(8)])
''',
        # The licence resource: safe, but only one call at a time.
        "the license resource": '''answers = ray.get([call_service.options(resources={"license": 1}).remote(i) for i in range(8)])
''',
        # Two at a time by hand, but the results come back in pairs out of order.
        "pairs, reversed": '''answers = []
for i in range(0, 8, 2):
    answers += reversed(ray.get([call_service.remote(i), call_service.remote(i + 1)]))
''',
    },
}
