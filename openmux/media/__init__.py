"""Media: generate images, speak and transcribe from free providers.

```python
from openmux import generate_image, speak, transcribe

generate_image("a lighthouse at dawn", size="512x512").save("lighthouse.png")
speak("Hello from OpenMux").save("hello.wav")
transcribe("memo.mp3").text
```

Each call is one request through the router: the models that declare that output
(provider table rows, see `openmux.providers.MEDIA_WIRES`) are tried in provider order
with the same failover, benching, quotas and free-only rule as chat, and the answer's
metadata has the same shape. With no key and no network, speech comes from eSpeak NG
(`pip install "openmux[speech]"`), transcription and images from models pulled once
(`openmux pull whisper-tiny`, `openmux pull sd-turbo`; run by onnxruntime); until then
they raise `UnsupportedTask` saying what to set or pull.
"""

from openmux.media._functions import (
    SPEECH_MAX_CHARS,
    RecordingTooLarge,
    agenerate_image,
    aspeak,
    atranscribe,
    generate_image,
    speak,
    transcribe,
)
from openmux.media._results import Media, Transcript, media_blocks, media_of

__all__ = [
    "SPEECH_MAX_CHARS",
    "Media",
    "RecordingTooLarge",
    "Transcript",
    "agenerate_image",
    "aspeak",
    "atranscribe",
    "generate_image",
    "media_blocks",
    "media_of",
    "speak",
    "transcribe",
]
