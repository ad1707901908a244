#!/usr/bin/env python3
"""Op coverage of HF transformers models (BERT, GPT-2, T5, ViT, Llama) in TorchScript.

Builds small random-weight configs (nothing downloads; the configs of tests/torch/export_models.py),
each with attn_implementation "eager" and "sdpa", traces them (and tries scripting; HF models do not
script, the error is recorded), runs the lowering the C++ TorchScript frontend runs
(kiln_torch/graph/torchscript_import.cpp: remove dropout, freeze, inline, tuple lowering, mutation
removal, constant propagation, peephole, CSE, DCE, then specialization to the static example shapes)
and prints / writes the overload-qualified op names ("aten::add.Tensor", as node_op_name() spells
them) per model.

  scripts/coverage_nlp.py [--json OUT.json] [--models bert_eager,llama_sdpa] [--registered OPS.txt]
                          [--export-dir DIR]

--registered takes a file with one registered converter name per line (`kilnc --list-converters`)
and then also prints, per model, the ops without a converter. --export-dir saves each traced module
as DIR/NAME_traced.ts (positional inputs: input_ids, attention_mask[, decoder_input_ids] or
pixel_values), for `kilnc --check-support` (the C++ frontend's exact view, with reasons per op).
"""

import argparse
import json
import os
import re
import sys
import warnings

import torch

IGNORED = {"prim::Constant"}


def op_name(node: torch._C.Node) -> str:
    """node_op_name(): the kind plus the overload name of the matched schema."""
    name = node.kind()
    try:
        schema = node.schema()
    except RuntimeError:
        schema = "(no schema)"
    if schema and schema != "(no schema)":
        m = re.match(r"^([\w:]+)(?:\.(\w+))?\(", schema)
        if m and m.group(2):
            name += "." + m.group(2)
    return name


def collect_ops(graph: torch._C.Graph) -> list:
    """Sorted op names of the graph (nested blocks included)."""
    ops = set()

    def walk(block):
        for n in block.nodes():
            if n.kind() not in IGNORED:
                ops.add(op_name(n))
            for b in n.blocks():
                walk(b)

    walk(graph)
    return sorted(ops)


def lower(module: torch.jit.ScriptModule, example: tuple) -> torch._C.Graph:
    """The C++ frontend's lowering (import_torchscript + specialize_to_inputs) as far as Python has the passes."""
    m = module.eval()
    torch._C._jit_pass_remove_dropout(m._c)
    frozen = torch.jit.freeze(m, optimize_numerics=True)
    g = frozen.graph.copy()
    torch._C._jit_pass_inline(g)
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
    try:  # specialize_to_inputs: static shapes fold aten::dim / aten::size / prim::If
        inputs = list(g.inputs())
        for v, t in zip(inputs[1:], example):
            v.setType(torch._C.TensorType.create_from_tensor(t))
        torch._C._jit_pass_complete_shape_analysis(g, (frozen._c, *example), False)
    except Exception:  # noqa: BLE001 - best effort, as in C++
        pass
    torch._C._jit_pass_peephole(g, False)
    torch._C._jit_pass_constant_propagation(g)
    torch._C._jit_pass_dce(g)
    return g


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


def build_models(attn_impls=("eager", "sdpa"), seq=16, batch=2):
    """(name, model, input names, example inputs) per configuration (the configs of export_models.py)."""
    import transformers as tf

    torch.manual_seed(0)
    ids = torch.randint(0, 1000, (batch, seq))
    mask = torch.ones(batch, seq, dtype=torch.long)
    mask[-1, seq * 3 // 4 :] = 0  # padding: the traced mask code then handles it too
    dec_ids = torch.randint(0, 1000, (batch, seq // 2))
    pixels = torch.randn(batch, 3, 32, 32)
    out = []
    for attn in attn_impls:
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
        out.append((f"bert_{attn}", bert, ("input_ids", "attention_mask"), (ids, mask)))
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
        out.append((f"vit_{attn}", vit, ("pixel_values",), (pixels,)))
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
    for _, m, _, _ in out:
        m.eval()
    return out


def trace(model, names, inputs):
    with torch.no_grad():
        return torch.jit.trace(KwargsWrapper(model, names).eval(), inputs, strict=False, check_trace=False)


def first_line(e: Exception) -> str:
    s = str(e).strip()
    return f"{type(e).__name__}: {s.splitlines()[0][:300]}" if s else repr(e)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--json", help="write {model: {traced: [...], scripted: [...] | null, trace_error, script_error}}"
    )
    ap.add_argument(
        "--models",
        help="comma-separated subset (bert_eager, gpt2_sdpa, t5_eager, vit_sdpa, llama_eager, ...)",
    )
    ap.add_argument("--registered", help="file with one registered converter op name per line")
    ap.add_argument("--export-dir", help="also save the traced modules here")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    try:
        import transformers  # noqa: F401
    except ImportError:
        print("transformers is not installed", file=sys.stderr)
        return 1
    registered = None
    if args.registered:
        with open(args.registered) as f:
            registered = {line.strip() for line in f if line.strip()}
    wanted = set(args.models.split(",")) if args.models else None
    if args.export_dir:
        os.makedirs(args.export_dir, exist_ok=True)
    result: dict = {}
    union: set = set()
    for name, model, names, inputs in build_models():
        if wanted is not None and name not in wanted:
            continue
        entry = {"traced": None, "scripted": None, "trace_error": None, "script_error": None}
        try:
            traced = trace(model, names, inputs)
            if args.export_dir:
                traced.save(os.path.join(args.export_dir, f"{name}_traced.ts"))
            entry["traced"] = collect_ops(lower(traced, inputs))
        except Exception as e:  # noqa: BLE001 - record, keep going
            entry["trace_error"] = first_line(e)
        try:
            entry["scripted"] = collect_ops(lower(torch.jit.script(model), inputs))
        except Exception as e:  # noqa: BLE001
            entry["script_error"] = first_line(e)
        result[name] = entry
        for kind in ("traced", "scripted"):
            ops = entry[kind]
            if ops is None:
                print(
                    f"{name} [{kind}]: not available ({entry['trace_error' if kind == 'traced' else 'script_error']})"
                )
                continue
            union.update(ops)
            print(f"{name} [{kind}]: {' '.join(ops)}")
            if registered is not None:
                missing = [o for o in ops if o not in registered]
                print(f"  missing: {' '.join(missing) if missing else '(none)'}")
        sys.stdout.flush()
    print(f"all models: {' '.join(sorted(union))}")
    if registered is not None:
        print(f"all missing: {' '.join(sorted(o for o in union if o not in registered))}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
