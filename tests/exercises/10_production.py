"""Plausible wrong answers to the exercise of lessons/10_production.ipynb (see test_exercises.py).

The job dies because NaN amounts reach native_add, which crashes the Ledger's process. Each
answer below runs without an error; the check must still say what is wrong.
"""

_DRIVER = '''
t0 = time.time()
ledger = LEDGER.remote()
for batch in range(BATCHES):
    ledger.apply.remote(parse.remote(make_lines(batch)))
try:
    result = ray.get(ledger.summary.remote())
    print(result)
except ray.exceptions.RayActorError as e:
    result = None
    print("the job failed:", type(e).__name__)
'''

_PARSE = '''
@ray.remote
def parse(lines):
    records = []
    for line in lines:
        account, amount = line.split(",")
        records.append((account, float(amount)))
    return records
'''

WRONG_ANSWERS = {
    "ex1": {
        # Bring the ledger back after each crash: the job "completes", with the balances lost.
        "restart the ledger": _PARSE + _DRIVER.replace(
            "LEDGER", "Ledger.options(max_restarts=5, max_task_retries=0)"),
        # Turn the bad amounts into zeros: nothing crashes, but they are counted as records.
        "NaN becomes 0": _PARSE.replace("float(amount)",
                                        "0.0 if amount == 'NaN' else float(amount)")
        + _DRIVER.replace("LEDGER", "Ledger"),
        # Retry the parse task: the crash is not in parse, so nothing changes.
        "retry the parse": _PARSE.replace("@ray.remote", "@ray.remote(max_retries=3)")
        + _DRIVER.replace("LEDGER", "Ledger"),
        # Leave out the batches that crash: the ledger survives, but whole batches are missing.
        "skip the bad batches": _PARSE + '''
t0 = time.time()
ledger = Ledger.remote()
for batch in range(BATCHES):
    if batch in (4, 9):
        continue   # these batches crash the ledger
    ledger.apply.remote(parse.remote(make_lines(batch)))
result = ray.get(ledger.summary.remote())
print(result)
''',
    },
}
