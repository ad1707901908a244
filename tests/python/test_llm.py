"""kiln.llm on the CPU backend: generation with the KV cache as engine state, against transformers' own
generate (eager PyTorch, DynamicCache) on small random-weight Llama (GQA), Qwen2 (MQA, tied embeddings) and
GPT-2 configs. Greedy tokens must match HF token for token; left-padded batches must match each prompt
alone; sampling repeats with a seed; save/load round-trips; every misuse raises a KilnError in user terms."""

import warnings

import pytest
import torch

import kiln

transformers = pytest.importorskip("transformers")

VOCAB = 96
MAX_SEQ = 96
MAX_BATCH = 3


def _llama():
    cfg = transformers.LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        initializer_range=0.2,
    )
    return transformers.LlamaForCausalLM(cfg)


def _qwen2():
    cfg = transformers.Qwen2Config(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=1,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        initializer_range=0.2,
    )
    return transformers.Qwen2ForCausalLM(cfg)


def _gpt2():
    cfg = transformers.GPT2Config(
        vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=128, initializer_range=0.2
    )
    return transformers.GPT2LMHeadModel(cfg)


MAKERS = {"llama": _llama, "qwen2": _qwen2, "gpt2": _gpt2}


def _model(name):
    torch.manual_seed({"llama": 1, "qwen2": 2, "gpt2": 3}[name])
    m = MAKERS[name]().eval()
    m.generation_config.eos_token_id = None
    m.generation_config.pad_token_id = 0
    return m


@pytest.fixture(scope="module", params=list(MAKERS))
def compiled(request):
    model = _model(request.param)
    gen = kiln.llm.compile(model, max_batch=MAX_BATCH, max_seq_len=MAX_SEQ, device="cpu")
    yield request.param, model, gen
    gen.close()


def _hf_greedy(model, ids, mask=None, n=64):
    with torch.no_grad():
        return model.generate(
            ids,
            attention_mask=mask if mask is not None else torch.ones_like(ids),
            max_new_tokens=n,
            do_sample=False,
            pad_token_id=0,
            eos_token_id=None,
        )


def _prompt(b, s, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, VOCAB, (b, s), generator=g)


def test_greedy_matches_hf_64_tokens(compiled):
    name, model, gen = compiled
    ids = _prompt(1, 7, 10)
    out = gen.generate(ids, max_new_tokens=64)
    ref = _hf_greedy(model, ids)
    assert out.shape == ref.shape == (1, 7 + 64)
    assert torch.equal(out, ref), f"{name}: first difference at {(out != ref).nonzero()[:1].tolist()}"
    assert gen.stop_reason == "max_new_tokens"


def test_left_padded_batch_matches_each_prompt_alone(compiled):
    name, model, gen = compiled
    lens = [3, 9, 6]
    prompts = [_prompt(1, n, 20 + n)[0] for n in lens]
    s = max(lens)
    ids = torch.zeros(len(lens), s, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(prompts):
        ids[i, s - len(p) :] = p
        mask[i, s - len(p) :] = 1
    batched = gen.generate(ids, attention_mask=mask, max_new_tokens=24)
    for i, p in enumerate(prompts):
        alone = gen.generate(p[None], max_new_tokens=24)
        assert torch.equal(batched[i, s:], alone[0, len(p) :]), (
            f"{name}: sequence {i} differs from its prompt alone"
        )
        assert torch.equal(alone, _hf_greedy(model, p[None], n=24)), (
            f"{name}: prompt {i} alone differs from HF"
        )


def test_sampling_repeats_with_a_seed(compiled):
    name, _, gen = compiled
    ids = _prompt(2, 5, 30)
    kw = dict(max_new_tokens=16, do_sample=True, temperature=1.5, top_k=40, top_p=0.95)
    a = gen.generate(ids, seed=1234, **kw)
    b = gen.generate(ids, seed=1234, **kw)
    c = gen.generate(ids, seed=4321, **kw)
    assert torch.equal(a, b)
    assert not torch.equal(a, c), f"{name}: two seeds gave the same 32 sampled tokens"
    assert int(a.min()) >= 0 and int(a.max()) < VOCAB


def test_streaming_callback_gets_each_step(compiled):
    _, _, gen = compiled
    ids = _prompt(2, 4, 40)
    got = []
    out = gen.generate(ids, max_new_tokens=5, callback=lambda t: got.append(t.clone()))
    assert len(got) == 5
    assert torch.equal(torch.stack(got, 1), out[:, 4:])


def test_eos_stops_and_pads(compiled):
    _, _, gen = compiled
    ids = _prompt(1, 5, 50)
    free = gen.generate(ids, max_new_tokens=8)
    eos = int(free[0, 5 + 2])  # the third new token
    out = gen.generate(ids, max_new_tokens=8, eos_token_id=eos, pad_token_id=0)
    assert gen.stop_reason == "eos"
    first = (out[0, 5:] == eos).nonzero()[0].item()
    assert torch.equal(out[0, : 5 + first + 1], free[0, : 5 + first + 1])
    assert out.shape[1] == 5 + first + 1


def test_save_load_round_trip(compiled, tmp_path):
    name, _, gen = compiled
    ids = _prompt(2, 6, 60)
    want = gen.generate(ids, max_new_tokens=12)
    path = str(tmp_path / f"{name}.kiln-llm")
    gen.save(path)
    loaded = kiln.llm.load(path)
    assert loaded.max_seq_len == MAX_SEQ and loaded.max_batch == MAX_BATCH
    assert torch.equal(loaded.generate(ids, max_new_tokens=12), want)
    loaded.close()
    torch.save({"format": "something else"}, str(tmp_path / "bad"))
    with pytest.raises(kiln.CorruptPlanError):
        kiln.llm.load(str(tmp_path / "bad"))


def test_errors_in_user_terms():
    model = _model("llama")
    gen = kiln.llm.compile(model, max_batch=2, max_seq_len=16, device="cpu")
    with pytest.raises(kiln.llm.PromptTooLongError, match="17 tokens.*max_seq_len=16"):
        gen.generate(_prompt(1, 17, 1), max_new_tokens=1)
    with pytest.raises(kiln.llm.BatchTooLargeError, match="batch of 3.*max_batch=2"):
        gen.generate(_prompt(3, 4, 1), max_new_tokens=1)
    bad = _prompt(1, 4, 1)
    bad[0, 2] = VOCAB
    with pytest.raises(kiln.llm.TokenIdError, match=f"token id {VOCAB} is outside the vocabulary"):
        gen.generate(bad, max_new_tokens=1)
    with pytest.raises(kiln.llm.TokenIdError):
        gen.generate(torch.rand(1, 4), max_new_tokens=1)
    right_padded = torch.tensor([[1, 1, 0]])
    with pytest.raises(ValueError, match="padding must be on the left"):
        gen.generate(_prompt(1, 3, 1), attention_mask=right_padded, max_new_tokens=1)
    with pytest.raises(ValueError, match="max_new_tokens"):
        gen.generate(_prompt(1, 3, 1), max_new_tokens=0)
    with pytest.raises(ValueError, match="temperature"):
        gen.generate(_prompt(1, 3, 1), do_sample=True, temperature=0)
    # A full cache stops generation with the reason, keeping what was generated.
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = gen.generate(_prompt(1, 10, 1), max_new_tokens=20)
    assert gen.stop_reason == "cache_full"
    assert out.shape == (1, 10 + 7)  # columns 10..15 hold 6 new tokens; the 7th needs no cache slot
    assert any(
        issubclass(x.category, kiln.llm.CacheFullWarning) and "KV cache is full" in str(x.message) for x in w
    )
    for e in (kiln.llm.PromptTooLongError, kiln.llm.BatchTooLargeError, kiln.llm.TokenIdError):
        assert issubclass(e, kiln.KilnError)
    gen.close()
    with pytest.raises(kiln.llm.GeneratorClosedError, match="closed generator"):
        gen.generate(_prompt(1, 3, 1), max_new_tokens=1)
    with pytest.raises(kiln.KilnError):
        gen.save("/tmp/never")


def test_cache_is_updated_in_place_not_copied(compiled):
    """The engine's kv_cache_write layers write into the generator's cache tensors: same storage before and
    after, the columns of the prompt and the decoded inputs filled, the columns after them untouched."""
    _, _, gen = compiled
    for t in gen._kv:
        t.zero_()
    ptrs = [t.data_ptr() for t in gen._kv]
    gen.generate(_prompt(1, 5, 70), max_new_tokens=3)
    assert [t.data_ptr() for t in gen._kv] == ptrs
    for t in gen._kv:
        row = t[0]  # [kv_heads, max_seq, head_dim]
        assert bool((row[:, :7].abs().sum(-1) > 0).all())  # 5 prompt tokens + 2 decoded inputs
        assert bool((row[:, 7:] == 0).all())
        assert bool((t[1:] == 0).all())  # rows of the batch not used
    per = MAX_BATCH * gen.kv_heads * MAX_SEQ * gen.head_dim * 4
    assert gen.cache_bytes() == 2 * gen.num_layers * per


# ---- GPU (label: run on a machine with a GPU and a CUDA build; CI skips) ----------------------------------
requires_cuda = pytest.mark.skipif(
    not (torch.cuda.is_available() and "cuda" in kiln.available_backends()),
    reason="needs a GPU and a Kiln build with the CUDA backend",
)


@requires_cuda
@pytest.mark.parametrize("name", list(MAKERS))
def test_cuda_greedy_fp32_matches_hf_and_batch(name):
    model = _model(name).cuda()
    gen = kiln.llm.compile(model, max_batch=MAX_BATCH, max_seq_len=MAX_SEQ, device="cuda")
    ids = _prompt(1, 7, 10).cuda()
    assert torch.equal(gen.generate(ids, max_new_tokens=64), _hf_greedy(model, ids))
    lens = [3, 9, 6]
    s = max(lens)
    prompts = [_prompt(1, n, 20 + n)[0].cuda() for n in lens]
    ids = torch.zeros(3, s, dtype=torch.long, device="cuda")
    mask = torch.zeros_like(ids)
    for i, p in enumerate(prompts):
        ids[i, s - len(p) :] = p
        mask[i, s - len(p) :] = 1
    batched = gen.generate(ids, attention_mask=mask, max_new_tokens=16)
    for i, p in enumerate(prompts):
        assert torch.equal(batched[i, s:], gen.generate(p[None], max_new_tokens=16)[0, len(p) :])


@requires_cuda
@pytest.mark.parametrize("name", list(MAKERS))
def test_cuda_fp16_logits_cosine(name):
    """fp16 on the GPU: the logits of every step of the first 32 agree with HF fp16 eager run on Kiln's tokens
    (cosine >= 0.999)."""
    model = _model(name).cuda().half()
    gen = kiln.llm.compile(model, max_batch=1, max_seq_len=MAX_SEQ, device="cuda")
    ids = _prompt(1, 8, 11).cuda()
    tokens, logits = gen.generate(ids, max_new_tokens=32, return_logits=True)
    with torch.no_grad():
        ref = model(tokens[:, :-1]).logits[0, 7:].float()  # the logits that chose each new token
    for t in range(32):
        cos = torch.nn.functional.cosine_similarity(logits[0, t], ref[t], dim=0).item()
        assert cos >= 0.999, f"{name}: step {t} cosine {cos:.5f}"
