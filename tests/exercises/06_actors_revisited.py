"""Plausible wrong answers to the exercises of lessons/06_actors_revisited.ipynb (see test_exercises.py)."""

_SCORE = '''

@ray.remote
def score(player, points):
    board = ray.get_actor("scoreboard", namespace="games")
    ray.get(board.add.remote(player, points))
'''

_FRAGILE_LOOP = '''

results = []
for x in range(5):
    try:
        results.append(ray.get(fragile.square.remote(x)))
    except ray.exceptions.RayActorError as err:
        results.append(type(err).__name__)
'''

_CUBER_TAIL = '''
cube_duration = time.time() - start
'''

WRONG_ANSWERS = {
    "ex1": {
        # Named, in the right namespace, but not detached: stopped when its last handle goes.
        "without detached": '''@ray.remote(max_calls=1)
def open_scoreboard():
    Scoreboard.options(name="scoreboard", namespace="games").remote()
''' + _SCORE,
        # A handle kept "to keep it alive": it lives in the task's process, which exits.
        "handle kept in a global": '''kept = []

@ray.remote(max_calls=1)
def open_scoreboard():
    kept.append(Scoreboard.options(name="scoreboard", namespace="games").remote())
''' + _SCORE,
        "handle returned to the caller": '''@ray.remote(max_calls=1)
def open_scoreboard():
    return Scoreboard.options(name="scoreboard", namespace="games").remote()
''' + _SCORE,
        # Detached, but in the driver's namespace: the check (and score) look in "games".
        "driver's namespace": '''@ray.remote(max_calls=1)
def open_scoreboard():
    Scoreboard.options(name="scoreboard", lifetime="detached").remote()


@ray.remote
def score(player, points):
    board = ray.get_actor("scoreboard")
    ray.get(board.add.remote(player, points))
''',
    },
    "ex2": {
        "restarts without task retries": '''fragile = Fragile.options(max_restarts=2).remote(scratch_dir(prefix="minirt-fragile-"))''' + _FRAGILE_LOOP,
        "one restart only": '''fragile = Fragile.options(max_restarts=1, max_task_retries=1).remote(scratch_dir(prefix="minirt-fragile-"))''' + _FRAGILE_LOOP,
        "task retries without restarts": '''fragile = Fragile.options(max_task_retries=2).remote(scratch_dir(prefix="minirt-fragile-"))''' + _FRAGILE_LOOP,
    },
    "ex3": {
        "two actors in the pool": '''start = time.time()
cube_pool = ActorPool([Cuber.remote() for _ in range(2)])
cubes = list(cube_pool.map(lambda actor, x: actor.cube.remote(x), range(8)))
''' + _CUBER_TAIL,
        "hand-made round robin": '''start = time.time()
cubers = [Cuber.remote() for _ in range(4)]
cubes = ray.get([cubers[x % 4].cube.remote(x) for x in range(8)])
''' + _CUBER_TAIL,
        "pool, but a get per value": '''start = time.time()
cube_pool = ActorPool([Cuber.remote() for _ in range(4)])
cubes = []
for x in range(8):
    cube_pool.submit(lambda actor, v: actor.cube.remote(v), x)
    cubes.append(cube_pool.get_next())
''' + _CUBER_TAIL,
        "cubes computed locally": '''start = time.time()
cube_pool = ActorPool([Cuber.remote() for _ in range(4)])
cubes = [x ** 3 for x in range(8)]
''' + _CUBER_TAIL,
    },
}
