"""Plausible wrong answers to the exercise of lessons/03_objects.ipynb (see test_exercises.py)."""

WRONG_ANSWERS = {
    "ex1": {
        "put inside the loop": '''
start = time.time()
totals = ray.get([total_price.remote(ray.put(prices), basket) for basket in baskets])
duration = time.time() - start
''',
        "put, then get it back and pass the array": '''
start = time.time()
table = ray.get(ray.put(prices))
totals = ray.get([total_price.remote(table, basket) for basket in baskets])
duration = time.time() - start
''',
        "totals computed in the notebook": '''
start = time.time()
totals = [round(float(prices[basket].sum()), 2) for basket in baskets]
duration = time.time() - start
''',
    },
}
