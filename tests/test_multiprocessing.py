"""minirt.util.multiprocessing.Pool: the stdlib Pool API on actors (spec: Utilities)."""

import multiprocessing

import pytest

import minirt
from minirt.util.multiprocessing import Pool


def square(x):
    return x * x


def test_map_starmap_imap_apply(rt):
    with Pool(2) as pool:
        assert pool.map(square, range(10)) == [x * x for x in range(10)]
        assert pool.starmap(pow, [(2, 3), (3, 2)]) == [8, 9]
        assert list(pool.imap(square, range(5))) == [0, 1, 4, 9, 16]
        assert sorted(pool.imap_unordered(square, range(5))) == [0, 1, 4, 9, 16]
        assert pool.apply(divmod, (7, 2)) == (3, 1)
        res = pool.apply_async(square, (6,))
        assert res.get(timeout=10) == 36 and res.ready() and res.successful()


def test_errors_and_callbacks(rt):
    seen = []
    with Pool(2) as pool:
        res = pool.map_async(square, [1, 2], callback=seen.append)
        assert res.get() == [1, 4] and seen == [[1, 4]]
        bad = pool.apply_async(divmod, (1, 0))
        with pytest.raises(ZeroDivisionError):
            bad.get()
        assert not bad.successful()


def test_timeout_is_multiprocessing_timeout(rt):
    import time
    with Pool(1) as pool:
        res = pool.apply_async(time.sleep, (2,))
        with pytest.raises(multiprocessing.TimeoutError):
            res.get(timeout=0.1)


def test_initializer_and_close_join(rt):
    pool = Pool(2, initializer=print, initargs=("started",))
    assert pool.map(abs, [-1, -2]) == [1, 2]
    pool.close()
    with pytest.raises(ValueError):
        pool.map(abs, [1])
    pool.join()
    pool.terminate()


def test_bad_arguments():
    with pytest.raises(ValueError):
        Pool(0)
    with pytest.raises(TypeError):
        Pool("two")
