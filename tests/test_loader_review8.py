"""Loading a built dataset as a researcher does: torch DataLoader settings and collation."""

import pytest

from eventsim.datasets import EventVQADataset, collate_event_vqa


@pytest.fixture(scope="module")
def built(build_shapes):
    return build_shapes(3)


def test_collate_given_one_sample_says_so_not_that_a_transform_changed_it(built):
    # DataLoader(batch_size=None) hands collate_fn each sample alone: the dict's keys were
    # taken for samples ("sample 0 of the batch is a str (a transform changed it)")
    ds = EventVQADataset(built)
    with pytest.raises(TypeError, match=r"one sample, not a list of them.*batch_size=None"):
        collate_event_vqa(ds[0])
    tonic = pytest.importorskip("tonic")
    del tonic
    from eventsim.datasets.tonic_adapter import TonicEventVQA

    with pytest.raises(TypeError, match=r"one sample, not a list of them.*batch_size=None"):
        collate_event_vqa(TonicEventVQA(built)[0])


def test_dataloader_without_batches_and_collate_says_what_to_pass(built):
    tud = pytest.importorskip("torch.utils.data")
    ds = EventVQADataset(built)
    loader = tud.DataLoader(ds, batch_size=None, collate_fn=collate_event_vqa)
    with pytest.raises(TypeError, match=r"batch_size=None"):
        next(iter(loader))
