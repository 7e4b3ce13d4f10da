import numpy as np
import pytest

from agents.replay import ReplayBuffer


def fill(buf: ReplayBuffer, n: int, start: int = 0, done_every: int = 0, truncate: bool = False) -> None:
    for i in range(start, start + n):
        end = bool(done_every) and (i + 1) % done_every == 0
        buf.add(np.full(buf.obs_dim, i, np.float32), i % 3, float(i), np.full(buf.obs_dim, i + 1, np.float32),
                terminated=end and not truncate, truncated=end and truncate)


def test_ring_buffer_wraps_and_keeps_the_newest():
    buf = ReplayBuffer(5, obs_dim=2, rng=0)
    fill(buf, 7)
    assert len(buf) == 5 and buf.pos == 2
    assert sorted(buf.rewards.tolist()) == [2.0, 3.0, 4.0, 5.0, 6.0]
    np.testing.assert_array_equal(buf.last_actions(3), [4 % 3, 5 % 3, 6 % 3])


def test_sampling_is_seeded_and_only_from_filled_slots():
    a, b = ReplayBuffer(100, 3, rng=7), ReplayBuffer(100, 3, rng=7)
    fill(a, 10)
    fill(b, 10)
    ba, bb = a.sample(64), b.sample(64)
    np.testing.assert_array_equal(ba.obs, bb.obs)
    assert ba.rewards.max() <= 9 and ba.rewards.min() >= 0
    # obs, action, reward and next_obs stay aligned
    np.testing.assert_array_equal(ba.obs[:, 0], ba.rewards)
    np.testing.assert_array_equal(ba.next_obs[:, 0], ba.rewards + 1)
    np.testing.assert_array_equal(ba.actions, ba.rewards.astype(int) % 3)
    assert ba.obs.dtype == np.float32


def test_terminated_stops_bootstrapping_but_truncated_does_not():
    term, trunc = ReplayBuffer(10, 1, rng=0), ReplayBuffer(10, 1, rng=0)
    fill(term, 4, done_every=2)
    fill(trunc, 4, done_every=2, truncate=True)
    bt, bu = term.sample(200), trunc.sample(200)
    np.testing.assert_array_equal(bt.terminated, (bt.rewards % 2 == 1).astype(np.float32))
    assert bu.terminated.sum() == 0  # time-limit ends still bootstrap


def test_n_step_returns_sum_within_the_episode_and_discount_by_steps_taken():
    buf = ReplayBuffer(20, 1, rng=0)
    fill(buf, 6, done_every=3)  # episodes: rewards 0,1,2 (terminated at 2) and 3,4,5 (terminated at 5)
    batch = buf.sample(300, gamma=0.5, n_step=2)
    for r0, r, disc, term, nxt in zip(batch.obs[:, 0], batch.rewards, batch.discount, batch.terminated,
                                      batch.next_obs[:, 0]):
        i = int(r0)
        if i % 3 == 2:   # last step of an episode: one step only
            assert (r, disc, term, nxt) == (i, 0.5, 1.0, i + 1)
        else:            # two steps: r_i + 0.5 r_{i+1}, bootstrap from s_{i+2} with 0.25
            expected_term = 1.0 if (i + 1) % 3 == 2 else 0.0
            assert r == pytest.approx(i + 0.5 * (i + 1))
            assert disc == pytest.approx(0.25) and term == expected_term and nxt == i + 2


def test_n_step_window_never_runs_past_the_newest_transition():
    buf = ReplayBuffer(20, 1, rng=0)
    fill(buf, 3)  # no episode end; newest is index 2
    batch = buf.sample(100, gamma=0.5, n_step=3)
    for r0, r, disc in zip(batch.obs[:, 0], batch.rewards, batch.discount):
        steps = 3 - int(r0)
        assert disc == pytest.approx(0.5 ** steps)
        assert r == pytest.approx(sum(0.5 ** k * (r0 + k) for k in range(steps)))


def test_state_dict_round_trip_restores_contents_and_sampler():
    a = ReplayBuffer(8, 2, rng=3)
    fill(a, 11)
    arrays, meta = a.state_dict()
    b = ReplayBuffer(8, 2, rng=99)
    b.load_state_dict(arrays, meta)
    np.testing.assert_array_equal(a.sample(16).obs, b.sample(16).obs)
    assert (a.pos, a.size) == (b.pos, b.size)
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(9, 2).load_state_dict(arrays, meta)


def test_memory_per_transition_is_as_documented():
    buf = ReplayBuffer(1000, obs_dim=4, rng=0)
    assert buf.nbytes / 1000 == 8 * 4 + 8 + 4 + 2
