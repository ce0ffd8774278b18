"""Plausible wrong answers to the exercises of lessons/08_patterns.ipynb (see test_exercises.py).

Exercise 1 adds back-pressure to a pipeline whose consumer is slower than its producers,
Exercise 2 fixes a task from what its tracebacks say, Exercise 3 finds a straggler in the
timeline. Each wrong answer replaces the solution cell.
"""

WRONG_ANSWERS = {
    "ex1": {
        # Everything submitted at once, consumed as it arrives: the store still fills up.
        "submit all, then a wait loop": '''remaining = [make_block.remote(i) for i in range(BLOCKS)]
total = 0.0
while remaining:
    done, remaining = ray.wait(remaining, num_returns=1)
    total += consume(ray.get(done[0]))
''',
        # Bounded, but each block is waited for right after it is submitted: one in flight.
        "get right after each submit": '''total = 0.0
for i in range(BLOCKS):
    total += consume(ray.get(make_block.remote(i)))
''',
        # wait() without carrying on with the not-ready list: the same ready block comes back again.
        "wait keeps the full list": '''in_flight, total = [], 0.0
for i in range(BLOCKS):
    if len(in_flight) >= MAX_IN_FLIGHT:
        done, _ = ray.wait(in_flight, num_returns=1)
        total += consume(ray.get(done[0]))
    in_flight.append(make_block.remote(i))
total += sum(consume(block) for block in ray.get(in_flight))
''',
        # A limit, but checked against the number of blocks consumed, not in flight.
        "limit on the wrong count": '''refs, total, n_consumed = [], 0.0, 0
for i in range(BLOCKS):
    refs.append(make_block.remote(i))
    if len(refs) - n_consumed > 3 * MAX_IN_FLIGHT:
        total += consume(ray.get(refs[n_consumed]))
        n_consumed += 1
for ref in refs[n_consumed:]:
    total += consume(ray.get(ref))
''',
    },
    "ex2": {
        # Every exception swallowed: the line with a note silently loses its reading.
        "catch everything": '''@ray.remote
def parse_fixed(line):
    try:
        day, city, reading = line.split(",")
        return city, to_celsius(reading)
    except Exception:
        return line.split(",")[1], None
''',
        # Only the first traceback read: n/a fixed, the line with a note still fails.
        "only the first error fixed": '''@ray.remote
def parse_fixed(line):
    day, city, reading = line.split(",")
    if reading == "n/a":
        return city, None
    return city, to_celsius(reading)
''',
        # The offline sensor becomes NaN instead of None.
        "nan for the offline sensor": '''@ray.remote
def parse_fixed(line):
    day, city, reading = line.split(",")[:3]
    return city, float("nan") if reading == "n/a" else to_celsius(reading)
''',
        # The failing lines are removed from the log instead of fixing the task.
        "bad lines dropped": '''READINGS = [line for line in READINGS if "n/a" not in line and line.count(",") == 2]
parse_fixed = parse
''',
    },
    "ex3": {
        # The call that started last, not the one that ran longest.
        "latest start": '''runs = calls(ray.timeline, "tidy-*", since=pipeline_start, expect=12)
latest = max(runs, key=lambda run: run.start)
straggler, straggler_seconds = latest.name, latest.end - latest.start
''',
        # The last call submitted is assumed to be the slow one.
        "last submitted": '''straggler = "tidy-11"
straggler_seconds = 0.6
''',
        # Right call, but its duration read straight from the trace (microseconds).
        "duration in microseconds": '''events = [e for e in ray.timeline() if e["ts"] / 1e6 >= pipeline_start
          and (e["name"].startswith("tidy-") or str(e.get("cat", "")).startswith("task::tidy-"))]
slowest = max(events, key=lambda e: e["dur"])
straggler = slowest["name"] if slowest["name"].startswith("tidy-") else slowest["cat"][len("task::"):]
straggler_seconds = slowest["dur"]
''',
        # The fastest call instead of the slowest.
        "shortest call": '''runs = calls(ray.timeline, "tidy-*", since=pipeline_start, expect=12)
quickest = min(runs, key=lambda run: run.end - run.start)
straggler, straggler_seconds = quickest.name, quickest.end - quickest.start
''',
    },
}
