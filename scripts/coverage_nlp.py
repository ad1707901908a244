#!/usr/bin/env python3
"""Op coverage of HF transformers models in TorchScript.

Builds small random-weight configs of BERT, GPT-2, T5, ViT and Llama (nothing downloads), traces them
(attn_implementation "eager" and "sdpa"; scripting is tried too and recorded when it fails), freezes
them (torch.jit.freeze), lowers the graph the way Kiln's TorchScript importer does (inline, tuple
lowering, mutation removal, constant propagation, peephole, CSE, DCE) and writes a JSON of the
overload-qualified op names ("kind.overload", as kiln's node_op_name() spells them) per model.

    python scripts/coverage_nlp.py [out.json] [--registered registered_ops.txt]

With --registered (one op name per line, e.g. from the converter registry) the ops without a
converter are listed per model as well.
"""
import argparse
import json
import sys
import warnings

import torch

SKIP_KINDS = {"prim::Constant"}


def op_name(node: torch._C.Node) -> str:
    name = node.kind()
    try:
        schema = node.schema()
    except RuntimeError:
        schema = "(no schema)"
    if schema and schema != "(no schema)":
        # "aten::add.Tensor(Tensor self, ...) -> Tensor"
        head = schema.split("(", 1)[0]
        if "." in head.split("::", 1)[-1]:
            return head
    return name


def collect_ops(graph: torch._C.Graph, out: dict) -> None:
    for node in graph.nodes():
        if node.kind() in SKIP_KINDS:
            continue
        name = op_name(node)
        out[name] = out.get(name, 0) + 1
        for block in node.blocks():
            collect_ops(block, out)


def lower(graph: torch._C.Graph) -> torch._C.Graph:
    """The importer's passes (kiln_torch/graph/torchscript_import.cpp), as far as Python exposes them."""
    g = graph.copy()
    torch._C._jit_pass_inline(g)
    torch._C._jit_pass_remove_dropout  # modules only; frozen eval graphs have no live dropout
    try:
        torch._C._jit_pass_lower_all_tuples(g)
    except RuntimeError:
        pass
    torch._C._jit_pass_remove_mutation(g)
    torch._C._jit_pass_constant_propagation(g)
    torch._C._jit_pass_constant_pooling(g)
    torch._C._jit_pass_peephole(g, True)
    torch._C._jit_pass_cse(g)
    torch._C._jit_pass_dce(g)
    return g


def model_ops(module: torch.jit.ScriptModule) -> dict:
    frozen = torch.jit.freeze(module.eval())
    g = lower(frozen.graph)
    ops: dict = {}
    collect_ops(g, ops)
    return dict(sorted(ops.items()))


class KwargsWrapper(torch.nn.Module):
    """Positional tensors -> the model's keyword arguments (GPT-2's second positional argument is
    past_key_values, T5 needs decoder_input_ids by name); returns the model's output tuple."""

    def __init__(self, model: torch.nn.Module, names):
        super().__init__()
        self.model = model
        self.names = list(names)

    def forward(self, *args):
        return self.model(**dict(zip(self.names, args)), return_dict=False)


def build_models(attn_impls=("eager", "sdpa"), seq=16, batch=2):
    """(name, model, input names, example inputs) for every configuration. The same configs as
    tests/torch/export_models.py."""
    import transformers as tf

    torch.manual_seed(0)
    ids = torch.randint(0, 1000, (batch, seq))
    mask = torch.ones(batch, seq, dtype=torch.long)
    mask[-1, seq * 3 // 4:] = 0  # padding in the last sequence
    dec_ids = torch.randint(0, 1000, (batch, seq // 2))
    pixels = torch.randn(batch, 3, 32, 32)
    out = []
    for attn in attn_impls:
        # return_dict=False is passed per call: set in the config, T5's sub-stacks return tuples
        # where T5Model expects outputs with attributes.
        common = dict(torchscript=True, attn_implementation=attn)
        bert = tf.BertModel(tf.BertConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                                          intermediate_size=256, vocab_size=1000, **common))
        out.append((f"bert_{attn}", bert, ("input_ids", "attention_mask"), (ids, mask)))
        gpt2 = tf.GPT2Model(tf.GPT2Config(n_embd=128, n_layer=2, n_head=4, vocab_size=1000, n_positions=64,
                                          bos_token_id=0, eos_token_id=0, use_cache=False, **common))
        out.append((f"gpt2_{attn}", gpt2, ("input_ids", "attention_mask"), (ids, mask)))
        t5 = tf.T5Model(tf.T5Config(d_model=128, d_kv=32, d_ff=256, num_layers=2, num_decoder_layers=2,
                                    num_heads=4, vocab_size=1000, use_cache=False, **common))
        out.append((f"t5_{attn}", t5, ("input_ids", "attention_mask", "decoder_input_ids"), (ids, mask, dec_ids)))
        vit = tf.ViTModel(tf.ViTConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                                       intermediate_size=256, image_size=32, patch_size=8, **common))
        out.append((f"vit_{attn}", vit, ("pixel_values",), (pixels,)))
        llama = tf.LlamaModel(tf.LlamaConfig(hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                                             num_attention_heads=4, num_key_value_heads=2, vocab_size=1000,
                                             max_position_embeddings=64, use_cache=False, **common))
        out.append((f"llama_{attn}", llama, ("input_ids", "attention_mask"), (ids, mask)))
    for _, m, _, _ in out:
        m.eval()
    return out


def trace(model, names, inputs):
    with torch.no_grad():
        return torch.jit.trace(KwargsWrapper(model, names).eval(), inputs, strict=False, check_trace=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default="coverage_nlp.json")
    ap.add_argument("--registered", help="file with one registered op name per line")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    registered = None
    if args.registered:
        with open(args.registered) as f:
            registered = {line.strip() for line in f if line.strip()}
    result: dict = {"torch": torch.__version__, "models": {}}
    try:
        import transformers

        result["transformers"] = transformers.__version__
    except ImportError:
        print("transformers is not installed", file=sys.stderr)
        return 1
    for name, model, names, inputs in build_models():
        entry: dict = {}
        try:
            entry["traced"] = model_ops(trace(model, names, inputs))
        except Exception as e:  # noqa: BLE001 - record, keep going
            entry["trace_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
        try:
            entry["scripted"] = model_ops(torch.jit.script(model.eval()))
        except Exception as e:  # noqa: BLE001
            entry["script_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
        if registered is not None:
            ops = set(entry.get("traced", {})) | set(entry.get("scripted", {}))
            entry["missing"] = sorted(op for op in ops if op not in registered)
        result["models"][name] = entry
        print(f"{name}: traced {len(entry.get('traced', {}))} ops, "
              f"{'scripted ' + str(len(entry['scripted'])) + ' ops' if 'scripted' in entry else 'not scriptable'}"
              + (f", missing {entry['missing']}" if registered is not None else ""), file=sys.stderr)
    all_ops = sorted({op for e in result["models"].values() for k in ("traced", "scripted") for op in e.get(k, {})})
    result["all_ops"] = all_ops
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print("wrote", args.out, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
