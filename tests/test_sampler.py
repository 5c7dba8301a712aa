"""Round-robin batch sampler: one corpus per batch, fair turns, seeded and resumable order, disjoint ranks."""

from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from exhubert_hf.data.sampler import RoundRobinBatchSampler

SETTINGS = settings(deadline=None, max_examples=50)


@st.composite
def layouts(draw, max_corpora=4, max_batch=4, max_replicas=2):
    """A corpus -> indices mapping (disjoint, shuffled dataset indices), batch size and replica count."""
    batch_size = draw(st.integers(1, max_batch))
    num_replicas = draw(st.integers(1, max_replicas))
    global_batch = batch_size * num_replicas
    sizes = draw(st.lists(st.integers(global_batch, global_batch * 5 + 3), min_size=1, max_size=max_corpora))
    permutation = draw(st.permutations(range(sum(sizes))))
    corpus_indices, start = {}, 0
    for number, size in enumerate(sizes):
        corpus_indices[f"corpus{number}"] = list(permutation[start : start + size])
        start += size
    return corpus_indices, batch_size, num_replicas


def corpus_of(corpus_indices):
    return {index: name for name, indices in corpus_indices.items() for index in indices}


@SETTINGS
@given(layouts(), st.integers(0, 2**32), st.integers(1, 3))
def test_each_batch_is_one_corpus_and_corpora_take_turns(layout, seed, cycles):
    corpus_indices, batch_size, num_replicas = layout
    num_corpora = len(corpus_indices)
    sampler = RoundRobinBatchSampler(corpus_indices, batch_size, seed=seed, num_steps=cycles * num_corpora)
    owner = corpus_of(corpus_indices)
    batches = list(sampler)
    assert len(batches) == len(sampler) == cycles * num_corpora
    per_corpus = Counter()
    for step, batch in enumerate(batches):
        assert len(batch) == batch_size
        names = {owner[index] for index in batch}
        assert names == {sampler.step_corpus(step)} == {sampler.corpus_order[step % num_corpora]}
        per_corpus[sampler.step_corpus(step)] += 1
    assert per_corpus == {name: cycles for name in corpus_indices}


@SETTINGS
@given(layouts(), st.integers(0, 2**32))
def test_within_a_pass_no_index_repeats_and_the_leftover_is_dropped(layout, seed):
    corpus_indices, batch_size, num_replicas = layout
    sampler = RoundRobinBatchSampler(corpus_indices, batch_size, seed=seed, num_replicas=num_replicas)
    global_batch = batch_size * num_replicas
    for position, (name, indices) in enumerate(corpus_indices.items()):
        per_pass = len(indices) // global_batch
        for pass_number in range(2):
            steps = [(pass_number * per_pass + j) * len(corpus_indices) + position for j in range(per_pass)]
            drawn = [index for step in steps for index in sampler.global_batch(step)]
            assert len(drawn) == len(set(drawn)) == per_pass * global_batch
            assert set(drawn) <= set(indices)
            assert len(set(indices) - set(drawn)) == len(indices) % global_batch  # the dropped leftover


@SETTINGS
@given(layouts(max_replicas=1), st.integers(0, 2**32))
def test_same_seed_same_order(layout, seed):
    corpus_indices, batch_size, _ = layout
    first = list(RoundRobinBatchSampler(corpus_indices, batch_size, seed=seed))
    second = list(RoundRobinBatchSampler(dict(corpus_indices), batch_size, seed=seed))
    assert first == second


def test_different_seeds_differ():
    corpus_indices = {"a": range(0, 50), "b": range(50, 80), "c": range(80, 200)}
    orders = {tuple(map(tuple, RoundRobinBatchSampler(corpus_indices, 4, seed=seed))) for seed in range(5)}
    assert len(orders) == 5


@SETTINGS
@given(layouts(), st.integers(0, 2**32), st.data())
def test_resume_reproduces_the_uninterrupted_order(layout, seed, data):
    corpus_indices, batch_size, num_replicas = layout
    num_steps = len(corpus_indices) * 7
    kwargs = dict(seed=seed, num_replicas=num_replicas, rank=num_replicas - 1, num_steps=num_steps)
    full = list(RoundRobinBatchSampler(corpus_indices, batch_size, **kwargs))
    resume_at = data.draw(st.integers(0, num_steps))
    resumed = RoundRobinBatchSampler(corpus_indices, batch_size, start_step=resume_at, **kwargs)
    assert len(resumed) == num_steps - resume_at
    assert list(resumed) == full[resume_at:]

    # Through state_dict: a sampler that was interrupted after `resume_at` steps, restored into a fresh one
    # made with another seed (the state carries the seed).
    interrupted = RoundRobinBatchSampler(corpus_indices, batch_size, **kwargs)
    iterator = iter(interrupted)
    for _ in range(resume_at):
        next(iterator)
    state = interrupted.state_dict()
    assert state["start_step"] == resume_at
    fresh = RoundRobinBatchSampler(corpus_indices, batch_size, **{**kwargs, "seed": seed + 1})
    fresh.load_state_dict(state)
    assert list(fresh) == full[resume_at:]
    # And by set_start_step / an explicit trainer step.
    fresh.load_state_dict(interrupted.state_dict(step=0))
    fresh.set_start_step(resume_at)
    assert list(fresh) == full[resume_at:]


@SETTINGS
@given(layouts(max_replicas=1), st.integers(0, 2**32))
def test_two_processes_get_disjoint_parts_of_the_same_step(layout, seed):
    corpus_indices, batch_size, _ = layout
    samplers = [
        RoundRobinBatchSampler(corpus_indices, 1 + batch_size // 2, seed=seed, num_replicas=2, rank=rank)
        for rank in (0, 1)
    ] if all(len(v) >= 2 * (1 + batch_size // 2) for v in corpus_indices.values()) else None
    if samplers is None:
        with pytest.raises(ValueError, match="fewer than the global batch"):
            RoundRobinBatchSampler(corpus_indices, 1 + batch_size // 2, seed=seed, num_replicas=2, rank=0)
        return
    owner = corpus_of(corpus_indices)
    assert len(samplers[0]) == len(samplers[1])
    for step, (batch0, batch1) in enumerate(zip(*samplers)):
        assert not set(batch0) & set(batch1)
        assert {owner[i] for i in batch0} == {owner[i] for i in batch1} == {samplers[0].step_corpus(step)}
        assert batch0 + batch1 == samplers[0].global_batch(step)


def test_small_corpus_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="'tiny'"):
        RoundRobinBatchSampler({"big": range(100), "tiny": range(100, 103)}, 2, num_replicas=2)
    with pytest.raises(ValueError, match="listed twice"):
        RoundRobinBatchSampler({"a": range(10), "b": range(5, 15)}, 2)
    with pytest.raises(ValueError, match="empty"):
        RoundRobinBatchSampler({}, 2)
    with pytest.raises(ValueError, match="rank"):
        RoundRobinBatchSampler({"a": range(10)}, 2, num_replicas=2, rank=2)


def test_default_length_is_one_cycle_epoch_and_state_checks_the_dataset():
    sampler = RoundRobinBatchSampler({"a": range(10), "b": range(10, 14), "c": range(14, 40)}, 2, num_replicas=2)
    assert len(sampler) == 3 * 7  # ceil(26 / 4) = 7 turns each
    sampler.set_start_step(5)
    assert len(sampler) == 16
    other = RoundRobinBatchSampler({"a": range(10), "b": range(10, 15), "c": range(15, 40)}, 2, num_replicas=2)
    with pytest.raises(ValueError, match="does not match"):
        other.load_state_dict(sampler.state_dict())
    single = RoundRobinBatchSampler({"a": range(10), "b": range(10, 14), "c": range(14, 40)}, 2)
    with pytest.raises(ValueError, match="global batch"):
        single.load_state_dict(sampler.state_dict())


def test_from_corpus_column_sorts_corpora_and_skipping_ahead_is_cheap():
    column = ["b", "a", "c", "a", "b", "c", "c", "a"]
    sampler = RoundRobinBatchSampler.from_corpus_column(column, 2, seed=3, num_steps=10**12, start_step=10**11)
    assert sampler.corpus_order == ("a", "b", "c")
    batches = [batch for _, batch in zip(range(6), sampler)]
    for step, batch in enumerate(batches, start=10**11):
        assert {column[i] for i in batch} == {sampler.step_corpus(step)}


def test_works_as_a_dataloader_batch_sampler():
    dataset = [{"value": index, "corpus": "a" if index < 12 else "b"} for index in range(30)]
    sampler = RoundRobinBatchSampler.from_corpus_column([row["corpus"] for row in dataset], 4, seed=1)

    def collate(rows):
        return {"value": torch.tensor([row["value"] for row in rows]), "corpus": [row["corpus"] for row in rows]}

    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=collate)
    batches = list(loader)
    assert len(batches) == len(loader) == len(sampler) == 2 * 5
    for step, batch in enumerate(batches):
        assert set(batch["corpus"]) == {sampler.step_corpus(step)}
        assert batch["value"].tolist() == sampler.batch(step)
