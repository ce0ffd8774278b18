"""Plausible wrong answers to the capstone (lessons/11_capstone.ipynb); see test_exercises.py.

Each one is a program a learner could well write: it runs without an error, and the
check must still say what is missing.
"""

_PIECES = '''
t0 = new_run()
history_ref = ray.put(history)
totals = ray.remote(Totals).remote()
fetch = ray.remote(max_retries=3, retry_exceptions=[ConnectionError])(fetch_day)


@ray.remote
def score_day(payments, history):
    ids, amounts = payments
    model = RiskModel()
    return ids, amounts, [model.score(amount, history) for amount in amounts]

'''

_END = '''
result = ray.get(totals.result.remote())
elapsed = time.time() - t0
print(result)
'''

WRONG_ANSWERS = {
    "ex1": {
        # Tasks, but a get inside the loop: one day at a time again.
        "get inside the loop": _PIECES + '''
for day in range(DAYS):
    day_result = ray.get(score_day.remote(fetch.remote(day), history_ref))
    totals.add.remote(day_result)
''' + _END,
        # The array itself in every call: stored again for each of the 24 calls.
        "history passed by value": _PIECES + '''
in_flight = []
for day in range(DAYS):
    if len(in_flight) >= MAX_IN_FLIGHT:
        done, in_flight = ray.wait(in_flight, num_returns=1)
        totals.add.remote(done[0])
    in_flight.append(score_day.remote(fetch.remote(day), history))
for ref in in_flight:
    totals.add.remote(ref)
''' + _END,
        # No retry of application errors: the flaky days fail, and their adds with them.
        "no retries": _PIECES.replace(
            "ray.remote(max_retries=3, retry_exceptions=[ConnectionError])(fetch_day)",
            "ray.remote(fetch_day)") + '''
in_flight = []
for day in range(DAYS):
    if len(in_flight) >= MAX_IN_FLIGHT:
        done, in_flight = ray.wait(in_flight, num_returns=1)
        totals.add.remote(done[0])
    in_flight.append(score_day.remote(fetch.remote(day), history_ref))
for ref in in_flight:
    totals.add.remote(ref)
''' + _END,
        # Everything submitted at once, results consumed at the end.
        "no back-pressure": _PIECES + '''
refs = [score_day.remote(fetch.remote(day), history_ref) for day in range(DAYS)]
for ref in refs:
    totals.add.remote(ref)
''' + _END,
        # One task per payment: the model's fixed cost is paid 600 times.
        "one task per payment": _PIECES + '''
@ray.remote
def score_one(amount, history):
    return RiskModel().score(amount, history)


days = ray.get([fetch.remote(day) for day in range(DAYS)])
for ids, amounts in days:
    scores = ray.get([score_one.remote(amount, history_ref) for amount in amounts])
    totals.add.remote((ids, amounts, scores))
''' + _END,
        # Totals kept in the notebook instead of an actor.
        "totals in the notebook": _PIECES + '''
local_totals = Totals()
in_flight = []
for day in range(DAYS):
    if len(in_flight) >= MAX_IN_FLIGHT:
        done, in_flight = ray.wait(in_flight, num_returns=1)
        local_totals.add(ray.get(done[0]))
    in_flight.append(score_day.remote(fetch.remote(day), history_ref))
for day_result in ray.get(in_flight):
    local_totals.add(day_result)
result = local_totals.result()
elapsed = time.time() - t0
print(result)
''',
    },
}
