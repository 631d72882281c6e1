"""SRU-NER sentence merging (spec §9 "maximize"): packing consecutive sentences of a document."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from biomtl.modeling.modeling_sru_ner import SruNerForTokenActions
from biomtl.modeling.sru_inputs import merge_examples, pack_cost, plan_merges, unmerge_spans


def _greedy(sizes, docs, max_tokens):
    packs = []
    for i in range(len(sizes)):
        if packs and docs[i] and docs[packs[-1][-1]] == docs[i] and pack_cost(sizes, packs[-1] + [i]) <= max_tokens:
            packs[-1].append(i)
        else:
            packs.append([i])
    return packs


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 30), st.sampled_from(["d1", "d2", None])), min_size=1, max_size=25),
       st.integers(10, 60))
def test_plan_merges_properties(items, max_tokens):
    sizes = [s for s, _ in items]
    docs = [d for _, d in items]
    packs = plan_merges(sizes, docs, max_tokens)
    assert [i for p in packs for i in p] == list(range(len(sizes)))  # consecutive, in order, complete
    for p in packs:
        assert p == list(range(p[0], p[-1] + 1))
        if len(p) > 1:
            assert docs[p[0]] and all(docs[i] == docs[p[0]] for i in p)
            assert pack_cost(sizes, p) <= max_tokens
    greedy = _greedy(sizes, docs, max_tokens)
    assert len(packs) == len(greedy)  # moving boundaries never changes the number of packs
    sq = sum(pack_cost(sizes, p) ** 2 for p in packs)
    assert sq <= sum(pack_cost(sizes, p) ** 2 for p in greedy)


def test_plan_merges_balances_neighbours():
    # greedy: [0,1,2] (1+30+3=34) and [3] (1+10+1=12); moving 2 over lowers the variance
    packs = plan_merges([10, 10, 10, 10], ["d"] * 4, 34)
    assert packs == [[0, 1], [2, 3]]


def test_merge_examples_round_trip_and_separator_words(tok, tiny_encoder_dir):
    exs = [
        {"id": "a", "corpus": "C", "doc_id": "1", "tokens": ["BRCA1", "is", "a", "gene"],
         "spans": [{"start": 0, "end": 1, "label": "C/Gene"}]},
        {"id": "b", "corpus": "C", "doc_id": "1", "tokens": ["TP53", "too"],
         "spans": [{"start": 0, "end": 1, "label": "C/Gene"}]},
        {"id": "c", "corpus": "C", "doc_id": "2", "tokens": ["other", "doc"], "spans": []},
    ]
    merged = merge_examples(exs, tok, 64)
    assert [m["id"] for m in merged] == ["a+b", "c"]
    m = merged[0]
    assert m["tokens"] == ["BRCA1", "is", "a", "gene", "[SEP]", "TP53", "too"]
    assert m["spans"] == [{"start": 0, "end": 1, "label": "C/Gene"}, {"start": 5, "end": 6, "label": "C/Gene"}]
    ids = tok(m["tokens"], is_split_into_words=True)["input_ids"]
    assert ids.count(tok.sep_token_id) == 2  # the inner separator word is the SEP token itself
    back = unmerge_spans(m["merged_from"], m["spans"] + [{"start": 3, "end": 6, "label": "C/Gene"}])
    assert back == {"a": exs[0]["spans"], "b": exs[1]["spans"]}  # the cross-sentence span is dropped
    model = SruNerForTokenActions.from_encoder(str(tiny_encoder_dir), {"C": ["C/Gene"]}, sentence_merging=True)
    assert [x["id"] for x in model.prepare_examples(exs, tok)] == ["a+b", "c"]
    batch = model.collate(model.prepare_examples(exs, tok), tok)
    assert batch["slot_mask"][0].sum() == 7 + 2  # the separator has its own slot (and a gold SH)
    model.config.sentence_merging = False
    assert model.prepare_examples(exs, tok) == exs
