"""Torch-TensorRT with a transformers encoder ("Compiling a Transformer using torch_tensorrt.compile"): a BERT
encoder with random weights, integer token inputs with a dynamic batch (Input(min/opt/max, dtype=torch.int32)),
kwarg_inputs for the attention mask, torch_tensorrt.save / load, and the logging context managers."""

import os
import tempfile

import torch
from transformers import BertConfig, BertModel

import kiln as torch_tensorrt

device = "cuda" if torch.cuda.is_available() else "cpu"
torch.manual_seed(0)
config = BertConfig(
    vocab_size=1000,
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=128,
    max_position_embeddings=64,
)
model = BertModel(config, add_pooling_layer=False).eval().to(device)

seq = 16
input_ids = torch.randint(0, 1000, (2, seq), dtype=torch.int32, device=device)
attention_mask = torch.ones(2, seq, dtype=torch.int32, device=device)
inputs = [
    torch_tensorrt.Input(
        min_shape=(1, seq), opt_shape=(2, seq), max_shape=(4, seq), dtype=torch.int32, torch_tensor=input_ids
    )
]
kwarg_inputs = {
    "attention_mask": torch_tensorrt.Input(
        min_shape=(1, seq), opt_shape=(2, seq), max_shape=(4, seq), dtype=torch.int32
    )
}

with torch_tensorrt.logging.warnings():
    trt_model = torch_tensorrt.compile(
        model,
        ir="dynamo",
        arg_inputs=inputs,
        kwarg_inputs=kwarg_inputs,
        enabled_precisions={torch.float32},
        min_block_size=1,
        truncate_double=False,
        use_fp32_acc=False,
        immutable_weights=True,
    )


def check(m, batch):
    ids = torch.randint(0, 1000, (batch, seq), dtype=torch.int32, device=device)
    mask = torch.ones(batch, seq, dtype=torch.int32, device=device)
    mask[0, seq // 2 :] = 0
    with torch.no_grad():
        ref = model(ids, attention_mask=mask).last_hidden_state
        out = m(ids, attention_mask=mask)
        out = out["last_hidden_state"] if isinstance(out, dict) else out.last_hidden_state
    err = ((out - ref).abs().max() / ref.abs().max()).item()
    assert err < 1e-3, (batch, err)


for batch in (1, 2, 4):
    check(trt_model, batch)

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "bert.ep")
    torch_tensorrt.save(trt_model, path, arg_inputs=inputs, kwarg_inputs=kwarg_inputs)
    reloaded = torch_tensorrt.load(path).module()
    for batch in (1, 3):
        check(reloaded, batch)
print("PASS")
