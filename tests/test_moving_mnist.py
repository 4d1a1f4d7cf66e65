import numpy as np
import pytest

from framecast.data.digits import read_idx_images, split_digits
from framecast.data.moving_mnist import canonical_trajectories, generate, mirror_trajectories
from framecast.errors import UserError


def test_same_seed_same_sequences_and_other_seed_differs(digits):
    a = generate(digits, 5, seed=7)
    assert a.shape == (5, 20, 64, 64) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, generate(digits, 5, seed=7))
    assert not np.array_equal(a, generate(digits, 5, seed=8))


def published_trajectory(y: float, x: float, theta: float, length: int, canvas_size: int, step_length: float):
    """Srivastava et al.'s GetRandomTrajectory (OpenSTL's _get_random_trajectory), transcribed line by line for
    one sequence, with its random draws (y, x, theta) passed in."""
    v_y, v_x = np.sin(theta), np.cos(theta)
    start_y, start_x = np.zeros(length), np.zeros(length)
    for i in range(length):
        y += v_y * step_length
        x += v_x * step_length
        if x <= 0:
            x = 0
            v_x = -v_x
        if x >= 1.0:
            x = 1.0
            v_x = -v_x
        if y <= 0:
            y = 0
            v_y = -v_y
        if y >= 1.0:
            y = 1.0
            v_y = -v_y
        start_y[i] = y
        start_x[i] = x
    return (canvas_size * start_y).astype(np.int32), (canvas_size * start_x).astype(np.int32)


def test_canonical_positions_are_the_published_loop_bit_for_bit():
    num, digits, frames, free, speed = 300, 2, 40, 36, 0.1
    pos = canonical_trajectories(np.random.default_rng(5), num, frames, digits, free, speed)  # (N, D, T, 2)
    rng = np.random.default_rng(5)  # the same draws, in the generator's order
    start, theta = rng.uniform(0, 1, size=(num, digits, 2)), rng.uniform(0, 2 * np.pi, size=(num, digits))
    bounced = 0
    for n in range(num):
        for k in range(digits):
            y, x = published_trajectory(start[n, k, 0], start[n, k, 1], theta[n, k], frames, free, speed)
            np.testing.assert_array_equal(pos[n, k, :, 0], y)
            np.testing.assert_array_equal(pos[n, k, :, 1], x)
            bounced += int(((y == 0) | (y == free) | (x == 0) | (x == free)).any())
    assert bounced > num  # most digits hit a wall in 40 frames: the bounce itself is compared, not just lines


def test_canonical_first_frame_is_one_step_from_the_start_and_walls_are_reached():
    num, frames, free, speed = 500, 30, 36, 0.1
    pos = canonical_trajectories(np.random.default_rng(2), num, frames, 1, free, speed)[:, 0]  # (N, T, 2)
    rng = np.random.default_rng(2)
    start, theta = rng.uniform(0, 1, size=(num, 1, 2))[:, 0], rng.uniform(0, 2 * np.pi, size=(num, 1))[:, 0]
    first = start + speed * np.stack([np.sin(theta), np.cos(theta)], axis=-1)
    inside = ((first > 0) & (first < 1)).all(axis=1)  # no wall in the first step
    np.testing.assert_array_equal(pos[inside, 0], (free * first[inside]).astype(int))
    # A digit whose step reaches or crosses a wall is recorded at it, not past it and not mirrored back.
    low, high = first <= 0, first >= 1
    assert low.sum() > 5 and high.sum() > 5
    assert (pos[:, 0][low] == 0).all() and (pos[:, 0][high] == free).all()
    assert pos.min() == 0 and pos.max() == free
    # Mirror reflection differs from it after a bounce.
    assert not np.array_equal(pos, mirror_trajectories(np.random.default_rng(2), num, frames, 1, free, speed)[:, 0])


@pytest.mark.parametrize("move", [canonical_trajectories, mirror_trajectories])
def test_positions_stay_inside_and_speed_is_constant(move):
    rng = np.random.default_rng(0)
    free, speed = 36, 0.1
    pos = move(rng, 200, 40, 2, free, speed)  # (N, D, T, 2), rounded to pixels
    assert pos.min() >= 0 and pos.max() <= free
    step = np.linalg.norm(np.diff(pos, axis=2), axis=-1)  # pixels moved per frame
    # 3.6 px per frame; whole pixels and the bounce at a wall shorten or lengthen a step by < 1.5 px, and a
    # clipped step at a wall is shorter (so the canonical mean is a little under 3.6)
    assert abs(step.mean() - speed * free) < 0.4
    assert step.max() < speed * free + 1.5


@pytest.mark.parametrize("move", [canonical_trajectories, mirror_trajectories])
def test_bounce_reverses_direction_at_the_wall(move):
    rng = np.random.default_rng(1)
    pos = move(rng, 300, 60, 1, 36, 0.1)[:, 0, :, 1]  # x positions (N, T)
    step = np.diff(pos, axis=1)
    turns = np.sign(step[:, 1:]) * np.sign(step[:, :-1]) < 0   # the x velocity changes sign...
    near_wall = (np.minimum(pos[:, 1:-1], 36 - pos[:, 1:-1]) <= 4)  # ...only within one step of a wall
    assert turns.sum() > 50
    assert near_wall[turns].all()


@pytest.mark.parametrize("dynamics, move", [("canonical", canonical_trajectories), ("mirror", mirror_trajectories)])
def test_digits_combine_by_max(dynamics, move):
    pool = np.zeros((2, 28, 28), np.uint8)
    pool[0, 4:24, 8:20], pool[1, 2:26, 6:22] = 50, 200  # two digits of different brightness
    num, frames = 40, 20
    made = generate(pool, num, frames=frames, num_digits=2, size=64, speed=0.1, dynamics=dynamics, seed=3)
    rng = np.random.default_rng(3)  # the generator's draws, in its order
    pos, chosen = move(rng, num, frames, 2, 64 - 28, 0.1), rng.integers(0, 2, size=(num, 2))
    renders = {how: np.zeros((num, frames, 64, 64), np.int32) for how in ("max", "last", "sum")}
    for n in range(num):
        for t in range(frames):
            for k in range(2):
                (y, x), digit = pos[n, k, t], pool[chosen[n, k]]
                for how, canvas in renders.items():
                    window = canvas[n, t, y:y + 28, x:x + 28]
                    window[...] = {"max": np.maximum(window, digit), "sum": window + digit,
                                   "last": np.where(digit > 0, digit, window)}[how]
    np.testing.assert_array_equal(made, renders["max"])
    # The check can tell max from the alternatives: these sequences do overlap digits of both brightnesses.
    assert not np.array_equal(made, renders["last"]) and not np.array_equal(made, renders["sum"])


def test_split_pools_are_disjoint_and_cover_all():
    ids = np.arange(100)  # every "digit" is its own index
    splits = split_digits(ids.reshape(100, 1, 1), seed=0)
    found = [set(s.ravel().tolist()) for s in splits.values()]
    assert sum(len(s) for s in found) == 100
    assert not (found[0] & found[1]) and not (found[0] & found[2]) and not (found[1] & found[2])
    np.testing.assert_array_equal(split_digits(ids.reshape(100, 1, 1), seed=0)["test"], splits["test"])


def test_idx_file_round_trip(tmp_path, digits):
    import gzip

    header = (0x803).to_bytes(4, "big") + len(digits).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(header + digits.tobytes()))
    np.testing.assert_array_equal(read_idx_images(path), digits)
    for name, raw in (("IMAGES.GZ", gzip.compress(header + digits.tobytes())), ("images", header + digits.tobytes())):
        (tmp_path / name).write_bytes(raw)  # gzip or not by content, whatever the name says
        np.testing.assert_array_equal(read_idx_images(tmp_path / name), digits)
    (tmp_path / "bad").write_bytes(header + digits.tobytes()[:100])
    with pytest.raises(UserError, match="truncated"):
        read_idx_images(tmp_path / "bad")


@pytest.mark.parametrize("kwargs, message", [
    (dict(num=-1), "number of sequences"),
    (dict(num=2, size=20), "cannot move"),
    (dict(num=2, num_digits=0), "digits per frame"),
    (dict(num=2, speed=2.0), "speed"),
    (dict(num=2, num_digits=6), "cannot fit"),
    (dict(num=2, dynamics="reflect"), "dynamics should be one of canonical, mirror"),
])
def test_bad_generator_arguments(digits, kwargs, message):
    with pytest.raises(UserError, match=message):
        generate(digits, **kwargs)



def test_generate_file_chunks_by_bytes_and_keeps_the_default_chunking(tmp_path, monkeypatch):
    from framecast.cli import data_commands as commands

    assert commands.CHUNK_BYTES // (20 * 64 * 64) == 1000  # the default files a seed gives never change
    sizes = []
    real = commands.generate
    monkeypatch.setattr(commands, "generate", lambda digits, num, **kw: sizes.append(num) or real(digits, num, **kw))
    monkeypatch.setattr(commands, "CHUNK_BYTES", 2 * 300 * 32 * 32)  # two 300-frame 32x32 sequences
    commands.generate_file(tmp_path / "long.npy", num=5, frames=300, size=32, num_digits=1, seed=1)
    assert sizes == [2, 2, 1]
    assert np.load(tmp_path / "long.npy").shape == (5, 300, 32, 32)
