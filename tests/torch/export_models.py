"""Exports the TorchScript models the C++ torch-bridge tests compile (random weights, no downloads)."""

import os
import sys

import torch


def randomize_zero_params(m: torch.nn.Module) -> None:
    """Heads initialised to zero (ViT's classifier) would make every output 0 and hide errors."""
    with torch.no_grad():
        for p in m.parameters():
            if p.numel() > 1 and bool((p == 0).all()):
                p.normal_(0.0, 0.02)


class KwargsWrapper(torch.nn.Module):
    """Positional tensors -> a HF model's keyword arguments (GPT-2's second positional argument is
    past_key_values; T5 needs decoder_input_ids by name), returning the output tuple. return_dict=False
    goes with the call: set in the config, T5's sub-stacks return tuples where T5Model wants attributes."""

    def __init__(self, model: torch.nn.Module, names):
        super().__init__()
        self.model = model
        self.names = list(names)

    def forward(self, *args):
        return self.model(**dict(zip(self.names, args)), return_dict=False)


def transformers_models():
    """Small random-weight HF models: (file stem, model, input names, example inputs). The same configs
    as scripts/coverage_nlp.py."""
    import transformers as tf

    torch.manual_seed(0)
    ids = torch.randint(0, 1000, (2, 16))
    mask = torch.ones(2, 16, dtype=torch.long)
    mask[1, 12:] = 0  # padding: the traced mask code then handles it too
    dec_ids = torch.randint(0, 1000, (2, 8))
    pixels = torch.randn(2, 3, 32, 32)
    out = []
    for attn in ("eager", "sdpa"):
        common = dict(torchscript=True, attn_implementation=attn)
        bert = tf.BertModel(
            tf.BertConfig(
                hidden_size=128,
                num_hidden_layers=2,
                num_attention_heads=4,
                intermediate_size=256,
                vocab_size=1000,
                **common,
            )
        )
        out.append(
            (
                "bert_small" if attn == "eager" else "bert_sdpa",
                bert,
                ("input_ids", "attention_mask"),
                (ids, mask),
            )
        )
        gpt2 = tf.GPT2Model(
            tf.GPT2Config(
                n_embd=128,
                n_layer=2,
                n_head=4,
                vocab_size=1000,
                n_positions=64,
                bos_token_id=0,
                eos_token_id=0,
                use_cache=False,
                **common,
            )
        )
        out.append((f"gpt2_{attn}", gpt2, ("input_ids", "attention_mask"), (ids, mask)))
        t5 = tf.T5Model(
            tf.T5Config(
                d_model=128,
                d_kv=32,
                d_ff=256,
                num_layers=2,
                num_decoder_layers=2,
                num_heads=4,
                vocab_size=1000,
                use_cache=False,
                **common,
            )
        )
        out.append(
            (f"t5_{attn}", t5, ("input_ids", "attention_mask", "decoder_input_ids"), (ids, mask, dec_ids))
        )
        vit = tf.ViTModel(
            tf.ViTConfig(
                hidden_size=128,
                num_hidden_layers=2,
                num_attention_heads=4,
                intermediate_size=256,
                image_size=32,
                patch_size=8,
                **common,
            )
        )
        out.append((f"vit_hf_{attn}", vit, ("pixel_values",), (pixels,)))
        llama = tf.LlamaModel(
            tf.LlamaConfig(
                hidden_size=128,
                intermediate_size=256,
                num_hidden_layers=2,
                num_attention_heads=4,
                num_key_value_heads=2,
                vocab_size=1000,
                max_position_embeddings=64,
                use_cache=False,
                **common,
            )
        )
        out.append((f"llama_{attn}", llama, ("input_ids", "attention_mask"), (ids, mask)))
    return out


def export_transformers(out_dir: str) -> None:
    try:
        import transformers  # noqa: F401
    except ImportError:
        print("transformers not installed: NLP models skipped")
        return
    import warnings

    warnings.filterwarnings("ignore")
    for stem, model, names, inputs in transformers_models():
        randomize_zero_params(model)
        model.eval()
        with torch.no_grad():
            traced = torch.jit.trace(
                KwargsWrapper(model, names).eval(), inputs, strict=False, check_trace=False
            )
        traced.save(os.path.join(out_dir, f"{stem}_traced.ts"))


def main(out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    import torchvision

    models = {
        "resnet18": torchvision.models.resnet18(),
        "mobilenet_v2": torchvision.models.mobilenet_v2(),
        "efficientnet_b0": torchvision.models.efficientnet_b0(),
        "vit_b_16": torchvision.models.vit_b_16(),
    }
    x = torch.randn(1, 3, 224, 224)
    for name, m in models.items():
        randomize_zero_params(m)
        m.eval()
        with torch.no_grad():
            torch.jit.trace(m, x).save(os.path.join(out_dir, f"{name}_traced.ts"))
            torch.jit.script(m).save(os.path.join(out_dir, f"{name}_scripted.ts"))
    # Segmentation models (dict outputs; bilinear upsampling to the input size), small inputs.
    seg = torchvision.models.segmentation
    segmentation = {
        "fcn_resnet50": (seg.fcn_resnet50, False),
        "deeplabv3_resnet50": (seg.deeplabv3_resnet50, False),
        "deeplabv3_mobilenet_v3_large": (seg.deeplabv3_mobilenet_v3_large, True),
        "lraspp_mobilenet_v3_large": (seg.lraspp_mobilenet_v3_large, True),
    }
    xs = torch.randn(1, 3, 64, 64)
    for name, (ctor, script) in segmentation.items():
        m = ctor(weights=None, weights_backbone=None).eval()
        randomize_zero_params(m)
        with torch.no_grad():
            torch.jit.trace(m, xs, strict=False).save(os.path.join(out_dir, f"{name}_traced.ts"))
            if script:
                torch.jit.script(m).save(os.path.join(out_dir, f"{name}_scripted.ts"))
    export_transformers(out_dir)
    print("exported to", out_dir)


if __name__ == "__main__":
    main(sys.argv[1])
