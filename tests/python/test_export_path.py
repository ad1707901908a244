"""Issue 16 item 4: the export path in front of the converters, against eager: model outputs holding objects
pytree does not know (a transformers cache), in-place resizes torch.export cannot functionalize, and shape
analysis of dynamic ranges whose min shapes some ops reject."""

import pytest
import torch

import kiln
from conftest import Fn


def test_encoder_decoder_with_cache_output_compiles_as_it_comes():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.T5Config(
        vocab_size=64, d_model=16, d_kv=4, d_ff=32, num_layers=1, num_decoder_layers=1, num_heads=2
    )
    torch.manual_seed(0)
    m = transformers.T5ForConditionalGeneration(cfg).eval()
    ids, dec = torch.randint(0, 64, (1, 5)), torch.randint(0, 64, (1, 3))
    with torch.no_grad():
        ref = m(input_ids=ids, decoder_input_ids=dec)  # use_cache=True: an EncoderDecoderCache output
        c = kiln.compile(
            m, inputs=[], kwarg_inputs={"input_ids": ids, "decoder_input_ids": dec}, device="cpu"
        )
        out = c(input_ids=ids, decoder_input_ids=dec)
    torch.testing.assert_close(out.logits, ref.logits, atol=1e-5, rtol=1e-4)
    assert type(out.past_key_values) is type(ref.past_key_values)
    for got, want in zip(
        out.past_key_values.self_attention_cache.layers, ref.past_key_values.self_attention_cache.layers
    ):
        torch.testing.assert_close(got.keys, want.keys, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(got.values, want.values, atol=1e-5, rtol=1e-4)


class ResizeInput(torch.nn.Module):
    def forward(self, x):
        x.resize_(6)
        return x * 2


class ResizeClone(torch.nn.Module):
    def forward(self, x):
        y = x.clone()
        y.resize_(2, 2)
        return y * 2


def test_resize_of_an_input_is_refused_with_what_to_write_instead():
    with pytest.raises(kiln.ExportError, match=r"in-place resize of input 'x'.*y = x.clone\(\); y.resize_"):
        kiln.compile(ResizeInput(), inputs=[torch.randn(3, 2)], device="cpu")


def test_resize_of_a_clone_compiles():
    x = torch.randn(3, 2)
    c = kiln.compile(ResizeClone(), inputs=[x], device="cpu")
    torch.testing.assert_close(c(x.clone()), ResizeClone()(x.clone()))


@pytest.mark.parametrize(
    "fn, spec, sizes",
    [  # ranges whose min shapes the op rejects: narrowed to what torch.export found the model needs
        (lambda x: x[:, 3] * 2, kiln.Input(min_shape=(2, 1), opt_shape=(2, 5), max_shape=(2, 8)), [4, 5, 8]),
        (
            lambda x: torch.nn.functional.max_pool3d(x, 3),
            kiln.Input(min_shape=(1, 2, 1, 4, 4), opt_shape=(1, 2, 6, 4, 4), max_shape=(1, 2, 9, 4, 4)),
            [3, 6, 9],
        ),
    ],
)
def test_shape_analysis_within_the_range_the_model_accepts(fn, spec, sizes):
    c = kiln.compile(Fn(fn), inputs=[spec], device="cpu", require_full_compilation=True, min_block_size=1)
    d = spec.dynamic_dims()[0]
    for n in sizes:
        shape = list(spec.opt_shape)
        shape[d] = n
        x = torch.randn(shape)
        torch.testing.assert_close(c(x), fn(x))
