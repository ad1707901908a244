"""Real models through the dynamo path, against eager PyTorch in float32 (random weights, no downloads)."""

import pytest
import torch

import kiln
from conftest import cosine, rel_err


def randomize_zero_params(m):
    with torch.no_grad():
        for p in m.parameters():
            if p.numel() > 1 and bool((p == 0).all()):
                p.normal_(0.0, 0.02)


def test_resnet18_batch_1_to_2():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    inp = kiln.Input(min_shape=(1, 3, 224, 224), opt_shape=(2, 3, 224, 224), max_shape=(2, 3, 224, 224))
    m = kiln.compile(model, inputs=[inp])
    rep = m.meta["kiln"]["report"]
    assert rep.fully_supported and rep.num_engines == 1, rep.text
    with torch.no_grad():
        for b in (1, 2):
            x = torch.randn(b, 3, 224, 224)
            out, ref = m(x), model(x)
            assert cosine(out, ref) > 0.9999
            assert rel_err(out, ref) < 1e-4


def test_small_bert():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.BertConfig(
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=256,
        vocab_size=1000,
        attn_implementation="eager",
    )
    bert = transformers.BertModel(cfg).eval()
    randomize_zero_params(bert)
    ids = torch.randint(0, 1000, (2, 16))
    mask = torch.ones(2, 16, dtype=torch.long)
    mask[1, 12:] = 0
    m = kiln.compile(bert, inputs=[ids], kwarg_inputs={"attention_mask": mask})
    rep = m.meta["kiln"]["report"]
    assert rep.num_engines >= 1, rep.text
    with torch.no_grad():
        out, ref = m(ids, attention_mask=mask), bert(ids, attention_mask=mask)
    for key in ("last_hidden_state", "pooler_output"):
        assert cosine(out[key], ref[key]) > 0.9999, key
        assert rel_err(out[key], ref[key]) < 1e-4, key


def test_small_bert_dynamic_sequence():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.BertConfig(
        hidden_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=128,
        vocab_size=500,
        attn_implementation="eager",
    )
    bert = transformers.BertModel(cfg).eval()
    ids = kiln.Input(min_shape=(1, 4), opt_shape=(2, 16), max_shape=(2, 32), dtype=torch.int64)
    m = kiln.compile(bert, inputs=[ids])
    with torch.no_grad():
        for b, s in ((1, 4), (2, 9), (2, 32)):
            x = torch.randint(0, 500, (b, s))
            out, ref = m(x).last_hidden_state, bert(x).last_hidden_state
            assert out.shape == ref.shape
            assert cosine(out, ref) > 0.9999 and rel_err(out, ref) < 1e-4
