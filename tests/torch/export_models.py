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
            if name in ("resnet18", "mobilenet_v2"):
                torch.jit.script(m).save(os.path.join(out_dir, f"{name}_scripted.ts"))
    try:
        from transformers import BertConfig, BertModel
    except ImportError:
        print("transformers not installed: BERT model skipped")
        return
    cfg = BertConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256,
                     vocab_size=1000, torchscript=True, attn_implementation="eager")
    bert = BertModel(cfg).eval()
    ids = torch.randint(0, 1000, (2, 16))
    mask = torch.ones(2, 16, dtype=torch.long)
    with torch.no_grad():
        torch.jit.trace(bert, (ids, mask)).save(os.path.join(out_dir, "bert_small_traced.ts"))
    print("exported to", out_dir)


if __name__ == "__main__":
    main(sys.argv[1])
