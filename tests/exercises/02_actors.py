"""Plausible wrong answers to the exercises of lessons/02_actors.ipynb (see test_exercises.py)."""

_PROGRESS_ACTOR = '''
@ray.remote
class Progress:
    def __init__(self):
        self.finished = []

    def report(self, item):
        time.sleep(0.05)
        self.finished.append(item)

    def items(self):
        return sorted(self.finished)
'''

_PLAIN_PROGRESS = _PROGRESS_ACTOR.replace("@ray.remote\n", "")

WRONG_ANSWERS = {
    "ex1": {
        "done worked out from the results": _PLAIN_PROGRESS + '''
@ray.remote
def process(item, progress):
    time.sleep(0.1)
    progress.report(item)
    return item * 10

start = time.time()
progress = Progress()
results = ray.get([process.remote(i, progress) for i in range(8)])
done = sorted(r // 10 for r in results)
''',
        "reports sent without waiting": _PROGRESS_ACTOR + '''
@ray.remote
def process(item, progress):
    time.sleep(0.1)
    progress.report.remote(item)  # fire and forget
    return item * 10

start = time.time()
progress = Progress.remote()
results = ray.get([process.remote(i, progress) for i in range(8)])
done = ray.get(progress.items.remote())
''',
        "tracker in the notebook, filled from the results": _PROGRESS_ACTOR + '''
@ray.remote
def process(item):
    time.sleep(0.1)
    return item * 10

start = time.time()
progress = Progress.remote()
results = ray.get([process.remote(i) for i in range(8)])
ray.get([progress.report.remote(r // 10) for r in results])
done = ray.get(progress.items.remote())
''',
    },
    "ex2": {
        "two actors": '''
thumbnailers = [Thumbnailer.remote(64) for _ in range(2)]
ray.get([t.ready.remote() for t in thumbnailers])
start = time.time()
thumbnails = ray.get([thumbnailers[i % 2].make.remote(i) for i in range(8)])
duration = time.time() - start
''',
        "one actor per image": '''
thumbnailers = [Thumbnailer.remote(64) for _ in range(8)]
ray.get([t.ready.remote() for t in thumbnailers])
start = time.time()
thumbnails = ray.get([thumbnailers[i].make.remote(i) for i in range(8)])
duration = time.time() - start
''',
        "four actors, all calls to the first": '''
thumbnailers = [Thumbnailer.remote(64) for _ in range(4)]
ray.get([t.ready.remote() for t in thumbnailers])
start = time.time()
thumbnails = ray.get([thumbnailers[0].make.remote(i) for i in range(8)])
duration = time.time() - start
''',
        "get inside the loop": '''
thumbnailers = [Thumbnailer.remote(64) for _ in range(4)]
ray.get([t.ready.remote() for t in thumbnailers])
start = time.time()
thumbnails = [ray.get(thumbnailers[i % 4].make.remote(i)) for i in range(8)]
duration = time.time() - start
''',
    },
}
