"""Test helpers: a real loopback HTTP server that fakes LLM providers.

```python
from openmux.testing import FakeProviderServer, Fault

with FakeProviderServer() as server:
    p = server.add_provider("good", models=["m-1"], reply="Hello from good")
    p.base_url             # OpenAI protocol:  http://127.0.0.1:PORT/good/v1
    p.openrouter_base_url  # OpenRouter:       http://127.0.0.1:PORT/good/api/v1
    p.ollama_base_url      # Ollama native:    http://127.0.0.1:PORT/good
    p.fault = Fault.status(429, retry_after=2)
```

Faults (`p.fault = ...`, `None` for healthy) apply to work endpoints (chat,
embeddings); listings stay healthy unless the fault has `on_listing=True`:
`Fault.status(code, retry_after=, headers=)`, `Fault.error_body(code, message)`
(HTTP 200 with an in-body error), `Fault.garbage()`, `Fault.hang()`,
`Fault.disconnect()`, `Fault.endless(interval)` (a body that never ends),
`Fault.closes_idle()` (a kept-alive connection closed as it is reused),
`Fault.stalls(after_chunks, keepalive=, empty_events=)` (a stream that goes quiet,
or sends only keep-alive comments or empty data events, after its first chunks),
`Fault.slow_first_token(seconds, keepalive=)`,
`Fault.mid_stream_error(after_chunks)`, `Fault.flaky(rate, seed=, fault=)` and
`Fault.loading()` (llama.cpp's 503 "Loading model").

Media endpoints speak OpenAI's images and audio formats, Cloudflare Workers AI's
`/ai/run/@cf/...` (`p.cloudflare_base_url(account_id)`), Gemini's speech
(`p.gemini_base_url`) and Hugging Face Inference's raw bytes, answering real PNGs and
WAV/MP3 audio; `p.image_response = "url"` answers image links instead of base64, and
`p.transcript` is every recording's transcript.

Other knobs: `p.latency`, `p.stream_delay`, `p.reply` (text or a callable given
the request JSON); counters `p.hits`, `p.hits_by_path`, `p.requests`,
`p.reset()`; `server.dead_url()` for connection-refused tests.

Standard library only, so it is safe to import from any test suite. A pytest
fixture `fake_provider_server` lives in `openmux.testing.pytest_plugin` (enable
it with `pytest_plugins = ["openmux.testing.pytest_plugin"]` in a conftest), and
`python -m openmux.testing --provider NAME` serves from the command line.
"""

from __future__ import annotations

from openmux.testing._faults import Fault
from openmux.testing._hub import FakeHub
from openmux.testing._provider import FakeProvider, RecordedRequest
from openmux.testing._scripted import embed as fake_embedding
from openmux.testing._server import FakeProviderServer

__all__ = [
    "FakeHub",
    "FakeProvider",
    "FakeProviderServer",
    "Fault",
    "RecordedRequest",
    "fake_embedding",
]
